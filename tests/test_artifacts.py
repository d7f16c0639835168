"""What goes into a plugin's env (the plugin, its run-time closure, the bridge and pluggy), and
where the plugin's own wheel can come from: a wheel, a wheelhouse, a project, a URL, an index."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from hipcheck._wheel import normalize_wheel, write_wheel
from hipcheck.artifacts import ORIGIN_FILE, Artifact, collect_artifacts, fetch_artifact
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


# --- Where a plugin's own wheel can come from (a policy's `source`) --------------------------

# An in-tree PEP 517 backend that stamps the build time (here: a random date) into every zip
# entry, as real backends do, so two builds of the same files differ byte for byte.
BACKEND = """
import base64, hashlib, os, random, zipfile

def _b64(data):
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("src.py", "rb") as fh:  # PEP 517: hooks run in the project directory
        files = {"demo_built.py": fh.read()}
    info = "demo_built-1.0.dist-info"
    files[info + "/METADATA"] = b"Metadata-Version: 2.1\\nName: demo-built\\nVersion: 1.0\\n"
    files[info + "/WHEEL"] = (
        b"Wheel-Version: 1.0\\nGenerator: demo\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    )
    record = "".join(f"{n},sha256={_b64(c)},{len(c)}\\n" for n, c in files.items())
    files[info + "/RECORD"] = (record + info + "/RECORD,,\\n").encode()
    name = "demo_built-1.0-py3-none-any.whl"
    stamp = (1990 + random.randrange(30), 1 + random.randrange(12), 1, 0, 0, 0)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        for arcname, content in files.items():
            archive.writestr(zipfile.ZipInfo(arcname, stamp), content)
    return name
"""


def make_project(directory: Path, *, requires: list[str], backend: str = "demo_backend") -> Path:
    """A project whose build backend is `backend`, needing `requires` to build."""
    directory.mkdir(parents=True)
    path_line = 'backend-path = ["."]\n' if backend == "demo_backend" else ""
    (directory / "pyproject.toml").write_text(
        f"[build-system]\nrequires = {requires!r}\nbuild-backend = {backend!r}\n{path_line}"
    )
    (directory / "demo_backend.py").write_text(BACKEND)
    (directory / "src.py").write_text("VALUE = 1\n")
    return directory


@pytest.fixture
def pip_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """pip deaf to this machine's configuration, with its own cache; tests add PIP_* settings."""
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    monkeypatch.setenv("PIP_NO_INPUT", "1")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_wheel_file_is_kept_in_the_wheelhouse(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "dist", name="demo-file", version="1.0", files={})
    artifact = fetch_artifact(str(wheel), wheelhouse=tmp_path / "wh", name="demo-file")
    assert (artifact.name, artifact.version, artifact.sha256) == (
        "demo-file",
        "1.0",
        sha256_of(wheel),
    )
    assert artifact.path.is_relative_to(tmp_path / "wh")
    assert artifact.path.read_bytes() == wheel.read_bytes()
    assert artifact.source == f"wheel:{wheel}"


def test_a_wrong_hash_names_artifact_expected_and_actual(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "dist", name="demo-file", version="1.0", files={})
    with pytest.raises(ArtifactError) as caught:
        fetch_artifact(str(wheel), wheelhouse=tmp_path / "wh", hashes=[f"sha256:{'0' * 64}"])
    assert str(caught.value) == (
        f"source {wheel}: artifact demo_file-1.0-py3-none-any.whl does not match its pinned "
        f"hash: expected sha256:{'0' * 64}, actual sha256:{sha256_of(wheel)}"
    )


def test_a_wheelhouse_gives_the_wanted_version_or_the_highest(tmp_path: Path) -> None:
    house = tmp_path / "house"
    for version in ("1.0", "1.2", "1.10"):
        write_wheel(house, name="demo-house", version=version, files={})
    write_wheel(house, name="demo-other", version="9.0", files={})
    (house / "demo_house-2.0-cp27-cp27m-win32.whl").write_bytes(b"not for this interpreter")
    newest = fetch_artifact(str(house), wheelhouse=tmp_path / "wh", name="Demo_House")
    assert (newest.version, newest.source) == ("1.10", f"wheelhouse:{house}")
    pinned = fetch_artifact(
        str(house), wheelhouse=tmp_path / "wh", name="demo-house", version="1.2"
    )
    assert pinned.version == "1.2"
    with pytest.raises(ArtifactError, match=r"has no wheel of demo-house==3\.0 for this interp"):
        fetch_artifact(str(house), wheelhouse=tmp_path / "wh", name="demo-house", version="3.0")


def test_a_project_is_built_into_the_same_bytes_every_time(
    tmp_path: Path, pip_environ: None
) -> None:
    project = make_project(tmp_path / "proj", requires=[])
    first = fetch_artifact(str(project), wheelhouse=tmp_path / "wh", offline=True)
    second = fetch_artifact(str(project), wheelhouse=tmp_path / "wh", offline=True)
    assert (first.name, first.version, first.source) == ("demo-built", "1.0", f"project:{project}")
    assert second.sha256 == first.sha256
    with zipfile.ZipFile(first.path) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.read("demo_built.py") == b"VALUE = 1\n"


def test_a_project_at_a_known_version_is_built_once(tmp_path: Path, pip_environ: None) -> None:
    project = make_project(tmp_path / "proj", requires=[])
    built = fetch_artifact(str(project), wheelhouse=tmp_path / "wh", offline=True)
    # Gone from the project: a rebuild could not produce this file any more.
    (project / "src.py").write_text("VALUE = 2\n")
    again = fetch_artifact(str(project), wheelhouse=tmp_path / "wh", version="1.0", offline=True)
    assert again == built


def test_offline_a_project_whose_backend_is_missing_says_what_to_install(
    tmp_path: Path, pip_environ: None
) -> None:
    project = make_project(tmp_path / "proj", requires=["demo-absent-backend>=2"])
    with pytest.raises(ArtifactError) as caught:
        fetch_artifact(str(project), wheelhouse=tmp_path / "wh", offline=True)
    assert f"source {project}: building it needs demo-absent-backend>=2" in str(caught.value)
    assert "--offline" in str(caught.value)


def test_a_project_installed_from_its_directory_is_rebuilt_not_built(
    tmp_path: Path, pip_environ: None
) -> None:
    project = make_project(tmp_path / "proj", requires=[])
    pip("install", "--no-index", "--no-deps", "--target", str(tmp_path / "site"), str(project))
    dist = metadata.PathDistribution(tmp_path / "site" / "demo_built-1.0.dist-info")
    # A backend that cannot run proves nothing is built.
    (project / "demo_backend.py").write_text("raise SystemExit('do not build me')\n")
    artifacts = collect_artifacts(
        dist, wheelhouse=tmp_path / "wh", source=str(project), offline=True
    )
    own = next(a for a in artifacts if a.name == "demo-built")
    assert own.source == f"project:{project}"
    assert own.path.is_relative_to(tmp_path / "wh")


def test_a_source_at_another_version_than_installed_is_refused(tmp_path: Path) -> None:
    installed = write_wheel(tmp_path / "a", name="demo-src", version="1.0", files={})
    newer = write_wheel(tmp_path / "b", name="demo-src", version="1.1", files={})
    pip("install", "--no-index", "--no-deps", "--target", str(tmp_path / "site"), str(installed))
    dist = metadata.PathDistribution(tmp_path / "site" / "demo_src-1.0.dist-info")
    with pytest.raises(ArtifactError, match=r"gives demo-src 1\.1, but 1\.0 is installed"):
        collect_artifacts(dist, wheelhouse=tmp_path / "wh", source=str(newer))
    same = write_wheel(tmp_path / "c", name="demo-src", version="1.0", files={"x.py": b""})
    artifacts = collect_artifacts(
        dist, wheelhouse=tmp_path / "wh", source=str(same), hashes=[f"sha256:{sha256_of(same)}"]
    )
    assert next(a for a in artifacts if a.name == "demo-src").sha256 == sha256_of(same)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Path]]]:
    """A PEP 503 simple index on 127.0.0.1 serving demo-index 1.0 and 2.0, and a build backend
    package; its URL and wheels."""
    root = tmp_path_factory.mktemp("index")
    wheels = {
        "1.0": write_wheel(root / "files", name="demo-index", version="1.0", files={"i.py": b"1"}),
        "2.0": write_wheel(root / "files", name="demo-index", version="2.0", files={"i.py": b"2"}),
        "backend": write_wheel(
            root / "files",
            name="demo-index-backend",
            version="1.0",
            files={"demo_index_backend.py": BACKEND.encode()},
        ),
    }
    for name in ("demo-index", "demo-index-backend"):
        links = "".join(
            f'<a href="../../files/{w.name}#sha256={sha256_of(w)}">{w.name}</a>\n'
            for w in wheels.values()
            if w.name.startswith(name.replace("-", "_") + "-")
        )
        (root / "simple" / name).mkdir(parents=True)
        (root / "simple" / name / "index.html").write_text(f"<html><body>\n{links}</body></html>")
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple", wheels
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def with_index(
    index: tuple[str, dict[str, Path]], pip_environ: None, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Path]:
    # The index comes to pip through its own variable, as a user's configuration would.
    monkeypatch.setenv("PIP_INDEX_URL", index[0])
    return index[1]


def test_a_requirement_is_downloaded_from_the_configured_index_hash_checked(
    tmp_path: Path, with_index: dict[str, Path]
) -> None:
    pin = f"sha256:{sha256_of(with_index['1.0'])}"
    artifact = fetch_artifact("demo-index<2", wheelhouse=tmp_path / "wh", hashes=[pin])
    assert (artifact.name, artifact.version) == ("demo-index", "1.0")
    assert artifact.sha256 == sha256_of(with_index["1.0"])
    assert artifact.source == "index:demo-index<2"
    assert (artifact.path.parent / ORIGIN_FILE).read_text() == "index:demo-index<2\n"


def test_a_download_that_matches_no_pin_is_refused_by_pip(
    tmp_path: Path, with_index: dict[str, Path]
) -> None:
    with pytest.raises(ArtifactError) as caught:
        fetch_artifact("demo-index==2.0", wheelhouse=tmp_path / "wh", hashes=[f"sha256:{'0' * 64}"])
    message = str(caught.value)
    assert message.startswith("could not download demo-index==2.0: pip download failed:")
    assert "0" * 64 in message and sha256_of(with_index["2.0"]) in message
    assert not list((tmp_path / "wh").glob("demo-index-*"))


def test_offline_uses_what_is_cached_and_names_what_is_not(
    tmp_path: Path, with_index: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched = fetch_artifact("demo-index", wheelhouse=tmp_path / "wh", name="demo-index")
    assert fetched.version == "2.0"
    # Nothing listens here any more: an offline fetch must not even try.
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    again = fetch_artifact("demo-index", wheelhouse=tmp_path / "wh", offline=True)
    assert again == fetched
    with pytest.raises(ArtifactError) as caught:
        fetch_artifact("demo-index", wheelhouse=tmp_path / "wh", version="1.0", offline=True)
    assert str(caught.value) == (
        f"source demo-index: no wheel of demo-index==1.0 from it is in the cache "
        f"({tmp_path / 'wh'}), and --offline keeps pip from downloading one; run once without "
        "--offline"
    )


def test_a_known_version_from_the_index_is_not_downloaded_again(
    tmp_path: Path, with_index: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched = fetch_artifact("demo-index", wheelhouse=tmp_path / "wh", version="1.0")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    assert fetch_artifact("demo-index", wheelhouse=tmp_path / "wh", version="1.0") == fetched


def test_a_url_is_downloaded_with_pip(
    tmp_path: Path, index: tuple[str, dict[str, Path]], with_index: dict[str, Path]
) -> None:
    url = index[0].replace("/simple", f"/files/{with_index['1.0'].name}")
    artifact = fetch_artifact(url, wheelhouse=tmp_path / "wh", name="demo-index")
    assert (artifact.sha256, artifact.source) == (sha256_of(with_index["1.0"]), f"url:{url}")


def test_a_project_whose_backend_is_missing_is_built_isolated_from_the_index(
    tmp_path: Path, with_index: dict[str, Path]
) -> None:
    project = make_project(
        tmp_path / "proj", requires=["demo-index-backend"], backend="demo_index_backend"
    )
    artifact = fetch_artifact(str(project), wheelhouse=tmp_path / "wh")
    assert (artifact.name, artifact.source) == ("demo-built", f"project:{project}")


def test_normalizing_refuses_an_entry_that_fails_its_record(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "dist", name="demo-bad", version="1.0", files={"m.py": b"1"})
    forged = tmp_path / "forged" / wheel.name
    forged.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(forged, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, b"2" if info.filename == "m.py" else src.read(info))
    with pytest.raises(ArtifactError, match=r"installed file m\.py does not match its RECORD"):
        normalize_wheel(forged, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("./demo-1.0.tar.gz", "a source archive"),
        ("/src/demo.zip", "a source archive"),
        ("git+https://example.org/demo.git@v1", "a version-control URL"),
    ],
)
def test_sources_that_need_building_by_pip_are_refused(
    tmp_path: Path, source: str, what: str
) -> None:
    with pytest.raises(ArtifactError, match=rf"installs plugins from wheels, and this is {what}"):
        fetch_artifact(source, wheelhouse=tmp_path)
