"""Resolving what the user asked to check into a target the plugins can read."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hipcheck.errors import TargetError


@dataclass(frozen=True)
class Target:
    """A local git repository at a fixed commit."""

    specifier: str
    path: Path
    head: str
    ref: str

    @property
    def name(self) -> str:
        return self.path.name

    def to_json(self) -> dict[str, Any]:
        """The key every analysis's default query receives."""
        return {
            "specifier": self.specifier,
            "local": {"path": str(self.path), "git_ref": self.head},
            "remote": None,
            "package": None,
        }


def _git(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        return subprocess.run(
            ["git", "-C", str(path), "-c", "core.fsmonitor=false", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise TargetError("git is not installed or not on PATH; hipcheck needs it") from exc


def resolve(specifier: str, *, ref: str = "HEAD") -> Target:
    """Resolve a path to a git repository's top level and the commit ``ref`` names there."""
    path = Path(specifier).expanduser()
    if not path.exists():
        raise TargetError(f"target {specifier}: no such file or directory")
    if not path.is_dir():
        raise TargetError(f"target {specifier}: not a directory (give a git repository's path)")
    top = _git(path, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise TargetError(f"target {specifier}: not a git repository")
    root = Path(top.stdout.strip()).resolve()
    head = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if head.returncode != 0:
        if ref == "HEAD":
            raise TargetError(f"target {specifier}: the repository has no commits")
        raise TargetError(f"target {specifier}: no commit named {ref!r}")
    return Target(specifier=specifier, path=root, head=head.stdout.strip(), ref=ref)
