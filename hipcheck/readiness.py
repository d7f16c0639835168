"""``hipcheck ready`` and ``hipcheck explain``: what a run would use, checked without running it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from hipcheck.__about__ import __version__
from hipcheck.discovery import Discovered, InstalledPlugin
from hipcheck.envs import cache_dir
from hipcheck.errors import ArtifactError, HipcheckError, PluginError, UsageError
from hipcheck.launcher import EnvLauncher, probe
from hipcheck.policy import Policy
from hipcheck.sandbox import Protections, protections_of
from hipcheck.scoring import shares
from hipcheck.session import Installed, Launcher, Session, required_plugins


@dataclass
class Check:
    """One readiness check: what, whether it holds, and the detail a person needs."""

    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class Readiness:
    """Everything ``hipcheck ready`` found."""

    checks: list[Check] = field(default_factory=list)
    #: What a plugin process gets on this machine, as a sandbox probe found (not a claim).
    sandbox: Protections = field(default_factory=probe)

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def protections(self) -> tuple[str, ...]:
        """The protections in force, by name."""
        return tuple(dict.fromkeys(p.name for p in self.sandbox.in_force))

    @property
    def missing_protections(self) -> tuple[str, ...]:
        """The protections not in force, each with why."""
        return tuple(f"{p.name} ({p.detail})" for p in self.sandbox.not_in_force)

    def to_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "checks": [c.to_json() for c in self.checks],
            "sandbox": self.sandbox.to_json(),
        }


def environment_checks() -> list[Check]:
    """Versions and paths: the interpreter, git, pip, the cache dir."""
    checks = [Check("hipcheck", True, f"{__version__} on Python {sys.version.split()[0]}")]
    git = shutil.which("git")
    if git is None:
        checks.append(Check("git", False, "git is not on PATH; the git plugin needs it"))
    else:
        out = subprocess.run([git, "--version"], capture_output=True, text=True, check=False)
        checks.append(Check("git", out.returncode == 0, out.stdout.strip() or out.stderr.strip()))
    try:
        import pip

        checks.append(Check("pip", True, f"pip {pip.__version__} (builds plugin envs)"))
    except ImportError:
        checks.append(Check("pip", False, f"no pip in {sys.prefix}; plugin envs cannot be built"))
    cache = cache_dir()
    writable = _writable(cache)
    checks.append(
        Check("cache dir", writable, str(cache) if writable else f"{cache} (not writable)")
    )
    return checks


def _writable(path: Path) -> bool:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return os.access(probe, os.W_OK)


async def plugin_checks(
    policy: Policy,
    found: Discovered,
    launcher: Launcher,
    *,
    usable: Installed,
    excluded: Mapping[str, str],
    timeout: float,
) -> list[Check]:
    """Provision, start and configure every plugin the policy needs, then stop them."""
    checks = [Check("discovery", False, str(p)) for p in found.problems]
    roots = {a.plugin: policy.plugins[a.plugin].version for a in policy.analyses()}
    resolution = required_plugins(roots, usable, excluded)
    order = resolution.order
    checks += [Check(name, False, why) for name, why in sorted(resolution.problems.items())]
    session = Session(resolution.chosen, launcher, query_timeout=timeout)
    try:
        await session.start(
            order,
            {name: policy.config_for(name) for name in order},
            secrets={name: policy.secrets(name) for name in order},
        )
    except ArtifactError as exc:
        return [*checks, Check("artifacts", False, str(exc))]
    finally:
        await session.aclose()
    for name in order:
        if name in session.broken:
            checks.append(Check(name, False, session.broken[name]))
            continue
        client = session.clients[name]
        detail = (
            f"{client.plugin.version}, started and configured "
            f"(config hash {client.configured.get('config_hash', '')[:12]})"
        )
        missing = protections_of(client.transport).not_in_force
        if missing:
            detail += "; sandbox not in force: " + "; ".join(
                f"{p.name}: {p.detail}" for p in missing
            )
        checks.append(Check(name, True, detail))
    return checks


@dataclass(frozen=True)
class Explanation:
    """What one analysis measures and how this policy judges it."""

    name: str
    version: str
    explanation: str
    policy_expr: str
    policy_expr_source: str
    config: Mapping[str, Any]
    config_hash: str
    share: float

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "explanation": self.explanation,
            "policy_expr": self.policy_expr,
            "policy_expr_source": self.policy_expr_source,
            "config": dict(self.config),
            "config_hash": self.config_hash,
            "share": self.share,
        }


async def explain(
    policy: Policy,
    usable: Installed,
    excluded: Mapping[str, str],
    launcher: Launcher,
    name: str,
) -> Explanation:
    """Start the analysis's plugin, configure it as the policy does, and ask what it measures."""
    analysis = next((a for a in policy.analyses() if a.plugin == name), None)
    if analysis is None:
        known = ", ".join(a.plugin for a in policy.analyses())
        raise UsageError(f"the policy ({policy.source}) has no analysis {name}; it has: {known}")
    resolution = required_plugins({name: policy.plugins[name].version}, usable, excluded)
    if name in resolution.problems:
        raise PluginError(resolution.problems[name])
    order = resolution.order
    session = Session(resolution.chosen, launcher)
    try:
        # Its dependencies too: the data source check wants the plugins it will query.
        await session.start(
            order,
            {n: policy.config_for(n) for n in order},
            secrets={n: policy.secrets(n) for n in order},
        )
    finally:
        await session.aclose()
    if name in session.broken:
        raise PluginError(session.broken[name])
    configured = session.clients[name].configured
    expr = analysis.policy or configured.get("default_policy_expr") or ""
    return Explanation(
        name=name,
        version=resolution.chosen[name].version,
        explanation=configured.get("explanation") or "(the plugin gives no explanation)",
        policy_expr=expr,
        policy_expr_source="policy" if analysis.policy else "plugin default",
        config=configured.get("config") or {},
        config_hash=configured.get("config_hash", ""),
        share=shares(policy.root).get(name, 0.0),
    )


async def describe_plugin(
    plugin: InstalledPlugin,
    usable: Installed,
    excluded: Mapping[str, str],
    launcher: EnvLauncher,
) -> dict[str, Any]:
    """Everything about one installed plugin, its queries included (it is started to ask)."""
    m = plugin.manifest
    info: dict[str, Any] = {
        "name": plugin.identity,
        "version": plugin.version,
        "kind": m.kind,
        "interface": m.interface,
        "plugin_interface_version": m.plugin_interface_version,
        "distribution": plugin.dist_name,
        "entrypoint": m.entrypoint,
        "dependencies": [{"name": d.identity, "version": d.version} for d in m.dependencies],
        "queries": [],
        "status": "ok",
    }
    resolution = required_plugins({plugin.identity: "*"}, usable, excluded)
    problems = dict(resolution.problems)
    session = Session(resolution.chosen, launcher)
    try:
        if plugin.identity not in problems:
            await session.start(resolution.order, {})
    except HipcheckError as exc:
        problems[plugin.identity] = str(exc)
    finally:
        await session.aclose()
    env = launcher.envs.get(plugin.identity)
    if env is not None:
        own = next(
            (a for a in env.artifacts if a.name == canonicalize_name(plugin.dist_name)), None
        )
        info.update(env=str(env.path), artifact=own.path.name if own else None)
        info["sha256"] = own.sha256 if own else None
    client = session.clients.get(plugin.identity)
    if client is not None:
        info["queries"] = [
            {k: q.get(k) for k in ("name", "default", "description", "key_schema", "output_schema")}
            for q in client.handshake.get("queries", [])
        ]
    else:
        info["status"] = problems.get(plugin.identity) or session.broken.get(
            plugin.identity, "did not start"
        )
    return info
