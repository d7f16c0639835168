"""Loading and validating policy files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hipcheck.errors import PolicyError
from hipcheck.policy import Analysis, Category, load, parse

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


def test_the_built_in_default_policy_loads() -> None:
    policy = load()
    assert [a.plugin for a in policy.analyses()] == ["hipcheck/activity", "hipcheck/identity"]
    assert policy.investigate == "(gt 0.5 $)"
    assert policy.config_for("hipcheck/activity") == {"weeks": 71}


def test_tables_with_a_slash_are_analyses_and_the_rest_categories() -> None:
    policy = parse(MINIMAL, source="p.toml")
    practices, attacks = policy.root.children
    assert practices == Category("practices", 3, (Analysis("t/a", 2, "(eq #t $)", {}),))
    assert attacks == Category(
        "attacks", 1, (Category("commit", 1, (Analysis("t/b", 1, None, {"threshold": 4}),)),)
    )
    assert policy.investigate_if_fail == ("t/b",)
    assert policy.plugins["t/b"].version == "^1.2"
    assert policy.config_for("t/b") == {"threshold": 4}


def test_the_policy_hash_follows_the_text() -> None:
    a = parse(MINIMAL, source="p.toml").sha256
    b = parse(MINIMAL.replace("0.4", "0.3"), source="p.toml").sha256
    assert a != b and len(a) == 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[analyze", "policy p.toml: invalid TOML: "),
        ('colour = 1\n[analyze."t/a"]\n', "policy p.toml: unknown top-level key 'colour'"),
        ("[plugins]\n", "policy p.toml: missing [analyze] table"),
        ('[plugins."t/a"]\n[analyze]\n', "policy p.toml: [analyze] names no analysis"),
        ('[analyze."t/a"]\n', 'policy p.toml: analysis t/a has no [plugins."t/a"]'),
        (
            '[plugins."t/a"]\n[analyze."t/a"]\nweight = "heavy"\n',
            "policy p.toml: analyze.t/a.weight: Input should be a valid integer",
        ),
        (
            '[plugins."t/a"]\n[analyze."t/a"]\npolcy = "(eq 1 $)"\n',
            "policy p.toml: analyze.t/a.polcy: Extra inputs are not permitted",
        ),
        (
            '[plugins."t/a"]\nversions = "1"\n[analyze."t/a"]\n',
            "policy p.toml: plugins.t/a.versions: Extra inputs are not permitted",
        ),
        (
            '[plugins."a"]\n[analyze."t/a"]\n',
            "policy p.toml: plugins.a: 'a' is not 'publisher/name'",
        ),
        (
            '[plugins."t/a"]\n[analyze]\ninvestigate-if-fail = ["t/x"]\n[analyze."t/a"]\n',
            "policy p.toml: analyze.investigate-if-fail names t/x, which is not analysed",
        ),
        (
            '[plugins."t/a"]\n[analyze.c]\nweight = -1\n[analyze.c."t/a"]\n',
            "policy p.toml: analyze.c.weight must be a whole number >= 0",
        ),
    ],
)
def test_bad_policies_name_the_file_and_key(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse(text, source="p.toml")
    assert str(info.value).startswith(message)


def test_a_missing_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"policy .*nope.toml: no such file"):
        load(tmp_path / "nope.toml")


def test_a_bad_expression_is_caught_at_load_with_a_caret() -> None:
    text = '[plugins."t/a"]\n[analyze."t/a"]\npolicy = "(gtx $ 3)"\n'
    with pytest.raises(PolicyError) as info:
        parse(text, source="p.toml")
    assert str(info.value) == (
        "policy p.toml: analyze.t/a.policy: unknown function 'gtx'\n  (gtx $ 3)\n   ^^^"
    )


def test_an_investigate_expression_must_be_boolean() -> None:
    text = '[plugins."t/a"]\n[analyze]\ninvestigate = "(add $ 1)"\n[analyze."t/a"]\n'
    with pytest.raises(PolicyError, match=r"analyze\.investigate: a policy must produce a bool"):
        parse(text, source="p.toml")
