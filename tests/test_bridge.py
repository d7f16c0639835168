"""The bridge process: protocol over stdio, guarded against plugins that print."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hipcheck_bridge
from hipcheck_bridge import protocol

PLUGIN = """
import hipcheck_bridge as hb

print("chatter at import")

@hb.query(default=True)
def shout(engine: hb.Engine, key: str) -> str:
    print("chatter in a query")
    return key.upper()

@hb.query
def ask(engine: hb.Engine, key: str) -> object:
    return engine.query("other/plugin/thing", key)

@hb.query
def broken(engine: hb.Engine, key: object) -> object:
    raise hb.QueryError("no data for " + repr(key))

@hb.hookimpl
def hipcheck_queries():
    return [shout, ask, broken]
"""


class Bridge:
    """A real bridge process speaking to the test over pipes."""

    def __init__(self, tmp_path: Path, source: str = PLUGIN) -> None:
        (tmp_path / "chatty.py").write_text(source)
        root = Path(hipcheck_bridge.__file__).parent.parent
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hipcheck_bridge", "--entrypoint", "chatty"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}"},
        )
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(protocol.encode(message))
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout
        return protocol.decode(self.proc.stdout.readline())

    def call(self, method: str, params: Any = None) -> dict[str, Any]:
        self.next_id += 1
        self.send(protocol.request(self.next_id, method, params))
        return self.receive()

    def close(self) -> str:
        self.call("shutdown")
        _, err = self.proc.communicate(timeout=10)
        return err.decode()


@pytest.fixture
def bridge(tmp_path: Path) -> Any:
    b = Bridge(tmp_path)
    yield b
    if b.proc.poll() is None:
        b.proc.kill()
        b.proc.communicate()


def test_handshake_lists_queries_with_schemas_from_type_hints(bridge: Bridge) -> None:
    reply = bridge.call("handshake", {"protocol": protocol.PROTOCOL_VERSION})
    queries = {q["name"]: q for q in reply["result"]["queries"]}
    assert queries["shout"]["default"] is True
    assert queries["shout"]["key_schema"] == {"type": "string"}
    assert queries["shout"]["output_schema"] == {"type": "string"}
    assert reply["result"]["python"]["prefix"] == sys.prefix


def test_prints_from_the_plugin_go_to_stderr_not_the_stream(bridge: Bridge) -> None:
    bridge.call("handshake", {"protocol": protocol.PROTOCOL_VERSION})
    reply = bridge.call("query", {"query": None, "key": "quiet"})
    assert reply["result"] == {"value": "QUIET", "concerns": [], "hints": []}
    stderr = bridge.close()
    assert "chatter at import" in stderr
    assert "chatter in a query" in stderr


def test_a_protocol_version_mismatch_is_refused(bridge: Bridge) -> None:
    reply = bridge.call("handshake", {"protocol": 99})
    assert reply["error"]["code"] == protocol.PROTOCOL_MISMATCH
    assert "host asked for 99" in reply["error"]["message"]


def test_a_query_error_is_answered_not_fatal(bridge: Bridge) -> None:
    bridge.call("handshake", {"protocol": protocol.PROTOCOL_VERSION})
    reply = bridge.call("query", {"query": "broken", "key": 3})
    assert reply["error"] == {
        "code": protocol.QUERY_FAILED,
        "message": "query broken: no data for 3",
    }
    assert bridge.call("query", {"query": "shout", "key": "still here"})["result"]["value"] == (
        "STILL HERE"
    )


def test_the_plugin_queries_the_host_mid_query(bridge: Bridge) -> None:
    bridge.call("handshake", {"protocol": protocol.PROTOCOL_VERSION})
    bridge.send(protocol.request(50, "query", {"query": "ask", "key": "k"}))
    upstream = bridge.receive()
    assert upstream["method"] == "query"
    assert upstream["params"] == {"plugin": "other/plugin", "query": "thing", "key": "k"}
    bridge.send(protocol.response(upstream["id"], {"value": [1, 2]}))
    assert bridge.receive() == protocol.response(50, {"value": [1, 2], "concerns": [], "hints": []})


def test_an_unknown_query_lists_the_known_ones(bridge: Bridge) -> None:
    bridge.call("handshake", {"protocol": protocol.PROTOCOL_VERSION})
    error = bridge.call("query", {"query": "nope", "key": None})["error"]
    assert error["code"] == protocol.UNKNOWN_QUERY
    assert error["data"] == {"known": ["ask", "broken", "shout"]}


def test_garbage_input_gets_a_parse_error_and_the_bridge_carries_on(bridge: Bridge) -> None:
    assert bridge.proc.stdin
    bridge.proc.stdin.write(b"this is not json\n")
    bridge.proc.stdin.flush()
    assert bridge.receive()["error"]["code"] == protocol.PARSE_ERROR
    assert "result" in bridge.call("handshake", {"protocol": protocol.PROTOCOL_VERSION})


def test_a_plugin_with_a_misspelt_hook_fails_to_load_naming_it(tmp_path: Path) -> None:
    b = Bridge(
        tmp_path,
        "import hipcheck_bridge as hb\n@hb.hookimpl\ndef hipcheck_querys():\n    return []\n",
    )
    _, err = b.proc.communicate(timeout=10)
    assert b.proc.returncode == 70
    assert "cannot load plugin chatty" in err.decode()
    assert "hipcheck_querys" in err.decode()


def test_messages_are_single_json_lines() -> None:
    line = protocol.encode({"jsonrpc": "2.0", "id": 1, "result": "a\nb\u2028"})
    assert line.count(b"\n") == 1
    assert json.loads(line)["result"] == "a\nb\u2028"
