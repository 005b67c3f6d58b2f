"""``process-memory``: the command an operator or auditor types, on the client (docs/client.md).

It reads ``PROCESS_MEMORY_URL`` and ``PROCESS_MEMORY_KEY`` (or ``--url``, ``--key``). Exit status: 0 done;
1 a check failed (``verify``); 2 a usage error; 3 the service refused the request (its error is printed);
4 the service could not be reached or kept answering 503.
"""

from __future__ import annotations

import functools
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from process_memory.client.api import DEFAULT_TIMEOUT, KEY_VARIABLE, URL_VARIABLE, Client
from process_memory.client.audit import monitor, verify
from process_memory.client.terminal import REFUSED, json_option, print_json
from process_memory.client.terminal import answers as _answers
from process_memory.client.terminal import client_of_command as _client
from process_memory.client.transport import RetryPolicy


@click.group(name="process-memory")
@click.version_option(package_name="process-memory", prog_name="process-memory")
@click.option("--url", envvar=URL_VARIABLE, default=None, help=f"the service (default ${URL_VARIABLE}, or local)")
@click.option("--key", "api_key", envvar=KEY_VARIABLE, default=None, help=f"an API key (default ${KEY_VARIABLE})")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="seconds to wait for the service, retries included (tail -f's long polls count apart)",
)
@click.pass_context
def main(context: click.Context, url: str | None, api_key: str | None, timeout: float) -> None:
    """process-memory's command line: write and read histories, and check them offline (docs/client.md)."""
    retry = RetryPolicy(budget=timeout, notify=lambda line: click.echo(f"process-memory: {line}", err=True))
    context.obj = functools.partial(Client, url, api_key, timeout, retry)


def _json_argument(text: str | None, what: str) -> Any:
    """A JSON value from the command line, or from stdin when it is absent or ``-``."""
    source = sys.stdin.read() if text in (None, "-") else text
    try:
        return json.loads(source)
    except ValueError:
        raise click.BadParameter(f"{what} is not JSON") from None


@main.command()
@click.argument("instance")
@click.argument("entry_type", metavar="TYPE")
@click.argument("data", required=False)
@click.option("--metadata", default=None, help="a JSON object")
@click.option("--id", "entry_id", default=None, help="the entry's id (default: a new UUID, kept across retries)")
@click.option("--if-match", type=int, default=None, help="append only if this seq is the head (-1: empty)")
@json_option("the stored entry")
@_answers
def append(
    instance: str,
    entry_type: str,
    data: str | None,
    metadata: str | None,
    entry_id: str | None,
    if_match: int | None,
    as_json: bool,
) -> None:
    """Append an entry: DATA is JSON, from the argument or stdin. Says where it was stored."""
    meta = _json_argument(metadata, "--metadata") if metadata is not None else None
    value = _json_argument(data, "DATA")
    stored = _client().append(instance, entry_type, value, metadata=meta, id=entry_id, if_match=if_match)
    if as_json:
        print_json(stored)
    else:
        click.echo(f"{instance}: seq {stored['seq']}, {stored['type']}, id {stored['id']}, {stored['hash']}")


_COLUMNS = ("seq", "type", "recorded_at", "recorded_by", "size")


def _console() -> Console:
    """Standard output; when it is not a terminal (piped, a file), wide enough that no id or time is cut."""
    return Console() if sys.stdout.isatty() else Console(width=200)


def _table(entries: Iterator[dict[str, Any]], with_instance: bool = False) -> Table:
    columns = ("instance_id", *_COLUMNS) if with_instance else _COLUMNS
    table = Table(box=None, header_style="bold")
    for name in (*columns, "notes"):
        table.add_column(name, no_wrap=name != "notes")  # an id or a time cut short is no use
    for entry in entries:
        notes = ["redacted"] if entry.get("redacted") else []
        notes += [name for name in ("imported_from", "cloned_from") if name in entry.get("metadata", {})]
        table.add_row(
            *(str(entry.get(name) if entry.get(name) is not None else "") for name in columns), " ".join(notes)
        )
    return table


def _entry_filters(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``history`` and ``search`` share: type, recorded time, how many, and JSON lines."""
    for option in reversed(
        (
            click.option("--type", "entry_type", default=None),
            click.option("--since", default=None, help="RFC 3339: recorded at or after"),
            click.option("--until", default=None, help="RFC 3339: recorded before"),
            click.option("--limit", type=click.IntRange(min=1), default=None, help="at most this many entries"),
            json_option("one entry per line"),
        )
    ):
        command = option(command)
    return command


@main.command()
@click.argument("instance")
@click.option("--backward", is_flag=True, help="newest first")
@_entry_filters
@_answers
def history(
    instance: str,
    backward: bool,
    entry_type: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Show an instance's entries: a table, or JSON lines with --json."""
    found = _client().history(
        instance, "backward" if backward else "forward", type=entry_type, since=since, until=until
    )
    shown = itertools.islice(found, limit)
    if as_json:
        for entry in shown:
            print_json(entry)
    else:
        _console().print(_table(shown))


_INSTANCE_COLUMNS = ("instance_id", "status", "count", "first_recorded_at", "last_recorded_at")


@main.command()
@click.option("--prefix", default=None, help="only ids that start with this")
@click.option("--sort", type=click.Choice(["id", "recent", "size"]), default="id", show_default=True)
@click.option("--type", "head_type", default=None, help="only those whose last entry has this type")
@click.option("--failed/--not-failed", default=None, help="only those whose last entry records a failure, or not")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="at most this many instances")
@json_option("one summary per line")
@_answers
def instances(
    prefix: str | None, sort: str, head_type: str | None, failed: bool | None, limit: int | None, as_json: bool
) -> None:
    """List the instances, each with its status (its last entry's type, and "failed" when that records a failure):
    a table, or JSON lines with --json."""
    found = itertools.islice(_client().instances(prefix, sort=sort, type=head_type, failed=failed), limit)
    if as_json:
        for summary in found:
            print_json(summary)
        return
    table = Table(box=None, header_style="bold")
    for name in _INSTANCE_COLUMNS:
        table.add_column(name, no_wrap=True)
    for summary in found:
        failed_mark = "failed " if summary.get("head_failed") else ""
        status = {"status": failed_mark + (summary.get("head_type") or "—")}
        table.add_row(*(str({**summary, **status}.get(name, "")) for name in _INSTANCE_COLUMNS))
    _console().print(table)


@main.command()
@_entry_filters
@_answers
def search(entry_type: str | None, since: str | None, until: str | None, limit: int | None, as_json: bool) -> None:
    """Find entries across instances by type and recorded time, oldest first: a table, or JSON lines with --json."""
    found = itertools.islice(_client().search(type=entry_type, since=since, until=until), limit)
    if as_json:
        for entry in found:
            print_json(entry)
    else:
        _console().print(_table(found, with_instance=True))


@main.command()
@click.argument("instance")
@click.option("-f", "--follow", is_flag=True, help="keep printing entries as they are appended")
@click.option("-n", "--lines", type=click.IntRange(min=0), default=10, show_default=True, help="the last entries")
@json_option("each entry whole, one per line,")
@_answers
def tail(instance: str, follow: bool, lines: int, as_json: bool) -> None:
    """Print an instance's last entries, a line each (seq, type, recorded time, the data's first characters); with
    -f, go on with new ones as they come."""
    client = _client()
    show = print_json if as_json else _entry_line
    last = list(itertools.islice(client.history(instance, "backward", page_size=min(max(lines, 1), 1000)), lines))
    for entry in reversed(last):
        show(entry)
    if follow:
        after = last[0]["seq"] if last else client.instance(instance)["count"] - 1
        for entry in client.tail(instance, after=after):
            show(entry)
            sys.stdout.flush()


#: Characters of an entry's data a line of ``tail`` shows.
_LINE_DATA = 80


def _entry_line(entry: dict[str, Any]) -> None:
    data = json.dumps(entry.get("data"), ensure_ascii=False, separators=(",", ":"))
    shown = data if len(data) <= _LINE_DATA else data[: _LINE_DATA - 1] + "…"
    click.echo(f"{entry['seq']}  {entry['type']}  {entry['recorded_at']}  {shown}")


@contextmanager
def _progress(total: int | None, what: str, unit: str = "bytes", then: str = "") -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal's stderr, of bytes or of entries; ``then`` names what follows once the total is
    reached (the service's own work, which no bar measures). Nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield lambda _: None
        return
    counted = (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(), TextColumn(unit))
    columns = ("[progress.description]{task.description}", BarColumn(), *counted)
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)

        def advance(moved: int) -> None:
            bar.advance(task, moved)
            if then and total is not None and bar.tasks[0].completed >= total:
                bar.update(task, description=f"{what}: {then}")

        yield advance


@main.command("export")
@click.argument("instance")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@json_option("what was written (instance_id, path, bytes) on stdout")
@_answers
def export_command(instance: str, path: str, as_json: bool) -> None:
    """Save an instance's whole history to PATH (NDJSON, one entry per line)."""
    client = _client()
    count = client.instance(instance)["count"]  # the bar's total: entries appended meanwhile come too
    with _progress(count, f"export {instance}", unit="entries") as advance:
        written = client.export(instance, path, entries=advance)
    if as_json:
        print_json({"instance_id": instance, "path": path, "bytes": written})
    else:
        click.echo(f"exported {instance}: {written} bytes to {path}", err=True)


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.argument("instance")
@json_option("the imported instance's summary")
@_answers
def import_command(path: str, instance: str, as_json: bool) -> None:
    """Import an export file into an empty instance (its whole chain is checked first)."""
    size = Path(path).stat().st_size
    with _progress(size, f"import {instance}", then="the service checks the chain and stores it") as advance:
        summary = _client().import_(path, instance, advance)
    if as_json:
        print_json(summary)
    else:
        click.echo(f"imported {summary['count']} entries into {instance}: head seq {summary['head_seq']}")


@main.command()
@click.argument("instance")
@click.option("--size", type=click.IntRange(min=1), default=None, help="default: every entry")
@click.option("--note", "note_only", is_flag=True, help="the signed note alone, as without --json (for scripts)")
@json_option("the checkpoint with its size and root")
@_answers
def checkpoint(instance: str, size: int | None, note_only: bool, as_json: bool) -> None:
    """Print a signed checkpoint of the instance's tree: its signed note, which people read and verify takes."""
    signed = _client().checkpoint(instance, size)
    if as_json and not note_only:
        print_json(signed)
    else:
        click.echo(signed["note"], nl=False)


@main.command()
@json_option('{"keys": [...]}')
@_answers
def keys(as_json: bool) -> None:
    """Print the verifier keys the service publishes, one per line (get them out of band too)."""
    published = _client().verifier_keys()["keys"]
    if as_json:
        print_json({"keys": published})
        return
    for key in published:
        click.echo(key)


@main.group()
def state() -> None:
    """An instance's working state."""


@state.command("get")
@click.argument("instance")
@json_option('{"value": ..., "etag": ...} on stdout')
@_answers
def state_get(instance: str, as_json: bool) -> None:
    """Print the state's value (exit 3 when there is none); its version, the ETag, goes to stderr."""
    found = _client().state.get(instance)
    if found is None:
        click.echo("error: the instance has no state", err=True)
        sys.exit(REFUSED)
    if as_json:
        print_json({"value": found.value, "etag": found.etag})
        return
    print_json(found.value)
    click.echo(f"etag: {found.etag}", err=True)


@state.command("put")
@click.argument("instance")
@click.argument("value", required=False)
@click.option("--if-match", "etag", default=None, help="replace only this version")
@click.option("--ttl", type=click.IntRange(min=1), default=None, help="seconds until it expires")
@json_option('{"etag": ...}')
@_answers
def state_put(instance: str, value: str | None, etag: str | None, ttl: int | None, as_json: bool) -> None:
    """Store VALUE (JSON, from the argument or stdin) as the state; prints the new version, its ETag."""
    stored = _client().state.put(instance, _json_argument(value, "VALUE"), etag, ttl=ttl)
    if as_json:
        print_json({"etag": stored.etag})
    else:
        click.echo(stored.etag)


# The auditor's commands, which check what the service says rather than ask it (client/audit.py).
main.add_command(verify)
main.add_command(monitor)
