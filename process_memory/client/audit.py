"""The auditor's commands: ``verify`` checks an export offline against a checkpoint (and its anchor), and
``monitor`` watches the service log from outside (client/monitor.py). Neither trusts the service's word."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import click

from process_memory.client.monitor import DEFAULT_LIST_PAGES, Monitor, MonitorState
from process_memory.client.terminal import CHECK_FAILED, answers, client_of_command, json_option, print_json
from process_memory.proofs.checkpoints import Checkpoint, open_checkpoint
from process_memory.proofs.cosignatures import WitnessKey
from process_memory.proofs.notes import NoteError, Verifier

_Key = TypeVar("_Key")


def _keys_given(keys: tuple[str, ...], parse: Callable[[str], _Key], option: str) -> list[_Key]:
    """The keys given, each as a key or as a file of keys, one per line."""
    texts: list[str] = []
    for key in keys:
        path = Path(key)
        texts += path.read_text().split() if "+" not in key and path.is_file() else [key]
    try:
        return [parse(text) for text in texts]
    except NoteError as refused:
        raise click.BadParameter(str(refused), param_hint=option) from None


def _verifiers(keys: tuple[str, ...]) -> list[Verifier]:
    """The service's verifier keys given."""
    return _keys_given(keys, Verifier.from_key, "--key")


def _witness_keys(keys: tuple[str, ...]) -> list[WitnessKey]:
    """The witnesses' keys given."""
    return _keys_given(keys, WitnessKey.from_key, "--witness-key")


def _json_file(file: IO[str], option: str) -> Any:
    """A JSON file's value; a usage error when it is not JSON."""
    try:
        return json.load(file)
    except ValueError:
        raise click.BadParameter("not a JSON file", param_hint=option) from None


def _note(text: str) -> str:
    """The signed note of a checkpoint file: the note itself, or the body of GET …/checkpoint that holds it."""
    if text.lstrip().startswith("{"):
        try:
            return str(json.loads(text)["note"])
        except (ValueError, KeyError, TypeError):
            raise click.BadParameter("a JSON checkpoint file holds a 'note'", param_hint="--checkpoint") from None
    return text


@click.command("verify")
@click.argument("export", type=click.File("rb"))
@click.option("--checkpoint", "checkpoint_file", required=True, type=click.File("r"), help="a signed checkpoint")
@click.option("--key", "keys", required=True, multiple=True, help="a verifier key, or a file of them; repeatable")
@click.option("--anchor", "anchor_file", type=click.File("r"), help="the instance's anchor (GET …/anchor?size=N)")
@click.option("--witness-key", "witness_keys", multiple=True, help="a witness's key, or a file of them; repeatable")
@click.option("--quorum", type=click.IntRange(min=0), help="cosignatures needed (default: every witness key)")
@json_option("the verdict (ok, and what was checked or what failed) on stdout")
def verify(
    export: IO[bytes],
    checkpoint_file: IO[str],
    keys: tuple[str, ...],
    anchor_file: IO[str] | None,
    witness_keys: tuple[str, ...],
    quorum: int | None,
    as_json: bool,
) -> None:
    """Check an export offline against a signed checkpoint: every entry, the chain, redactions, and that the
    entries up to the checkpoint's size are exactly those it signed; with --anchor, also that the checkpoint's tree
    is in a service checkpoint the service signed and a quorum of witnesses cosigned. Exit 0 when all holds, 1
    naming the first thing that does not, 2 for a usage error. Needs no service."""
    from process_memory.proofs.exports import verify_export  # the entry record's recipe: only this command needs it

    verifiers = _verifiers(keys)
    try:
        signed = open_checkpoint(_note(checkpoint_file.read()), verifiers)
    except NoteError as refused:
        _failed(as_json, f"the checkpoint: {refused}", {"problem": f"the checkpoint: {refused}"})
    verdict = verify_export(export, signed)
    if not verdict.ok:
        _failed(
            as_json, f"seq {verdict.bad_seq}: {verdict.problem}", {"seq": verdict.bad_seq, "problem": verdict.problem}
        )
    said: dict[str, Any] = {"ok": True, "checked": verdict.checked, "origin": signed.origin, "signed_size": signed.size}
    if anchor_file is not None:
        said["anchored"] = _verify_anchor(anchor_file, signed, verifiers, witness_keys, quorum, as_json)
    if as_json:
        print_json(said)
        return
    click.echo(f"ok: {verdict.checked} entries of {signed.origin}; the first {signed.size} are the ones it signed")
    if anchor_file is not None:
        anchored = said["anchored"]
        by = ", ".join(anchored["cosigned_by"]) or "no witness: the service vouches for itself alone"
        click.echo(
            f"anchored: the tree at size {signed.size} is leaf {anchored['leaf_index']} of {anchored['log']} "
            f"at size {anchored['log_size']}, cosigned by {by}"
        )


def _failed(as_json: bool, line: str, verdict: dict[str, Any]) -> NoReturn:
    """Say what failed (one line on stderr, or the verdict as JSON on stdout) and exit 1."""
    if as_json:
        print_json({"ok": False, **verdict})
    else:
        click.echo(line, err=True)
    sys.exit(CHECK_FAILED)


def _verify_anchor(
    anchor_file: IO[str],
    signed: Checkpoint,
    verifiers: list[Verifier],
    keys: tuple[str, ...],
    quorum: int | None,
    as_json: bool,
) -> dict[str, Any]:
    """Check the anchor of the checkpoint's tree: what it showed, or exit 1 with what failed."""
    from process_memory.proofs.anchors import AnchorError, check_anchor

    witnesses = _witness_keys(keys)
    needed = len(witnesses) if quorum is None else quorum
    if needed > len(witnesses):
        raise click.BadParameter(f"a quorum of {needed} needs as many witness keys", param_hint="--quorum")
    try:
        anchored = check_anchor(_json_file(anchor_file, "--anchor"), signed, verifiers, witnesses, needed)
    except AnchorError as refused:
        _failed(as_json, f"the anchor: {refused}", {"problem": f"the anchor: {refused}"})
    service = anchored.service
    return {
        "leaf_index": anchored.leaf_index,
        "log": service.origin,
        "log_size": service.size,
        "cosigned_by": sorted(anchored.cosigned_by),
    }


@click.command("monitor")
@click.option(
    "--state",
    "state_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="where the monitor keeps what it accepted",
)
@click.option("--key", "keys", required=True, multiple=True, help="the service's verifier key, or a file of them")
@click.option("--witness-key", "witness_keys", multiple=True, help="a witness's key, or a file of them; repeatable")
@click.option("--quorum", type=click.IntRange(min=0), help="cosignatures needed (default: every witness key)")
@click.option("--follow", is_flag=True, help="keep watching (a daemon) instead of checking once (a cron job)")
@click.option("--interval", type=click.FloatRange(min=0.1), default=10.0, help="seconds between checks with --follow")
@click.option("--grace", type=click.FloatRange(min=1), default=120.0, help="seconds entries may wait for their anchor")
@click.option(
    "--list-pages",
    type=click.IntRange(min=1),
    default=DEFAULT_LIST_PAGES,
    help="pages of 1,000 instances each check lists, the next going on where it stopped",
)
@json_option("each finding as one JSON object per line")
@answers
def monitor(
    state_dir: Path,
    keys: tuple[str, ...],
    witness_keys: tuple[str, ...],
    quorum: int | None,
    follow: bool,
    interval: float,
    grace: float,
    list_pages: int,
    as_json: bool,
) -> None:
    """Check the service log's latest checkpoint and every instance it anchors since the last check: one line per
    finding (what, then its details). Exit 0 when there is none, 1 when there is one (with --follow, run until
    stopped)."""
    witnesses = _witness_keys(witness_keys)
    needed = len(witnesses) if quorum is None else quorum
    if needed > len(witnesses):
        raise click.BadParameter(f"a quorum of {needed} needs as many witness keys", param_hint="--quorum")
    state = MonitorState(state_dir)
    watcher = Monitor(
        client_of_command(), state, _verifiers(keys), witnesses, needed, timedelta(seconds=grace), list_pages=list_pages
    )
    try:
        while True:
            findings = watcher.run_once()
            for finding in findings:
                if as_json:
                    print_json(finding.line())
                else:
                    click.echo(
                        f"{finding.finding}: " + ", ".join(f"{name} {value}" for name, value in finding.details.items())
                    )
            if not follow:
                sys.exit(CHECK_FAILED if findings else 0)
            time.sleep(interval)
    finally:
        state.close()
