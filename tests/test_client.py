"""The Python client and the ``process-memory`` command against a real gunicorn (over SQLite), as users run them.

Retries through killed workers store nothing twice, paging yields each entry
once, the tail survives a restart, export/import/verify round-trip, and state
updates from 8 writers lose nothing. The retry rules are also checked on their
own, with a scripted transport and an injected sleep.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from process_memory.client import (
    BadUrl,
    Client,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    RetryPolicy,
    Unavailable,
)
from process_memory.proofs.notes import generate_key
from tests.keys import KeySet, write_test_keys
from tests.services import ROOT, GunicornServer, wait_until

CLI = Path(sys.executable).parent / "process-memory"  # `make install` installs the project's console scripts
ARTIFACTS = ROOT / ".cache" / "artifacts"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GunicornServer, KeySet, str]]:
    """gunicorn with four workers over SQLite, requiring keys and signing checkpoints; and the verifier key."""
    folder = tmp_path_factory.mktemp("client")
    keys = write_test_keys(folder)
    signer_key, verifier_key = generate_key("pm.client")
    (folder / "signing.key").write_text(signer_key)
    env = {
        "PROCESS_MEMORY_DATABASE_URL": f"sqlite:///{folder / 'history.sqlite3'}",
        "PROCESS_MEMORY_API_KEYS_FILE": str(keys.path),
        "PROCESS_MEMORY_SIGNING_KEY_FILE": str(folder / "signing.key"),
        "PROCESS_MEMORY_STATE_BACKEND": "sql",
    }
    server = GunicornServer(env, workers=4, cwd=folder)
    server.start()
    yield server, keys, verifier_key
    server.stop()


@pytest.fixture
def client(served: tuple[GunicornServer, KeySet, str]) -> Iterator[Client]:
    server, keys, _ = served
    with Client(server.url, keys.secrets["all"]) as made:
        yield made


def test_append_many_through_killed_workers_stores_nothing_twice(
    served: tuple[GunicornServer, KeySet, str], client: Client
) -> None:
    server, keys, _ = served
    iid = str(uuid.uuid4())
    entries = [{"type": "row", "data": {"n": n, "pad": "x" * 4000}} for n in range(4000)]  # no ids: the client's
    retried: list[float] = []
    writer = Client(server.url, keys.secrets["all"], retry=RetryPolicy(attempts=20, sleep=retried.append))

    def kill_every_worker_after_each_batch() -> None:
        for done in (1000, 2000, 3000):  # mid-way through the next batch, which is 4 MB of entries
            wait_until(lambda done=done: _count(client, iid) >= done, 120, f"{done} entries")
            for pid in server.worker_pids():
                os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_every_worker_after_each_batch)
    killer.start()
    with writer:
        results = writer.append_many(iid, entries)
    killer.join()
    assert retried  # the kills did break requests in flight, and they were sent again
    assert [r["seq"] for r in results] == list(range(4000))
    stored = list(client.history(iid, page_size=1000))
    assert [e["id"] for e in stored] == [r["id"] for r in results] and len({e["id"] for e in stored}) == 4000
    assert [e["data"]["n"] for e in stored] == list(range(4000))
    assert client.verify(iid)["ok"] is True


def _count(client: Client, iid: str) -> int:
    try:
        return int(client.instance(iid)["count"])
    except NotFound:
        return 0


def test_history_yields_each_of_2500_entries_once_both_ways_and_filtered(client: Client) -> None:
    iid = str(uuid.uuid4())
    client.append_many(iid, ({"type": "even" if n % 2 == 0 else "odd", "data": n} for n in range(2500)))
    assert [e["seq"] for e in client.history(iid)] == list(range(2500))
    assert [e["seq"] for e in client.history(iid, "backward", page_size=333)] == list(range(2499, -1, -1))
    assert [e["data"] for e in client.history(iid, type="odd", after=2000)] == list(range(2001, 2500, 2))


def test_the_tail_survives_a_restart_and_misses_nothing(
    served: tuple[GunicornServer, KeySet, str], client: Client
) -> None:
    server, keys, _ = served
    iid = str(uuid.uuid4())
    seen: list[int] = []

    def follow() -> None:
        with Client(server.url, keys.secrets["read"], retry=RetryPolicy(attempts=40, max_delay=1.0)) as reader:
            for entry in reader.tail(iid, wait=5):
                seen.append(entry["seq"])
                if len(seen) == 10:
                    return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    for n in range(5):
        client.append(iid, "row", n)
    wait_until(lambda: len(seen) == 5, 30, "five entries tailed")
    server.stop()
    server.start()  # the same port
    for n in range(5, 10):
        client.append(iid, "row", n)
    follower.join(timeout=60)
    assert seen == list(range(10))


def test_export_import_and_offline_verify_round_trip_through_the_cli(
    served: tuple[GunicornServer, KeySet, str], client: Client, tmp_path: Path
) -> None:
    server, keys, verifier_key = served
    source, target = str(uuid.uuid4()), str(uuid.uuid4())
    client.append_many(source, ({"type": "row", "data": {"n": n, "é": "\U0001f600"}} for n in range(120)))
    env = {**os.environ, "PROCESS_MEMORY_URL": server.url, "PROCESS_MEMORY_KEY": keys.secrets["all"]}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=120)

    piped = cli("export", source, str(tmp_path / "source.ndjson"))
    assert piped.returncode == 0 and len(piped.stderr.splitlines()) == 1  # only the closing line
    assert piped.stderr.startswith(f"exported {source}: ") and piped.stderr.endswith(
        " bytes to " + str(tmp_path / "source.ndjson") + "\n"
    )
    assert "\x1b[" not in piped.stderr  # no progress bar when stderr is not a terminal
    on_a_terminal = _on_a_terminal([str(CLI), "export", source, str(tmp_path / "tty.ndjson")], env)
    assert "\x1b[" in on_a_terminal
    assert "/120 entries" in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", on_a_terminal)  # the total, from the summary
    checkpoint = cli("checkpoint", source, "--note")
    (tmp_path / "source.cp").write_text(checkpoint.stdout)
    verified = cli("verify", str(tmp_path / "source.ndjson"), "--checkpoint", str(tmp_path / "source.cp"))
    assert verified.returncode == 2  # --key is required: a verifier key, never the API key

    def verify_offline(name: str) -> subprocess.CompletedProcess[str]:
        """The CLI's offline verification of the export and checkpoint saved under ``name``."""
        export, note = str(tmp_path / f"{name}.ndjson"), str(tmp_path / f"{name}.cp")
        return cli("verify", export, "--checkpoint", note, "--key", verifier_key)

    checked = verify_offline("source")
    assert checked.returncode == 0 and checked.stdout.startswith("ok: 120 entries"), checked.stderr
    imported = cli("import", str(tmp_path / "source.ndjson"), target)
    assert (imported.returncode, imported.stdout) == (0, f"imported 120 entries into {target}: head seq 119\n")
    client.export(target, tmp_path / "target.ndjson")
    (tmp_path / "target.cp").write_text(client.checkpoint(target)["note"])
    again = verify_offline("target")
    assert again.returncode == 0, again.stderr
    copies = list(client.history(target))
    assert [e["data"] for e in copies] == [e["data"] for e in client.history(source)]
    assert all(e["metadata"]["imported_from"]["instance_id"] == source for e in copies)
    # The CLI's other commands, and its documented exit statuses.
    assert cli("append", source, "note", '{"by": "cli"}').returncode == 0
    table = cli("history", source, "--backward", "--limit", "2")
    assert table.returncode == 0 and "note" in table.stdout.splitlines()[1]
    listed = [json.loads(line) for line in cli("instances", "--prefix", source[:13], "--json").stdout.splitlines()]
    assert [(summary["instance_id"], summary["count"]) for summary in listed] == [(source, 121)]
    assert source in cli("instances", "--prefix", source[:13]).stdout  # a table
    notes = [json.loads(line) for line in cli("search", "--type", "note", "--json").stdout.splitlines()]
    assert [(entry["instance_id"], entry["data"]) for entry in notes if entry["instance_id"] == source] == [
        (source, {"by": "cli"})
    ]
    assert len(cli("search", "--type", "row", "--limit", "7", "--json").stdout.splitlines()) == 7
    assert cli("checkpoint", str(uuid.uuid4())).returncode == 3  # 404: an unknown instance
    unknown = cli("history", str(uuid.uuid4()))  # as checkpoint says, not an empty table
    assert (unknown.returncode, unknown.stdout) == (3, "")
    assert unknown.stderr.startswith("error: 404 not_found: ")
    assert cli("keys").stdout.split() == [verifier_key]
    assert cli("state", "put", source, '{"step": 1}').returncode == 0
    got = cli("state", "get", source)
    assert got.stdout.strip() == '{"step": 1}'
    etag = got.stderr.strip().removeprefix("etag: ")
    # Pasted into a shell unquoted, the quotes are gone: the version is the same, and so is the answer.
    assert cli("state", "put", source, '{"step": 2}', "--if-match", etag.strip('"')).returncode == 0
    assert cli("state", "put", source, '{"step": 3}', "--if-match", etag).returncode == 3  # no longer the version
    unreachable = subprocess.run(
        [str(CLI), "--url", "http://127.0.0.1:9", "--timeout", "1", "history", source],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = unreachable.stderr.splitlines()
    # Each try said, the last one's reason given: never a silent wait.
    assert unreachable.returncode == 4 and lines[-1].startswith("error: GET http://127.0.0.1:9/api/v1/instances/")
    assert lines[-1].endswith("Connection refused") and lines[0].startswith("process-memory: GET http://127.0.0.1:9/")
    for url, advice in (("127.0.0.1:9", "http://127.0.0.1:9"), (f"{server.url}/api/v1", f"adds: {server.url}\n")):
        misused = cli("--url", url, "history", source)
        assert misused.returncode == 2 and advice in misused.stderr
    version, installed = cli("--version"), metadata.version("process-memory")
    assert (version.returncode, version.stdout) == (0, f"process-memory, version {installed}\n")
    _every_command_says_it_for_people_and_as_json_with_json(cli, source, verifier_key, tmp_path)


def _every_command_says_it_for_people_and_as_json_with_json(
    cli: Any, source: str, verifier_key: str, tmp_path: Path
) -> None:
    """Words by default; with --json, JSON that a script reads (the source instance holds 121 entries)."""
    said = cli("append", source, "step", '{"n": 1}', "--id", "b5a1f6a2-7f0e-4c55-8d3e-5b6f1c2d3e4f").stdout
    assert re.fullmatch(rf"{source}: seq 121, step, id b5a1f6a2-7f0e-4c55-8d3e-5b6f1c2d3e4f, [0-9a-f]{{64}}\n", said)
    again = json.loads(
        cli("append", source, "step", '{"n": 1}', "--id", "b5a1f6a2-7f0e-4c55-8d3e-5b6f1c2d3e4f", "--json").stdout
    )
    assert (again["seq"], again["data"]) == (121, {"n": 1})  # the same entry, answered again
    tailed = cli("tail", source, "-n", "2").stdout.splitlines()
    assert [line.split("  ")[:2] for line in tailed] == [["120", "note"], ["121", "step"]]
    assert tailed[1].endswith('  {"n":1}')
    assert [json.loads(line)["seq"] for line in cli("tail", source, "-n", "2", "--json").stdout.splitlines()] == [
        120,
        121,
    ]
    assert json.loads(cli("keys", "--json").stdout) == {"keys": [verifier_key]}
    mine = ("instances", "--prefix", source, "--sort", "recent")
    assert [json.loads(line)["instance_id"] for line in cli(*mine, "--not-failed", "--json").stdout.splitlines()] == [
        source
    ]
    assert cli(*mine, "--failed", "--json").stdout == "" and cli(*mine, "--type", "note", "--json").stdout == ""
    assert re.search(rf"{source}\s+step\s+122\s", cli(*mine).stdout)  # its status: the last step's type
    state = json.loads(cli("state", "get", source, "--json").stdout)
    assert state["value"] == {"step": 2} and state["etag"].startswith('"')
    put = json.loads(cli("state", "put", source, '{"step": 4}', "--if-match", state["etag"], "--json").stdout)
    assert put["etag"] != state["etag"] and put["etag"].startswith('"')
    exported = json.loads(cli("export", source, str(tmp_path / "again.ndjson"), "--json").stdout)
    assert exported == {
        "instance_id": source,
        "path": str(tmp_path / "again.ndjson"),
        "bytes": (tmp_path / "again.ndjson").stat().st_size,
    }
    note = cli("checkpoint", source).stdout  # the signed note, as --note prints it
    assert note == cli("checkpoint", source, "--note").stdout and note.startswith(f"process-memory/{source}\n122\n")
    signed = json.loads(cli("checkpoint", source, "--json").stdout)
    assert signed["size"] == 122 and signed["note"].startswith(f"process-memory/{source}\n")
    (tmp_path / "again.cp").write_text(note)
    verdict = cli(
        "verify",
        str(tmp_path / "again.ndjson"),
        "--checkpoint",
        str(tmp_path / "again.cp"),
        "--key",
        verifier_key,
        "--json",
    )
    assert (verdict.returncode, json.loads(verdict.stdout)) == (
        0,
        {"ok": True, "checked": 122, "origin": f"process-memory/{source}", "signed_size": 122},
    )
    (tmp_path / "again.ndjson").write_text((tmp_path / "again.ndjson").read_text().replace('{"n":1}', '{"n":2}'))
    refused = cli(
        "verify",
        str(tmp_path / "again.ndjson"),
        "--checkpoint",
        str(tmp_path / "again.cp"),
        "--key",
        verifier_key,
        "--json",
    )
    assert (
        refused.returncode == 1
        and json.loads(refused.stdout)["ok"] is False
        and json.loads(refused.stdout)["seq"] == 121
    )


def _on_a_terminal(command: list[str], env: dict[str, str]) -> str:
    """What a command writes to stderr when stderr is a terminal (a pseudo-terminal here)."""
    controller, terminal = pty.openpty()
    with subprocess.Popen(command, env={**env, "TERM": "xterm"}, stdout=subprocess.DEVNULL, stderr=terminal) as run:
        os.close(terminal)
        written = b""
        while chunk := _read_or_end(controller):
            written += chunk
        assert run.wait(timeout=120) == 0
    os.close(controller)
    return written.decode(errors="replace")


def _read_or_end(descriptor: int) -> bytes:
    try:
        return os.read(descriptor, 65536)
    except OSError:  # the terminal's other end is closed: the command is done
        return b""


def test_state_update_under_8_concurrent_updaters_loses_no_increment(client: Client) -> None:
    iid = str(uuid.uuid4())

    def add(times: int) -> None:
        with Client(client.url, client.http.headers["Authorization"].removeprefix("Bearer ")) as own:
            for _ in range(times):
                own.state.update(iid, lambda count: (count or 0) + 1)

    threads = [threading.Thread(target=add, args=(25,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.state.get(iid).value == 200  # type: ignore[union-attr]


def test_errors_are_typed_and_carry_the_api_code(
    served: tuple[GunicornServer, KeySet, str], client: Client, tmp_path: Path
) -> None:
    server, keys, _ = served
    iid = str(uuid.uuid4())
    with pytest.raises(NotFound) as missing:
        client.head(iid)
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    entry = client.append(iid, "row", 1, id=str(uuid.uuid4()))
    with pytest.raises(Conflict):
        client.append(iid, "row", 2, id=entry["id"])
    assert client.append(iid, "row", 1, id=entry["id"])["seq"] == 0  # the same again: a safe retry
    with Client(server.url, keys.secrets["read"]) as reader, pytest.raises(Forbidden):
        reader.append(iid, "row", 3)
    # The proof calls answer what the routes answer; a state deleted is gone; an unknown export is a NotFound.
    client.append(iid, "row", 4)
    assert (client.proof(iid, 0)["size"], client.consistency(iid, 1)["to"]) == (2, 2)
    assert client.checkpoint(iid, 1)["size"] == 1 and client.verifier_keys()["keys"]
    client.state.put(iid, {"step": 1})
    assert client.state.delete(iid) is True and client.state.get(iid) is None and client.state.delete(iid) is False
    with pytest.raises(NotFound):
        client.export(str(uuid.uuid4()), tmp_path / "never.ndjson")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def _scripted(*answers: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    sent: list[httpx.Request] = []
    remaining = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        answer = remaining.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), sent


def test_retries_honour_retry_after_and_keep_the_same_id() -> None:
    busy = httpx.Response(503, headers={"Retry-After": "3"}, json={"error": {"code": "unavailable", "message": "m"}})
    created = httpx.Response(201, json={"seq": 0})
    transport, sent = _scripted(busy, httpx.ConnectError("refused"), created)
    slept: list[float] = []
    with Client("http://pm.test", "k", retry=RetryPolicy(backoff=0.5, sleep=slept.append), transport=transport) as made:
        assert made.append("i", "row", 1) == {"seq": 0}
    assert slept[0] == 3.0 and 0.25 <= slept[1] <= 1.0  # Retry-After, then exponential backoff with jitter
    bodies = [request.content for request in sent]
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]  # one id, whatever happens
    assert sent[0].headers["Authorization"] == "Bearer k"


def test_retries_end_with_a_typed_error() -> None:
    answers: list[Any] = [httpx.Response(503, json={"error": {"code": "unavailable", "message": "busy"}})] * 3
    transport, _ = _scripted(*answers)
    with Client("http://pm.test", retry=RetryPolicy(attempts=3, sleep=lambda _: None), transport=transport) as made:
        with pytest.raises(Unavailable) as busy:
            made.head("i")
    assert busy.value.code == "unavailable"
    transport, _ = _scripted(*[httpx.ConnectError("refused")] * 2)
    with Client("http://pm.test", retry=RetryPolicy(attempts=2, sleep=lambda _: None), transport=transport) as made:
        with pytest.raises(ConnectionFailed):
            made.head("i")


def test_every_appended_body_carries_an_id_made_once() -> None:
    """The id is what makes a retry safe: a body without one could be stored twice."""
    batch_answer = {"results": [{"id": "x", "seq": n, "hash": "h", "outcome": "created"} for n in range(3)]}
    transport, sent = _scripted(
        httpx.Response(201, json={"seq": 0}),
        httpx.Response(201, json={"seq": 1}),
        httpx.ConnectError("refused"),
        httpx.Response(201, json=batch_answer),
    )
    given = "0b7f3c1e-5d4a-4e2b-9c6d-7a8b9c0d1e2f"
    with Client("http://pm.test", retry=RetryPolicy(sleep=lambda _: None), transport=transport) as made:
        made.append("i", "row", 1)
        made.append("i", "row", 2, id=given)
        made.append_many(
            "i", [{"type": "row", "data": n} for n in range(2)] + [{"type": "row", "data": 9, "id": given}]
        )
    single, kept, *batches = [json.loads(request.content) for request in sent]
    assert uuid.UUID(single["id"]).version == 4
    assert kept["id"] == given
    assert batches[0] == batches[1]  # the retried batch is the same batch, ids and all
    ids = [entry["id"] for entry in batches[0]["entries"]]
    assert ids[2] == given and len(set(ids)) == 3 and all(uuid.UUID(made_id) for made_id in ids[:2])


@pytest.mark.parametrize(
    ("given", "advice"),
    [
        ("localhost:8000", "needs http:// or https:// and a host: give one such as http://localhost:8000"),
        ("ftp://pm.test", "needs http:// or https:// and a host"),
        ("http://", "needs http:// or https:// and a host"),
        ("http://pm.test:8000/api/v1/", "without /api/v1, which the client adds: http://pm.test:8000"),
        ("https://reader:s3cret@pm.test/api/v1", "without /api/v1, which the client adds: https://pm.test"),
        ("http://pm.test:port", "is not one"),
    ],
)
def test_a_url_the_client_cannot_use_is_refused_when_it_is_made_saying_what_to_give(given: str, advice: str) -> None:
    with pytest.raises(BadUrl) as bad:
        Client(given)
    assert advice in str(bad.value)
    assert "s3cret" not in str(bad.value)


def test_a_service_that_does_not_answer_is_given_up_on_at_the_budget_naming_the_url_and_the_wait() -> None:
    now = [0.0]

    def never_answers(request: httpx.Request) -> httpx.Response:
        now[0] += 30.0  # each try waits out its read timeout
        raise httpx.ReadTimeout("timed out", request=request)

    policy = RetryPolicy(budget=30.0, clock=lambda: now[0], sleep=lambda seconds: None)
    made = Client(
        "http://reader:s3cret@pm.test:8000", timeout=30.0, retry=policy, transport=httpx.MockTransport(never_answers)
    )
    with made, pytest.raises(ConnectionFailed) as failed:
        made.head("i")
    assert str(failed.value) == "GET http://pm.test:8000/api/v1/instances/i/head: no answer within 30 s"
    assert now[0] == 30.0  # one try: a second could not end within the budget


def test_each_failed_try_is_told_and_none_is_made_past_the_budget() -> None:
    now, told, tries = [0.0], [], []

    def refused(request: httpx.Request) -> httpx.Response:
        tries.append(now[0])
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    policy = RetryPolicy(backoff=1.0, budget=5.0, clock=lambda: now[0], sleep=sleep, notify=told.append)
    with Client("http://pm.test", retry=policy, transport=httpx.MockTransport(refused)) as made:
        with pytest.raises(ConnectionFailed) as failed:
            made.head("i")
    # Delays of 0.5-1, 1-2, 2-4 and 4-8 s (1 s doubling, with jitter): a third try always starts within 5 s, a fifth
    # never could; and no try starts past it.
    assert 3 <= len(tries) <= 4 and all(at < 5.0 for at in tries)
    assert len(told) == len(tries) - 1
    assert told[0].startswith(
        "GET http://pm.test/api/v1/instances/i/head: [Errno 111] Connection refused; trying again in "
    )
    assert str(failed.value) == "GET http://pm.test/api/v1/instances/i/head: [Errno 111] Connection refused"


#: The CLI's --timeout in the bad-input cases: short, so that a case that waits shows it.
BAD_INPUT_TIMEOUT = 2.0


def test_the_cli_answers_bad_input_with_its_status_and_reason_within_its_timeout(
    served: tuple[GunicornServer, KeySet, str], tmp_path: Path
) -> None:
    """Each case of the bad-input table: exit status, the first line of stderr, and how long it took, which is
    never more than the timeout and a second beyond the time the command takes to start (``--version``)."""
    server, keys, _ = served
    hanging = socket.socket()  # accepts connections (the kernel's backlog does), never answers
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)
    down, silent = f"http://127.0.0.1:{_closed_port()}", f"http://127.0.0.1:{hanging.getsockname()[1]}"
    malformed = tmp_path / "malformed.ndjson"
    malformed.write_text('{"seq": 0, "type": "row"\nnot json at all\n')
    instance = str(uuid.uuid4())
    cases = [
        ("service down", [f"--url={down}", "history", instance], 4, f"error: GET {down}/api/v1/instances/{instance}/"),
        ("service that never answers", [f"--url={silent}", "history", instance], 4, f"error: GET {silent}/api/v1/"),
        ("URL without a scheme", ["--url=127.0.0.1:8000", "history", instance], 2, "Usage: "),
        ("URL ending in /api/v1", [f"--url={server.url}/api/v1", "history", instance], 2, "Usage: "),
        ("wrong key", [f"--key={keys.secrets['read']}x", "append", instance, "row", "{}"], 3, "error: 401 "),
        ("key without the scope", [f"--key={keys.secrets['read']}", "append", instance, "row", "{}"], 3, "error: 403 "),
        ("malformed file", ["import", str(malformed), instance], 3, "error: 400 bad_request: line 1 is not valid JSON"),
    ]
    env = {**os.environ, "PROCESS_MEMORY_URL": server.url, "PROCESS_MEMORY_KEY": keys.secrets["all"]}
    started = time.monotonic()
    assert subprocess.run([str(CLI), "--version"], env=env, capture_output=True, timeout=60).returncode == 0
    startup = time.monotonic() - started
    table = ["| case | exit | says | seconds |", "| --- | --- | --- | --- |"]
    said: dict[str, str] = {}
    try:
        for case, args, status, says in cases:
            began = time.monotonic()
            ran = subprocess.run(
                [str(CLI), f"--timeout={BAD_INPUT_TIMEOUT}", *args], env=env, capture_output=True, text=True, timeout=60
            )
            took = time.monotonic() - began
            last = ran.stderr.strip().splitlines()[-1] if ran.stderr.strip() else ""
            first = ran.stderr.strip().splitlines()[0] if ran.stderr.strip() else ""
            table.append(f"| {case} | {ran.returncode} | `{last}` | {took:.1f} |")
            said[case] = last
            assert (ran.returncode, ran.stdout) == (status, ""), (case, ran.stderr)
            assert (first if status == 2 else last).startswith(says), (case, ran.stderr)
            assert took <= BAD_INPUT_TIMEOUT + 1 + startup, (case, took, startup)
            assert keys.secrets["read"] not in ran.stderr and keys.secrets["all"] not in ran.stderr, case  # nor a key
    finally:
        hanging.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "cli-bad-input.md").write_text("\n".join(table) + "\n")
    # A failure to reach the service names its reason.
    assert said["service down"].endswith("Connection refused"), said
    assert said["service that never answers"].endswith("no answer within 2 s"), said
    with Client(server.url, keys.secrets["all"]) as client:
        with pytest.raises(NotFound):
            client.instance(instance)  # nothing of the refused appends and import was stored


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
