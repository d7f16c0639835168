"""The wire protocol between the hipcheck host and a plugin's bridge process.

JSON-RPC 2.0 messages, one JSON object per line (UTF-8, ``\\n``-terminated), over the bridge
process's stdin (host -> bridge) and stdout (bridge -> host). Both sides send requests: the host
asks the plugin to run queries, and while one runs the plugin asks the host to run queries of
other plugins. A message with a ``method`` is a request; one with ``result`` or ``error`` answers
the sender's own request of the same ``id`` (each side numbers its own requests).

Host -> bridge methods, in the order a session uses them:

``handshake``  params ``{"protocol": int}``; result ``{"protocol", "bridge_version", "queries",
               "python": {"prefix", "version"}, "pid"}``. The first message; a bridge that does not
               speak the host's protocol version answers with an error.
``configure``  params ``{"config": object}``; result ``{"config", "config_hash",
               "default_policy_expr", "explanation"}``; a rejected configuration is an error with
               code ``CONFIG_ERROR`` and ``data`` ``{"kind", "key", "message"}``.
``query``      params ``{"query": str | null, "key": any}`` (null: the default query); result
               ``{"value", "concerns", "hints"}``.
``shutdown``   no params; result null, then the bridge exits.

Bridge -> host methods:

``query``      params ``{"plugin": "publisher/[namespace/]name", "query": str | null, "key": any}``;
               result ``{"value"}``. The host memoises these answers per run.
"""

from __future__ import annotations

import json
from typing import Any

PROTOCOL_VERSION = 1

#: The largest message either side accepts; bigger data is passed by reference (a file).
MAX_MESSAGE_BYTES = 256 * 1024 * 1024

# JSON-RPC's reserved codes, and ours in the implementation-defined range.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
QUERY_FAILED = -32000
CONFIG_ERROR = -32001
UPSTREAM_FAILED = -32002
UNKNOWN_QUERY = -32003
PROTOCOL_MISMATCH = -32004


def encode(message: dict[str, Any]) -> bytes:
    """Serialise one message as a single line."""
    # ensure_ascii keeps every line free of raw newlines and invalid surrogates.
    return json.dumps(message, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """Parse one line into a message; raises ValueError when it is not a JSON-RPC object."""
    message = json.loads(line)
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise ValueError("not a JSON-RPC 2.0 message")
    return message


def request(id: int, method: str, params: Any = None) -> dict[str, Any]:
    """Build a request message."""
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": params}


def response(id: Any, result: Any) -> dict[str, Any]:
    """Build a successful response message."""
    return {"jsonrpc": "2.0", "id": id, "result": result}


def error_response(id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    """Build an error response message."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": id, "error": error}


def canonical_json(value: Any) -> str:
    """The one JSON spelling of a value, for hashing and memoisation keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
