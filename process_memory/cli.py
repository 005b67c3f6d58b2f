"""The console scripts.

``process-memory`` is what an auditor or operator types on their own machine: ``verify`` checks an export offline,
trusting only a verifier key. ``process-memory-admin`` runs the operator commands (``history init|gc|reindex|redact``,
``state init``, ``keys``) on the service's own configuration, as ``flask --app process_memory …`` does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO

import click
from flask.cli import FlaskGroup

from process_memory import create_app
from process_memory.history.exports import verify_export
from process_memory.proofs.checkpoints import open_checkpoint
from process_memory.proofs.notes import NoteError, Verifier

#: Exit status when a check fails; 2 (click's) is a usage error, 0 is success.
CHECK_FAILED = 1

admin = FlaskGroup(
    name="process-memory-admin",
    create_app=create_app,
    add_default_commands=False,
    help="Maintain process-memory's history and state stores (configured as the service is: environment and .env).",
)


@click.group(name="process-memory")
def main() -> None:
    """process-memory's command line: check what the service gave you, offline (docs/proofs.md)."""


def _verifiers(keys: tuple[str, ...]) -> list[Verifier]:
    """The verifier keys given, each as a key or as a file of keys, one per line."""
    texts: list[str] = []
    for key in keys:
        path = Path(key)
        texts += path.read_text().split() if "+" not in key and path.is_file() else [key]
    try:
        return [Verifier.from_key(text) for text in texts]
    except NoteError as refused:
        raise click.BadParameter(str(refused), param_hint="--key") from None


def _note(text: str) -> str:
    """The signed note of a checkpoint file: the note itself, or the body of GET …/checkpoint that holds it."""
    if text.lstrip().startswith("{"):
        try:
            return str(json.loads(text)["note"])
        except (ValueError, KeyError, TypeError):
            raise click.BadParameter("a JSON checkpoint file holds a 'note'", param_hint="--checkpoint") from None
    return text


@main.command("verify")
@click.argument("export", type=click.File("rb"))
@click.option("--checkpoint", "checkpoint_file", required=True, type=click.File("r"), help="a signed checkpoint")
@click.option("--key", "keys", required=True, multiple=True, help="a verifier key, or a file of them; repeatable")
def verify(export: IO[bytes], checkpoint_file: IO[str], keys: tuple[str, ...]) -> None:
    """Check an export (GET …/export) against a signed checkpoint: every entry, the chain, redactions, and that the
    entries up to the checkpoint's size are exactly those it signed. Exit 0 when all holds, 1 naming the first bad
    seq otherwise, 2 for a usage error."""
    verifiers = _verifiers(keys)
    try:
        checkpoint = open_checkpoint(_note(checkpoint_file.read()), verifiers)
    except NoteError as refused:
        click.echo(f"the checkpoint: {refused}", err=True)
        sys.exit(CHECK_FAILED)
    verdict = verify_export(export, checkpoint)
    if not verdict.ok:
        click.echo(f"seq {verdict.bad_seq}: {verdict.problem}", err=True)
        sys.exit(CHECK_FAILED)
    signed = f"the first {checkpoint.size} are the ones it signed"
    click.echo(f"ok: {verdict.checked} entries of {checkpoint.origin}; {signed}")
