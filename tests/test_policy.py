"""Parsing and validating policy files: the tree, the settings, config values, and the errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import jsonschema
import pytest

import hipcheck.policy
from hipcheck._toml import tomllib
from hipcheck.errors import PolicyError
from hipcheck.policy import Analysis, Category, EnvRef, Policy, load, parse, policy_json_schema

MINIMAL = """
[plugins."t/a"]
[plugins."t/b"]
version = "^1.2"

[analyze]
investigate = "(gt 0.4 $)"
investigate-if-fail = ["t/b"]

[analyze.practices]
weight = 3
"t/a" = { weight = 2, policy = "(eq #t $)" }

[analyze.attacks.commit."t/b"]
config = { threshold = 4 }
"""

HASH_A = "sha256:" + "a" * 64
HASH_B = "sha256:" + "0123456789abcdef" * 4


def _parse(text: str, tmp_path: Path | None = None) -> Policy:
    return parse(text, source="p.toml", base_dir=tmp_path)


def _error(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        parse(text, source="p.toml")
    return str(info.value)


def test_the_public_names_are_exactly_all() -> None:
    # isidentifier: pytest's assertion rewriting adds "@py_builtins" to modules of a
    # distribution that provides a pytest plugin, as hipcheck does.
    public = {n for n in vars(hipcheck.policy) if n.isidentifier() and not n.startswith("_")} - {
        "annotations"
    }
    assert sorted(hipcheck.policy.__all__) == hipcheck.policy.__all__
    assert set(hipcheck.policy.__all__) == public


def test_the_built_in_default_policy_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIPCHECK_CONFIG_DIR", str(tmp_path))
    policy = load(start=tmp_path)
    assert policy.source == "<built-in default.toml>"
    assert [a.plugin for a in policy.analyses()] == ["hipcheck/activity", "hipcheck/identity"]
    assert policy.investigate == "(gt 0.5 $)"
    assert policy.errored == "fail"
    assert policy.config_for("hipcheck/activity", environ={}) == {"weeks": 71}


def test_tables_with_a_slash_are_analyses_and_the_rest_categories() -> None:
    policy = _parse(MINIMAL)
    practices, attacks = policy.root.children
    assert practices == Category("practices", 3, (Analysis("t/a", 2, "(eq #t $)", {}),))
    assert attacks == Category(
        "attacks", 1, (Category("commit", 1, (Analysis("t/b", 1, None, {"threshold": 4}),)),)
    )
    assert policy.investigate_if_fail == ("t/b",)
    assert policy.plugins["t/b"].version == "^1.2"
    assert policy.config_for("t/b") == {"threshold": 4}


def test_a_weight_on_analyze_itself_is_the_root_weight() -> None:
    policy = _parse('[plugins."t/a"]\n[analyze]\nweight = 5\n"t/a" = {}\n')
    assert policy.root == Category("analyze", 5, (Analysis("t/a", 1, None, {}),))


def test_settings_left_out_take_their_defaults() -> None:
    policy = _parse('[plugins."t/a"]\n[analyze."t/a"]\n')
    entry = policy.plugins["t/a"]
    assert (entry.version, entry.hashes, entry.source, entry.config) == ("*", (), None, {})
    assert (policy.investigate, policy.investigate_if_fail) == ("(gt 0.5 $)", ())
    assert policy.errored == "fail"


def test_errored_pass_makes_errored_analyses_count_as_passing() -> None:
    policy = _parse('[plugins."t/a"]\n[analyze]\nerrored = "pass"\n[analyze."t/a"]\n')
    assert policy.errored == "pass"


def test_the_policy_hash_is_the_sha256_of_the_exact_text() -> None:
    assert _parse(MINIMAL).sha256 == hashlib.sha256(MINIMAL.encode()).hexdigest()
    assert _parse(MINIMAL + "# a comment\n").sha256 != _parse(MINIMAL).sha256


def test_a_plugin_entry_without_an_analysis_pins_and_configures_a_dependency() -> None:
    text = (
        f'[plugins."hipcheck/git"]\nversion = "^0.2"\nhashes = ["{HASH_A}"]\n'
        'config = { depth = 10 }\n[plugins."t/a"]\n[analyze."t/a"]\n'
    )
    policy = _parse(text)
    assert policy.plugins["hipcheck/git"].hashes == (HASH_A,)
    assert policy.config_for("hipcheck/git") == {"depth": 10}


def test_plugin_hashes_are_kept_in_the_order_given() -> None:
    text = f'[plugins."t/a"]\nhashes = ["{HASH_B}", "{HASH_A}"]\n[analyze."t/a"]\n'
    assert _parse(text).plugins["t/a"].hashes == (HASH_B, HASH_A)


@pytest.mark.parametrize(
    "source",
    [
        "hipcheck-plugin-foo>=1.2,<2",
        "hipcheck-plugin-foo @ https://example.org/foo-1.0-py3-none-any.whl",
        "https://example.org/foo-1.0-py3-none-any.whl",
        "git+https://example.org/foo.git@v1",
    ],
)
def test_a_requirement_or_url_source_is_kept_as_written(source: str) -> None:
    text = f'[plugins."t/a"]\nsource = "{source}"\n[analyze."t/a"]\n'
    assert _parse(text).plugins["t/a"].source == source


@pytest.mark.parametrize(
    ("source", "resolved"),
    [
        ("./plugins/foo", "plugins/foo"),
        ("plugins/foo", "plugins/foo"),
        ("../foo-1.0-py3-none-any.whl", "../foo-1.0-py3-none-any.whl"),
        ("foo-1.0-py3-none-any.whl", "foo-1.0-py3-none-any.whl"),
    ],
)
def test_a_relative_path_source_is_resolved_against_the_policy_dir(
    tmp_path: Path, source: str, resolved: str
) -> None:
    text = f'[plugins."t/a"]\nsource = "{source}"\n[analyze."t/a"]\n'
    got = _parse(text, tmp_path).plugins["t/a"].source
    assert got == os.path.normpath(tmp_path / resolved)


def test_an_absolute_path_source_is_kept(tmp_path: Path) -> None:
    where = str(tmp_path / "foo")
    text = f'[plugins."t/a"]\nsource = "{where}"\n[analyze."t/a"]\n'
    assert _parse(text, Path("/elsewhere")).plugins["t/a"].source == where


def test_rel_values_anywhere_in_a_config_become_absolute_paths(tmp_path: Path) -> None:
    text = (
        '[plugins."t/a"]\nconfig = { allow = { rel = "lists/allow.txt" }, '
        'more = [{ rel = "../up" }, { deep = { rel = "." } }] }\n[analyze."t/a"]\n'
    )
    config = _parse(text, tmp_path).config_for("t/a")
    assert config == {
        "allow": str(tmp_path / "lists" / "allow.txt"),
        "more": [str(tmp_path.parent / "up"), {"deep": str(tmp_path)}],
    }


def test_rel_in_an_analysis_config_is_resolved_too(tmp_path: Path) -> None:
    text = '[plugins."t/a"]\n[analyze."t/a"]\nconfig = { file = { rel = "x.json" } }\n'
    assert _parse(text, tmp_path).config_for("t/a") == {"file": str(tmp_path / "x.json")}


def test_rel_without_a_base_dir_is_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = '[plugins."t/a"]\n[analyze."t/a"]\nconfig = { file = { rel = "x.json" } }\n'
    assert parse(text, source="p.toml").config_for("t/a") == {"file": str(tmp_path / "x.json")}


def test_tables_with_rel_or_env_beside_other_keys_are_plain_config() -> None:
    text = (
        '[plugins."t/a"]\n[analyze."t/a"]\n'
        'config = { a = { rel = "x", mode = 1 }, b = { env = "HOME", default = "" } }\n'
    )
    assert _parse(text).config_for("t/a", environ={}) == {
        "a": {"rel": "x", "mode": 1},
        "b": {"env": "HOME", "default": ""},
    }


ENV_POLICY = """\
[plugins."t/a"]
config = { user = "me", token = { env = "T_TOKEN" }, nested = [{ key = { env = "T_KEY" } }] }

[analyze."t/a"]
"""


def test_env_references_are_read_from_the_environ_given() -> None:
    policy = _parse(ENV_POLICY)
    config = policy.config_for("t/a", environ={"T_TOKEN": "s3cret", "T_KEY": "k"})
    assert config == {"user": "me", "token": "s3cret", "nested": [{"key": "k"}]}


def test_env_references_default_to_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("T_TOKEN", "from-os")
    monkeypatch.setenv("T_KEY", "k")
    assert _parse(ENV_POLICY).config_for("t/a")["token"] == "from-os"


def test_a_missing_environment_variable_names_the_plugin_key_and_variable() -> None:
    with pytest.raises(PolicyError) as info:
        _parse(ENV_POLICY).config_for("t/a", environ={"T_KEY": "k"})
    assert str(info.value) == (
        'policy p.toml:2: plugins."t/a".config.token: environment variable T_TOKEN is not set; '
        "the policy passes it to plugin t/a: set it, or remove the reference"
    )


def test_a_loaded_policy_holds_env_references_not_their_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("T_TOKEN", "s3cret-value")
    policy = _parse(ENV_POLICY)
    assert policy.plugins["t/a"].config["token"] == EnvRef("T_TOKEN")
    assert "s3cret-value" not in repr(policy)


def test_the_policy_hash_does_not_depend_on_secret_values() -> None:
    policy = _parse(ENV_POLICY)
    policy.config_for("t/a", environ={"T_TOKEN": "one", "T_KEY": "k"})
    assert policy.sha256 == hashlib.sha256(ENV_POLICY.encode()).hexdigest()


def test_env_vars_lists_the_variables_a_plugin_is_given() -> None:
    policy = _parse(ENV_POLICY)
    assert policy.env_vars("t/a") == ("T_KEY", "T_TOKEN")
    assert policy.env_vars("hipcheck/git") == ()


def test_config_for_gives_a_copy_the_caller_may_change() -> None:
    policy = _parse(ENV_POLICY)
    env = {"T_TOKEN": "t", "T_KEY": "k"}
    policy.config_for("t/a", environ=env)["nested"].append("junk")
    assert len(policy.config_for("t/a", environ=env)["nested"]) == 1


def test_config_for_a_plugin_the_policy_does_not_name_is_empty() -> None:
    assert _parse(MINIMAL).config_for("hipcheck/git") == {}


@pytest.mark.parametrize("text", [MINIMAL, ENV_POLICY], ids=["minimal", "env"])
def test_the_policies_of_these_tests_validate_against_the_schema(text: str) -> None:
    jsonschema.Draft202012Validator(policy_json_schema()).validate(tomllib.loads(text))


# -- errors: each names the file, the line, the dotted key, and what was expected ----------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            '[plugins."t/a"]\n\n[analyze.practices."t/a"]\nweight = "heavy"\n',
            'policy p.toml:4: analyze.practices."t/a".weight: '
            'expected a whole number >= 0, got "heavy"',
            id="analysis-weight-not-a-number",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze.practices]\n"t/a" = { weight = -1 }\n',
            'policy p.toml:3: analyze.practices."t/a".weight: expected a whole number >= 0, got -1',
            id="analysis-weight-in-an-inline-table",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze.c]\nweight = true\n[analyze.c."t/a"]\n',
            "policy p.toml:3: analyze.c.weight: expected a whole number >= 0, got true",
            id="category-weight-a-bool",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze.c]\nweight = 1.5\n[analyze.c."t/a"]\n',
            "policy p.toml:3: analyze.c.weight: expected a whole number >= 0, got 1.5",
            id="category-weight-a-float",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze."t/a"]\nweight = 1\npolcy = "(eq 1 $)"\n',
            "policy p.toml:4: analyze.\"t/a\".polcy: unknown key 'polcy' "
            "(expected one of: config, policy, weight); did you mean 'policy'?",
            id="unknown-analysis-key-near-miss",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze."t/a"]\ncolour = "red"\n',
            "policy p.toml:3: analyze.\"t/a\".colour: unknown key 'colour' "
            "(expected one of: config, policy, weight)",
            id="unknown-analysis-key-no-near-miss",
        ),
        pytest.param(
            '[plugins."t/a"]\nversions = "1"\n[analyze."t/a"]\n',
            "policy p.toml:2: plugins.\"t/a\".versions: unknown key 'versions' "
            "(expected one of: allow-network, config, env, hashes, limits, source, version); "
            "did you mean 'version'?",
            id="unknown-plugin-key",
        ),
        pytest.param(
            'colour = 1\n[plugins."t/a"]\n[analyze."t/a"]\n',
            "policy p.toml:1: colour: unknown key 'colour' (expected one of: analyze, plugins)",
            id="unknown-top-level-key",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze]\ninvestigate_if_fail = []\n"t/a" = {}\n',
            "policy p.toml:3: analyze.investigate_if_fail: unknown key 'investigate_if_fail' "
            "(expected one of: errored, investigate, investigate-if-fail, weight, or a table: "
            'a category, or an analysis named "publisher/name"); '
            "did you mean 'investigate-if-fail'?",
            id="unknown-analyze-key",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze.c]\nwieght = 2\n[analyze.c."t/a"]\n',
            "policy p.toml:3: analyze.c.wieght: unknown key 'wieght' (expected one of: weight, "
            'or a table: a category, or an analysis named "publisher/name"); '
            "did you mean 'weight'?",
            id="unknown-category-key",
        ),
        pytest.param(
            '[plugins."t/a"]\nversion = "1.x"\n[analyze."t/a"]\n',
            'policy p.toml:2: plugins."t/a".version: expected a Cargo-style version requirement '
            'such as "^0.1" or ">=1, <2", got "1.x" (cannot read \'1.x\')',
            id="bad-version-requirement",
        ),
        pytest.param(
            '[plugins."t/a"]\nversion = 1\n[analyze."t/a"]\n',
            'policy p.toml:2: plugins."t/a".version: expected a Cargo-style version requirement '
            'such as "^0.1" or ">=1, <2", got 1',
            id="version-not-a-string",
        ),
        pytest.param(
            f'[plugins."t/a"]\nhashes = [\n  "{HASH_A}",\n  "md5:abc",\n]\n[analyze."t/a"]\n',
            'policy p.toml:4: plugins."t/a".hashes[1]: '
            'expected a hash "sha256:<64 lowercase hex digits>", got "md5:abc"',
            id="hash-of-another-kind",
        ),
        pytest.param(
            f'[plugins."t/a"]\nhashes = ["{HASH_A.upper()}"]\n[analyze."t/a"]\n',
            'policy p.toml:2: plugins."t/a".hashes[0]: '
            f'expected a hash "sha256:<64 lowercase hex digits>", got "{HASH_A.upper()}"',
            id="hash-in-upper-case",
        ),
        pytest.param(
            '[plugins."t/a"]\nhashes = ["sha256:abc"]\n[analyze."t/a"]\n',
            'policy p.toml:2: plugins."t/a".hashes[0]: '
            'expected a hash "sha256:<64 lowercase hex digits>", got "sha256:abc"',
            id="hash-too-short",
        ),
        pytest.param(
            '[plugins."t/a"]\nhashes = []\n[analyze."t/a"]\n',
            'policy p.toml:2: plugins."t/a".hashes: expected an array of one or more '
            '"sha256:<64 lowercase hex digits>" strings, got an empty array',
            id="hashes-empty",
        ),
        pytest.param(
            f'[plugins."t/a"]\nhashes = "{HASH_A}"\n[analyze."t/a"]\n',
            'policy p.toml:2: plugins."t/a".hashes: expected an array of one or more '
            f'"sha256:<64 lowercase hex digits>" strings, got "{HASH_A}"',
            id="hashes-not-an-array",
        ),
        pytest.param(
            '[plugins."t/a"]\nsource = "not a requirement"\n[analyze."t/a"]\n',
            'policy p.toml:2: plugins."t/a".source: expected a PyPI requirement, a URL, or the '
            'path of a wheel or a directory, got "not a requirement": Expected semicolon '
            "(after name with no version specifier) or end",
            id="source-unreadable",
        ),
        pytest.param(
            '[plugins."t/a"]\nsource = ""\n[analyze."t/a"]\n',
            'policy p.toml:2: plugins."t/a".source: expected a PyPI requirement, a URL, or the '
            'path of a wheel or a directory, got ""',
            id="source-empty",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze]\nerrored = "skip"\n[analyze."t/a"]\n',
            'policy p.toml:3: analyze.errored: expected "fail" or "pass", got "skip"',
            id="errored-neither-fail-nor-pass",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze]\ninvestigate = 0.5\n[analyze."t/a"]\n',
            "policy p.toml:3: analyze.investigate: "
            "expected a policy expression on the risk score (a string), got 0.5",
            id="investigate-not-a-string",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze]\ninvestigate-if-fail = ["t/a", 3]\n[analyze."t/a"]\n',
            "policy p.toml:3: analyze.investigate-if-fail[1]: "
            'expected an analysis name such as "hipcheck/activity", got 3',
            id="investigate-if-fail-not-names",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze]\ninvestigate-if-fail = [\n  "t/a",\n  "t/x",\n]\n'
            '[analyze."t/a"]\n',
            "policy p.toml:5: analyze.investigate-if-fail[1]: "
            "names t/x, which is not an analysis of this policy",
            id="investigate-if-fail-names-no-analysis",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze."t/a"]\npolicy = 3\n',
            'policy p.toml:3: analyze."t/a".policy: '
            'expected a policy expression (a string such as "(lte $ 0.2)"), got 3',
            id="policy-not-a-string",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze."t/a"]\nconfig = "x"\n',
            'policy p.toml:3: analyze."t/a".config: '
            'expected a table of the plugin\'s settings, got "x"',
            id="config-not-a-table",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze."t/a"]\nconfig = { list = { rel = 3 } }\n',
            'policy p.toml:3: analyze."t/a".config.list.rel: '
            "expected a path (a non-empty string), got 3",
            id="rel-not-a-string",
        ),
        pytest.param(
            '[plugins."t/a"]\nconfig = { token = { env = "1TOKEN" } }\n[analyze."t/a"]\n',
            'policy p.toml:2: plugins."t/a".config.token.env: expected the name of an '
            "environment variable (letters, digits and _, not starting with a digit), "
            'got "1TOKEN"',
            id="env-not-a-variable-name",
        ),
        pytest.param(
            '[plugins."a"]\n[analyze."t/a"]\n',
            "policy p.toml:1: plugins.a: expected a plugin identity 'publisher/name' or "
            "'publisher/namespace/name', got 'a'",
            id="plugin-without-publisher",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze]\n"t/a/b/c" = {}\n',
            "policy p.toml:3: analyze.\"t/a/b/c\": expected an analysis named 'publisher/name' "
            "or 'publisher/namespace/name', got 't/a/b/c'",
            id="analysis-with-too-many-parts",
        ),
        pytest.param(
            'plugins = 3\n[analyze."t/a"]\n',
            "policy p.toml:1: plugins: expected a table of plugins keyed by identity, got 3",
            id="plugins-not-a-table",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze]\n"t/a" = 3\n',
            'policy p.toml:3: analyze."t/a": '
            "expected a table of the analysis's weight, policy and config, got 3",
            id="analysis-not-a-table",
        ),
        pytest.param(
            '[plugins."t/a"]\n',
            "policy p.toml: missing the [analyze] table, which lists the analyses to run",
            id="no-analyze-table",
        ),
        pytest.param(
            '[plugins."t/a"]\n\n[analyze]\ninvestigate = "(gt 0.5 $)"\n',
            "policy p.toml:3: analyze: expected at least one analysis or category in it, got none",
            id="analyze-names-no-analysis",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze.c]\nweight = 2\n[analyze.d."t/a"]\n',
            "policy p.toml:2: analyze.c: expected at least one analysis or category in it, "
            "got none",
            id="empty-category",
        ),
        pytest.param(
            '[plugins."t/b"]\n[analyze.x]\n"t/a" = { weight = 2 }\n',
            'policy p.toml:3: analyze.x."t/a": no [plugins."t/a"] table; every analysis needs one',
            id="analysis-without-a-plugin-table",
        ),
        pytest.param(
            '[plugins."t/a"]\n[analyze.x."t/a"]\n[analyze.y."t/a"]\n',
            'policy p.toml:3: analyze.y."t/a": analysis t/a appears twice (first at line 2)',
            id="analysis-twice",
        ),
        pytest.param(
            '[plugins."t/a"]\nconfig = { a = 1 }\n[analyze."t/a"]\nconfig = { b = 1 }\n',
            'policy p.toml:4: analyze."t/a".config: '
            't/a is configured both here and in [plugins."t/a"]; keep one',
            id="configured-twice",
        ),
    ],
)
def test_a_bad_policy_error_names_file_line_key_and_expectation(text: str, message: str) -> None:
    assert _error(text) == message


def test_a_value_with_a_newline_is_quoted_on_one_line() -> None:
    text = '[plugins."t/a"]\n[analyze]\nerrored = "fa\\nil"\n[analyze."t/a"]\n'
    assert _error(text) == (
        'policy p.toml:3: analyze.errored: expected "fail" or "pass", got "fa\\nil"'
    )


def test_the_first_fault_in_the_file_is_reported_when_a_table_has_several() -> None:
    text = '[plugins."t/a"]\n[analyze."t/a"]\npolcy = 1\nweight = "x"\n'
    assert _error(text).startswith("policy p.toml:3: analyze.\"t/a\".polcy: unknown key 'polcy'")


def test_a_toml_syntax_error_keeps_tomllib_line_and_column() -> None:
    message = _error('[plugins."t/a"]\n[analyze\n')
    assert message.startswith("policy p.toml: invalid TOML: ")
    assert "line 2" in message and "column" in message
    assert "\n" not in message


def test_a_bad_expression_is_caught_at_load_with_a_caret() -> None:
    text = '[plugins."t/a"]\n[analyze."t/a"]\npolicy = "(gtx $ 3)"\n'
    assert _error(text) == (
        "policy p.toml:3: analyze.\"t/a\".policy: unknown function 'gtx'\n  (gtx $ 3)\n   ^^^"
    )


def test_an_investigate_expression_must_be_boolean() -> None:
    text = '[plugins."t/a"]\n[analyze]\ninvestigate = "(add $ 1)"\n[analyze."t/a"]\n'
    assert _error(text).startswith(
        "policy p.toml:3: analyze.investigate: a policy must produce a bool"
    )
