"""The ``hipcheck`` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, cast

import click

from hipcheck import discovery, expr, policy, target
from hipcheck.__about__ import __version__
from hipcheck.check import run_check
from hipcheck.errors import HipcheckError, UsageError
from hipcheck.launcher import EnvLauncher, provision
from hipcheck.report import Report, render_human

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


def _policy_option(fn: F) -> F:
    return click.option(
        "--policy",
        "policy_file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Policy file (TOML); else hipcheck.toml or pyproject.toml [tool.hipcheck] here or "
        "above, else the user config dir's hipcheck.toml, else the built-in default.",
    )(fn)


def _offline_option(fn: F) -> F:
    return click.option(
        "--offline", is_flag=True, help="Use only wheels already in the cache; fetch nothing."
    )(fn)


def _format_option(*choices: str) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="hipcheck")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour in human output (NO_COLOR also turns it off).",
)
@click.option(
    "-p",
    "plugin_options",
    metavar="NAME",
    multiple=True,
    help="Use plugin NAME even with autoload off; -p no:NAME blocks it. Repeatable.",
)
@_debug_option
@click.pass_context
def cli(ctx: click.Context, color: str, plugin_options: tuple[str, ...]) -> None:
    """Tell which open-source dependencies deserve a closer look.

    Exit codes: 0 PASS, 1 INVESTIGATE, 2 bad usage or input, 3 a plugin or internal failure.
    """
    ctx.meta["hipcheck.color"] = color
    ctx.meta["hipcheck.plugins"] = plugin_options


@cli.command()
@click.argument("target_path", metavar="TARGET")
@_policy_option
@_format_option("human", "json", "sarif", "html")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    help="Write the report to this file instead of stdout.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print one summary line instead of the report.")
@click.option("--ref", default="HEAD", show_default=True, help="The commit to analyse.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 whenever the run completes.")
@click.option(
    "--query-timeout", type=click.FloatRange(min=0.1), help="Seconds a plugin query may take."
)
@_offline_option
@_debug_option
def check(
    target_path: str,
    policy_file: Path | None,
    fmt: str,
    output: Path | None,
    quiet: bool,
    ref: str,
    exit_zero: bool,
    query_timeout: float | None,
    offline: bool,
) -> None:
    """Score TARGET (a local git repository) against the policy: PASS or INVESTIGATE."""
    progress = _progress()
    pol = policy.load(policy_file)
    tgt = target.resolve(target_path, ref=ref)
    usable, excluded = _select(pol, _discover())
    launcher = _launcher(pol, offline=offline, targets=(tgt.path,), progress=progress)
    try:
        report = asyncio.run(
            run_check(
                pol,
                tgt,
                usable,
                launcher,
                excluded=excluded,
                query_timeout=query_timeout,
                progress=progress,
            )
        )
    finally:
        launcher.cleanup()
    _emit_report(report, fmt, output, quiet=quiet)
    if not report.passed and not exit_zero:
        sys.exit(EXIT_INVESTIGATE)


def _emit_report(report: Report, fmt: str, output: Path | None, *, quiet: bool) -> None:
    if quiet:
        counts = f"{len(report.passing)} passing, {len(report.failing)} failing"
        click.echo(
            f"{report.recommendation.kind.upper()} {report.repo_name}@{report.repo_head[:12]} "
            f"risk {report.recommendation.risk_score:.2f} ({counts}, "
            f"{len(report.errored)} errored)"
        )
        if output is None:
            return
    if fmt == "human":
        if output is None:
            render_human(report, _console())
        else:
            with output.open("w", encoding="utf-8") as stream:
                render_human(report, _console(file=stream, color=False))
        return
    if fmt == "json":
        text = report.to_json()
    elif fmt == "sarif":
        from hipcheck.formats.sarif import to_sarif

        text = json.dumps(to_sarif(report), indent=2)
    else:
        from hipcheck.formats.html import to_html

        text = to_html(report)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


@cli.command()
@_policy_option
@_format_option("human", "json")
@_debug_option
def scoring(policy_file: Path | None, fmt: str) -> None:
    """Show each analysis's share of the risk score under the policy."""
    from hipcheck.scoring import score_tree

    pol = policy.load(policy_file)
    tree = score_tree(pol.root, {})
    if fmt == "json":
        analyses = [
            {"name": a.plugin, "weight": share, "policy_weight": a.weight}
            for a, share in _leaves(pol)
        ]
        payload = {"policy": pol.source, "analyses": analyses, "tree": tree.model_dump()}
        click.echo(json.dumps(payload, indent=2))
        return
    console = _console()
    console.print(f"policy: {pol.source}")

    def show(node: Any, depth: int) -> None:
        label = node.name if depth else "(risk score)"
        console.print(f"{'  ' * depth}{label}  weight {node.weight}  share {node.share:.1%}")
        for child in node.children:
            show(child, depth + 1)

    show(tree, 0)


def _leaves(pol: policy.Policy) -> list[tuple[policy.Analysis, float]]:
    from hipcheck.scoring import shares

    share = shares(pol.root)
    return [(a, share[a.plugin]) for a in pol.analyses()]


@cli.command()
@_policy_option
@_format_option("human", "json")
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
    help="Seconds each plugin may take to start and configure.",
)  # fmt: skip
@_offline_option
@_debug_option
def ready(policy_file: Path | None, fmt: str, timeout: float, offline: bool) -> None:
    """Check that a run could go: versions, paths, policy, and every plugin it needs.

    Provisions, starts and configures each plugin, then stops it. Exits 1 when anything is not
    ready.
    """
    from hipcheck.readiness import Check, Readiness, environment_checks, plugin_checks

    result = Readiness(checks=environment_checks())
    try:
        pol = policy.load(policy_file)
        result.checks.append(Check("policy", True, pol.source))
    except HipcheckError as exc:
        result.checks.append(Check("policy", False, str(exc)))
        pol = None
    if pol is not None:
        launcher = _launcher(pol, offline=offline)
        try:
            found = discovery.discover()
            usable, excluded = _select(pol, found)
            result.checks += asyncio.run(
                plugin_checks(
                    pol, found, launcher, usable=usable, excluded=excluded, timeout=timeout
                )
            )
        finally:
            launcher.cleanup()
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        console = _console()
        for c in result.checks:
            mark = "[green]ok[/]  " if c.ok else "[red]FAIL[/]"
            console.print(f"{mark} {c.name}: {c.detail}", highlight=False)
        console.print("sandbox in force: " + "; ".join(result.protections), highlight=False)
        if result.missing_protections:
            console.print(
                "[yellow]not in force:[/] " + "; ".join(result.missing_protections),
                highlight=False,
            )
        console.print("[green]ready[/]" if result.ready else "[red]not ready[/]")
    if not result.ready:
        sys.exit(1)


@cli.command()
@click.argument("analysis")
@_policy_option
@_format_option("human", "json")
@_offline_option
@_debug_option
def explain(analysis: str, policy_file: Path | None, fmt: str, offline: bool) -> None:
    """Say what ANALYSIS (publisher/name) measures and how the policy judges it."""
    from hipcheck.readiness import explain as explain_analysis

    pol = policy.load(policy_file)
    launcher = _launcher(pol, offline=offline)
    try:
        usable, excluded = _select(pol, _discover())
        result = asyncio.run(explain_analysis(pol, usable, excluded, launcher, analysis))
    finally:
        launcher.cleanup()
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    console = _console()
    console.print(f"[bold]{result.name}[/] {result.version}", highlight=False)
    console.print(f"  measures:  {result.explanation}", highlight=False)
    console.print(
        f"  passes if: {result.policy_expr}  ({result.policy_expr_source})", highlight=False
    )
    console.print(f"  config:    {json.dumps(result.config, sort_keys=True)}", highlight=False)
    console.print(f"  share of the risk score: {result.share:.1%}", highlight=False)


@cli.command("lock")
@_policy_option
@_offline_option
@_debug_option
def lock_cmd(policy_file: Path | None, offline: bool) -> None:
    """Pin every artifact of every plugin env the policy needs in hipcheck.lock beside it.

    With a lock present, runs install nothing it does not list, at exactly those hashes.
    """
    from hipcheck import plugin_admin

    pol = policy.load(policy_file)
    usable, excluded = _select(pol, _discover())
    click.echo(f"wrote {plugin_admin.lock_policy(pol, usable, excluded, offline=offline)}")


@cli.group("policy")
def policy_group() -> None:
    """Work with policies and policy expressions."""


@policy_group.command("eval")
@click.argument("expression")
@click.option("--input", "input_json", help="A JSON value to bind to $.")
@click.option(
    "--input-file", type=click.File("r"), help="Read the JSON value for $ from a file ('-': stdin)."
)
@_debug_option
def policy_eval(expression: str, input_json: str | None, input_file: TextIO | None) -> None:
    """Evaluate a policy EXPRESSION and print the result in expression syntax."""
    if input_json is not None and input_file is not None:
        raise UsageError("give --input or --input-file, not both")
    text = input_file.read() if input_file is not None else input_json
    value: Any = None
    if text is not None:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"the input is not JSON: {exc}") from exc
    try:
        result = expr.evaluate(expr.parse(expression), value)
    except expr.ExprError as exc:
        raise UsageError(exc.render()) from exc
    click.echo(expr.format_value(result))


@cli.group()
def schema() -> None:
    """Print the JSON Schemas of hipcheck's files and outputs."""


@schema.command("report")
def schema_report() -> None:
    """The JSON report (hipcheck check --format json)."""
    click.echo(json.dumps(Report.model_json_schema(), indent=2))


@schema.command("policy")
def schema_policy() -> None:
    """The policy file."""
    from hipcheck.policy import policy_json_schema

    click.echo(json.dumps(policy_json_schema(), indent=2))


@schema.command("manifest")
def schema_manifest() -> None:
    """A plugin's hipcheck-plugin.toml manifest."""
    from hipcheck.manifest import Manifest

    click.echo(json.dumps(Manifest.model_json_schema(by_alias=True), indent=2))


@cli.group()
def plugin() -> None:
    """Inspect installed plugins."""


@plugin.command("list")
@_format_option("human", "json")
@click.option("--provision", "do_provision", is_flag=True, help="Build missing envs first.")
@_debug_option
def plugin_list(fmt: str, do_provision: bool) -> None:
    """List installed plugins: name, version, env path and artifact hash."""
    from packaging.utils import canonicalize_name

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
            own = next(a for a in artifacts if a.name == canonicalize_name(plug.dist_name))
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
        console.print(f"[bold]{row['name']}[/] {row['version']} ({row['kind']})", highlight=False)
        if "error" in row:
            console.print(f"  [red]error:[/] {row['error']}", highlight=False)
            continue
        state = "provisioned" if row["provisioned"] else "not provisioned yet"
        console.print(f"  env:      {row['env']} ({state})", highlight=False)
        console.print(f"  artifact: {row['artifact']} sha256:{row['sha256']}", highlight=False)
    for p in problems:
        console.print(f"[yellow]warning:[/] {p}", highlight=False)


def _select(
    pol: policy.Policy, found: discovery.Discovered
) -> tuple[dict[str, list[discovery.InstalledPlugin]], dict[str, str]]:
    """The plugins this run may use, after -p options and the autoload setting."""
    ctx = click.get_current_context(silent=True)
    options: tuple[str, ...] = ctx.find_root().meta.get("hipcheck.plugins", ()) if ctx else ()
    block = [o.removeprefix("no:") for o in options if o.startswith("no:")]
    enable = [o for o in options if not o.startswith("no:")]
    return discovery.select(
        found,
        named=pol.plugins,
        enable=enable,
        block=block,
        autoload=not os.environ.get(discovery.AUTOLOAD_ENV),
    )


def _launcher(
    pol: policy.Policy,
    *,
    offline: bool,
    targets: tuple[Path, ...] = (),
    progress: Callable[[str], None] | None = None,
) -> EnvLauncher:
    """The launcher for a run under ``pol``: its pins, sources and lock file, if any.

    ``targets`` are the only repositories plugins may read (the sandbox confines the rest).
    """
    from hipcheck.lock import find_lock

    return EnvLauncher(
        policy=pol,
        lock=find_lock(pol),
        offline=offline,
        targets=targets,
        progress=progress or _quiet,
        log_level="DEBUG" if _debugging() else "WARNING",
    )


@plugin.command("info")
@click.argument("name")
@_format_option("human", "json")
@_debug_option
def plugin_info(name: str, fmt: str) -> None:
    """Show one plugin: identity, version, kind, interface, dependencies, queries, env, status.

    The plugin (with its dependencies) is provisioned and started to list its queries.
    """
    from hipcheck.readiness import describe_plugin

    found = _discover()
    matches = [p for p in found.plugins.values() if name in (p.identity, p.dist_name)]
    if not matches:
        known = ", ".join(sorted(found.plugins)) or "none"
        raise UsageError(f"no installed plugin {name}; installed: {known}")
    ctx = click.get_current_context()
    options: tuple[str, ...] = ctx.find_root().meta.get("hipcheck.plugins", ())
    usable, excluded = discovery.select(
        found, named=[], block=[o[3:] for o in options if o.startswith("no:")]
    )
    launcher = EnvLauncher(targets=(), log_level="DEBUG" if _debugging() else "WARNING")
    try:
        info = asyncio.run(describe_plugin(matches[0], usable, excluded, launcher))
    finally:
        launcher.cleanup()
    if fmt == "json":
        click.echo(json.dumps(info, indent=2))
    else:
        console = _console()
        console.print(
            f"[bold]{info['name']}[/] {info['version']} ({info['kind']})", highlight=False
        )
        for key in ("distribution", "interface", "plugin_interface_version", "entrypoint"):
            console.print(f"  {key.replace('_', ' ')}: {info[key]}", highlight=False)
        for dep in info["dependencies"]:
            console.print(f"  needs: {dep['name']} {dep['version']}", highlight=False)
        for q in info["queries"]:
            default = " (default)" if q["default"] else ""
            console.print(f"  query: {q['name']}{default} {q['description']}", highlight=False)
        if "env" in info:
            console.print(f"  env: {info['env']}", highlight=False)
            console.print(
                f"  artifact: {info['artifact']} sha256:{info['sha256']}", highlight=False
            )
        console.print(f"  status: {info['status']}", highlight=False)
    if info["status"] != "ok":
        sys.exit(EXIT_FAILURE)


def _check_hashes(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> Any:
    for value in values:
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", value):
            raise click.BadParameter(f"{value!r} is not sha256:<64 lowercase hex digits>")
    return values


@plugin.command("install")
@click.argument("spec")
@click.option(
    "--hash",
    "hashes",
    multiple=True,
    metavar="sha256:HEX",
    callback=_check_hashes,
    help="A hash the plugin's wheel must have (repeatable).",
)
@_offline_option
@_debug_option
def plugin_install(spec: str, hashes: tuple[str, ...], offline: bool) -> None:
    """Install the plugin SPEC (requirement, wheel, directory or URL) and build its env."""
    from hipcheck import plugin_admin

    result = plugin_admin.install(spec, hashes=hashes, offline=offline)
    for identity, env in result.envs.items():
        click.echo(
            f"installed {identity} ({result.distribution} {result.version}, "
            f"sha256:{result.artifact.sha256}); env {env.path}"
        )


@plugin.command("remove")
@click.argument("name")
@_debug_option
def plugin_remove(name: str) -> None:
    """Uninstall plugin NAME (identity or distribution) and delete its envs."""
    from hipcheck import plugin_admin

    result = plugin_admin.remove(name)
    click.echo(f"removed {result.distribution} {result.version}")
    for path in result.envs:
        click.echo(f"removed {path}")


@plugin.command("prune")
@_policy_option
@_offline_option
@_debug_option
def plugin_prune(policy_file: Path | None, offline: bool) -> None:
    """Delete the plugin envs the policy does not use (and leftovers of crashed builds)."""
    from hipcheck import plugin_admin

    pol = policy.load(policy_file)
    usable, excluded = _select(pol, _discover())
    keep = plugin_admin.keys_in_use(pol, usable, excluded, offline=offline)
    for path in plugin_admin.prune(keep):
        click.echo(f"removed {path}")


@plugin.command("verify")
@_format_option("human", "json")
@click.option("--repair", is_flag=True, help="Delete drifted envs so the next run rebuilds them.")
@_debug_option
def plugin_verify(fmt: str, repair: bool) -> None:
    """Re-hash every plugin env against what it was built from; exit 1 on any drift."""
    from hipcheck import plugin_admin
    from hipcheck.envs import list_envs

    drifts = plugin_admin.verify(repair=repair)
    if fmt == "json":
        rows = [{"env": str(d.env), "path": str(d.path), "problem": d.problem} for d in drifts]
        click.echo(json.dumps(rows, indent=2))
    elif drifts:
        for d in drifts:
            click.echo(f"{d.env.name}: {d.path}: {d.problem}")
    else:
        click.echo(f"{len(list_envs())} envs verified, no drift")
    if drifts:
        sys.exit(EXIT_INVESTIGATE)


@plugin.command("new")
@click.argument("name")
@click.option(
    "--publisher", required=True, help="Who publishes the plugin: its identity is PUBLISHER/NAME."
)
@click.option(
    "--kind",
    type=click.Choice(["analysis", "data"]),
    default="analysis",
    show_default=True,
    help="An analysis (judged by a policy) or a data source for other plugins.",
)
@click.option(
    "--directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="Where to create hipcheck-plugin-NAME/.",
)
@_debug_option
def plugin_new(name: str, publisher: str, kind: str, directory: Path) -> None:
    """Create hipcheck-plugin-NAME/: a pip-installable plugin that passes its own tests."""
    from hipcheck.scaffold import Kind, scaffold

    created = scaffold(name, directory=directory, publisher=publisher, kind=cast(Kind, kind))
    click.echo(f"created {created}")
    click.echo(f"next: cd {created} && pip install '.[test]' && pytest")


def _discover() -> discovery.Discovered:
    found = discovery.discover()
    for problem in found.problems:
        _console(stderr=True).print(f"[yellow]warning:[/] {problem}", highlight=False)
    return found


def _progress() -> Callable[[str], None]:
    if not sys.stderr.isatty():
        return _quiet
    return lambda msg: _console(stderr=True).print(f"[dim]{msg}[/]", highlight=False)


def _console(*, stderr: bool = False, file: TextIO | None = None, color: bool = True) -> Console:
    # rich costs ~20 ms to import; a JSON run in CI never needs it.
    from rich.console import Console

    ctx = click.get_current_context(silent=True)
    choice = ctx.find_root().meta.get("hipcheck.color", "auto") if ctx else "auto"
    # soft_wrap: long lines stay whole in pipes and logs; terminals wrap them themselves.
    return Console(
        stderr=stderr,
        file=file,
        soft_wrap=True,
        force_terminal=True if choice == "always" and color else None,
        no_color=True if choice == "never" or not color else None,
    )


def _quiet(_msg: str) -> None:
    pass


def _debugging() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get("hipcheck.debug"))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into a short message and an exit code."""
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
