"""Static type checking: inferring each expression's type before anything runs."""

from __future__ import annotations

from collections.abc import Callable

from hipcheck.expr._ast import ArrayLiteral, Call, Expr, Literal, Pointer
from hipcheck.expr._errors import TypeMismatch
from hipcheck.expr._types import NUMERIC, UNKNOWN, ArrayType, LambdaType, PrimType, Type, describe

#: Gives the type of the value a JSON pointer will be bound to.
PointerTypes = Callable[[Pointer], Type]


def infer(expr: Expr, pointer_type: PointerTypes) -> Type:
    """The type of ``expr``; raises :class:`TypeMismatch` at the first ill-typed part."""
    if isinstance(expr, Literal):
        return expr.type
    if isinstance(expr, ArrayLiteral):
        return ArrayType(array_element_type(expr))
    if isinstance(expr, Pointer):
        return pointer_type(expr)
    if isinstance(expr, Call):
        arg_types = tuple(infer(a, pointer_type) for a in expr.args)
        if expr.func.is_partial(expr.site, len(arg_types)):
            site = expr.lambda_site
            # Checking with the missing argument unknown catches bound arguments that no
            # argument could make valid, such as the array in (gt [1 2]).
            expr.func.typer(site, (UNKNOWN, *arg_types))
            return LambdaType(expr.func, arg_types, site)
        return expr.func.typer(expr.site, arg_types)
    raise TypeError(f"not an expression: {expr!r}")


def array_element_type(array: ArrayLiteral) -> PrimType | None:
    """The element type of an array literal; ints mixed with floats make it a float array."""
    kinds = {e.type for e in array.elements}
    if not kinds:
        return None
    if kinds == {PrimType.INT, PrimType.FLOAT}:
        return PrimType.FLOAT
    if len(kinds) > 1:
        first = array.elements[0].type
        for element in array.elements:
            if element.type is not first and not (element.type in NUMERIC and first in NUMERIC):
                raise TypeMismatch(
                    f"array elements must all have one type: this array starts with "
                    f"{describe(first)} but also holds {describe(element.type)}",
                    array.source,
                    element.loc,
                )
    return array.elements[0].type


def check(expr: Expr, input_type: Type | None = None) -> Type:
    """Type-check ``expr`` without running it and return its type.

    ``input_type`` is the type of ``$`` if known; otherwise ``$`` and every JSON pointer
    are of unknown type, and only what holds whatever they turn out to be is checked.
    Raises :class:`TypeMismatch` pointing at the offending part.
    """
    root = UNKNOWN if input_type is None else input_type

    def pointer_type(pointer: Pointer) -> Type:
        return root if not pointer.pointer else UNKNOWN

    return infer(expr, pointer_type)


def require_bool(expr: Expr, t: Type) -> None:
    """Raise :class:`TypeMismatch` unless a policy of type ``t`` can produce a bool."""
    if t is not PrimType.BOOL and t is not UNKNOWN:
        raise TypeMismatch(
            f"a policy must produce a bool, but this produces {describe(t)}",
            expr.source,
            expr.loc,
        )


def check_policy(expr: Expr, input_type: Type | None = None) -> None:
    """As :func:`check`, and also require the expression to produce a bool."""
    require_bool(expr, check(expr, input_type))
