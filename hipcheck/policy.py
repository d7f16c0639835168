"""Policy files: which plugins run, how each analysis is judged and weighted.

A policy is TOML. ``[plugins."publisher/name"]`` tables name the plugins; ``[analyze]`` holds the
``investigate`` expression on the risk score, the ``investigate-if-fail`` list, and the analysis
tree: a table whose key contains ``/`` is an analysis, any other table is a category.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hipcheck import expr
from hipcheck.errors import PolicyError
from hipcheck.versions import RequirementError, parse_requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_POLICY = "default.toml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class PluginEntry(_Model):
    """A plugin the policy uses."""

    version: str = "*"
    config: dict[str, Any] = Field(default_factory=dict)


class _AnalysisFields(_Model):
    weight: int = Field(default=1, ge=0)
    policy: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    """A leaf of the analysis tree: one plugin's default query, judged by an expression."""

    plugin: str
    weight: int
    policy: str | None
    config: dict[str, Any]


@dataclass(frozen=True)
class Category:
    """An inner node of the analysis tree."""

    name: str
    weight: int
    children: tuple[Category | Analysis, ...] = field(default=())

    def analyses(self) -> list[Analysis]:
        """Every analysis below this node, depth first."""
        found: list[Analysis] = []
        for child in self.children:
            found.extend(child.analyses() if isinstance(child, Category) else [child])
        return found


@dataclass(frozen=True)
class Policy:
    """A validated policy."""

    source: str
    plugins: dict[str, PluginEntry]
    investigate: str
    investigate_if_fail: tuple[str, ...]
    root: Category
    sha256: str

    def analyses(self) -> list[Analysis]:
        return self.root.analyses()

    def config_for(self, plugin: str) -> dict[str, Any]:
        """The configuration the policy gives a plugin (on its analysis or its plugin entry)."""
        for analysis in self.analyses():
            if analysis.plugin == plugin and analysis.config:
                return analysis.config
        entry = self.plugins.get(plugin)
        return dict(entry.config) if entry else {}


def load(path: Path | None = None) -> Policy:
    """Load the policy at ``path``, or the built-in default."""
    if path is None:
        text = resources.files("hipcheck.policies").joinpath(DEFAULT_POLICY).read_text("utf-8")
        return parse(text, source=f"<built-in {DEFAULT_POLICY}>")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PolicyError(f"policy {path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy {path}: cannot read: {exc}") from exc
    return parse(text, source=str(path))


def parse(text: str, *, source: str) -> Policy:
    """Parse and validate policy TOML; ``source`` names it in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy {source}: invalid TOML: {exc}") from exc
    unknown = sorted(set(raw) - {"plugins", "analyze"})
    if unknown:
        raise PolicyError(f"policy {source}: unknown top-level key {unknown[0]!r}")
    plugins: dict[str, PluginEntry] = {}
    for name, body in _table(raw.get("plugins", {}), source, "plugins").items():
        _check_identity(name, source, f"plugins.{name}")
        plugins[name] = _validate(PluginEntry, body, source, f"plugins.{name}")
        try:
            parse_requirement(plugins[name].version)
        except RequirementError as exc:
            raise PolicyError(f"policy {source}: plugins.{name}.version: {exc}") from exc
    analyze = dict(_table(raw.get("analyze"), source, "analyze"))
    investigate = analyze.pop("investigate", "(gt 0.5 $)")
    if not isinstance(investigate, str):
        raise PolicyError(f"policy {source}: analyze.investigate must be a policy expression")
    if_fail = analyze.pop("investigate-if-fail", [])
    if not isinstance(if_fail, list) or not all(isinstance(x, str) for x in if_fail):
        raise PolicyError(f"policy {source}: analyze.investigate-if-fail must be a list of names")
    # The investigate expression judges the risk score, a float.
    _check_expression(investigate, source, "analyze.investigate", expr.PrimType.FLOAT)
    root = _category("analyze", 1, analyze, source, "analyze")
    analyses = root.analyses()
    if not analyses:
        raise PolicyError(f"policy {source}: [analyze] names no analysis")
    seen: set[str] = set()
    for analysis in analyses:
        if analysis.plugin in seen:
            raise PolicyError(f"policy {source}: analysis {analysis.plugin} appears twice")
        seen.add(analysis.plugin)
        if analysis.plugin not in plugins:
            raise PolicyError(
                f'policy {source}: analysis {analysis.plugin} has no [plugins."{analysis.plugin}"]'
            )
        if analysis.config and plugins[analysis.plugin].config:
            raise PolicyError(
                f"policy {source}: {analysis.plugin} is configured both in [plugins] and in "
                "[analyze]; keep one"
            )
    for name in if_fail:
        if name not in seen:
            raise PolicyError(
                f"policy {source}: analyze.investigate-if-fail names {name}, which is not analysed"
            )
    return Policy(
        source=source,
        plugins=plugins,
        investigate=investigate,
        investigate_if_fail=tuple(if_fail),
        root=root,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


def _table(value: Any, source: str, key: str) -> dict[str, Any]:
    if value is None:
        raise PolicyError(f"policy {source}: missing [{key}] table")
    if not isinstance(value, dict):
        raise PolicyError(f"policy {source}: {key} must be a table")
    return value


def _check_identity(name: str, source: str, key: str) -> None:
    parts = name.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise PolicyError(
            f"policy {source}: {key}: {name!r} is not 'publisher/name' or "
            "'publisher/namespace/name'"
        )


def _validate(model: type[_Model], body: Any, source: str, key: str) -> Any:
    try:
        return model.model_validate(_table(body, source, key))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join([key, *(str(p) for p in err["loc"])])
        raise PolicyError(f"policy {source}: {where}: {err['msg']}") from exc


def _category(name: str, weight: int, body: dict[str, Any], source: str, key: str) -> Category:
    children: list[Category | Analysis] = []
    for child, value in body.items():
        where = f"{key}.{child}"
        if "/" in child:
            _check_identity(child, source, where)
            fields = _validate(_AnalysisFields, value, source, where)
            if fields.policy is not None:
                _check_expression(fields.policy, source, f"{where}.policy")
            children.append(Analysis(child, fields.weight, fields.policy, dict(fields.config)))
        elif child == "weight":
            continue
        else:
            sub = dict(_table(value, source, where))
            w = sub.pop("weight", 1)
            if not isinstance(w, int) or isinstance(w, bool) or w < 0:
                raise PolicyError(f"policy {source}: {where}.weight must be a whole number >= 0")
            children.append(_category(child, w, sub, source, where))
    return Category(name, weight, tuple(children))


def _check_expression(
    text: str, source: str, key: str, input_type: expr.Type | None = None
) -> None:
    """Parse and type-check a policy expression now, not in the middle of a run."""
    try:
        expr.check_policy(expr.parse(text), input_type)
    except expr.ExprError as exc:
        raise PolicyError(f"policy {source}: {key}: {exc.render()}") from exc
