"""The documentation keeps up with the code: every command and option is in docs/cli.md."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from hipcheck.cli import cli

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path


COMMANDS = sorted(_commands(cli))


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_and_its_options_are_documented(path: tuple[str, ...]) -> None:
    text = (DOCS / "cli.md").read_text()
    assert f"`{' '.join(path)}" in text or f"hipcheck {' '.join(path)}" in text
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            longest = max(param.opts, key=len)
            if longest not in ("--help", "--debug"):
                assert f"`{longest}" in text or f"{longest} " in text, (path, longest)
