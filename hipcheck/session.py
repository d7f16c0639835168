"""One run of hipcheck: start the plugins a policy needs, route their queries, collect results.

Every plugin runs behind a :class:`~hipcheck.transport.Transport`. Queries a plugin makes of
another go through :meth:`Session.ask`, which memoises answers by (plugin, query, key) and
computes each at most once even when several plugins ask at the same moment (single flight).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hipcheck.discovery import InstalledPlugin
from hipcheck.errors import ArtifactError, HipcheckError, PluginError
from hipcheck.schemas import QuerySchemas, check, compile_query_schemas
from hipcheck.transport import Channel, RemoteError, Transport
from hipcheck.versions import matches
from hipcheck_bridge import protocol

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 60.0
#: The plugin interface versions (a manifest's ``plugin-interface-version``) this host runs.
PLUGIN_INTERFACE_VERSIONS = ("1",)
#: The manifest ``interface`` values this host can launch (no exec or hipcheck-grpc adapter yet).
INTERFACES = ("python",)
DEFAULT_QUERY_TIMEOUT = 600.0


class Launcher(Protocol):
    """Makes the transport for a plugin (provisioning its environment first if need be)."""

    def transport_for(self, plugin: InstalledPlugin) -> Transport: ...


@dataclass
class PluginClient:
    """A started plugin: its transport, channel, and what it told us about itself."""

    plugin: InstalledPlugin
    transport: Transport
    channel: Channel
    handshake: dict[str, Any]
    configured: dict[str, Any] = field(default_factory=dict)
    schemas: dict[str, QuerySchemas] = field(default_factory=dict)

    @property
    def default_query(self) -> str | None:
        for q in self.handshake.get("queries", []):
            if q.get("default"):
                return str(q["name"])
        return None

    @property
    def query_names(self) -> set[str]:
        return {str(q["name"]) for q in self.handshake.get("queries", [])}


@dataclass(frozen=True)
class QueryResult:
    """What a plugin's query returned."""

    value: Any
    concerns: list[str]
    hints: list[dict[str, Any]]


#: Installed plugins by identity: one each, or every installed version (highest first).
Installed = Mapping[str, "InstalledPlugin | Sequence[InstalledPlugin]"]


@dataclass(frozen=True)
class Resolution:
    """Which plugins a run starts, in what order, at which versions, and why others cannot run.

    ``order`` lists every usable plugin reachable from the roots, each plugin's dependencies
    before it; ``chosen`` is the installed plugin picked for each; ``problems`` maps a plugin to
    why it (or a plugin it depends on) cannot run.
    """

    order: list[str]
    chosen: dict[str, InstalledPlugin]
    problems: dict[str, str]


def required_plugins(
    roots: Mapping[str, str],
    installed: Installed,
    excluded: Mapping[str, str] | None = None,
) -> Resolution:
    """Resolve the plugins ``roots`` (identity -> version requirement) need, before any starts.

    ``installed`` maps each identity to its installed plugin, or to several installed versions
    (highest first): the highest that satisfies the first requirement met wins, and every later
    requirement must accept it. Reported: a plugin not installed or excluded (``excluded`` says
    why), no version satisfying a requirement, two requirements no one version satisfies (naming
    who needs what), the wrong plugin interface version, a dependency cycle.
    """
    excluded = excluded or {}
    order: list[str] = []
    chosen: dict[str, InstalledPlugin] = {}
    required_by: dict[str, list[str]] = {}
    problems: dict[str, str] = {}
    own: set[str] = set()  # plugins that cannot run themselves, not for want of a dependency
    state: dict[str, str] = {}

    def candidates(name: str) -> list[InstalledPlugin]:
        found = installed.get(name)
        return (
            [] if found is None else [found] if isinstance(found, InstalledPlugin) else list(found)
        )

    def visit(name: str, requirement: str, path: tuple[str, ...]) -> str | None:
        """Why ``name`` cannot serve whoever is at the end of ``path``, or None if it can."""
        needer = f" (needed by {path[-1]})" if path else ""
        who = f"{requirement} ({f'needed by {path[-1]}' if path else 'policy'})"
        versions = candidates(name)
        if versions and name not in chosen:
            fitting = [p for p in versions if matches(requirement, p.version)]
            if not fitting:
                installed_versions = ", ".join(p.version for p in versions)
                return f"plugin {name} {installed_versions} does not satisfy {who}"
            chosen[name] = fitting[0]
        if versions and not matches(requirement, chosen[name].version):
            earlier = "; ".join(required_by.get(name, []))
            return (
                f"plugin {name}: {who} conflicts with {earlier}, which chose {chosen[name].version}"
            )
        required_by.setdefault(name, []).append(who)
        if state.get(name) == "active":
            cycle = " -> ".join((*path[path.index(name) :], name))
            return f"plugin dependency cycle: {cycle}"
        if name not in state:
            state[name] = "active"
            _resolve(name, chosen.get(name), path)
            state[name] = "done"
        problem = problems.get(name)
        return problem + needer if problem is not None and name in own else problem

    def _resolve(name: str, plugin: InstalledPlugin | None, path: tuple[str, ...]) -> None:
        if plugin is None:
            problems[name] = excluded.get(name, f"plugin {name} is not installed")
            own.add(name)
            return
        if plugin.manifest.interface not in INTERFACES:
            problems[name] = (
                f"plugin {name} {plugin.version} declares interface "
                f"{plugin.manifest.interface!r}; this hipcheck runs {', '.join(INTERFACES)} plugins"
            )
            own.add(name)
            return
        interface = plugin.manifest.plugin_interface_version
        if interface not in PLUGIN_INTERFACE_VERSIONS:
            problems[name] = (
                f"plugin {name} {plugin.version} is written for plugin interface version "
                f"{interface}; this hipcheck speaks {', '.join(PLUGIN_INTERFACE_VERSIONS)}"
            )
            own.add(name)
            return
        for dep in plugin.manifest.dependencies:
            problem = visit(dep.identity, dep.version, (*path, name))
            if problem is not None:
                problems.setdefault(name, problem)
        if name not in problems:
            order.append(name)

    for root, requirement in roots.items():
        problem = visit(root, requirement, ())
        if problem is not None:
            problems.setdefault(root, problem)
    return Resolution(order, chosen, problems)


class Session:
    """The plugins of one run, started and configured, with memoised query routing."""

    def __init__(
        self,
        installed: Mapping[str, InstalledPlugin],
        launcher: Launcher,
        *,
        query_timeout: float = DEFAULT_QUERY_TIMEOUT,
        progress: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self._installed = installed
        self._launcher = launcher
        self._query_timeout = query_timeout
        self._progress = progress
        self.clients: dict[str, PluginClient] = {}
        self.broken: dict[str, str] = {}
        self._memo: dict[tuple[str, str, str], asyncio.Future[QueryResult]] = {}
        self._transports: list[Transport] = []

    async def start(
        self,
        names: Iterable[str],
        configs: Mapping[str, Mapping[str, Any]],
        *,
        secrets: Mapping[str, Sequence[tuple[Sequence[str | int], str]]] | None = None,
    ) -> None:
        """Provision every plugin, then start, handshake and configure them all at once.

        In RFD 0003's order: every env is provisioned and its artifacts validated before any
        plugin process starts, so an artifact that fails validation (:class:`ArtifactError`)
        halts the run before any plugin code runs. Any other failure is recorded in
        :attr:`broken` with the reason, and the other plugins go on. ``secrets`` says, per
        plugin, where its config holds values read from the environment (key path, variable):
        the bridge hashes and returns the reference in their place.
        """
        names = list(names)
        secrets = secrets or {}
        transports = await asyncio.gather(*(self._provision(n) for n in names))
        await asyncio.gather(
            *(
                self._start_one(n, t, configs.get(n, {}), secrets.get(n, ()))
                for n, t in zip(names, transports, strict=True)
                if t is not None
            )
        )
        self._check_data_sources()

    def _check_data_sources(self) -> None:
        """Each started plugin's declared data queries must be offered by a plugin in the run."""
        changed = True
        while changed:  # a plugin dropped here may be another's data source: go again
            changed = False
            for name, client in list(self.clients.items()):
                for wanted in client.configured.get("data_requirements") or []:
                    problem = self._unavailable(str(wanted))
                    if problem is not None:
                        self.broken[name] = f"plugin {name} needs {wanted}: {problem}"
                        del self.clients[name]
                        changed = True
                        break

    def _unavailable(self, wanted: str) -> str | None:
        parts = wanted.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            return "not a 'publisher/name' or 'publisher/name/query'"
        provider = self.clients.get("/".join(parts[:2]))
        if provider is None:
            why = self.broken.get("/".join(parts[:2]))
            return (
                f"that plugin failed: {why}"
                if why
                else ("no plugin in this run provides it (is it in the manifest's dependencies?)")
            )
        query = parts[2] if len(parts) == 3 else provider.default_query
        if query is None or query not in provider.query_names:
            return f"{'/'.join(parts[:2])} has no such query"
        return None

    async def _provision(self, name: str) -> Transport | None:
        try:
            transport = await asyncio.to_thread(self._launcher.transport_for, self._installed[name])
        except ArtifactError:
            raise
        except HipcheckError as exc:
            self.broken[name] = str(exc)
            return None
        self._transports.append(transport)
        return transport

    async def _start_one(
        self,
        name: str,
        transport: Transport,
        config: Mapping[str, Any],
        secrets: Sequence[tuple[Sequence[str | int], str]],
    ) -> None:
        plugin = self._installed[name]
        try:
            channel = await transport.open(self._on_plugin_request)
            info = await channel.request(
                "handshake", {"protocol": protocol.PROTOCOL_VERSION}, timeout=HANDSHAKE_TIMEOUT
            )
            client = PluginClient(plugin, transport, channel, info)
            client.schemas = _compile_schemas(plugin, info)
            params = {
                "config": dict(config),
                "secrets": [{"path": list(path), "env": env} for path, env in secrets],
            }
            client.configured = await channel.request(
                "configure", params, timeout=HANDSHAKE_TIMEOUT
            )
        except RemoteError as exc:
            self.broken[name] = _config_message(name, exc)
            return
        except HipcheckError as exc:
            self.broken[name] = str(exc)
            return
        self.clients[name] = client
        self._progress(f"started {name} {plugin.version}")

    async def _on_plugin_request(self, method: str, params: Any) -> Any:
        if method != "query" or not isinstance(params, dict):
            raise PluginError(f"unsupported request {method!r}")
        result = await self.ask(str(params.get("plugin")), params.get("query"), params.get("key"))
        return {"value": result.value}

    async def ask(self, plugin: str, query: str | None, key: Any) -> QueryResult:
        """Run a plugin's query (its default when ``query`` is None), at most once per key."""
        client = self.clients.get(plugin)
        if client is None:
            why = self.broken.get(plugin, "it is not part of this run")
            raise PluginError(f"plugin {plugin} is unavailable: {why}")
        name = query or client.default_query
        if name is None:
            raise PluginError(f"plugin {plugin} has no default query")
        if name not in client.query_names:
            raise PluginError(f"plugin {plugin} has no query {name!r}")
        memo_key = (plugin, name, protocol.canonical_json(key))
        future = self._memo.get(memo_key)
        if future is None:
            future = asyncio.ensure_future(self._run_query(client, name, key))
            self._memo[memo_key] = future
        # shield: one waiter giving up must not cancel the computation the others share.
        return await asyncio.shield(future)

    async def _run_query(self, client: PluginClient, name: str, key: Any) -> QueryResult:
        identity = client.plugin.identity
        schemas = client.schemas.get(name)
        if schemas is not None:
            check(schemas.key, key, plugin=identity, query=name, which="key")
        try:
            result = await client.channel.request(
                "query", {"query": name, "key": key}, timeout=self._query_timeout
            )
        except RemoteError as exc:
            raise PluginError(f"plugin {client.plugin.identity} query {name}: {exc}") from exc
        if not isinstance(result, dict) or "value" not in result:
            raise PluginError(
                f"plugin {client.plugin.identity} query {name}: answer has no 'value'"
            )
        if schemas is not None:
            check(schemas.output, result["value"], plugin=identity, query=name, which="output")
        return QueryResult(
            value=result["value"],
            concerns=[str(c) for c in result.get("concerns") or []],
            hints=[h for h in result.get("hints") or [] if isinstance(h, dict)],
        )

    def config_hash(self, policy_sha256: str) -> str:
        """Combine the policy's hash with every started plugin's version and config hash.

        Like Hipcheck's RFD 0013, but each plugin's hash is tied to its identity and version:
        a new plugin version with the same configuration can judge differently, and two
        plugins swapping configurations must not give the same hash.
        """
        h = hashlib.sha256(policy_sha256.encode())
        for name in sorted(self.clients):
            client = self.clients[name]
            digest = client.configured.get("config_hash", "")
            h.update(f"\n{name}@{client.plugin.version}={digest}".encode())
        return h.hexdigest()

    async def aclose(self) -> None:
        """Stop every plugin process."""
        await asyncio.gather(*(t.aclose() for t in self._transports), return_exceptions=True)


def _compile_schemas(plugin: InstalledPlugin, handshake: dict[str, Any]) -> dict[str, QuerySchemas]:
    """Each query's validators; the manifest's schema file wins over the handshake's schema."""
    compiled = {}
    for q in handshake.get("queries", []):
        name = str(q.get("name"))
        output = plugin.schemas.get(name, q.get("output_schema"))
        compiled[name] = compile_query_schemas(plugin.identity, name, q.get("key_schema"), output)
    return compiled


def _config_message(name: str, exc: RemoteError) -> str:
    if exc.code == protocol.CONFIG_ERROR and isinstance(exc.data, dict):
        key = exc.data.get("key")
        kind = exc.data.get("kind", "invalid")
        where = f" key {key!r}" if key else ""
        return f"plugin {name} rejected its configuration ({kind}{where}): {exc}"
    return f"plugin {name}: {exc}"
