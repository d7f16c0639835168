"""The ``hipcheck`` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from hipcheck import discovery, policy, target
from hipcheck.__about__ import __version__
from hipcheck.check import run_check
from hipcheck.errors import HipcheckError
from hipcheck.launcher import EnvLauncher, provision
from hipcheck.report import render_human

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])

EXIT_PASS, EXIT_INVESTIGATE, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3


def _debug_option(fn: F) -> F:
    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            ctx.find_root().meta["hipcheck.debug"] = True
            logging.getLogger("hipcheck").setLevel(logging.DEBUG)

    return click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=remember,
        help="Show tracebacks and debug logs.",
    )(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="hipcheck")
@_debug_option
def cli() -> None:
    """Tell which open-source dependencies deserve a closer look.

    Exit codes: 0 PASS, 1 INVESTIGATE, 2 bad usage or input, 3 a plugin or internal failure.
    """


@cli.command()
@click.argument("target_path", metavar="TARGET")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Policy file (TOML); the built-in default when omitted.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    help="Report format on stdout.",
)
@click.option("--ref", default="HEAD", show_default=True, help="The commit to analyse.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 whenever the run completes.")
@click.option(
    "--query-timeout", type=click.FloatRange(min=0.1), help="Seconds a plugin query may take."
)
@_debug_option
def check(
    target_path: str,
    policy_file: Path | None,
    fmt: str,
    ref: str,
    exit_zero: bool,
    query_timeout: float | None,
) -> None:
    """Score TARGET (a local git repository) against the policy: PASS or INVESTIGATE."""
    progress = (
        (lambda msg: _console(stderr=True).print(f"[dim]{msg}[/]"))
        if sys.stderr.isatty()
        else _quiet
    )
    pol = policy.load(policy_file)
    tgt = target.resolve(target_path, ref=ref)
    found = discovery.discover()
    for problem in found.problems:
        _console(stderr=True).print(f"[yellow]warning:[/] {problem}")
    launcher = EnvLauncher(progress=progress, log_level="DEBUG" if _debugging() else "WARNING")
    try:
        report = asyncio.run(
            run_check(
                pol, tgt, found.plugins, launcher, query_timeout=query_timeout, progress=progress
            )
        )
    finally:
        launcher.cleanup()
    if fmt == "json":
        click.echo(report.to_json())
    else:
        render_human(report, _console())
    if not report.passed and not exit_zero:
        sys.exit(EXIT_INVESTIGATE)


@cli.group()
def plugin() -> None:
    """Inspect installed plugins."""


@plugin.command("list")
@click.option("--format", "fmt", type=click.Choice(["human", "json"]), default="human")
@click.option("--provision", "do_provision", is_flag=True, help="Build missing envs first.")
@_debug_option
def plugin_list(fmt: str, do_provision: bool) -> None:
    """List installed plugins: name, version, env path and artifact hash."""
    from hipcheck.artifacts import collect_artifacts
    from hipcheck.envs import cache_dir, env_dir

    found = discovery.discover()
    rows: list[dict[str, Any]] = []
    for name, plug in sorted(found.plugins.items()):
        row: dict[str, Any] = {
            "name": name,
            "version": plug.version,
            "kind": plug.manifest.kind,
            "distribution": plug.dist_name,
        }
        try:
            if do_provision:
                env = provision(plug)
                artifacts, path = list(env.artifacts), env.path
            else:
                artifacts = collect_artifacts(plug.dist, wheelhouse=cache_dir() / "wheels")
                path = env_dir(plug.identity, artifacts)
            own = next(a for a in artifacts if a.name == _normalise(plug.dist_name))
            row.update(
                env=str(path),
                provisioned=(path / "hipcheck-env.json").exists(),
                artifact=own.path.name,
                sha256=own.sha256,
            )
        except HipcheckError as exc:
            row.update(error=str(exc))
        rows.append(row)
    problems = [str(p) for p in found.problems]
    if fmt == "json":
        click.echo(json.dumps({"plugins": rows, "problems": problems}, indent=2))
        return
    console = _console()
    if not rows:
        console.print("no hipcheck plugins installed")
    for row in rows:
        console.print(f"[bold]{row['name']}[/] {row['version']} ({row['kind']})")
        if "error" in row:
            console.print(f"  [red]error:[/] {row['error']}")
            continue
        state = "provisioned" if row["provisioned"] else "not provisioned yet"
        console.print(f"  env:      {row['env']} ({state})")
        console.print(f"  artifact: {row['artifact']} sha256:{row['sha256']}")
    for p in problems:
        console.print(f"[yellow]warning:[/] {p}")


def _normalise(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _console(*, stderr: bool = False) -> Console:
    # rich costs ~20 ms to import; a JSON run in CI never needs it.
    from rich.console import Console

    # soft_wrap: long lines stay whole in pipes and logs; terminals wrap them themselves.
    return Console(stderr=stderr, soft_wrap=True)


def _quiet(_msg: str) -> None:
    pass


def _debugging() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get("hipcheck.debug"))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into a one-line message and exit code."""
    logging.basicConfig(format="%(name)s: %(message)s", level=logging.WARNING)
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="hipcheck", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("hipcheck: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if exc.exit_code == 2 else exc.exit_code)
    except HipcheckError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"hipcheck: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("hipcheck: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        click.echo(
            f"hipcheck: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", err=True
        )
        sys.exit(EXIT_FAILURE)
