"""Deterministic wheels: the bridge wheel, and wheels rebuilt from installed distributions."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
import virtualenv
from packaging.tags import parse_tag
from packaging.utils import parse_wheel_filename

from hipcheck import __version__
from hipcheck._wheel import bridge_wheel, wheel_from_installed
from hipcheck.errors import ArtifactError

DIST_INFO = "tiny_plug-1.0.dist-info"
PACKAGE_FILES = {
    "tiny_plug/__init__.py": b"VALUE = 42\n",
    "tiny_plug/data/table.txt": b"a b c\n",
    "tiny_plug/tool.sh": b"#!/bin/sh\necho tool\n",
    f"{DIST_INFO}/METADATA": b"Metadata-Version: 2.1\nName: Tiny.Plug\nVersion: 1.0\n",
    f"{DIST_INFO}/WHEEL": (
        b"Wheel-Version: 1.0\nGenerator: handmade\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    ),
    f"{DIST_INFO}/entry_points.txt": (
        b"[console_scripts]\ntiny-plug = tiny_plug:main\n\n[hipcheck.plugins]\ntiny = tiny_plug\n"
    ),
    f"{DIST_INFO}/licenses/LICENSE": b"Public domain\n",
}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_hash(content: bytes) -> str:
    return (
        "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    )


def pip(*args: str) -> None:
    """The host's pip, deaf to this machine's pip configuration (find-links, constraints)."""
    environ = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    command = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", *args]
    subprocess.run(command, check=True, capture_output=True, env=environ)


def handmade_wheel(dest: Path) -> Path:
    """Tiny.Plug 1.0, written with zipfile alone so it owes nothing to the code under test."""
    dest.mkdir(parents=True, exist_ok=True)
    record = "".join(f"{n},{record_hash(c)},{len(c)}\n" for n, c in PACKAGE_FILES.items())
    path = dest / "tiny_plug-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in PACKAGE_FILES.items():
            info = zipfile.ZipInfo(name)
            mode = 0o755 if name.endswith(".sh") else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, content)
        archive.writestr(f"{DIST_INFO}/RECORD", record + f"{DIST_INFO}/RECORD,,\n")
    return path


def install_target(site: Path, *wheels: Path) -> None:
    pip("install", "--no-index", "--no-deps", "--target", str(site), *map(str, wheels))


def wheel_contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site directory holding Tiny.Plug as pip installed it (bytecode included)."""
    root = tmp_path_factory.mktemp("installed")
    wheel = handmade_wheel(root / "dist")
    install_target(root / "site", wheel)
    wheel.unlink()  # as after `pip install <checkout>`: no wheel left anywhere
    return root / "site"


@pytest.fixture
def site_copy(installed: Path, tmp_path: Path) -> Path:
    """A private copy of the installed site, for tests that tamper with it."""
    copy = tmp_path / "site"
    subprocess.run(["cp", "-a", str(installed), str(copy)], check=True)
    return copy


def test_bridge_wheel_holds_only_the_bridge(tmp_path: Path) -> None:
    wheel = bridge_wheel(tmp_path)
    assert wheel.name == f"hipcheck_bridge-{__version__}-py3-none-any.whl"
    contents = wheel_contents(wheel)
    dist_info = f"hipcheck_bridge-{__version__}.dist-info"
    assert "hipcheck_bridge/__init__.py" in contents
    assert all(name.split("/")[0] in {"hipcheck_bridge", dist_info} for name in contents)
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in contents)
    meta = Parser().parsestr(contents[f"{dist_info}/METADATA"].decode())
    assert meta["Name"] == "hipcheck-bridge"
    assert meta["Version"] == __version__
    assert meta.get_all("Requires-Dist") == ["pluggy>=1.5"]


def test_bridge_wheel_is_byte_identical_across_builds(tmp_path: Path) -> None:
    first = bridge_wheel(tmp_path / "one")
    second = bridge_wheel(tmp_path / "two")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_bridge_wheel_installs_with_hashes_and_imports(tmp_path: Path) -> None:
    wheels = [
        bridge_wheel(tmp_path),
        wheel_from_installed(metadata.distribution("pluggy"), tmp_path),
    ]
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "".join(
            f"{parse_wheel_filename(w.name)[0]} @ {w.as_uri()} --hash=sha256:{sha256_file(w)}\n"
            for w in wheels
        )
    )
    venv = virtualenv.cli_run(
        [str(tmp_path / "venv"), "--no-seed", "--no-download", "--activators", "",
         "--app-data", str(tmp_path / "app-data")],
        setup_logging=False,
    )  # fmt: skip
    python = str(venv.creator.exe)
    pip("--python", python, "install", "--require-hashes", "--no-index", "-r", str(requirements))
    out = subprocess.run(
        [python, "-c", "import hipcheck_bridge, pluggy; print(hipcheck_bridge.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout, whose hipcheck_bridge would shadow the installed one
    ).stdout
    assert out.startswith(str(tmp_path / "venv"))


def test_rebuilt_wheel_round_trips(installed: Path, tmp_path: Path) -> None:
    dist = metadata.PathDistribution(installed / DIST_INFO)
    wheel = wheel_from_installed(dist, tmp_path / "one")
    assert wheel.name == "tiny_plug-1.0-py3-none-any.whl"
    contents = wheel_contents(wheel)
    record = contents.pop(f"{DIST_INFO}/RECORD").decode()
    assert contents == PACKAGE_FILES  # no bytecode, INSTALLER, REQUESTED or direct_url.json
    assert record.splitlines()[-1] == f"{DIST_INFO}/RECORD,,"
    with zipfile.ZipFile(wheel) as archive:
        modes = {info.filename: info.external_attr >> 16 & 0o777 for info in archive.infolist()}
    assert os.access(installed / "tiny_plug" / "tool.sh", os.X_OK)
    assert modes["tiny_plug/tool.sh"] == 0o755
    assert modes["tiny_plug/__init__.py"] == 0o644
    # Same installed files, same bytes; and the rebuilt wheel installs like the original.
    assert wheel_from_installed(dist, tmp_path / "two").read_bytes() == wheel.read_bytes()
    install_target(tmp_path / "again", wheel)
    assert (tmp_path / "again" / "tiny_plug" / "data" / "table.txt").read_bytes() == b"a b c\n"


def test_rebuilt_wheel_keeps_compiled_tags(tmp_path: Path) -> None:
    dist = metadata.distribution("pydantic_core")  # a compiled dependency of the host
    wheel = wheel_from_installed(dist, tmp_path)
    _, _, _, tags = parse_wheel_filename(wheel.name)
    declared = Parser().parsestr(dist.read_text("WHEEL") or "").get_all("Tag") or []
    assert tags == {tag for text in declared for tag in parse_tag(text)}


def test_tampered_file_is_refused(site_copy: Path, tmp_path: Path) -> None:
    target = site_copy / "tiny_plug" / "__init__.py"
    target.write_bytes(b"VALUE = 'owned'\n")
    dist = metadata.PathDistribution(site_copy / DIST_INFO)
    with pytest.raises(ArtifactError) as caught:
        wheel_from_installed(dist, tmp_path / "out")
    message = str(caught.value)
    assert "Tiny.Plug 1.0" in message
    assert "tiny_plug/__init__.py" in message
    assert record_hash(PACKAGE_FILES["tiny_plug/__init__.py"]) in message
    assert record_hash(b"VALUE = 'owned'\n") in message
    assert list((tmp_path / "out").iterdir()) == []  # no partial wheel left behind


def test_missing_file_is_refused(site_copy: Path, tmp_path: Path) -> None:
    (site_copy / "tiny_plug" / "data" / "table.txt").unlink()
    dist = metadata.PathDistribution(site_copy / DIST_INFO)
    with pytest.raises(ArtifactError, match=r"tiny_plug/data/table\.txt is missing"):
        wheel_from_installed(dist, tmp_path)


def test_editable_install_is_refused(site_copy: Path, tmp_path: Path) -> None:
    direct_url = {"url": "file:///src/tiny-plug", "dir_info": {"editable": True}}
    (site_copy / DIST_INFO / "direct_url.json").write_text(json.dumps(direct_url))
    dist = metadata.PathDistribution(site_copy / DIST_INFO)
    with pytest.raises(ArtifactError, match="editable mode from file:///src/tiny-plug"):
        wheel_from_installed(dist, tmp_path)
