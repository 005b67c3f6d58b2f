"""Benchmark: appending through the batch endpoint against one POST per entry, per backend.

Reports entries per second for both and their ratio (batch / single), measured in the same run
over the same app, so the machine's speed cancels out. Run: `make bench`.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
import uuid
from pathlib import Path

from process_memory import create_app
from process_memory.config import Settings
from tests.services import FerretDBServer, ferretdb_available

ENTRIES = 2000
BATCH = 1000


def _entries(count: int) -> list[dict[str, object]]:
    return [
        {"type": "row", "id": str(uuid.uuid4()), "data": {"n": n, "name": f"row {n}", "values": [n, n * 2]}}
        for n in range(count)
    ]


def measure(settings: Settings) -> tuple[float, float]:
    """Return (single, batch) entries per second."""
    client = create_app(settings).test_client()
    single_iid, batch_iid = str(uuid.uuid4()), str(uuid.uuid4())
    entries = _entries(ENTRIES)
    started = time.perf_counter()
    for entry in entries:
        assert client.post(f"/api/v1/instances/{single_iid}/history", json=entry).status_code == 201
    single = ENTRIES / (time.perf_counter() - started)
    entries = _entries(ENTRIES)
    started = time.perf_counter()
    for offset in range(0, ENTRIES, BATCH):
        response = client.post(
            f"/api/v1/instances/{batch_iid}/history/batch", json={"entries": entries[offset : offset + BATCH]}
        )
        assert response.status_code == 201
    batch = ENTRIES / (time.perf_counter() - started)
    return single, batch


def main(argv: list[str]) -> None:
    """Print one line per backend; ``--sqlite-only`` (make bench-quick) leaves FerretDB out."""
    # Configured here, the app leaves logging alone: its per-request lines would bury the figures.
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"sqlite": Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")}
        ferretdb = None
        if "--sqlite-only" not in argv and ferretdb_available() is None:
            ferretdb = FerretDBServer(Path(tmp) / "ferretdb")
            ferretdb.start()
            runs["ferretdb"] = Settings(docdb_uri=ferretdb.uri, docdb_collection="bench")
        try:
            print(f"{ENTRIES} entries, batches of {BATCH}")
            for name, settings in runs.items():
                single, batch = measure(settings)
                print(f"{name:9} single {single:8.0f}/s   batch {batch:8.0f}/s   batch/single {batch / single:5.1f}x")
        finally:
            if ferretdb:
                ferretdb.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
