# mypy: disable-error-code="empty-body"
"""The hooks a hipcheck plugin implements: the contract between a plugin and hipcheck.

A plugin is a module (or object) named by its ``hipcheck.plugins`` entry point, with functions
marked ``@hipcheck_bridge.hookimpl``. The bridge loads it in the plugin's own environment,
checks its hooks against these specifications, and calls them when the host asks. Only
``hipcheck_queries`` is required.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

from hipcheck_bridge._api import Query

hookspec = pluggy.HookspecMarker("hipcheck")
hookimpl = pluggy.HookimplMarker("hipcheck")


@hookspec
def hipcheck_queries() -> Sequence[Query[Any]]:
    """Return the plugin's query endpoints (made with ``@hipcheck_bridge.query``).

    Called once, at the handshake. An analysis plugin marks exactly one query
    ``default=True``: that query receives the run's target and its value is what the policy
    expression judges.
    """


@hookspec(firstresult=True)
def hipcheck_configure(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Validate the configuration the policy gives this plugin and return it fully initialised.

    Called once, before any query. Fill in every default so the returned mapping is the
    whole configuration in force: hipcheck hashes it into the report's ``policy_hash``
    (include the digest of any file the configuration refers to). Raise
    ``hipcheck_bridge.ConfigError`` with a ``kind`` and the offending ``key`` when the
    configuration is unusable. A plugin without this hook accepts only an empty configuration.
    """


@hookspec(firstresult=True)
def hipcheck_default_policy_expr(config: Mapping[str, Any]) -> str | None:
    """Return the policy expression that judges the default query's value, given the config.

    Called after ``hipcheck_configure``. Used when the policy names the analysis without a
    ``policy`` of its own.
    """


@hookspec(firstresult=True)
def hipcheck_explain_default_query() -> str | None:
    """Return a short noun phrase saying what the default query's value is.

    For example "span of time that has elapsed since last activity in repo"; reports use
    it to explain results in English.
    """


@hookspec(firstresult=True)
def hipcheck_data_requirements(config: Mapping[str, Any]) -> Sequence[str] | None:
    """Return the queries this plugin will make of other plugins, under this configuration.

    Called after ``hipcheck_configure``. Each entry is ``publisher/name/query`` (or
    ``publisher/name`` for a default query). Before any analysis runs, hipcheck checks that
    each is offered by a plugin in the run (RFD 0003's data source check), so a missing data
    source is reported up front instead of failing mid-run.
    """
