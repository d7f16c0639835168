"""Version requirements in the syntax users of the original Hipcheck know (Cargo's).

``^1.2`` (compatible: same left-most non-zero component), ``~1.2.3`` (same minor), ``*`` and
``1.*`` wildcards, comparators ``= > >= < <=`` with partial versions, and comma-separated lists
that must all hold. A bare version means exactly that version, as in Hipcheck (not Cargo's
caret). Versions are compared by SemVer rules (the ``semver`` package).
"""

from __future__ import annotations

import re
from functools import lru_cache

import semver

from hipcheck.errors import UsageError

_COMPARATOR = re.compile(
    r"^\s*(?P<op>\^|~|=|>=|<=|>|<)?\s*"
    r"(?P<major>\d+|\*)(?:\.(?P<minor>\d+|\*))?(?:\.(?P<patch>\d+|\*))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?\s*$"
)


class RequirementError(UsageError):
    """A version requirement does not parse."""


Bound = tuple[semver.Version | None, semver.Version | None, bool]  # (lower, upper, upper-inclusive)


def _num(part: str | None) -> int | None:
    return None if part is None or part == "*" else int(part)


def _bounds(op: str, major: int, minor: int | None, patch: int | None, pre: str | None) -> Bound:
    low = semver.Version(major, minor or 0, patch or 0, pre)
    if op == "^":
        if major > 0 or minor is None:
            return low, semver.Version(major + 1, 0, 0), False
        if minor > 0 or patch is None:
            return low, semver.Version(0, minor + 1, 0), False
        return low, semver.Version(0, 0, patch + 1), False
    if op == "~" or (op == "=" and (minor is None or patch is None)):
        if minor is None:
            return low, semver.Version(major + 1, 0, 0), False
        return low, semver.Version(major, minor + 1, 0), False
    if op == "=":
        return low, low, True
    if op == ">=":
        return low, None, False
    if op == ">":
        if minor is None:
            return semver.Version(major + 1, 0, 0), None, False
        if patch is None:
            return semver.Version(major, minor + 1, 0), None, False
        return low.bump_patch() if pre is None else low, None, False
    if op == "<":
        return None, low, False
    # "<=": up to the end of whatever the partial version leaves open.
    if minor is None:
        return None, semver.Version(major + 1, 0, 0), False
    if patch is None:
        return None, semver.Version(major, minor + 1, 0), False
    return None, low, True


@lru_cache(maxsize=256)
def parse_requirement(text: str) -> tuple[Bound, ...]:
    """Parse a requirement into (lower, upper, upper-inclusive) bounds that must all hold."""
    bounds: list[Bound] = []
    for part in text.split(","):
        m = _COMPARATOR.match(part)
        if not m or (m["major"] == "*" and m["op"]):
            raise RequirementError(f"version requirement {text!r}: cannot read {part.strip()!r}")
        if m["major"] == "*":
            bounds.append((None, None, False))
            continue
        major, minor, patch = int(m["major"]), _num(m["minor"]), _num(m["patch"])
        wildcard = m["minor"] == "*" or m["patch"] == "*"
        op = m["op"] or ("~" if wildcard else "=")
        bounds.append(_bounds(op, major, minor, patch, m["pre"]))
    return tuple(bounds)


def matches(requirement: str, version: str) -> bool:
    """Whether ``version`` satisfies ``requirement``."""
    try:
        v = semver.Version.parse(version, optional_minor_and_patch=True)
    except ValueError as exc:
        raise RequirementError(f"version {version!r} is not a SemVer version") from exc
    for low, high, inclusive in parse_requirement(requirement):
        if low is not None and v < low:
            return False
        if high is not None and (v > high if inclusive else v >= high):
            return False
    return True
