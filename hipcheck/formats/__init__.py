"""Report formats beyond the JSON report: SARIF for code scanning, HTML for people."""

from __future__ import annotations

from hipcheck.formats.html import to_html
from hipcheck.formats.sarif import to_sarif

__all__ = ["to_html", "to_sarif"]
