"""Static types of expressions, as the checker infers them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from hipcheck.expr._errors import Site
    from hipcheck.expr._stdlib import FunctionDef


class PrimType(enum.Enum):
    """The type of a single value."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DATETIME = "datetime"
    SPAN = "span"

    def __str__(self) -> str:
        return self.value


NUMERIC = frozenset({PrimType.INT, PrimType.FLOAT})


@dataclass(frozen=True, slots=True)
class ArrayType:
    """An array whose elements all have type ``element``; ``None`` when not known (empty)."""

    element: PrimType | None = None

    def __str__(self) -> str:
        return "array" if self.element is None else f"array of {self.element}"


@dataclass(frozen=True, slots=True)
class LambdaType:
    """A partial application: ``func`` awaiting its first argument, with the rest ``bound``."""

    func: FunctionDef
    bound: tuple[Type, ...]
    site: Site = field(compare=False, repr=False)

    def __str__(self) -> str:
        return "lambda"


class UnknownType(enum.Enum):
    """The type of something not knowable before evaluation, such as ``$`` before binding."""

    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


UNKNOWN = UnknownType.UNKNOWN

#: Any static type.
Type: TypeAlias = PrimType | ArrayType | LambdaType | UnknownType


def describe(t: Type) -> str:
    """A type as a noun phrase for messages: ``an int``, ``an array of bool``, ``a lambda``."""
    name = str(t)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
