"""The syntax tree of a parsed expression.

Every node remembers the source text it came from and its span in it, so that errors found
while checking or evaluating can point at the offending part. Neither takes part in
equality: two trees are equal when they mean the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hipcheck.expr._errors import Loc, Site
from hipcheck.expr._types import PrimType
from hipcheck.expr._values import Prim, format_value, prim_type

if TYPE_CHECKING:
    from hipcheck.expr._stdlib import FunctionDef


@dataclass(frozen=True, eq=False)
class Expr:
    """A parsed expression; ``str()`` gives it back in canonical syntax."""

    source: str = field(default="", kw_only=True, repr=False, compare=False)
    loc: Loc = field(default=(0, 0), kw_only=True, repr=False, compare=False)

    @property
    def text(self) -> str:
        """The exact source text of this node."""
        return self.source[self.loc[0] : self.loc[1]]

    def children(self) -> tuple[Expr, ...]:
        """The direct sub-expressions."""
        return ()


@dataclass(frozen=True)
class Literal(Expr):
    """A single value written in the source: ``3``, ``2.5``, ``#t``, ``2024-09-17``, ``P1w``."""

    value: Prim
    type: PrimType = field(init=False)

    def __post_init__(self) -> None:
        t = prim_type(self.value)
        if t is None:
            raise TypeError(f"not a literal value: {self.value!r}")
        # The type takes part in equality so that 1, 1.0 and #t stay distinct.
        object.__setattr__(self, "type", t)

    def __str__(self) -> str:
        return format_value(self.value)


@dataclass(frozen=True)
class ArrayLiteral(Expr):
    """An array written in the source, such as ``[1 2 3]``."""

    elements: tuple[Literal, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.elements

    def __str__(self) -> str:
        return "[" + " ".join(str(e) for e in self.elements) + "]"


@dataclass(frozen=True)
class Pointer(Expr):
    """``$`` or a JSON pointer into the input value, such as ``$/a/0``."""

    pointer: str

    @property
    def parts(self) -> tuple[str, ...]:
        """The pointer's reference tokens, with ``~1`` and ``~0`` unescaped."""
        if not self.pointer:
            return ()
        return tuple(p.replace("~1", "/").replace("~0", "~") for p in self.pointer[1:].split("/"))

    def __str__(self) -> str:
        return "$" + self.pointer


@dataclass(frozen=True)
class Call(Expr):
    """A function call ``(name arg ...)``; with one argument too few it is a lambda."""

    func: FunctionDef = field(compare=False, repr=False)
    name: str
    args: tuple[Expr, ...]
    name_loc: Loc = field(default=(0, 0), kw_only=True, compare=False, repr=False)

    def children(self) -> tuple[Expr, ...]:
        return self.args

    @property
    def site(self) -> Site:
        """Where this call applies its function, for error reporting."""
        return Site(self.source, self.loc, tuple(a.loc for a in self.args))

    @property
    def lambda_site(self) -> Site:
        """As :attr:`site`, for the lambda this call makes: the missing argument comes first."""
        return Site(self.source, self.loc, (self.loc, *(a.loc for a in self.args)))

    def __str__(self) -> str:
        return "(" + " ".join([self.name, *(str(a) for a in self.args)]) + ")"
