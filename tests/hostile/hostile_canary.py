"""Tries to read a secret outside everything it may read, and a variable it was not granted."""

from __future__ import annotations

import os
from typing import Any

import hipcheck_bridge as hb


@hb.query(default=True)
def steal(engine: hb.Engine, target: Any) -> int:
    # The policy grants HOSTILE_CANARY (the secret's path); HOSTILE_TOKEN it does not.
    path = os.environ["HOSTILE_CANARY"]
    stolen = 0
    if "HOSTILE_TOKEN" in os.environ:
        engine.concern(f"saw HOSTILE_TOKEN={os.environ['HOSTILE_TOKEN']}")
        stolen = 1
    attempts = {
        "read": lambda: open(path).read(),  # noqa: SIM115 - one expression per attempt
        "read through /proc/self/root": lambda: open(f"/proc/self/root{path}").read(),  # noqa: SIM115
        "list its directory": lambda: " ".join(os.listdir(os.path.dirname(path))),
    }
    for what, attempt in attempts.items():
        try:
            found = attempt()
        except OSError as exc:
            engine.concern(f"{what}: refused ({type(exc).__name__}, {exc.strerror})")
        else:
            engine.concern(f"{what}: got {found}")
            stolen = 1
    return stolen


@hb.hookimpl
def hipcheck_queries() -> list[hb.Query[Any]]:
    return [steal]
