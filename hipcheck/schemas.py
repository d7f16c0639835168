"""Holding plugins to the JSON Schemas they declare for their queries' keys and outputs.

A schema comes from the plugin's manifest (``schemas``: query -> file) or, failing that, from
the bridge's handshake (derived from the query's type hints). Each is checked against its
meta-schema with jsonschema when the plugin starts, then compiled with fastjsonschema, which
validates a 16k-commit history in ~50 ms where jsonschema takes over a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import fastjsonschema

from hipcheck.envs import cache_dir
from hipcheck.errors import DiscoveryError, PluginError

Validate = Callable[[Any], Any]


@dataclass(frozen=True)
class QuerySchemas:
    """The compiled validators of one query; None where the plugin declares no schema."""

    key: Validate | None
    output: Validate | None


def compile_query_schemas(plugin: str, query: str, key: Any, output: Any) -> QuerySchemas:
    """Check and compile a query's key and output schemas; a bad schema names plugin and query."""
    return QuerySchemas(
        key=_checked(plugin, query, "key", key),
        output=_checked(plugin, query, "output", output),
    )


def _checked(plugin: str, query: str, which: str, schema: Any) -> Validate | None:
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise PluginError(f"plugin {plugin}: query {query}'s {which} schema is not a JSON object")
    text = json.dumps(schema, sort_keys=True)
    problem = _meta_check(text)
    if problem is not None:
        raise PluginError(
            f"plugin {plugin}: query {query}'s {which} schema is not a valid JSON Schema: {problem}"
        )
    try:
        return _compile(text)
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise PluginError(
            f"plugin {plugin}: query {query}'s {which} schema cannot be used: {exc}"
        ) from exc


def _meta_check(text: str) -> str | None:
    """Why the schema is not valid against its meta-schema, or None; remembered across runs.

    jsonschema takes ~100 ms to import, more than the rest of a warm run's checks together, and
    a plugin's schemas only change when the plugin does: a schema that passed once is recorded
    (by the hash of its text and the jsonschema version) and not checked again.
    """
    from importlib.metadata import version

    digest = hashlib.sha256(f"{version('jsonschema')}\n{text}".encode()).hexdigest()
    marker = cache_dir() / "checked-schemas" / digest
    if marker.exists():
        return None
    import jsonschema

    schema = json.loads(text)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return str(exc.message)
    with contextlib.suppress(OSError):  # an unwritable cache only costs the check next time
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    return None


@lru_cache(maxsize=256)
def _compile(schema_json: str) -> Validate:
    # Keyed by the schema's text: every plugin env of a run declares the same few schemas.
    # use_default=False: fastjsonschema would otherwise write schema defaults into the data.
    validate: Validate = fastjsonschema.compile(json.loads(schema_json), use_default=False)
    return validate


def check(validate: Validate | None, value: Any, *, plugin: str, query: str, which: str) -> None:
    """Raise PluginError, with the JSON path of the first violation, if ``value`` does not fit."""
    if validate is None:
        return
    try:
        validate(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        # fastjsonschema names the root "data": say "$" as JSON paths do.
        where = exc.message.replace("data", "$", 1)
        raise PluginError(
            f"plugin {plugin} query {query}: the {which} does not match its schema: {where}"
        ) from exc


def manifest_schemas(
    raw: Mapping[str, str], read: Callable[[str], str], where: str
) -> dict[str, Any]:
    """Load a manifest's ``schemas`` (query -> file) with ``read``; errors name the file."""
    loaded: dict[str, Any] = {}
    for query, file in raw.items():
        try:
            loaded[query] = json.loads(read(file))
        except (OSError, KeyError) as exc:
            raise DiscoveryError(
                f"{where}: schema file {file} for query {query}: not found"
            ) from exc
        except ValueError as exc:
            raise DiscoveryError(
                f"{where}: schema file {file} for query {query} is not JSON: {exc}"
            ) from exc
    return loaded
