"""The bridge's side of the protocol: serves one plugin's hooks over a pair of byte streams."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

import pluggy

from hipcheck_bridge import hookspecs, protocol
from hipcheck_bridge._api import ConfigError, Engine, Query, QueryError, UpstreamError

log = logging.getLogger("hipcheck_bridge")

__version__ = "0.1.0"


class PluginLoadError(Exception):
    """The plugin object does not satisfy the hook specifications."""


def load_plugin(plugin: object, name: str) -> pluggy.PluginManager:
    """Register ``plugin`` in a fresh plugin manager and check its hooks against the specs."""
    pm = pluggy.PluginManager("hipcheck")
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(plugin, name=name)
        pm.check_pending()
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginLoadError(f"plugin {name}: {exc}") from exc
    return pm


class _RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class Server:
    """Answers the host's requests for one plugin, and forwards the plugin's queries to the host.

    One thread reads the input stream; each request runs in a worker thread, so a query blocked
    on an upstream answer never stops the reader from delivering that answer.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        reader: BinaryIO,
        writer: BinaryIO,
        *,
        max_workers: int = 8,
    ) -> None:
        self._pm = pm
        self._reader = reader
        self._writer = writer
        self._write_lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._pending_lock = threading.Lock()
        self._next_id = 0
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="query")
        self._queries: dict[str, Query[Any]] = {}
        self._default: str | None = None
        self._config: dict[str, Any] = {}

    # -- the loop -------------------------------------------------------------------------------

    def serve(self) -> None:
        """Serve until the host says shutdown or closes the stream."""
        try:
            for line in self._reader:
                if not line.strip():
                    continue
                try:
                    message = protocol.decode(line)
                except ValueError as exc:
                    self._send(protocol.error_response(None, protocol.PARSE_ERROR, str(exc)))
                    continue
                if "method" in message:
                    if message["method"] == "shutdown":
                        self._send(protocol.response(message.get("id"), None))
                        return
                    self._pool.submit(self._handle, message)
                else:
                    self._deliver(message)
        finally:
            self._fail_pending("the host closed the connection")
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _send(self, message: dict[str, Any]) -> None:
        data = protocol.encode(message)
        with self._write_lock:
            self._writer.write(data)
            self._writer.flush()

    def _deliver(self, message: dict[str, Any]) -> None:
        with self._pending_lock:
            future = self._pending.pop(message.get("id", -1), None)
        if future is None:
            log.warning("dropping a response to no request: %.200r", message)
        elif "error" in message:
            err = message["error"]
            future.set_exception(UpstreamError(str(err.get("message", err))))
        else:
            future.set_result(message.get("result"))

    def _fail_pending(self, why: str) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(UpstreamError(why))

    # -- requests from the host -----------------------------------------------------------------

    def _handle(self, message: dict[str, Any]) -> None:
        id_, method, params = message.get("id"), message["method"], message.get("params") or {}
        handler: Callable[[dict[str, Any]], Any] | None = {
            "handshake": self._handshake,
            "configure": self._configure,
            "query": self._query,
        }.get(method)
        try:
            if handler is None:
                raise _RpcError(protocol.METHOD_NOT_FOUND, f"unknown method {method!r}")
            self._send(protocol.response(id_, handler(params)))
        except _RpcError as exc:
            self._send(protocol.error_response(id_, exc.code, exc.message, exc.data))
        except Exception as exc:  # a plugin bug must answer the host, not kill the bridge
            log.debug("%s failed", method, exc_info=True)
            self._send(
                protocol.error_response(
                    id_,
                    protocol.INTERNAL_ERROR,
                    f"{type(exc).__name__}: {exc}",
                    {"traceback": traceback.format_exc(limit=8)},
                )
            )

    def _handshake(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("protocol")
        if wanted != protocol.PROTOCOL_VERSION:
            raise _RpcError(
                protocol.PROTOCOL_MISMATCH,
                f"bridge speaks protocol {protocol.PROTOCOL_VERSION}, host asked for {wanted}",
            )
        queries = [q for qs in self._pm.hook.hipcheck_queries() for q in qs]
        for q in queries:
            if not isinstance(q, Query):
                raise _RpcError(
                    protocol.INTERNAL_ERROR,
                    f"hipcheck_queries returned {q!r}, not a @hipcheck_bridge.query",
                )
        self._queries = {q.name: q for q in queries}
        defaults = [q.name for q in queries if q.default]
        if len(defaults) > 1:
            raise _RpcError(protocol.INTERNAL_ERROR, f"more than one default query: {defaults}")
        self._default = defaults[0] if defaults else None
        return {
            "protocol": protocol.PROTOCOL_VERSION,
            "bridge_version": __version__,
            "queries": [q.describe() for q in queries],
            "python": {"prefix": sys.prefix, "version": sys.version.split()[0]},
            "pid": os.getpid(),
        }

    def _configure(self, params: dict[str, Any]) -> dict[str, Any]:
        given = params.get("config") or {}
        try:
            config = self._pm.hook.hipcheck_configure(config=given)
        except ConfigError as exc:
            raise _RpcError(
                protocol.CONFIG_ERROR,
                exc.message,
                {"kind": exc.kind, "key": exc.key, "message": exc.message},
            ) from exc
        if config is None:
            if given:
                key = sorted(given)[0]
                raise _RpcError(
                    protocol.CONFIG_ERROR,
                    f"this plugin takes no configuration, got {key!r}",
                    {"kind": "unrecognized-key", "key": key, "message": "takes no configuration"},
                )
            config = {}
        self._config = dict(config)
        # The host says where the policy took values from the environment (secrets): those
        # values reach the plugin, but the reference, not the value, is hashed and returned.
        shown = _redact(self._config, params.get("secrets") or [])
        canonical = protocol.canonical_json(shown)
        import hashlib  # here, not at the top: loading OpenSSL slows every plugin's start

        return {
            "config": shown,
            "config_hash": hashlib.sha256(canonical.encode()).hexdigest(),
            "default_policy_expr": self._pm.hook.hipcheck_default_policy_expr(config=self._config),
            "explanation": self._pm.hook.hipcheck_explain_default_query(),
            "data_requirements": list(
                self._pm.hook.hipcheck_data_requirements(config=self._config) or []
            ),
        }

    def _query(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("query") or self._default
        q = self._queries.get(name) if name else None
        if q is None:
            raise _RpcError(
                protocol.UNKNOWN_QUERY,
                f"no query {name!r}" if name else "this plugin has no default query",
                {"known": sorted(self._queries)},
            )
        engine = Engine(config=self._config, _ask=self._ask_host)
        try:
            value = q(engine, params.get("key"))
        except UpstreamError as exc:
            raise _RpcError(protocol.UPSTREAM_FAILED, f"query {q.name}: {exc}") from exc
        except QueryError as exc:
            raise _RpcError(protocol.QUERY_FAILED, f"query {q.name}: {exc}") from exc
        return {
            "value": value,
            "concerns": engine.concerns,
            "hints": [h.to_json() for h in engine.hints],
        }

    # -- requests to the host -------------------------------------------------------------------

    def _ask_host(self, plugin: str, query: str | None, key: Any) -> Any:
        future: Future[Any] = Future()
        with self._pending_lock:
            self._next_id += 1
            id_ = self._next_id
            self._pending[id_] = future
        self._send(protocol.request(id_, "query", {"plugin": plugin, "query": query, "key": key}))
        result = future.result()
        return result["value"] if isinstance(result, dict) else result


def _redact(config: dict[str, Any], secrets: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of ``config`` with each secret's value replaced by ``{"env": NAME}``."""
    shown: dict[str, Any] = json.loads(json.dumps(config))  # a deep copy: the config is JSON
    for secret in secrets:
        path = list(secret.get("path") or [])
        if not path:
            continue
        node: Any = shown
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]]  # a key the plugin dropped has nothing left to hide: KeyError
            node[path[-1]] = {"env": secret.get("env")}
        except (KeyError, IndexError, TypeError):
            continue
    return shown
