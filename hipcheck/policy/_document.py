"""The policy text being read, and the errors that point into it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from hipcheck.errors import PolicyError
from hipcheck.policy._locate import KeyPath, dotted, key_lines, line_of


@dataclass(frozen=True)
class Document:
    """Policy TOML, where it came from, and where the policy sits inside it.

    ``within`` is the table holding the policy: ``()`` for a ``hipcheck.toml``, ``("tool",
    "hipcheck")`` for a ``pyproject.toml``. Paths given to :meth:`error` are relative to it.
    """

    name: str
    text: str
    base_dir: Path
    within: KeyPath = ()

    @cached_property
    def lines(self) -> dict[KeyPath, int]:
        # Scanned only when an error or an environment reference needs a line.
        return key_lines(self.text)

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path`` (or of its nearest enclosing table)."""
        return line_of(self.lines, (*self.within, *path))

    def where(self, path: KeyPath) -> str:
        """``policy FILE:LINE: dotted.key``, the prefix of every error about ``path``."""
        full = (*self.within, *path)
        line = self.line(path)
        place = f"policy {self.name}" if line is None else f"policy {self.name}:{line}"
        return f"{place}: {dotted(full)}" if full else place

    def error(self, path: KeyPath, message: str) -> PolicyError:
        """An error about the key at ``path``; raise it."""
        return PolicyError(f"{self.where(path)}: {message}")
