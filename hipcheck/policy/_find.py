"""Which policy a run uses: an explicit file, the nearest project policy, the user's, or ours."""

from __future__ import annotations

import datetime
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs

from hipcheck.errors import PolicyError
from hipcheck.policy._document import Document
from hipcheck.policy._parse import build, parse, read_toml, sha256_text
from hipcheck.policy._policy import Policy

POLICY_FILE = "hipcheck.toml"
PYPROJECT = "pyproject.toml"
DEFAULT_POLICY = "default.toml"
_TOOL_TABLE = ("tool", "hipcheck")


def user_config_dir() -> Path:
    """hipcheck's user config directory: ``$HIPCHECK_CONFIG_DIR``, else the platform's."""
    override = os.environ.get("HIPCHECK_CONFIG_DIR")
    return Path(override).expanduser() if override else platformdirs.user_config_path("hipcheck")


def find_policy(start: Path) -> Path | None:
    """The policy file a run from ``start`` uses, or None for the built-in default.

    From ``start`` up to the filesystem root, the first directory holding a ``hipcheck.toml``
    or a ``pyproject.toml`` with a ``[tool.hipcheck]`` table wins (``hipcheck.toml`` first
    within a directory); then ``hipcheck.toml`` in the user config directory.
    """
    start = start.expanduser().absolute()
    for directory in (start, *start.parents):
        candidate = directory / POLICY_FILE
        if candidate.is_file():
            return candidate
        pyproject = directory / PYPROJECT
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    user = user_config_dir() / POLICY_FILE
    return user if user.is_file() else None


def load(path: Path | None = None, *, start: Path | None = None) -> Policy:
    """Load the policy at ``path``, else the one :func:`find_policy` finds from ``start``
    (default: the current directory), else the built-in default."""
    if path is None:
        path = find_policy(Path.cwd() if start is None else start)
    if path is None:
        policies = resources.files("hipcheck.policies")
        text = policies.joinpath(DEFAULT_POLICY).read_text("utf-8")
        # The built-in policy's { rel = ... } values are relative to the package's policies.
        return parse(text, source=f"<built-in {DEFAULT_POLICY}>", base_dir=Path(str(policies)))
    text = _read(path)
    if path.name != PYPROJECT:
        return parse(text, source=str(path), base_dir=path.absolute().parent)
    doc = _pyproject(path, text)
    table = _tool_table(doc)
    if table is None:
        raise PolicyError(f"policy {path}: no [tool.hipcheck] table")
    return build(doc, table, source=f"{path} [tool.hipcheck]", sha256=_sha256_table(table))


def _pyproject(path: Path, text: str) -> Document:
    return Document(name=str(path), text=text, base_dir=path.absolute().parent, within=_TOOL_TABLE)


def _tool_table(doc: Document) -> Any:
    """The ``[tool.hipcheck]`` table of a pyproject.toml, or None."""
    tool = read_toml(doc).get("tool")
    return tool.get("hipcheck") if isinstance(tool, dict) else None


def _has_tool_table(pyproject: Path) -> bool:
    text = _read(pyproject)
    # Most pyproject.toml files never mention hipcheck: skip parsing those.
    return "hipcheck" in text and _tool_table(_pyproject(pyproject, text)) is not None


def _sha256_table(table: Any) -> str:
    # The table alone, not the file: editing the rest of pyproject.toml (a version bump) must
    # not change the policy hash. Canonical JSON makes the hash independent of layout.
    text = json.dumps(
        table, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_toml_scalar
    )
    return sha256_text(text)


def _toml_scalar(value: object) -> str:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a TOML value")  # pragma: no cover


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PolicyError(f"policy {path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy {path}: cannot read: {exc}") from exc
