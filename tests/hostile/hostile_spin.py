"""Spins on the CPU for ever."""

from __future__ import annotations

from typing import Any

import hipcheck_bridge as hb


@hb.query(default=True)
def spin(engine: hb.Engine, target: Any) -> int:
    while True:
        pass


@hb.hookimpl
def hipcheck_queries() -> list[hb.Query[Any]]:
    return [spin]
