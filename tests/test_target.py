"""Resolving a target path into a repository and commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from gitrepos import Commit, git

from hipcheck.errors import TargetError
from hipcheck.target import resolve

RepoFactory = Callable[[str, Sequence[Commit]], Path]


def test_a_repository_resolves_to_its_top_level_and_head(repo_factory: RepoFactory) -> None:
    repo = repo_factory("proj", [Commit("2021-03-04T05:06:07+00:00")])
    (repo / "sub").mkdir()
    target = resolve(str(repo / "sub"))
    assert target.path == repo.resolve()
    assert target.head == git(repo, "rev-parse", "HEAD")
    assert target.name == "proj"
    assert target.to_json()["local"] == {"path": str(repo.resolve()), "git_ref": target.head}


def test_a_missing_path_is_a_target_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no such file or directory"):
        resolve(str(tmp_path / "nope"))


def test_a_file_is_not_a_target(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(TargetError, match="not a directory"):
        resolve(str(tmp_path / "f"))


def test_a_plain_directory_is_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="not a git repository"):
        resolve(str(tmp_path))


def test_a_repository_without_commits_is_refused(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(TargetError, match="has no commits"):
        resolve(str(tmp_path))


def test_an_unknown_ref_is_refused(repo_factory: RepoFactory) -> None:
    repo = repo_factory("proj", [Commit("2021-03-04T05:06:07+00:00")])
    with pytest.raises(TargetError, match="no commit named 'v9'"):
        resolve(str(repo), ref="v9")
