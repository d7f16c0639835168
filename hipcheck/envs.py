"""One virtualenv per plugin, content-addressed, under the user's cache directory.

An env's directory name ends in a key computed from its artifacts' hashes and the interpreter, so
an env is built once and then reused by every run that needs the same artifacts. It is built in a
temporary sibling directory (a venv without pip, filled by the host's pip in hash-checking mode
from local wheels only), marked complete by `hipcheck-env.json`, written last, and renamed into
place, so a reader never sees a half-built env under the final name.
"""

from __future__ import annotations

import compileall
import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import util
from pathlib import Path

import platformdirs
from filelock import FileLock
from packaging.utils import canonicalize_name

from hipcheck import __version__
from hipcheck._wheel import BRIDGE_NAME
from hipcheck.artifacts import Artifact
from hipcheck.errors import EnvError

__all__ = [
    "MARKER",
    "EnvError",
    "PluginEnv",
    "cache_dir",
    "ensure_env",
    "env_dir",
    "env_site_packages",
]

MARKER = "hipcheck-env.json"
# What the bridge speaks to the host; hipcheck's version until the protocol is versioned apart.
_PROTOCOL = __version__
_PIP_OUTPUT_LINES = 20
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


def ensure_env(label: str, artifacts: Sequence[Artifact], *, root: Path | None = None) -> PluginEnv:
    """The env holding exactly `artifacts`, built under `root` (default: cache_dir()) if missing.

    A complete env is reused without starting any process. Otherwise, under a file lock so that
    concurrent runs build it once, any half-built copy is removed and the env is built afresh.
    `label` (for example the plugin's name) only makes the directory name readable. Raises
    EnvError if virtualenv or pip fails, quoting pip's last lines of output.
    """
    path, key = _locate(label, artifacts, root)
    ordered = tuple(sorted(artifacts, key=lambda a: (a.name, a.version, a.sha256)))
    env = PluginEnv(path, _env_python(path), key, ordered, created=False)
    if _is_complete(env):
        return env
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
        if _is_complete(env):  # another process built it while this one waited for the lock
            return env
        # Holding the lock, nothing else uses an incomplete copy or a leftover build directory.
        for leftover in [path, *path.parent.glob(f".{path.name}.tmp-*")]:
            shutil.rmtree(leftover, ignore_errors=True)
        # virtualenv's own cache (interpreter facts) kept in <root>, not in the user's home.
        _build(env, label, app_data=path.parent.parent / "virtualenv")
    return dataclasses.replace(env, created=True)


def _locate(label: str, artifacts: Sequence[Artifact], root: Path | None) -> tuple[Path, str]:
    """The env's directory, `<root>/envs/<label slug>-<key prefix>`, and its key."""
    key = _env_key(artifacts)
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


def _env_key(artifacts: Sequence[Artifact]) -> str:
    payload = {
        "artifacts": sorted([a.name, a.version, a.sha256] for a in artifacts),
        "interpreter": _interpreter(),
        "protocol": _PROTOCOL,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _is_complete(env: PluginEnv) -> bool:
    """Whether `env` was fully built for its key; file reads only, no process."""
    try:
        marker = json.loads((env.path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("key") == env.key and env.python.exists()


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
        marker = {
            "key": env.key,
            "label": label,
            "protocol": _PROTOCOL,
            "interpreter": _interpreter(),
            "artifacts": [
                {"name": a.name, "version": a.version, "sha256": a.sha256, "path": str(a.path)}
                for a in env.artifacts
            ],
            "created_at": datetime.now(timezone.utc).isoformat(),
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
    tail = (result.stdout + result.stderr).strip().splitlines()[-_PIP_OUTPUT_LINES:]
    return f"could not build the env of plugin {label!r}: pip {step} failed:\n" + "\n".join(tail)


def _point_scripts_at(building: Path, final: Path) -> None:
    """Rewrite console scripts' interpreter line from the build directory to the final one."""
    old, new = str(building).encode(), str(final).encode()
    for script in _env_python(building).parent.iterdir():
        if script.is_file() and not script.is_symlink():
            content = script.read_bytes()
            if content.startswith(b"#!") and old in content:
                script.write_bytes(content.replace(old, new))
