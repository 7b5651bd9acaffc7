"""What every command shares: global options, the run wrapper, error handling and exit codes.

Global options (``--tenant``, ``--subscription``, ``--cloud``, ``-o/--output``, ``--dry-run``,
``-v/--verbose``, ``--debug``) are declared once, in ``GLOBAL_OPTIONS``. The root callback takes
them before the command name, each also read from its ``ENTRA_BOOTSTRAP_*`` variable; the
``@command`` decorator adds the same options to a command so they work after the command name
too (a value given after the command wins over one given before it, which wins over the env).

A command body reads them with ``options()``, validates its input (raising ``CliError`` exit 2
before any request), then calls ``execute(fn)`` where ``fn(session)`` is a coroutine that runs
steps. ``@command`` turns every ``CliError`` into the rendered error and its exit code, and any
other exception into exit 1 without a traceback (``--debug`` shows it; it never holds a secret,
since credentials live in azure-identity objects that are never printed).

Usage for another command group (e.g. cli/identity.py)::

    identity_app = typer.Typer(help="...", no_args_is_help=True)

    @command(identity_app, "create")
    def create(name: Annotated[str, typer.Argument(...)]):
        opts = options()
        ...
        changes = execute(lambda session: run_steps([...], session, plan=opts.dry_run))
        opts.out.changes(changes, result={...}, tsv=[...], dry_run=opts.dry_run)
"""

from __future__ import annotations

import contextvars
import enum
import functools
import inspect
import logging
import sys
from dataclasses import dataclass, field
from typing import Annotated, Any, Awaitable, Callable, Optional, TypeVar

import typer

from ..errors import EXIT_API, CliError, unexpected_error
from ..render import Output

T = TypeVar("T")
PANEL = "Global options"


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"
    tsv = "tsv"
    none = "none"


class CloudName(str, enum.Enum):
    public = "public"
    usgov = "usgov"
    china = "china"
    custom = "custom"


def _opt(*decls: str, envvar: str | None, help: str, **kw) -> Any:
    return typer.Option(*decls, envvar=envvar, help=help, rich_help_panel=PANEL,
                        show_envvar=bool(envvar), **kw)


def _global_options(with_env: bool) -> list[tuple[str, Any, Any]]:
    """(parameter name, annotation, default) of each global option."""
    def env(name: str) -> str | None:
        return f"ENTRA_BOOTSTRAP_{name}" if with_env else None

    return [
        ("tenant", Annotated[Optional[str], _opt(
            "--tenant", envvar=env("TENANT"),
            help="Tenant id or domain to sign in to (default: the credential's own).")], None),
        ("subscription", Annotated[Optional[str], _opt(
            "--subscription", envvar=env("SUBSCRIPTION"),
            help="Subscription id for ARM commands (default: AZURE_SUBSCRIPTION_ID).")], None),
        ("cloud", Annotated[Optional[CloudName], _opt(
            "--cloud", envvar=env("CLOUD"), case_sensitive=False,
            help="Azure cloud; custom reads AZURE_AUTHORITY_HOST, ENTRA_BOOTSTRAP_GRAPH_ENDPOINT "
                 "and ENTRA_BOOTSTRAP_ARM_ENDPOINT. [default: public]")], None),
        ("output", Annotated[Optional[OutputFormat], _opt(
            "--output", "-o", envvar=env("OUTPUT"), case_sensitive=False,
            help="Output format. [default: table]")], None),
        ("query", Annotated[Optional[str], _opt(
            "--query", envvar=None,
            help="JMESPath query on the command's JSON output (with -o json or -o tsv), as in the "
                 "Azure CLI: e.g. --query result.apps.*.appId -o tsv")], None),
        ("dry_run", Annotated[bool, _opt(
            "--dry-run", envvar=env("DRY_RUN"),
            help="Read and print the plan; write nothing.")], False),
        ("verbose", Annotated[int, _opt(
            "--verbose", "-v", envvar=env("VERBOSE"), count=True,
            help="More detail (reasons of unchanged objects, retries).")], 0),
        ("debug", Annotated[bool, _opt(
            "--debug", envvar=env("DEBUG"),
            help="Log every HTTP request (method, URL, status, time); never a token or secret.")],
         False),
    ]


GLOBAL_NAMES = tuple(name for name, _, _ in _global_options(False))


@dataclass
class Options:
    tenant: str | None = None
    subscription: str | None = None
    cloud: str | None = None
    output: str = "table"
    query: str | None = None
    dry_run: bool = False
    verbose: int = 0
    debug: bool = False
    out: Output = field(default_factory=Output)

    def merge(self, given: dict[str, Any]) -> None:
        """Values given after the command name win; flags add up."""
        for name, value in given.items():
            if isinstance(value, enum.Enum):
                value = value.value
            if name in ("dry_run", "debug"):
                setattr(self, name, getattr(self, name) or bool(value))
            elif name == "verbose":
                self.verbose = max(self.verbose, int(value or 0))
            elif value is not None:
                setattr(self, name, value)
        self.out = Output(self.output or "table", self.verbose, self.query)


_CURRENT: contextvars.ContextVar[Options | None] = contextvars.ContextVar("entra_bootstrap_options",
                                                                         default=None)
CTX_PARAM = "typer_context"


def _root_obj(ctx: typer.Context) -> Options:
    root = ctx.find_root()
    if not isinstance(root.obj, Options):
        root.obj = Options()
    return root.obj


def options() -> Options:
    """The merged global options of the running command."""
    return _CURRENT.get() or Options()


def root_callback(ctx: typer.Context, **given: Any) -> None:
    """Stores the global options given before the command name (or by environment)."""
    _root_obj(ctx).merge(given)


def _with_signature(func: Callable, extra: list[tuple[str, Any, Any]]) -> inspect.Signature:
    sig = inspect.signature(func, eval_str=True)
    params = list(sig.parameters.values())
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann)
               for name, ann, default in extra]
    return sig.replace(parameters=params)


def _show_version(value: bool) -> None:
    """``--version``: the installed package's version (its metadata), then exit 0."""
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"entra-bootstrap {version('entra-bootstrap')}")
        except PackageNotFoundError:        # run from a source tree that was never installed
            typer.echo("entra-bootstrap (not installed: no version metadata)")
        raise typer.Exit(0)


VersionOpt = Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")]


def make_root_callback() -> Callable:
    def callback(ctx: typer.Context, version: bool = False, **given: Any) -> None:
        root_callback(ctx, **given)

    sig = inspect.Signature([inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                               annotation=typer.Context),
                             inspect.Parameter("version", inspect.Parameter.KEYWORD_ONLY, default=False,
                                               annotation=VersionOpt)]
                            + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
                               for n, a, d in _global_options(True)])
    callback.__signature__ = sig  # type: ignore[attr-defined]
    callback.__doc__ = "Secretless access from Azure workloads to Microsoft Entra ID applications."
    return callback


class _DebugHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"{record.levelname.lower()}: {record.getMessage()}\n")
        except Exception:  # noqa: BLE001
            pass


def _quiet_sdk_loggers() -> None:
    # NOTE: azure-identity logs each failed credential of a chain at WARNING; with no handler Python
    # prints them to stderr. Our own error says what failed, and SDK logs must never reach the
    # output (they may carry request details), so the SDK loggers get a NullHandler.
    for name in ("azure", "msal", "httpx", "httpcore", "kiota_http", "kiota_authentication_azure"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _logging(opts: Options) -> logging.Handler | None:
    _quiet_sdk_loggers()
    if not (opts.debug or opts.verbose):
        return None
    handler = _DebugHandler()
    logger = logging.getLogger("entra_bootstrap")
    # NOTE: only our own loggers: azure-core / msal / httpx loggers are left at WARNING so that no
    # request body (a client secret, an assertion) or header can reach the output.
    logger.setLevel(logging.DEBUG if opts.debug else logging.INFO)
    logger.addHandler(handler)
    return handler


def _check_query(query: str | None) -> None:
    """A --query that is not JMESPath is refused before any request (exit 2)."""
    if not query:
        return
    import jmespath
    from jmespath.exceptions import JMESPathError

    from ..errors import usage_error

    try:
        jmespath.compile(query)
    except JMESPathError as exc:
        raise usage_error(f"--query '{query}' is not a JMESPath expression: {exc}", code="BadQuery",
                          fix="see https://jmespath.org, e.g. --query result.apps.*.appId") from None


def command(group: typer.Typer, name: str, **kw: Any) -> Callable[[Callable], Callable]:
    """Register ``func`` as ``group name`` with the global options and the error handling."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            opts = _root_obj(kwargs.pop(CTX_PARAM))
            token = _CURRENT.set(opts)
            opts.merge({n: kwargs.pop(n) for n in GLOBAL_NAMES if n in kwargs})
            handler = _logging(opts)
            try:
                _check_query(opts.query)
                return func(*args, **kwargs)
            except CliError as err:
                opts.out.error(err)
                raise typer.Exit(err.exit_code) from None
            except (typer.Exit, typer.Abort, typer.BadParameter):
                raise
            except KeyboardInterrupt:
                sys.stderr.write("interrupted\n")
                raise typer.Exit(130) from None
            except Exception as exc:  # noqa: BLE001 - never a traceback for the user
                if opts.debug:
                    import traceback
                    traceback.print_exc(file=sys.stderr)
                opts.out.error(unexpected_error(exc))
                raise typer.Exit(EXIT_API) from None
            finally:
                _CURRENT.reset(token)
                if handler is not None:
                    logging.getLogger("entra_bootstrap").removeHandler(handler)

        extra = _global_options(False) + [(CTX_PARAM, typer.Context, inspect.Parameter.empty)]
        wrapper.__signature__ = _with_signature(func, extra)  # type: ignore[attr-defined]
        group.command(name, **kw)(wrapper)
        return wrapper

    return decorate


def confirm(yes: bool, action: str, *, details: list[str] | tuple[str, ...] = (),
            before_asking: Callable[[], None] | None = None) -> None:
    """The one confirmation of every command, before the write that needs it: ``--yes`` goes on;
    on a terminal ``details`` are shown and "ACTION. Go on?" is asked; with no terminal, or when the
    answer is no, the command stops with exit 2 and code ``ConfirmationRequired``."""
    from ..errors import usage_error

    if yes:
        return
    terminal = sys.stdin.isatty()
    if terminal:
        if before_asking is not None:
            before_asking()
        for line in details:
            sys.stderr.write(f"  {line}\n")
        if typer.confirm(f"{action}. Go on?", default=False, err=True):
            return
    why = "the answer was no" if terminal else "standard input is not a terminal"
    raise usage_error(f"{action}: not confirmed ({why}), so not done", code="ConfirmationRequired",
                      fix="answer yes on a terminal, or pass --yes")


def make_session(opts: Options):
    from ..engine.session import open_session

    return open_session(cloud=opts.cloud, tenant=opts.tenant, subscription=opts.subscription)


def execute(fn: Callable[[Any], Awaitable[T]], opts: Options | None = None) -> T:
    """Run ``fn(session)`` in a fresh event loop with a session that is closed afterwards. SIGINT
    and SIGTERM cancel it between requests: ``error[Interrupted]``, exit 130 / 143, and the fix
    "run the same command again" (``fn`` may catch the cancellation to report what it did)."""
    import asyncio

    opts = opts or options()
    session = make_session(opts)      # validates the cloud before any request

    async def main() -> T:
        import signal

        from ..errors import interrupted

        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def stop(signum: int) -> None:
            session.interrupted = signum
            task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop, signum)
            except (NotImplementedError, RuntimeError, ValueError):    # not the main thread
                pass
        try:
            return await fn(session)
        except asyncio.CancelledError:
            if session.interrupted:
                raise interrupted(session.interrupted) from None
            raise
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(signum)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
            await session.close()

    return asyncio.run(main())
