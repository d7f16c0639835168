"""The lock file: every artifact of every plugin env a policy needs, pinned by sha256.

``hipcheck lock`` writes ``hipcheck.lock`` beside the policy (:func:`lock_path`). With a lock
present, provisioning checks every artifact of a plugin's env against it before installing
anything (:meth:`Lock.check`), and refuses a changed hash, a changed version, an artifact the
lock does not list, one it lists that the env no longer has, and a plugin it does not know.
The format, versioned by its ``version`` key, is TOML (docs/lock.md)::

    version = 1

    [plugins."hipcheck/git"]
    distribution = "hipcheck-plugin-git"
    version = "0.1.0"
    artifacts = [
        { name = "hipcheck-bridge", version = "0.1.0", sha256 = "...", source = "hipcheck" },
        ...
    ]

Output is deterministic: plugins sorted by identity, artifacts by name, no timestamps, so an
unchanged set of plugins rewrites the file byte for byte and a change shows as a small diff.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from hipcheck._toml import tomllib
from hipcheck.artifacts import Artifact
from hipcheck.errors import ArtifactError, PolicyError
from hipcheck.policy import Policy, user_config_dir
from hipcheck.policy._locate import KeyPath, dotted, key_lines, line_of

__all__ = [
    "LOCK_FILE",
    "LOCK_VERSION",
    "Lock",
    "LockedArtifact",
    "LockedPlugin",
    "find_lock",
    "lock_path",
    "read_lock",
    "render_lock",
    "write_lock",
]

LOCK_FILE = "hipcheck.lock"
LOCK_VERSION = 1

_HEADER = """\
# hipcheck.lock: every artifact of every plugin env the policy beside it needs, by sha256.
# Written by `hipcheck lock`; do not edit it by hand. Commit it with the policy, and run
# `hipcheck lock` again after installing, upgrading or removing a plugin. Format: docs/lock.md.
"""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_IDENTITY = re.compile(r"^[^/]+/[^/]+(?:/[^/]+)?$")
# tomllib ends each message with "(at line L, column C)"; the location leads in our errors.
_TOML_POSITION = re.compile(r"^(?P<message>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_ARTIFACT_KEYS = ("name", "version", "sha256", "source")
_PLUGIN_KEYS = ("distribution", "version", "artifacts")


@dataclass(frozen=True)
class LockedArtifact:
    """One wheel of a plugin env as the lock pins it."""

    name: str  # normalised distribution name
    version: str
    sha256: str  # hex digest of the wheel file
    source: str  # where it came from (Artifact.source)


@dataclass(frozen=True)
class LockedPlugin:
    """One plugin of the policy and the artifacts of its env."""

    identity: str
    distribution: str
    version: str
    artifacts: tuple[LockedArtifact, ...]

    @classmethod
    def of(
        cls, identity: str, distribution: str, version: str, artifacts: Iterable[Artifact]
    ) -> LockedPlugin:
        """The lock entry of plugin `identity` whose env holds `artifacts`."""
        locked = (LockedArtifact(a.name, a.version, a.sha256, a.source) for a in artifacts)
        return cls(identity, distribution, version, tuple(sorted(locked, key=lambda a: a.name)))


@dataclass(frozen=True)
class Lock:
    """A lock file as read: its plugins by identity, and its text for locating errors."""

    path: Path
    plugins: Mapping[str, LockedPlugin]
    text: str = field(default="", repr=False, compare=False)

    def check(self, identity: str, artifacts: Sequence[Artifact]) -> None:
        """Raise ArtifactError unless `artifacts` are exactly what the lock pins for `identity`.

        Every difference is named in the one message: the artifact, the expected and actual
        version and sha256, and the line of the lock that pins it.
        """
        locked = self.plugins.get(identity)
        if locked is None:
            raise ArtifactError(
                f"plugin {identity} is not in the lock {self.path}, so nothing of it may be "
                "installed; if the policy needs it, run 'hipcheck lock' to pin it"
            )
        expected = {a.name: a for a in locked.artifacts}
        index = {a.name: i for i, a in enumerate(locked.artifacts)}
        problems = []
        for artifact in sorted(artifacts, key=lambda a: a.name):
            want = expected.pop(artifact.name, None)
            actual = f"{artifact.version} sha256:{artifact.sha256}"
            if want is None:
                problems.append(
                    f"artifact {artifact.name} ({artifact.path.name}, {actual}) is not in the lock"
                )
            elif want.sha256 != artifact.sha256 or not _same_version(
                want.version, artifact.version
            ):
                where = self._where(identity, index[artifact.name])
                problems.append(
                    f"artifact {artifact.name} ({artifact.path.name}): expected {want.version} "
                    f"sha256:{want.sha256} ({where}), actual {actual}"
                )
        for want in expected.values():
            where = self._where(identity, index[want.name])
            problems.append(
                f"the lock pins {want.name} {want.version} ({where}), which the env no longer has"
            )
        if problems:
            raise ArtifactError(
                f"plugin {identity} does not match the lock {self.path}: {'; '.join(problems)}; "
                "if the change is intended, run 'hipcheck lock' again"
            )

    @cached_property
    def _lines(self) -> dict[KeyPath, int]:
        return key_lines(self.text)

    def _where(self, identity: str, position: int) -> str:
        line = line_of(self._lines, ("plugins", identity, "artifacts", position))
        return f"{self.path.name}:{line}" if line is not None else self.path.name


def lock_path(policy: Policy) -> Path:
    """Where the lock of `policy` lives: beside its file, or in the user config dir for the
    built-in policy."""
    source = policy.source
    if source.startswith("<built-in"):
        return user_config_dir() / LOCK_FILE
    # A pyproject.toml policy's source is "PATH [tool.hipcheck]".
    return Path(source.removesuffix(" [tool.hipcheck]")).absolute().parent / LOCK_FILE


def find_lock(policy: Policy) -> Lock | None:
    """The lock beside `policy`, or None if there is none."""
    path = lock_path(policy)
    return read_lock(path) if path.is_file() else None


def read_lock(path: Path) -> Lock:
    """Read and validate the lock at `path`.

    Raises PolicyError naming the file, the line (and column, for TOML syntax) and the key of
    the first problem.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"lock {path}: cannot read: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.match(str(exc))
        if found is None:  # pragma: no cover - every tomllib message carries its position
            raise PolicyError(f"lock {path}: not valid TOML: {exc}") from exc
        place = f"{path}:{found['line']}:{found['col']}"
        raise PolicyError(f"lock {place}: not valid TOML: {found['message']}") from exc
    return Lock(path, _Reader(path, text).plugins(data), text)


def render_lock(plugins: Iterable[LockedPlugin]) -> str:
    """The text of a lock pinning `plugins`: sorted, so the same plugins give the same bytes."""
    out = [_HEADER, f"version = {LOCK_VERSION}\n"]
    for plugin in sorted(plugins, key=lambda p: p.identity):
        out.append(f"\n[plugins.{_string(plugin.identity)}]\n")
        out.append(f"distribution = {_string(plugin.distribution)}\n")
        out.append(f"version = {_string(plugin.version)}\n")
        out.append("artifacts = [\n")
        for a in sorted(plugin.artifacts, key=lambda a: a.name):
            values = ", ".join(f"{k} = {_string(getattr(a, k))}" for k in _ARTIFACT_KEYS)
            out.append(f"    {{ {values} }},\n")
        out.append("]\n")
    return "".join(out)


def write_lock(path: Path, plugins: Iterable[LockedPlugin]) -> Path:
    """Write the lock pinning `plugins` to `path`, atomically; return `path`."""
    text = render_lock(plugins)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return path


def _string(value: str) -> str:
    """`value` as a TOML basic string."""
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:  # control characters (TOML forbids them raw) and invisible ones, escaped
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


class _Reader:
    """Validates the parsed lock, with errors that name file, line and key."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    @cached_property
    def _lines(self) -> dict[KeyPath, int]:
        return key_lines(self.text)

    def error(self, at: KeyPath, message: str) -> PolicyError:
        line = line_of(self._lines, at)
        place = f"lock {self.path}:{line}" if line is not None else f"lock {self.path}"
        return PolicyError(f"{place}: {dotted(at)}: {message}" if at else f"{place}: {message}")

    def plugins(self, data: dict[str, Any]) -> dict[str, LockedPlugin]:
        self.only(data, (), ("version", "plugins"))
        if "version" not in data:
            raise PolicyError(
                f"lock {self.path}: no 'version' key, so this is not a hipcheck lock file; "
                "write one with 'hipcheck lock'"
            )
        version = data["version"]
        if version != LOCK_VERSION or isinstance(version, bool):
            raise self.error(
                ("version",),
                f"this hipcheck reads lock format version {LOCK_VERSION}, not {version!r}; "
                "run 'hipcheck lock' again with this hipcheck",
            )
        plugins = data.get("plugins", {})
        if not isinstance(plugins, dict):
            raise self.error(("plugins",), "expected a table of plugins by identity")
        return {identity: self.plugin(identity, table) for identity, table in plugins.items()}

    def plugin(self, identity: str, table: object) -> LockedPlugin:
        at: KeyPath = ("plugins", identity)
        if not _IDENTITY.match(identity):
            raise self.error(at, "expected a plugin identity, 'publisher/name'")
        if not isinstance(table, dict):
            raise self.error(at, "expected a table")
        self.only(table, at, _PLUGIN_KEYS)
        artifacts = self.require(table, at, "artifacts", list, "an array of artifacts")
        locked = tuple(self.artifact((*at, "artifacts", i), a) for i, a in enumerate(artifacts))
        seen: set[str] = set()
        for i, artifact in enumerate(locked):
            if artifact.name in seen:
                raise self.error((*at, "artifacts", i), f"{artifact.name} is listed twice")
            seen.add(artifact.name)
        return LockedPlugin(
            identity,
            self.require(table, at, "distribution", str, "a distribution name"),
            self.require(table, at, "version", str, "a version string"),
            locked,
        )

    def artifact(self, at: KeyPath, table: object) -> LockedArtifact:
        if not isinstance(table, dict):
            raise self.error(at, "expected a table { name, version, sha256, source }")
        self.only(table, at, _ARTIFACT_KEYS)
        sha256 = self.require(table, at, "sha256", str, "64 lowercase hex digits")
        if not _SHA256.match(sha256):
            raise self.error((*at, "sha256"), f"expected 64 lowercase hex digits, got {sha256!r}")
        return LockedArtifact(
            self.require(table, at, "name", str, "a distribution name"),
            self.require(table, at, "version", str, "a version string"),
            sha256,
            self.require(table, at, "source", str, "a string"),
        )

    def only(self, table: dict[str, Any], at: KeyPath, allowed: Sequence[str]) -> None:
        for key in table:
            if key not in allowed:
                raise self.error((*at, key), f"unknown key; expected one of {', '.join(allowed)}")

    def require(
        self, table: dict[str, Any], at: KeyPath, key: str, kind: type[Any], expected: str
    ) -> Any:
        if key not in table:
            raise self.error(at, f"missing key {key!r} ({expected})")
        value = table[key]
        if not isinstance(value, kind):
            raise self.error((*at, key), f"expected {expected}, got {type(value).__name__}")
        return value
