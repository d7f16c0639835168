"""``python -m hipcheck_bridge --entrypoint module[:attr]``: serve one plugin over stdio.

The host does not run this module directly: its sandbox bootstrap (``_sandbox.py``) shuts the
process in first, activates the plugin's env, and then calls :func:`main`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from hipcheck_bridge._server import PluginLoadError, Server, load_plugin


def _claim_stdio() -> tuple[int, int]:
    """Take fds 0 and 1 for the protocol and point the plugin's stdin/stdout elsewhere.

    A stray ``print()`` in plugin code then lands on stderr instead of corrupting the stream,
    and nothing the plugin reads from stdin can steal the host's messages.
    """
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto_in, proto_out


def _load(entrypoint: str) -> object:
    module_name, _, attr = entrypoint.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hipcheck_bridge")
    parser.add_argument("--entrypoint", required=True, help="module[:attr] of the plugin")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    proto_in, proto_out = _claim_stdio()
    try:
        pm = load_plugin(_load(args.entrypoint), args.entrypoint)
    except (ImportError, AttributeError, PluginLoadError) as exc:
        print(f"hipcheck_bridge: cannot load plugin {args.entrypoint}: {exc}", file=sys.stderr)
        return 70
    with os.fdopen(proto_in, "rb") as reader, os.fdopen(proto_out, "wb") as writer:
        Server(pm, reader, writer).serve()
    # Queries still running when the host says shutdown (or goes away) have no one to answer
    # to: end now rather than wait for their threads, as a normal interpreter exit would.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
