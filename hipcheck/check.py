"""``hipcheck check``: run a policy's analyses on a target and judge the results."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from hipcheck import expr
from hipcheck.__about__ import __version__
from hipcheck.errors import HipcheckError
from hipcheck.policy import Analysis, Policy
from hipcheck.report import (
    AnalysisReport,
    ErroredAnalysis,
    ErrorReport,
    HintModel,
    Outcome,
    Recommendation,
    Report,
    SandboxReport,
)
from hipcheck.sandbox import in_force
from hipcheck.scoring import risk_score, score_tree, shares
from hipcheck.session import Installed, Launcher, QueryResult, Session, required_plugins
from hipcheck.target import Target


@dataclass
class _Outcome:
    analysis: Analysis
    result: QueryResult | None = None
    error: str | None = None
    policy_expr: str = ""
    explanation: str = ""


async def run_check(
    policy: Policy,
    target: Target,
    installed: Installed,
    launcher: Launcher,
    *,
    excluded: Mapping[str, str] | None = None,
    query_timeout: float | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> Report:
    """Start the plugins the policy needs, run every analysis concurrently, and report.

    ``installed`` are the plugins the run may use; ``excluded`` says why others may not.
    """
    analyses = policy.analyses()
    roots = {a.plugin: policy.plugins[a.plugin].version for a in analyses}
    resolution = required_plugins(roots, installed, excluded)
    order, unavailable = resolution.order, resolution.problems
    kwargs = {} if query_timeout is None else {"query_timeout": query_timeout}
    session = Session(resolution.chosen, launcher, progress=progress, **kwargs)
    try:
        await session.start(
            order,
            {name: policy.config_for(name) for name in order},
            secrets={name: policy.secrets(name) for name in order},
        )
        outcomes = await asyncio.gather(
            *(_analyse(session, a, target, unavailable) for a in analyses)
        )
    finally:
        await session.aclose()
    report = _report(policy, target, outcomes, session.config_hash(policy.sha256))
    report.sandbox = {
        name: SandboxReport.model_validate(p.to_json()) for name, p in in_force(session).items()
    }
    return report


async def _analyse(
    session: Session, analysis: Analysis, target: Target, unavailable: Mapping[str, str]
) -> _Outcome:
    outcome = _Outcome(analysis)
    name = analysis.plugin
    problem = unavailable.get(name) or session.broken.get(name)
    if problem is None:
        for dep in _dependencies(session, name):
            if dep in session.broken:
                problem = f"needs {dep}, which failed: {session.broken[dep]}"
                break
    if problem is not None:
        outcome.error = problem
        return outcome
    client = session.clients[name]
    outcome.policy_expr = analysis.policy or client.configured.get("default_policy_expr") or ""
    outcome.explanation = client.configured.get("explanation") or ""
    if not outcome.policy_expr:
        outcome.error = f"{name} has no default policy expression; give one in the policy"
        return outcome
    try:
        outcome.result = await session.ask(name, None, target.to_json())
    except HipcheckError as exc:
        outcome.error = str(exc)
    return outcome


def _dependencies(session: Session, name: str) -> list[str]:
    client = session.clients.get(name)
    return [d.identity for d in client.plugin.manifest.dependencies] if client else []


def _report(policy: Policy, target: Target, outcomes: list[_Outcome], policy_hash: str) -> Report:
    weights = shares(policy.root)
    passing: list[AnalysisReport] = []
    failing: list[AnalysisReport] = []
    errored: list[ErroredAnalysis] = []
    failed: dict[str, bool] = {}
    for o in outcomes:
        name = o.analysis.plugin
        judged = _judge(o, weights.get(name, 0.0)) if o.error is None else None
        if judged is None:
            # An errored analysis counts as failed, as in Hipcheck, unless the policy says pass.
            failed[name] = policy.errored == "fail"
            errored.append(
                ErroredAnalysis(
                    analysis=name,
                    name=name,
                    error=ErrorReport(msg=o.error or "no result"),
                    weight=weights.get(name, 0.0),
                )
            )
            continue
        failed[name] = not judged.passed
        (passing if judged.passed else failing).append(judged)
    score = risk_score(policy.root, failed)
    results: dict[str, Outcome] = {n: "fail" if f else "pass" for n, f in failed.items()}
    results.update({e.name: "error" for e in errored})
    forced = [n for n in policy.investigate_if_fail if failed.get(n)]
    passes = expr.evaluate_policy(policy.investigate, score)
    kind: Literal["Pass", "Investigate"]
    reason: Any
    if forced:
        kind, reason = "Investigate", {"FailedAnalyses": forced}
    elif passes:
        kind, reason = "Pass", None
    else:
        kind, reason = "Investigate", "Policy"
    return Report(
        repo_name=target.name,
        repo_head=target.head,
        hipcheck_version=__version__,
        analyzed_at=datetime.now(timezone.utc),
        passing=passing,
        failing=failing,
        errored=errored,
        recommendation=Recommendation(
            kind=kind, reason=reason, risk_score=score, risk_policy=policy.investigate
        ),
        score_tree=score_tree(policy.root, results),
        policy_hash=policy_hash,
        policy_source=policy.source,
    )


def _judge(o: _Outcome, weight: float) -> AnalysisReport | None:
    assert o.result is not None
    name, value = o.analysis.plugin, o.result.value
    try:
        passed = expr.evaluate_policy(o.policy_expr, value)
    except expr.ExprError as exc:
        o.error = f"policy expression {o.policy_expr} on {name}'s value: {exc.message}"
        return None
    try:
        final: str | None = expr.format_value(expr.evaluate(expr.parse("$"), value))
    except expr.ExprError:
        final = None  # a JSON object has no expression spelling; the raw value is reported
    default_message = o.explanation or f"the value of {name}"
    return AnalysisReport(
        name=name,
        passed=passed,
        policy_expr=o.policy_expr,
        value=value,
        final_value=final,
        message=expr.explain(o.policy_expr, value, passed, default_message=default_message),
        concerns=o.result.concerns,
        hints=[HintModel.model_validate(h) for h in o.result.hints],
        weight=weight,
    )
