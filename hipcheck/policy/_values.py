"""Values a policy resolves for the user: relative paths, secrets from the environment, sources.

Inside any ``config`` table, at any depth, a table with the single key ``rel`` is a path relative
to the policy file's directory and becomes an absolute path string at load; one with the single
key ``env`` names an environment variable. The variable is read only when a plugin's
configuration is asked for (:func:`substitute`), so a secret never enters the loaded policy, its
hash, or its ``repr``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement

from hipcheck.errors import PolicyError
from hipcheck.policy._document import Document
from hipcheck.policy._locate import KeyPath

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ENV_NAME = re.compile(ENV_NAME)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DIRECT_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@")
_ARCHIVES = (".whl", ".tar.gz", ".zip")
SOURCE_EXPECTED = "a PyPI requirement, a URL, or the path of a wheel or a directory"


@dataclass(frozen=True)
class EnvRef:
    """A configuration value read from the environment variable ``name`` when it is needed."""

    name: str
    # Where the reference was written ("policy FILE:LINE: dotted.key"), for the error when the
    # variable is missing; not part of the value.
    where: str = field(default="", compare=False, repr=False)


def resolve_config(doc: Document, path: KeyPath, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with each ``{ rel = ... }`` made absolute and each ``{ env = ... }`` an EnvRef."""
    return {key: _resolve(doc, (*path, key), value) for key, value in config.items()}


def _resolve(doc: Document, path: KeyPath, value: Any) -> Any:
    if isinstance(value, list):
        return [_resolve(doc, (*path, i), item) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if value.keys() == {"rel"}:
        rel = value["rel"]
        if not isinstance(rel, str) or not rel:
            raise doc.error(
                (*path, "rel"), f"expected a path (a non-empty string), got {show(rel)}"
            )
        return _absolute(doc.base_dir, rel)
    if value.keys() == {"env"}:
        name = value["env"]
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise doc.error(
                (*path, "env"),
                f"expected the name of an environment variable (letters, digits and _, not "
                f"starting with a digit), got {show(name)}",
            )
        return EnvRef(name, doc.where(path))
    return resolve_config(doc, path, value)


def substitute(value: Any, environ: Mapping[str, str], plugin: str) -> Any:
    """A copy of ``value`` with each EnvRef replaced by its variable's value from ``environ``."""
    if isinstance(value, EnvRef):
        try:
            return environ[value.name]
        except KeyError:
            raise PolicyError(
                f"{value.where}: environment variable {value.name} is not set; the policy "
                f"passes it to plugin {plugin}: set it, or remove the reference"
            ) from None
    if isinstance(value, dict):
        return {k: substitute(v, environ, plugin) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, environ, plugin) for v in value]
    return value


def env_refs(
    value: Any, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """Where in ``value`` each EnvRef stands (a path of keys and indexes), and what it names."""
    if isinstance(value, EnvRef):
        return [(path, value.name)]
    if isinstance(value, dict):
        return [ref for k, v in value.items() for ref in env_refs(v, (*path, k))]
    if isinstance(value, list):
        return [ref for i, v in enumerate(value) for ref in env_refs(v, (*path, i))]
    return []


def source_kind(source: str) -> Literal["url", "path", "requirement"]:
    """How pip would read a plugin's ``source``: a URL, a local path, or a requirement."""
    if _URL.match(source):
        return "url"
    if _DIRECT_REFERENCE.match(source):  # "name @ https://...": a requirement with a URL
        return "requirement"
    # As with pip, a path is spelled like one: a separator, a leading dot or ~, or an archive's
    # suffix. A bare name ("plugins") is a requirement even if such a directory exists.
    spelled_as_path = (
        source.startswith((".", "~"))
        or "/" in source
        or "\\" in source
        or source.endswith(_ARCHIVES)
    )
    return "path" if spelled_as_path else "requirement"


def check_source(source: str) -> str:
    """Reject a ``source`` that pip could not read; pydantic calls this on the field."""
    if not source.strip() or source != source.strip() or "\n" in source:
        raise ValueError(f"expected {SOURCE_EXPECTED}, got {show(source)}")
    if source_kind(source) == "requirement":
        try:
            Requirement(source)
        except InvalidRequirement as exc:
            # packaging's message continues with a caret diagram; its first line is enough.
            reason = str(exc).splitlines()[0]
            raise ValueError(f"expected {SOURCE_EXPECTED}, got {show(source)}: {reason}") from None
    return source


def resolve_source(doc: Document, source: str | None) -> str | None:
    """A local path ``source`` made absolute against the policy's directory; others unchanged."""
    if source is None or source_kind(source) != "path":
        return source
    return _absolute(doc.base_dir, source)


def _absolute(base_dir: Path, path: str) -> str:
    # abspath normalises ".." without resolving symlinks, so the path still reads as written.
    return os.path.abspath(base_dir / Path(path).expanduser())


def show(value: Any) -> str:
    """A value as an error message quotes it: TOML's spelling for scalars, a word for the rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # JSON's escapes are TOML's, and they keep a newline in the value off the message's line.
        return json.dumps(value if len(value) <= 100 else value[:97] + "...", ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array" if value else "an empty array"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return repr(value)
