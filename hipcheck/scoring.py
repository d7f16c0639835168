"""The risk score: each analysis's share of the policy's weighted tree, summed over failures.

Weights are normalised among siblings at every level; an analysis's share is the product of the
normalised weights on its path from the root. A passing analysis scores 0 and a failing (or
errored) one 1, and the risk score is the sum of share x score, rounded to two decimals.
"""

from __future__ import annotations

from collections.abc import Mapping

from hipcheck.policy import Analysis, Category
from hipcheck.report import Outcome, ScoreNode


def shares(root: Category) -> dict[str, float]:
    """Each analysis's share of the whole score; they sum to 1 unless every weight is 0."""
    result: dict[str, float] = {}

    def walk(node: Category | Analysis, share: float) -> None:
        if isinstance(node, Analysis):
            result[node.plugin] = share
            return
        total = sum(child.weight for child in node.children)
        for child in node.children:
            walk(child, share * child.weight / total if total else 0.0)

    walk(root, 1.0)
    return result


def risk_score(root: Category, failed: Mapping[str, bool]) -> float:
    """Sum the shares of the analyses that ``failed`` maps to True."""
    score = sum(share for name, share in shares(root).items() if failed.get(name, False))
    return round(score, 2)


def score_tree(root: Category, outcomes: Mapping[str, Outcome]) -> ScoreNode:
    """The tree for the report: every node's weight and share, every analysis's outcome."""

    def build(node: Category | Analysis, share: float) -> ScoreNode:
        if isinstance(node, Analysis):
            return ScoreNode(
                name=node.plugin,
                kind="analysis",
                weight=node.weight,
                share=share,
                outcome=outcomes.get(node.plugin),
            )
        total = sum(child.weight for child in node.children)
        return ScoreNode(
            name=node.name,
            kind="category",
            weight=node.weight,
            share=share,
            children=[build(c, share * c.weight / total if total else 0.0) for c in node.children],
        )

    return build(root, 1.0)
