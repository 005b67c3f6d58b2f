"""The realistic data set the browser's tests share (tests/test_ui.py): what a new user loaded when trying the
browser, made once per module through the Python client against a real server.

- Eight ETL runs (``etl-2026-12-0N``), each extract → transform → load → done with event times minutes apart;
  runs 3 and 6 end in a failure instead (a ``load.failure`` step; a load whose data says ``status: failed``).
- A dataset of 4,000 plant records: 726,857 bytes of canonical JSON (``dataset-usinas``).
- The platform's memory documents: two runs that read plants from a table, and a reprocess of the first.
- Sixty small batch runs (``batch-NN``), so that the instance list has pages to go through both ways.
- A clone of the fifth ETL run (``copy-of-etl-05``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from process_memory.client import Client
from tests.memories import TABLE, Scenario

ETL_RUNS = 8
FAILED_RUNS = (3, 6)
DATASET_RECORDS = 4000
BATCH_RUNS = 60


@dataclass
class RealisticData:
    """What the set holds, by name."""

    etl: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dataset: str = "dataset-usinas"
    batches: list[str] = field(default_factory=list)
    scenario: Scenario = field(default_factory=lambda: Scenario(tag=f"tag-{uuid.uuid4().hex[:8]}"))
    #: A clone of the fifth ETL run.
    copy: str = "copy-of-etl-05"
    table: str = TABLE


def _etl_steps(run: int) -> list[dict[str, object]]:
    start = datetime(2026, 12, run, 2, 0, tzinfo=UTC)
    at = [(start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z") for minutes in (0, 4, 11, 19)]
    steps: list[dict[str, object]] = [
        {"type": "extract", "occurred_at": at[0], "data": {"source": f"s3://landing/{run:02d}/", "files": 12 + run}},
        {"type": "transform", "occurred_at": at[1], "data": {"rows": 48_000 + run, "dropped": run % 3}},
    ]
    if run == FAILED_RUNS[0]:
        return [*steps, {"type": "load.failure", "occurred_at": at[2], "data": {"error": "deadlock on tb_usina"}}]
    if run == FAILED_RUNS[1]:
        return [*steps, {"type": "load", "occurred_at": at[2], "data": {"status": "failed", "rows": 0}}]
    return [
        *steps,
        {"type": "load", "occurred_at": at[2], "data": {"status": "ok", "rows": 48_000 + run}},
        {"type": "done", "occurred_at": at[3], "data": {"report": f"s3://reports/{run:02d}.html"}},
    ]


def load_realistic_data(url: str, key: str) -> RealisticData:
    """Append the whole set through the client (and the memory documents through the platform's route)."""
    data = RealisticData()
    with Client(url, key) as client:
        for n in range(BATCH_RUNS):
            name = f"batch-{n:02d}-{uuid.uuid4().hex[:4]}"
            client.append(name, "batch", {"n": n})
            data.batches.append(name)
        records = [
            {"id": f"U{n:04d}", "nome": f"usina {n}", "potencia": n % 97, "bacia": f"bacia {n % 11}", "pad": "x" * 106}
            for n in range(DATASET_RECORDS)
        ]
        client.append(data.dataset, "dataset", {"entities": {"usina": records}})
        for run in range(1, ETL_RUNS + 1):
            name = f"etl-2026-12-{run:02d}"
            client.append_many(name, _etl_steps(run))
            data.etl.append(name)
            if run in FAILED_RUNS:
                data.failed.append(name)
    scenario = data.scenario
    headers = {"Authorization": f"Bearer {key}"}
    cloned = httpx.post(f"{url}/api/v1/instances/etl-2026-12-05/clone", json={"to": data.copy}, headers=headers)
    assert cloned.status_code == 201, cloned.text
    for iid, document in [*scenario.readers(), scenario.reprocess_of_a()]:
        answer = httpx.post(f"{url}/{iid}/commit", json=document, headers=headers, timeout=60)
        assert answer.status_code == 201, answer.text
    return data
