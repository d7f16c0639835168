"""The policy file's tables as pydantic models, the errors they give, and the JSON Schema.

The models check each table's own keys (types, ranges, unknown keys). The shape above them (a
``[plugins]`` table keyed by identity; an ``[analyze]`` tree whose keys decide what each table
is) depends on the keys themselves, which pydantic cannot dispatch on, so ``_parse`` walks it
and :func:`policy_json_schema` describes it with ``patternProperties``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, WithJsonSchema
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import ErrorDetails, core_schema

from hipcheck.policy._values import ENV_NAME, SOURCE_EXPECTED, check_source, show
from hipcheck.versions import RequirementError, parse_requirement

IDENTITY = r"^[^/]+/[^/]+(?:/[^/]+)?$"
IDENTITY_EXPECTED = "'publisher/name' or 'publisher/namespace/name'"
_IDENTITY = re.compile(IDENTITY)
DEFAULT_INVESTIGATE = "(gt 0.5 $)"

# What each key must be, in the words every "expected ..., got ..." error uses. "key[]" is an
# element of the array at "key".
EXPECTED = {
    "weight": "a whole number >= 0",
    "policy": 'a policy expression (a string such as "(lte $ 0.2)")',
    "config": "a table of the plugin's settings",
    "version": 'a Cargo-style version requirement such as "^0.1" or ">=1, <2"',
    "hashes": 'an array of one or more "sha256:<64 lowercase hex digits>" strings',
    "hashes[]": 'a hash "sha256:<64 lowercase hex digits>"',
    "source": SOURCE_EXPECTED,
    "investigate": "a policy expression on the risk score (a string)",
    "investigate-if-fail": "an array of analysis names",
    "investigate-if-fail[]": 'an analysis name such as "hipcheck/activity"',
    "errored": '"fail" or "pass"',
    "allow-network": "true or false",
    "env": "an array of environment variable names",
    "env[]": "an environment variable name (letters, digits and _, not starting with a digit)",
    "limits": "a table with any of memory-mb, cpu-seconds, file-size-mb, processes",
    "limits.memory-mb": "a whole number of megabytes >= 64",
    "limits.cpu-seconds": "a whole number of seconds >= 1",
    "limits.file-size-mb": "a whole number of megabytes >= 1",
    "limits.processes": "a whole number >= 16",
}
# hipcheck sets these for every plugin (HOME and TMPDIR are its scratch dir): not grantable.
RESERVED_ENV = ("GIT_CONFIG_NOSYSTEM", "GIT_TERMINAL_PROMPT", "HOME", "TMPDIR")


def _requirement(text: str) -> str:
    try:
        parse_requirement(text)
    except RequirementError as exc:
        # versions.py says "version requirement '...': cannot read '<part>'": keep the part.
        reason = str(exc).rsplit(": ", 1)[-1]
        raise ValueError(f"expected {EXPECTED['version']}, got {show(text)} ({reason})") from None
    return text


def _grantable(name: str) -> str:
    if name in RESERVED_ENV:
        raise ValueError(
            f"{name} is set by hipcheck for every plugin (see docs/sandbox.md): it cannot be "
            "granted"
        )
    return name


def _no_default(schema: dict[str, Any]) -> None:
    # The empty default stands for "no pins"; an empty array written in the file is an error.
    schema.pop("default", None)


_Weight = Annotated[int, Field(ge=0, description="Its weight among its siblings.")]
_Hash = Annotated[str, Strict(), Field(pattern=r"^sha256:[0-9a-f]{64}$")]
# The loader's regexes have no lookahead, so _grantable refuses the reserved names; the schema
# says the same with one pattern.
_EnvName = Annotated[
    str,
    Strict(),
    Field(
        pattern=ENV_NAME,
        json_schema_extra={
            "pattern": rf"^(?!(?:{'|'.join(RESERVED_ENV)})$)[A-Za-z_][A-Za-z0-9_]*$"
        },
    ),
    AfterValidator(_grantable),
]
# Config values are described by hand in the schema: rel/env tables are a TOML-level idea.
# pydantic checks every $ref against its own definitions, so a marker stands in for the $ref
# until policy_json_schema links it.
_CONFIG_MARKER = "x-hipcheck-config"
_Config = Annotated[dict[str, Any], WithJsonSchema({_CONFIG_MARKER: True})]


class _Table(BaseModel):
    # Strict: TOML already gives real types, so "1" must not pass for 1 nor true for 1.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Limits(_Table):
    """The resource limits of a plugin's process: the limits table of a plugin entry."""

    memory_mb: int = Field(
        default=2048, ge=64, alias="memory-mb", description="Address space, in megabytes."
    )
    cpu_seconds: int = Field(
        default=600, ge=1, alias="cpu-seconds", description="CPU time over the whole run."
    )
    file_size_mb: int = Field(
        default=1024, ge=1, alias="file-size-mb", description="Largest file it may write, in MB."
    )
    processes: int = Field(
        default=64, ge=16, description="Processes and threads it may run at once, its own included."
    )


class PluginEntry(_Table):
    """A plugin the policy uses: a [plugins."publisher/name"] table."""

    version: Annotated[str, AfterValidator(_requirement)] = Field(
        default="*", description="Cargo-style version requirement, e.g. ^0.1 or >=1, <2."
    )
    # Not strict as a whole: TOML gives a list, and the model keeps an immutable tuple.
    hashes: Annotated[tuple[_Hash, ...], Field(strict=False, min_length=1)] = Field(
        default=(),
        description="Accepted sha256 hashes of the plugin's artifact, as sha256:<hex>.",
        json_schema_extra=_no_default,
    )
    source: Annotated[str, AfterValidator(check_source)] | None = Field(
        default=None,
        description="Where to install it from: a PyPI requirement, a URL, or a local wheel or "
        "directory (relative paths are relative to the policy file).",
    )
    config: _Config = Field(
        default_factory=dict, description="The plugin's configuration, unless its analysis has one."
    )
    allow_network: bool = Field(
        default=False,
        alias="allow-network",
        description="Let the plugin use the network, if its manifest asks for it (network = true).",
    )
    env: Annotated[tuple[_EnvName, ...], Field(strict=False)] = Field(
        default=(),
        description="Environment variables the plugin's process receives, besides hipcheck's "
        "allow-list (PATH, LANG, ...).",
    )
    limits: Limits = Field(
        default_factory=Limits, description="Resource limits of the plugin's process."
    )


class AnalysisTable(_Table):
    """An analysis: a table of the analysis tree whose key is a plugin identity."""

    weight: _Weight = 1
    policy: str | None = Field(
        default=None,
        description="The policy expression that judges the value; the plugin's default if absent.",
    )
    config: _Config = Field(default_factory=dict, description="The plugin's configuration.")


class CategorySettings(_Table):
    """The keys of a category besides its children."""

    weight: _Weight = 1


class AnalyzeSettings(CategorySettings):
    """The keys of ``[analyze]`` besides the analysis tree."""

    investigate: str = Field(
        default=DEFAULT_INVESTIGATE,
        description="Policy expression on the risk score ($, 0 to 1) that must hold to PASS.",
    )
    investigate_if_fail: list[str] = Field(
        default_factory=list,
        alias="investigate-if-fail",
        description="Analyses whose failure means INVESTIGATE whatever the score.",
    )
    errored: Literal["fail", "pass"] = Field(
        default="fail",
        description="What an analysis that errored counts as in the score and investigate-if-fail.",
    )


def keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a table of ``model`` takes, as the file spells them."""
    return sorted(f.alias or name for name, f in model.model_fields.items())


def is_identity(key: str) -> bool:
    """Whether ``key`` names a plugin: ``publisher/name`` or ``publisher/namespace/name``."""
    return _IDENTITY.match(key) is not None


def unknown_key(key: str, allowed: Iterable[str], *, also: str = "") -> str:
    """The message for a key the table does not take, with the nearest known key if close."""
    known = sorted(allowed)
    listed = ", ".join(known) + (f", {also}" if also else "")
    message = f"unknown key {key!r} (expected one of: {listed})"
    close = difflib.get_close_matches(key, known, n=1)
    return f"{message}; did you mean {close[0]!r}?" if close else message


def describe(error: ErrorDetails, model: type[BaseModel]) -> str:
    """One pydantic error as a policy error message (without the file and key)."""
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        return unknown_key(str(loc[-1]), keys_of(_table_at(model, loc[:-1])))
    if error["type"] == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    # "hashes[]" for an element of an array, "limits.processes" for a key of a nested table.
    key = str(loc[0]) + "".join("[]" if isinstance(p, int) else f".{p}" for p in loc[1:])
    expected = EXPECTED.get(key, error["msg"])
    return f"expected {expected}, got {show(error['input'])}"


def _table_at(model: type[BaseModel], loc: Iterable[int | str]) -> type[BaseModel]:
    """The model of the table at ``loc`` inside a ``model`` table (nested tables such as limits)."""
    for part in loc:
        field = next(
            (f for name, f in model.model_fields.items() if (f.alias or name) == part), None
        )
        inner = field.annotation if field is not None else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            break
        model = inner
    return model


class _TomlJsonSchema(GenerateJsonSchema):
    """TOML has no null: an optional key is one that may be left out, never a null value."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])


def _config_schemas() -> dict[str, Any]:
    return {
        "Config": {
            "type": "object",
            "description": "A plugin's configuration: its keys are the plugin's to define.",
            "additionalProperties": {"$ref": "#/$defs/ConfigValue"},
        },
        "ConfigValue": {
            "description": "Any TOML value. A table whose only key is rel is a path relative "
            "to the policy file; one whose only key is env names an environment variable read "
            "when the plugin is configured.",
            "if": {"type": "object", "required": ["rel"], "maxProperties": 1},
            "then": {"properties": {"rel": {"type": "string", "minLength": 1}}},
            "else": {
                "if": {"type": "object", "required": ["env"], "maxProperties": 1},
                "then": {"properties": {"env": {"type": "string", "pattern": ENV_NAME}}},
                "else": {
                    "additionalProperties": {"$ref": "#/$defs/ConfigValue"},
                    "items": {"$ref": "#/$defs/ConfigValue"},
                },
            },
        },
    }


def _not_reserved(keys: Iterable[str]) -> str:
    """A pattern for the keys that name categories: no "/", and not one of ``keys``."""
    # No re.escape: it writes "\-", which ECMA-262 regexes (the schema's dialect) reject.
    alternatives = "|".join(sorted(keys))
    return rf"^(?!(?:{alternatives})$)[^/]+$"


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the policy file, as published by ``hipcheck schema``."""
    defs: dict[str, Any] = _config_schemas()

    def model(name: str, cls: type[BaseModel]) -> dict[str, Any]:
        schema = cls.model_json_schema(
            by_alias=True, ref_template="#/$defs/{model}", schema_generator=_TomlJsonSchema
        )
        defs.update(schema.pop("$defs", {}))
        for prop in schema["properties"].values():
            if prop.pop(_CONFIG_MARKER, False):
                prop["$ref"] = "#/$defs/Config"
            if "default" in prop and prop["default"] is None:
                del prop["default"]  # TOML has no null: such a key is simply left out
        defs[name] = schema
        return schema

    model("Plugin", PluginEntry)
    model("Analysis", AnalysisTable)
    for name, cls in (("Category", CategorySettings), ("Analyze", AnalyzeSettings)):
        model(name, cls)["patternProperties"] = {
            IDENTITY: {"$ref": "#/$defs/Analysis"},
            _not_reserved(keys_of(cls)): {"$ref": "#/$defs/Category"},
        }
    defs["Category"]["description"] = (
        "A category: its weight, and tables keyed by plugin identity (analyses) or by any "
        "other name (sub-categories)."
    )
    defs["Analyze"]["description"] = (
        "How the target is judged: the investigate expression and the tree of categories and "
        "analyses."
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "hipcheck policy",
        "description": "A hipcheck policy: hipcheck.toml, or [tool.hipcheck] in pyproject.toml.",
        "type": "object",
        "properties": {
            "plugins": {
                "type": "object",
                "description": "The plugins the analyses need, keyed by identity.",
                "patternProperties": {IDENTITY: {"$ref": "#/$defs/Plugin"}},
                "additionalProperties": False,
            },
            "analyze": {"$ref": "#/$defs/Analyze"},
        },
        "required": ["analyze"],
        "additionalProperties": False,
        "$defs": defs,
    }
