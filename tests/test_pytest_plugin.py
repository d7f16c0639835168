"""hipcheck's pytest plugin: the fixtures a plugin's test suite gets, used as pytest runs them.

The fixture tests run small test files in pytester sessions; the tests marked slow run the
installed ``hipcheck/activity`` plugin for real, in its own provisioned environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hipcheck_plugin_activity import format_span

from hipcheck.errors import DiscoveryError
from hipcheck.testing import PluginProcess, RemoteError, Upstream
from hipcheck_bridge import protocol

if TYPE_CHECKING:
    from hipcheck.pytest_plugin import PluginProcessFactory


def _autoloaded() -> bool:
    """Whether pytest loads hipcheck's plugin by itself, through the ``pytest11`` entry point."""
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    entry_points = metadata.entry_points(group="pytest11")
    return any(ep.value == "hipcheck.pytest_plugin" for ep in entry_points)


# Plugin authors get the fixtures through hipcheck's entry point. Where it is not installed (a
# checkout whose metadata predates it) the plugin is named here; naming it where pytest has
# already loaded it would register the module twice, which pytest refuses.
PLUGIN = [] if _autoloaded() else ["hipcheck.pytest_plugin"]
pytest_plugins = ["pytester", *PLUGIN]
LOAD_PLUGIN = [arg for name in PLUGIN for arg in ("-p", name)]

# What plugin authors' suites run with: warnings as errors, and only registered markers.
STRICT = ["-W", "error", "--strict-markers", "-p", "no:cacheprovider"]

LAST_COMMIT = datetime(2024, 1, 1, tzinfo=timezone.utc)
LOCAL = {"path": "/repos/demo", "git_ref": "0123456789abcdef0123456789abcdef01234567"}
TARGET = {"specifier": "demo", "local": LOCAL, "remote": None, "package": None}


def _run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(source)
    return pytester.runpytest(*LOAD_PLUGIN, *STRICT, *args)


def _process_group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# -- the fixtures, in pytest sessions ------------------------------------------------------------


def test_the_upstream_fixture_is_empty_in_every_test(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        def test_fills_it(hipcheck_upstream):
            hipcheck_upstream.answers["a/b/c"] = 1
            assert hipcheck_upstream("a/b", "c", None) == 1

        def test_finds_it_empty_again(hipcheck_upstream):
            assert (hipcheck_upstream.answers, hipcheck_upstream.calls) == ({}, [])
        """,
    )

    result.assert_outcomes(passed=2)


def test_the_engine_fixture_answers_from_the_upstream_fixture(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        def test_engine(hipcheck_engine, hipcheck_upstream):
            hipcheck_upstream.answers["hipcheck/git/commits"] = ["a", "b"]
            engine = hipcheck_engine({"min-commits": 1})

            assert engine.query("hipcheck/git/commits", "key") == ["a", "b"]
            assert engine.config == {"min-commits": 1}
            assert hipcheck_engine().config == {}
            assert hipcheck_upstream.calls == [("hipcheck/git/commits", "key")]
        """,
    )

    result.assert_outcomes(passed=1)


def test_the_bridge_client_fixture_serves_plugins_and_closes_them_at_teardown(
    pytester: pytest.Pytester,
) -> None:
    result = _run(
        pytester,
        """
        import hipcheck_bridge

        @hipcheck_bridge.query(default=True)
        def doubled(engine, key):
            return 2 * engine.query("test/numbers/value", key)

        class Doubler:
            @hipcheck_bridge.hookimpl
            def hipcheck_queries(self):
                return [doubled]

        def test_two_clients(hipcheck_bridge_client, hipcheck_upstream):
            hipcheck_upstream.answers["test/numbers/value"] = lambda key: key + 1
            first = hipcheck_bridge_client(Doubler(), "test/doubler-1")
            second = hipcheck_bridge_client(Doubler(), "test/doubler-2")
            first.handshake()
            second.handshake()

            assert first.query(None, 4)["value"] == 10
            assert second.query(None, 1)["value"] == 4
            assert first.running and second.running
        """,
    )

    result.assert_outcomes(passed=1)
    # The session ran in this process: its bridges' threads would still be here if left open.
    assert [t.name for t in threading.enumerate() if t.name.startswith("bridge-test/")] == []


def test_tests_using_the_plugin_process_fixture_can_be_deselected_by_its_marker(
    pytester: pytest.Pytester,
) -> None:
    result = _run(
        pytester,
        """
        import pytest

        @pytest.fixture
        def activity(hipcheck_plugin_process):
            return hipcheck_plugin_process("hipcheck/activity")

        def test_uses_it(hipcheck_plugin_process):
            raise AssertionError("a deselected test does not run")

        def test_uses_it_through_another_fixture(activity):
            raise AssertionError("a deselected test does not run")

        def test_does_not(hipcheck_upstream):
            pass
        """,
        "-m",
        "not hipcheck_plugin_process",
    )

    result.assert_outcomes(passed=1, deselected=2)


@pytest.mark.slow
def test_the_plugin_process_fixture_leaves_no_process_after_the_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, hipcheck_cache_dir: Path
) -> None:
    monkeypatch.setenv("HIPCHECK_CACHE_DIR", str(hipcheck_cache_dir))  # build the env once
    result = _run(
        pytester,
        """
        from pathlib import Path

        def test_activity(hipcheck_plugin_process, hipcheck_upstream):
            hipcheck_upstream.answers["hipcheck/git/last_commit_date"] = "2024-01-01T00:00:00Z"
            plugin = hipcheck_plugin_process("hipcheck/activity")
            Path(__file__).with_name("pid").write_text(str(plugin.pid))
            plugin.handshake()
            plugin.configure({})

            assert plugin.query(None, {"local": {"path": "/r", "git_ref": "HEAD"}})["value"]
        """,
    )

    result.assert_outcomes(passed=1)
    assert not _process_group_exists(int((pytester.path / "pid").read_text()))


# -- hipcheck_plugin_process, directly -----------------------------------------------------------


@pytest.mark.slow
def test_the_plugin_process_fixture_runs_the_installed_activity_plugin(
    hipcheck_plugin_process: PluginProcessFactory,
    hipcheck_upstream: Upstream,
    hipcheck_cache_dir: Path,
) -> None:
    hipcheck_upstream.answers["hipcheck/git/last_commit_date"] = "2024-01-01T00:00:00Z"
    plugin = hipcheck_plugin_process("hipcheck/activity")

    hello = plugin.handshake()
    configured = plugin.configure({"weeks": 4})
    before = datetime.now(timezone.utc)
    answer = plugin.query(None, TARGET)
    after = datetime.now(timezone.utc)

    # The plugin measures from its own clock, some time between the two readings of ours.
    spans = range(
        int((before - LAST_COMMIT).total_seconds()), 1 + int((after - LAST_COMMIT).total_seconds())
    )
    assert answer["value"] in {format_span(seconds) for seconds in spans}
    assert (answer["concerns"], answer["hints"]) == ([], [])
    assert hipcheck_upstream.calls == [("hipcheck/git/last_commit_date", LOCAL)]
    assert configured["default_policy_expr"] == "(lte $ P4w)"
    # A real process of the env's own interpreter, in an env built under the session's cache.
    assert hello["pid"] == plugin.pid
    assert _process_group_exists(plugin.pid)
    assert Path(hello["python"]["prefix"]) == plugin.env.path
    assert plugin.env.path.is_relative_to(hipcheck_cache_dir.resolve())


# -- PluginProcess -------------------------------------------------------------------------------


@pytest.mark.slow
def test_close_kills_the_plugins_process_group_and_stops_its_loop(hipcheck_cache_dir: Path) -> None:
    plugin = PluginProcess("hipcheck/activity", root=hipcheck_cache_dir)
    plugin.handshake()

    plugin.close()
    plugin.close()  # a second close does nothing

    assert not _process_group_exists(plugin.pid)
    assert [t for t in threading.enumerate() if t.name == "plugin-hipcheck/activity"] == []
    with pytest.raises(ValueError, match="closed"):
        plugin.handshake()


@pytest.mark.slow
def test_the_plugins_error_answers_are_raised_as_remote_errors(hipcheck_cache_dir: Path) -> None:
    with PluginProcess("hipcheck/activity", Upstream(), root=hipcheck_cache_dir) as plugin:
        plugin.handshake()
        with pytest.raises(RemoteError, match="'weeks' must be a positive") as refused:
            plugin.configure({"weeks": 0})
        plugin.configure({})
        with pytest.raises(RemoteError, match="no canned answer") as unanswered:
            plugin.query(None, TARGET)

    assert (refused.value.code, refused.value.data["key"]) == (protocol.CONFIG_ERROR, "weeks")
    assert unanswered.value.code == protocol.UPSTREAM_FAILED


@pytest.mark.slow
def test_a_test_failure_in_an_upstream_answer_is_raised_and_the_plugin_stays_in_step(
    hipcheck_cache_dir: Path,
) -> None:
    def broken(key: Any) -> Any:
        raise AssertionError(f"unexpected key {key!r}")

    upstream = Upstream({"hipcheck/git/last_commit_date": broken})

    with PluginProcess("hipcheck/activity", upstream, root=hipcheck_cache_dir) as plugin:
        plugin.handshake()
        plugin.configure({})
        with pytest.raises(AssertionError, match="unexpected key"):
            plugin.query(None, TARGET)
        upstream.answers["hipcheck/git/last_commit_date"] = "2999-01-01T00:00:00Z"

        assert plugin.query(None, TARGET)["value"] == "PT0s"  # a future commit: no time since


def test_an_identity_that_is_not_installed_names_the_installed_plugins() -> None:
    with pytest.raises(
        DiscoveryError, match=r"nobody/nothing is not installed \(.*hipcheck/activity"
    ):
        PluginProcess("nobody/nothing")


# -- loading ---------------------------------------------------------------------------------------


def test_loading_the_plugin_imports_none_of_hipchecks_own_modules() -> None:
    # Every pytest run in a project with hipcheck installed loads the plugin.
    code = (
        "import json, sys, hipcheck.pytest_plugin\n"
        "loaded = [m for m in sys.modules if m.startswith(('hipcheck', 'pydantic'))]\n"
        "print(json.dumps(sorted(loaded)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert json.loads(out.stdout) == ["hipcheck", "hipcheck.__about__", "hipcheck.pytest_plugin"]
