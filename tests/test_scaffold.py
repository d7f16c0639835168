"""``hipcheck plugin new``: the project it creates, read file by file, then used for real.

The fast tests render projects into tmp dirs and read them. The slow ones do what a plugin author
does next: install the project into a fresh virtualenv, run the project's own tests, lint and
type-check it, and have hipcheck list and run it. The virtualenv helpers here serve
``test_tutorial.py`` as well.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import site
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest
from gitrepos import ALICE, BOB, Commit, make_repo

from hipcheck._toml import tomllib
from hipcheck.errors import UsageError
from hipcheck.manifest import Manifest
from hipcheck.scaffold import MAX_LENGTH, Kind, scaffold

KINDS: tuple[Kind, ...] = get_args(Kind)
NAMES: dict[Kind, str] = {"analysis": "commit-count", "data": "repo-files"}


# -- scratch virtualenvs, shared with test_tutorial.py -------------------------------------------


@dataclass(frozen=True)
class ScratchVenv:
    """A fresh virtualenv in which this interpreter's packages are importable too."""

    path: Path
    python: Path
    env: Mapping[str, str]

    def run(self, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run ``args`` with the venv's python (``-m pytest ...``), in ``cwd``, capturing output."""
        return subprocess.run(
            [self.python, *args],
            cwd=cwd,
            env=dict(self.env),
            capture_output=True,
            text=True,
            timeout=600,
        )

    def hipcheck(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run the hipcheck command line in the venv, as a user of the venv would."""
        return self.run("-m", "hipcheck", *args, cwd=cwd)

    def install(self, *projects: Path) -> None:
        """``pip install`` the projects (not editable: hipcheck refuses editable plugins)."""
        # Build isolation would fetch hatchling from the package index on every install; use
        # the test env's own when it has one.
        offline = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
        argv = ["-m", "pip", "install", "--quiet", "--no-deps", "--no-input", *offline]
        done = self.run(*argv, *projects, cwd=self.path)
        assert done.returncode == 0, done.stdout + done.stderr


def make_venv(path: Path, *, cache_dir: Path) -> ScratchVenv:
    """A venv at ``path`` seeing this interpreter's packages; hipcheck caches under ``cache_dir``.

    hipcheck, pytest and the first-party plugins (``hipcheck/git`` above all) come from the test
    env, so only what a test installs into the venv is new. ``--system-site-packages`` cannot do
    that: it exposes the base interpreter's packages, not those of the venv or tox env running
    the tests. A ``.pth`` file adding this interpreter's site directories does.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True)
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
    (Path(purelib) / "_hipcheck_test_env.pth").write_text(lines)
    # Settings of the outer test run must not steer the inner one.
    outer = {"PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in outer}
    config_dir = path / "config"  # empty: no user policy applies
    config_dir.mkdir()
    env.update(
        HIPCHECK_CACHE_DIR=str(cache_dir),
        HIPCHECK_CONFIG_DIR=str(config_dir),
        NO_COLOR="1",
        PYTHONDONTWRITEBYTECODE="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return ScratchVenv(path, python, env)


def passed(run: subprocess.CompletedProcess[str]) -> int:
    """How many tests an inner pytest run passed; fails the test unless all of them did."""
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    found = re.search(r"(\d+) passed", run.stdout)
    assert found, run.stdout[-2000:]
    return int(found.group(1))


def ruff_problems(project: Path) -> str:
    """What ruff (lint and format check) finds in ``project``; skips the test without ruff."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed in the test env (tox runs it in its lint env)")
    lint = subprocess.run(
        [ruff, "check", "--no-cache", "."], cwd=project, capture_output=True, text=True
    )
    form = subprocess.run(
        [ruff, "format", "--no-cache", "--check", "--diff", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    return "".join(r.stdout + r.stderr for r in (lint, form) if r.returncode != 0)


def mypy_problems(venv: ScratchVenv, project: Path, cache: Path) -> str:
    """What ``mypy`` (strict, by the project's config) finds; skips the test without mypy."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed in the test env (tox runs it in its type env)")
    done = venv.run("-m", "mypy", "--cache-dir", cache, cwd=project)
    return "" if done.returncode == 0 else done.stdout + done.stderr


# -- the files, fast -----------------------------------------------------------------------------


def files_under(project: Path) -> set[str]:
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


def read_toml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return data


def test_an_analysis_plugin_project_has_package_manifest_readme_and_tests(
    tmp_path: Path,
) -> None:
    project = scaffold("commit-count", directory=tmp_path, publisher="acme")

    assert project == tmp_path / "hipcheck-plugin-commit-count"
    assert files_under(project) == {
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "src/hipcheck_plugin_commit_count/__init__.py",
        "src/hipcheck_plugin_commit_count/hipcheck-plugin.toml",
        "tests/test_commit_count_plugin.py",
    }


def test_a_data_plugin_project_has_the_same_files(tmp_path: Path) -> None:
    project = scaffold("repo-files", directory=tmp_path, publisher="acme", kind="data")

    assert files_under(project) == {
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "src/hipcheck_plugin_repo_files/__init__.py",
        "src/hipcheck_plugin_repo_files/hipcheck-plugin.toml",
        "tests/test_repo_files_plugin.py",
    }


def test_pyproject_declares_the_distribution_its_test_extra_and_entry_point(
    tmp_path: Path,
) -> None:
    project = scaffold("commit-count", directory=tmp_path, publisher="acme")

    pyproject = read_toml(project / "pyproject.toml")

    assert pyproject["build-system"]["build-backend"] == "hatchling.build"
    meta = pyproject["project"]
    assert (meta["name"], meta["version"], meta["dependencies"]) == (
        "hipcheck-plugin-commit-count",
        "0.1.0",
        [],
    )
    test_extra = [re.split(r"[ ;<>=]", r)[0] for r in meta["optional-dependencies"]["test"]]
    assert {"hipcheck", "pytest"} <= set(test_extra)
    assert meta["entry-points"]["hipcheck.plugins"] == {
        "commit-count": "hipcheck_plugin_commit_count"
    }
    assert pyproject["tool"]["ruff"]["line-length"] == 100
    assert pyproject["tool"]["mypy"]["strict"] is True


@pytest.mark.parametrize(
    ("kind", "dependencies"), [("analysis", ["hipcheck/git"]), ("data", [])], ids=KINDS
)
def test_the_manifest_gives_identity_kind_entrypoint_and_dependencies(
    tmp_path: Path, kind: Kind, dependencies: list[str]
) -> None:
    project = scaffold("my-check", directory=tmp_path, publisher="Acme.Corp", kind=kind)
    text = read_toml(project / "src/hipcheck_plugin_my_check/hipcheck-plugin.toml")

    manifest = Manifest.model_validate({**text, "version": "0.1.0"})

    assert (manifest.identity, manifest.kind) == ("Acme.Corp/my-check", kind)
    assert (manifest.interface, manifest.entrypoint) == ("python", "hipcheck_plugin_my_check")
    assert [d.identity for d in manifest.dependencies] == dependencies


@pytest.mark.parametrize("kind", KINDS)
def test_every_placeholder_is_filled_and_the_python_compiles(tmp_path: Path, kind: Kind) -> None:
    project = scaffold("x1-y2", directory=tmp_path, publisher="acme", kind=kind)

    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"\$\{?[A-Za-z_]", text.replace("$ ", "")), path
            if path.suffix == ".py":
                compile(text, str(path), "exec")


@pytest.mark.parametrize("kind", KINDS)
def test_python_lines_fit_in_100_columns_with_the_longest_names_allowed(
    tmp_path: Path, kind: Kind
) -> None:
    name = ("n" * 9 + "-") * 3 + "n" * (MAX_LENGTH - 30)
    project = scaffold(name, directory=tmp_path, publisher="p" * MAX_LENGTH, kind=kind)

    for path in project.rglob("*.py"):
        longest = max(path.read_text().splitlines(), key=len)
        assert len(longest) <= 100, (path.name, longest)


@pytest.mark.parametrize("name", ["a", "commit-count", "x1-y2", "abc123", "n" * MAX_LENGTH])
def test_lowercase_words_joined_by_hyphens_are_valid_names(tmp_path: Path, name: str) -> None:
    assert scaffold(name, directory=tmp_path, publisher="acme").is_dir()


@pytest.mark.parametrize(
    "name",
    ["", "Commit", "1st", "-x", "x-", "a--b", "a_b", "a.b", "a b", "a/b", "é", "n" * 41, "x\n"],
)
def test_other_names_are_refused_with_the_rule(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match=r"invalid plugin name .*lowercase letters and digits"):
        scaffold(name, directory=tmp_path, publisher="acme")

    assert list(tmp_path.iterdir()) == []


def test_a_name_with_the_distribution_prefix_is_refused_with_the_name_to_use(
    tmp_path: Path,
) -> None:
    with pytest.raises(UsageError, match=r"without the 'hipcheck-plugin-' prefix.*'foo'"):
        scaffold("hipcheck-plugin-foo", directory=tmp_path, publisher="acme")


@pytest.mark.parametrize("publisher", ["", "-acme", "ac me", "acme/x", "ac$me", "p" * 41])
def test_an_invalid_publisher_is_refused(tmp_path: Path, publisher: str) -> None:
    with pytest.raises(UsageError, match="invalid publisher"):
        scaffold("foo", directory=tmp_path, publisher=publisher)


def test_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="invalid plugin kind 'exec': expected one of analysis"):
        scaffold("foo", directory=tmp_path, publisher="acme", kind="exec")  # type: ignore[arg-type]


def test_an_existing_project_directory_is_never_overwritten(tmp_path: Path) -> None:
    existing = tmp_path / "hipcheck-plugin-foo"
    existing.mkdir()
    (existing / "pyproject.toml").write_text("mine")

    with pytest.raises(UsageError, match="hipcheck-plugin-foo already exists"):
        scaffold("foo", directory=tmp_path, publisher="acme")

    assert files_under(existing) == {"pyproject.toml"}
    assert (existing / "pyproject.toml").read_text() == "mine"


def test_an_existing_file_of_the_project_name_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "hipcheck-plugin-foo").write_text("mine")

    with pytest.raises(UsageError, match="already exists"):
        scaffold("foo", directory=tmp_path, publisher="acme")

    assert (tmp_path / "hipcheck-plugin-foo").read_text() == "mine"


def test_a_missing_directory_is_created(tmp_path: Path) -> None:
    project = scaffold("foo", directory=tmp_path / "a" / "b", publisher="acme")

    assert project == tmp_path / "a" / "b" / "hipcheck-plugin-foo"
    assert (project / "pyproject.toml").is_file()


def test_a_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plugins").write_text("")

    with pytest.raises(UsageError, match="plugins: it is not a directory"):
        scaffold("foo", directory=tmp_path / "plugins", publisher="acme")


# -- installed and used, slow --------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    """One project of each kind, installed into one scratch venv."""

    venv: ScratchVenv
    projects: dict[Kind, Path]
    root: Path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, hipcheck_cache_dir: Path) -> Installed:
    # hipcheck_cache_dir (hipcheck's pytest plugin): $HIPCHECK_CACHE_DIR, else one per session.
    root = tmp_path_factory.mktemp("scaffolds")
    projects = {
        kind: scaffold(NAMES[kind], directory=root, publisher="acme", kind=kind) for kind in KINDS
    }
    venv = make_venv(root / "venv", cache_dir=hipcheck_cache_dir)
    venv.install(*projects.values())
    return Installed(venv, projects, root)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_the_new_plugin_passes_its_own_tests(installed: Installed, kind: Kind) -> None:
    project = installed.projects[kind]

    run = installed.venv.run("-m", "pytest", "-p", "no:cacheprovider", cwd=project)

    assert passed(run) >= 10


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_the_new_plugin_is_ruff_clean(installed: Installed, kind: Kind) -> None:
    assert ruff_problems(installed.projects[kind]) == ""


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_the_new_plugin_type_checks_with_mypy_strict(installed: Installed, kind: Kind) -> None:
    project = installed.projects[kind]

    assert mypy_problems(installed.venv, project, installed.root / "mypy-cache") == ""


@pytest.mark.slow
def test_hipcheck_lists_the_installed_plugins_by_their_manifests(installed: Installed) -> None:
    out = installed.venv.hipcheck("plugin", "list", "--format", "json", cwd=installed.root)

    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)["plugins"]}
    for kind, name in NAMES.items():
        row = rows[f"acme/{name}"]
        assert (row["version"], row["kind"]) == ("0.1.0", kind)
        assert row["distribution"] == f"hipcheck-plugin-{name}"


@pytest.mark.slow
def test_hipcheck_runs_the_new_analysis_on_a_repository(installed: Installed) -> None:
    repo = make_repo(
        installed.root / "repo",
        [Commit(f"2024-01-0{day}T12:00:00+00:00", ALICE, BOB) for day in (1, 2, 3)],
    )
    policy = installed.root / "policy.toml"
    policy.write_text(
        '[plugins."acme/commit-count"]\nversion = "^0.1"\n\n'
        '[analyze."acme/commit-count"]\nconfig = { min-commits = 5 }\n'
    )

    out = installed.venv.hipcheck(
        "check", str(repo), "--policy", str(policy), "--format", "json", cwd=installed.root
    )

    report = json.loads(out.stdout or "{}")
    assert out.returncode == 1, out.stderr  # INVESTIGATE: 3 commits, 5 asked for
    [analysis] = report["failing"]
    assert (analysis["name"], analysis["value"]) == ("acme/commit-count", 3)
    assert analysis["policy_expr"] == "(gte $ 5)"
    assert analysis["message"] == (
        "the number of commits was 3, which was required to be at least 5"
    )
