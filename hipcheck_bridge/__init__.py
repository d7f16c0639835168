"""The plugin side of hipcheck: the contract plugins implement and the process that runs them.

Runs inside every plugin's own environment, so it needs only the standard library and pluggy.
"""

from __future__ import annotations

from hipcheck_bridge._api import (
    ConfigError,
    Engine,
    Hint,
    Query,
    QueryError,
    UpstreamError,
    query,
)
from hipcheck_bridge._server import __version__
from hipcheck_bridge.hookspecs import hookimpl, hookspec

__all__ = [
    "ConfigError",
    "Engine",
    "Hint",
    "Query",
    "QueryError",
    "UpstreamError",
    "__version__",
    "hookimpl",
    "hookspec",
    "query",
]
