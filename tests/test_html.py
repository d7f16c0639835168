"""The HTML report: a well-formed, self-contained, escaped page that a real browser renders."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from hipcheck.formats.html import to_html
from hipcheck.policy import Analysis, Category
from hipcheck.report import (
    AnalysisReport,
    ErroredAnalysis,
    ErrorReport,
    HintModel,
    Recommendation,
    Report,
)
from hipcheck.scoring import risk_score, score_tree, shares

CHROMIUM = Path("/usr/bin/chromium")

TREE = Category(
    "analyze",
    1,
    (
        Category(
            "practices",
            1,
            (Analysis("hipcheck/activity", 1, None, {}), Analysis("mitre/review", 1, None, {})),
        ),
        Category(
            "attacks",
            2,
            (
                Analysis("mitre/typo", 1, None, {}),
                Category(
                    "commit",
                    3,
                    (
                        Analysis("hipcheck/identity", 2, None, {}),
                        Analysis("mitre/churn", 1, None, {}),
                        Analysis("mitre/entropy", 1, None, {}),
                    ),
                ),
            ),
        ),
    ),
)
SHARES = shares(TREE)


def _analysis(name: str, *, passed: bool, **fields: Any) -> AnalysisReport:
    return AnalysisReport(name=name, passed=passed, weight=SHARES[name], **fields)


def _report(*, passing: list[AnalysisReport], failing: list[AnalysisReport]) -> Report:
    errored = [
        ErroredAnalysis(
            analysis="mitre/typo",
            name="mitre/typo",
            error=ErrorReport(
                msg="plugin mitre/typo crashed (exit code 1); the end of its stderr:\n"
                'Traceback (most recent call last):\n  File "typo.py", line 12\n'
                "KeyError: 'dependencies'"
            ),
            weight=SHARES["mitre/typo"],
        )
    ]
    outcomes: dict[str, Any] = {a.name: "pass" for a in passing}
    outcomes |= {a.name: "fail" for a in failing}
    outcomes |= {e.name: "error" for e in errored}
    score = risk_score(TREE, {n: o != "pass" for n, o in outcomes.items()})
    return Report(
        repo_name="left-pad",
        repo_owner="stevemao",
        repo_head="3f2c9a41d0b7e6c5a4f3e2d1c0b9a8f7e6d5c4b3",
        hipcheck_version="0.1.0",
        analyzed_at=datetime(2026, 11, 25, 8, 13, 59, tzinfo=timezone.utc),
        passing=passing,
        failing=failing,
        errored=errored,
        recommendation=Recommendation(
            kind="Investigate", reason="Policy", risk_score=score, risk_policy="(gt 0.5 $)"
        ),
        score_tree=score_tree(TREE, outcomes),
        policy_hash="e4b681965dd6d4ccff1f5a25298fabe0a03c5b79b6f9c1ae341e277497d0fe24",
        policy_source="hipcheck.toml",
    )


def _churn() -> list[float]:
    rng = random.Random(7)
    values = [round(rng.gauss(0, 1), 3) for _ in range(120)]
    values[17], values[64], values[101] = 3.8, 4.6, 3.2
    return values


def sample_report() -> Report:
    """A realistic report: a 200-commit boolean series, float series, hints, an errored plugin."""
    rng = random.Random(3)
    identity = [rng.random() < 0.85 for _ in range(200)]
    true = sum(identity)
    churn = _churn()
    failing = [
        _analysis(
            "hipcheck/identity",
            passed=False,
            policy_expr="(lte (divz (count (filter (eq #t) $)) (count $)) 0.2)",
            value=identity,
            final_value="[" + " ".join("#t" if v else "#f" for v in identity) + "]",
            message=f"the percent of commits whose author also committed them was "
            f"{true / 2:.1f}%, which was required to be at most 20.0%",
            hints=[
                HintModel(
                    message="most changes land without a second person",
                    remediation="require pull-request review on the default branch",
                    url="https://docs.example.org/branch-protection",
                )
            ],
        ),
        _analysis(
            "mitre/churn",
            passed=False,
            policy_expr="(lte (divz (count (filter (gt 3.0) $)) (count $)) 0.02)",
            value=churn,
            final_value=None,
            message="the percent of commits with a churn z-score above 3.0 was 2.5%, "
            "which was required to be at most 2.0%",
            concerns=["commit 9e1f0c2 rewrote 4,812 lines in src/index.js"],
            hints=[
                HintModel(
                    message="an unusually large change to the package's entry point",
                    file="src/index.js",
                    line=42,
                    commit="9e1f0c2b7a6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f",
                ),
                HintModel(
                    message="a generated file is committed",
                    file="dist/left-pad.min.js",
                    remediation="build it in CI instead",
                ),
            ],
        ),
    ]
    passing = [
        _analysis(
            "hipcheck/activity",
            passed=True,
            policy_expr="(lte $ P71w)",
            value="P2dT4h",
            final_value="P2dT4h",
            message="the time elapsed since the most recent commit was 2 days 4 hours, "
            "which was required to be at most 71 weeks",
        ),
        _analysis(
            "mitre/review",
            passed=True,
            policy_expr="(lte (divz #reviewed #total) 1)",
            value={"reviewed": 12, "total": 30, "reviewers": ["alice", "bob"]},
            final_value=None,
            message="the value of mitre/review",
            hints=[HintModel(message="reviews come from two people only")],
        ),
        _analysis(
            "mitre/entropy",
            passed=True,
            policy_expr="(eq 0 (count (filter (gt 8.0) $)))",
            value=[round(abs(random.Random(i).gauss(2, 1.2)), 2) for i in range(40)],
            final_value=None,
            message="the number of commits with entropy above 8.0 was 0, which was required "
            "to be 0",
        ),
    ]
    return _report(passing=passing, failing=failing)


HOSTILE = "<script>alert('x')</script>"


def hostile_report() -> Report:
    """Every string a plugin controls carries markup."""
    report = sample_report()
    evil = _analysis(
        "hipcheck/identity",
        passed=False,
        policy_expr='(eq $ "<b>")',
        value=[HOSTILE, {"k": '"><img src=x onerror=alert(1)>'}],
        final_value=HOSTILE,
        message=f"message {HOSTILE}",
        concerns=[f"concern {HOSTILE}"],
        hints=[
            HintModel(
                message=f"hint {HOSTILE}",
                file=f"src/{HOSTILE}.js",
                commit=HOSTILE,
                url="javascript:alert(1)",
                remediation=f"fix {HOSTILE}",
            )
        ],
    )
    return report.model_copy(update={"failing": [evil, *report.failing[1:]]})


class _Page(HTMLParser):
    """Collects what the tests inspect, and checks every element is closed in order."""

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self.mismatched: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.mismatched.append(tag)
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] == "script":
            self.scripts.append(data)
        else:
            self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def test_the_page_is_well_formed() -> None:
    parser = _parse(to_html(sample_report()))
    assert parser.mismatched == []
    assert parser.open == []
    assert parser.tags[0][0] == "html"


def test_the_header_shows_target_commit_and_recommendation() -> None:
    text = " ".join(_parse(to_html(sample_report())).text)
    assert "stevemao/left-pad" in text
    assert "3f2c9a41d0b7" in text
    assert "INVESTIGATE" in text
    assert "(gt 0.5 $)" in text


@pytest.mark.parametrize(
    ("kind", "reason", "why"),
    [
        ("Pass", None, "the risk score meets the investigate policy (gt 0.5 $)"),
        ("Investigate", "Policy", "the risk score failed the investigate policy (gt 0.5 $)"),
        (
            "Investigate",
            {"FailedAnalyses": ["mitre/churn"]},
            "mitre/churn failed, and the policy's investigate-if-fail names them",
        ),
    ],
)
def test_the_header_says_why_the_recommendation_was_made(kind: str, reason: Any, why: str) -> None:
    report = sample_report()
    rec = report.recommendation.model_copy(update={"kind": kind, "reason": reason})
    parser = _parse(to_html(report.model_copy(update={"recommendation": rec})))
    verdict = next(a for t, a in parser.tags if "verdict" in (a.get("class") or ""))
    assert verdict["class"] == f"verdict {kind.lower()}"
    assert why in "".join(parser.text)
    assert kind.upper() in parser.text


def test_nothing_is_loaded_from_outside_the_file() -> None:
    report = sample_report()
    hint_urls = {h.url for a in report.failing + report.passing for h in a.hints if h.url}
    for tag, attrs in _parse(to_html(report)).tags:
        assert "src" not in attrs, tag
        href = attrs.get("href")
        if href is not None:
            assert href.startswith("#") or (tag == "a" and href in hint_urls), (tag, href)
    assert "@import" not in to_html(report) and "url(" not in to_html(report)


def test_only_the_pages_own_script_may_run() -> None:
    page = to_html(sample_report())
    parser = _parse(page)
    assert len(parser.scripts) == 1
    csp = next(
        a["content"] for t, a in parser.tags if a.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None and "default-src 'none'" in csp and "unsafe-inline" not in csp


def test_markup_from_a_plugin_is_inert_text() -> None:
    page = to_html(hostile_report())
    parser = _parse(page)
    assert len(parser.scripts) == 1  # only the page's own
    assert all(tag != "img" for tag, _ in parser.tags)
    assert all(not any(k.startswith("on") for k in attrs) for _, attrs in parser.tags)
    text = "".join(parser.text)
    for where in ("message", "concern", "hint", "fix"):
        assert f"{where} {HOSTILE}" in text  # shown to the reader, as text


def test_a_javascript_hint_url_is_not_a_link() -> None:
    parser = _parse(to_html(hostile_report()))
    assert all("javascript:" not in (a.get("href") or "") for _, a in parser.tags)
    assert "javascript:alert(1)" in "".join(parser.text)


def test_every_analysis_has_a_section_the_tree_links_to() -> None:
    parser = _parse(to_html(sample_report()))
    ids = {a["id"] for t, a in parser.tags if t == "article"}
    links = {
        a["href"] for t, a in parser.tags if t == "a" and (a.get("href") or "").startswith("#")
    }
    assert len(ids) == 6
    assert links == {f"#{i}" for i in ids if i is not None}


def test_series_values_get_a_chart_with_one_mark_per_value() -> None:
    parser = _parse(to_html(sample_report()))
    svgs = [a.get("class") for t, a in parser.tags if t == "svg"]
    assert svgs.count("strip") == 1  # identity's booleans
    assert svgs.count("bars") == 2  # churn and entropy
    titles = [d for d in parser.text if d.startswith("#")]
    assert "#200: true" in titles or "#200: false" in titles
    assert len([t for t in titles if t.endswith(("true", "false"))]) == 200


def test_the_policy_filter_threshold_is_drawn_and_its_matches_marked() -> None:
    parser = _parse(to_html(sample_report()))
    assert "3 match the policy's filter (gt 3.0)" in "".join(parser.text)
    hits = [a for t, a in parser.tags if t == "rect" and a.get("class") == "hit"]
    # churn's three spikes, plus identity's true commits (its policy filters on (eq #t))
    assert len(hits) == 3 + sum(sample_report().failing[0].value)


def test_long_series_are_binned() -> None:
    report = sample_report()
    long = report.failing[1].model_copy(update={"value": [float(i % 7) for i in range(20_000)]})
    page = to_html(report.model_copy(update={"failing": [report.failing[0], long]}))
    bars = page.split('class="bars"')[1].split("</svg>")[0]
    assert 100 < bars.count("<rect") <= 501
    assert len(page) < 1_500_000


# -- in a real browser ----------------------------------------------------------------------


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(apt-get install chromium)"
        )
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def page_file(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(to_html(sample_report()), encoding="utf-8")
    return path


@pytest.mark.browser
def test_the_browser_renders_a_screenshot(
    page_file: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shot = tmp_path / "shot.png"
    result = _chromium(
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1280,1600",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        page_file.as_uri(),
    )
    assert shot.exists(), result.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert (width, height) == (1280, 1600)
    assert len(data) > 50_000  # a blank page is a few kB; charts and text are far more
    # Chromium logs each console message (errors, CSP refusals) as INFO:CONSOLE.
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    keep = tmp_path_factory.getbasetemp() / "html-report-screenshot.png"
    shutil.copyfile(shot, keep)
    shutil.copyfile(page_file, keep.with_suffix(".html"))
    print(f"screenshot: {keep}")


@pytest.mark.browser
def test_the_pages_script_runs_in_the_browser(page_file: Path, tmp_path: Path) -> None:
    result = _chromium(tmp_path, "--dump-dom", page_file.as_uri())
    assert result.returncode == 0, result.stderr
    dom = result.stdout
    assert 'data-js="ready"' in dom
    # The script shows the time in the reader's zone and reveals the details toggle.
    assert 'title="2026-11-25 08:13 UTC"' in dom
    assert '<button type="button" id="toggle-details">' in dom
