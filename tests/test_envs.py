"""Plugin envs: built once from pinned wheels, holding exactly those, reused afterwards."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from hipcheck._wheel import write_wheel
from hipcheck.artifacts import Artifact, collect_artifacts
from hipcheck.envs import MARKER, PluginEnv, cache_dir, ensure_env, env_dir, env_site_packages
from hipcheck.errors import EnvError

PLUGIN_FILES = {
    "demo_env_plugin/__init__.py": b"def main() -> None:\n    print('demo says hi')\n",
    "demo_env_plugin-1.0.dist-info/entry_points.txt": (
        b"[console_scripts]\ndemo-env-plugin = demo_env_plugin:main\n"
    ),
}
# Processes started while the flag is set, seen through audit events: an audit hook cannot be
# removed, so one is installed for the whole module and switched on where it matters.
_spawned: list[str] = []
_watching = threading.Event()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _watching.is_set() and event in {"subprocess.Popen", "os.posix_spawn", "os.exec", "os.fork"}:
        _spawned.append(event)


sys.addaudithook(_audit)


def run(python: Path, code: str) -> str:
    return subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True, cwd=python.parent
    ).stdout.strip()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Artifact, ...]:
    """demo-env-plugin (needing hipcheck, which the bridge provides), the bridge and pluggy."""
    root = tmp_path_factory.mktemp("plugin")
    wheel = write_wheel(
        root / "dist",
        name="demo-env-plugin",
        version="1.0",
        files=PLUGIN_FILES,
        requires=["hipcheck"],
    )
    environ = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "install", "--no-index", "--no-deps",
         "--target", str(root / "site"), str(wheel)],
        check=True, capture_output=True, env=environ,
    )  # fmt: skip
    dist = metadata.PathDistribution(root / "site" / "demo_env_plugin-1.0.dist-info")
    return tuple(collect_artifacts(dist, wheelhouse=root / "wheelhouse"))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def env(artifacts: tuple[Artifact, ...], root: Path) -> PluginEnv:
    return ensure_env("Demo Env Plugin", artifacts, root=root)


@pytest.fixture
def watch_spawns() -> Iterator[list[str]]:
    _spawned.clear()
    _watching.set()
    try:
        yield _spawned
    finally:
        _watching.clear()


def test_env_holds_exactly_the_artifacts(env: PluginEnv, artifacts: tuple[Artifact, ...]) -> None:
    assert env.created
    assert [a.name for a in artifacts] == ["demo-env-plugin", "hipcheck-bridge", "pluggy"]
    site = env_site_packages(env)
    installed = {p.name for p in site.iterdir()}
    assert {name for name in installed if name.endswith(".dist-info")} == {
        "demo_env_plugin-1.0.dist-info",
        f"hipcheck_bridge-{artifacts[1].version}.dist-info",
        f"pluggy-{artifacts[2].version}.dist-info",
    }
    for absent in ["pip", "setuptools", "wheel", "pydantic", "rich", "click", "hipcheck"]:
        assert absent not in installed
    marker = json.loads((env.path / MARKER).read_text())
    assert marker["key"] == env.key
    assert [a["sha256"] for a in marker["artifacts"]] == [a.sha256 for a in artifacts]


def test_env_survives_the_rename_into_place(env: PluginEnv) -> None:
    assert env.python == env.path / "bin" / "python"
    code = "import sys, demo_env_plugin, hipcheck_bridge, pluggy; print(sys.prefix)"
    assert run(env.python, code) == str(env.path)
    # Console scripts name the final interpreter, not the directory the env was built in.
    script = env.path / "bin" / "demo-env-plugin"
    assert script.read_text().splitlines()[0] == f"#!{env.python}"
    assert subprocess.run([script], check=True, capture_output=True, text=True).stdout == (
        "demo says hi\n"
    )
    assert [p.name for p in env.path.parent.iterdir() if p.name.startswith(".")] == []


def test_second_call_reuses_without_spawning(
    env: PluginEnv, artifacts: tuple[Artifact, ...], root: Path, watch_spawns: list[str]
) -> None:
    again = ensure_env("Demo Env Plugin", artifacts[::-1], root=root)
    assert watch_spawns == []
    assert again == dataclasses.replace(env, created=False)
    assert env_dir("Demo Env Plugin", artifacts, root=root) == env.path


def test_half_built_env_is_rebuilt(
    env: PluginEnv, artifacts: tuple[Artifact, ...], tmp_path: Path
) -> None:
    half = tmp_path / "envs" / env.path.name  # same key, so the same directory name
    (half / "bin").mkdir(parents=True)
    (half / "bin" / "python").write_text("left by a crashed build")
    (tmp_path / "envs" / f".{env.path.name}.tmp-crashed").mkdir()
    rebuilt = ensure_env("Demo Env Plugin", artifacts, root=tmp_path)
    assert rebuilt.created
    assert rebuilt.path == half
    assert run(rebuilt.python, "import sys; print(sys.prefix)") == str(half)
    assert {p.name for p in half.parent.iterdir()} == {half.name, f"{half.name}.lock"}


def test_concurrent_calls_build_once(artifacts: tuple[Artifact, ...], tmp_path: Path) -> None:
    results: list[PluginEnv] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(ensure_env("demo", artifacts, root=tmp_path))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result.created for result in results) == [False, True]
    assert results[0].path == results[1].path


def test_bad_hash_fails_naming_the_mismatch(
    artifacts: tuple[Artifact, ...], tmp_path: Path
) -> None:
    forged = dataclasses.replace(artifacts[0], sha256="0" * 64)
    with pytest.raises(EnvError) as caught:
        ensure_env("demo", [forged, *artifacts[1:]], root=tmp_path)
    message = str(caught.value)
    assert "DO NOT MATCH THE HASHES" in message
    assert "0" * 64 in message
    assert artifacts[0].sha256 in message
    assert [p.name for p in (tmp_path / "envs").iterdir() if not p.name.endswith(".lock")] == []


def test_inconsistent_set_fails_pip_check(artifacts: tuple[Artifact, ...], tmp_path: Path) -> None:
    wheel = write_wheel(
        tmp_path / "dist", name="demo-needy", version="1.0", files={}, requires=["demo-absent>=1"]
    )
    needy = Artifact("demo-needy", "1.0", wheel, hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(EnvError, match=r"pip check failed:\n.*demo-needy 1.0 requires demo-absent"):
        ensure_env("needy", [needy, *artifacts[1:]], root=tmp_path)


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HIPCHECK_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("HIPCHECK_CACHE_DIR")
    assert cache_dir() == platformdirs.user_cache_path("hipcheck")
