"""End to end: the installed ``hipcheck`` command, real plugin envs and processes, real repos.

These need hipcheck and the first-party plugins installed as users install them
(``pip install . contrib/*/``; tox does this). Plugin envs are built once per test session
in a shared cache dir.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from gitrepos import ALICE, BOB, Commit, git

RepoFactory = Callable[[str, Sequence[Commit]], Path]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("HIPCHECK_CACHE_DIR")
    return Path(configured) if configured else tmp_path_factory.mktemp("hipcheck-cache")


@pytest.fixture(scope="session")
def hipcheck(
    cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., subprocess.CompletedProcess[str]]:
    # An empty user config dir and a working directory with no policy in or above it: the
    # built-in default applies unless a test passes --policy.
    config_dir = tmp_path_factory.mktemp("config")
    workdir = tmp_path_factory.mktemp("cwd")
    exe = shutil.which("hipcheck", path=str(Path(sys.executable).parent))
    assert exe, "the hipcheck console script is not installed next to this interpreter"

    def run(*args: str, python_flags: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
        argv = (
            [sys.executable, *python_flags, "-m", "hipcheck", *args]
            if python_flags
            else [exe, *args]
        )
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={
                **os.environ,
                "HIPCHECK_CACHE_DIR": str(cache_dir),
                "HIPCHECK_CONFIG_DIR": str(config_dir),
                "NO_COLOR": "1",
            },
            cwd=workdir,
            timeout=600,
        )

    return run


def _ago(**delta: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(**delta)).replace(microsecond=0).isoformat()


def _json(out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert out.stdout, out.stderr
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def _analysis(report: dict[str, Any], name: str) -> dict[str, Any]:
    for section in ("passing", "failing"):
        for a in report[section]:
            if a["name"] == name:
                return dict(a)
    raise AssertionError(f"{name} not judged: errored={report['errored']}")


def test_an_old_repository_is_investigated_for_inactivity(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], repo_factory: RepoFactory
) -> None:
    repo = repo_factory(
        "old",
        [
            Commit("2019-05-01T10:00:00+00:00", author=ALICE, committer=BOB),
            Commit("2019-06-01T10:00:00+00:00", author=ALICE, committer=BOB),
        ],
    )
    out = hipcheck("check", str(repo), "--format", "json")
    report = _json(out)
    assert out.returncode == 1, out.stderr
    activity = _analysis(report, "hipcheck/activity")
    assert activity["passed"] is False
    assert activity["policy_expr"] == "(lte $ P71w)"
    weeks = int(activity["value"].removeprefix("P").split("w")[0])
    expected = (
        datetime.now(timezone.utc) - datetime(2019, 6, 1, 10, tzinfo=timezone.utc)
    ).days // 7
    assert weeks == expected
    assert report["recommendation"]["kind"] == "Investigate"
    assert report["recommendation"]["reason"] == "Policy"
    assert report["recommendation"]["risk_score"] == 0.5
    assert report["repo_head"] == git(repo, "rev-parse", "HEAD")
    assert report["repo_name"] == "old"


def test_a_fresh_reviewed_repository_passes(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], repo_factory: RepoFactory
) -> None:
    repo = repo_factory(
        "fresh",
        [
            Commit(_ago(days=30), author=ALICE, committer=BOB),
            Commit(_ago(days=10), author=ALICE, committer=BOB),
            Commit(_ago(days=2), author=BOB, committer=BOB),
            Commit(_ago(days=1), author=ALICE, committer=BOB),
            Commit(_ago(hours=5), author=ALICE, committer=BOB),
            Commit(_ago(hours=3), author=ALICE, committer=BOB),
        ],
    )
    out = hipcheck("check", str(repo), "--format", "json")
    report = _json(out)
    assert out.returncode == 0, out.stderr
    assert report["recommendation"]["kind"] == "Pass"
    assert report["recommendation"]["risk_score"] == 0.0
    identity = _analysis(report, "hipcheck/identity")
    # Newest first, as git log lists them: only the third-oldest was committed by its author.
    assert identity["value"] == [False, False, False, True, False, False]
    assert identity["passed"] is True
    assert report["errored"] == []
    assert len(report["policy_hash"]) == 64
    for plugin in ("hipcheck/git", "hipcheck/activity", "hipcheck/identity"):
        assert report["sandbox"][plugin]["not_in_force"] == [], report["sandbox"][plugin]


def test_identity_fails_when_authors_commit_their_own_work(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], repo_factory: RepoFactory
) -> None:
    repo = repo_factory("selfmade", [Commit(_ago(days=d)) for d in (5, 4, 3)])
    out = hipcheck("check", str(repo), "--format", "json")
    report = _json(out)
    identity = _analysis(report, "hipcheck/identity")
    assert identity["value"] == [True, True, True]
    assert identity["passed"] is False
    assert out.returncode == 1
    assert report["recommendation"]["risk_score"] == 0.5


def test_human_output_names_each_analysis_and_the_recommendation(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], repo_factory: RepoFactory
) -> None:
    repo = repo_factory("human", [Commit(_ago(days=1), committer=BOB)])
    out = hipcheck("check", str(repo))
    assert out.returncode == 0, out.stderr
    assert "hipcheck/activity" in out.stdout
    assert "hipcheck/identity" in out.stdout
    assert "PASS" in out.stdout
    assert "\x1b[" not in out.stdout  # NO_COLOR is honoured


def test_exit_zero_forces_success_on_a_completed_run(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], repo_factory: RepoFactory
) -> None:
    repo = repo_factory("old2", [Commit("2018-01-01T00:00:00+00:00")])
    out = hipcheck("check", str(repo), "--format", "json", "--exit-zero")
    assert out.returncode == 0
    assert _json(out)["recommendation"]["kind"] == "Investigate"


def test_plugins_run_out_of_process_in_their_own_envs(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]],
    repo_factory: RepoFactory,
    cache_dir: Path,
) -> None:
    repo = repo_factory("isolated", [Commit(_ago(days=1), committer=BOB)])
    # -X importtime lists every module the host process imports, on stderr.
    out = hipcheck("check", str(repo), "--format", "json", python_flags=["-X", "importtime"])
    assert out.returncode == 0, out.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line]
    assert "hipcheck.cli" in imported  # the measurement works...
    assert not [m for m in imported if m.startswith("hipcheck_plugin_")]  # ...and saw no plugin

    listing = json.loads(hipcheck("plugin", "list", "--format", "json").stdout)
    rows = {row["name"]: row for row in listing["plugins"]}
    for name, module in [
        ("hipcheck/activity", "hipcheck_plugin_activity"),
        ("hipcheck/identity", "hipcheck_plugin_identity"),
        ("hipcheck/git", "hipcheck_plugin_git"),
    ]:
        row = rows[name]
        env = Path(row["env"])
        assert row["provisioned"] is True
        assert env.is_relative_to(cache_dir)
        assert len(row["sha256"]) == 64
        site = {p.name.lower() for p in env.glob("lib/python*/site-packages/*")}
        assert module in site
        assert "hipcheck_bridge" in site
        assert "pluggy" in site
        assert not {"pydantic", "rich", "click", "hipcheck"} & site, site
        # The plugin's own process ran that env's interpreter.
        assert (env / "hipcheck-env.json").is_file()


def test_plugin_envs_are_reused_on_the_next_run(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], repo_factory: RepoFactory
) -> None:
    repo = repo_factory("reuse", [Commit(_ago(days=1), committer=BOB)])
    hipcheck("check", str(repo), "--format", "json")
    listing = json.loads(hipcheck("plugin", "list", "--format", "json").stdout)
    markers = {r["name"]: Path(r["env"]) / "hipcheck-env.json" for r in listing["plugins"]}
    before = {n: m.stat().st_mtime_ns for n, m in markers.items()}
    out = hipcheck("check", str(repo), "--format", "json")
    assert out.returncode == 0, out.stderr
    assert {n: m.stat().st_mtime_ns for n, m in markers.items()} == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["check", "/definitely/not/here"],
            "hipcheck: error: target /definitely/not/here: no such",
        ),
        (["check", "{tmp}"], "not a git repository"),
        (["check", "{empty}"], "the repository has no commits"),
        (["check", "{repo}", "--policy", "{bad_policy}"], "invalid TOML"),
        (["check", "{repo}", "--policy", "{tmp}/missing.toml"], "no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]],
    repo_factory: RepoFactory,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    bad_policy = tmp_path / "bad.toml"
    bad_policy.write_text("[analyze\n")
    repo = repo_factory("r", [Commit(_ago(days=1))])
    plain = tmp_path / "plain"
    plain.mkdir()
    fill = {
        "tmp": str(plain),
        "empty": str(empty),
        "bad_policy": str(bad_policy),
        "repo": str(repo),
    }
    out = hipcheck(*[a.format(**fill) for a in args])
    assert out.returncode == 2
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


def test_debug_shows_the_traceback(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    out = hipcheck("--debug", "check", "/definitely/not/here")
    assert out.returncode == 2
    assert "Traceback" in out.stderr
    assert "TargetError" in out.stderr


def test_an_unknown_format_is_a_usage_error(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    out = hipcheck("check", ".", "--format", "yaml")
    assert out.returncode == 2
    assert "'yaml' is not one of" in out.stderr


def test_version_and_help(hipcheck: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    from hipcheck import __version__

    assert hipcheck("--version").stdout.strip() == f"hipcheck, version {__version__}"
    help_text = hipcheck("--help").stdout
    assert "check" in help_text and "plugin" in help_text


def test_quiet_prints_one_summary_line(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], repo_factory: RepoFactory
) -> None:
    repo = repo_factory("quiet", [Commit(_ago(days=1), committer=BOB)])
    out = hipcheck("check", str(repo), "-q")
    head = git(repo, "rev-parse", "HEAD")[:12]
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"PASS quiet@{head} risk 0.00 (2 passing, 0 failing, 0 errored)\n"


def test_color_always_colours_even_a_pipe(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], repo_factory: RepoFactory
) -> None:
    repo = repo_factory("colour", [Commit(_ago(days=1), committer=BOB)])
    coloured = hipcheck("--color", "always", "check", str(repo), "--exit-zero")
    assert "\x1b[" in coloured.stdout


def test_ready_starts_and_configures_every_plugin(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    out = hipcheck("ready", "--format", "json")
    data = json.loads(out.stdout)
    assert out.returncode == 0, out.stdout
    checks = {c["name"]: c for c in data["checks"]}
    for name in ("hipcheck/git", "hipcheck/activity", "hipcheck/identity", "policy", "git"):
        assert checks[name]["ok"] is True, checks[name]
    assert "started and configured" in checks["hipcheck/identity"]["detail"]
    # This machine kind (root, Landlock, cgroups) puts every protection in force.
    assert data["sandbox"]["not_in_force"] == []
    assert "filesystem write confinement (Landlock)" in data["sandbox"]["in_force"]
    assert "filesystem read confinement (Landlock)" in data["sandbox"]["in_force"]


def test_ready_fails_on_a_plugin_that_rejects_its_configuration(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[plugins."hipcheck/activity"]\n'
        '[analyze."hipcheck/activity"]\n'
        'config = { weeks = "many" }\n'
    )
    out = hipcheck("ready", "--policy", str(policy), "--format", "json")
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert out.returncode == 1
    assert checks["hipcheck/activity"]["ok"] is False
    assert "invalid-value key 'weeks'" in checks["hipcheck/activity"]["detail"]


def test_explain_reports_what_an_analysis_measures_under_the_policy(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[plugins."hipcheck/activity"]\n[analyze."hipcheck/activity"]\nconfig = { weeks = 10 }\n'
    )
    out = hipcheck("explain", "hipcheck/activity", "--policy", str(policy), "--format", "json")
    data = json.loads(out.stdout)
    assert out.returncode == 0, out.stderr
    assert data["policy_expr"] == "(lte $ P10w)"
    assert data["policy_expr_source"] == "plugin default"
    assert data["config"] == {"weeks": 10}
    assert data["share"] == 1.0


def test_sarif_and_html_reports_come_from_a_real_run(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]],
    repo_factory: RepoFactory,
    tmp_path: Path,
) -> None:
    repo = repo_factory("formats", [Commit(_ago(days=d)) for d in (3, 2)])
    sarif = hipcheck("check", str(repo), "--format", "sarif")
    assert sarif.returncode == 1, sarif.stderr
    (run,) = json.loads(sarif.stdout)["runs"]
    assert [r["ruleId"] for r in run["results"]] == ["hipcheck/identity"]
    assert (
        run["properties"]["policy_hash"]
        == _json(hipcheck("check", str(repo), "--format", "json"))["policy_hash"]
    )

    page = tmp_path / "report.html"
    out = hipcheck("check", str(repo), "--format", "html", "-o", str(page), "--exit-zero")
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "hipcheck/identity" in html


def actual_file(listing: dict[str, Any]) -> str:
    return str(next(r["artifact"] for r in listing["plugins"] if r["name"] == "hipcheck/activity"))


def test_a_policy_hash_pin_is_enforced_before_any_plugin_runs(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]],
    repo_factory: RepoFactory,
    tmp_path: Path,
) -> None:
    repo = repo_factory("pinned", [Commit(_ago(days=1), committer=BOB)])
    listing = json.loads(hipcheck("plugin", "list", "--format", "json").stdout)
    actual = next(r["sha256"] for r in listing["plugins"] if r["name"] == "hipcheck/activity")
    policy = tmp_path / "hipcheck.toml"
    text = '[plugins."hipcheck/activity"]\nhashes = ["sha256:{}"]\n[analyze."hipcheck/activity"]\n'

    policy.write_text(text.format(actual))
    good = hipcheck("check", str(repo), "--policy", str(policy), "--format", "json")
    assert good.returncode == 0, good.stderr
    assert _json(good)["errored"] == []

    policy.write_text(text.format("0" * 64))
    bad = hipcheck("check", str(repo), "--policy", str(policy), "--format", "json")
    assert bad.returncode == 3
    assert bad.stdout == ""
    assert bad.stderr == (
        f"hipcheck: error: plugin hipcheck/activity: artifact {actual_file(listing)} has "
        f"sha256:{actual}, but the policy pins sha256:{'0' * 64}\n"
    )


def test_the_policy_in_the_working_directory_is_found(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    (tmp_path / "hipcheck.toml").write_text(
        '[plugins."hipcheck/identity"]\n[analyze."hipcheck/identity"]\nweight = 2\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "hipcheck", "scoring", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=tmp_path / ".",
        env={**os.environ, "HIPCHECK_CONFIG_DIR": str(tmp_path / "none")},
        check=False,
    )
    data = json.loads(out.stdout)
    assert data["policy"] == str(tmp_path / "hipcheck.toml")
    assert data["analyses"] == [{"name": "hipcheck/identity", "weight": 1.0, "policy_weight": 2}]


def test_p_no_blocks_a_plugin_and_errors_what_needs_it(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]], repo_factory: RepoFactory
) -> None:
    repo = repo_factory("blocked", [Commit(_ago(days=1), committer=BOB)])
    out = hipcheck("-p", "no:hipcheck/git", "check", str(repo), "--format", "json")
    errors = {e["name"]: e["error"]["msg"] for e in _json(out)["errored"]}
    assert out.returncode == 1
    assert errors == {
        "hipcheck/activity": "plugin hipcheck/git is blocked (-p no:hipcheck/git) "
        "(needed by hipcheck/activity)",
        "hipcheck/identity": "plugin hipcheck/git is blocked (-p no:hipcheck/git) "
        "(needed by hipcheck/identity)",
    }


def test_without_autoload_dependencies_must_be_named_or_enabled(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]],
    repo_factory: RepoFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = repo_factory("noauto", [Commit(_ago(days=1), committer=BOB)])
    monkeypatch.setenv("HIPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    refused = _json(hipcheck("check", str(repo), "--format", "json"))
    assert len(refused["errored"]) == 2
    assert "plugin autoload is off" in refused["errored"][0]["error"]["msg"]
    enabled = hipcheck("-p", "hipcheck/git", "check", str(repo), "--format", "json")
    assert enabled.returncode == 0, enabled.stderr
    assert _json(enabled)["errored"] == []


def test_plugin_info_describes_a_plugin_and_its_queries(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    out = hipcheck("plugin", "info", "hipcheck/identity", "--format", "json")
    info = json.loads(out.stdout)
    assert out.returncode == 0, out.stderr
    assert (info["kind"], info["interface"], info["status"]) == ("analysis", "python", "ok")
    assert info["dependencies"] == [{"name": "hipcheck/git", "version": "^0.1"}]
    assert [(q["name"], q["default"]) for q in info["queries"]] == [("identity", True)]
    assert len(info["sha256"]) == 64
    unknown = hipcheck("plugin", "info", "nobody/nothing")
    assert unknown.returncode == 2
    assert "no installed plugin nobody/nothing" in unknown.stderr


def test_a_lock_pins_every_artifact_and_a_changed_hash_halts_the_run(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]],
    repo_factory: RepoFactory,
    tmp_path: Path,
) -> None:
    repo = repo_factory("locked", [Commit(_ago(days=1), committer=BOB)])
    policy = tmp_path / "hipcheck.toml"
    policy.write_text('[plugins."hipcheck/activity"]\n[analyze."hipcheck/activity"]\n')
    wrote = hipcheck("lock", "--policy", str(policy))
    lock = tmp_path / "hipcheck.lock"
    assert wrote.returncode == 0, wrote.stderr
    assert wrote.stdout == f"wrote {lock}\n"
    text = lock.read_text()
    assert '[plugins."hipcheck/activity"]' in text and '[plugins."hipcheck/git"]' in text

    good = hipcheck("check", str(repo), "--policy", str(policy), "--format", "json")
    assert good.returncode == 0, good.stderr

    first = text.index('sha256 = "') + len('sha256 = "')
    lock.write_text(text[:first] + "0" * 64 + text[first + 64 :])
    bad = hipcheck("check", str(repo), "--policy", str(policy), "--format", "json")
    assert bad.returncode == 3
    assert bad.stdout == ""
    assert "hipcheck.lock" in bad.stderr and "0" * 64 in bad.stderr


def test_plugin_verify_finds_no_drift_in_envs_it_built(
    hipcheck: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    hipcheck("ready")
    out = hipcheck("plugin", "verify", "--format", "json")
    assert out.returncode == 0, out.stdout
    assert json.loads(out.stdout) == []
