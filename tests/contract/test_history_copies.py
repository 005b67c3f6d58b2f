"""Clone, export and import, on every history backend."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask.testing import FlaskClient

from tests.backends import RawAccess
from tests.recipe import rechain

API = "/api/v1/instances"


def fill(client: FlaskClient, iid: str, count: int) -> list[dict[str, Any]]:
    """Entries with metadata, times and some offloaded data."""
    batch = [
        {
            "type": f"t{n % 3}",
            "id": str(uuid.uuid4()),
            "metadata": {"step": n},
            "occurred_at": f"2026-05-01T10:00:0{n % 10}.250+02:00",
            "data": {"n": n, "big": "z" * (6000 if n % 3 == 0 else 1), "$odd.key": [[n]]},
        }
        for n in range(count)
    ]
    client.post(f"{API}/{iid}/history/batch", json={"entries": batch})
    return client.get(f"{API}/{iid}/history").get_json()["items"]


def test_clone_copies_up_to_a_seq_with_a_fresh_chain(client: FlaskClient, iid: str) -> None:
    source = fill(client, iid, 6)
    target = str(uuid.uuid4())
    response = client.post(f"{API}/{iid}/clone", json={"to": target, "upto": 3})
    assert response.status_code == 201
    assert response.headers["Location"] == f"{API}/{target}"
    assert response.get_json()["count"] == 4
    copies = client.get(f"{API}/{target}/history").get_json()["items"]
    for original, copy in zip(source, copies):
        assert (copy["id"], copy["type"], copy["data"], copy["occurred_at"], copy["data_sha256"]) == (
            original["id"],
            original["type"],
            original["data"],
            original["occurred_at"],
            original["data_sha256"],
        )
        assert copy["metadata"] == {
            **original["metadata"],
            "cloned_from": {"instance_id": iid, "seq": original["seq"], "hash": original["hash"], "upto": 3},
        }
        assert copy["hash"] != original["hash"]
    assert client.get(f"{API}/{target}/verify").get_json() == {"ok": True, "checked": 4, "first_bad_seq": None}


def _stop_half_way(raw: RawAccess, instance_id: str, kept: int, count: int) -> None:
    """Leave only the first ``kept`` entries, as a copy that stopped between two of its chunks would."""
    for seq in range(count - 1, kept - 1, -1):
        raw.delete_entry(instance_id, seq)
    raw.set_summary_head(instance_id, kept - 1)


def test_a_clone_that_stopped_half_way_completes_when_sent_again(client: FlaskClient, raw: RawAccess, iid: str) -> None:
    fill(client, iid, 5)
    target = str(uuid.uuid4())
    client.post(f"{API}/{iid}/clone", json={"to": target, "upto": 4})
    _stop_half_way(raw, target, 2, 5)
    assert client.post(f"{API}/{iid}/clone", json={"to": target}).status_code == 409  # another upto: another request
    assert client.post(f"{API}/{iid}/clone", json={"to": target, "upto": 4}).status_code == 201
    assert client.get(f"{API}/{target}").get_json()["count"] == 5
    assert client.get(f"{API}/{target}/verify").get_json()["ok"] is True


def test_a_clone_never_splices_into_a_target_that_went_its_own_way(client: FlaskClient, iid: str) -> None:
    fill(client, iid, 5)
    target = str(uuid.uuid4())
    assert client.post(f"{API}/{iid}/clone", json={"to": target, "upto": 2}).status_code == 201
    own = client.post(f"{API}/{target}/history", json={"type": "mine", "data": 3}).get_json()
    for upto in (2, 4, None):
        again = client.post(f"{API}/{iid}/clone", json={"to": target} | ({"upto": upto} if upto is not None else {}))
        assert again.status_code == 409 and again.get_json()["error"]["details"] == {"instance_id": target}
    history = client.get(f"{API}/{target}/history").get_json()["items"]
    assert len(history) == 4 and history[-1] == own
    same = client.post(f"{API}/{iid}/clone", json={"to": str(uuid.uuid4()), "upto": 2})
    assert same.status_code == 201 and same.get_json()["count"] == 3


def test_a_clone_of_another_source_into_a_clone_is_refused(client: FlaskClient, iid: str) -> None:
    other = str(uuid.uuid4())
    fill(client, iid, 3)
    fill(client, other, 3)
    target = str(uuid.uuid4())
    assert client.post(f"{API}/{iid}/clone", json={"to": target, "upto": 1}).status_code == 201
    assert client.post(f"{API}/{other}/clone", json={"to": target, "upto": 1}).status_code == 409
    assert client.get(f"{API}/{target}").get_json()["count"] == 2


def test_another_export_into_an_import_is_refused(client: FlaskClient, iid: str) -> None:
    other = str(uuid.uuid4())
    fill(client, iid, 2)
    fill(client, other, 2)
    target = str(uuid.uuid4())
    first = client.get(f"{API}/{iid}/export").get_data()
    assert client.post(f"{API}/{target}/import", data=first, content_type="application/x-ndjson").status_code == 201
    second = client.get(f"{API}/{other}/export").get_data()
    refused = client.post(f"{API}/{target}/import", data=second, content_type="application/x-ndjson")
    assert refused.status_code == 409 and client.get(f"{API}/{target}").get_json()["count"] == 2
    shorter = b"\n".join(first.splitlines()[:1])  # a part of the same export: not the same request
    assert client.post(f"{API}/{target}/import", data=shorter, content_type="application/x-ndjson").status_code == 409
    longer = first + client.get(f"{API}/{other}/export").get_data()  # the same start, but another history
    assert client.post(f"{API}/{target}/import", data=longer, content_type="application/x-ndjson").status_code == 422


def test_clone_refusals(client: FlaskClient, iid: str) -> None:
    fill(client, iid, 2)
    occupied = str(uuid.uuid4())
    client.post(f"{API}/{occupied}/history", json={"type": "mine", "data": 1})
    assert client.post(f"{API}/{iid}/clone", json={"to": occupied}).status_code == 409
    assert client.get(f"{API}/{occupied}").get_json()["count"] == 1
    assert client.post(f"{API}/{uuid.uuid4()}/clone", json={"to": str(uuid.uuid4())}).status_code == 404
    past = client.post(f"{API}/{iid}/clone", json={"to": str(uuid.uuid4()), "upto": 2})
    assert past.status_code == 404 and past.get_json()["error"]["details"] == {"upto": 2, "head": 1}
    assert client.post(f"{API}/{iid}/clone", json={"to": iid}).status_code == 409  # it has entries
    assert client.post(f"{API}/{iid}/clone", json={"to": "bad id"}).status_code == 422


def test_export_then_import_keeps_every_data_hash(client: FlaskClient, iid: str) -> None:
    source = fill(client, iid, 7)
    exported = client.get(f"{API}/{iid}/export")
    assert exported.status_code == 200 and exported.mimetype == "application/x-ndjson" and exported.is_streamed
    lines = exported.get_data().splitlines()
    assert [json.loads(line) for line in lines] == source  # large payloads inline, in order
    target = str(uuid.uuid4())
    imported = client.post(f"{API}/{target}/import", data=exported.get_data(), content_type="application/x-ndjson")
    assert imported.status_code == 201 and imported.get_json()["count"] == 7
    copies = client.get(f"{API}/{target}/history").get_json()["items"]
    assert [c["data_sha256"] for c in copies] == [s["data_sha256"] for s in source]
    assert [c["data"] for c in copies] == [s["data"] for s in source]
    assert [(c["id"], c["type"], c["occurred_at"]) for c in copies] == [
        (s["id"], s["type"], s["occurred_at"]) for s in source
    ]
    assert copies[2]["metadata"]["imported_from"] == {"instance_id": iid, "seq": 2, "hash": source[2]["hash"]}
    assert client.get(f"{API}/{target}/verify").get_json()["ok"] is True
    again = client.post(f"{API}/{target}/import", data=exported.get_data(), content_type="application/x-ndjson")
    assert again.status_code == 201 and again.get_json()["count"] == 7  # a retry, not a second copy
    client.post(f"{API}/{target}/history", json={"type": "mine", "data": 1})
    spliced = client.post(f"{API}/{target}/import", data=exported.get_data(), content_type="application/x-ndjson")
    assert spliced.status_code == 409 and client.get(f"{API}/{target}").get_json()["count"] == 8


def test_an_import_with_a_broken_chain_stores_nothing(client: FlaskClient, iid: str) -> None:
    fill(client, iid, 5)
    lines = client.get(f"{API}/{iid}/export").get_data().splitlines()
    target = str(uuid.uuid4())
    for bad_seq, broken in (
        (3, lines[:3] + [lines[3].replace(b'"n":3', b'"n":33')] + lines[4:]),  # data changed
        (2, lines[:2] + lines[3:]),  # an entry removed
        (0, [lines[1], lines[0]] + lines[2:]),  # reordered
    ):
        response = client.post(f"{API}/{target}/import", data=b"\n".join(broken), content_type="application/x-ndjson")
        assert response.status_code == 422 and response.get_json()["error"]["details"] == {"seq": bad_seq}
        assert client.get(f"{API}/{target}").status_code == 404


def test_import_refusals(client: FlaskClient, iid: str) -> None:
    fill(client, iid, 2)
    body = client.get(f"{API}/{iid}/export").get_data()
    target = str(uuid.uuid4())
    assert client.post(f"{API}/{target}/import", data=body, content_type="application/json").status_code == 415
    assert (
        client.post(f"{API}/{target}/import", data=body + b"{not json", content_type="application/x-ndjson").get_json()[
            "error"
        ]["message"]
        == "line 3 is not valid JSON"
    )
    assert client.post(f"{API}/{target}/import", data=b"", content_type="application/x-ndjson").status_code == 422
    assert client.post(f"{API}/{iid}/import", data=body, content_type="application/x-ndjson").status_code == 409
    other = str(uuid.uuid4())
    client.post(f"{API}/{other}/history", json={"type": "mine", "data": 1})
    assert client.post(f"{API}/{other}/import", data=body, content_type="application/x-ndjson").status_code == 409
    assert client.get(f"{API}/{uuid.uuid4()}/export").status_code == 404


def _import(client: FlaskClient, target: str, entries: list[dict[str, Any]]) -> Any:
    body = b"\n".join(json.dumps(entry).encode() for entry in entries)
    return client.post(f"{API}/{target}/import", data=body, content_type="application/x-ndjson")


def test_a_splice_of_two_histories_is_refused_at_the_seam(client: FlaskClient, iid: str) -> None:
    other = str(uuid.uuid4())
    fill(client, iid, 5)
    fill(client, other, 5)
    ours = [json.loads(line) for line in client.get(f"{API}/{iid}/export").get_data().splitlines()]
    theirs = [json.loads(line) for line in client.get(f"{API}/{other}/export").get_data().splitlines()]
    # As exported, and with the other history re-hashed under our instance id so that only the link
    # from seq 3 back to seq 2 is wrong: every line is intact, in its place, of one instance.
    theirs_as_ours = rechain([{**entry, "instance_id": iid} for entry in theirs])
    target = str(uuid.uuid4())
    for spliced in (ours[:3] + theirs[3:], ours[:3] + theirs_as_ours[3:]):
        response = _import(client, target, spliced)
        assert response.status_code == 422 and response.get_json()["error"]["details"] == {"seq": 3}
        assert client.get(f"{API}/{target}").status_code == 404


def test_a_consistent_chain_that_mixes_instances_is_refused(client: FlaskClient, iid: str) -> None:
    fill(client, iid, 5)
    entries = [json.loads(line) for line in client.get(f"{API}/{iid}/export").get_data().splitlines()]
    for entry in entries[3:]:
        entry["instance_id"] = "someone-else"
    rechain(entries, start=3)  # hashes and links recomputed: only the instance ids disagree
    target = str(uuid.uuid4())
    response = _import(client, target, entries)
    assert response.status_code == 422 and response.get_json()["error"]["details"] == {"seq": 3}
    assert client.get(f"{API}/{target}").status_code == 404
    assert _import(client, target, rechain(entries[:3])).status_code == 201  # the same lines, one instance


def test_a_consistent_chain_with_a_field_the_api_would_refuse_is_refused(client: FlaskClient, iid: str) -> None:
    # Each forgery is re-hashed with the published recipe, so only the field's shape gives it away;
    # stored as it was, it would be a 500 on import or a record the API could never have written.
    fill(client, iid, 3)
    exported = [json.loads(line) for line in client.get(f"{API}/{iid}/export").get_data().splitlines()]
    forgeries = [
        ("metadata", ["not", "an", "object"]),
        ("occurred_at", "yesterday"),
        ("occurred_at", "2026-02-30T00:00:00.000Z"),
        ("recorded_at", None),
        ("type", "t" * 257),
        ("id", "i" * 37),
        ("seq", True),  # equal to 1 in Python, not in JSON: the recipe hashes it as true
    ]
    target = str(uuid.uuid4())
    for name, value in forgeries:
        entries = [dict(entry) for entry in exported]
        entries[1][name] = value
        response = _import(client, target, rechain(entries, start=1))
        assert (response.status_code, response.get_json()["error"]["details"]) == (422, {"seq": 1}), name
    assert client.get(f"{API}/{target}").status_code == 404
    assert _import(client, target, exported).status_code == 201
