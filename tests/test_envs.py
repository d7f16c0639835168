"""Plugin envs: built once from pinned wheels, holding exactly those, reused afterwards, and
rebuilt or reported when they no longer hold exactly those."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from filelock import FileLock

from hipcheck._wheel import write_wheel
from hipcheck.artifacts import Artifact, collect_artifacts
from hipcheck.envs import (
    FILES,
    MARKER,
    PluginEnv,
    cache_dir,
    delete_env,
    ensure_env,
    env_dir,
    env_key,
    env_site_packages,
    list_envs,
    verify_env,
)
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


# --- Integrity: the warm check, verify_env, and concurrent processes --------------------------


@pytest.fixture
def env_copy(env: PluginEnv, tmp_path: Path) -> PluginEnv:
    """A copy of the module's env under a root of its own, to tamper with.

    copytree keeps every file's and directory's modification time, so the copy is as
    unmodified as the original: under the same directory name, its key still matches.
    """
    path = tmp_path / "envs" / env.path.name
    shutil.copytree(env.path, path, symlinks=True)
    copy = dataclasses.replace(env, path=path, python=path / "bin" / "python")
    assert verify_env(copy) == []
    return copy


def site_of(env: PluginEnv) -> Path:
    return env_site_packages(env)


def test_a_fresh_env_verifies_clean(env: PluginEnv) -> None:
    assert verify_env(env) == []
    assert verify_env(env.path) == []
    assert (env.path / FILES).is_file()


def test_a_dropped_pth_file_is_found_and_the_env_rebuilt(
    env_copy: PluginEnv, artifacts: tuple[Artifact, ...], caplog: pytest.LogCaptureFixture
) -> None:
    evil = site_of(env_copy) / "zz-evil.pth"
    evil.write_text("import os; os.system('echo pwned')\n")
    assert [(d.path, d.problem) for d in verify_env(env_copy)] == [
        (evil, "not installed by any artifact")
    ]
    with caplog.at_level(logging.WARNING, logger="hipcheck.envs"):
        rebuilt = ensure_env("Demo Env Plugin", artifacts, root=env_copy.path.parent.parent)
    assert rebuilt.created
    assert not evil.exists()
    assert verify_env(rebuilt) == []
    assert "rebuilding the env of Demo Env Plugin" in caplog.text
    assert "changed after it was built" in caplog.text


def test_an_in_place_edit_is_found_by_verify(env_copy: PluginEnv) -> None:
    module = site_of(env_copy) / "demo_env_plugin" / "__init__.py"
    with module.open("a") as fh:  # same inode, same directory: only a re-hash can tell
        fh.write("import os\n")
    [drift] = verify_env(env_copy)
    assert drift.path == module
    assert drift.problem.startswith("modified: expected sha256=")


def test_a_deleted_file_is_missing_and_the_env_rebuilt(
    env_copy: PluginEnv, artifacts: tuple[Artifact, ...]
) -> None:
    module = site_of(env_copy) / "pluggy" / "_hooks.py"
    module.unlink()
    assert [(d.path, d.problem) for d in verify_env(env_copy)] == [(module, "missing")]
    rebuilt = ensure_env("Demo Env Plugin", artifacts, root=env_copy.path.parent.parent)
    assert rebuilt.created and module.is_file()


def test_a_rewritten_record_is_caught_too(env_copy: PluginEnv) -> None:
    module = site_of(env_copy) / "demo_env_plugin" / "__init__.py"
    [record] = site_of(env_copy).glob("demo_env_plugin-*.dist-info/RECORD")
    module.write_text("print('evil')\n")
    # The tamperer fixes RECORD to match, but RECORD's own hash was taken at build time.
    digest = base64.urlsafe_b64encode(hashlib.sha256(module.read_bytes()).digest())
    lines = [
        f"demo_env_plugin/__init__.py,sha256={digest.rstrip(b'=').decode()},14"
        if line.startswith("demo_env_plugin/__init__.py,")
        else line
        for line in record.read_text().splitlines()
    ]
    record.write_text("\n".join(lines) + "\n")
    assert [d.path for d in verify_env(env_copy)] == [record]


def test_a_changed_or_missing_wheel_is_reported(env_copy: PluginEnv, tmp_path: Path) -> None:
    marker_path = env_copy.path / MARKER
    marker = json.loads(marker_path.read_text())
    changed = tmp_path / "changed.whl"
    changed.write_bytes(Path(marker["artifacts"][0]["path"]).read_bytes() + b"\0")
    marker["artifacts"][0]["path"] = str(changed)
    marker["artifacts"][1]["path"] = str(tmp_path / "gone.whl")
    marker_path.write_text(json.dumps(marker))
    expected = marker["artifacts"][0]["sha256"]
    actual = hashlib.sha256(changed.read_bytes()).hexdigest()
    assert [(d.path, d.problem) for d in verify_env(env_copy)] == [
        (changed, f"expected sha256:{expected}, actual sha256:{actual}"),
        (tmp_path / "gone.whl", "missing from the wheelhouse"),
    ]


def test_an_env_without_a_marker_is_reported_and_listed(tmp_path: Path) -> None:
    half = tmp_path / "envs" / "demo-0123456789abcdef"
    (half / "bin").mkdir(parents=True)
    [listed] = list_envs(root=tmp_path)
    assert (listed.path, listed.key, listed.artifacts) == (half, "", ())
    assert [d.problem for d in verify_env(listed)] == [
        "missing or unreadable: the env was never completed"
    ]


def test_list_envs_reads_each_marker(env: PluginEnv, root: Path) -> None:
    [listed] = list_envs(root=root)
    assert (listed.path, listed.key, listed.label) == (env.path, env.key, "Demo Env Plugin")
    assert [(a.name, a.sha256) for a in listed.artifacts] == [
        (a.name, a.sha256) for a in env.artifacts
    ]


def test_an_env_from_before_directory_times_is_rebuilt(
    env_copy: PluginEnv, artifacts: tuple[Artifact, ...]
) -> None:
    marker = json.loads((env_copy.path / MARKER).read_text())
    del marker["directories"]
    (env_copy.path / MARKER).write_text(json.dumps(marker))
    assert ensure_env("Demo Env Plugin", artifacts, root=env_copy.path.parent.parent).created


def test_env_key_is_the_key_ensure_env_uses(
    env: PluginEnv, artifacts: tuple[Artifact, ...]
) -> None:
    assert env_key(artifacts[::-1]) == env.key


def test_delete_env_leaves_a_locked_env_alone(env_copy: PluginEnv) -> None:
    with FileLock(f"{env_copy.path}.lock"):
        assert delete_env(env_copy.path) is False
    assert env_copy.path.is_dir()
    assert delete_env(env_copy.path) is True
    assert not env_copy.path.exists()
    assert [p.name for p in env_copy.path.parent.iterdir()] == [f"{env_copy.path.name}.lock"]


# Run by each of the racing processes: wait for the starting gun, then provision.
RACER = """
import json, sys, time
from pathlib import Path
from hipcheck.artifacts import Artifact
from hipcheck.envs import ensure_env

gun, root, spec = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
artifacts = [Artifact(a["name"], a["version"], Path(a["path"]), a["sha256"]) for a in spec]
while not gun.exists():
    time.sleep(0.001)
env = ensure_env("demo", artifacts, root=root)
print(json.dumps({"path": str(env.path), "created": env.created}))
"""


def test_two_processes_provisioning_at_once_build_one_env_once(
    artifacts: tuple[Artifact, ...], tmp_path: Path
) -> None:
    gun = tmp_path / "go"
    spec = json.dumps(
        [{"name": a.name, "version": a.version, "path": str(a.path), "sha256": a.sha256}
         for a in artifacts]
    )  # fmt: skip
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(gun), str(tmp_path / "cache"), spec],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(0.5)  # both interpreters up and polling
    gun.touch()
    outcomes = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        outcomes.append(json.loads(out))
    assert sorted(o["created"] for o in outcomes) == [False, True]
    assert outcomes[0]["path"] == outcomes[1]["path"]
    envs = tmp_path / "cache" / "envs"
    name = Path(outcomes[0]["path"]).name
    assert sorted(p.name for p in envs.iterdir()) == [name, f"{name}.lock"]
    assert verify_env(envs / name) == []
