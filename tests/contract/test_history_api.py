"""The history contract over HTTP, run against every backend (mongomock, FerretDB, MONGODB_TEST_URI)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC
from typing import Any

import pytest
from flask.testing import FlaskClient

from process_memory.services import services
from tests.recipe import canonical, documented_hash

API = "/api/v1/instances"


def append(client: FlaskClient, iid: str, body: dict[str, Any], **headers: str) -> Any:
    """POST one entry."""
    return client.post(f"{API}/{iid}/history", json=body, headers=headers)


def test_appends_get_gapless_seqs_and_a_chain(client: FlaskClient, iid: str) -> None:
    entries = []
    for n in range(5):
        response = append(client, iid, {"type": "step", "data": {"n": n}, "metadata": {"by": "test"}})
        assert response.status_code == 201
        assert response.headers["Location"] == f"{API}/{iid}/history/{n}"
        entries.append(response.get_json())
    assert [e["seq"] for e in entries] == [0, 1, 2, 3, 4]
    assert entries[0]["prev_hash"] is None
    for previous, entry in zip(entries, entries[1:]):
        assert entry["prev_hash"] == previous["hash"]
    for entry in entries:
        assert entry["hash"] == documented_hash(entry)
        uuid.UUID(entry["id"])
        assert entry["recorded_at"].endswith("Z") and len(entry["recorded_at"]) == 24
    assert client.get(f"{API}/{iid}/history/3").get_json() == entries[3]


def test_client_fields_are_kept(client: FlaskClient, iid: str) -> None:
    entry_id = str(uuid.uuid4())
    response = append(
        client, iid, {"type": "ingest", "data": None, "id": entry_id, "occurred_at": "2026-01-02T05:04:05.678+02:00"}
    )
    body = response.get_json()
    assert (body["id"], body["data"], body["occurred_at"]) == (entry_id, None, "2026-01-02T03:04:05.678Z")


def test_same_id_same_content_is_a_safe_retry(client: FlaskClient, iid: str) -> None:
    body = {"type": "t", "data": {"a": 1}, "id": str(uuid.uuid4())}
    first = append(client, iid, body)
    again = append(client, iid, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert client.get(f"{API}/{iid}").get_json()["count"] == 1


def test_same_id_other_content_conflicts_and_changes_nothing(client: FlaskClient, iid: str) -> None:
    entry_id = str(uuid.uuid4())
    stored = append(client, iid, {"type": "t", "data": {"a": 1}, "id": entry_id}).get_json()
    response = append(client, iid, {"type": "t", "data": {"a": 2}, "id": entry_id})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"
    assert client.get(f"{API}/{iid}/head").get_json() == stored


def test_if_match_guards_the_head(client: FlaskClient, iid: str) -> None:
    assert append(client, iid, {"type": "t", "data": 0}, **{"If-Match": '"-1"'}).status_code == 201
    stale = append(client, iid, {"type": "t", "data": 1}, **{"If-Match": '"-1"'})
    assert stale.status_code == 412
    assert stale.get_json()["error"]["details"] == {"head": 0}
    assert append(client, iid, {"type": "t", "data": 1}, **{"If-Match": '"0"'}).status_code == 201
    malformed = append(client, iid, {"type": "t", "data": 2}, **{"If-Match": "yesterday"})
    assert malformed.status_code == 422 and "If-Match" in malformed.get_json()["error"]["details"]
    assert client.get(f"{API}/{iid}").get_json()["count"] == 2


ODD_JSON = [
    {"$set": {"a.b": 1}, "": "empty key", "x.y.z": ["$in"]},
    [[1, [2, [3]]], [], [[]]],
    {"big": 2**80, "negative": -(2**70), "floats": [0.1, 1e300, -2.5e-300, 1.0]},
    "ünïcødé ✓ 𝄞 \u0000 text",
    {"deep": [[[{"$": [{"": None}]}]]]},
    None,
    12345678901234567890123,
]


@pytest.mark.parametrize("data", ODD_JSON)
def test_any_json_round_trips(client: FlaskClient, iid: str, data: Any) -> None:
    metadata = {"$meta": {"a.b": [[1]]}}
    stored = append(client, iid, {"type": "odd", "data": data, "metadata": metadata}).get_json()
    fetched = client.get(f"{API}/{iid}/history/0").get_json()
    assert fetched["data"] == data and fetched["metadata"] == metadata
    assert json.dumps(fetched["data"], sort_keys=True) == json.dumps(data, sort_keys=True)
    assert stored["hash"] == documented_hash(fetched)


def test_large_data_is_offloaded_and_reads_back(client: FlaskClient, raw: Any, iid: str) -> None:
    # The fixture's inline threshold is 4096 bytes.
    data = {"rows": [{"i": i, "name": f"row {i}", "$odd.key": [[i]]} for i in range(2000)]}
    stored = append(client, iid, {"type": "dataset", "data": data}).get_json()
    assert stored["size"] > 4096
    row = raw.entry_row(iid, 0)
    assert row["data_json"] is None and row["data_blob"] is not None
    assert client.get(f"{API}/{iid}/head").get_json()["data"] == data
    assert client.get(f"{API}/{iid}/verify").get_json() == {"ok": True, "checked": 1, "first_bad_seq": None}


def test_data_of_exactly_the_threshold_stays_inline_and_one_byte_more_is_offloaded(
    client: FlaskClient, raw: Any, iid: str
) -> None:
    # The fixture's threshold is 4096 canonical bytes; a JSON string costs its two quotes.
    at_threshold, one_more = "a" * 4094, "b" * 4095
    assert append(client, iid, {"type": "t", "data": at_threshold}).get_json()["size"] == 4096
    assert append(client, iid, {"type": "t", "data": one_more}).get_json()["size"] == 4097
    inline, offloaded = raw.entry_row(iid, 0), raw.entry_row(iid, 1)
    assert inline["data_json"] == f'"{at_threshold}"' and inline.get("data_blob") is None
    assert offloaded["data_json"] is None and offloaded["data_blob"] is not None
    assert raw.blob_count(iid) == 1
    assert [e["data"] for e in client.get(f"{API}/{iid}/history").get_json()["items"]] == [at_threshold, one_more]


def test_a_swapped_blob_is_caught(client: FlaskClient, raw: Any, iid: str) -> None:
    big = {"text": "a" * 10_000}
    append(client, iid, {"type": "t", "data": {"small": 1}})
    append(client, iid, {"type": "t", "data": big})
    append(client, iid, {"type": "t", "data": {"text": "b" * 10_000}})
    raw.update_entry(iid, 1, data_blob=raw.entry_row(iid, 2)["data_blob"])
    assert client.get(f"{API}/{iid}/verify").get_json() == {"ok": False, "checked": 2, "first_bad_seq": 1}


def _fill(client: FlaskClient, iid: str, count: int) -> None:
    for n in range(count):
        append(client, iid, {"type": "even" if n % 2 == 0 else "odd", "data": n})


def test_pages_forward_and_backward_with_cursors(client: FlaskClient, iid: str) -> None:
    _fill(client, iid, 7)
    seen, url = [], f"{API}/{iid}/history?limit=3"
    while url:
        response = client.get(url)
        page = response.get_json()
        seen += [e["seq"] for e in page["items"]]
        url = response.headers.get("Link", "").partition(">")[0][1:] or None
        assert (page["next"] is None) == (url is None)
    assert seen == list(range(7))
    backward = client.get(f"{API}/{iid}/history?direction=backward&limit=3").get_json()
    assert [e["seq"] for e in backward["items"]] == [6, 5, 4] and backward["next"] == 4
    rest = client.get(f"{API}/{iid}/history?direction=backward&before=4").get_json()
    assert [e["seq"] for e in rest["items"]] == [3, 2, 1, 0] and rest["next"] is None
    window = client.get(f"{API}/{iid}/history?after=1&before=5").get_json()
    assert [e["seq"] for e in window["items"]] == [2, 3, 4]


def _walk(client: FlaskClient, url: str) -> tuple[list[int], int]:
    """Follow the Link headers from ``url``; return the seqs seen and how many pages it took."""
    seen, pages = [], 0
    while url:
        response = client.get(url)
        body = response.get_json()
        pages += 1
        seen += [e["seq"] for e in body["items"]]
        url = response.headers.get("Link", "").partition(">")[0][1:]
        assert (body["next"] is None) == (url == ""), "the Link header and next disagree"
    return seen, pages


@pytest.mark.parametrize("count", [3, 6])
def test_a_count_that_is_a_multiple_of_the_limit_gives_no_extra_page(client: FlaskClient, iid: str, count: int) -> None:
    _fill(client, iid, count)
    assert _walk(client, f"{API}/{iid}/history?limit=3") == (list(range(count)), count // 3)
    assert _walk(client, f"{API}/{iid}/history?limit=3&direction=backward") == (
        list(reversed(range(count))),
        count // 3,
    )
    last = client.get(f"{API}/{iid}/history?limit=3&after={count - 4}")
    assert last.get_json()["next"] is None and "Link" not in last.headers


def test_instance_pages_end_without_an_extra_page(client: FlaskClient) -> None:
    # Each test has tables or collections of its own, so these four are all the instances there are.
    ids = [f"{uuid.uuid4().hex[:8]}-{n}" for n in range(4)]
    for iid in ids:
        _fill(client, iid, 1)
    first = client.get(API, query_string={"limit": 2}).get_json()
    second = client.get(API, query_string={"limit": 2, "after": first["next"]})
    assert [i["instance_id"] for i in first["items"] + second.get_json()["items"]] == sorted(ids)
    assert second.get_json()["next"] is None and "Link" not in second.headers


def test_filters_by_type_and_time(client: FlaskClient, app: Any, iid: str) -> None:
    service = services(app).history
    from datetime import datetime, timedelta

    start = datetime(2026, 3, 1, tzinfo=UTC)
    ticks = iter(range(100))
    service.context.clock = lambda: start + timedelta(hours=next(ticks))
    _fill(client, iid, 6)
    odd = client.get(f"{API}/{iid}/history?type=odd").get_json()["items"]
    assert [e["seq"] for e in odd] == [1, 3, 5]
    window = client.get(
        f"{API}/{iid}/history", query_string={"since": "2026-03-01T02:00:00Z", "until": "2026-03-01T04:00:00+00:00"}
    )
    assert [e["seq"] for e in window.get_json()["items"]] == [2, 3]


def test_head_first_and_missing_things(client: FlaskClient, iid: str) -> None:
    for path in ("", "/head", "/first", "/history/0", "/verify"):
        response = client.get(f"{API}/{iid}{path}")
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"
    assert client.get(f"{API}/{iid}/history").get_json() == {"items": [], "next": None}
    _fill(client, iid, 3)
    assert client.get(f"{API}/{iid}/first").get_json()["seq"] == 0
    assert client.get(f"{API}/{iid}/head").get_json()["seq"] == 2
    assert client.get(f"{API}/{iid}/head").headers["ETag"] == '"2"'
    assert client.get(f"{API}/{iid}/history/3").status_code == 404


def test_instances_are_summarised_and_paged(client: FlaskClient) -> None:
    prefix = uuid.uuid4().hex[:8]
    ids = [f"{prefix}-{n}" for n in range(5)]
    for n, iid in enumerate(ids):
        _fill(client, iid, n + 1)
    summary = client.get(f"{API}/{ids[2]}").get_json()
    head = client.get(f"{API}/{ids[2]}/head").get_json()
    first = client.get(f"{API}/{ids[2]}/first").get_json()
    assert summary == {
        "instance_id": ids[2],
        "count": 3,
        "head_seq": 2,
        "head_hash": head["hash"],
        "first_recorded_at": first["recorded_at"],
        "last_recorded_at": head["recorded_at"],
        "head_type": "even",  # seq 2's
        "head_failed": False,
    }
    listed, after = [], None
    while True:
        page = client.get(f"{API}", query_string={"limit": 2, **({"after": after} if after else {})}).get_json()
        listed += [item["instance_id"] for item in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert [i for i in listed if i.startswith(prefix)] == ids


def test_verify_names_the_tampered_seq(client: FlaskClient, raw: Any, iid: str) -> None:
    _fill(client, iid, 5)
    assert client.get(f"{API}/{iid}/verify").get_json() == {"ok": True, "checked": 5, "first_bad_seq": None}
    raw.update_entry(iid, 3, data_json="4")
    assert client.get(f"{API}/{iid}/verify").get_json() == {"ok": False, "checked": 4, "first_bad_seq": 3}


@pytest.mark.parametrize(
    ("change", "bad_seq"),
    [
        ({"metadata_json": '{"by":"mallory"}'}, 2),
        ({"type": "other"}, 2),
        ({"recorded_at": "2020-01-01T00:00:00.000Z"}, 2),
        ({"hash": "0" * 64}, 2),
        ({"prev_hash": "0" * 64}, 2),
        ({"occurred_at": "2020-01-01T00:00:00.000Z"}, 2),
        # The stored digest and size columns are checked against the data, not only through the hash.
        ({"data_sha256": "0" * 64}, 2),
        ({"size": 999}, 2),
        ({"metadata_json": "{not json"}, 2),
    ],
)
def test_verify_catches_every_hashed_field(
    client: FlaskClient, raw: Any, iid: str, change: dict[str, Any], bad_seq: int
) -> None:
    _fill(client, iid, 5)
    raw.update_entry(iid, 2, **change)
    assert client.get(f"{API}/{iid}/verify").get_json()["first_bad_seq"] == bad_seq


def test_verify_catches_a_self_consistent_forgery_at_the_next_link(client: FlaskClient, raw: Any, iid: str) -> None:
    # Whoever rewrites one entry and recomputes its digest, size and hash is caught by the next entry's prev_hash.
    _fill(client, iid, 5)
    forged = client.get(f"{API}/{iid}/history/2").get_json()
    forged["data"] = "forged"
    forged["size"] = len(canonical(forged["data"]))
    forged["data_sha256"] = hashlib.sha256(canonical(forged["data"])).hexdigest()
    forged["hash"] = documented_hash(forged)
    raw.update_entry(
        iid,
        2,
        data_json=canonical(forged["data"]).decode(),
        size=forged["size"],
        data_sha256=forged["data_sha256"],
        hash=forged["hash"],
    )
    assert client.get(f"{API}/{iid}/history/2").get_json() == forged  # the forgery is in place
    assert client.get(f"{API}/{iid}/verify").get_json() == {"ok": False, "checked": 4, "first_bad_seq": 3}


def test_verify_catches_removed_entries(client: FlaskClient, raw: Any, iid: str) -> None:
    _fill(client, iid, 5)
    raw.delete_entry(iid, 4)
    assert client.get(f"{API}/{iid}/verify").get_json() == {"ok": False, "checked": 4, "first_bad_seq": 4}
    raw.delete_entry(iid, 1)
    assert client.get(f"{API}/{iid}/verify").get_json() == {"ok": False, "checked": 2, "first_bad_seq": 1}


def test_a_stale_summary_is_repaired_when_read(client: FlaskClient, raw: Any, iid: str) -> None:
    _fill(client, iid, 3)
    # As if the process died between inserting seq 2 and advancing the summary.
    raw.set_summary_head(iid, 1)
    head = client.get(f"{API}/{iid}/head").get_json()
    assert client.get(f"{API}/{iid}").get_json()["head_hash"] == head["hash"]
    raw.set_summary_head(iid, 0)
    listed = client.get(API, query_string={"limit": 1000}).get_json()["items"]
    assert [s["count"] for s in listed if s["instance_id"] == iid] == [3]
    assert raw.summary_head(iid) == 2


def test_a_first_append_that_died_leaves_nothing_visible(client: FlaskClient, raw: Any, iid: str) -> None:
    # The summary placeholder is written before the first entry; the entry never came.
    raw.insert_placeholder_summary(iid)
    assert client.get(f"{API}/{iid}").status_code == 404
    assert iid not in [s["instance_id"] for s in client.get(API, query_string={"limit": 1000}).get_json()["items"]]
    assert append(client, iid, {"type": "t", "data": 1}).status_code == 201
    assert client.get(f"{API}/{iid}").get_json()["count"] == 1


def test_orphaned_blobs_are_collected_and_used_ones_kept(app: Any, client: FlaskClient, store: Any, iid: str) -> None:
    from datetime import timedelta

    append(client, iid, {"type": "t", "data": {"text": "k" * 10_000}})
    orphan = store.blobs.put_blob(iid, str(uuid.uuid4()), b"left behind by a crash")
    service = services(app).history
    real_clock = service.context.clock
    service.context.clock = lambda: real_clock() + timedelta(hours=2)
    assert service.appender.delete_orphan_blobs(timedelta(hours=1)) == 1
    with pytest.raises(KeyError):
        store.blobs.get_blob(orphan)
    assert client.get(f"{API}/{iid}/verify").get_json()["ok"] is True


def test_a_refused_large_append_leaves_no_blob(client: FlaskClient, raw: Any, iid: str) -> None:
    entry_id = str(uuid.uuid4())
    append(client, iid, {"type": "t", "data": {"text": "x" * 10_000}, "id": entry_id})
    assert append(client, iid, {"type": "t", "data": {"text": "y" * 10_000}, "id": entry_id}).status_code == 409
    assert append(client, iid, {"type": "t", "data": {"text": "z" * 10_000}}, **{"If-Match": '"7"'}).status_code == 412
    assert raw.blob_count(iid) == 1
