"""``hipcheck plugin new``: a new plugin project that installs, tests and runs out of the box.

The project is rendered from the templates under ``hipcheck/templates/plugin/`` (package data,
read with :mod:`importlib.resources`) with :class:`string.Template`: ``${name}`` is a
placeholder and ``$$`` a literal dollar sign, which policy expressions (``(gte $ 10)``) need.
"""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path
from string import Template
from typing import Literal, get_args

from hipcheck.errors import UsageError

__all__ = ["MAX_LENGTH", "Kind", "scaffold"]

Kind = Literal["analysis", "data"]

_KINDS: tuple[str, ...] = get_args(Kind)
# Letters and digits in hyphen-separated words: a name that is also a valid distribution name
# suffix, entry point name, and (hyphens made underscores) Python module name suffix.
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
# The manifest's rule for a publisher (hipcheck.manifest).
_PUBLISHER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PREFIX = "hipcheck-plugin-"
# Long enough for any sensible name; short enough that every generated line of Python, which
# spells the identity or the module name, stays within ruff's limit of 100 characters.
MAX_LENGTH = 40
_TEMPLATES = "templates/plugin"

_DESCRIPTIONS: dict[str, str] = {
    "analysis": "hipcheck analysis plugin: the number of commits in a repository.",
    "data": "hipcheck data plugin: the files a git repository tracks.",
}


def scaffold(name: str, *, directory: Path, publisher: str, kind: Kind = "analysis") -> Path:
    """Create the plugin project ``<directory>/hipcheck-plugin-<name>/`` and return its path.

    The project is an installable distribution ``hipcheck-plugin-<name>`` holding the package
    ``hipcheck_plugin_<name with underscores>``, its ``hipcheck-plugin.toml`` manifest (identity
    ``<publisher>/<name>``), a README, and tests written with :mod:`hipcheck.testing` that pass
    as generated. ``directory`` is created if missing. Raises :class:`UsageError` for an invalid
    name, publisher or kind, or when the project directory already exists.
    """
    _check(name, publisher, kind)
    files = _render(name, publisher, kind)
    project = directory / f"{_PREFIX}{name}"
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"cannot create the plugin in {directory}: it is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Without exist_ok, mkdir claims the project directory atomically: an existing one,
        # even one another process made a moment ago, is never written into.
        project.mkdir()
    except FileExistsError as exc:
        raise UsageError(
            f"{project} already exists; choose another name or --directory, or remove it"
        ) from exc
    except OSError as exc:
        raise UsageError(f"cannot create {project}: {exc.strerror or exc}") from exc
    try:
        for relative, text in files.items():
            path = project / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except BaseException:
        # Never leave a half-written project behind: a retry would then refuse to overwrite it.
        shutil.rmtree(project, ignore_errors=True)
        raise
    return project


def _valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name)) and len(name) <= MAX_LENGTH


def _check(name: str, publisher: str, kind: str) -> None:
    """Raise UsageError, saying what is allowed, for an invalid name, publisher or kind."""
    bare = name.removeprefix(_PREFIX)
    if bare != name and _valid_name(bare):
        raise UsageError(
            f"invalid plugin name {name!r}: give it without the {_PREFIX!r} prefix, "
            f"which the distribution's name gets anyway: {bare!r}"
        )
    if not _valid_name(name):
        raise UsageError(
            f"invalid plugin name {name!r}: use lowercase letters and digits, starting with a "
            f"letter, in words joined by single hyphens, at most {MAX_LENGTH} characters in "
            "all, for example 'commit-count'"
        )
    if not _PUBLISHER.fullmatch(publisher) or len(publisher) > MAX_LENGTH:
        raise UsageError(
            f"invalid publisher {publisher!r}: use letters, digits, '_', '.' and '-', starting "
            f"with a letter or digit, at most {MAX_LENGTH} characters, for example your user "
            "or organisation name"
        )
    if kind not in _KINDS:
        raise UsageError(f"invalid plugin kind {kind!r}: expected one of {', '.join(_KINDS)}")


def _render(name: str, publisher: str, kind: str) -> dict[str, str]:
    """Every file of the project, by its path relative to the project, rendered."""
    slug = name.replace("-", "_")
    module = f"hipcheck_plugin_{slug}"
    values = {
        "name": name,
        "publisher": publisher,
        "identity": f"{publisher}/{name}",
        "distribution": f"{_PREFIX}{name}",
        "module": module,
        "description": _DESCRIPTIONS[kind],
    }
    layout = {
        "pyproject.toml": "pyproject.toml.tmpl",
        ".gitignore": "gitignore.tmpl",
        "README.md": f"{kind}/README.md.tmpl",
        f"src/{module}/__init__.py": f"{kind}/__init__.py.tmpl",
        f"src/{module}/hipcheck-plugin.toml": f"{kind}/hipcheck-plugin.toml.tmpl",
        f"tests/test_{slug}_plugin.py": f"{kind}/test_plugin.py.tmpl",
    }
    root = resources.files("hipcheck").joinpath(_TEMPLATES)
    rendered = {}
    for relative, template in layout.items():
        text = root.joinpath(*template.split("/")).read_text(encoding="utf-8")
        # substitute, not safe_substitute: a placeholder without a value is a bug to surface.
        rendered[relative] = Template(text).substitute(values)
    return rendered
