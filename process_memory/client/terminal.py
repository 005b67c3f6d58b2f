"""What every ``process-memory`` command shares: the client the command line describes, the exit statuses, the
client's errors as one line and a status, and the ``--json`` flag (human output by default, JSON with it)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from process_memory.client.api import URL_VARIABLE, Client
from process_memory.client.errors import ApiError, BadUrl, ConnectionFailed, Unavailable

#: Exit statuses (documented in cli.py and docs/client.md); click's own usage errors are 2.
CHECK_FAILED, REFUSED, UNREACHABLE = 1, 3, 4
_F = TypeVar("_F", bound=Callable[..., Any])


def client_of_command() -> Client:
    """The client of the service the command line names (``--url``, ``--key``, ``--timeout``); a URL it cannot
    use is a usage error (2) that says what to give."""
    make: Callable[[], Client] = click.get_current_context().obj
    try:
        return make()
    except BadUrl as bad:
        raise click.UsageError(f"--url (or ${URL_VARIABLE}): {bad}") from None


def answers(command: _F) -> _F:
    """Turn the client's errors into one line on stderr and the documented exit status."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (ConnectionFailed, Unavailable) as failure:
            click.echo(f"error: {failure}", err=True)
            sys.exit(UNREACHABLE)
        except ApiError as refused:
            details = f" {json.dumps(refused.details)}" if refused.details else ""
            click.echo(f"error: {refused}{details}", err=True)
            sys.exit(REFUSED)

    return run  # type: ignore[return-value]


def json_option(what: str) -> Callable[[_F], _F]:
    """The ``--json`` flag every command has: ``what`` it prints as JSON instead of its words for people."""
    return click.option("--json", "as_json", is_flag=True, help=f"print {what} as JSON")


def print_json(value: Any) -> None:
    """One JSON value on one line of standard output, unicode as it is."""
    click.echo(json.dumps(value, ensure_ascii=False))
