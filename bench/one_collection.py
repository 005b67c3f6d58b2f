"""Benchmark: what two commands per append would cost on FerretDB 1.x, measured before building it.

Today a later append sends three commands: the summary's read, the entries' insert, the summary's conditional
update (docs/storage.md, "Round trips"). Two would need the insert and the update in one command, so in one
collection: the summary kept beside the entries, and one ordered ``update`` command whose first statement
upserts the entry (``$setOnInsert``, failing on another writer's entry at its key) and whose second moves the
summary on (``head_seq < seq``). This measures, on each FerretDB handler at 20,000 entries in 200 instances:

- one append each way, in alternating blocks (the same documents, the same engine, the same run);
- a page of 50 summaries by last activity, from their own collection and from among the entries.

Run: ``python -m bench.one_collection``; it writes ``bench/results/one_collection.json``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from bench.harness import FERRETDB_BACKENDS, backend, write_result

INSTANCES = 200
PER_INSTANCE = 100
BLOCKS = 4
PER_BLOCK = 20
PAYLOAD = "x" * 300


def _entry(instance: int, seq: int) -> dict[str, Any]:
    return {
        "_id": f"i{instance:04d}/{seq:020d}",
        "instance_id": f"i{instance:04d}",
        "seq": seq,
        "id": f"entry-{instance}-{seq}",
        "data": PAYLOAD,
        "last": f"{seq:06d}",
    }


def _fill(database: Database[Any]) -> None:
    """The same 20,000 entries in both layouts; summaries in their own collection, and among the entries."""
    for layout in ("entries", "instances", "together"):
        database.drop_collection(layout)
    entries = [_entry(i, q) for i in range(INSTANCES) for q in range(PER_INSTANCE)]
    for layout in ("entries", "together"):
        database[layout].create_index([("instance_id", 1), ("seq", 1)], unique=True)
        database[layout].insert_many(entries)
    last = f"{PER_INSTANCE - 1:06d}"
    database["instances"].insert_many(
        [{"_id": f"i{i:04d}", "head_seq": PER_INSTANCE - 1, "last": last} for i in range(INSTANCES)]
    )
    database["together"].insert_many(
        [
            {"_id": f"i{i:04d}/summary", "instance_id": f"i{i:04d}", "seq": -1, "kind": "summary"}
            | {"head_seq": PER_INSTANCE - 1, "last": last}
            for i in range(INSTANCES)
        ]
    )


def _three_commands(database: Database[Any], instance: int, seq: int) -> None:
    key = f"i{instance:04d}"
    database["instances"].find_one({"_id": key})
    database["entries"].insert_one(_entry(instance, seq))
    database["instances"].update_one({"_id": key, "head_seq": {"$lt": seq}}, {"$set": {"head_seq": seq}})


def _two_commands(database: Database[Any], instance: int, seq: int) -> None:
    summary = f"i{instance:04d}/summary"
    database["together"].find_one({"_id": summary})
    entry = _entry(instance, seq)
    # pymongo's bulk_write fails on FerretDB 1.x's reply to an update with upserts (no nModified): sent as is.
    reply = database.command(
        {
            "update": "together",
            "ordered": True,
            "updates": [
                {"q": {"_id": entry["_id"]}, "u": {"$setOnInsert": entry}, "upsert": True},
                {
                    "q": {"_id": summary, "head_seq": {"$lt": seq}},
                    "u": {"$set": {"head_seq": seq, "last": entry["last"]}},
                },
            ],
        }
    )
    if reply.get("writeErrors") or reply["n"] != 2:
        raise RuntimeError(f"the combined write was refused: {reply}")


def _median_ms(action: Callable[[], Any], times: int) -> float:
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        action()
        spent.append((time.perf_counter() - start) * 1000)
    return statistics.median(spent)


def measure(uri: str) -> dict[str, Any]:
    """Both appends in alternating blocks (ms per append, each block's mean), and both listings (median ms)."""
    client: MongoClient[Any] = MongoClient(uri)
    database = client["one_collection"]
    try:
        _fill(database)
        ways = {"three commands, two collections": _three_commands, "two commands, one collection": _two_commands}
        blocks: dict[str, list[float]] = {name: [] for name in ways}
        seq = PER_INSTANCE
        for block in range(BLOCKS):
            for name in list(ways) if block % 2 == 0 else list(reversed(ways)):
                start = time.perf_counter()
                for n in range(PER_BLOCK):
                    ways[name](database, n % INSTANCES, seq + n)
                blocks[name].append((time.perf_counter() - start) / PER_BLOCK * 1000)
            seq += PER_BLOCK
        order = [("last", -1), ("_id", -1)]
        listings = {
            "own collection": lambda: list(database["instances"].find({}).sort(order).limit(50).batch_size(50)),
            "among the entries": lambda: list(
                database["together"].find({"kind": "summary"}).sort(order).limit(50).batch_size(50)
            ),
        }
        return {
            "append_ms": {name: statistics.median(values) for name, values in blocks.items()},
            "append_blocks_ms": blocks,
            "list_ms": {name: _median_ms(read, 10) for name, read in listings.items()},
        }
    finally:
        client.drop_database("one_collection")
        client.close()


def main(argv: list[str]) -> None:
    """Measure on both FerretDB handlers; print and write bench/results/one_collection.json."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in FERRETDB_BACKENDS:
            workdir = Path(tmp) / name
            workdir.mkdir()
            with backend(name, workdir) as engine:
                rows.append({"backend": name} | measure(engine.url))
            for way, ms in rows[-1]["append_ms"].items():
                print(f"{name:12} append, {way}: {ms:.1f} ms")
            for where, ms in rows[-1]["list_ms"].items():
                print(f"{name:12} 50 summaries by last activity, {where}: {ms:.1f} ms")
    write_result("one_collection", {"rows": rows, "entries": INSTANCES * PER_INSTANCE})


if __name__ == "__main__":
    main(sys.argv[1:])
