"""Parsing tokens into a syntax tree.

Grammar::

    expr    := literal | array | pointer | call
    array   := '[' (literal (','? literal)*)? ']'
    call    := '(' NAME expr* ')'

Function names are resolved here, since the library is fixed: an unknown name is a syntax
error, reported under the name.
"""

from __future__ import annotations

from hipcheck.expr._ast import ArrayLiteral, Call, Expr, Literal, Pointer
from hipcheck.expr._errors import ParseError
from hipcheck.expr._stdlib import FUNCTIONS
from hipcheck.expr._tokens import Kind, Token, tokenize

#: Deeper nesting is refused so that checking and evaluation stay within Python's stack.
MAX_DEPTH = 100


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind is not Kind.END:
            self.pos += 1
        return token

    def fail(self, message: str, token: Token) -> ParseError:
        return ParseError(message, self.source, (token.start, token.end))

    def unexpected(self, token: Token, wanted: str) -> ParseError:
        if token.kind is Kind.END:
            return self.fail(f"expected {wanted}, found the end of the expression", token)
        return self.fail(f"expected {wanted}, found '{token.text}'", token)

    def parse(self) -> Expr:
        if self.peek().kind is Kind.END:
            raise self.fail("the expression is empty", self.peek())
        expr = self.expr(0)
        token = self.peek()
        if token.kind is not Kind.END:
            raise self.fail(f"unexpected '{token.text}' after the end of the expression", token)
        return expr

    def expr(self, depth: int) -> Expr:
        token = self.take()
        kind = token.kind
        if kind is Kind.LITERAL:
            return self.literal(token)
        if kind is Kind.POINTER:
            return Pointer(token.text[1:], source=self.source, loc=(token.start, token.end))
        if kind is Kind.LBRACKET:
            return self.array(token)
        if kind is Kind.LPAREN:
            if depth >= MAX_DEPTH:
                raise self.fail(f"expression is nested more than {MAX_DEPTH} deep", token)
            return self.call(token, depth + 1)
        if kind is Kind.IDENT:
            hint = ""
            if token.text.lower() in ("true", "false"):
                hint = "; booleans are written #t and #f"
            elif token.text in FUNCTIONS:
                hint = f"; to call it, write ({token.text} ...)"
            raise self.fail(f"unexpected name '{token.text}'{hint}", token)
        raise self.unexpected(token, "an expression")

    def literal(self, token: Token) -> Literal:
        assert token.value is not None
        return Literal(token.value, source=self.source, loc=(token.start, token.end))

    def array(self, open_: Token) -> ArrayLiteral:
        elements: list[Literal] = []
        while True:
            token = self.take()
            if token.kind is Kind.RBRACKET:
                break
            if token.kind is Kind.COMMA and elements and self.peek().kind is Kind.LITERAL:
                continue
            if token.kind is Kind.LITERAL:
                elements.append(self.literal(token))
                continue
            if token.kind is Kind.END:
                raise self.fail("this '[' is never closed", open_)
            if token.kind in (Kind.LBRACKET, Kind.LPAREN, Kind.POINTER):
                raise self.fail(
                    "array elements must be literal values, not arrays, calls or pointers", token
                )
            raise self.unexpected(token, "an array element or ']'")
        return ArrayLiteral(tuple(elements), source=self.source, loc=(open_.start, token.end))

    def call(self, open_: Token, depth: int) -> Call:
        name = self.take()
        if name.kind is not Kind.IDENT:
            if name.kind is Kind.RPAREN:
                raise self.fail("empty call: expected a function name after '('", name)
            raise self.unexpected(name, "a function name after '('")
        func = FUNCTIONS.get(name.text)
        if func is None:
            raise self.fail(f"unknown function '{name.text}'", name)
        args: list[Expr] = []
        while True:
            token = self.peek()
            if token.kind is Kind.RPAREN:
                self.take()
                break
            if token.kind is Kind.END:
                raise self.fail("this '(' is never closed", open_)
            if token.kind is Kind.COMMA:
                raise self.fail("unexpected ','; separate arguments with spaces", token)
            args.append(self.expr(depth))
        return Call(
            func,
            name.text,
            tuple(args),
            source=self.source,
            loc=(open_.start, token.end),
            name_loc=(name.start, name.end),
        )


def parse(source: str) -> Expr:
    """Parse an expression; raises :class:`ParseError` pointing at the offending text."""
    return _Parser(source).parse()
