"""What a plugin author writes against: queries, the engine, hints and errors."""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Literal, TypeVar, overload

R = TypeVar("R")

ConfigErrorKind = Literal[
    "missing-key", "unrecognized-key", "invalid-value", "file-not-found", "parse-error", "other"
]


class ConfigError(Exception):
    """Raised by ``hipcheck_configure`` when the configuration it was given is unusable."""

    def __init__(self, message: str, *, kind: ConfigErrorKind = "other", key: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.key = key


class QueryError(Exception):
    """Raised by a query that cannot produce a value; the analysis is reported as errored."""


class UpstreamError(QueryError):
    """A query this plugin made of another plugin failed; raised by :meth:`Engine.query`."""


@dataclass(frozen=True)
class Hint:
    """Structured guidance for the user, attached to an analysis result."""

    message: str
    file: str | None = None
    line: int | None = None
    commit: str | None = None
    url: str | None = None
    remediation: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Engine:
    """Handed to every query: the plugin's configuration and its way to reach other plugins.

    ``query`` goes through the host, which memoises answers for the whole run, so asking
    twice for the same data is cheap and two plugins asking for it compute it once.
    """

    config: Mapping[str, Any]
    _ask: Callable[[str, str | None, Any], Any] = field(repr=False)
    concerns: list[str] = field(default_factory=list)
    hints: list[Hint] = field(default_factory=list)

    def query(self, target: str, key: Any = None) -> Any:
        """Run ``publisher/name`` (its default query) or ``publisher/name/query`` on ``key``.

        Raises :class:`UpstreamError` when the other plugin fails.
        """
        plugin, query = split_target(target)
        return self._ask(plugin, query, key)

    def concern(self, message: str) -> None:
        """Record a free-text concern shown with the analysis result."""
        self.concerns.append(message)

    def hint(self, message: str, **where: Any) -> None:
        """Record a structured hint (file, line, commit, url, remediation are optional)."""
        self.hints.append(Hint(message, **where))


def split_target(target: str) -> tuple[str, str | None]:
    """Split ``publisher/name[/query]`` (namespaces are not allowed here yet) in two."""
    parts = target.split("/")
    if len(parts) == 2 and all(parts):
        return target, None
    if len(parts) == 3 and all(parts):
        return f"{parts[0]}/{parts[1]}", parts[2]
    raise ValueError(f"query target {target!r} is not 'publisher/name' or 'publisher/name/query'")


@dataclass(frozen=True)
class Query(Generic[R]):
    """A query endpoint of a plugin: a function ``(engine, key) -> JSON-able value``."""

    name: str
    function: Callable[[Engine, Any], R]
    default: bool = False
    key_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    description: str = ""

    def __call__(self, engine: Engine, key: Any) -> R:
        return self.function(engine, key)

    def describe(self) -> dict[str, Any]:
        """The query as announced in the handshake."""
        return {
            "name": self.name,
            "default": self.default,
            "key_schema": self.key_schema,
            "output_schema": self.output_schema,
            "description": self.description,
        }


@overload
def query(function: Callable[[Engine, Any], R], /) -> Query[R]: ...


@overload
def query(
    *,
    name: str | None = None,
    default: bool = False,
    key_schema: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
) -> Callable[[Callable[[Engine, Any], R]], Query[R]]: ...


def query(
    function: Callable[[Engine, Any], R] | None = None,
    /,
    *,
    name: str | None = None,
    default: bool = False,
    key_schema: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
) -> Query[R] | Callable[[Callable[[Engine, Any], R]], Query[R]]:
    """Declare a query endpoint; use bare (``@query``) or with options (``@query(default=True)``).

    Schemas not given are derived from the key's and return value's type hints where those are
    plain JSON types (str, int, float, bool, list[...], dict[str, ...]).
    """

    def wrap(fn: Callable[[Engine, Any], R]) -> Query[R]:
        key_hint, out_hint = _hints(fn)
        return Query(
            name=name or str(getattr(fn, "__name__", "query")),
            function=fn,
            default=default,
            key_schema=key_schema if key_schema is not None else _schema_for(key_hint),
            output_schema=output_schema if output_schema is not None else _schema_for(out_hint),
            description=" ".join((fn.__doc__ or "").split()),
        )

    return wrap(function) if function is not None else wrap


def _hints(fn: Callable[..., Any]) -> tuple[Any, Any]:
    # Read parameter names off the code object: importing inspect costs every plugin start ~30 ms.
    code = getattr(fn, "__code__", None) or getattr(getattr(fn, "__func__", None), "__code__", None)
    if code is None:
        return None, None
    params = list(code.co_varnames[: code.co_argcount])
    if hasattr(fn, "__self__"):
        params = params[1:]
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations just mean "no schema"
        return None, None
    key = hints.get(params[1]) if len(params) > 1 else None
    return key, hints.get("return")


_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _schema_for(hint: Any) -> dict[str, Any] | None:
    if hint is None:
        return None
    if hint is type(None):
        return {"type": "null"}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list and len(args) == 1:
        items = _schema_for(args[0])
        return {"type": "array", **({"items": items} if items else {})}
    if origin is dict and len(args) == 2 and args[0] is str:
        values = _schema_for(args[1])
        return {"type": "object", **({"additionalProperties": values} if values else {})}
    return None
