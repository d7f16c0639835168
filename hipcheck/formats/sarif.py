"""The report as SARIF 2.1.0, for code-scanning services such as GitHub code scanning.

How a report maps onto one SARIF run (``docs/formats.md`` has the user's view):

* the driver is hipcheck, with one rule per analysis in the report, whose id is the plugin's
  ``publisher/name``;
* a failing analysis is a result of level ``warning``; an errored one is a result of level
  ``error``, because it produced no judgement and counts as a full failure in the score; a
  passing analysis produces no result;
* each hint of a failing analysis that names a file is a result of its own, located at that file
  (and line); hints without a file are listed in their analysis's result;
* the run's ``properties`` carry the risk score, the recommendation and the policy hash.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from hipcheck.report import AnalysisReport, ErroredAnalysis, HintModel, Report, ScoreNode

SARIF_VERSION = "2.1.0"
SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://pypi.org/project/hipcheck/"

#: Where results about the repository as a whole are located. Code scanning rejects a whole
#: upload if any result lacks a physical location, and an analysis judges the repository rather
#: than a file, so such results point at the conventional policy file: the place where the
#: judgement can be changed. Callers that know the policy's path in the repository pass it.
REPOSITORY_ANCHOR = "hipcheck.toml"

# SARIF's conventional name for the root of the analysed checkout; code scanning resolves
# relative URIs against the repository root whatever the base id says.
_SRCROOT = "%SRCROOT%"


def to_sarif(
    report: Report,
    *,
    repository_uri: str | None = None,
    anchor: str = REPOSITORY_ANCHOR,
) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log with one run, ready for ``json.dumps``.

    ``repository_uri`` (the target's clone URL, where known) adds the run's
    ``versionControlProvenance``; ``anchor`` is the repository-relative file that results about
    the whole repository are located at.
    """
    rules, index = _rules(report)
    results: list[dict[str, Any]] = []
    for analysis in report.failing:
        rule = index[analysis.name]
        results.append(_failing_result(analysis, rule, anchor))
        results.extend(_hint_result(analysis, h, rule) for h in analysis.hints if h.file)
    results.extend(_errored_result(e, index[e.name], anchor) for e in report.errored)

    target = f"{report.repo_owner}/{report.repo_name}" if report.repo_owner else report.repo_name
    when = _utc(report.analyzed_at)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "hipcheck",
                "version": report.hipcheck_version,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        # Code scanning treats everything before the last "/" as the analysis category, so
        # reports on different targets uploaded to one repository keep separate alert sets.
        "automationDetails": {
            "id": f"hipcheck/{target}/{when}",
            "description": {"text": f"hipcheck check of {target} at {report.repo_head}"},
        },
        "invocations": [_invocation(report, index, when)],
        "results": results,
        "properties": {
            "repo_name": report.repo_name,
            "repo_owner": report.repo_owner,
            "repo_head": report.repo_head,
            "risk_score": report.recommendation.risk_score,
            "risk_policy": report.recommendation.risk_policy,
            "recommendation": report.recommendation.kind,
            "recommendation_reason": report.recommendation.reason,
            "policy_hash": report.policy_hash,
            "policy_source": report.policy_source,
        },
    }
    if repository_uri is not None:
        # The schema requires a repositoryUri here; a local checkout has none to give.
        run["versionControlProvenance"] = [
            {"repositoryUri": repository_uri, "revisionId": report.repo_head}
        ]
    return {"$schema": SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def _rules(report: Report) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One rule per analysis, in the policy tree's order so rule indices are stable."""
    judged = {a.name: a for a in (*report.passing, *report.failing)}
    errored = {e.name: e for e in report.errored}
    names = [n for n in _leaves(report.score_tree) if n in judged or n in errored]
    names += [n for n in (*judged, *errored) if n not in names]
    rules = []
    for name in names:
        analysis = judged.get(name)
        if analysis is None:
            rules.append(_rule(name, None, errored[name].weight))
        else:
            rules.append(_rule(name, analysis.policy_expr, analysis.weight))
    return rules, {name: i for i, name in enumerate(names)}


def _leaves(node: ScoreNode) -> list[str]:
    if node.kind == "analysis":
        return [node.name]
    return [name for child in node.children for name in _leaves(child)]


def _rule(name: str, expression: str | None, share: float) -> dict[str, Any]:
    # An errored analysis's report does not carry the expression that would have judged it.
    policy = (
        f"the policy expression {expression}"
        if expression is not None
        else "its policy expression (not recorded: the analysis produced no value)"
    )
    help_text = (
        f"hipcheck runs the {name} analysis on the repository and judges its value with "
        f"{policy}. A failure adds {share:.0%} to the risk score. Read the result's message, "
        "concerns and hints; if the expression is stricter than this project needs, change "
        "it in the policy."
    )
    return {
        "id": name,
        "shortDescription": {"text": f"The {name} analysis must meet its policy"},
        "fullDescription": {
            "text": f"The value of the {name} analysis must satisfy {policy}; "
            f"it carries {share:.0%} of the risk score."
        },
        "help": {"text": help_text},
        "defaultConfiguration": {"level": "warning"},
        "properties": {
            "tags": ["supply-chain", "hipcheck"],
            "policy_expr": expression,
            "share": share,
        },
    }


def _failing_result(analysis: AnalysisReport, rule: int, anchor: str) -> dict[str, Any]:
    lines = [f"{analysis.name} failed: {analysis.message}", f"Policy: {analysis.policy_expr}"]
    if analysis.concerns:
        lines += ["Concerns:", *(f"- {c}" for c in analysis.concerns)]
    unlocated = [h for h in analysis.hints if not h.file]
    if unlocated:
        lines += ["Hints:", *(f"- {_hint_text(h)}" for h in unlocated)]
    return {
        "ruleId": analysis.name,
        "ruleIndex": rule,
        "kind": "fail",
        "level": "warning",
        "message": {"text": "\n".join(lines)},
        "locations": [_location(anchor)],
        "properties": {
            "share": analysis.weight,
            "policy_expr": analysis.policy_expr,
            "concerns": analysis.concerns,
            "hints": [h.model_dump(exclude_none=True) for h in unlocated],
        },
    }


def _hint_result(analysis: AnalysisReport, hint: HintModel, rule: int) -> dict[str, Any]:
    assert hint.file is not None  # the caller passes located hints only
    return {
        "ruleId": analysis.name,
        "ruleIndex": rule,
        "kind": "fail",
        "level": "warning",
        "message": {"text": f"{_hint_text(hint)}\n({analysis.name} failed: {analysis.message})"},
        "locations": [_location(hint.file, hint.line)],
        "properties": hint.model_dump(exclude_none=True, exclude={"file", "line"}),
    }


def _errored_result(errored: ErroredAnalysis, rule: int, anchor: str) -> dict[str, Any]:
    return {
        "ruleId": errored.name,
        "ruleIndex": rule,
        "kind": "fail",
        "level": "error",
        "message": {"text": f"{errored.name} errored and counts as failed: {errored.error.msg}"},
        "locations": [_location(anchor)],
        "properties": {"share": errored.weight},
    }


def _invocation(report: Report, index: dict[str, int], when: str) -> dict[str, Any]:
    return {
        # An errored analysis is a partial failure of the run, not only a finding about the target.
        "executionSuccessful": not report.errored,
        "endTimeUtc": when,
        "toolExecutionNotifications": [
            {
                "level": "error",
                "message": {"text": f"{e.name}: {e.error.msg}"},
                "associatedRule": {"id": e.name, "index": index[e.name]},
            }
            for e in report.errored
        ],
    }


def _hint_text(hint: HintModel) -> str:
    extra = [
        f"{label} {value}"
        for label, value in (
            ("commit", hint.commit),
            ("see", hint.url),
            ("remediation:", hint.remediation),
        )
        if value
    ]
    return hint.message + (f" ({'; '.join(extra)})" if extra else "")


def _location(path: str, line: int | None = None) -> dict[str, Any]:
    posix = path.replace("\\", "/")
    artifact: dict[str, Any]
    if PurePosixPath(posix).is_absolute():
        # Code scanning makes absolute file URIs relative to the checkout it was given.
        artifact = {"uri": PurePosixPath(posix).as_uri()}
    else:
        while posix.startswith("./"):
            posix = posix[2:]
        artifact = {"uri": quote(posix, safe="/"), "uriBaseId": _SRCROOT}
    physical: dict[str, Any] = {"artifactLocation": artifact}
    if line is not None and line >= 1:  # SARIF lines are 1-based; a plugin's 0 means "no line"
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:  # the report writes UTC; a naive time is taken to be UTC too
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
