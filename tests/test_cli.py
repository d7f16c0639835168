"""The commands that need no plugin processes, run in-process through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from hipcheck.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main([*argv])
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.mark.parametrize(
    ("expression", "input_json", "printed"),
    [
        ("(lte (divz (count (filter (eq #t) $)) (count $)) 0.2)", "[true,false,false,false]", "#f"),
        ("(add 1 2.5)", None, "3.5"),
        ("(foreach (add 1) $)", "[1, 2]", "[2 3]"),
        ("(lte $ P71w)", '"P80w"', "#f"),
        ("$/a/1", '{"a": [1, 2]}', "2"),
    ],
)
def test_policy_eval_prints_the_result_in_expression_syntax(
    capsys: pytest.CaptureFixture[str], expression: str, input_json: str | None, printed: str
) -> None:
    args = ["policy", "eval", expression] + (["--input", input_json] if input_json else [])
    code, out, err = run(capsys, *args)
    assert (code, out, err) == (0, printed + "\n", "")


def test_policy_eval_shows_a_caret_under_a_bad_token(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "policy", "eval", "(gtx $ 3)")
    assert code == 2
    assert out == ""
    assert err == "hipcheck: error: unknown function 'gtx'\n  (gtx $ 3)\n   ^^^\n"


def test_policy_eval_rejects_input_that_is_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "policy", "eval", "$", "--input", "{")
    assert code == 2
    assert err.startswith("hipcheck: error: the input is not JSON")


def test_policy_eval_reads_input_from_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "v.json").write_text("[3, 1, 2]")
    code, out, _ = run(
        capsys, "policy", "eval", "(max $)", "--input-file", str(tmp_path / "v.json")
    )
    assert (code, out) == (0, "3\n")


def test_scoring_lists_each_analysis_share(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scoring", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["analyses"] == [
        {"name": "hipcheck/activity", "weight": 0.5, "policy_weight": 1},
        {"name": "hipcheck/identity", "weight": 0.5, "policy_weight": 1},
    ]
    assert data["tree"]["children"][0]["name"] == "practices"


def test_scoring_follows_the_given_policy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[plugins."t/a"]\n[plugins."t/b"]\n[analyze]\n"t/a" = { weight = 3 }\n"t/b" = {}\n'
    )
    code, out, _ = run(capsys, "scoring", "--policy", str(policy))
    assert code == 0
    assert "t/a  weight 3  share 75.0%" in out
    assert "t/b  weight 1  share 25.0%" in out


def test_the_report_schema_is_a_json_schema_of_the_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "schema", "report")
    schema = json.loads(out)
    assert code == 0
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {"repo_name", "recommendation", "policy_hash", "score_tree"} <= set(schema["properties"])


def test_the_manifest_schema_uses_the_file_s_kebab_case_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "schema", "manifest")
    schema = json.loads(out)
    assert code == 0
    assert {"plugin-interface-version", "entrypoint-hashes"} <= set(schema["properties"])


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "frobnicate")
    assert code == 2
    assert "No such command 'frobnicate'" in err
