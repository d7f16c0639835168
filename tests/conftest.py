"""Fixtures shared by the host's tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from gitrepos import Commit, make_repo


@pytest.fixture
def repo_factory(tmp_path: Path) -> Callable[[str, Sequence[Commit]], Path]:
    """Build named repositories under this test's tmp dir."""

    def build(name: str, commits: Sequence[Commit]) -> Path:
        return make_repo(tmp_path / name, commits)

    return build
