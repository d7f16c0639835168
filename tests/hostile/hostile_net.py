"""Tries to connect to a TCP listener on 127.0.0.1 whose port its configuration gives."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import hipcheck_bridge as hb


@hb.query(default=True)
def call_home(engine: hb.Engine, target: Any) -> int:
    try:
        with socket.create_connection(("127.0.0.1", engine.config["port"]), timeout=5):
            pass
    except OSError as exc:
        engine.concern(f"connect: refused ({type(exc).__name__}, {exc.strerror})")
        return 0
    engine.concern("connect: connected")
    return 1


@hb.hookimpl
def hipcheck_configure(config: Mapping[str, Any]) -> dict[str, Any]:
    return dict(config)


@hb.hookimpl
def hipcheck_queries() -> list[hb.Query[Any]]:
    return [call_home]
