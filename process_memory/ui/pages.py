"""The history browser's pages: instances, a search across them, one instance's timeline (and the rows its live
tail adds), one entry, its badge, and reprocessing.

Each page reads through the same services as the API (so the same keys, scopes and rules apply) and renders a
Jinja2 template; the few lines of JavaScript in static/ui.js only add what a page cannot do alone (new rows as
they come, rendered here; a large entry's tree on demand; the badge once it is computed; filtering a table of
records as one types).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug import Response
from werkzeug.exceptions import BadRequest

from process_memory.api import history_service, lineage_service, within_key
from process_memory.api.access import caller_may, caller_prefix
from process_memory.api.lineage_schemas import ReaderArgsSchema
from process_memory.api.schemas import HistoryArgsSchema, InstanceListArgsSchema, SearchArgsSchema
from process_memory.api.state import state_service
from process_memory.config import Settings
from process_memory.entry import StoredEntry, copy_origins
from process_memory.exceptions import InvalidInput, NotFound
from process_memory.formats import MAX_SEQ
from process_memory.history.failures import entry_records_failure
from process_memory.history.queries import HistoryQuery, InstanceQuery, SearchQuery
from process_memory.history.reading import instance_cursor
from process_memory.memory.document import is_memory_marked, parse_memory
from process_memory.ui.badge import check_held, verify_badge
from process_memory.ui.diff import json_diff
from process_memory.ui.lineage import lineage_graph
from process_memory.ui.records import record_tables
from process_memory.ui.steps import duration, preview, step_time

blp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static")
root_blp = Blueprint("ui_root", __name__)

#: Entries per timeline page, and instances per list page.
PAGE_SIZE = 50
#: Data larger than this (canonical bytes) is loaded only when asked for, from the API.
LAZY_DATA_BYTES = 256 * 1024
#: Data up to this size is also shown as tables of its arrays of records, even when its tree is loaded on demand.
RECORD_TABLE_BYTES = 4 * 1024 * 1024
#: Types a timeline's type filter offers.
TYPES_OFFERED = 200
#: (tag, table) pairs the reprocessing view suggests.
SUGGESTED_TABLES = 200
#: A signed checkpoint is a few hundred characters; one with a hundred signatures, under 16 KiB.
HELD_CHECKPOINT_BYTES = 16 * 1024


@root_blp.route("/")
def root() -> Response:
    """The service's front page is the history browser."""
    # A relative Location: behind a proxy the Host (and its port) the app sees is not the client's.
    return redirect(url_for("ui.instances"), 302)


def _settings() -> Settings:
    settings: Settings = current_app.config["SETTINGS"]
    return settings


def _shown(stored: StoredEntry) -> dict[str, Any]:
    """An entry as the timeline shows it: fields, metadata, badges, whether it records a failure (failures.py's
    rule) and a preview of its data."""
    metadata = json.loads(stored.metadata_json)
    badges = [label for key, label in (("imported_from", "imported"), ("cloned_from", "cloned")) if key in metadata]
    badges += ["memory"] if is_memory_marked(metadata) else []
    redacted = json.loads(stored.redacted_json) if stored.redacted_json else None
    failed = entry_records_failure(stored)
    shown = "(redacted)" if redacted else preview(stored.data_json) if stored.data_json else "(stored out of line)"
    return {**vars(stored), "metadata": metadata, "badges": badges, "redacted": redacted, "failed": failed} | {
        "preview": shown
    }


def _relations(metadata: dict[str, Any]) -> list[tuple[str, str, int]]:
    """Where a copied entry came from, as (how, instance, seq): what its metadata says (entry.copy_origins)."""
    return [(f"{kind} from", instance_id, seq) for kind, instance_id, seq in copy_origins(metadata)]


def _with_steps(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Newest first, each with how long its step took: from the entry below it (the one before it on the page)."""
    for entry, before in zip(entries, entries[1:], strict=False):
        seconds = (step_time(entry) - step_time(before)).total_seconds()
        entry["took"] = duration(seconds) if seconds >= 0 else ""
    return entries


#: The instance list's status filter, as the page offers it, and what it asks the listing.
_STATUS_FILTERS = {"failed": "true", "ok": "false"}
#: Types offered in the instance list's drop-down.
HEAD_TYPES_OFFERED = 200


@blp.route("/")
def instances() -> str:
    """Instances, the most recently active first (or by id, or by size), filtered by id prefix, by their last
    entry's type and by whether it failed, a page at a time both ways, each with its status."""
    asked = {
        name: request.args[name].strip()
        for name in ("prefix", "after", "before", "type")
        if request.args.get(name, "").strip()
    }
    sort = request.args.get("sort", "recent")
    status = request.args.get("status", "")
    failed = {"failed": _STATUS_FILTERS[status]} if status in _STATUS_FILTERS else {}
    try:
        query: InstanceQuery = InstanceListArgsSchema().load({**asked, **failed, "sort": sort, "limit": PAGE_SIZE})
    except ValidationError as refused:
        raise _invalid(refused) from None
    reader = history_service().reader
    scoped = within_key(query)
    page = reader.list_instances(scoped)
    items = page.items
    # Read back from a page, the list goes on back while its cursor says so, and onwards always (it came from
    # there); read onwards, the other way round, but no page lies before the first.
    if query.before is not None:
        earlier, later = page.next, instance_cursor(sort, items[-1]) if items else None
    else:
        earlier, later = instance_cursor(sort, items[0]) if items and query.after else None, page.next
    return render_template(
        "instances.html",
        items=items,
        earlier=earlier,
        later=later,
        paged=bool(query.after or query.before),
        prefix=query.prefix,
        sort=sort,
        head_type=query.head_type or "",
        status=status if status in _STATUS_FILTERS else "",
        head_types=reader.head_types(query.prefix, scoped.within, HEAD_TYPES_OFFERED),
    )


def _history_query(instance_id: str) -> tuple[HistoryQuery, dict[str, str]]:
    """The timeline's query from the page's parameters, checked by the API's own schema; newest first by default."""
    wanted = {name: value for name, value in request.args.items() if value and name in ("type", "since", "until")}
    cursor = {name: request.args[name] for name in ("after", "before") if request.args.get(name)}
    direction = "forward" if "after" in cursor else "backward"
    try:
        query: HistoryQuery = HistoryArgsSchema().load({**wanted, **cursor, "direction": direction, "limit": PAGE_SIZE})
    except ValidationError as refused:
        raise _invalid(refused) from None
    return query, wanted


def _invalid(refused: ValidationError) -> Exception:
    """A 422 that names each field and what is wrong with it, as the API's does."""
    return InvalidInput("invalid filter", refused.normalized_messages())


@blp.route("/search")
def search() -> str:
    """Entries of every instance the key reaches, by type and recorded time, oldest first, a page at a time."""
    asked = {
        name: request.args[name].strip() for name in ("type", "since", "until") if request.args.get(name, "").strip()
    }
    cursor = {"after": request.args["after"]} if request.args.get("after") else {}
    try:
        query: SearchQuery = SearchArgsSchema().load({**asked, **cursor, "limit": PAGE_SIZE})
    except ValidationError as refused:
        raise _invalid(refused) from None
    page = history_service().reader.search(within_key(query))
    entries = [_shown(stored) for stored in page.items]
    return render_template("search.html", entries=entries, filters=asked, next=page.next)


@blp.route("/instances/<iid:instance_id>")
def timeline(instance_id: str) -> str:
    """One instance's entries, newest first, filtered by type and time, paged both ways; new ones appear live."""
    reader = history_service().reader
    summary = reader.get_instance(instance_id)
    query, filters = _history_query(instance_id)
    page = reader.read_history(instance_id, query)
    entries = _with_steps(sorted((_shown(stored) for stored in page.items), key=lambda entry: -entry["seq"]))
    newest = query.after is None and query.before is None
    # The way the page was read says whether more lie beyond it; the other way, the page came from there.
    backward = query.direction == "backward"
    more_older = page.next is not None if backward else entries[-1]["seq"] > 0 if entries else False
    more_newer = not newest and (page.next is not None if not backward else entries[0]["seq"] < summary.head_seq)
    reprocess_of, reprocessed_by = lineage_service().reprocess_relations(instance_id, caller_prefix())
    copied_from, copies = reader.copy_relations(summary, caller_prefix())
    return render_template(
        "timeline.html",
        types=reader.types_of(instance_id, TYPES_OFFERED),
        reprocess_of=reprocess_of,
        reprocessed_by=reprocessed_by,
        copied_from=copied_from,
        copies=copies,
        state=_state_of(instance_id),
        summary=summary,
        instance_id=instance_id,
        entries=entries,
        filters=filters,
        older=entries[-1]["seq"] if entries and more_older else None,
        newer=entries[0]["seq"] if entries and more_newer else None,
        live=newest,
        signing=_settings().signing_key is not None,
    )


def _state_of(instance_id: str) -> dict[str, Any] | None:
    """The instance's working state as its page shows it (value, ETag, seconds to expiry), for a key with the
    ``state`` scope that the state's own route asks; None without one, or without a state."""
    if not caller_may("state"):
        return None
    service = state_service()
    try:
        stored = service.get_state(instance_id)
    except NotFound:
        return None
    expires_in = service.store.expires_in(instance_id)
    return {"value": json.loads(stored.json), "etag": f'"{stored.version}"', "expires_in": expires_in}


@blp.route("/instances/<iid:instance_id>/rows")
def timeline_rows(instance_id: str) -> Response:
    """The timeline's rows after seq ``after`` (of ``type``), waiting up to ``wait`` seconds for one: what the
    live timeline adds at its top, rendered as the page renders its own; the instance's count in X-Instance-Count."""
    wanted = {name: request.args[name] for name in ("after", "type", "wait") if request.args.get(name)}
    try:
        query: HistoryQuery = HistoryArgsSchema().load({**wanted, "direction": "forward", "limit": 100})
    except ValidationError as refused:
        raise _invalid(refused) from None
    reader = history_service().reader
    page = reader.read_history(instance_id, query)
    # The row the page shows below the new ones, for the oldest new one's step.
    after = query.after if query.after is not None else -1
    below = [reader.get_entry(instance_id, after)] if page.items and after >= 0 else []
    shown = _with_steps([_shown(stored) for stored in sorted(page.items + below, key=lambda e: -e.seq)])
    rows = render_template("_timeline_rows.html", entries=shown[: len(page.items)], instance_id=instance_id)
    count = reader.get_instance(instance_id).count
    return Response(rows, mimetype="text/html", headers={"X-Instance-Count": str(count)})


@blp.route("/instances/<iid:instance_id>/goto")
def goto(instance_id: str) -> Response:
    """The timeline's "go to seq" box: that entry's page."""
    seq = request.args.get("seq", "").strip()
    if not seq.isdigit() or int(seq) > MAX_SEQ:
        raise InvalidInput("no such seq", {"seq": [f"a whole number from 0 to {MAX_SEQ}"]})
    return redirect(url_for("ui.entry", instance_id=instance_id, seq=int(seq)), 302)


@blp.route("/instances/<iid:instance_id>/badge")
def badge(instance_id: str) -> str:
    """The verify badge, computed on request (the timeline loads it after the page)."""
    badge = verify_badge(history_service(), _settings(), instance_id)
    return render_template("badge.html", badge=badge, instance_id=instance_id)


@blp.route("/instances/<iid:instance_id>/held")
def held(instance_id: str) -> str:
    """A checkpoint the viewer holds (pasted into the timeline's form), checked against the chain now."""
    note = request.args.get("checkpoint", "")
    if not note.strip() or len(note) > HELD_CHECKPOINT_BYTES:
        raise BadRequest(f"paste a signed checkpoint of at most {HELD_CHECKPOINT_BYTES} characters")
    badge = check_held(history_service(), _settings(), instance_id, note)
    return render_template("badge.html", badge=badge, instance_id=instance_id)


@blp.route(f"/instances/<iid:instance_id>/entries/<int(max={MAX_SEQ}):seq>")
def entry(instance_id: str, seq: int) -> str:
    """One entry: its data as a tree, its metadata and what it read, and a diff against the previous of its type."""
    reader = history_service().reader
    stored = reader.get_entry(instance_id, seq)
    head_seq = reader.get_instance(instance_id).head_seq  # no link past the head: it would be a 404
    intact = reader.context.is_intact(stored)  # changed behind the service's back: said, not shown as a change
    small = stored.size <= LAZY_DATA_BYTES
    data = reader.data_of(stored) if small else None
    tables = []
    if stored.size <= RECORD_TABLE_BYTES and not stored.redacted_json:
        tables = record_tables(data if small else reader.data_of(stored))
    previous = reader.previous_of_type(stored)
    diff = None
    if previous and small and previous.size <= LAZY_DATA_BYTES and stored.redacted_json is None:
        diff = (previous.seq, json_diff(reader.data_of(previous), data))
    reads = []
    if is_memory_marked(json.loads(stored.metadata_json)) and data is not None:
        reads = parse_memory(data, instance_id).reads
    return render_template(
        "entry.html",
        entry=_shown(stored),
        instance_id=instance_id,
        head_seq=head_seq,
        intact=intact,
        relations=_relations(json.loads(stored.metadata_json)),
        copies=reader.entry_copies(stored, caller_prefix()),
        data=data,
        tables=tables,
        lazy=not small,
        diff=diff,
        reads=[(json.loads(read.entity), read.table, read.image) for read in reads],
        signing=_settings().signing_key is not None,
    )


@blp.route("/reprocessing")
def reprocessing() -> str:
    """Which instances read entities of a tag's tables, and the instance each one's reprocessing would run again,
    as a table and a graph; with the (tag, table) pairs reads came from, to pick from."""
    tag, tables = request.args.get("tag", ""), request.args.getlist("table")
    entities = [entity for entity in request.args.getlist("entity") if entity]
    paging = {name: request.args[name] for name in ("after", "limit") if request.args.get(name)}
    readers, error, graph = None, None, None
    if tag:
        try:
            query = ReaderArgsSchema().load(
                {"tag": tag, "table": tables, "entity": entities, "limit": PAGE_SIZE, **paging}
            )
            readers = lineage_service().readers_page(within_key(query))
        except ValidationError as refused:
            error = "; ".join(f"{field}: {' '.join(map(str, m))}" for field, m in refused.normalized_messages().items())
    if readers is not None and tables:
        graph = lineage_graph(tag, tables[0], entities, readers.items)
    return render_template(
        "reprocessing.html",
        asked={"tag": tag, "table": tables},
        entities=entities,
        readers=readers,
        error=error,
        graph=graph,
        known=lineage_service().tag_tables(caller_prefix(), SUGGESTED_TABLES),
    )
