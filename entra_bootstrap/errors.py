"""Errors the CLI reports, and the exit code of each family.

Every failure that reaches the user is a ``CliError``: a code (Graph's or ARM's own when there is
one), a message, the object concerned and what to do about it. The top level of the CLI turns it
into one line on stderr (or a JSON document with ``-o json``) and the exit code; no traceback.

Exit codes (documented in README.md, section cli):
    0 success
    1 an Azure / Graph error (or a conflict with what Azure holds)
    2 bad usage or bad input, detected before any write
    3 authentication or authorization failure
    4 not found
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4


@dataclass
class CliError(Exception):
    """A failure to report: ``code`` names it, ``fix`` says what the user can do."""

    message: str
    code: str = "Error"
    object: str | None = None          # e.g. "application 'my-app'"
    fix: str | None = None
    exit_code: int = EXIT_API
    status: int | None = None          # HTTP status when it came from the wire
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict:
        out = {"code": self.code, "message": self.message, "exitCode": self.exit_code}
        if self.status is not None:
            out["status"] = self.status
        if self.object:
            out["object"] = self.object
        if self.fix:
            out["fix"] = self.fix
        out.update(self.details)
        return out


def usage_error(message: str, *, code: str = "BadInput", object: str | None = None,
                fix: str | None = None) -> CliError:
    """Bad usage or bad input (exit 2), always raised before any write."""
    return CliError(message, code=code, object=object, fix=fix, exit_code=EXIT_USAGE)


def not_found(message: str, *, code: str = "NotFound", object: str | None = None,
              fix: str | None = None, status: int | None = None) -> CliError:
    return CliError(message, code=code, object=object, fix=fix, exit_code=EXIT_NOT_FOUND,
                    status=status)


def auth_error(message: str, *, code: str = "AuthenticationFailed", object: str | None = None,
               fix: str | None = None, status: int | None = None) -> CliError:
    return CliError(message, code=code, object=object, fix=fix, exit_code=EXIT_AUTH, status=status)


def api_error(message: str, *, code: str = "Error", object: str | None = None,
              fix: str | None = None, status: int | None = None) -> CliError:
    return CliError(message, code=code, object=object, fix=fix, exit_code=EXIT_API, status=status)


def unexpected_error(exc: BaseException) -> CliError:
    """Anything that is not a CliError, as the user sees it (exit 1, never a traceback)."""
    return CliError(f"unexpected error: {type(exc).__name__}: {exc}", code="InternalError",
                    exit_code=EXIT_API, fix="run again with --debug and report the output")


def interrupted(signum: int) -> CliError:
    """Stopped by SIGINT (exit 130) or SIGTERM (exit 143) between requests: every write is safe to
    repeat, so running the same command again finishes the work."""
    import signal

    name = signal.Signals(signum).name
    return CliError(f"interrupted by {name}: what was done before it is listed; a write that was in "
                    "flight may or may not have been applied", code="Interrupted",
                    fix="run the same command again to finish", exit_code=128 + signum)
