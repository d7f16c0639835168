"""Errors raised by the policy-expression language, and the call sites they point at."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

#: A half-open range of character offsets ``(start, end)`` into an expression's source text.
Loc: TypeAlias = tuple[int, int]


class ExprError(Exception):
    """Root of every error the expression language raises.

    ``message`` says what went wrong, ``source`` is the expression's text and ``span`` the
    ``(start, end)`` character offsets of the offending part of it.
    """

    def __init__(self, message: str, source: str = "", span: Loc = (0, 0)) -> None:
        super().__init__(message, source, span)
        self.message = message
        self.source = source
        self.span = span

    def render(self) -> str:
        """The message, then the expression on one line with ``^`` under the offending part."""
        if not self.source:
            return self.message
        # Whitespace of any kind becomes one space so a multi-line policy stays on one line
        # and the caret line keeps its alignment (one column per character).
        line = "".join(" " if c.isspace() else c for c in self.source)
        start = min(max(self.span[0], 0), len(line))
        end = min(max(self.span[1], start), len(line))
        carets = "^" * max(end - start, 1)
        return f"{self.message}\n  {line}\n  {' ' * start}{carets}"

    def __str__(self) -> str:
        return self.render()


class ParseError(ExprError):
    """The text is not a well-formed expression (bad token, bracket, or unknown function)."""


class TypeMismatch(ExprError):
    """A function was given arguments of the wrong type or number."""


class EvalError(ExprError):
    """Evaluation failed: a JSON pointer did not resolve, an array was empty, a value overflowed."""


@dataclass(frozen=True, slots=True)
class Site:
    """Where a function is applied: the source, the call's span and each argument's span."""

    source: str
    span: Loc
    arg_spans: tuple[Loc, ...]

    def _loc(self, arg: int | None) -> Loc:
        if arg is None or arg >= len(self.arg_spans):
            return self.span
        return self.arg_spans[arg]

    def type_error(self, message: str, arg: int | None = None) -> TypeMismatch:
        """A :class:`TypeMismatch` pointing at argument ``arg`` (or the whole call)."""
        return TypeMismatch(message, self.source, self._loc(arg))

    def eval_error(self, message: str, arg: int | None = None) -> EvalError:
        """An :class:`EvalError` pointing at argument ``arg`` (or the whole call)."""
        return EvalError(message, self.source, self._loc(arg))
