"""pytest fixtures for testing hipcheck plugins, in every project where hipcheck is installed.

hipcheck registers this module through the ``pytest11`` entry point, so a plugin's own tests
get these fixtures without a ``conftest.py``:

``hipcheck_upstream``
    A fresh :class:`~hipcheck.testing.Upstream` per test: fill its ``answers`` with what other
    plugins would answer; its ``calls`` lists what was asked.
``hipcheck_engine``
    ``(config=None) -> Engine``: the engine a query function receives, answering from
    ``hipcheck_upstream``.
``hipcheck_bridge_client``
    ``(plugin, name) -> BridgeClient``: the plugin object served by the real bridge server on a
    thread, answering from ``hipcheck_upstream``; closed when the test ends.
``hipcheck_plugin_process``
    ``(identity) -> PluginProcess``: the installed plugin run for real, in its own provisioned
    environment, as its own process, answering from ``hipcheck_upstream``; shut down and its
    process group killed when the test ends. Environments are built under
    ``hipcheck_cache_dir`` (``$HIPCHECK_CACHE_DIR``, else a directory of the test session),
    once per session. Tests that use it are marked ``hipcheck_plugin_process``, so
    ``-m "not hipcheck_plugin_process"`` leaves them out.

pytest loads this module in every test run of such a project, so it imports nothing of
hipcheck's until a test asks for one of its fixtures.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from hipcheck.testing import BridgeClient, PluginProcess, Upstream
    from hipcheck_bridge import Engine

__all__ = [
    "BridgeClientFactory",
    "EngineFactory",
    "PluginProcessFactory",
    "hipcheck_bridge_client",
    "hipcheck_cache_dir",
    "hipcheck_engine",
    "hipcheck_plugin_process",
    "hipcheck_upstream",
]

PROCESS_MARKER = "hipcheck_plugin_process"


class EngineFactory(Protocol):
    """What ``hipcheck_engine`` is: ``(config=None) -> Engine``."""

    def __call__(self, config: Mapping[str, Any] | None = None) -> Engine: ...


class BridgeClientFactory(Protocol):
    """What ``hipcheck_bridge_client`` is: ``(plugin, name) -> BridgeClient``."""

    def __call__(self, plugin: object, name: str) -> BridgeClient: ...


class PluginProcessFactory(Protocol):
    """What ``hipcheck_plugin_process`` is: ``(identity) -> PluginProcess``."""

    def __call__(self, identity: str) -> PluginProcess: ...


def pytest_configure(config: pytest.Config) -> None:
    # Registered so that projects running with --strict-markers can select on it.
    config.addinivalue_line(
        "markers",
        f"{PROCESS_MARKER}: the test runs an installed hipcheck plugin in its own environment "
        "(added to every test that uses the hipcheck_plugin_process fixture)",
    )


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by marker (-m)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_MARKER in getattr(item, "fixturenames", ()):
            item.add_marker(PROCESS_MARKER)


@pytest.fixture
def hipcheck_upstream() -> Upstream:
    """Canned answers for the plugin's queries of other plugins; empty until the test fills it."""
    from hipcheck.testing import Upstream

    return Upstream()


@pytest.fixture
def hipcheck_engine(hipcheck_upstream: Upstream) -> EngineFactory:
    """Build the engine a query function receives, answering from ``hipcheck_upstream``."""
    from hipcheck.testing import make_engine

    def engine(config: Mapping[str, Any] | None = None) -> Engine:
        return make_engine(config, hipcheck_upstream)

    return engine


@pytest.fixture
def hipcheck_bridge_client(hipcheck_upstream: Upstream) -> Iterator[BridgeClientFactory]:
    """Serve plugin objects through the real bridge server; every client is closed at teardown."""
    from hipcheck.testing import BridgeClient

    with contextlib.ExitStack() as clients:

        def client(plugin: object, name: str) -> BridgeClient:
            return clients.enter_context(BridgeClient(plugin, name, hipcheck_upstream))

        yield client


@pytest.fixture(scope="session")
def hipcheck_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where ``hipcheck_plugin_process`` builds plugin environments: one per session.

    ``$HIPCHECK_CACHE_DIR`` when set, so environments outlive the session (tox and CI set it);
    otherwise a fresh directory, so a test never touches the user's own cache.
    """
    configured = os.environ.get("HIPCHECK_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return tmp_path_factory.mktemp("hipcheck-cache")


@pytest.fixture
def hipcheck_plugin_process(
    hipcheck_upstream: Upstream, hipcheck_cache_dir: Path
) -> Iterator[PluginProcessFactory]:
    """Run installed plugins for real; every one is shut down, process group and all, at teardown.

    The plugin is found by identity among the installed plugins, and its environment is built
    (once per session) under ``hipcheck_cache_dir``.
    """
    from hipcheck.testing import PluginProcess

    with contextlib.ExitStack() as processes:

        def process(identity: str) -> PluginProcess:
            started = PluginProcess(identity, hipcheck_upstream, root=hipcheck_cache_dir)
            return processes.enter_context(started)

        yield process
