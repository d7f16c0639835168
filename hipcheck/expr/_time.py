"""Text forms of datetimes and spans, both held as whole nanoseconds.

Datetimes count nanoseconds since 1970-01-01T00:00:00Z and are limited to years 1 to 9999.
Spans count nanoseconds too; a day is always 24 hours and a week always 7 days, so spans
compare and add without reference to any calendar.
"""

from __future__ import annotations

import datetime as _dt
import re

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR
NS_PER_WEEK = 7 * NS_PER_DAY

_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
MIN_DATETIME_NS = (_dt.date.min.toordinal() - _EPOCH_ORDINAL) * NS_PER_DAY
MAX_DATETIME_NS = (_dt.date.max.toordinal() - _EPOCH_ORDINAL + 1) * NS_PER_DAY - 1

# The largest span jiff (the original's time library) can hold: about 19,998 years.
MAX_SPAN_NS = 631_107_417_600 * NS_PER_SECOND


_DIGITS = frozenset("0123456789")


class TimeSyntaxError(ValueError):
    """A datetime or span literal is malformed or out of range."""


# Groups: year, month, day, hour, minute, second, fraction, Z, offset sign, hours, minutes,
# seconds. Positional groups are used because named lookups are measurably slower, and
# inputs can hold one datetime per commit. A space may separate date and time, as jiff
# allows; only JSON strings can contain one, since the lexer splits words at spaces.
_DATETIME = re.compile(
    r"""
    ([0-9]{4})-([0-9]{2})-([0-9]{2})
    (?:
        [Tt\ ]([0-9]{2})
        (?::([0-9]{2})
            (?::([0-9]{2})(?:\.([0-9]{1,9}))?)?
        )?
        (?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2})(?::?([0-9]{2}))?)?)?
    )?
    """,
    re.VERBOSE,
)
_DATETIME_START = re.compile(r"[0-9]{4}-")


def looks_like_datetime(text: str) -> bool:
    """Whether ``text`` starts like a datetime (four digits and a dash)."""
    return _DATETIME_START.match(text) is not None


def _int_or_zero(digits: str | None) -> int:
    return int(digits) if digits else 0


def parse_datetime(text: str) -> int:
    """Nanoseconds since the epoch for a date or datetime; no offset means UTC."""
    m = _DATETIME.fullmatch(text)
    if m is None:
        raise TimeSyntaxError(
            f"invalid datetime '{text}'; expected YYYY-MM-DD, optionally followed by "
            "THH:MM[:SS[.fff]] and an offset such as Z or -05:00"
        )
    year, month, day, hour, minute, second, fraction, _, sign, oh, om, os = m.groups()
    try:
        date = _dt.date(int(year), int(month), int(day))
    except ValueError as exc:
        raise TimeSyntaxError(f"invalid datetime '{text}': {exc}") from None
    h, mi, sec = _int_or_zero(hour), _int_or_zero(minute), _int_or_zero(second)
    if h > 23 or mi > 59 or sec > 60:
        raise TimeSyntaxError(f"invalid datetime '{text}': time of day out of range")
    # A leap second is clamped to :59, as jiff does, since it cannot be represented.
    sec = min(sec, 59)
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    offset = 0
    if sign:
        off_h, off_m, off_s = int(oh), _int_or_zero(om), _int_or_zero(os)
        if off_h > 25 or off_m > 59 or off_s > 59:
            raise TimeSyntaxError(f"invalid datetime '{text}': UTC offset out of range")
        offset = (off_h * 3600 + off_m * 60 + off_s) * (-1 if sign == "-" else 1)
    days = date.toordinal() - _EPOCH_ORDINAL
    seconds = days * 86_400 + h * 3600 + mi * 60 + sec - offset
    ns = seconds * NS_PER_SECOND + nanos
    if not MIN_DATETIME_NS <= ns <= MAX_DATETIME_NS:
        raise TimeSyntaxError(f"datetime '{text}' is outside years 0001 to 9999 in UTC")
    return ns


def format_datetime(ns: int) -> str:
    """RFC 3339 text in UTC, with a fraction of a second only when there is one."""
    days, rest = divmod(ns, NS_PER_DAY)
    date = _dt.date.fromordinal(days + _EPOCH_ORDINAL)
    seconds, fraction = divmod(rest, NS_PER_SECOND)
    hour, seconds = divmod(seconds, 3600)
    minute, second = divmod(seconds, 60)
    frac = f".{fraction:09d}".rstrip("0") if fraction else ""
    day = f"{date.year:04d}-{date.month:02d}-{date.day:02d}"
    return f"{day}T{hour:02d}:{minute:02d}:{second:02d}{frac}Z"


def looks_like_span(text: str) -> bool:
    """Whether ``text`` starts like a span: an optional sign, ``P``, optional ``T``, a digit."""
    i = 1 if text[:1] in ("+", "-") else 0
    if text[i : i + 1] not in ("P", "p"):
        return False
    i += 1
    if text[i : i + 1] in ("T", "t"):
        i += 1
    return text[i : i + 1] in _DIGITS


_SPAN_PART = re.compile(r"([0-9]+)(?:\.([0-9]+))?([A-Za-z])")
_DATE_UNITS = {"w": NS_PER_WEEK, "d": NS_PER_DAY}
_TIME_UNITS = {"h": NS_PER_HOUR, "m": NS_PER_MINUTE, "s": NS_PER_SECOND}
_RANKS = {"w": 0, "d": 1, "th": 2, "tm": 3, "ts": 4}
_UNIT_NAMES = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_span(text: str) -> int:
    """Nanoseconds in an ISO 8601 style span such as ``P1w2dT3h4m5.6s``."""

    def fail(why: str) -> TimeSyntaxError:
        return TimeSyntaxError(f"invalid span '{text}': {why}")

    i = 0
    negative = False
    if text[:1] in ("+", "-"):
        negative = text[0] == "-"
        i = 1
    if text[i : i + 1] not in ("P", "p"):
        raise fail("a span starts with 'P'")
    i += 1
    total = 0
    in_time = False
    last_rank = -1
    fractional = False
    while i < len(text):
        if text[i] in ("T", "t"):
            if in_time:
                raise fail("'T' may appear only once")
            in_time = True
            i += 1
            if i == len(text):
                raise fail("'T' must be followed by hours, minutes or seconds")
            continue
        m = _SPAN_PART.match(text, i)
        if m is None:
            raise fail("expected a number followed by a unit letter")
        whole, frac, letter = m.group(1), m.group(2), m.group(3).lower()
        i = m.end()
        if fractional:
            raise fail("only the smallest unit may have a decimal fraction")
        if not in_time and letter in ("y", "m"):
            raise fail("years and months are not allowed, as their length varies")
        units = _TIME_UNITS if in_time else _DATE_UNITS
        if letter not in units:
            expected = "h, m or s after 'T'" if in_time else "w or d before 'T'"
            raise fail(f"unknown unit '{m.group(3)}'; expected {expected}")
        rank = _RANKS[("t" if in_time else "") + letter]
        if rank <= last_rank:
            raise fail("units must be given once each, from largest to smallest")
        last_rank = rank
        if len(whole) > 20:
            raise fail("the span is too long")
        unit = units[letter]
        total += int(whole) * unit
        if frac is not None:
            if not in_time:
                raise fail(f"{_UNIT_NAMES[letter]} cannot have a decimal fraction")
            if len(frac) > 9:
                raise fail("at most 9 decimal places are allowed")
            fractional = True
            total += int(frac.ljust(9, "0")) * unit // NS_PER_SECOND
    if last_rank < 0:
        raise fail("a span needs at least one unit, as in P1w or PT1h")
    if total > MAX_SPAN_NS:
        raise fail("the span is too long")
    return -total if negative else total


def format_span(ns: int) -> str:
    """Canonical span text in weeks, days, hours, minutes and seconds; ``PT0s`` for zero."""
    if ns == 0:
        return "PT0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    weeks, ns = divmod(ns, NS_PER_WEEK)
    days, ns = divmod(ns, NS_PER_DAY)
    hours, ns = divmod(ns, NS_PER_HOUR)
    minutes, ns = divmod(ns, NS_PER_MINUTE)
    seconds, fraction = divmod(ns, NS_PER_SECOND)
    date = (f"{weeks}w" if weeks else "") + (f"{days}d" if days else "")
    time = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    if seconds or fraction:
        frac = f".{fraction:09d}".rstrip("0") if fraction else ""
        time += f"{seconds}{frac}s"
    return f"{sign}P{date}" + (f"T{time}" if time else "")


_ENGLISH_UNITS = (
    (NS_PER_WEEK, "week"),
    (NS_PER_DAY, "day"),
    (NS_PER_HOUR, "hour"),
    (NS_PER_MINUTE, "minute"),
    (NS_PER_SECOND, "second"),
)


def english_span(ns: int) -> str:
    """A span in words, rounded to days when at least a day long, else to seconds."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    # Sub-day detail of a long span is noise in a report sentence, so round it away.
    step = NS_PER_DAY if ns >= NS_PER_DAY else NS_PER_SECOND
    ns = (ns + step // 2) // step * step
    parts: list[str] = []
    for unit, name in _ENGLISH_UNITS:
        count, ns = divmod(ns, unit)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    if not parts:
        return "0 seconds"
    return sign + " ".join(parts)
