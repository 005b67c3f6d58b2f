"""Benchmark: finding the instances to reprocess from the index, against scanning every memory as the original did.

Builds INSTANCES memories (each reading READS entities by query, with a payload) on SQLite, then answers
"which instances read these entities?" two ways in the same run: the service's ``byentities`` (the
reads index), and the reference, a scan of every memory's entity records (the original's unindexed
query over its entities collection). Also reports what deriving the current memory costs an append:
a memory posted through the original's route against the same document appended as a plain entry.
Run: `make bench` (or `python -m bench.reprocessing`).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from process_memory import create_app
from process_memory.config import Settings
from tests.memories import TABLES_BY_TAG, memory, read_by_query

INSTANCES = 300
READS = 50
QUERIES = 50


def _document(iid: str, n: int) -> dict[str, Any]:
    reads = [read_by_query(f"E{n}-{k}") for k in range(READS)]
    return memory(iid, dataset={"entities": {"usina": reads}}, payload={"blob": "x" * 2000})


def _scan(client: Any, ids: list[str], wanted: set[str]) -> set[str]:
    """The reference: read every memory and look through its entity records."""
    found = set()
    for iid in ids:
        entities = client.get(f"/entities/{iid}").get_json()
        for records in entities.values():
            for record in records:
                meta = record.get("_metadata", {})
                if meta.get("changeTrack") == "query" and record.get("id") in wanted:
                    found.add(iid)
    return found


def main() -> None:
    """Print the append cost of the view and the query speed-up."""
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        client = create_app(Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")).test_client()
        ids = [str(uuid.uuid4()) for _ in range(INSTANCES)]
        started = time.perf_counter()
        for n, iid in enumerate(ids):
            assert client.post(f"/{iid}/commit", json=_document(iid, n)).status_code == 201
        memory_rate = INSTANCES / (time.perf_counter() - started)
        started = time.perf_counter()
        for n in range(INSTANCES):
            entry = {"type": "memory", "data": _document(str(uuid.uuid4()), n)}
            assert client.post(f"/api/v1/instances/{uuid.uuid4()}/history", json=entry).status_code == 201
        plain_rate = INSTANCES / (time.perf_counter() - started)
        wanted = [f"E{n}-0" for n in range(0, INSTANCES, INSTANCES // 5)]
        body = json.dumps({"entities": wanted, "tables_grouped_by_tags": TABLES_BY_TAG})
        started = time.perf_counter()
        for _ in range(QUERIES):
            answer = client.post("/instances/reprocessable/byentities", data=body, content_type="application/json")
        indexed = (time.perf_counter() - started) / QUERIES
        started = time.perf_counter()
        scanned = _scan(client, ids, set(wanted))
        scan = time.perf_counter() - started
        assert set(answer.get_json()) == scanned and len(scanned) == len(wanted)
    print(
        f"append: memory post {memory_rate:,.0f}/s, plain entry {plain_rate:,.0f}/s ({memory_rate / plain_rate:.2f}x)"
    )
    print(
        f"byentities over {INSTANCES} memories x {READS} reads: index {indexed * 1000:.1f} ms, "
        f"scan {scan * 1000:.0f} ms ({scan / indexed:,.0f}x)"
    )


if __name__ == "__main__":
    main()
