"""The published JSON Schema of the policy file agrees with the loader."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hipcheck._toml import tomllib
from hipcheck.errors import PolicyError
from hipcheck.policy import parse, policy_json_schema

HASH = "sha256:" + "ab" * 32

GOOD = {
    "minimal": '[plugins."t/a"]\n[analyze."t/a"]\n',
    "everything": f"""
[plugins."t/a"]
version = ">=1, <2"
hashes = ["{HASH}"]
source = "./plugins/a"
config = {{ token = {{ env = "A_TOKEN" }}, list = {{ rel = "allow.txt" }}, n = [1, {{ x = 2 }}] }}

[plugins."t/ns/b"]
source = "hipcheck-plugin-b==1.0"

[analyze]
weight = 1
investigate = "(gt 0.3 $)"
investigate-if-fail = ["t/a"]
errored = "pass"

[analyze.practices]
weight = 2
"t/a" = {{ weight = 0, policy = "(eq #t $)" }}

[analyze.attacks.commit.deeper."t/ns/b"]
config = {{ when = 2024-01-01, plain = {{ rel = "x", other = 1 }} }}
""",
    "category-named-like-a-setting-elsewhere": (
        '[plugins."t/a"]\n[analyze.investigate-ish.policy."t/a"]\n'
    ),
}

BAD = {
    "analysis-weight-a-string": '[plugins."t/a"]\n[analyze."t/a"]\nweight = "heavy"\n',
    "category-weight-negative": '[plugins."t/a"]\n[analyze.c]\nweight = -1\n[analyze.c."t/a"]\n',
    "unknown-analysis-key": '[plugins."t/a"]\n[analyze."t/a"]\npolcy = "(eq 1 $)"\n',
    "unknown-plugin-key": '[plugins."t/a"]\nversions = "1"\n[analyze."t/a"]\n',
    "unknown-top-level-key": 'colour = 1\n[plugins."t/a"]\n[analyze."t/a"]\n',
    "unknown-analyze-key": '[plugins."t/a"]\n[analyze]\nwieght = 1\n"t/a" = {}\n',
    "no-analyze": '[plugins."t/a"]\n',
    "bad-hash": '[plugins."t/a"]\nhashes = ["md5:00"]\n[analyze."t/a"]\n',
    "empty-hashes": '[plugins."t/a"]\nhashes = []\n[analyze."t/a"]\n',
    "errored-other": '[plugins."t/a"]\n[analyze]\nerrored = "skip"\n[analyze."t/a"]\n',
    "env-not-a-name": '[plugins."t/a"]\nconfig = { t = { env = "1X" } }\n[analyze."t/a"]\n',
    "rel-not-a-string": '[plugins."t/a"]\nconfig = { deep = [{ rel = 1 }] }\n[analyze."t/a"]\n',
    "analysis-with-four-parts": '[plugins."t/a"]\n[analyze]\n"a/b/c/d" = {}\n',
    "plugin-without-publisher": '[plugins."a"]\n[analyze."t/a"]\n',
    "investigate-if-fail-numbers": '[plugins."t/a"]\n[analyze]\ninvestigate-if-fail = [1]\n',
    "analysis-not-a-table": '[plugins."t/a"]\n[analyze]\n"t/a" = 3\n',
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(policy_json_schema())


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = policy_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_schema_is_plain_json() -> None:
    schema = policy_json_schema()
    assert json.loads(json.dumps(schema)) == schema


def test_the_analyze_tree_is_recursive_through_pattern_properties() -> None:
    defs = policy_json_schema()["$defs"]
    patterns = defs["Category"]["patternProperties"]
    assert {"$ref": "#/$defs/Category"} in patterns.values()
    assert {"$ref": "#/$defs/Analysis"} in patterns.values()
    assert set(defs["Analyze"]["properties"]) == {
        "weight",
        "investigate",
        "investigate-if-fail",
        "errored",
    }


def test_the_built_in_default_policy_validates(validator: jsonschema.protocols.Validator) -> None:
    text = resources.files("hipcheck.policies").joinpath("default.toml").read_text("utf-8")
    validator.validate(tomllib.loads(text))


@pytest.mark.parametrize("name", sorted(GOOD))
def test_a_good_policy_validates_and_loads(
    name: str, validator: jsonschema.protocols.Validator, tmp_path: Path
) -> None:
    validator.validate(tomllib.loads(GOOD[name]))
    parse(GOOD[name], source="p.toml", base_dir=tmp_path)


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_policy_fails_the_schema_and_the_loader(
    name: str, validator: jsonschema.protocols.Validator
) -> None:
    data: Any = tomllib.loads(BAD[name])
    assert not validator.is_valid(data)
    with pytest.raises(PolicyError):
        parse(BAD[name], source="p.toml")
