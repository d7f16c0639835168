"""Risk scores from the weighted analysis tree."""

from __future__ import annotations

import pytest

from hipcheck.policy import Analysis, Category
from hipcheck.scoring import risk_score, score_tree, shares


def _leaf(name: str, weight: int = 1) -> Analysis:
    return Analysis(name, weight, None, {})


# practices (weight 10): review 4, activity 5; attacks (weight 15): review2 6, entropy 7
TREE = Category(
    "root",
    1,
    (
        Category("practices", 10, (_leaf("t/review", 4), _leaf("t/activity", 5))),
        Category("attacks", 15, (_leaf("t/code", 6), _leaf("t/entropy", 7))),
    ),
)


def test_shares_are_products_of_sibling_normalised_weights() -> None:
    s = shares(TREE)
    assert s["t/review"] == pytest.approx(0.4 * 4 / 9)
    assert s["t/activity"] == pytest.approx(0.4 * 5 / 9)
    assert s["t/code"] == pytest.approx(0.6 * 6 / 13)
    assert s["t/entropy"] == pytest.approx(0.6 * 7 / 13)
    assert sum(s.values()) == pytest.approx(1.0)


def test_score_sums_failing_shares_rounded_to_two_decimals() -> None:
    assert risk_score(TREE, {"t/review": True, "t/activity": True}) == 0.4
    assert risk_score(TREE, {"t/entropy": True}) == round(0.6 * 7 / 13, 2) == 0.32
    assert risk_score(TREE, {}) == 0.0


def test_zero_weights_give_no_share() -> None:
    tree = Category("root", 1, (_leaf("t/a", 0), _leaf("t/b", 0)))
    assert shares(tree) == {"t/a": 0.0, "t/b": 0.0}
    assert risk_score(tree, {"t/a": True}) == 0.0


def test_the_score_tree_carries_weights_shares_and_outcomes() -> None:
    tree = score_tree(TREE, {"t/review": "fail", "t/activity": "pass", "t/code": "error"})
    practices, attacks = tree.children
    assert (tree.kind, tree.share) == ("category", 1.0)
    assert (practices.name, practices.weight, practices.share) == ("practices", 10, 0.4)
    review = practices.children[0]
    assert (review.name, review.kind, review.outcome) == ("t/review", "analysis", "fail")
    assert review.share == pytest.approx(0.4 * 4 / 9)
    assert attacks.children[0].outcome == "error"
    assert attacks.children[1].outcome is None
