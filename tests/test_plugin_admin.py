"""Plugin administration for real: pip installs into a throwaway host venv, real plugin envs.

The "host" here is a fresh virtualenv without seed packages (no pip, no hipcheck, no system
site-packages): hipcheck's own pip works on it through ``pip --python``, and discovery reads
its site-packages. pip reads its settings from PIP_* variables only (the machine's config
files are switched off) and finds every wheel in a local find-links directory, with no index:
everything works offline and takes about a second per install.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from hipcheck import discovery
from hipcheck._wheel import write_wheel
from hipcheck.envs import MARKER, env_key, list_envs
from hipcheck.errors import ArtifactError, UsageError
from hipcheck.lock import LOCK_FILE, read_lock
from hipcheck.plugin_admin import (
    install,
    keys_in_use,
    lock_plugins,
    lock_policy,
    provision,
    prune,
    remove,
    verify,
)
from hipcheck.policy import parse

MANIFEST = b"""\
publisher = "demo"
name = "admin"
kind = "analysis"
entrypoint = "demo_admin_plugin"
"""


def plugin_wheel(dest: Path, version: str) -> Path:
    return write_wheel(
        dest,
        name="demo-admin-plugin",
        version=version,
        files={
            "demo_admin_plugin/__init__.py": f"VERSION = {version!r}\n".encode(),
            "demo_admin_plugin/hipcheck-plugin.toml": MANIFEST,
            f"demo_admin_plugin-{version}.dist-info/entry_points.txt": (
                b"[hipcheck.plugins]\nadmin = demo_admin_plugin\n"
            ),
        },
        requires=["demo-admin-dep>=1"],
    )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The plugin at 1.0 and 1.1, its dependency, and a wheel that is no plugin."""
    house = tmp_path_factory.mktemp("wheelhouse")
    return {
        "1.0": plugin_wheel(house, "1.0"),
        "1.1": plugin_wheel(house / "newer", "1.1"),
        "dep": write_wheel(
            house, name="demo-admin-dep", version="1.0", files={"demo_admin_dep.py": b"X = 1\n"}
        ),
        "plain": write_wheel(
            house, name="demo-not-a-plugin", version="1.0", files={"plain.py": b""}
        ),
    }


@pytest.fixture
def host(tmp_path: Path, wheels: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway host env (its interpreter), and pip set up to find `wheels` offline."""
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels["1.0"].parent))
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    subprocess.run(
        [sys.executable, "-m", "virtualenv", str(tmp_path / "host"), "--no-seed",
         "--no-download", "--no-periodic-update", "--activators", "", "--quiet"],
        check=True, capture_output=True, env={**os.environ, "VIRTUALENV_CONFIG_FILE": os.devnull},
    )  # fmt: skip
    return tmp_path / "host" / "bin" / "python"


def installed(host: Path) -> dict[str, str]:
    """Distribution name -> version, as the host's own interpreter sees them."""
    code = "import json, importlib.metadata as m; print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"  # noqa: E501
    out = subprocess.run([str(host), "-c", code], check=True, capture_output=True, text=True)
    found: dict[str, str] = json.loads(out.stdout)
    return found


def host_plugins(host: Path) -> dict[str, discovery.InstalledPlugin]:
    site = next((host.parent.parent / "lib").glob("python*/site-packages"))
    entry_points = [
        ep
        for dist in metadata.distributions(path=[str(site)])
        for ep in dist.entry_points
        if ep.group == discovery.ENTRY_POINT_GROUP
    ]
    return discovery.discover(entry_points).plugins


def test_install_checks_the_hash_installs_the_wheel_and_provisions_it(
    host: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    pin = f"sha256:{sha256_of(wheels['1.0'])}"
    result = install(str(wheels["1.0"]), hashes=[pin], python=host, root=tmp_path / "cache")
    assert (result.distribution, result.version) == ("demo-admin-plugin", "1.0")
    assert installed(host) == {"demo-admin-plugin": "1.0", "demo-admin-dep": "1.0"}
    env = result.envs["demo/admin"]
    # The env holds the very wheel whose hash was pinned, not a rebuild of it.
    own = next(a for a in env.artifacts if a.name == "demo-admin-plugin")
    assert own.sha256 == sha256_of(wheels["1.0"])
    assert own.source == f"wheel:{wheels['1.0']}"
    code = "import demo_admin_plugin, demo_admin_dep; print(demo_admin_plugin.VERSION)"
    out = subprocess.run([str(env.python), "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "1.0\n"


def test_install_refuses_a_wrong_hash_before_touching_the_host(
    host: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError) as caught:
        install(str(wheels["1.0"]), hashes=[f"sha256:{'0' * 64}"], python=host, root=tmp_path)
    assert f"expected sha256:{'0' * 64}, actual sha256:{sha256_of(wheels['1.0'])}" in str(
        caught.value
    )
    assert installed(host) == {}


def test_install_refuses_a_distribution_that_is_no_plugin(
    host: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError, match=r"is not a hipcheck plugin.*nothing was installed"):
        install(str(wheels["plain"]), python=host, root=tmp_path)
    assert installed(host) == {}


def test_install_takes_a_requirement_from_pips_configured_sources(
    host: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    result = install("demo-admin-plugin==1.0", python=host, root=tmp_path / "cache")
    assert result.artifact.sha256 == sha256_of(wheels["1.0"])
    assert result.artifact.source == "index:demo-admin-plugin==1.0"
    own = next(a for a in result.envs["demo/admin"].artifacts if a.name == "demo-admin-plugin")
    assert own.source == "index:demo-admin-plugin==1.0"


def test_install_replaces_the_same_version_installed_from_elsewhere(
    host: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    install(str(wheels["1.0"]), python=host, root=tmp_path / "a")
    result = install("demo-admin-plugin==1.0", python=host, root=tmp_path / "b")
    site = next((host.parent.parent / "lib").glob("python*/site-packages"))
    direct_url = json.loads((site / "demo_admin_plugin-1.0.dist-info/direct_url.json").read_text())
    assert direct_url["url"] == result.artifact.path.as_uri()


def test_remove_uninstalls_and_deletes_the_plugins_envs(
    host: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "cache"
    env = install(str(wheels["1.0"]), python=host, root=root).envs["demo/admin"]
    result = remove("demo/admin", python=host, root=root)
    assert (result.distribution, result.version, result.envs) == (
        "demo-admin-plugin",
        "1.0",
        [env.path],
    )
    assert installed(host) == {"demo-admin-dep": "1.0"}  # as with pip, dependencies stay
    assert not env.path.exists()
    with pytest.raises(UsageError, match=r"no installed plugin demo/admin; installed: none"):
        remove("demo/admin", python=host, root=root)


def test_prune_keeps_the_envs_in_use_and_deletes_the_rest(
    host: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "cache"
    old = install(str(wheels["1.0"]), python=host, root=root).envs["demo/admin"]
    new = install(str(wheels["1.1"]), python=host, root=root).envs["demo/admin"]
    crashed = root / "envs" / f".{old.path.name}.tmp-crashed"
    crashed.mkdir()
    assert prune({new.key}, root=root) == [old.path, crashed]
    assert [env.path for env in list_envs(root=root)] == [new.path]


def test_verify_reports_the_drift_of_every_env(
    host: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "cache"
    env = install(str(wheels["1.0"]), python=host, root=root).envs["demo/admin"]
    assert verify(root=root) == []
    module = next((env.path / "lib").glob("python*/site-packages/demo_admin_dep.py"))
    module.write_text("X = 2\n")
    assert [(d.env, d.path) for d in verify(root=root)] == [(env.path, module)]
    assert [(d.env, d.path) for d in verify(root=root, repair=True)] == [(env.path, module)]
    assert not env.path.exists()
    assert verify(root=root) == []


def test_the_lock_pins_every_artifact_and_provisioning_holds_to_it(
    host: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "cache"
    install(str(wheels["1.0"]), python=host, root=root)
    policy_file = tmp_path / "project" / "hipcheck.toml"
    policy_file.parent.mkdir()
    pol = parse('[plugins."demo/admin"]\n[analyze."demo/admin"]\n', source=str(policy_file))
    path = lock_policy(pol, host_plugins(host), root=root)
    assert path == policy_file.parent / LOCK_FILE
    lock = read_lock(path)
    assert [a.name for a in lock.plugins["demo/admin"].artifacts] == [
        "demo-admin-dep",
        "demo-admin-plugin",
        "hipcheck-bridge",
        "pluggy",
    ]
    plugin = host_plugins(host)["demo/admin"]
    env = provision(plugin, lock=lock, root=root)
    assert {a.sha256 for a in env.artifacts} == {
        a.sha256 for a in lock.plugins["demo/admin"].artifacts
    }
    assert keys_in_use(pol, host_plugins(host), root=root) == {env.key} == {env_key(env.artifacts)}

    # An upgrade the lock has not seen halts before anything of it is installed.
    install(str(wheels["1.1"]), python=host, root=tmp_path / "elsewhere")
    envs_before = sorted((root / "envs").iterdir())
    with pytest.raises(ArtifactError) as caught:
        provision(host_plugins(host)["demo/admin"], lock=lock, root=root)
    message = str(caught.value)
    assert "artifact demo-admin-plugin (demo_admin_plugin-1.1-py3-none-any.whl)" in message
    assert f"expected 1.0 sha256:{sha256_of(wheels['1.0'])}" in message
    assert f"actual 1.1 sha256:{sha256_of(wheels['1.1'])}" in message
    assert sorted((root / "envs").iterdir()) == envs_before


def test_locking_needs_every_plugin_installed(host: Path, tmp_path: Path) -> None:
    pol = parse('[plugins."demo/admin"]\n[analyze."demo/admin"]\n', source="hipcheck.toml")
    with pytest.raises(ArtifactError, match=r"cannot lock .*plugin demo/admin is not installed"):
        lock_plugins(pol, host_plugins(host), root=tmp_path)


def test_a_policy_pin_is_checked_when_provisioning(
    host: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    install(str(wheels["1.0"]), python=host, root=tmp_path)
    plugin = host_plugins(host)["demo/admin"]
    with pytest.raises(ArtifactError) as caught:
        provision(plugin, hashes=[f"sha256:{'0' * 64}"], root=tmp_path)
    assert str(caught.value) == (
        f"plugin demo/admin: artifact {wheels['1.0'].name} has sha256:{sha256_of(wheels['1.0'])}"
        f", but the policy pins sha256:{'0' * 64}"
    )
    assert json.loads(next((tmp_path / "envs").glob(f"*/{MARKER}")).read_text())["label"] == (
        "demo/admin"
    )  # the env install built is still there; nothing new was built
