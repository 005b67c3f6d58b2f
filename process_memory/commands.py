"""The operator commands: ``flask --app process_memory history|state|keys …`` (also ``process-memory-admin``)."""

from __future__ import annotations

import os
from datetime import timedelta

import click
from flask import Flask

from process_memory.auth import SCOPES, KeysFileError, new_key
from process_memory.formats import format_timestamp
from process_memory.proofs.notes import NoteError, generate_key
from process_memory.services import services
from process_memory.stores import SQLStore


def register_commands(app: Flask) -> None:
    """Add the history, state and keys command groups to the app's CLI."""
    app.cli.add_command(history_commands(app))
    app.cli.add_command(state_commands(app))
    app.cli.add_command(keys_commands())


def history_commands(app: Flask) -> click.Group:
    """``history init|gc|reindex``."""
    group = click.Group("history", help="Maintain the history store.")

    @group.command("init")
    def init_schema() -> None:
        """Create collections and indexes ahead of time."""
        services(app).history.store.ensure_schema()
        click.echo("history schema ready")

    @group.command("gc")
    @click.option("--older-than-minutes", default=60, show_default=True, type=click.IntRange(min=1))
    def collect_garbage(older_than_minutes: int) -> None:
        """Delete offloaded data left behind by appends that never completed."""
        count = services(app).history.appender.delete_orphan_blobs(timedelta(minutes=older_than_minutes))
        click.echo(f"deleted {count} orphaned blobs")

    @group.command("reindex")
    @click.option("--instance", "instance_id", default=None, help="Only this instance.")
    def reindex(instance_id: str | None) -> None:
        """Rebuild the current memories, lineage indexes and Merkle trees from the chains alone."""
        memory, history = services(app).memory, services(app).history
        if instance_id is not None:
            found = memory.reindex(instance_id)
            click.echo(f"reindexed {instance_id}: {'a memory' if found else 'no memory'}")
            click.echo(f"rebuilt the tree of {instance_id}: {history.trees.rebuild_tree(instance_id)} entries")
            return
        click.echo(f"reindexed {memory.reindex_all()} instances with a memory")
        click.echo(f"rebuilt the trees of {history.trees.rebuild_trees()} instances")

    group.add_command(redact_command(app))
    return group


class Age(click.ParamType):
    """An age such as ``365d``, ``12h``, ``30m`` or ``90s``."""

    name = "age"
    _UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        """Return the age as a timedelta; fail on anything but a positive whole number and one unit."""
        if isinstance(value, timedelta):
            return value
        text = str(value).strip()
        unit = self._UNITS.get(text[-1:])
        if unit is None or not text[:-1].isdigit() or int(text[:-1]) == 0:
            self.fail(f"{text!r} is not an age such as 365d, 12h, 30m or 90s", param, ctx)
        return timedelta(**{unit: int(text[:-1])})


def redact_command(app: Flask) -> click.Command:
    """``history redact --older-than AGE [--type T]``: retention by age and type."""

    @click.command("redact")
    @click.option("--older-than", "age", required=True, type=Age(), help="e.g. 365d: entries recorded before then")
    @click.option("--type", "entry_type", default=None, help="Only entries of this type.")
    @click.option("--reason", default=None, help="Recorded in each redaction entry (default: the retention rule).")
    def redact(age: timedelta, entry_type: str | None, reason: str | None) -> None:
        """Erase the data of old entries for good, recording each erasure in its instance's chain (docs/proofs.md)."""
        history = services(app).history
        before = format_timestamp(history.context.clock() - age)
        rule = f"retention: recorded before {before}" + (f", type {entry_type}" if entry_type else "")
        redacted = sum(1 for _ in history.redactor.redact_older(before, entry_type, reason or rule))
        click.echo(f"redacted {redacted} entries recorded before {before}")

    return redact


def state_commands(app: Flask) -> click.Group:
    """``state init``."""
    group = click.Group("state", help="Maintain the state store.")

    @group.command("init")
    def init_state() -> None:
        """Create the SQL state table ahead of time (other backends need nothing)."""
        root = services(app).state_root
        if isinstance(root, SQLStore):
            root.ensure_schema()
        click.echo(f"{app.config['SETTINGS'].state_backend} state store ready")

    return group


def keys_commands() -> click.Group:
    """``keys create|signing-key``."""
    group = click.Group("keys", help="Make API keys and checkpoint signing keys (docs/security.md).")

    @group.command("create")
    @click.argument("name")
    @click.option(
        "--scopes",
        required=True,
        help=f"comma-separated, of: {', '.join(SCOPES)}",
    )
    @click.option("--prefix", default=None, help="limit the key to the instance ids that start with this")
    def create_key(name: str, scopes: str, prefix: str | None) -> None:
        """Make a random key: print it once, and the line to add to PROCESS_MEMORY_API_KEYS_FILE."""
        try:
            secret, key = new_key(name, scopes.split(","), prefix)
        except KeysFileError as error:
            raise click.BadParameter(str(error).removeprefix("line 1: ")) from None
        click.echo(f"key (shown once; give it to the client): {secret}", err=True)
        click.echo(key.line())

    @group.command("signing-key")
    @click.argument("name")
    @click.option(
        "--out",
        "path",
        required=True,
        type=click.Path(dir_okay=False, writable=True),
        help="the file to write the secret key to (mode 0600); PROCESS_MEMORY_SIGNING_KEY_FILE names it",
    )
    def signing_key(name: str, path: str) -> None:
        """Make a checkpoint signing key: write the secret to --out, print the public verifier key."""
        try:
            signer_key, verifier_key = generate_key(name)
        except NoteError as error:
            raise click.BadParameter(str(error)) from None
        try:
            os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
                file.write(signer_key + "\n")
        except FileExistsError:
            raise click.BadParameter(f"{path} exists: a signing key is never overwritten") from None
        except OSError as error:
            raise click.ClickException(f"cannot write {path}: {error.strerror}") from None
        click.echo(verifier_key)

    return group
