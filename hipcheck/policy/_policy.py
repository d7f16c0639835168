"""A loaded policy: its plugins, its analysis tree, and how a run is judged."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hipcheck.policy._tables import PluginEntry
from hipcheck.policy._values import env_refs, substitute


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
    """A validated policy.

    ``source`` says where it came from: a path, ``PATH [tool.hipcheck]`` for a pyproject.toml,
    or ``<built-in default.toml>``. ``sha256`` is the hash of the policy text (for a
    pyproject.toml, of its ``[tool.hipcheck]`` table as canonical JSON); environment references
    in configs are part of it only by name, never by value.
    """

    source: str
    plugins: dict[str, PluginEntry]
    investigate: str
    investigate_if_fail: tuple[str, ...]
    root: Category
    sha256: str
    errored: Literal["fail", "pass"] = "fail"

    def analyses(self) -> list[Analysis]:
        """Every analysis of the tree, depth first."""
        return self.root.analyses()

    def config_for(
        self, plugin: str, *, environ: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The configuration the policy gives ``plugin``, with environment references read.

        The configuration is the plugin's analysis's, else its plugin entry's, else empty.
        Each ``{ env = "NAME" }`` in it becomes the value of ``NAME`` in ``environ`` (by
        default ``os.environ``); a variable that is not set is a PolicyError naming the
        plugin, the key and the variable.
        """
        resolved: dict[str, Any] = substitute(
            self._config(plugin), os.environ if environ is None else environ, plugin
        )
        return resolved

    def env_vars(self, plugin: str) -> tuple[str, ...]:
        """The environment variables the policy passes to ``plugin`` through its config, sorted.

        These are the only variables whose values the plugin is meant to see.
        """
        return tuple(sorted({name for _, name in env_refs(self._config(plugin))}))

    def secrets(self, plugin: str) -> list[tuple[tuple[str | int, ...], str]]:
        """Where the plugin's config takes values from the environment: (key path, variable).

        The bridge puts the reference back in place of each value before it hashes or returns
        the configuration, so secrets never reach a report, a hash or ``hipcheck explain``.
        """
        return env_refs(self._config(plugin))

    def _config(self, plugin: str) -> dict[str, Any]:
        """The plugin's config as written: on its analysis, else on its plugin entry."""
        for analysis in self.analyses():
            if analysis.plugin == plugin and analysis.config:
                return analysis.config
        entry = self.plugins.get(plugin)
        return entry.config if entry else {}
