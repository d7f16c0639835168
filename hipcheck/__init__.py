"""hipcheck: supply-chain risk assessment of open-source repositories, built from plugins."""

from __future__ import annotations

from hipcheck.__about__ import __version__

__all__ = ["__version__"]
