"""Cargo-style version requirements, with Hipcheck's exact bare versions."""

from __future__ import annotations

import pytest

from hipcheck.versions import RequirementError, matches


@pytest.mark.parametrize(
    ("requirement", "yes", "no"),
    [
        ("*", ["0.0.1", "9.9.9"], []),
        ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),
        ("^0.1", ["0.1.0", "0.1.7"], ["0.2.0", "0.0.9"]),
        ("^0", ["0.0.0", "0.9.9"], ["1.0.0"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
        ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0"]),
        ("~1", ["1.0.0", "1.9.9"], ["2.0.0"]),
        ("1.2.3", ["1.2.3"], ["1.2.4", "1.2.2"]),  # bare means exact, as in Hipcheck
        ("=1.2", ["1.2.0", "1.2.5"], ["1.3.0"]),
        ("1.*", ["1.0.0", "1.5.0"], ["2.0.0", "0.9.0"]),
        (">1.2", ["1.3.0"], ["1.2.9"]),
        (">1.2.3", ["1.2.4"], ["1.2.3"]),
        ("<=1.2", ["1.2.9"], ["1.3.0"]),
        (">=1.0, <2", ["1.0.0", "1.99.0"], ["2.0.0", "0.9.0"]),
    ],
)
def test_requirements(requirement: str, yes: list[str], no: list[str]) -> None:
    assert [v for v in yes if not matches(requirement, v)] == []
    assert [v for v in no if matches(requirement, v)] == []


@pytest.mark.parametrize("bad", ["", "^", "1.2.3.4", ">= *", "latest"])
def test_unreadable_requirements_are_errors(bad: str) -> None:
    with pytest.raises(RequirementError, match="version requirement"):
        matches(bad, "1.0.0")
