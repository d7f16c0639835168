"""Which policy a run uses, and loading it: hipcheck.toml, pyproject.toml, user config, built-in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hipcheck.errors import PolicyError
from hipcheck.policy import find_policy, load, user_config_dir

POLICY = '[plugins."t/a"]\n[analyze."t/a"]\n'
TOOL_TABLE = '[tool.hipcheck.plugins."t/a"]\n[tool.hipcheck.analyze."t/a"]\n'
OTHER_TOOL = '[project]\nname = "x"\n\n[tool.ruff]\nline-length = 100\n'


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user config dir, so that no real user's policy leaks into a test."""
    directory = tmp_path / "config"
    directory.mkdir()
    monkeypatch.setenv("HIPCHECK_CONFIG_DIR", str(directory))
    return directory


@pytest.fixture
def deep(tmp_path: Path, config_dir: Path) -> Path:
    """tmp/project/src/pkg: a directory to start the search from, two levels below a project."""
    directory = tmp_path / "project" / "src" / "pkg"
    directory.mkdir(parents=True)
    return directory


def test_a_hipcheck_toml_in_the_start_directory_is_found(deep: Path) -> None:
    (deep / "hipcheck.toml").write_text(POLICY)
    assert find_policy(deep) == deep / "hipcheck.toml"


def test_a_hipcheck_toml_in_a_parent_directory_is_found(deep: Path) -> None:
    (deep.parent.parent / "hipcheck.toml").write_text(POLICY)
    assert find_policy(deep) == deep.parent.parent / "hipcheck.toml"


def test_hipcheck_toml_beats_pyproject_in_the_same_directory(deep: Path) -> None:
    (deep / "pyproject.toml").write_text(TOOL_TABLE)
    (deep / "hipcheck.toml").write_text(POLICY)
    assert find_policy(deep) == deep / "hipcheck.toml"


def test_a_nearer_pyproject_beats_a_farther_hipcheck_toml(deep: Path) -> None:
    (deep.parent / "pyproject.toml").write_text(TOOL_TABLE)
    (deep.parent.parent / "hipcheck.toml").write_text(POLICY)
    assert find_policy(deep) == deep.parent / "pyproject.toml"


def test_a_pyproject_without_a_hipcheck_table_is_passed_over(deep: Path) -> None:
    (deep / "pyproject.toml").write_text(OTHER_TOOL)
    (deep.parent / "pyproject.toml").write_text('[tool.hipcheck-like]\nx = "hipcheck"\n')
    (deep.parent.parent / "hipcheck.toml").write_text(POLICY)
    assert find_policy(deep) == deep.parent.parent / "hipcheck.toml"


def test_a_pyproject_whose_tool_key_is_not_a_table_is_passed_over(deep: Path) -> None:
    (deep / "pyproject.toml").write_text('tool = "hipcheck"\n')
    assert find_policy(deep) is None


def test_the_user_config_dir_is_used_when_no_project_has_a_policy(
    deep: Path, config_dir: Path
) -> None:
    (deep / "pyproject.toml").write_text(OTHER_TOOL)
    (config_dir / "hipcheck.toml").write_text(POLICY)
    assert find_policy(deep) == config_dir / "hipcheck.toml"


def test_a_project_policy_beats_the_user_config_dir(deep: Path, config_dir: Path) -> None:
    (config_dir / "hipcheck.toml").write_text(POLICY)
    (deep.parent.parent / "hipcheck.toml").write_text(POLICY)
    assert find_policy(deep) == deep.parent.parent / "hipcheck.toml"


def test_nothing_found_means_the_built_in_default(deep: Path) -> None:
    assert find_policy(deep) is None
    policy = load(start=deep)
    assert policy.source == "<built-in default.toml>"
    assert [a.plugin for a in policy.analyses()] == ["hipcheck/activity", "hipcheck/identity"]


def test_the_search_starts_in_the_current_directory_by_default(
    deep: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (deep.parent / "hipcheck.toml").write_text(POLICY)
    monkeypatch.chdir(deep)
    assert load().source == str(deep.parent / "hipcheck.toml")


def test_a_relative_start_is_searched_from_the_current_directory(
    deep: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (deep.parent / "hipcheck.toml").write_text(POLICY)
    monkeypatch.chdir(deep.parent)
    assert find_policy(Path("pkg")) == deep.parent / "hipcheck.toml"


def test_the_config_dir_override_names_the_user_config_dir(config_dir: Path) -> None:
    assert user_config_dir() == config_dir


def test_without_the_override_the_platform_config_dir_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HIPCHECK_CONFIG_DIR", raising=False)
    assert user_config_dir().name == "hipcheck"


def test_an_explicit_path_wins_over_any_found_policy(deep: Path, tmp_path: Path) -> None:
    (deep / "hipcheck.toml").write_text("this would not parse")
    chosen = tmp_path / "chosen.toml"
    chosen.write_text(POLICY)
    assert load(chosen, start=deep).source == str(chosen)


def test_a_found_hipcheck_toml_is_loaded_with_its_path_as_source(deep: Path) -> None:
    (deep / "hipcheck.toml").write_text(POLICY)
    policy = load(start=deep)
    assert policy.source == str(deep / "hipcheck.toml")
    assert policy.sha256 == hashlib.sha256(POLICY.encode()).hexdigest()


def test_a_found_pyproject_is_loaded_from_its_tool_table(deep: Path) -> None:
    (deep / "pyproject.toml").write_text(OTHER_TOOL + "\n" + TOOL_TABLE)
    policy = load(start=deep)
    assert policy.source == f"{deep / 'pyproject.toml'} [tool.hipcheck]"
    assert [a.plugin for a in policy.analyses()] == ["t/a"]


def test_a_pyproject_policy_hash_is_of_the_table_as_canonical_json(deep: Path) -> None:
    (deep / "pyproject.toml").write_text(OTHER_TOOL + "\n" + TOOL_TABLE)
    table: dict[str, object] = {"plugins": {"t/a": {}}, "analyze": {"t/a": {}}}
    canonical = json.dumps(table, sort_keys=True, separators=(",", ":"))
    assert load(start=deep).sha256 == hashlib.sha256(canonical.encode()).hexdigest()


def test_editing_the_rest_of_a_pyproject_keeps_the_policy_hash(deep: Path) -> None:
    pyproject = deep / "pyproject.toml"
    pyproject.write_text(OTHER_TOOL + "\n" + TOOL_TABLE)
    before = load(pyproject).sha256
    pyproject.write_text(OTHER_TOOL.replace("100", "88") + "\n# moved\n" + TOOL_TABLE)
    assert load(pyproject).sha256 == before


def test_pyproject_errors_name_the_line_and_the_full_key_in_the_pyproject(deep: Path) -> None:
    pyproject = deep / "pyproject.toml"
    pyproject.write_text(OTHER_TOOL + '\n[tool.hipcheck.plugins."t/a"]\nversion = "x.y"\n')
    with pytest.raises(PolicyError) as info:
        load(start=deep)
    assert str(info.value).startswith(
        f'policy {pyproject}:8: tool.hipcheck.plugins."t/a".version: expected a Cargo-style'
    )


def test_a_pyproject_table_without_analyze_says_which_table_is_missing(deep: Path) -> None:
    pyproject = deep / "pyproject.toml"
    pyproject.write_text('[tool.hipcheck.plugins."t/a"]\n')
    with pytest.raises(PolicyError) as info:
        load(pyproject)
    assert str(info.value) == (
        f"policy {pyproject}:1: tool.hipcheck: "
        "missing the [tool.hipcheck.analyze] table, which lists the analyses to run"
    )


def test_rel_in_a_pyproject_is_relative_to_its_directory(deep: Path) -> None:
    (deep / "pyproject.toml").write_text(
        '[tool.hipcheck.plugins."t/a"]\nconfig = { list = { rel = "allow.txt" } }\n'
        '[tool.hipcheck.analyze."t/a"]\n'
    )
    assert load(start=deep).config_for("t/a") == {"list": str(deep / "allow.txt")}


def test_rel_in_a_found_hipcheck_toml_is_relative_to_its_directory(deep: Path) -> None:
    (deep.parent / "hipcheck.toml").write_text(
        '[plugins."t/a"]\nsource = "./plugins/a"\n[analyze."t/a"]\n'
        'config = { list = { rel = "allow.txt" } }\n'
    )
    policy = load(start=deep)
    assert policy.config_for("t/a") == {"list": str(deep.parent / "allow.txt")}
    assert policy.plugins["t/a"].source == str(deep.parent / "plugins" / "a")


def test_an_explicit_pyproject_without_the_table_is_an_error(deep: Path) -> None:
    pyproject = deep / "pyproject.toml"
    pyproject.write_text(OTHER_TOOL)
    with pytest.raises(PolicyError, match=r"pyproject\.toml: no \[tool\.hipcheck\] table$"):
        load(pyproject)


def test_a_broken_pyproject_that_mentions_hipcheck_is_reported_not_skipped(deep: Path) -> None:
    (deep / "pyproject.toml").write_text("[tool.hipcheck\n")
    with pytest.raises(PolicyError, match=r"pyproject\.toml: invalid TOML: .*line 1"):
        find_policy(deep)


def test_a_missing_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"^policy .*nope\.toml: no such file$"):
        load(tmp_path / "nope.toml")


def test_a_policy_that_is_not_utf8_is_a_policy_error(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"# caf\xe9\n")
    with pytest.raises(PolicyError, match=r"^policy .*latin1\.toml: cannot read: "):
        load(bad)
