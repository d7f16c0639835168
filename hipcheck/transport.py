"""How the host talks to a plugin's bridge: one seam, a subprocess and an in-process side.

:class:`Channel` speaks the protocol (``hipcheck_bridge.protocol``) over a pair of asyncio
streams. :class:`SubprocessTransport` runs the bridge as a child process in the plugin's own
environment, as every real run does; :class:`InProcessTransport` runs the same bridge server in a
thread over OS pipes, so host tests exercise the whole protocol without spawning processes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from hipcheck.errors import PluginError
from hipcheck_bridge import protocol
from hipcheck_bridge._server import Server, load_plugin

log = logging.getLogger(__name__)

RequestHandler = Callable[[str, Any], Awaitable[Any]]


def encode(message: dict[str, Any]) -> bytes:
    """One protocol line, serialised with orjson: the host handles every plugin's data."""
    try:
        return orjson.dumps(message) + b"\n"
    except TypeError:  # integers beyond 64 bits, which orjson refuses
        return protocol.encode(message)


def decode(line: bytes) -> dict[str, Any]:
    """Parse one protocol line; raises ValueError when it is not a JSON-RPC message.

    Like serde_json in the original Hipcheck, orjson reads integers beyond 64 bits as floats.
    """
    message = orjson.loads(line)
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise ValueError("not a JSON-RPC 2.0 message")
    return message


class RemoteError(PluginError):
    """The plugin answered a request with an error."""

    def __init__(self, message: str, *, code: int, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class Channel:
    """A JSON-RPC connection to one bridge, with requests flowing both ways."""

    def __init__(
        self,
        name: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_request: RequestHandler,
        *,
        describe_exit: Callable[[], str] = lambda: "",
        on_eof: Callable[[], Awaitable[str]] | None = None,
        max_message_bytes: int = protocol.MAX_MESSAGE_BYTES,
    ) -> None:
        self.name = name
        self._max_message_bytes = max_message_bytes
        self._reader = reader
        self._writer = writer
        self._on_request = on_request
        self._describe_exit = describe_exit
        self._on_eof = on_eof
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed: PluginError | None = None
        self._read_task = asyncio.ensure_future(self._read_loop())

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Any:
        """Send a request and wait for its answer; raise :class:`PluginError` on failure."""
        if self._closed is not None:
            raise self._closed
        id_ = next(self._ids)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[id_] = future
        # A timer on the future, not asyncio.wait_for: that wraps every request in a task,
        # which costs more than the round trip itself.
        timer = (
            None
            if timeout is None
            else loop.call_later(timeout, self._expire, future, method, timeout)
        )
        try:
            await self._write(protocol.request(id_, method, params))
            return await future
        finally:
            self._pending.pop(id_, None)
            if timer is not None:
                timer.cancel()

    def _expire(self, future: asyncio.Future[Any], method: str, timeout: float) -> None:
        if not future.done():
            future.set_exception(
                PluginError(f"plugin {self.name}: no answer to {method} within {timeout:g}s")
            )

    async def _write(self, message: dict[str, Any]) -> None:
        try:
            self._writer.write(encode(message))
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise self._fail(f"connection lost: {exc}") from exc

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    line = await self._reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    self._fail(f"sent a message over {self._max_message_bytes} bytes")
                    return
                if not line:
                    # on_eof waits for the process to end, and says how it did.
                    self._fail("exited" + (await self._on_eof() if self._on_eof else ""))
                    return
                try:
                    message = decode(line)
                except ValueError:
                    self._fail(f"wrote something that is not the protocol: {line[:120]!r}")
                    return
                if "method" in message:
                    task = asyncio.ensure_future(self._answer(message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                else:
                    self._resolve(message)
        except ConnectionError as exc:
            self._fail(f"connection lost: {exc}")

    def _resolve(self, message: dict[str, Any]) -> None:
        future = self._pending.get(message.get("id", -1))
        if future is None or future.done():
            log.warning("plugin %s answered no pending request: %.200r", self.name, message)
            return
        if "error" in message:
            err = message["error"] if isinstance(message["error"], dict) else {}
            future.set_exception(
                RemoteError(
                    str(err.get("message", "unspecified error")),
                    code=int(err.get("code", protocol.INTERNAL_ERROR)),
                    data=err.get("data"),
                )
            )
        else:
            future.set_result(message.get("result"))

    async def _answer(self, message: dict[str, Any]) -> None:
        id_ = message.get("id")
        try:
            result = await self._on_request(message["method"], message.get("params"))
            reply = protocol.response(id_, result)
        except Exception as exc:
            reply = protocol.error_response(id_, protocol.UPSTREAM_FAILED, str(exc))
        with contextlib.suppress(PluginError):
            await self._write(reply)

    def _fail(self, why: str) -> PluginError:
        if self._closed is None:
            detail = self._describe_exit()
            self._closed = PluginError(
                f"plugin {self.name} {why}" + (f"; its stderr ends: {detail}" if detail else "")
            )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self._closed)
        return self._closed

    async def aclose(self) -> None:
        """Stop reading; pending requests fail."""
        self._read_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._read_task
        self._fail("was shut down")
        with contextlib.suppress(Exception):
            self._writer.close()


class Transport(ABC):
    """Starts a bridge and connects a :class:`Channel` to it."""

    name: str

    @abstractmethod
    async def open(self, on_request: RequestHandler) -> Channel:
        """Start the bridge and return the connected channel."""

    @abstractmethod
    async def aclose(self) -> None:
        """Stop the bridge; must leave no process or thread behind."""


class SubprocessTransport(Transport):
    """Runs a bridge process (``argv``) as its own process group.

    With ``sandboxed``, ``argv`` starts the sandbox bootstrap (``hipcheck.sandbox``), whose
    first line on the stream reports what it applied: :attr:`sandbox` keeps it. ``on_start``
    gets the new process's pid while it starts up (to move it into its cgroup); ``on_close``
    runs once the bridge is dead, to finish off what it left.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        shutdown_timeout: float = 5.0,
        sandboxed: bool = False,
        on_start: Callable[[int], None] | None = None,
        on_close: Callable[[], None] | None = None,
        report_timeout: float = 60.0,
        max_message_bytes: int = protocol.MAX_MESSAGE_BYTES,
    ) -> None:
        self.name = name
        self._max_message_bytes = max_message_bytes
        self._argv = list(argv)
        self._env = dict(env)
        self._cwd = cwd
        self._shutdown_timeout = shutdown_timeout
        self._sandboxed = sandboxed
        self._on_start = on_start
        self._on_close = on_close
        self._report_timeout = report_timeout
        #: The sandbox bootstrap's report: ``{"applied": [...], "missing": [...]}``.
        self.sandbox: dict[str, Any] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._channel: Channel | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def open(self, on_request: RequestHandler) -> Channel:
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
                cwd=self._cwd,
                limit=self._max_message_bytes,
                start_new_session=True,  # its own process group, so we can kill all it spawns
            )
        except OSError as exc:
            raise PluginError(f"plugin {self.name}: cannot start {self._argv[0]}: {exc}") from exc
        assert self._proc.stdout and self._proc.stdin and self._proc.stderr
        self._stderr_task = asyncio.ensure_future(self._drain_stderr(self._proc.stderr))
        if self._on_start is not None:
            await asyncio.to_thread(self._on_start, self._proc.pid)
        if self._sandboxed:
            self.sandbox = await self._read_report(self._proc.stdout)
        self._channel = Channel(
            self.name,
            self._proc.stdout,
            self._proc.stdin,
            on_request,
            describe_exit=self.stderr_tail,
            on_eof=self._exit_status,
            max_message_bytes=self._max_message_bytes,
        )
        return self._channel

    async def _exit_status(self) -> str:
        """How the process ended, once it has and its stderr is read (a second at most)."""
        assert self._proc is not None
        if self._stderr_task is not None:
            await asyncio.wait([self._stderr_task], timeout=1.0)
        for _ in range(100):
            if self._proc.returncode is not None:
                return _describe_status(self._proc.returncode)
            await asyncio.sleep(0.01)
        return ""

    async def _read_report(self, stream: asyncio.StreamReader) -> dict[str, Any]:
        # The first line, written before any plugin code runs: the plugin cannot forge it.
        try:
            line = await asyncio.wait_for(stream.readline(), self._report_timeout)
        except (asyncio.TimeoutError, asyncio.LimitOverrunError, ValueError):
            line = b""
        try:
            message = decode(line)
        except ValueError:
            message = {}
        params = message.get("params")
        if message.get("method") != "sandbox" or not isinstance(params, dict):
            await asyncio.sleep(0.05)  # let the stderr reader catch the bootstrap's last words
            tail = self.stderr_tail()
            raise PluginError(
                f"plugin {self.name}: its sandbox was not set up"
                + (f"; its stderr ends: {tail}" if tail else f" (it sent {line[:120]!r})")
            )
        return params

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        # Kept short: the tail explains a crash; the rest goes to the debug log.
        while line := await stream.readline():
            text = line.decode("utf-8", "replace").rstrip()
            self._stderr.append(text)
            log.debug("[%s] %s", self.name, text)

    def stderr_tail(self) -> str:
        return " | ".join(line for line in self._stderr if line.strip())[-600:]

    async def aclose(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if self._channel is not None and proc.returncode is None:
            with contextlib.suppress(PluginError):
                await self._channel.request("shutdown", timeout=self._shutdown_timeout)
        if self._channel is not None:
            await self._channel.aclose()
        # The bridge has answered shutdown (or is past answering): whatever is left in its
        # process group, the bridge included, goes now. No orphans, and no waiting on a
        # grandchild that holds the stderr pipe open.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if self._on_close is not None:
            # Before waiting: wait() returns once every holder of the pipes is gone, and a
            # process that left the group (setsid) may hold them.
            await asyncio.to_thread(self._on_close)
        await proc.wait()
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._stderr_task


def _describe_status(code: int) -> str:
    if code >= 0:
        return f" with status {code}" if code else ""
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    if -code == getattr(signal, "SIGXCPU", None):
        return f", killed by {name}: it used up its CPU time (its limits.cpu-seconds)"
    return f", killed by {name}"


class InProcessTransport(Transport):
    """Runs the bridge server for an already-imported plugin object in a thread, over pipes."""

    def __init__(self, name: str, plugin: object) -> None:
        self.name = name
        self._plugin = plugin
        self._thread: threading.Thread | None = None
        self._channel: Channel | None = None

    async def open(self, on_request: RequestHandler) -> Channel:
        pm = load_plugin(self._plugin, self.name)
        to_bridge_r, to_bridge_w = os.pipe()
        from_bridge_r, from_bridge_w = os.pipe()
        bridge_in = os.fdopen(to_bridge_r, "rb")
        bridge_out = os.fdopen(from_bridge_w, "wb")

        def run() -> None:
            with bridge_in, bridge_out:
                Server(pm, bridge_in, bridge_out).serve()

        self._thread = threading.Thread(target=run, name=f"bridge-{self.name}", daemon=True)
        self._thread.start()
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=protocol.MAX_MESSAGE_BYTES)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(from_bridge_r, "rb")
        )
        transport, proto = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(to_bridge_w, "wb")
        )
        writer = asyncio.StreamWriter(transport, proto, None, loop)
        self._channel = Channel(self.name, reader, writer, on_request)
        return self._channel

    async def aclose(self) -> None:
        if self._channel is not None:
            with contextlib.suppress(PluginError):
                await self._channel.request("shutdown", timeout=5)
            await self._channel.aclose()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
