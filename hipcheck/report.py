"""The result of a run: a pydantic model serialised as the JSON report, and its human rendering.

The JSON report is a superset of the original Hipcheck's: the same top-level keys, plus the
raw ``value`` of every analysis, structured ``hints``, each analysis's ``weight`` (its share of
the score) and the ``policy_hash``. ``docs/report.md`` documents every field.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from rich.console import Console


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HintModel(_Model):
    """Structured guidance from a plugin."""

    message: str
    file: str | None = None
    line: int | None = None
    commit: str | None = None
    url: str | None = None
    remediation: str | None = None


class AnalysisReport(_Model):
    """One analysis that produced a value and was judged by its policy expression."""

    name: str = Field(description="The plugin, as publisher/name.")
    passed: bool
    policy_expr: str
    value: Any = Field(description="The raw value the plugin's default query returned.")
    final_value: str | None = Field(
        default=None, description="The value in policy-expression syntax."
    )
    message: str
    concerns: list[str] = Field(default_factory=list)
    hints: list[HintModel] = Field(default_factory=list)
    weight: float = Field(description="This analysis's share of the risk score, 0 to 1.")


class ErrorReport(_Model):
    """Why an analysis produced no result."""

    msg: str


class ErroredAnalysis(_Model):
    """An analysis that could not produce a result; it counts as failed in the score."""

    analysis: str
    name: str
    error: ErrorReport
    weight: float


Outcome = Literal["pass", "fail", "error"]


class ScoreNode(_Model):
    """A node of the policy's analysis tree, with its share of the score and its outcome."""

    name: str = Field(description="The category's name, or the analysis's plugin.")
    kind: Literal["category", "analysis"]
    weight: int = Field(description="The weight the policy gives it among its siblings.")
    share: float = Field(description="Its share of the whole risk score, 0 to 1.")
    outcome: Outcome | None = Field(
        default=None, description="For an analysis: whether it passed, failed or errored."
    )
    children: list[ScoreNode] = Field(default_factory=list)


class Recommendation(_Model):
    """PASS or INVESTIGATE, and why."""

    kind: Literal["Pass", "Investigate"]
    reason: Literal["Policy"] | dict[Literal["FailedAnalyses"], list[str]] | None
    risk_score: float
    risk_policy: str


class SandboxReport(_Model):
    """The protections one plugin process ran under (docs/sandbox.md)."""

    in_force: list[str]
    not_in_force: list[str]
    details: dict[str, str] = Field(default_factory=dict)


class Report(_Model):
    """Everything a run found about one target."""

    repo_name: str
    repo_owner: str | None = None
    repo_head: str
    hipcheck_version: str
    analyzed_at: datetime
    passing: list[AnalysisReport]
    failing: list[AnalysisReport]
    errored: list[ErroredAnalysis]
    recommendation: Recommendation
    score_tree: ScoreNode = Field(description="The analysis tree the risk score was computed on.")
    policy_hash: str = Field(description="sha256 over the policy file and every plugin's config.")
    sandbox: dict[str, SandboxReport] = Field(
        default_factory=dict, description="The protections each plugin that ran was under."
    )
    policy_source: str

    @property
    def passed(self) -> bool:
        return self.recommendation.kind == "Pass"

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def render_human(report: Report, console: Console) -> None:
    """Print the report for a person: passing, failing, errored, then the recommendation."""
    from rich.markup import escape  # rich is imported only when a person will read the output

    console.print(f"[bold]{escape(report.repo_name)}[/] at {report.repo_head[:12]}")
    sections: list[tuple[str, str, list[AnalysisReport]]] = [
        ("PASSING", "green", report.passing),
        ("FAILING", "red", report.failing),
    ]
    for title, colour, analyses in sections:
        if not analyses:
            continue
        console.print(f"\n[bold {colour}]{title}[/]")
        for a in analyses:
            mark = "✔" if a.passed else "✘"
            console.print(f"  [{colour}]{mark}[/] [bold]{escape(a.name)}[/]: {escape(a.message)}")
            for concern in a.concerns:
                console.print(f"      concern: {escape(concern)}")
            for hint in a.hints:
                where = ":".join(str(p) for p in (hint.file, hint.line) if p is not None)
                console.print(
                    f"      hint: {escape(hint.message)}" + (f" ({where})" if where else "")
                )
    if report.errored:
        console.print("\n[bold yellow]ERRORED[/]")
        for e in report.errored:
            console.print(f"  [yellow]![/] [bold]{escape(e.name)}[/]: {escape(e.error.msg)}")
    rec = report.recommendation
    colour = "green" if rec.kind == "Pass" else "red"
    console.print(
        f"\n[bold {colour}]{rec.kind.upper()}[/]  risk score {rec.risk_score:.2f}"
        f" (policy {escape(rec.risk_policy)})"
    )
    if isinstance(rec.reason, dict):
        names = ", ".join(rec.reason["FailedAnalyses"])
        console.print(f"  investigate-if-fail: {escape(names)} failed")
    console.print(f"  policy hash {report.policy_hash[:16]}", style="dim")
    missing = sorted({m for sb in report.sandbox.values() for m in sb.not_in_force})
    if missing:  # the JSON report lists every protection; a person needs to hear of gaps
        console.print(f"  [yellow]sandbox not in force:[/] {escape('; '.join(missing))}")
