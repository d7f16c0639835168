"""Judging a run: policy expressions, errored analyses, investigate-if-fail, hints and concerns.

The plugins here are in-process objects served through the real bridge protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gitrepos import Commit

from hipcheck.check import run_check
from hipcheck.policy import parse
from hipcheck.report import Report
from hipcheck.target import resolve
from hipcheck.testing import InProcessLauncher, installed_plugin
from hipcheck_bridge import Engine, QueryError, hookimpl, query

RepoFactory = Callable[[str, Sequence[Commit]], Path]


class Constant:
    """An analysis whose default query returns a fixed value, with a concern and a hint."""

    def __init__(self, value: Any) -> None:
        self.value = value

    @hookimpl
    def hipcheck_queries(self) -> list[Any]:
        def answer(engine: Engine, key: Any) -> Any:
            engine.concern("looked at the target")
            engine.hint("see the README", file="README.md", line=3)
            return self.value

        return [query(answer, name="answer", default=True)]

    @hookimpl
    def hipcheck_default_policy_expr(self, config: dict[str, Any]) -> str:
        return "(eq $ 1)"


class Broken:
    @hookimpl
    def hipcheck_queries(self) -> list[Any]:
        def fail(engine: Engine, key: Any) -> Any:
            raise QueryError("no data")

        return [query(fail, name="fail", default=True)]


PLUGINS = {"t/one": Constant(1), "t/two": Constant(2), "t/broken": Broken()}


def check(repo: Path, policy_text: str) -> Report:
    installed = {name: installed_plugin(publisher="t", name=name[2:]) for name in PLUGINS}
    return asyncio.run(
        run_check(
            parse(policy_text, source="p.toml"),
            resolve(str(repo)),
            installed,
            InProcessLauncher(PLUGINS),
        )
    )


HEAD = '[plugins."t/one"]\n[plugins."t/two"]\n[plugins."t/broken"]\n'


def test_values_are_judged_by_the_plugins_default_expression(repo_factory: RepoFactory) -> None:
    repo = repo_factory("r", [Commit("2024-01-01T00:00:00+00:00")])
    report = check(repo, HEAD + '[analyze]\n"t/one" = {}\n"t/two" = {}\n')
    assert [a.name for a in report.passing] == ["t/one"]
    assert [a.name for a in report.failing] == ["t/two"]
    (one,) = report.passing
    assert (one.value, one.final_value, one.policy_expr) == (1, "1", "(eq $ 1)")
    assert one.concerns == ["looked at the target"]
    assert [(h.message, h.file, h.line) for h in one.hints] == [("see the README", "README.md", 3)]
    assert report.recommendation.risk_score == 0.5


def test_a_policy_expression_overrides_the_default(repo_factory: RepoFactory) -> None:
    repo = repo_factory("r", [Commit("2024-01-01T00:00:00+00:00")])
    report = check(repo, HEAD + '[analyze]\n"t/two" = { policy = "(gt $ 1)" }\n')
    assert [a.name for a in report.passing] == ["t/two"]
    assert report.recommendation.kind == "Pass"


def test_an_errored_analysis_counts_as_failed_by_default(repo_factory: RepoFactory) -> None:
    repo = repo_factory("r", [Commit("2024-01-01T00:00:00+00:00")])
    report = check(repo, HEAD + '[analyze]\n"t/one" = {}\n"t/broken" = { policy = "#t" }\n')
    (errored,) = report.errored
    assert errored.name == "t/broken"
    assert "query fail: no data" in errored.error.msg
    assert report.recommendation.risk_score == 0.5
    assert report.recommendation.kind == "Investigate"
    assert report.score_tree.children[1].outcome == "error"


def test_errored_pass_lets_an_errored_analysis_count_as_passed(repo_factory: RepoFactory) -> None:
    repo = repo_factory("r", [Commit("2024-01-01T00:00:00+00:00")])
    text = HEAD + '[analyze]\nerrored = "pass"\n"t/one" = {}\n"t/broken" = { policy = "#t" }\n'
    report = check(repo, text)
    assert [e.name for e in report.errored] == ["t/broken"]
    assert report.recommendation.risk_score == 0.0
    assert report.recommendation.kind == "Pass"


def test_investigate_if_fail_forces_investigation_whatever_the_score(
    repo_factory: RepoFactory,
) -> None:
    repo = repo_factory("r", [Commit("2024-01-01T00:00:00+00:00")])
    text = (
        HEAD + '[analyze]\ninvestigate = "(lt $ 0.9)"\ninvestigate-if-fail = ["t/two"]\n'
        '"t/one" = { weight = 9 }\n"t/two" = {}\n'
    )
    report = check(repo, text)
    assert report.recommendation.risk_score == 0.1
    assert report.recommendation.kind == "Investigate"
    assert report.recommendation.reason == {"FailedAnalyses": ["t/two"]}
