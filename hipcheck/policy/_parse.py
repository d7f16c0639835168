"""Policy TOML to a :class:`Policy`, with an error pointing at the line of each fault."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hipcheck import expr
from hipcheck._toml import tomllib
from hipcheck.errors import PolicyError
from hipcheck.policy._document import Document
from hipcheck.policy._locate import KeyPath, dotted
from hipcheck.policy._policy import Analysis, Category, Policy
from hipcheck.policy._tables import (
    IDENTITY_EXPECTED,
    AnalysisTable,
    AnalyzeSettings,
    CategorySettings,
    PluginEntry,
    describe,
    is_identity,
    keys_of,
    unknown_key,
)
from hipcheck.policy._values import resolve_config, resolve_source, show

M = TypeVar("M", bound=BaseModel)

_TOP_LEVEL = ("analyze", "plugins")
_CHILD_TABLES = 'or a table: a category, or an analysis named "publisher/name"'


def parse(text: str, *, source: str, base_dir: Path | None = None) -> Policy:
    """Parse and validate policy TOML.

    ``source`` names the policy in errors and in ``Policy.source``; relative paths in it
    (``{ rel = ... }``, a plugin's ``source``) are resolved against ``base_dir``, by default
    the current directory.
    """
    doc = Document(name=source, text=text, base_dir=base_dir or Path.cwd())
    return build(doc, read_toml(doc), source=source, sha256=sha256_text(text))


def read_toml(doc: Document) -> dict[str, Any]:
    """The document's TOML, or a PolicyError carrying tomllib's line and column."""
    try:
        raw: dict[str, Any] = tomllib.loads(doc.text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy {doc.name}: invalid TOML: {exc}") from exc
    return raw


def sha256_text(text: str) -> str:
    """The policy hash of a policy file's text."""
    return hashlib.sha256(text.encode()).hexdigest()


def build(doc: Document, raw: Any, *, source: str, sha256: str) -> Policy:
    """Validate ``raw`` (the policy's table inside ``doc``) into a Policy."""
    if not isinstance(raw, dict):
        raise doc.error((), f"expected a table, got {show(raw)}")
    for key in raw:
        if key not in _TOP_LEVEL:
            raise doc.error((key,), unknown_key(key, _TOP_LEVEL))
    plugins = _plugins(doc, raw.get("plugins", {}))
    if "analyze" not in raw:
        table = dotted((*doc.within, "analyze"))
        raise doc.error((), f"missing the [{table}] table, which lists the analyses to run")
    analyze = _table(doc, ("analyze",), raw["analyze"], "the analyses to run")
    reserved = keys_of(AnalyzeSettings)
    settings = _validate(
        doc, ("analyze",), AnalyzeSettings, {k: v for k, v in analyze.items() if k in reserved}
    )
    # The investigate expression judges the risk score, a float.
    _check_expression(doc, ("analyze", "investigate"), settings.investigate, expr.PrimType.FLOAT)
    seen: dict[str, KeyPath] = {}
    root = Category(
        "analyze", settings.weight, _children(doc, ("analyze",), analyze, AnalyzeSettings, seen)
    )
    # _children rejects an empty category, so the tree has at least one analysis here.
    for analysis in root.analyses():
        name, path = analysis.plugin, seen[analysis.plugin]
        if name not in plugins:
            raise doc.error(path, f'no [plugins."{name}"] table; every analysis needs one')
        if analysis.config and plugins[name].config:
            raise doc.error(
                (*path, "config"),
                f'{name} is configured both here and in [plugins."{name}"]; keep one',
            )
    for i, name in enumerate(settings.investigate_if_fail):
        if name not in seen:
            raise doc.error(
                ("analyze", "investigate-if-fail", i),
                f"names {name}, which is not an analysis of this policy",
            )
    return Policy(
        source=source,
        plugins=plugins,
        investigate=settings.investigate,
        investigate_if_fail=tuple(settings.investigate_if_fail),
        root=root,
        sha256=sha256,
        errored=settings.errored,
    )


def _plugins(doc: Document, value: Any) -> dict[str, PluginEntry]:
    plugins: dict[str, PluginEntry] = {}
    for name, body in _table(doc, ("plugins",), value, "plugins keyed by identity").items():
        path = ("plugins", name)
        if not is_identity(name):
            raise doc.error(path, f"expected a plugin identity {IDENTITY_EXPECTED}, got {name!r}")
        table = _table(doc, path, body, "the plugin's settings")
        entry = _validate(doc, path, PluginEntry, table)
        plugins[name] = entry.model_copy(
            update={
                "config": resolve_config(doc, (*path, "config"), entry.config),
                "source": resolve_source(doc, entry.source),
            }
        )
    return plugins


def _children(
    doc: Document,
    path: KeyPath,
    body: dict[str, Any],
    settings: type[CategorySettings],
    seen: dict[str, KeyPath],
) -> tuple[Category | Analysis, ...]:
    """The analyses and categories of a category's table, in the order the file gives them."""
    reserved = keys_of(settings)
    children: list[Category | Analysis] = []
    for key, value in body.items():
        where = (*path, key)
        if key in reserved:
            continue
        if "/" in key:
            children.append(_analysis(doc, where, value, seen))
        elif isinstance(value, dict) and key:
            weight = _validate(
                doc, where, CategorySettings, {k: v for k, v in value.items() if k == "weight"}
            ).weight
            children.append(
                Category(key, weight, _children(doc, where, value, CategorySettings, seen))
            )
        else:
            raise doc.error(where, unknown_key(key, reserved, also=_CHILD_TABLES))
    if not children:
        raise doc.error(path, "expected at least one analysis or category in it, got none")
    return tuple(children)


def _analysis(doc: Document, path: KeyPath, value: Any, seen: dict[str, KeyPath]) -> Analysis:
    name = str(path[-1])
    if not is_identity(name):
        raise doc.error(path, f"expected an analysis named {IDENTITY_EXPECTED}, got {name!r}")
    if name in seen:
        raise doc.error(
            path, f"analysis {name} appears twice (first at line {doc.line(seen[name])})"
        )
    table = _table(doc, path, value, "the analysis's weight, policy and config")
    fields = _validate(doc, path, AnalysisTable, table)
    if fields.policy is not None:
        _check_expression(doc, (*path, "policy"), fields.policy)
    seen[name] = path
    return Analysis(
        name, fields.weight, fields.policy, resolve_config(doc, (*path, "config"), fields.config)
    )


def _table(doc: Document, path: KeyPath, value: Any, holding: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise doc.error(path, f"expected a table of {holding}, got {show(value)}")
    return value


def _validate(doc: Document, path: KeyPath, model: type[M], table: dict[str, Any]) -> M:
    try:
        return model.model_validate(table)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # Report the fault nearest the top of the file, as a reader would meet it.
        first = min(errors, key=lambda e: doc.line((*path, *e["loc"])) or 0)
        raise doc.error((*path, *first["loc"]), describe(first, model)) from None


def _check_expression(
    doc: Document, path: KeyPath, text: str, input_type: expr.Type | None = None
) -> None:
    """Parse and type-check a policy expression now, not in the middle of a run."""
    try:
        expr.check_policy(expr.parse(text), input_type)
    except expr.ExprError as exc:
        raise doc.error(path, exc.render()) from exc
