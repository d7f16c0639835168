"""What goes into a plugin's env: the plugin, its run-time closure, the bridge and pluggy."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from hipcheck._wheel import write_wheel
from hipcheck.artifacts import Artifact, collect_artifacts
from hipcheck.errors import ArtifactError, HipcheckError

# name -> Requires-Dist. Installed beside the plugin: everything but demo-absent; demo-dep-b and
# demo-dep-c are installed but wanted only under a marker that is false here.
DISTS: dict[str, list[str]] = {
    "demo-plugin": [
        "demo-dep-a>=1",
        "hipcheck>=0.1",
        "hipcheck-bridge",
        "demo-dep-b; python_version < '3'",
        "demo-dep-c; extra == 'docs'",
    ],
    "demo-dep-a": ["Demo_Dep.D[fast]"],
    "demo-dep-b": [],
    "demo-dep-c": [],
    "demo-dep-d": ["demo-dep-e; extra == 'fast'", "demo-dep-f; extra == 'slow'"],
    "demo-dep-e": [],
    "demo-dep-f": [],
    "demo-missing-dep": ["demo-absent"],
    "demo-too-old": ["demo-dep-a>=2"],
}


def pip(*args: str) -> None:
    """The host's pip, deaf to this machine's pip configuration (find-links, constraints)."""
    environ = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    command = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", *args]
    subprocess.run(command, check=True, capture_output=True, env=environ)


def dist_info(site: Path, name: str) -> metadata.Distribution:
    return metadata.PathDistribution(site / f"{name.replace('-', '_')}-1.0.dist-info")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DISTS installed with pip from wheels that are then deleted, as from checkouts."""
    root = tmp_path_factory.mktemp("artifacts")
    wheels = [
        write_wheel(
            root / "dist",
            name=name,
            version="1.0",
            files={f"{name.replace('-', '_')}/__init__.py": f"NAME = {name!r}\n".encode()},
            requires=requires,
        )
        for name, requires in DISTS.items()
    ]
    pip("install", "--no-index", "--no-deps", "--target", str(root / "site"), *map(str, wheels))
    shutil.rmtree(root / "dist")
    return root / "site"


def names(artifacts: list[Artifact]) -> list[str]:
    return [artifact.name for artifact in artifacts]


def test_closure_is_transitive_and_skips_hipcheck(site: Path, tmp_path: Path) -> None:
    artifacts = collect_artifacts(dist_info(site, "demo-plugin"), wheelhouse=tmp_path)
    # demo-dep-d comes in through demo-dep-a with extra "fast", which brings demo-dep-e.
    assert names(artifacts) == [
        "demo-dep-a",
        "demo-dep-d",
        "demo-dep-e",
        "demo-plugin",
        "hipcheck-bridge",
        "pluggy",
    ]
    pluggy = next(a for a in artifacts if a.name == "pluggy")
    assert pluggy.version == metadata.version("pluggy")  # the host's own pluggy
    for artifact in artifacts:
        assert artifact.path.is_file()
        assert hashlib.sha256(artifact.path.read_bytes()).hexdigest() == artifact.sha256
        assert canonicalize_name(artifact.path.name.split("-")[0]) == artifact.name


def test_missing_requirement_names_plugin_and_requirement(site: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as caught:
        collect_artifacts(dist_info(site, "demo-missing-dep"), wheelhouse=tmp_path)
    assert isinstance(caught.value, HipcheckError)
    assert "demo-missing-dep 1.0" in str(caught.value)
    assert "demo-absent" in str(caught.value)


def test_excluded_installed_version_is_an_error(site: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"demo-dep-a>=2.*but 1\.0 is installed"):
        collect_artifacts(dist_info(site, "demo-too-old"), wheelhouse=tmp_path)


def test_wheelhouse_is_reused(site: Path, tmp_path: Path) -> None:
    first = collect_artifacts(dist_info(site, "demo-plugin"), wheelhouse=tmp_path)
    stored = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*.whl")}
    second = collect_artifacts(dist_info(site, "demo-plugin"), wheelhouse=tmp_path)
    assert second == first
    assert {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*.whl")} == stored
    assert len(stored) == len(first)


def test_wheel_installed_from_a_local_file_is_used_as_is(tmp_path: Path) -> None:
    kept = write_wheel(
        tmp_path / "kept", name="demo-kept", version="2.0", files={"demo_kept.py": b"X = 1\n"}
    )
    pip("install", "--no-index", "--no-deps", "--target", str(tmp_path / "site"), str(kept))
    dist = metadata.PathDistribution(tmp_path / "site" / "demo_kept-2.0.dist-info")
    artifacts = collect_artifacts(dist, wheelhouse=tmp_path / "wheelhouse")
    assert next(a for a in artifacts if a.name == "demo-kept").path == kept
    # Changed since it was installed: no longer the file pip recorded, so rebuilt instead.
    kept.write_bytes(kept.read_bytes() + b"\0")
    artifacts = collect_artifacts(dist, wheelhouse=tmp_path / "wheelhouse")
    rebuilt = next(a for a in artifacts if a.name == "demo-kept").path
    assert rebuilt.is_relative_to(tmp_path / "wheelhouse")
