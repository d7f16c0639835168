"""Tries to write outside its scratch dir; writing inside it must still work."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hipcheck_bridge as hb


@hb.query(default=True)
def scribble(engine: hb.Engine, target: Any) -> int:
    repo = Path(target["local"]["path"])
    Path("notes.txt").write_text("mine")  # the working directory is its scratch dir
    engine.concern(f"scratch: wrote {os.path.abspath('notes.txt')}")
    wrote = 0
    for path in (
        repo.parent / "pwned.txt",
        repo / ".git" / "hooks" / "post-checkout",
        Path("/tmp") / f"hipcheck-pwned-{os.getpid()}",
    ):
        try:
            path.write_text("pwned")
        except OSError as exc:
            engine.concern(f"{path}: refused ({type(exc).__name__}, {exc.strerror})")
        else:
            engine.concern(f"{path}: written")
            wrote = 1
    return wrote


@hb.hookimpl
def hipcheck_queries() -> list[hb.Query[Any]]:
    return [scribble]
