"""The git plugin against real repositories built with git, and through the real bridge."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import hipcheck_plugin_git
import pytest
from hipcheck_plugin_git._memo import Memo

import hipcheck_bridge
from hipcheck.manifest import Manifest
from hipcheck.testing import BridgeClient, make_engine
from hipcheck_bridge import protocol

ALICE = ("Alice Author", "alice@example.org")
BOB = ("Bob Committer", "bob@example.org")


class Repo:
    """A real repository in a temporary directory, committed to with fixed identities and dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        # Keep the developer's own git configuration out of the repositories the tests build.
        self._env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C")
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, env: Mapping[str, str | bytes] | None = None) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.path), *args],
            env={**self._env, **(env or {})},
            capture_output=True,
            check=True,
        )
        return done.stdout.decode().strip()

    def commit(
        self,
        *,
        author: tuple[str | bytes, str] = ALICE,
        committer: tuple[str | bytes, str] = ALICE,
        written: str = "@1700000000 +0000",
        committed: str | None = None,
        config: tuple[str, ...] = (),
    ) -> str:
        """Make an empty commit and return its hash; dates are in git's ``@seconds zone`` form."""
        env = {
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_AUTHOR_DATE": written,
            "GIT_COMMITTER_NAME": committer[0],
            "GIT_COMMITTER_EMAIL": committer[1],
            "GIT_COMMITTER_DATE": committed or written,
        }
        settings = [arg for setting in config for arg in ("-c", setting)]
        self.git(*settings, "commit", "-q", "--allow-empty", "-m", "change", env=env)
        return self.git("rev-parse", "HEAD")

    def raw_commit(self, author: bytes, committer: bytes) -> str:
        """Write a commit object by hand (git commit would repair what these tests need broken)."""
        tree = self.git("hash-object", "-t", "tree", "-w", os.devnull)
        raw = self.path / "commit.bin"
        raw.write_bytes(
            b"tree %s\nauthor %s\ncommitter %s\n\nraw\n" % (tree.encode(), author, committer)
        )
        return self.git("hash-object", "-t", "commit", "-w", "--literally", str(raw))

    def key(self, git_ref: str | None = None) -> dict[str, str]:
        return {"path": str(self.path), "git_ref": git_ref or self.git("rev-parse", "HEAD")}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def _no_upstream(plugin: str, query: str | None, key: Any) -> Any:
    raise AssertionError(f"the git plugin asked another plugin: {plugin}/{query} {key!r}")


@pytest.fixture
def engine() -> hipcheck_bridge.Engine:
    return make_engine(upstream=_no_upstream)


def _person(who: tuple[str, str]) -> dict[str, str]:
    return {"name": who[0], "email": who[1]}


# -- commits ---------------------------------------------------------------------------------


def test_commits_lists_every_commit_newest_first_with_identities_and_utc_dates(
    repo: Repo, engine: hipcheck_bridge.Engine
) -> None:
    first = repo.commit(written="@1600000000 +0000")
    second = repo.commit(author=BOB, committer=BOB, written="@1650000000 +0200")
    third = repo.commit(
        author=ALICE, committer=BOB, written="@1700000000 -0500", committed="@1700003600 +0100"
    )

    value = hipcheck_plugin_git.commits(engine, repo.key())

    assert [c["hash"] for c in value] == repo.git("rev-list", "HEAD").split()
    assert value == [
        {
            "hash": third,
            "author": _person(ALICE),
            "committer": _person(BOB),
            "written_on": "2023-11-14T22:13:20Z",
            "committed_on": "2023-11-14T23:13:20Z",
        },
        {
            "hash": second,
            "author": _person(BOB),
            "committer": _person(BOB),
            "written_on": "2022-04-15T05:20:00Z",
            "committed_on": "2022-04-15T05:20:00Z",
        },
        {
            "hash": first,
            "author": _person(ALICE),
            "committer": _person(ALICE),
            "written_on": "2020-09-13T12:26:40Z",
            "committed_on": "2020-09-13T12:26:40Z",
        },
    ]


def test_commits_follows_git_ref_not_the_checked_out_branch(
    repo: Repo, engine: hipcheck_bridge.Engine
) -> None:
    base = repo.commit(written="@1600000000 +0000")
    repo.git("switch", "-q", "-c", "side")
    side = repo.commit(written="@1600000100 +0000")
    repo.git("switch", "-q", "main")
    repo.commit(written="@1600000200 +0000")

    value = hipcheck_plugin_git.commits(engine, repo.key("side"))

    assert [c["hash"] for c in value] == [side, base]


def test_commits_keeps_a_name_that_is_not_utf8_with_replacement_characters(
    repo: Repo, engine: hipcheck_bridge.Engine
) -> None:
    commit_hash = repo.raw_commit(
        b"Jos\xe9 \xff <jose@example.org> 1700000000 +0000", b"C <c@example.org> 1700000000 +0000"
    )

    (commit,) = hipcheck_plugin_git.commits(engine, repo.key(commit_hash))

    assert commit["hash"] == commit_hash
    assert commit["author"] == {"name": "Jos\ufffd \ufffd", "email": "jose@example.org"}


def test_commits_decodes_a_name_in_the_encoding_its_commit_declares(
    repo: Repo, engine: hipcheck_bridge.Engine
) -> None:
    repo.commit(author=(b"Jos\xe9", "jose@example.org"), config=("i18n.commitEncoding=ISO-8859-1",))
    # The repository asking for Latin-1 output must not change what the plugin reads.
    repo.git("config", "i18n.logOutputEncoding", "ISO-8859-1")

    (commit,) = hipcheck_plugin_git.commits(engine, repo.key())

    assert commit["author"]["name"] == "José"


def test_commits_keeps_control_characters_in_names_without_shifting_fields(
    repo: Repo, engine: hipcheck_bridge.Engine
) -> None:
    repo.commit(author=("Mallory\x1fmal@evil.example\x1f0", "mallory@example.org"))

    (commit,) = hipcheck_plugin_git.commits(engine, repo.key())

    assert commit["author"] == {
        "name": "Mallory\x1fmal@evil.example\x1f0",
        "email": "mallory@example.org",
    }
    assert commit["written_on"] == "2023-11-14T22:13:20Z"


def test_commits_reports_an_unreadable_date_as_null(
    repo: Repo, engine: hipcheck_bridge.Engine
) -> None:
    # Year 10000 cannot be written in RFC 3339.
    commit_hash = repo.raw_commit(
        b"A <a@example.org> 253402300800 +0000", b"C <c@example.org> 1700000000 +0000"
    )

    (commit,) = hipcheck_plugin_git.commits(engine, repo.key(commit_hash))

    assert commit["written_on"] is None
    assert commit["committed_on"] == "2023-11-14T22:13:20Z"


def test_a_path_that_is_not_a_repository_is_a_query_error(
    tmp_path: Path, engine: hipcheck_bridge.Engine
) -> None:
    with pytest.raises(hipcheck_bridge.QueryError, match="not a git repository"):
        hipcheck_plugin_git.commits(engine, {"path": str(tmp_path), "git_ref": "HEAD"})


def test_a_missing_path_is_a_query_error(tmp_path: Path, engine: hipcheck_bridge.Engine) -> None:
    with pytest.raises(hipcheck_bridge.QueryError, match="cannot change to"):
        hipcheck_plugin_git.commits(engine, {"path": str(tmp_path / "gone"), "git_ref": "HEAD"})


def test_a_bad_ref_is_a_query_error_quoting_git(repo: Repo, engine: hipcheck_bridge.Engine) -> None:
    repo.commit()

    with pytest.raises(hipcheck_bridge.QueryError, match=r"^fatal: bad revision 'no-such-ref'$"):
        hipcheck_plugin_git.commits(engine, repo.key("no-such-ref"))


def test_a_ref_that_looks_like_an_option_is_not_obeyed(
    repo: Repo, tmp_path: Path, engine: hipcheck_bridge.Engine
) -> None:
    repo.commit()
    planted = tmp_path / "planted"

    with pytest.raises(hipcheck_bridge.QueryError, match="bad revision"):
        hipcheck_plugin_git.commits(engine, repo.key(f"--output={planted}"))
    assert not planted.exists()


@pytest.mark.parametrize("key", [None, "HEAD", {"path": "/x"}, {"path": 1, "git_ref": "HEAD"}])
def test_a_malformed_key_is_a_query_error(key: Any, engine: hipcheck_bridge.Engine) -> None:
    with pytest.raises(hipcheck_bridge.QueryError, match="the key must be"):
        hipcheck_plugin_git.commits(engine, key)


# -- last_commit_date ------------------------------------------------------------------------


def test_last_commit_date_is_the_author_date_of_the_commit_git_ref_names(
    repo: Repo, engine: hipcheck_bridge.Engine
) -> None:
    repo.commit(written="@1650000000 +0000")
    # A rebased or cherry-picked tip: written before its parent, committed after it.
    repo.commit(written="@1600000000 +0000", committed="@1700000000 +0000")

    assert hipcheck_plugin_git.last_commit_date(engine, repo.key()) == "2020-09-13T12:26:40Z"


def test_last_commit_date_reuses_a_history_already_read(
    repo: Repo, engine: hipcheck_bridge.Engine
) -> None:
    repo.commit(written="@1600000000 +0000")
    key = repo.key()
    hipcheck_plugin_git.commits(engine, key)
    # With the repository gone, only the memoised history can answer.
    shutil.rmtree(repo.path / ".git")

    assert hipcheck_plugin_git.last_commit_date(engine, key) == "2020-09-13T12:26:40Z"
    with pytest.raises(hipcheck_bridge.QueryError, match="not a git repository"):
        hipcheck_plugin_git.last_commit_date(engine, {**key, "git_ref": "HEAD"})


# -- contributors ----------------------------------------------------------------------------


def test_contributors_are_every_author_and_committer_once_sorted(
    repo: Repo, engine: hipcheck_bridge.Engine
) -> None:
    carol = ("Carol", "carol@example.org")
    repo.commit(author=BOB, committer=carol)
    repo.commit(author=ALICE, committer=BOB)
    repo.commit(author=ALICE, committer=ALICE)

    value = hipcheck_plugin_git.contributors(engine, repo.key())

    assert value == [_person(ALICE), _person(BOB), _person(carol)]


# -- the memo --------------------------------------------------------------------------------


def test_memo_runs_one_computation_for_concurrent_askers() -> None:
    memo: Memo[str, int] = Memo(size=2)
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow() -> int:
        calls.append("slow")
        started.set()
        release.wait(timeout=10)
        return 42

    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(memo.get("k", slow)))
    first.start()
    started.wait(timeout=10)
    second = threading.Thread(target=lambda: results.append(memo.get("k", lambda: -1)))
    second.start()
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)

    assert results == [42, 42]
    assert calls == ["slow"]


def test_memo_forgets_failures_and_the_oldest_entries() -> None:
    memo: Memo[str, int] = Memo(size=2)

    def fail() -> int:
        raise hipcheck_bridge.QueryError("boom")

    with pytest.raises(hipcheck_bridge.QueryError, match="boom"):
        memo.get("a", fail)
    assert memo.peek("a") is None
    assert memo.get("a", lambda: 1) == 1
    memo.get("b", lambda: 2)
    memo.get("c", lambda: 3)
    assert (memo.peek("a"), memo.peek("b"), memo.peek("c")) == (None, 2, 3)


# -- packaging and the bridge ----------------------------------------------------------------


def test_the_manifest_ships_in_the_package_and_is_valid() -> None:
    toml = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    text = (resources.files("hipcheck_plugin_git") / "hipcheck-plugin.toml").read_text("utf-8")

    manifest = Manifest.model_validate({**toml.loads(text), "version": "0.1.0"})

    assert (manifest.identity, manifest.kind, manifest.dependencies) == ("hipcheck/git", "data", ())
    assert manifest.entrypoint == "hipcheck_plugin_git"


@pytest.fixture
def bridge() -> Iterator[BridgeClient]:
    with BridgeClient(hipcheck_plugin_git, "hipcheck/git", _no_upstream) as served:
        yield served


def test_the_bridge_serves_the_plugin_over_pipes(repo: Repo, bridge: BridgeClient) -> None:
    only = repo.commit(written="@1600000000 +0000")

    hello = bridge.handshake()
    configured = bridge.configure({})
    answer = bridge.query("commits", repo.key())
    date = bridge.query("last_commit_date", repo.key())

    assert {(q["name"], q["default"]) for q in hello["queries"]} == {
        ("commits", False),
        ("last_commit_date", False),
        ("contributors", False),
    }
    assert configured["config"] == {}
    assert configured["default_policy_expr"] is None
    assert [c["hash"] for c in answer["value"]] == [only]
    assert json.loads(json.dumps(answer["value"][0]["author"])) == _person(ALICE)
    assert date == {"value": "2020-09-13T12:26:40Z", "concerns": [], "hints": []}


def test_the_bridge_rejects_configuration_and_reports_git_failures(
    tmp_path: Path, bridge: BridgeClient
) -> None:
    bridge.handshake()

    refused = bridge.call("configure", {"config": {"commit-cache-size": 2}})["error"]
    failed = bridge.call(
        "query", {"query": "commits", "key": {"path": str(tmp_path), "git_ref": "HEAD"}}
    )["error"]

    assert refused["code"] == protocol.CONFIG_ERROR
    assert refused["data"]["kind"] == "unrecognized-key"
    assert refused["data"]["key"] == "commit-cache-size"
    assert failed["code"] == protocol.QUERY_FAILED
    assert "not a git repository" in failed["message"]
