"""Running plugins in-process, for tests of the host and of plugins.

:class:`InProcessLauncher` serves already-imported plugin objects through the real bridge
server over OS pipes, so a test drives the whole protocol without building environments or
spawning processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from hipcheck.discovery import ENTRY_POINT_GROUP, InstalledPlugin
from hipcheck.manifest import Manifest
from hipcheck.transport import InProcessTransport


def installed_plugin(**manifest: Any) -> InstalledPlugin:
    """Describe a plugin as if it were installed; ``manifest`` gives the manifest fields."""
    fields = {"version": "0.1.0", "kind": "analysis", "entrypoint": "in-process", **manifest}
    man = Manifest.model_validate(fields)
    ep = metadata.EntryPoint(name=man.name, value=man.entrypoint, group=ENTRY_POINT_GROUP)
    # No files back this distribution: nothing reads them for in-process plugins.
    dist = metadata.PathDistribution(Path("/nonexistent") / f"{man.name}.dist-info")
    return InstalledPlugin(man, dist, ep)


class InProcessLauncher:
    """A :class:`~hipcheck.session.Launcher` that serves plugin objects in threads."""

    def __init__(self, objects: Mapping[str, object]) -> None:
        self.launched: list[str] = []
        self._objects = objects

    def transport_for(self, plugin: InstalledPlugin) -> InProcessTransport:
        self.launched.append(plugin.identity)
        return InProcessTransport(plugin.identity, self._objects[plugin.identity])
