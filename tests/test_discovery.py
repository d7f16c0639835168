"""Finding plugins through entry points and reading their manifests without importing them."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from hipcheck.discovery import ENTRY_POINT_GROUP, discover, select

GOOD_MANIFEST = """
publisher = "acme"
name = "widgets"
kind = "analysis"
entrypoint = "acme_widgets"
[[dependencies]]
publisher = "hipcheck"
name = "git"
version = "^0.1"
"""


def install_fake_dist(
    site: Path, dist: str, module: str, manifest: str | None, *, version: str = "1.2.3"
) -> None:
    """Lay out an installed distribution by hand: a package and its .dist-info."""
    pkg = site / module
    pkg.mkdir(parents=True)
    # Importing this would fail loudly: discovery must never import plugin code.
    (pkg / "__init__.py").write_text("raise RuntimeError('plugin code was imported')\n")
    files = [f"{module}/__init__.py"]
    if manifest is not None:
        (pkg / "hipcheck-plugin.toml").write_text(manifest)
        files.append(f"{module}/hipcheck-plugin.toml")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nwidgets = {module}\n")
    record = [*files, f"{info.name}/METADATA", f"{info.name}/entry_points.txt"]
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in record))


def entry_points(site: Path) -> list[metadata.EntryPoint]:
    return [
        ep
        for d in metadata.distributions(path=[str(site)])
        for ep in d.entry_points
        if ep.group == ENTRY_POINT_GROUP
    ]


def test_a_plugin_is_found_with_its_manifest_and_version(tmp_path: Path) -> None:
    install_fake_dist(tmp_path, "acme-widgets", "acme_widgets", GOOD_MANIFEST)
    found = discover(entry_points(tmp_path))
    assert found.problems == ()
    plugin = found.plugins["acme/widgets"]
    assert plugin.version == "1.2.3"
    assert plugin.dist_name == "acme-widgets"
    assert plugin.manifest.kind == "analysis"
    assert [d.identity for d in plugin.manifest.dependencies] == ["hipcheck/git"]
    assert "acme_widgets" not in sys.modules


def test_a_missing_manifest_is_a_problem_naming_the_distribution(tmp_path: Path) -> None:
    install_fake_dist(tmp_path, "acme-widgets", "acme_widgets", None)
    found = discover(entry_points(tmp_path))
    assert found.plugins == {}
    assert [str(p) for p in found.problems] == [
        "plugin distribution acme-widgets (entry point widgets = acme_widgets): "
        "no hipcheck-plugin.toml in package acme_widgets"
    ]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("publisher = ", "hipcheck-plugin.toml is not valid TOML"),
        (GOOD_MANIFEST.replace('"analysis"', '"analytics"'), "hipcheck-plugin.toml: kind: "),
        ('colour = "red"\n' + GOOD_MANIFEST, "hipcheck-plugin.toml: colour: Extra inputs"),
        (
            GOOD_MANIFEST.replace('kind = "analysis"', 'kind = "analysis"\nversion = "9.9.9"'),
            "manifest version 9.9.9 differs from the distribution's 1.2.3",
        ),
        (
            GOOD_MANIFEST.replace('entrypoint = "acme_widgets"', 'entrypoint = "elsewhere"'),
            "manifest entrypoint 'elsewhere' differs from the entry point's 'acme_widgets'",
        ),
        (GOOD_MANIFEST.replace('"acme"', '"ac me"'), "publisher: Value error"),
    ],
)
def test_a_bad_manifest_is_a_problem_saying_what_is_wrong(
    tmp_path: Path, manifest: str, message: str
) -> None:
    install_fake_dist(tmp_path, "acme-widgets", "acme_widgets", manifest)
    found = discover(entry_points(tmp_path))
    assert found.plugins == {}
    (problem,) = found.problems
    assert str(problem).startswith("plugin distribution acme-widgets")
    assert message in str(problem)


def test_two_distributions_of_one_plugin_at_one_version_are_ambiguous(tmp_path: Path) -> None:
    install_fake_dist(tmp_path, "acme-widgets", "acme_widgets", GOOD_MANIFEST)
    install_fake_dist(
        tmp_path,
        "acme-widgets-fork",
        "acme_fork",
        GOOD_MANIFEST.replace("acme_widgets", "acme_fork"),
    )
    found = discover(entry_points(tmp_path))
    assert list(found.plugins) == ["acme/widgets"]
    (problem,) = found.problems
    assert "plugin acme/widgets 1.2.3 is provided by both" in str(problem)


def test_every_installed_version_of_a_plugin_is_a_candidate_highest_first(
    tmp_path: Path,
) -> None:
    install_fake_dist(tmp_path, "acme-widgets", "acme_widgets", GOOD_MANIFEST, version="1.2.3")
    install_fake_dist(
        tmp_path,
        "acme-widgets-next",
        "acme_next",
        GOOD_MANIFEST.replace("acme_widgets", "acme_next"),
        version="1.10.0",
    )
    found = discover(entry_points(tmp_path))
    assert found.problems == ()
    assert [p.version for p in found.candidates["acme/widgets"]] == ["1.10.0", "1.2.3"]
    assert found.plugins["acme/widgets"].dist_name == "acme-widgets-next"


def test_an_editable_install_is_reported_as_such(tmp_path: Path) -> None:
    install_fake_dist(tmp_path, "acme-widgets", "acme_widgets", None)
    info = next(tmp_path.glob("*.dist-info"))
    (info / "direct_url.json").write_text(
        '{"url": "file:///src/widgets", "dir_info": {"editable": true}}'
    )
    (problem,) = discover(entry_points(tmp_path)).problems
    assert "installed in editable mode" in str(problem)
    assert "pip install DIR" in str(problem)


def _two_plugins(tmp_path: Path) -> Any:
    install_fake_dist(tmp_path, "acme-widgets", "acme_widgets", GOOD_MANIFEST)
    install_fake_dist(
        tmp_path,
        "acme-gadgets",
        "acme_gadgets",
        GOOD_MANIFEST.replace("widgets", "gadgets"),
    )
    return discover(entry_points(tmp_path))


def test_select_uses_every_installed_plugin_by_default(tmp_path: Path) -> None:
    usable, excluded = select(_two_plugins(tmp_path), named=[])
    assert sorted(usable) == ["acme/gadgets", "acme/widgets"]
    assert excluded == {}


def test_select_blocks_a_plugin_by_identity_or_distribution(tmp_path: Path) -> None:
    found = _two_plugins(tmp_path)
    usable, excluded = select(found, named=["acme/widgets"], block=["acme-gadgets"])
    assert list(usable) == ["acme/widgets"]
    assert excluded == {"acme/gadgets": "plugin acme/gadgets is blocked (-p no:acme-gadgets)"}


def test_without_autoload_only_named_and_enabled_plugins_are_used(tmp_path: Path) -> None:
    found = _two_plugins(tmp_path)
    usable, excluded = select(found, named=[], enable=["acme/gadgets"], autoload=False)
    assert list(usable) == ["acme/gadgets"]
    assert "plugin autoload is off (HIPCHECK_DISABLE_PLUGIN_AUTOLOAD)" in excluded["acme/widgets"]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            GOOD_MANIFEST.replace('version = "^0.1"', 'version = "latest"'),
            "dependencies.0.version: Value error, version requirement 'latest'",
        ),
    ],
)
def test_a_bad_dependency_requirement_is_a_problem(
    tmp_path: Path, manifest: str, message: str
) -> None:
    install_fake_dist(tmp_path, "acme-widgets", "acme_widgets", manifest)
    (problem,) = discover(entry_points(tmp_path)).problems
    assert message in str(problem)


def test_a_version_that_is_not_semver_is_a_problem(tmp_path: Path) -> None:
    install_fake_dist(tmp_path, "acme-widgets", "acme_widgets", GOOD_MANIFEST, version="1.0.post1")
    (problem,) = discover(entry_points(tmp_path)).problems
    assert "'1.0.post1' is not a SemVer version" in str(problem)
