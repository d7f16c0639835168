"""One virtualenv per plugin, content-addressed, under the user's cache directory.

An env's directory name ends in a key computed from its artifacts' hashes and the interpreter, so
an env is built once and then reused by every run that needs the same artifacts. It is built in a
temporary sibling directory (a venv without pip, filled by the host's pip in hash-checking mode
from local wheels only), marked complete by `hipcheck-env.json`, written last, and renamed into
place, so a reader never sees a half-built env under the final name.

Integrity, in two depths. Every run checks the marker and the modification times of the env's
directories, recorded in the marker at build time: adding, removing, renaming or replacing a
file anywhere in the env (a dropped ``.pth`` file, a reinstall, most editors' saves) changes
one, and the env is rebuilt. That costs one ``stat`` per directory, so the warm path stays well
under a millisecond. :func:`verify_env` (``hipcheck plugin verify``) goes all the way: it
re-hashes every file against the RECORD of the distribution that installed it, or against
`hipcheck-env-files.json` for the files no RECORD vouches for (bytecode, the venv's own files,
scripts rewritten for the final path), reports any file nobody accounts for, and re-hashes the
wheels the env was built from.
"""

from __future__ import annotations

import base64
import compileall
import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import util
from pathlib import Path
from typing import Any

import platformdirs
from filelock import FileLock, Timeout
from packaging.utils import canonicalize_name

from hipcheck import __version__
from hipcheck._wheel import BRIDGE_NAME
from hipcheck.artifacts import Artifact, pip_output
from hipcheck.errors import EnvError

__all__ = [
    "FILES",
    "MARKER",
    "Drift",
    "EnvError",
    "PluginEnv",
    "cache_dir",
    "delete_env",
    "ensure_env",
    "env_dir",
    "env_key",
    "env_site_packages",
    "list_envs",
    "verify_env",
]

log = logging.getLogger(__name__)

MARKER = "hipcheck-env.json"
#: The hashes of the env's files that no RECORD vouches for; written just before the marker.
FILES = "hipcheck-env-files.json"
# What the bridge speaks to the host; hipcheck's version until the protocol is versioned apart.
_PROTOCOL = __version__
# How `pip check` reports a missing or mismatched requirement, capturing the requirement's name.
_REQUIREMENT_COMPLAINT = re.compile(r"^\S+ \S+ (?:requires|has requirement) ([A-Za-z0-9._-]+)")


def cache_dir() -> Path:
    """hipcheck's cache directory: `$HIPCHECK_CACHE_DIR`, else the platform's user cache dir."""
    override = os.environ.get("HIPCHECK_CACHE_DIR")
    return Path(override).expanduser() if override else platformdirs.user_cache_path("hipcheck")


@dataclass(frozen=True)
class PluginEnv:
    """A complete plugin env: run plugins with `python -m hipcheck_bridge`."""

    path: Path
    python: Path
    key: str
    artifacts: tuple[Artifact, ...]
    created: bool  # built by the call that returned it
    label: str = ""  # what it was built for, e.g. the plugin's identity


@dataclass(frozen=True)
class Drift:
    """A difference between a plugin env and what it was built from."""

    env: Path
    path: Path  # the file (or env, wheel) that differs
    problem: str  # what differs, e.g. "modified: expected sha256=..., actual sha256=..."

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def env_site_packages(env: PluginEnv) -> Path:
    """The site-packages directory of `env` (whose interpreter is the host's)."""
    return _site_packages(env.path)


def _site_packages(directory: Path) -> Path:
    scheme = "nt" if os.name == "nt" else "posix_prefix"
    base = str(directory)
    return Path(sysconfig.get_path("purelib", scheme, vars={"base": base, "platbase": base}))


def env_dir(label: str, artifacts: Sequence[Artifact], *, root: Path | None = None) -> Path:
    """Where the env of `artifacts` lives (or would), under `root` (default: cache_dir())."""
    return _locate(label, artifacts, root)[0]


def env_key(artifacts: Sequence[Artifact]) -> str:
    """The key of the env holding `artifacts` for this interpreter (what `PluginEnv.key` is)."""
    triples = [[a.name, a.version, a.sha256] for a in artifacts]
    return _key(triples, _interpreter(), _PROTOCOL)


def ensure_env(label: str, artifacts: Sequence[Artifact], *, root: Path | None = None) -> PluginEnv:
    """The env holding exactly `artifacts`, built under `root` (default: cache_dir()) if missing.

    A complete, unmodified env is reused without starting any process. Otherwise, under a file
    lock so that concurrent runs (threads or processes) build it once, any half-built or
    modified copy is removed and the env is built afresh; a modified one is logged as a
    warning. `label` (for example the plugin's name) only makes the directory name readable.
    Raises EnvError if virtualenv or pip fails, quoting pip's last lines of output.
    """
    path, key = _locate(label, artifacts, root)
    ordered = tuple(sorted(artifacts, key=lambda a: (a.name, a.version, a.sha256)))
    env = PluginEnv(path, _env_python(path), key, ordered, created=False, label=label)
    if _problem(env) is None:
        return env
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
        problem = _problem(env)
        if problem is None:  # another process built it while this one waited for the lock
            return env
        if problem != _ABSENT:
            log.warning("rebuilding the env of %s at %s: %s", label, path, problem)
        # Holding the lock, nothing else uses an incomplete copy or a leftover build directory.
        for leftover in [path, *path.parent.glob(f".{path.name}.tmp-*")]:
            shutil.rmtree(leftover, ignore_errors=True)
        # virtualenv's own cache (interpreter facts) kept in <root>, not in the user's home.
        _build(env, label, app_data=path.parent.parent / "virtualenv")
    return dataclasses.replace(env, created=True)


def list_envs(*, root: Path | None = None) -> list[PluginEnv]:
    """Every env directory under `root` (default: cache_dir()), by name.

    An env whose marker is missing or unreadable (a build that crashed) is listed with key ""
    and no artifacts; build directories in progress are not listed.
    """
    envs_dir = (root if root is not None else cache_dir()).resolve() / "envs"
    if not envs_dir.is_dir():
        return []
    found = []
    for path in sorted(envs_dir.iterdir()):
        if path.name.startswith(".") or not path.is_dir():
            continue
        marker = _read_marker(path) or {}
        artifacts = _marker_artifacts(marker) or ()
        key, label = str(marker.get("key", "")), str(marker.get("label", ""))
        found.append(PluginEnv(path, _env_python(path), key, artifacts, False, label))
    return found


def delete_env(path: Path, *, wait: bool = False) -> bool:
    """Delete the env (or leftover build directory) at `path`; False if it is being built.

    Under the env's lock, so a concurrent build is never cut short: without `wait`, a locked
    env is left alone. The directory is first renamed out of its final name, so a reader never
    sees a half-deleted env there. The lock file stays: deleting it could let two processes
    hold "the" lock at once.
    """
    final = path.parent / path.name.removeprefix(".").split(".tmp-")[0]
    try:
        with FileLock(f"{final}.lock", timeout=-1 if wait else 0):
            if not path.exists():
                return True
            doomed = path.parent / f".{final.name}.tmp-deleting"
            shutil.rmtree(doomed, ignore_errors=True)
            os.rename(path, doomed)
            shutil.rmtree(doomed)
    except Timeout:
        return False
    return True


def verify_env(env: PluginEnv | Path) -> list[Drift]:
    """Every way the env at `env` differs from what it was built from; empty if none.

    Re-hashes each file of the env against the RECORD of the distribution that installed it,
    or against `FILES` for the files no RECORD covers, and reports missing files and files
    nobody accounts for (a dropped ``.pth`` file, say); re-hashes each wheel the marker lists
    against its recorded sha256; and checks that the marker's key still matches its artifacts.
    Reads every file of the env: use it for ``hipcheck plugin verify``, not on every run.
    """
    path = env.path if isinstance(env, PluginEnv) else env
    marker = _read_marker(path)
    if marker is None:
        return [Drift(path, path / MARKER, "missing or unreadable: the env was never completed")]
    artifacts = _marker_artifacts(marker)
    if artifacts is None:
        return [Drift(path, path / MARKER, "its list of artifacts is malformed")]
    drifts = []
    triples = [[a.name, a.version, a.sha256] for a in artifacts]
    if marker.get("key") != _key(triples, marker.get("interpreter"), marker.get("protocol")):
        drifts.append(Drift(path, path / MARKER, "its key does not match the artifacts it lists"))
    for artifact in artifacts:
        if not artifact.path.is_file():
            drifts.append(Drift(path, artifact.path, "missing from the wheelhouse"))
        elif (actual := _file_sha256(artifact.path)) != artifact.sha256:
            problem = f"expected sha256:{artifact.sha256}, actual sha256:{actual}"
            drifts.append(Drift(path, artifact.path, problem))
    try:
        recorded = json.loads((path / FILES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if not isinstance(recorded, dict):
        drifts.append(Drift(path, path / FILES, "missing or unreadable"))
        recorded = {}
    expected = {**_record_hashes(path), **recorded}
    present = dict(_files(path))
    for relative, fingerprint in sorted(present.items()):
        want = expected.get(relative)
        if want is None:
            drifts.append(Drift(path, path / relative, "not installed by any artifact"))
        elif not _matches(path / relative, fingerprint, want):
            drifts.append(Drift(path, path / relative, f"modified: expected {want}"))
    for relative in sorted(expected.keys() - present.keys()):
        drifts.append(Drift(path, path / relative, "missing"))
    return drifts


def _locate(label: str, artifacts: Sequence[Artifact], root: Path | None) -> tuple[Path, str]:
    """The env's directory, `<root>/envs/<label slug>-<key prefix>`, and its key."""
    key = env_key(artifacts)
    base = (root if root is not None else cache_dir()).resolve()
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40] or "plugin"
    return base / "envs" / f"{slug}-{key[:16]}", key


def _env_python(directory: Path) -> Path:
    if os.name == "nt":
        return directory / "Scripts" / "python.exe"
    return directory / "bin" / "python"


def _interpreter() -> dict[str, str]:
    # base_prefix tells apart two installs of one Python version: an env stops working when the
    # installation it was created from goes away.
    return {
        "implementation": sys.implementation.name,
        "version": platform.python_version(),
        "platform": sysconfig.get_platform(),
        "base_prefix": sys.base_prefix,
    }


def _key(triples: object, interpreter: object, protocol: object) -> str:
    payload = {
        "artifacts": sorted(triples) if isinstance(triples, list) else triples,
        "interpreter": interpreter,
        "protocol": protocol,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# What _problem says when there is simply no env yet: not worth a warning.
_ABSENT = "not built"


def _problem(env: PluginEnv) -> str | None:
    """Why `env` cannot be used as it is, or None; file reads and stats only, no process.

    This is the warm path of every run, so it only compares the marker's key and the
    modification times of the env's directories with those recorded at build time.
    """
    marker = _read_marker(env.path)
    if marker is None:
        return _ABSENT if not env.path.exists() else "it was never completed"
    if marker.get("key") != env.key or not env.python.exists():
        return "its marker belongs to other artifacts"
    directories = marker.get("directories")
    if not isinstance(directories, dict):
        return "it was built by a hipcheck that recorded no directory times"
    base = str(env.path)
    for relative, mtime in directories.items():
        try:
            if os.stat(os.path.join(base, relative)).st_mtime_ns != mtime:
                return f"files in {relative or '.'} changed after it was built"
        except OSError:
            return f"{relative} is missing"
    return None


def _marker_artifacts(marker: dict[str, Any]) -> tuple[Artifact, ...] | None:
    """The artifacts a marker lists, or None if the list is malformed."""
    try:
        return tuple(
            Artifact(a["name"], a["version"], Path(a["path"]), a["sha256"], a.get("source", ""))
            for a in marker.get("artifacts", [])
        )
    except (KeyError, TypeError, AttributeError):
        return None


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _build(env: PluginEnv, label: str, *, app_data: Path) -> None:
    if util.find_spec("pip") is None:
        raise EnvError(
            "hipcheck installs plugin envs with pip, which is missing from its own environment "
            f"({sys.prefix}); add it with: {sys.executable} -m ensurepip"
        )
    building = Path(tempfile.mkdtemp(prefix=f".{env.path.name}.tmp-", dir=env.path.parent))
    try:
        _create_venv(building, app_data)
        python = _env_python(building)
        with tempfile.TemporaryDirectory() as scratch:
            requirements = Path(scratch) / "requirements.txt"
            requirements.write_text(
                "".join(
                    f"{a.name} @ {a.path.resolve().as_uri()} --hash=sha256:{a.sha256}\n"
                    for a in env.artifacts
                ),
                encoding="utf-8",
            )
            # Every wheel is given, pinned, so no dependency resolution and no index. pip's own
            # bytecode would record this temporary directory's paths; _compile does it right.
            installed = _pip(
                python,
                ["install", "--require-hashes", "--no-deps", "--no-index", "--only-binary",
                 ":all:", "--no-cache-dir", "--no-compile", "-r", str(requirements)],
            )  # fmt: skip
        if installed.returncode != 0:
            raise EnvError(_pip_failure(label, "install", installed))
        _pip_check(label, python)
        _point_scripts_at(building, env.path)
        _compile(building, env.path)
        (building / FILES).write_text(json.dumps(_unrecorded(building), indent=1), encoding="utf-8")
        marker = {
            "key": env.key,
            "label": label,
            "protocol": _PROTOCOL,
            "interpreter": _interpreter(),
            "artifacts": [
                {
                    "name": a.name,
                    "version": a.version,
                    "sha256": a.sha256,
                    "path": str(a.path),
                    "source": a.source,
                }
                for a in env.artifacts
            ],
            "created_at": datetime.now(timezone.utc).isoformat(),
            # Last: writing FILES (above) and the marker (below) changes only the top
            # directory's time, which is not recorded; the rename does not change any of these.
            "directories": _directory_times(building),
        }
        (building / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        os.rename(building, env.path)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def _compile(building: Path, final: Path) -> None:
    """Write bytecode for everything installed, naming the files by their final paths.

    Plugins run with ``-B`` so they never write into their env; without this they would compile
    every module from source at every start.
    """
    site = _site_packages(building)
    compileall.compile_dir(site, ddir=str(final / site.relative_to(building)), quiet=2, workers=1)


def _create_venv(dest: Path, app_data: Path) -> None:
    """An empty venv: no pip, setuptools or activation scripts, and no download attempts."""
    # The user's virtualenv configuration (a config file, VIRTUALENV_* variables) could, for
    # instance, turn on system site-packages and let host packages leak into the plugin env.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUALENV_")}
    environ["VIRTUALENV_CONFIG_FILE"] = os.devnull
    args = [
        str(dest), "--no-seed", "--no-download", "--no-periodic-update", "--activators", "",
        "--no-vcs-ignore", "--python", sys.executable, "--app-data", str(app_data), "--quiet",
    ]  # fmt: skip
    # A child process, not virtualenv.cli_run: virtualenv touches process-wide state (logging,
    # warnings, distutils on 3.10) that has no business changing in the host, least of all
    # while other plugins' envs are being built in other threads.
    result = subprocess.run(
        [sys.executable, "-m", "virtualenv", *args],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise EnvError(f"could not create a virtualenv at {dest}: {' | '.join(tail)}")


def _pip(python: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the host's pip against the env interpreter `python`."""
    # Only local, pinned wheels are installed, so the user's pip configuration (an index, a
    # private mirror, find-links, constraints) has nothing to contribute and could only make
    # the install depend on more than its artifacts: --isolated drops PIP_* variables and the
    # user's config file, PIP_CONFIG_FILE=os.devnull the global and site ones.
    command = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check",
               "--python", str(python), *args]  # fmt: skip
    environ = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    return subprocess.run(command, capture_output=True, text=True, env=environ, check=False)


def _pip_check(label: str, python: Path) -> None:
    """Fail if the installed set is inconsistent (a requirement missing, at a wrong version).

    Complaints about a plugin's requirement on hipcheck itself are expected and ignored: the
    bridge stands in for it (see hipcheck.artifacts).
    """
    result = _pip(python, ["check"])
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    only_bridge = bool(lines) and all(
        (match := _REQUIREMENT_COMPLAINT.match(line))
        and canonicalize_name(match.group(1)) in {"hipcheck", BRIDGE_NAME}
        for line in lines
    )
    if result.returncode != 0 and not only_bridge:
        raise EnvError(_pip_failure(label, "check", result))


def _pip_failure(label: str, step: str, result: subprocess.CompletedProcess[str]) -> str:
    return f"could not build the env of plugin {label!r}: pip {step} failed:\n" + pip_output(result)


def _point_scripts_at(building: Path, final: Path) -> None:
    """Rewrite console scripts' interpreter line from the build directory to the final one."""
    old, new = str(building).encode(), str(final).encode()
    for script in _env_python(building).parent.iterdir():
        if script.is_file() and not script.is_symlink():
            content = script.read_bytes()
            if content.startswith(b"#!") and old in content:
                script.write_bytes(content.replace(old, new))


def _walk(top: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every entry below `top` (not `top` itself), as (POSIX path relative to `top`, entry),
    parents before children; symlinks are entries, never followed."""
    pending = [""]
    while pending:
        relative = pending.pop()
        with os.scandir(top / relative if relative else top) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = f"{relative}/{entry.name}" if relative else entry.name
                yield path, entry
                if entry.is_dir(follow_symlinks=False):
                    pending.append(path)


def _directory_times(top: Path) -> dict[str, int]:
    return {
        path: entry.stat(follow_symlinks=False).st_mtime_ns
        for path, entry in _walk(top)
        if entry.is_dir(follow_symlinks=False)
    }


def _files(top: Path) -> Iterator[tuple[str, str | None]]:
    """Each file and symlink of env `top` but the marker and FILES: (relative path, the
    symlink's fingerprint or None for a regular file)."""
    for path, entry in _walk(top):
        if path in (MARKER, FILES) or entry.is_dir(follow_symlinks=False):
            continue
        yield path, (f"symlink:{os.readlink(entry.path)}" if entry.is_symlink() else None)


def _record_hashes(top: Path) -> dict[str, str]:
    """What the RECORD of every distribution installed in env `top` says each file hashes to,
    by path relative to `top`."""
    site = _site_packages(top)
    hashes = {}
    for record in sorted(site.glob("*.dist-info/RECORD")):
        for row in csv.reader(io.StringIO(record.read_text(encoding="utf-8"))):
            if len(row) > 1 and row[1]:
                # Scripts are recorded as ../../../bin/NAME: relative to site-packages.
                location = os.path.normpath(site / row[0])
                relative = os.path.relpath(location, top)
                if not relative.startswith(".."):
                    hashes[Path(relative).as_posix()] = row[1]
    return hashes


def _unrecorded(top: Path) -> dict[str, str]:
    """A fingerprint of each file of env `top` that no RECORD vouches for as it is now."""
    recorded = _record_hashes(top)
    unrecorded = {}
    for relative, fingerprint in _files(top):
        want = recorded.get(relative)
        if fingerprint is None and want is not None and _matches(top / relative, None, want):
            continue
        unrecorded[relative] = fingerprint or _record_digest(top / relative, "sha256")
    return unrecorded


def _matches(path: Path, fingerprint: str | None, want: str) -> bool:
    """Whether file `path` (a symlink if `fingerprint`) is what `want` says, in RECORD's
    ``algorithm=urlsafe-base64`` form or ``symlink:TARGET``."""
    if fingerprint is not None or want.startswith("symlink:"):
        return fingerprint == want
    algorithm = want.partition("=")[0]
    if algorithm not in hashlib.algorithms_guaranteed:
        return False
    return _record_digest(path, algorithm) == want


def _record_digest(path: Path, algorithm: str) -> str:
    """`path`'s hash as RECORD writes it: ``algorithm=<urlsafe base64, unpadded>``."""
    digest = _digest(path, algorithm)
    return f"{algorithm}={base64.urlsafe_b64encode(digest.digest()).rstrip(b'=').decode()}"


def _file_sha256(path: Path) -> str:
    return _digest(path, "sha256").hexdigest()


def _digest(path: Path, algorithm: str) -> hashlib._Hash:
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest
