"""Policy files: which plugins run, how each analysis is judged and weighted.

A policy is TOML: ``hipcheck.toml``, or the ``[tool.hipcheck]`` table of a ``pyproject.toml``
(:func:`find_policy` says which one a run uses). ``[plugins."publisher/name"]`` tables name the
plugins; ``[analyze]`` holds the ``investigate`` expression on the risk score, the
``investigate-if-fail`` list, what an ``errored`` analysis counts as, and the analysis tree: a
table whose key contains ``/`` is an analysis, any other table is a category. docs/policy.md
describes every key; :func:`policy_json_schema` is the same format as a JSON Schema.

Modules: ``_locate`` (lines of keys in TOML text), ``_document`` (errors pointing into it),
``_tables`` (pydantic models of the tables, the JSON Schema), ``_values`` (rel paths, env
references, plugin sources), ``_parse`` (text to Policy), ``_policy`` (the result),
``_find`` (which file).
"""

from __future__ import annotations

from hipcheck.policy._find import find_policy, load, user_config_dir
from hipcheck.policy._parse import parse
from hipcheck.policy._policy import Analysis, Category, Policy
from hipcheck.policy._tables import PluginEntry, policy_json_schema
from hipcheck.policy._values import EnvRef

__all__ = [
    "Analysis",
    "Category",
    "EnvRef",
    "PluginEntry",
    "Policy",
    "find_policy",
    "load",
    "parse",
    "policy_json_schema",
    "user_config_dir",
]
