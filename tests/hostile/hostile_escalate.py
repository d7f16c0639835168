"""Tries to hold or win back privileges: capabilities, limits, the host's network, its signals."""

from __future__ import annotations

import ctypes
import os
import resource
import socket
from collections.abc import Callable
from typing import Any

import hipcheck_bridge as hb

CLONE_NEWNET = 0x40000000


def _status() -> dict[str, str]:
    with open("/proc/self/status") as f:
        return {k: v.strip() for k, v in (line.split(":", 1) for line in f)}


def _setns_host_network() -> None:
    fd = os.open("/proc/1/ns/net", os.O_RDONLY)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _raise_memory_limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _big_file() -> None:
    with open("big.bin", "wb") as f:
        f.write(b"\0" * (9 * 1024 * 1024))


@hb.query(default=True)
def escalate(engine: hb.Engine, target: Any) -> int:
    won = 0
    status = _status()
    for field in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
        engine.concern(f"{field}: {status[field]}")
        won |= int(status[field], 16) != 0
    engine.concern(f"NoNewPrivs: {status['NoNewPrivs']}")
    limits = {
        "AS": resource.RLIMIT_AS,
        "CPU": resource.RLIMIT_CPU,
        "FSIZE": resource.RLIMIT_FSIZE,
        "CORE": resource.RLIMIT_CORE,
    }
    engine.concern(
        "limits: " + ", ".join(f"{k}={resource.getrlimit(v)[0]}" for k, v in limits.items())
    )
    attempts: dict[str, Callable[[], object]] = {
        "raise the memory limit": _raise_memory_limit,
        "allocate 2 GB": lambda: bytearray(2 * 1024**3),
        "write a 9 MB file": _big_file,
        "join the host's network namespace": _setns_host_network,
        "open a Unix socket": lambda: socket.socket(socket.AF_UNIX).connect("/run/docker.sock"),
        "signal the host": lambda: os.kill(os.getppid(), 0),
        "read /etc/shadow": lambda: open("/etc/shadow").read(),  # noqa: SIM115
    }
    for what, attempt in attempts.items():
        try:
            attempt()
        except (OSError, ValueError, MemoryError) as exc:
            engine.concern(f"{what}: refused ({type(exc).__name__}: {exc})")
        else:
            engine.concern(f"{what}: done")
            won = 1
    return won


@hb.hookimpl
def hipcheck_queries() -> list[hb.Query[Any]]:
    return [escalate]
