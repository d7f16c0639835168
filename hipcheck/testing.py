"""Testing plugins, and the host, without building environments or spawning processes.

For plugin authors:

- :class:`Upstream` answers the queries a plugin makes of other plugins from canned values,
  keyed by ``"publisher/name/query"``, and records each question it was asked.
- :func:`make_engine` builds the :class:`hipcheck_bridge.Engine` a query function receives,
  so a query can be unit-tested by calling it directly.
- :class:`BridgeClient` serves a plugin object through the real bridge server on a thread over
  OS pipes and speaks the protocol to it as the host would, answering the plugin's upstream
  queries from an :class:`Upstream` meanwhile.

For tests of the host: :func:`installed_plugin` describes a plugin as if it were installed, and
:class:`InProcessLauncher` serves already-imported plugin objects through the same bridge server,
so a :class:`~hipcheck.session.Session` drives the whole protocol in-process.

For end-to-end tests of an installed plugin, :class:`PluginProcess` runs it as a check does: in
its own provisioned environment, as its own process, answering its upstream queries from an
:class:`Upstream`. The same four tools are pytest fixtures (``hipcheck_upstream``,
``hipcheck_engine``, ``hipcheck_bridge_client``, ``hipcheck_plugin_process``) in every project
where hipcheck is installed; see :mod:`hipcheck.pytest_plugin`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Mapping
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias, TypeVar

from hipcheck.discovery import ENTRY_POINT_GROUP, InstalledPlugin, discover
from hipcheck.envs import PluginEnv
from hipcheck.errors import DiscoveryError, PluginError
from hipcheck.launcher import EnvLauncher
from hipcheck.manifest import Manifest
from hipcheck.transport import InProcessTransport, RemoteError
from hipcheck_bridge import Engine, QueryError, UpstreamError, protocol
from hipcheck_bridge._server import Server, load_plugin

__all__ = [
    "Ask",
    "BridgeClient",
    "InProcessLauncher",
    "PluginProcess",
    "RemoteError",
    "Upstream",
    "installed_plugin",
    "make_engine",
]

#: How a plugin's queries of other plugins are answered: ``(plugin, query, key) -> value``, with
#: ``plugin`` as ``"publisher/name"`` and ``query`` None for that plugin's default query.
Ask: TypeAlias = Callable[[str, str | None, Any], Any]

_T = TypeVar("_T")
_Client = TypeVar("_Client", bound="_HostSide")


# -- for plugin authors --------------------------------------------------------------------------


class Upstream:
    """Canned answers for the queries a plugin makes of other plugins, noting each one asked.

    ``answers`` maps ``"publisher/name/query"`` (``"publisher/name"`` for a default query) to

    - a value, returned as the other plugin's answer;
    - a callable, called with the key, whose return value is the answer (a :class:`QueryError`
      it raises becomes an :class:`UpstreamError`; anything else it raises propagates);
    - an exception instance, raised as an :class:`UpstreamError` with the same message (an
      ``UpstreamError`` as it is), as a failure of the other plugin reaches a query.

    A query with no answer raises :class:`UpstreamError` naming it. :attr:`answers` (a copy of
    the mapping given) may be changed between calls, and every question is appended to
    :attr:`calls` as ``(target, key)``.
    An ``Upstream`` is the ``_ask`` callable of an :class:`~hipcheck_bridge.Engine`; pass it to
    :func:`make_engine` or :class:`BridgeClient`.
    """

    def __init__(self, answers: Mapping[str, Any] | None = None) -> None:
        self.answers: dict[str, Any] = dict(answers or {})
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, plugin: str, query: str | None, key: Any) -> Any:
        target = plugin if query is None else f"{plugin}/{query}"
        self.calls.append((target, key))
        if target not in self.answers:
            known = ", ".join(sorted(self.answers)) or "none"
            raise UpstreamError(f"no canned answer for {target} (answers given: {known})")
        answer = self.answers[target]
        if isinstance(answer, UpstreamError):
            raise answer
        if isinstance(answer, Exception):
            raise UpstreamError(str(answer)) from answer
        if callable(answer):
            try:
                return answer(key)
            except UpstreamError:
                raise
            except QueryError as exc:
                raise UpstreamError(str(exc)) from exc
        return answer


def make_engine(config: Mapping[str, Any] | None = None, upstream: Ask | None = None) -> Engine:
    """The engine a query function receives, for calling the query directly in a test.

    ``config`` is the plugin's configuration as ``hipcheck_configure`` returned it (default:
    empty); ``upstream`` answers the query's ``engine.query`` calls (default: an empty
    :class:`Upstream`, so any such call fails). The concerns and hints the query records are on
    the engine's ``concerns`` and ``hints`` afterwards.
    """
    return Engine(config=dict(config or {}), _ask=upstream if upstream is not None else Upstream())


class _HostSide(ABC):
    """The host's side of a session, as a test drives it: one request at a time, synchronously.

    What :class:`BridgeClient` and :class:`PluginProcess` share; they differ in how a request
    reaches the bridge.
    """

    name: str

    @abstractmethod
    def _result(self, method: str, params: Any) -> dict[str, Any]:
        """Send one request and return its result; raise :class:`RemoteError` on an error."""

    @abstractmethod
    def close(self) -> None:
        """Stop the bridge; leave no thread or process behind."""

    def handshake(self) -> dict[str, Any]:
        """Handshake at this hipcheck's protocol version; the result (``queries`` and more).

        This and the other requests raise :class:`RemoteError` (``code``, ``data``) when the
        bridge answers with an error.
        """
        return self._result("handshake", {"protocol": protocol.PROTOCOL_VERSION})

    def configure(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Configure the plugin; the result (``config``, ``default_policy_expr``, ...)."""
        return self._result("configure", {"config": dict(config or {})})

    def query(self, name: str | None, key: Any = None) -> dict[str, Any]:
        """Run query ``name`` (None: the default) on ``key``; ``value``, ``concerns``, ``hints``.

        The bridge answers a query only after a handshake.
        """
        return self._result("query", {"query": name, "key": key})

    def __enter__(self: _Client) -> _Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _upstream_failure(exc: Exception) -> Exception | None:
    """The exception to raise in the test once the bridge has answered, if ``exc`` is one.

    A :class:`QueryError` from ``upstream`` is a canned failure of another plugin, which the
    plugin under test receives; anything else (a failed assertion, say) is the test's own.
    """
    return None if isinstance(exc, QueryError) else exc


class BridgeClient(_HostSide):
    """A plugin object served by the real bridge server on a thread, spoken to as the host would.

    ``plugin`` is what the bridge would load from the plugin's entry point (usually the plugin's
    module; any object with ``@hipcheck_bridge.hookimpl`` hooks) and ``name`` its
    ``publisher/name``. The plugin's own queries of other plugins arrive as requests during
    :meth:`call` and are answered by ``upstream`` (default: an empty :class:`Upstream`).
    :meth:`handshake`, :meth:`configure` and :meth:`query` raise :class:`RemoteError` when the
    bridge answers with an error; :meth:`call` returns the error response instead.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, plugin: object, name: str, upstream: Ask | None = None) -> None:
        self.name = name
        self.upstream: Ask = upstream if upstream is not None else Upstream()
        pm = load_plugin(plugin, name)  # before opening anything: it raises on a bad plugin
        to_bridge, from_bridge = os.pipe(), os.pipe()
        self._server_in = os.fdopen(to_bridge[0], "rb")
        self._server_out = os.fdopen(from_bridge[1], "wb")
        self._out = os.fdopen(to_bridge[1], "wb")
        self._in = os.fdopen(from_bridge[0], "rb")
        server = Server(pm, self._server_in, self._server_out)
        self._thread = threading.Thread(target=server.serve, name=f"bridge-{name}", daemon=True)
        self._thread.start()
        self._id = 0
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether the bridge server's thread is still serving."""
        return self._thread.is_alive()

    def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """Send one request and return the bridge's JSON-RPC response to it, as a dict.

        Requests the bridge sends meanwhile (the plugin's queries of other plugins) are
        answered through ``upstream``; an :class:`UpstreamError` or other :class:`QueryError`
        becomes an error response with code ``protocol.UPSTREAM_FAILED``, as the host answers.
        Any other exception (a failed assertion, say) is answered the same way, so the bridge is
        not left waiting, and raised here once the bridge has answered this request.
        """
        if self._closed:
            raise ValueError("the bridge client is closed")
        self._id += 1
        self._send(protocol.request(self._id, method, params))
        failure: Exception | None = None
        while True:
            line = self._in.readline()
            if not line:
                raise EOFError(f"bridge {self.name} closed its output before answering {method}")
            message = protocol.decode(line)
            if "method" in message:
                failure = self._answer(message) or failure
                continue
            if message.get("id") != self._id:
                raise AssertionError(f"bridge {self.name} answered {message!r}, not {method}")
            if failure is not None:
                raise failure
            return message

    def _answer(self, message: dict[str, Any]) -> Exception | None:
        asked = message.get("params") or {}
        try:
            value = self.upstream(str(asked.get("plugin")), asked.get("query"), asked.get("key"))
        except Exception as exc:
            reply = protocol.error_response(message.get("id"), protocol.UPSTREAM_FAILED, str(exc))
            self._send(reply)
            return _upstream_failure(exc)
        self._send(protocol.response(message.get("id"), {"value": value}))
        return None

    def _send(self, message: dict[str, Any]) -> None:
        self._out.write(protocol.encode(message))
        self._out.flush()

    def _result(self, method: str, params: Any) -> dict[str, Any]:
        response = self.call(method, params)
        if "error" in response:
            error = response["error"]
            raise RemoteError(str(error["message"]), code=error["code"], data=error.get("data"))
        result: dict[str, Any] = response["result"]
        return result

    def close(self) -> None:
        """Send shutdown, wait for the bridge's thread to end and close all four pipe ends."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError, EOFError, ValueError):
            self._id += 1
            self._send(protocol.request(self._id, "shutdown"))
            self._in.readline()  # the bridge's last words: its answer to shutdown
        self._out.close()  # end of input: the bridge stops even if it missed the shutdown
        self._thread.join(timeout=10)
        self._in.close()
        if self._thread.is_alive():
            raise RuntimeError(f"bridge {self.name} did not stop within 10s of shutdown")
        self._server_in.close()
        self._server_out.close()


class PluginProcess(_HostSide):
    """An installed plugin run as a check runs it: in its own environment, as its own process.

    ``plugin`` is the plugin's identity (``publisher/name``, looked up with
    :func:`~hipcheck.discovery.discover`) or a discovered
    :class:`~hipcheck.discovery.InstalledPlugin`. Its environment is provisioned under ``root``
    (default: hipcheck's cache dir), built on first use and reused after, and the plugin runs as
    ``<env>/bin/python -I -B -m hipcheck_bridge`` with the scrubbed environment a check gives it,
    so the test sees exactly what hipcheck would: the distribution as installed, its declared
    dependencies and nothing else. The plugin's queries of other plugins are answered by
    ``upstream`` (default: an empty :class:`Upstream`), as :class:`BridgeClient` answers them.

    :meth:`handshake`, :meth:`configure` and :meth:`query` are ordinary blocking calls, one at a
    time, each failing after ``timeout`` seconds without an answer; they raise
    :class:`RemoteError` when the plugin answers with an error, and
    :class:`~hipcheck.errors.PluginError` when it exits or breaks the protocol. Use it as a
    context manager, or call :meth:`close`, which kills whatever is left of the plugin's
    process group.
    """

    def __init__(
        self,
        plugin: InstalledPlugin | str,
        upstream: Ask | None = None,
        *,
        root: Path | None = None,
        timeout: float = 60.0,
        log_level: str = "WARNING",
    ) -> None:
        installed = plugin if isinstance(plugin, InstalledPlugin) else _find_installed(plugin)
        self.name = installed.identity
        self.upstream: Ask = upstream if upstream is not None else Upstream()
        self._timeout = timeout
        self._failure: Exception | None = None
        self._closed = False
        self._launcher = EnvLauncher(root=root, log_level=log_level)
        try:
            self._transport = self._launcher.transport_for(installed)  # builds the env if need be
        except BaseException:
            self._launcher.cleanup()
            raise
        #: The plugin's provisioned environment.
        self.env: PluginEnv = self._launcher.envs[self.name]
        # The transport and its channel are asyncio's and belong to one loop for their whole
        # life, so the loop runs in a thread of its own and each call waits for its answer.
        # That keeps reading the plugin's output between calls, and works under a test that
        # runs an event loop of its own.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"plugin-{self.name}", daemon=True
        )
        self._thread.start()
        try:
            self._channel = self._run(self._transport.open(self._on_request))
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        """The bridge's process id, which is also its process group's."""
        pid = self._transport.pid
        assert pid is not None, "the transport was opened in __init__"
        return pid

    def _run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _on_request(self, method: str, params: Any) -> Any:
        if method != "query" or not isinstance(params, dict):
            raise PluginError(f"plugin {self.name} sent an unsupported request {method!r}")
        try:
            value = self.upstream(str(params.get("plugin")), params.get("query"), params.get("key"))
        except Exception as exc:
            # The plugin gets an error answer either way (the channel sends it); a failure
            # that is the test's own is raised in the test once the plugin has answered.
            self._failure = self._failure or _upstream_failure(exc)
            raise
        return {"value": value}

    def _result(self, method: str, params: Any) -> dict[str, Any]:
        if self._closed:
            raise ValueError(f"the plugin process {self.name} is closed")
        self._failure = None
        request = self._channel.request(method, params, timeout=self._timeout)
        try:
            result = self._run(request)
        except RemoteError:
            self._raise_failure()  # the test's own failure says more than the plugin's answer
            raise
        self._raise_failure()
        if not isinstance(result, dict):
            raise PluginError(f"plugin {self.name} answered {method} with {result!r:.200}")
        return result

    def _raise_failure(self) -> None:
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def close(self) -> None:
        """Shut the plugin down, kill what is left of its process group and stop the loop."""
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self._transport.aclose())
        finally:
            self._run(_cancel_tasks())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
            self._launcher.cleanup()


def _find_installed(identity: str) -> InstalledPlugin:
    found = discover()
    if identity in found.plugins:
        return found.plugins[identity]
    installed = ", ".join(sorted(found.plugins)) or "none"
    problems = "".join(f"; {problem}" for problem in found.problems)
    raise DiscoveryError(
        f"plugin {identity} is not installed (installed plugins: {installed}){problems}; "
        "install its distribution next to hipcheck with 'pip install DIR'"
    )


async def _cancel_tasks() -> None:
    """Cancel what still runs on the loop (answers to a plugin that has gone), and wait."""
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- for tests of the host ------------------------------------------------------------------------


def installed_plugin(**manifest: Any) -> InstalledPlugin:
    """Describe a plugin as if it were installed; ``manifest`` gives the manifest fields."""
    fields = {"version": "0.1.0", "kind": "analysis", "entrypoint": "in-process", **manifest}
    man = Manifest.model_validate(fields)
    ep = metadata.EntryPoint(name=man.name, value=man.entrypoint, group=ENTRY_POINT_GROUP)
    # No files back this distribution: nothing reads them for in-process plugins.
    dist = metadata.PathDistribution(Path("/nonexistent") / f"{man.name}.dist-info")
    return InstalledPlugin(man, dist, ep)


class InProcessLauncher:
    """A :class:`~hipcheck.session.Launcher` that serves plugin objects in threads."""

    def __init__(self, objects: Mapping[str, object]) -> None:
        self.launched: list[str] = []
        self._objects = objects

    def transport_for(self, plugin: InstalledPlugin) -> InProcessTransport:
        self.launched.append(plugin.identity)
        return InProcessTransport(plugin.identity, self._objects[plugin.identity])
