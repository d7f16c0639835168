"""Forks until refused; every child waits to be killed, out of its process group if asked."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import hipcheck_bridge as hb

# A bound of its own, should the sandbox not hold: the test then fails instead of the machine.
MAX_FORKS = 2000


@hb.query(default=True)
def bomb(engine: hb.Engine, target: Any) -> int:
    forks = 0
    while forks < MAX_FORKS:
        try:
            pid = os.fork()
        except OSError as exc:
            engine.concern(f"fork refused after {forks} forks ({exc.strerror})")
            return 0
        if pid == 0:
            if engine.config.get("setsid"):
                os.setsid()  # out of the plugin's process group: killpg no longer reaches it
            time.sleep(120)
            os._exit(0)
        forks += 1
    engine.concern(f"forked {forks} times unhindered")
    return 1


@hb.hookimpl
def hipcheck_configure(config: Mapping[str, Any]) -> dict[str, Any]:
    return dict(config)


@hb.hookimpl
def hipcheck_queries() -> list[hb.Query[Any]]:
    return [bomb]
