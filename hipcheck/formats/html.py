"""The report as one self-contained HTML page, for a person to read in a browser.

Everything the page needs is inline (CSS, SVG charts, a few lines of script), so the file can be
attached to a CI run, mailed, or opened offline; its Content-Security-Policy forbids loading
anything else and runs only the page's own script. Values, messages and hints come from
untrusted plugins, so every string from the report is escaped by :func:`_e` on the way in.

The page is built by plain functions rather than a template engine: it is one page with a
handful of repeated parts, and keeping hipcheck's dependencies small matters more here than
template syntax. Each function returns finished, escaped markup.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timezone
from typing import Any, Literal
from urllib.parse import urlsplit

from hipcheck.report import AnalysisReport, ErroredAnalysis, HintModel, Report, ScoreNode

# Charts are drawn in a 1000-unit-wide viewBox and scaled to the page width.
_WIDTH = 1000
# Series longer than this are drawn in bins, so a 16k-commit repository stays a small page.
_MAX_BARS = 500
_MAX_CELLS = 1000
# The raw value is shown in full up to this many characters; the JSON report has the rest.
_MAX_RAW = 100_000
# Average advance of a 12px sans-serif glyph, to decide whether a label fits its box.
_CHAR_WIDTH = 7.2

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda x, n: x > n,
    "gte": lambda x, n: x >= n,
    "lt": lambda x, n: x < n,
    "lte": lambda x, n: x <= n,
    "eq": lambda x, n: x == n,
    "neq": lambda x, n: x != n,
}
# A policy that counts elements with a comparison against a constant, e.g. (filter (gt 3.0) $),
# names the per-element threshold worth drawing; (gt 3.0) applied to x means x > 3.0.
_FILTER = re.compile(r"\(filter \((gt|gte|lt|lte|eq|neq) (-?\d+(?:\.\d+)?|#t|#f)\) \$\)")
# The usual investigate policies compare the score with one constant: (gt 0.5 $), (lte $ 0.4).
_SCORE_LIMIT = re.compile(r"^\(\s*(?:gt|gte|lt|lte)\s+(?:\$\s+(\d*\.?\d+)|(\d*\.?\d+)\s+\$)\s*\)$")


def to_html(report: Report) -> str:
    """The report as a complete HTML document (a ``str``), with no external resources."""
    target = _target(report)
    ids = _ids(report)
    body = "\n".join(
        [
            _header(report, target),
            _gauge_section(report),
            _tree_section(report.score_tree, ids),
            _analyses_section(report, ids),
            f"<footer><p>Made by hipcheck {_e(report.hipcheck_version)}. The JSON report "
            "(<code>--format json</code>) carries the same data for programs.</p></footer>",
        ]
    )
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    style_hash = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
    # Hashes rather than 'unsafe-inline': even if escaping ever failed, injected markup could
    # neither run script nor restyle the page, and nothing can be fetched from anywhere.
    csp = (
        f"default-src 'none'; script-src 'sha256-{script_hash}'; "
        f"style-src 'sha256-{style_hash}'; img-src data:; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>hipcheck: {_e(target)} {_e(report.recommendation.kind.upper())}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n"
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _e(value: object) -> str:
    """Escape anything for element content and quoted attribute values."""
    return html.escape(str(value), quote=True)


def _target(report: Report) -> str:
    return f"{report.repo_owner}/{report.repo_name}" if report.repo_owner else report.repo_name


def _pct(share: float) -> str:
    return f"{share:.0%}" if share >= 0.01 or share == 0 else "<1%"


def _num(value: float) -> str:
    return f"{value:.4g}"


def _ids(report: Report) -> dict[str, str]:
    """Each analysis's fragment id: only safe characters, unique within the page."""
    names = [a.name for a in report.failing] + [e.name for e in report.errored]
    names += [a.name for a in report.passing]
    names += [p.node.name for p in _place(report.score_tree) if p.node.kind == "analysis"]
    ids: dict[str, str] = {}
    for name in names:
        if name in ids:
            continue
        base = "a-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "analysis")
        slug, n = base, 2
        while slug in ids.values():
            slug, n = f"{base}-{n}", n + 1
        ids[name] = slug
    return ids


# -- header and score -------------------------------------------------------------------------


def _header(report: Report, target: str) -> str:
    rec = report.recommendation
    verdict = "pass" if rec.kind == "Pass" else "investigate"
    policy = f"<code>{_e(rec.risk_policy)}</code>"
    if isinstance(rec.reason, dict):
        names = ", ".join(rec.reason["FailedAnalyses"])
        why = f"{_e(names)} failed, and the policy's investigate-if-fail names them"
    elif rec.reason == "Policy":
        why = f"the risk score failed the investigate policy {policy}"
    else:
        why = f"the risk score meets the investigate policy {policy}"
    moment = report.analyzed_at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    iso = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = [
        ("commit", f'<code title="{_e(report.repo_head)}">{_e(report.repo_head[:12])}</code>'),
        ("analysed", f'<time datetime="{iso}">{shown}</time>'),
        ("policy", f"<code>{_e(report.policy_source)}</code>"),
        (
            "policy hash",
            f'<code title="{_e(report.policy_hash)}">{_e(report.policy_hash[:16])}</code>',
        ),
        ("hipcheck", _e(report.hipcheck_version)),
    ]
    items = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in meta)
    return (
        '<header class="top">\n<div class="ident">\n<p class="eyebrow">hipcheck report</p>\n'
        f'<h1>{_e(target)}</h1>\n<dl class="meta">{items}</dl>\n</div>\n'
        f'<div class="verdict {verdict}" role="status">\n'
        f'<p class="word">{_e(rec.kind.upper())}</p>\n'
        f'<p class="score">risk score <strong>{rec.risk_score:.2f}</strong></p>\n'
        f'<p class="why">{why}</p>\n</div>\n</header>'
    )


def _score_limit(policy: str) -> float | None:
    match = _SCORE_LIMIT.match(policy.strip())
    if match is None:
        return None
    limit = float(match.group(1) or match.group(2))
    return limit if 0 <= limit <= 1 else None


def _gauge_section(report: Report) -> str:
    rec = report.recommendation
    failed = [(a.name, a.weight, "fail") for a in report.failing]
    failed += [(e.name, e.weight, "error") for e in report.errored]
    height, top, bar = 70, 20, 26
    parts = [f'<rect class="track" x="0" y="{top}" width="{_WIDTH}" height="{bar}" rx="3"/>']
    x = 0.0
    for name, share, outcome in failed:
        w = share * _WIDTH
        tip = f"{name}: {outcome}, {_pct(share)} of the score"
        short = name.rsplit("/", 1)[-1]
        parts.append(
            f'<rect class="{outcome}" x="{x:.1f}" y="{top}" width="{w:.1f}" height="{bar}">'
            f"<title>{_e(tip)}</title></rect>"
            + _text(x + w / 2, top + bar / 2 + 4, _fit([f"{short} {_pct(share)}", short], w))
        )
        x += w
    for tick in (0, 0.25, 0.5, 0.75, 1):
        anchor = "start" if tick == 0 else "end" if tick == 1 else "middle"
        parts.append(
            f'<text class="tick" x="{tick * _WIDTH:.0f}" y="{height - 6}" '
            f'text-anchor="{anchor}">{tick:g}</text>'
        )
    limit = _score_limit(rec.risk_policy)
    if limit is not None:
        lx = min(max(limit * _WIDTH, 1), _WIDTH - 1)
        anchor = "end" if limit > 0.8 else "start"
        dx = -6 if anchor == "end" else 6
        parts.append(
            f'<line class="limit" x1="{lx:.1f}" x2="{lx:.1f}" y1="{top - 6}" y2="{top + bar + 6}">'
            f"<title>investigate policy {_e(rec.risk_policy)}</title></line>"
            f'<text class="limit-label" x="{lx + dx:.1f}" y="{top - 6}" text-anchor="{anchor}">'
            f"investigate policy {_e(rec.risk_policy)}</text>"
        )
    desc = (
        f"Risk score {rec.risk_score:.2f} of 1: the summed shares of "
        f"{len(report.failing)} failing and {len(report.errored)} errored analyses; "
        f"investigate policy {rec.risk_policy}."
    )
    svg = _svg(parts, height, "Risk score", desc, cls="gauge")
    return (
        '<section class="card" aria-labelledby="score-h">\n<h2 id="score-h">Risk score</h2>\n'
        f'<p class="lead">{rec.risk_score:.2f}: the share of the score held by failing and '
        f"errored analyses, judged by the investigate policy <code>{_e(rec.risk_policy)}</code>."
        f"</p>\n{svg}\n</section>"
    )


def _svg(parts: Sequence[str], height: int, title: str, desc: str, *, cls: str) -> str:
    return (
        f'<svg class="{cls}" viewBox="0 0 {_WIDTH} {height}" role="img" '
        f'preserveAspectRatio="xMinYMin meet"><title>{_e(title)}</title>'
        f"<desc>{_e(desc)}</desc>{''.join(parts)}</svg>"
    )


# -- the score tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    node: ScoreNode
    depth: int
    x: float


def _place(root: ScoreNode) -> list[_Placed]:
    """Every node below the root, depth first, at the offset its preceding siblings' shares give."""
    placed: list[_Placed] = []

    def walk(node: ScoreNode, depth: int, x: float) -> None:
        for child in node.children:
            placed.append(_Placed(child, depth, x))
            walk(child, depth + 1, x)
            x += child.share

    walk(root, 1, 0.0)
    return placed


_MARK = {"pass": "✔", "fail": "✘", "error": "!"}


def _fit(candidates: Sequence[str], width: float) -> str | None:
    """The first candidate that fits ``width``, else the last one cut short, else nothing."""
    room = int((width - 10) / _CHAR_WIDTH)
    for text in candidates:
        if len(text) <= room:
            return text
    return candidates[-1][: room - 1] + "…" if room >= 4 else None


def _text(x: float, y: float, text: str | None, cls: str = "lbl") -> str:
    if not text:
        return ""
    return f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{_e(text)}</text>'


def _tree_section(root: ScoreNode, ids: dict[str, str]) -> str:
    placed = _place(root)
    if not placed:
        return ""
    rows = max(p.depth for p in placed)
    row = 42
    height = rows * row
    parts: list[str] = []
    for p in placed:
        node = p.node
        x, w = p.x * _WIDTH, node.share * _WIDTH
        if w < 0.5:
            continue  # a zero-weight node has no area; the table below still lists it
        y = (p.depth - 1) * row
        short = node.name.rsplit("/", 1)[-1]
        pct = _pct(node.share)
        if node.kind == "analysis":
            # Leaves reach the bottom row, so that row reads as the whole score, pass or fail.
            h = height - y
            outcome = node.outcome or "unknown"
            mark = _MARK.get(outcome, "?")
            tip = f"{node.name}: {outcome}, weight {node.weight}, {pct} of the score"
            body = (
                f'<rect class="{outcome}" x="{x + 1:.1f}" y="{y + 1}" width="{w - 2:.1f}" '
                f'height="{h - 2}"><title>{_e(tip)}</title></rect>'
            )
            middle = y + h / 2
            name = _fit([f"{mark} {node.name}", f"{mark} {short}", short], w)
            body += _text(x + w / 2, middle - 3, name)
            body += _text(x + w / 2, middle + 13, _fit([pct], w))
            parts.append(f'<a href="#{ids[node.name]}">{body}</a>')
        else:
            tip = f"category {node.name}: weight {node.weight}, {pct} of the score"
            parts.append(
                f'<rect class="cat" x="{x + 1:.1f}" y="{y + 1}" width="{w - 2:.1f}" '
                f'height="{row - 2}"><title>{_e(tip)}</title></rect>'
            )
            label = _fit([f"{node.name} {pct}", node.name], w)
            parts.append(_text(x + w / 2, y + row / 2 + 4, label, "lbl cat-lbl"))
    leaves = [p.node for p in placed if p.node.kind == "analysis"]
    desc = "; ".join(f"{n.name} {n.outcome or 'unknown'} {_pct(n.share)}" for n in leaves)
    svg = _svg(parts, height, f"Score tree of {root.name}", desc, cls="tree")
    legend = "".join(
        f'<li><span class="swatch {cls}"></span>{text}</li>'
        for cls, text in (
            ("pass", "passed"),
            ("fail", "failed"),
            ("error", "errored (counts as failed)"),
            ("cat", "category"),
        )
    )
    table_rows = "".join(
        f'<tr><td class="d{min(p.depth, 6)}">{_e(p.node.name)}</td><td>{p.node.kind}</td>'
        f"<td>{p.node.weight}</td><td>{_pct(p.node.share)}</td>"
        f"<td>{_e(p.node.outcome or '')}</td></tr>"
        for p in placed
    )
    return (
        '<section class="card" aria-labelledby="tree-h">\n'
        '<h2 id="tree-h">What the score is made of</h2>\n'
        f"<p class=\"lead\">The policy's tree under <code>{_e(root.name)}</code>: each box's "
        "width is its share of the risk score. Select an analysis to jump to it.</p>\n"
        f'<figure>{svg}<figcaption><ul class="legend">{legend}</ul></figcaption></figure>\n'
        "<details><summary>The tree as a table</summary>\n"
        '<table class="tree-table"><thead><tr><th scope="col">node</th><th scope="col">kind'
        '</th><th scope="col">weight</th><th scope="col">share</th><th scope="col">outcome'
        f"</th></tr></thead><tbody>{table_rows}</tbody></table>\n</details>\n</section>"
    )


# -- analyses ---------------------------------------------------------------------------------


def _analyses_section(report: Report, ids: dict[str, str]) -> str:
    cards = [_analysis_card(a, ids[a.name]) for a in report.failing]
    cards += [_errored_card(e, ids[e.name]) for e in report.errored]
    cards += [_analysis_card(a, ids[a.name]) for a in report.passing]
    counts = "".join(
        # A zero count stays visible but neutral, so colour marks only what needs a look.
        f'<span class="chip {cls if n else "zero"}">{n} {word}</span>'
        for cls, n, word in (
            ("fail", len(report.failing), "failing"),
            ("error", len(report.errored), "errored"),
            ("pass", len(report.passing), "passing"),
        )
    )
    return (
        '<section aria-labelledby="analyses-h">\n<div class="section-head">'
        f'<h2 id="analyses-h">Analyses</h2><p class="chips">{counts}</p>'
        '<button type="button" id="toggle-details" hidden>Open all details</button></div>\n'
        + "\n".join(cards)
        + "\n</section>"
    )


def _analysis_card(analysis: AnalysisReport, anchor: str) -> str:
    outcome = "pass" if analysis.passed else "fail"
    series = _series(analysis.value)
    facts = [("policy", f"<code>{_e(analysis.policy_expr)}</code>")]
    if series is not None:
        facts.append(("value", _e(_series_summary(series, analysis.policy_expr))))
    else:
        # A JSON object has no expression spelling; a compact preview stands in for it.
        text = analysis.final_value
        if text is None:
            text = json.dumps(analysis.value, ensure_ascii=False, default=str)
        facts.append(("value", f"<code>{_e(_clip(text, 300))}</code>"))
    parts = [
        _card_head(outcome, analysis.name, analysis.weight),
        f'<p class="message">{_e(analysis.message)}</p>',
        '<dl class="facts">'
        + "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
        + "</dl>",
    ]
    if series is not None:
        parts.append(_series_chart(series, analysis.name, analysis.policy_expr))
    if analysis.concerns:
        items = "".join(f"<li>{_e(c)}</li>" for c in analysis.concerns)
        parts.append(f'<h4>Concerns</h4><ul class="concerns">{items}</ul>')
    if analysis.hints:
        items = "".join(_hint(h) for h in analysis.hints)
        parts.append(f'<h4>Hints</h4><ul class="hints">{items}</ul>')
    parts.append(
        f"<details><summary>Raw value</summary><pre>{_e(_raw(analysis.value, series))}</pre>"
        "</details>"
    )
    return _card(outcome, anchor, parts)


def _errored_card(errored: ErroredAnalysis, anchor: str) -> str:
    parts = [
        _card_head("error", errored.name, errored.weight),
        '<p class="message">The analysis produced no result, so it counts as failed.</p>',
        f'<pre class="error-msg">{_e(errored.error.msg)}</pre>',
    ]
    return _card("error", anchor, parts)


def _card(outcome: str, anchor: str, parts: Iterable[str]) -> str:
    inner = "\n".join(parts)
    return f'<article class="card analysis {outcome}" id="{anchor}">\n{inner}\n</article>'


def _card_head(outcome: str, name: str, share: float) -> str:
    word = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[outcome]
    return (
        f'<div class="card-head"><span class="badge {outcome}">{word}</span>'
        f"<h3>{_e(name)}</h3>"
        f'<span class="share" title="this analysis\'s share of the risk score">'
        f"{_pct(share)} of the score</span></div>"
    )


def _hint(hint: HintModel) -> str:
    where: list[str] = []
    if hint.file:
        spot = hint.file + (f":{hint.line}" if hint.line is not None else "")
        where.append(f'<code class="file">{_e(spot)}</code>')
    if hint.commit:
        where.append(f'commit <code title="{_e(hint.commit)}">{_e(hint.commit[:12])}</code>')
    if hint.url:
        # Only web links become links: a plugin's javascript: or data: URL stays inert text.
        if urlsplit(hint.url).scheme.lower() in ("http", "https"):
            where.append(f'<a href="{_e(hint.url)}" rel="noopener noreferrer">{_e(hint.url)}</a>')
        else:
            where.append(f"<code>{_e(hint.url)}</code>")
    text = f'<p class="hint-msg">{_e(hint.message)}</p>'
    if where:
        text += f'<p class="where">{" · ".join(where)}</p>'
    if hint.remediation:
        text += f'<p class="fix"><strong>Remediation:</strong> {_e(hint.remediation)}</p>'
    return f"<li>{text}</li>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _raw(value: Any, series: _Series | None) -> str:
    # A series reads best on wrapped lines; anything else is indented so its shape shows.
    indent = None if series is not None else 2
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    if len(text) > _MAX_RAW:
        return text[:_MAX_RAW] + f"\n… {len(text) - _MAX_RAW} more characters in the JSON report"
    return text


# -- series charts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    kind: Literal["bool", "number"]
    values: list[float]  # booleans as 1.0 / 0.0


@dataclass(frozen=True)
class _Filter:
    """The comparison a policy counts elements with, as in ``(filter (gt 3.0) $)``."""

    op: str
    limit: float
    spelling: str

    def matches(self, x: float) -> bool:
        return _COMPARE[self.op](x, self.limit)


def _series(value: Any) -> _Series | None:
    """A JSON array of booleans or of numbers, the values worth a chart."""
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, bool) for v in value):
        return _Series("bool", [1.0 if v else 0.0 for v in value])
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        numbers = [float(v) for v in value]
        if all(math.isfinite(v) for v in numbers):
            return _Series("number", numbers)
    return None


def _element_filter(policy_expr: str) -> _Filter | None:
    match = _FILTER.search(policy_expr)
    if match is None:
        return None
    op, arg = match.groups()
    limit = {"#t": 1.0, "#f": 0.0}.get(arg)
    return _Filter(op, float(arg) if limit is None else limit, f"({op} {arg})")


def _series_summary(series: _Series, policy_expr: str) -> str:
    n = len(series.values)
    if series.kind == "bool":
        true = int(sum(series.values))
        return f"{n} booleans: {true} true ({true / n:.0%}), {n - true} false"
    values = sorted(series.values)
    text = (
        f"{n} numbers: min {_num(values[0])}, median {_num(values[n // 2])}, max {_num(values[-1])}"
    )
    rule = _element_filter(policy_expr)
    if rule is not None:
        hits = sum(1 for v in series.values if rule.matches(v))
        text += f"; {hits} match the policy's filter {rule.spelling}"
    return text


def _series_chart(series: _Series, name: str, policy_expr: str) -> str:
    rule = _element_filter(policy_expr)
    matches = (
        ""
        if rule is None
        else f'<li><span class="swatch hit"></span>matches the policy\'s filter '
        f"<code>{_e(rule.spelling)}</code></li>"
    )
    if series.kind == "bool":
        svg = _bool_strip(series.values, name, rule)
        if rule is not None:
            legend = matches + '<li><span class="swatch other"></span>does not</li>'
        else:
            legend = (
                '<li><span class="swatch true"></span>true</li>'
                '<li><span class="swatch false"></span>false</li>'
            )
    else:
        svg = _bar_chart(series.values, name, rule)
        legend = '<li><span class="swatch bar"></span>value</li>' + matches
    caption = f'<figcaption><ul class="legend">{legend}</ul></figcaption>'
    return f'<figure class="series">{svg}{caption}</figure>'


def _bins(n: int, limit: int) -> list[tuple[int, int]]:
    """Index ranges [start, end) covering n elements in at most ``limit`` bins."""
    size = max(1, math.ceil(n / limit))
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def _bool_strip(values: list[float], name: str, rule: _Filter | None) -> str:
    bins = _bins(len(values), _MAX_CELLS)
    cols = min(len(bins), 100)
    cell_w = min(24.0, _WIDTH / cols)
    cell_h = 18
    rows = math.ceil(len(bins) / cols)
    parts: list[str] = []
    for i, (start, end) in enumerate(bins):
        chunk = values[start:end]
        share_true = sum(chunk) / len(chunk)
        if rule is not None:
            matched = sum(1 for v in chunk if rule.matches(v)) / len(chunk)
            cls, strength = ("hit", matched) if matched else ("other", 1.0)
        else:
            cls, strength = ("true", share_true) if share_true else ("false", 1.0)
        if end - start == 1:
            tip = f"#{start + 1}: {'true' if chunk[0] else 'false'}"
        else:
            tip = f"#{start + 1} to #{end}: {share_true:.0%} true"
        x, y = (i % cols) * cell_w, (i // cols) * (cell_h + 3)
        opacity = "" if strength == 1.0 else f' fill-opacity="{0.25 + 0.75 * strength:.2f}"'
        parts.append(
            f'<rect class="{cls}" x="{x + 0.5:.1f}" y="{y}" width="{max(cell_w - 1, 0.5):.1f}" '
            f'height="{cell_h}"{opacity}><title>{_e(tip)}</title></rect>'
        )
    height = rows * (cell_h + 3)
    true = int(sum(values))
    desc = f"{len(values)} values in order, {true} true and {len(values) - true} false."
    return _svg(parts, height, f"{name}: each value in order", desc, cls="strip")


def _bar_chart(values: list[float], name: str, rule: _Filter | None) -> str:
    height, left, top, bottom = 200, 56, 12, 22
    plot_w, plot_h = _WIDTH - left - 4, height - top - bottom
    # The axis always shows zero and the filter's constant, so bars and threshold compare.
    marks = [0.0, *values, *([rule.limit] if rule is not None else [])]
    low, high = min(marks), max(marks)
    if high == low:
        high = low + 1.0

    def y_of(v: float) -> float:
        return top + (high - v) / (high - low) * plot_h

    base = y_of(0.0)
    bins = _bins(len(values), _MAX_BARS)
    step = plot_w / len(bins)
    parts = [
        f'<line class="axis" x1="{left}" x2="{_WIDTH - 4}" y1="{base:.1f}" y2="{base:.1f}"/>',
        f'<text class="tick" x="{left - 6}" y="{top + 4}" text-anchor="end">{_num(high)}</text>',
        f'<text class="tick" x="{left - 6}" y="{top + plot_h + 4}" text-anchor="end">'
        f"{_num(low)}</text>",
        f'<text class="tick" x="{left}" y="{height - 4}">1</text>',
        f'<text class="tick" x="{_WIDTH - 4}" y="{height - 4}" text-anchor="end">'
        f"{len(values)}</text>",
    ]
    if low < 0 < high:
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{base + 4:.1f}" text-anchor="end">0</text>'
        )
    for i, (start, end) in enumerate(bins):
        chunk = values[start:end]
        v = max(chunk, key=abs)  # a bin shows its most extreme value, so spikes survive binning
        hit = rule is not None and any(rule.matches(c) for c in chunk)
        y0, y1 = sorted((base, y_of(v)))
        span = f"#{start + 1}" if end - start == 1 else f"#{start + 1} to #{end}"
        tip = f"{span}: {_num(v)}"
        parts.append(
            f'<rect class="{"hit" if hit else "bar"}" x="{left + i * step + step * 0.1:.2f}" '
            f'y="{y0:.1f}" width="{max(step * 0.8, 0.5):.2f}" height="{max(y1 - y0, 1):.1f}">'
            f"<title>{_e(tip)}</title></rect>"
        )
    if rule is not None:
        ly = y_of(rule.limit)
        parts.append(
            f'<line class="limit" x1="{left}" x2="{_WIDTH - 4}" y1="{ly:.1f}" y2="{ly:.1f}">'
            f"<title>policy filter {_e(rule.spelling)}</title></line>"
            f'<text class="limit-label" x="{_WIDTH - 8}" y="{ly - 5:.1f}" text-anchor="end">'
            f"{_e(rule.spelling)}</text>"
        )
    desc = f"{len(values)} values in order, from {_num(min(values))} to {_num(max(values))}" + (
        f"; the policy counts values matching {rule.spelling}." if rule is not None else "."
    )
    return _svg(parts, height, f"{name}: each value in order", desc, cls="bars")


# -- page assets ------------------------------------------------------------------------------

# Progressive enhancement only: the page reads the same without it. It shows the analysis time
# in the reader's own time zone and offers one button to open or close every <details>.
_SCRIPT = """
document.documentElement.dataset.js = "ready";
for (const t of document.querySelectorAll("time[datetime]")) {
  const d = new Date(t.dateTime);
  if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(); }
}
const toggle = document.getElementById("toggle-details");
if (toggle) {
  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    const all = [...document.querySelectorAll("details")];
    const open = !all.every((d) => d.open);
    all.forEach((d) => { d.open = open; });
    toggle.textContent = open ? "Close all details" : "Open all details";
  });
}
"""

_CSS = """
:root {
  color-scheme: light dark;
  --bg: #f4f5f7; --fg: #1b2130; --muted: #5a6375; --card: #ffffff; --border: #dde1e8;
  --pass: #23824a; --fail: #c62f2a; --error: #b35f00; --unknown: #8a93a3;
  --cat: #e4e8ef; --cat-fg: #2b3345; --track: #e6e9ef;
  --true: #3d63c9; --false: #d3d8e1; --hit: #d2452f; --other: #c9ced8; --bar: #5873c4;
  --code: #eef0f4; --link: #2653b8;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #12151b; --fg: #e3e6ec; --muted: #9aa3b2; --card: #1b1f27; --border: #2d333e;
    --pass: #36a862; --fail: #e5534b; --error: #e09a2c; --unknown: #6b7382;
    --cat: #2c3340; --cat-fg: #d6dbe4; --track: #2a303b;
    --true: #6b8fef; --false: #3a414e; --hit: #f06a4f; --other: #3e4552; --bar: #7d96e0;
    --code: #262b35; --link: #8fb0ff;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 40px; }
h1, h2, h3, h4 { line-height: 1.25; margin: 0; }
h2 { font-size: 1.25rem; margin-bottom: 6px; }
h4 { font-size: 0.8rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
  margin: 14px 0 4px; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: 0.86em; }
code { background: var(--code); padding: 1px 5px; border-radius: 4px; overflow-wrap: anywhere; }
pre { background: var(--code); padding: 10px 12px; border-radius: 6px; overflow: auto;
  max-height: 24em; white-space: pre-wrap; overflow-wrap: anywhere; margin: 8px 0 0; }
a { color: var(--link); overflow-wrap: anywhere; }
.card { background: var(--card); border: 1px solid var(--border); border-radius: 10px;
  padding: 16px 20px; margin: 16px 0; }
.lead { color: var(--muted); margin: 0 0 10px; }
.top { display: grid; grid-template-columns: 1fr auto; gap: 20px; align-items: stretch; }
.eyebrow { margin: 0; color: var(--muted); font-size: 0.8rem; text-transform: uppercase;
  letter-spacing: .08em; }
h1 { font-size: 2rem; overflow-wrap: anywhere; margin: 2px 0 10px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 22px; margin: 0; }
.meta div { display: flex; gap: 6px; align-items: baseline; }
.meta dt { color: var(--muted); font-size: 0.85rem; }
.meta dd { margin: 0; }
.verdict { min-width: 260px; border-radius: 12px; padding: 14px 22px; color: #fff;
  display: flex; flex-direction: column; justify-content: center; }
.verdict.pass { background: var(--pass); }
.verdict.investigate { background: var(--fail); }
.verdict p { margin: 0; }
.verdict .word { font-size: 2.3rem; font-weight: 800; letter-spacing: .04em; line-height: 1.1; }
.verdict .score { font-size: 1.05rem; }
.verdict .score strong { font-size: 1.35rem; }
.verdict .why { font-size: 0.85rem; opacity: .92; max-width: 340px; }
.verdict code { background: rgba(255, 255, 255, .18); color: #fff; white-space: nowrap; }
svg { display: block; width: 100%; height: auto; overflow: visible; }
svg text { font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 12px; fill: var(--fg); }
svg .tick { fill: var(--muted); font-size: 11px; }
svg .lbl { fill: #fff; font-weight: 600; pointer-events: none; }
svg .cat-lbl { fill: var(--cat-fg); font-weight: 500; }
svg .limit-label { fill: var(--fg); font-size: 11px; font-weight: 600; }
.track { fill: var(--track); }
.pass { fill: var(--pass); } .fail { fill: var(--fail); } .error { fill: var(--error); }
.unknown { fill: var(--unknown); } .cat { fill: var(--cat); }
.true { fill: var(--true); } .false { fill: var(--false); } .hit { fill: var(--hit); }
.other { fill: var(--other); } .bar { fill: var(--bar); }
.limit { stroke: var(--fg); stroke-width: 2; stroke-dasharray: 5 3; }
.axis { stroke: var(--muted); stroke-width: 1; }
.tree a:hover rect, .tree a:focus rect { opacity: .82; }
figure { margin: 0; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 18px; padding: 0;
  margin: 8px 0 0; color: var(--muted); font-size: 0.85rem; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px;
  margin-right: 6px; vertical-align: -1px; }
.swatch.pass { background: var(--pass); } .swatch.fail { background: var(--fail); }
.swatch.error { background: var(--error); } .swatch.cat { background: var(--cat);
  border: 1px solid var(--border); }
.swatch.true { background: var(--true); } .swatch.false { background: var(--false); }
.swatch.hit { background: var(--hit); } .swatch.other { background: var(--other); }
.swatch.bar { background: var(--bar); }
details { margin-top: 10px; }
summary { cursor: pointer; color: var(--muted); }
table { border-collapse: collapse; margin-top: 8px; font-size: 0.9rem; }
th, td { text-align: left; padding: 3px 14px 3px 0; border-bottom: 1px solid var(--border); }
.d2 { padding-left: 1.2em; } .d3 { padding-left: 2.4em; } .d4 { padding-left: 3.6em; }
.d5 { padding-left: 4.8em; } .d6 { padding-left: 6em; }
.section-head { display: flex; align-items: center; gap: 16px; flex-wrap: wrap;
  margin-top: 28px; }
.section-head h2 { margin: 0; }
.chips { margin: 0; display: flex; gap: 8px; }
.chip { border-radius: 999px; padding: 2px 10px; font-size: 0.85rem; color: #fff; }
.chip.fail { background: var(--fail); } .chip.error { background: var(--error); }
.chip.pass { background: var(--pass); }
.chip.zero { color: var(--muted); border: 1px solid var(--border); }
button { margin-left: auto; font: inherit; font-size: 0.85rem; color: var(--fg);
  background: var(--card); border: 1px solid var(--border); border-radius: 6px;
  padding: 4px 12px; cursor: pointer; }
.analysis { border-left: 6px solid var(--border); }
.analysis.fail { border-left-color: var(--fail); }
.analysis.error { border-left-color: var(--error); }
.analysis.pass { border-left-color: var(--pass); }
.card-head { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.card-head h3 { font-size: 1.1rem; overflow-wrap: anywhere; }
.share { margin-left: auto; color: var(--muted); font-size: 0.85rem; }
.badge { font-size: 0.75rem; font-weight: 700; letter-spacing: .06em; color: #fff;
  border-radius: 4px; padding: 2px 8px; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.error { background: var(--error); }
.message { font-size: 1.02rem; margin: 10px 0 6px; }
.facts { margin: 0; display: grid; gap: 4px; }
.facts div { display: grid; grid-template-columns: 5em 1fr; gap: 8px; }
.facts dt { color: var(--muted); font-size: 0.85rem; padding-top: 2px; }
.facts dd { margin: 0; }
.series { margin-top: 12px; }
.concerns, .hints { margin: 0; padding-left: 20px; }
.hints li { margin-bottom: 8px; }
.hints p { margin: 0; }
.where { color: var(--muted); font-size: 0.88rem; }
.fix { font-size: 0.92rem; }
.error-msg { color: var(--fg); border-left: 3px solid var(--error); }
footer { color: var(--muted); font-size: 0.85rem; margin-top: 28px; }
@media (max-width: 700px) { .top { grid-template-columns: 1fr; } }
"""
