"""Benchmark: every query the MongoDB-wire backend sends, and how each FerretDB handler runs it.

A tour of the service's requests (the platform's routes and the API's, through the app in this process) runs
against each FerretDB handler with every command recorded by pymongo's command monitoring. Each command is
reduced to its shape: the command, the collection, the filter's fields and operators (values left out), the
sort and the limit. Each shape's filter is then asked of the engine again with ``explain`` while one instance
holds ENTRIES entries and the collection as many again of other instances: whether FerretDB pushed the filter
down to its database, the plan that database chose, and the milliseconds the filter took as a find.

Run: ``python -m bench.queries [--quick]``; writes bench/results/queries.json and the table in docs/storage.md
(between its ``queries`` markers).
"""

from __future__ import annotations

import json
import logging
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from pymongo import MongoClient, monitoring

from bench.harness import ROOT, each_backend, write_result
from process_memory import create_app
from process_memory.config import Settings
from process_memory.entry import NewEntry
from process_memory.history.mongo import MongoHistoryStore
from process_memory.services import services
from tests.memories import TABLES_BY_TAG, event, memory, read_by_query

ENTRIES = 20_000
QUICK_ENTRIES = 2_000
#: Timed runs of each filter.
ROUNDS = 5
COLLECTION = "tour"
#: Commands that make the schema or ask about the server: not queries.
NOT_QUERIES = {"createIndexes", "listIndexes", "hello", "ismaster", "isMaster", "ping", "buildInfo", "endSessions"}
STORAGE_DOC = ROOT / "docs" / "storage.md"
MARKERS = ("<!-- queries:begin -->", "<!-- queries:end -->")


class Recorder(monitoring.CommandListener):
    """The commands sent while ``step`` names a request of the tour."""

    def __init__(self) -> None:
        self.step = ""
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.step and event.command_name not in NOT_QUERIES:
            self.commands.append((self.step, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _values_left_out(value: Any) -> Any:
    """The filter's fields and operators, each value as ``?``; a list of clauses as its first clause."""
    if isinstance(value, dict):
        return {key: _values_left_out(inner) for key, inner in value.items()}
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return [_values_left_out(value[0]), "…"] if len(value) > 1 else [_values_left_out(value[0])]
        return ["?…"]
    return "?"


def _collection(name: str) -> str:
    return "entries" if name == COLLECTION else name.removeprefix(f"{COLLECTION}_").removeprefix(f"{COLLECTION}.")


def shape(command: dict[str, Any]) -> tuple[str, str, str, dict[str, Any], list[str]]:
    """(command, collection, its shape as text, the filter to explain, the sort's fields) of one command."""
    name = next(iter(command))
    collection = _collection(str(command[name]))
    criteria: dict[str, Any] = {}
    parts: list[str] = []
    if name == "find":
        criteria = command.get("filter", {})
        for option in ("sort", "limit", "singleBatch"):
            if option in command:
                parts.append(f"{option} {json.dumps(command[option]) if option == 'sort' else command[option]}")
    elif name in ("update", "delete"):
        statement = command["updates" if name == "update" else "deletes"][0]
        criteria = statement["q"]
        if name == "update":
            change = statement["u"]
            parts.append(" ".join(sorted(change)) if isinstance(change, dict) else "pipeline")
            if statement.get("upsert"):
                parts.append("upsert")
    elif name == "findAndModify":
        criteria = command.get("query", {})
        parts.append(" ".join(sorted(command.get("update", {}))) or "remove")
    elif name in ("count", "distinct"):
        criteria = command.get("query", {})
    elif name == "aggregate":
        parts.append(" ".join(next(iter(stage)) for stage in command.get("pipeline", [])))
    described = json.dumps(_values_left_out(criteria)) if criteria or name != "insert" else ""
    text = " ".join(filter(None, [described, *parts]))
    # The instance ids of the tour differ per run: only the shape is kept.
    return name, collection, re.sub(r"\s+", " ", text), criteria, list(command.get("sort", {}))


def tour(url: str, recorder: Recorder, entries: int) -> MongoHistoryStore:
    """Run each request of the tour against a store at ``url``; return the store, to explain the shapes with."""
    store = MongoHistoryStore(
        url, "pm_queries", COLLECTION, client_factory=lambda *a, **k: MongoClient(*a, event_listeners=[recorder], **k)
    )
    settings = Settings(
        docdb_uri=url, docdb_database_name="pm_queries", docdb_collection=COLLECTION, max_inline_data=4096
    )
    app = create_app(settings, history_store=store)
    client = app.test_client()
    iid, other, copy = (str(uuid.uuid4()) for _ in range(3))
    history = services(app).history
    for start in range(0, entries, 1000):  # the instance's own entries, and as many of other instances
        history.appender.append_entries(iid, [NewEntry(type="row", data={"n": n}) for n in range(start, start + 1000)])
        history.appender.append_entries(f"bulk-{start}", [NewEntry(type="row", data=n) for n in range(1000)])

    def step(label: str, call: Callable[[], Any]) -> None:
        recorder.step = label
        response = call()
        recorder.step = ""
        if response.status_code >= 300:
            raise SystemExit(f"{label}: answered {response.status_code}: {response.get_data(as_text=True)[:300]}")

    api = f"/api/v1/instances/{iid}"
    document = memory(other, dataset={"entities": {"usina": [read_by_query("E1")]}})
    for label, call in _requests(client, api, iid, other, copy, document):
        step(label, call)
    return store


def _requests(client: Any, api: str, iid: str, other: str, copy: str, document: Any) -> Iterator[tuple[str, Any]]:
    """Each request of the tour, labelled as the table names it."""
    entry = {"type": "step", "data": {"ok": True}}
    yield "first append", lambda: client.post(f"/api/v1/instances/{copy}-new/history", json=entry)
    yield "append", lambda: client.post(f"{api}/history", json=entry)
    yield "append with an id", lambda: client.post(f"{api}/history", json={**entry, "id": str(uuid.uuid4())})
    yield "append with If-Match", lambda: _append_if_match(client, api, entry)
    batch = {"entries": [{**entry, "id": str(uuid.uuid4())} for _ in range(10)]}
    yield "batch append", lambda: client.post(f"{api}/history/batch", json=batch)
    yield "append of large data", lambda: client.post(f"{api}/history", json={"type": "big", "data": "x" * 10_000})
    yield "platform commit", lambda: client.post(f"/{other}/commit", json=document)
    yield "platform create", lambda: client.post(f"/{uuid.uuid4()}", json={"event": event(other)})
    yield "head", lambda: client.get(f"{api}/head")
    yield "first", lambda: client.get(f"{api}/first")
    yield "entry by seq", lambda: client.get(f"{api}/history/100")
    yield "page forward", lambda: client.get(f"{api}/history", query_string={"after": 500})
    yield "page backward", lambda: client.get(f"{api}/history", query_string={"direction": "backward"})
    yield "page of a type", lambda: client.get(f"{api}/history", query_string={"type": "step"})
    yield "instance", lambda: client.get(api)
    yield "list of instances", lambda: client.get("/api/v1/instances")
    yield "instances by last activity", lambda: client.get("/api/v1/instances", query_string={"sort": "recent"})
    yield "instances by size", lambda: client.get("/api/v1/instances", query_string={"sort": "size"})
    yield "failed instances", lambda: client.get("/api/v1/instances", query_string={"sort": "recent", "failed": "true"})
    yield "instances by last step", lambda: client.get("/api/v1/instances", query_string={"type": "step"})
    yield "browser's instance list", lambda: client.get("/ui/")
    yield "browser's timeline", lambda: client.get(f"/ui/instances/{iid}")
    yield "browser's reprocessing view", lambda: client.get("/ui/reprocessing")
    yield "search", lambda: client.get("/api/v1/history", query_string={"type": "step"})
    yield "inclusion proof", lambda: client.get(f"{api}/proof/inclusion", query_string={"seq": 5, "size": 1000})
    yield "platform head", lambda: client.get(f"/{other}/head")
    yield "platform first", lambda: client.get(f"/{other}/first")
    yield "platform event", lambda: client.get(f"/event/{other}")
    yield "platform entities", lambda: client.get(f"/entities/{other}")
    yield "platform instance filter", lambda: client.get(f"/instance_filter/{other}")
    yield "platform by tags", lambda: client.post("/instances/bytags", json={"tables_grouped_by_tags": TABLES_BY_TAG})
    yield (
        "platform reprocessable",
        lambda: client.post(
            "/instances/reprocessable/byentities", json={"entities": ["E1"], "tables_grouped_by_tags": TABLES_BY_TAG}
        ),
    )
    readers = {"tag": next(iter(TABLES_BY_TAG)), "table": "tb_usina"}
    yield "lineage readers", lambda: client.get("/api/v1/lineage/readers", query_string=readers)
    yield "platform clone", lambda: client.post(f"/{other}/{copy}/clone")


def _append_if_match(client: Any, api: str, entry: dict[str, Any]) -> Any:
    etag = client.get(f"{api}/head").headers["ETag"]
    return client.post(f"{api}/history", json=entry, headers={"If-Match": etag})


def _fields(criteria: dict[str, Any]) -> set[str]:
    """The fields a filter names: at its top, and those every clause of an ``$or`` names."""
    named = {key for key in criteria if not key.startswith("$")}
    clauses = [_fields(clause) for clause in criteria.get("$or", [])]
    return named | (set.intersection(*clauses) if clauses else set())


def serving_index(indexes: dict[str, list[str]], criteria: dict[str, Any], sort: list[str]) -> str:
    """The index MongoDB would serve a filter and sort from: the one whose leading keys the filter's fields and
    then the sort's cover furthest (the shortest of equals); "none" when no index starts with one of them."""
    wanted = _fields(criteria) | set(sort)
    best, covered = "none", 0
    for name, keys in sorted(indexes.items(), key=lambda item: len(item[1])):
        leading = next((n for n, key in enumerate(keys) if key not in wanted), len(keys))
        if leading > covered:
            best, covered = name, leading
    return best


def explained(store: MongoHistoryStore, collection: str, criteria: dict[str, Any]) -> dict[str, Any]:
    """The engine's explain of ``criteria`` as a find on ``collection``, and the median time of ROUNDS such finds."""
    database = store.collections.database()
    name = COLLECTION if collection == "entries" else f"{COLLECTION}_{collection}"
    answer = database.command("explain", {"find": name, "filter": criteria}, verbosity="queryPlanner")
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        list(database[name].find(criteria))
        times.append((time.perf_counter() - started) * 1000)
    return {"pushdown": bool(answer.get("filterPushdown")), "plan": plan_of(answer), "ms": statistics.median(times)}


def _indexes(store: MongoHistoryStore, collection: str) -> dict[str, list[str]]:
    name = COLLECTION if collection == "entries" else f"{COLLECTION}_{collection}"
    return {index["name"]: list(index["key"]) for index in store.collections.database()[name].list_indexes()}


def plan_of(answer: dict[str, Any]) -> str:
    """What the engine's database does: PostgreSQL's node and index, or SQLite's query plan."""
    plan = answer.get("queryPlanner", {}).get("Plan")
    if isinstance(plan, dict):
        while plan.get("Plans") and plan.get("Node Type") not in ("Seq Scan", "Index Scan", "Bitmap Heap Scan"):
            plan = plan["Plans"][0]
        index = plan.get("Index Name")
        return f"{plan.get('Node Type')}" + (f" using {index}" if index else "")
    if isinstance(plan, list):
        return "; ".join(re.sub(r"^.*detail=", "", str(line)) for line in plan)
    return "?"


def measure(url: str, entries: int) -> list[dict[str, Any]]:
    """The shapes the tour sent, each with the requests that sent it and its explain."""
    logging.getLogger("process_memory").setLevel(logging.WARNING)  # not a line per request of the tour
    recorder = Recorder()
    store = tour(url, recorder, entries)
    shapes: dict[tuple[str, str, str], dict[str, Any]] = {}
    for label, command in recorder.commands:
        name, collection, text, criteria, sort = shape(command)
        row = shapes.setdefault(
            (name, collection, text), {"command": name, "collection": collection, "shape": text, "requests": []}
        )
        row.setdefault("criteria", (criteria, sort))
        if label not in row["requests"]:
            row["requests"].append(label)
    for row in shapes.values():
        criteria, sort = row.pop("criteria")
        if row["command"] in ("find", "update", "delete", "findAndModify", "count", "distinct"):
            row |= explained(store, row["collection"], criteria)
            row["index"] = serving_index(_indexes(store, row["collection"]), criteria, sort)
    store.close()
    return list(shapes.values())


def main(argv: list[str]) -> None:
    """Tour each FerretDB handler; write bench/results/queries.json and docs/storage.md's table."""
    quick = "--quick" in argv
    handlers = [arg for arg in argv if not arg.startswith("--")] or ["ferretdb", "ferretdb-pg"]
    by_handler = {}
    for store, _workdir in each_backend([arg for handler in handlers for arg in ("--backend", handler)]):
        by_handler[store.name] = measure(store.url, QUICK_ENTRIES if quick else ENTRIES)
    result = {"quick": quick, "entries": QUICK_ENTRIES if quick else ENTRIES, "handlers": by_handler}
    write_result("queries", result)
    text = STORAGE_DOC.read_text()
    begin, end = text.index(MARKERS[0]) + len(MARKERS[0]), text.index(MARKERS[1])
    STORAGE_DOC.write_text(text[:begin] + "\n" + table(result) + "\n" + text[end:])


def table(result: dict[str, Any]) -> str:
    """One row per shape: the requests that send it, and each handler's pushdown, plan and time."""
    handlers = list(result["handlers"])
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for handler, shapes in result["handlers"].items():
        for found in shapes:
            key = (found["command"], found["collection"], found["shape"])
            row = rows.setdefault(key, {"requests": [], "engines": {}})
            row["requests"] += [label for label in found["requests"] if label not in row["requests"]]
            row["engines"][handler] = found
    header = "| command | collection | filter and options | sent by | MongoDB's index | " + " | ".join(
        f"{handler}: pushed down, plan, ms" for handler in handlers
    )
    lines = [
        f"Measured with {result['entries']:,} entries in the instance and as many of others "
        f"(`python -m bench.queries`{' --quick' if result['quick'] else ''}).",
        "",
        header + " |",
        "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in handlers) + " |",
    ]
    for (command, collection, text), row in rows.items():
        cells = []
        for handler in handlers:
            found = row["engines"].get(handler)
            if found is None or "plan" not in found:
                cells.append("" if found is None else "no filter")
            else:
                cells.append(f"{'yes' if found['pushdown'] else '**no**'}, {found['plan']}, {found['ms']:.1f}")
        shape_text = text.replace("|", "\\|")
        index = next((found.get("index", "") for found in row["engines"].values()), "")
        lines.append(
            f"| {command} | {collection} | `{shape_text}` | {', '.join(row['requests'])} | {index} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
