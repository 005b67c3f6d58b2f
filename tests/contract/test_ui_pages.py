"""The history browser's pages on every history backend, through the Flask test client: what each page shows,
and its refusals as pages. (tests/test_ui.py drives them in a real browser.)"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from process_memory import create_app
from process_memory.anchoring.anchorer import Anchorer, AnchoringSettings
from process_memory.proofs.notes import Signer, generate_key
from tests.backends import RawAccess, rewrite_consistently
from tests.conftest import Backend
from tests.keys import write_test_keys
from tests.memories import OTHER_TAG, TABLE, TAG, Scenario, memory

API = "/api/v1/instances"


def _append(client: FlaskClient, iid: str, entry_type: str, data: object, **extra: object) -> None:
    assert client.post(f"{API}/{iid}/history", json={"type": entry_type, "data": data, **extra}).status_code == 201


def test_the_instance_list_searches_by_prefix_and_pages(client: FlaskClient) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = [f"ui{tag}-{n:02d}" for n in range(55)] + [f"uj{tag}-x", f"ui{tag}_x"]
    for iid in ids:
        _append(client, iid, "row", 1)
    first = client.get("/ui/", query_string={"prefix": f"ui{tag}-", "sort": "id"}).get_data(as_text=True)
    assert all(f"ui{tag}-{n:02d}" in first for n in range(50)) and f"ui{tag}-50" not in first
    assert f"uj{tag}" not in first and f"ui{tag}_x" not in first
    by_id = {"prefix": f"ui{tag}-", "after": f"ui{tag}-49", "sort": "id"}
    following = client.get("/ui/", query_string=by_id).get_data(as_text=True)
    assert all(f"ui{tag}-{n}" in following for n in range(50, 55)) and 'rel="next"' not in following
    # The prefix is text, not a pattern: "_" (any one character in SQL's LIKE) matches only itself.
    assert client.get(f"{API}", query_string={"prefix": f"ui{tag}_"}).get_json()["items"][0]["instance_id"] == ids[-1]
    assert client.get(f"{API}", query_string={"prefix": f"ui{tag}_", "limit": 5}).get_json()["next"] is None


def test_the_timeline_entry_and_badge(backend: Backend, raw: RawAccess, iid: str) -> None:
    signer = Signer.from_key(generate_key("pm.ui")[0])
    app = create_app(dataclasses.replace(backend.settings, signing_key=signer), history_store=backend.store)
    client = app.test_client()
    for n in range(6):
        _append(client, iid, "ingest" if n % 2 == 0 else "transform", {"rows": n, "source": f"part-{n}"})
    _append(client, iid, "transform", {"pad": "x" * 300_000})  # lazily loaded: over 256 KiB
    timeline = client.get(f"/ui/instances/{iid}").get_data(as_text=True)
    assert timeline.index('data-seq="6"') < timeline.index('data-seq="0"')  # newest first
    filtered = client.get(f"/ui/instances/{iid}", query_string={"type": "ingest"}).get_data(as_text=True)
    assert filtered.count("<tr data-seq=") == 3 and "<td>transform</td>" not in filtered
    entry = client.get(f"/ui/instances/{iid}/entries/5").get_data(as_text=True)
    assert "Against" in entry and "seq 3" in entry and "part-5" in entry
    assert 'id="lazy-data"' in client.get(f"/ui/instances/{iid}/entries/6").get_data(as_text=True)
    unanchored = client.get(f"/ui/instances/{iid}/badge").get_data(as_text=True)
    assert "not anchored yet" in unanchored and "7 entries" in unanchored
    Anchorer(backend.store, AnchoringSettings(signer, "process-memory"), lambda: datetime.now(UTC)).run_round()
    anchored = client.get(f"/ui/instances/{iid}/badge").get_data(as_text=True)
    assert "✔ verified" in anchored
    assert "the chain holds; the tree at size 7 is anchored in service checkpoint 1; " in anchored
    assert "no witness is configured: the server is checked only against itself" in anchored
    assert 'id="not-intact"' not in client.get(f"/ui/instances/{iid}/entries/2").get_data(as_text=True)
    raw.update_entry(iid, 2, data_json='{"rows":0}')
    badge = client.get(f"/ui/instances/{iid}/badge").get_data(as_text=True)
    assert "failed" in badge and "seq 2" in badge
    assert f'href="/ui/instances/{iid}/entries/2">see seq 2</a>' in badge  # where it failed, one click away
    assert 'id="not-intact"' in client.get(f"/ui/instances/{iid}/entries/2").get_data(as_text=True)
    assert 'id="not-intact"' not in client.get(f"/ui/instances/{iid}/entries/1").get_data(as_text=True)


def test_refusals_are_pages_with_the_apis_status(app: Flask, iid: str) -> None:
    client = app.test_client()
    missing = client.get(f"/ui/instances/{iid}")
    assert missing.status_code == 404 and missing.mimetype == "text/html" and "unknown instance" in missing.text
    _append(client, iid, "row", 1)
    refused = client.get(f"/ui/instances/{iid}", query_string={"since": "yesterday"})
    api = client.get(f"{API}/{iid}/history", query_string={"since": "yesterday"}).get_json()["error"]["details"]
    # The page names the field and says what is wrong with it, in the API's words.
    assert refused.status_code == 422 and list(api) == ["since"]
    assert f"<code>since</code>: {html.escape(' '.join(api['since']))}</li>" in refused.get_data(as_text=True)
    assert client.get("/").headers["Location"].endswith("/ui/")
    docs = client.get("/api/v1/docs").get_data(as_text=True)
    assert "cdn" not in docs.lower() and "/api/v1/docs/assets/swagger-ui-bundle.js" in docs
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_keys_reach_pages_by_basic_auth(backend: Backend, tmp_path: Path) -> None:
    keys = write_test_keys(tmp_path)
    settings = dataclasses.replace(backend.settings, api_keys=keys.configured())
    client = create_app(settings, history_store=backend.store).test_client()
    prompt = client.get("/ui/")
    assert (
        prompt.status_code == 401 and "Basic" in prompt.headers["WWW-Authenticate"] and prompt.mimetype == "text/html"
    )

    def basic(name: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"anyone:{keys.secrets[name]}".encode()).decode()}

    assert client.get("/ui/", headers=basic("read")).status_code == 200
    refused = client.get("/ui/", headers=basic("state"))
    assert refused.status_code == 403 and "lacks the read scope" in refused.text and "Traceback" not in refused.text
    assert client.get("/ui/static/ui.css").status_code == 200  # assets hold no data
    # The working state shows on an instance's page only to a key with the state scope, as its route asks.
    iid = f"st-{uuid.uuid4().hex[:8]}"
    assert client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1}, headers=basic("all")).status_code == 201
    put = client.put(f"{API}/{iid}/state", json={"step": 4}, query_string={"ttl": 3600}, headers=basic("all"))
    shown = html.unescape(client.get(f"/ui/instances/{iid}", headers=basic("all")).get_data(as_text=True))
    assert f"ETag <code>{put.headers['ETag']}</code>, expires in " in shown
    assert '<span class="key">"step"</span>: <span class="scalar scalar-number">4</span>' in shown
    assert 'id="state"' not in client.get(f"/ui/instances/{iid}", headers=basic("read")).get_data(as_text=True)
    # The search page, like the API's search, answers a key limited to a prefix within that prefix only.
    found_type = f"seen-{uuid.uuid4().hex[:8]}"
    for target in ("team-a.inside", "team-b.outside"):
        body = {"type": found_type, "data": 1}
        assert client.post(f"{API}/{target}/history", json=body, headers=basic("all")).status_code == 201
    everyone = client.get("/ui/search", query_string={"type": found_type}, headers=basic("all")).get_data(as_text=True)
    limited = client.get("/ui/search", query_string={"type": found_type}, headers=basic("prefixed")).get_data(
        as_text=True
    )
    assert 'data-instance="team-a.inside"' in everyone and 'data-instance="team-b.outside"' in everyone
    assert 'data-instance="team-a.inside"' in limited and 'data-instance="team-b.outside"' not in limited


def test_an_entry_shows_what_it_read_and_the_reprocessing_view_who_would_rerun(client: FlaskClient) -> None:
    reader = str(uuid.uuid4())
    assert client.post(f"/{reader}/commit", json=memory(reader)).status_code == 201
    entry = client.get(f"/ui/instances/{reader}/entries/0").get_data(as_text=True)
    assert '<code>"U1"</code> from <code>' + TABLE in entry and "who else read it" in entry
    found = client.get("/ui/reprocessing", query_string={"tag": TAG, "table": TABLE, "entity": "U1"})
    assert found.status_code == 200 and f'href="/ui/instances/{reader}"' in found.get_data(as_text=True)
    nobody = client.get("/ui/reprocessing", query_string={"tag": TAG, "table": TABLE, "entity": "U9"})
    assert reader not in nobody.get_data(as_text=True) and "No run read them." in nobody.get_data(as_text=True)
    second = str(uuid.uuid4())
    assert client.post(f"/{second}/commit", json=memory(second)).status_code == 201
    first_page = client.get("/ui/reprocessing", query_string={"tag": TAG, "table": TABLE, "entity": "U1", "limit": 1})
    following = first_page.get_data(as_text=True).split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    shown = [page.get_data(as_text=True) for page in (first_page, client.get(following))]
    assert sorted(iid for iid in (reader, second) for page in shown if f'href="/ui/instances/{iid}"' in page) == sorted(
        [reader, second]
    )
    refused = client.get("/ui/reprocessing", query_string={"tag": TAG})  # a table is required
    assert refused.status_code == 200 and "table" in refused.get_data(as_text=True).split('class="error"')[1]


def test_a_checkpoint_the_viewer_holds_is_checked_against_the_chain_now(backend: Backend, raw: RawAccess) -> None:
    signer = Signer.from_key(generate_key("pm.ui")[0])
    app = create_app(dataclasses.replace(backend.settings, signing_key=signer), history_store=backend.store)
    client = app.test_client()
    for n in range(4):
        _append(client, "held", "step", {"n": n})
    _append(client, "other", "step", {"n": 0})
    held = client.get("/api/v1/instances/held/checkpoint", query_string={"size": 3}).get_json()["note"]
    other = client.get("/api/v1/instances/other/checkpoint").get_json()["note"]
    assert 'action="/ui/instances/held/held"' in client.get("/ui/instances/held").text

    def check(note: str) -> str:
        answer = client.get("/ui/instances/held/held", query_string={"checkpoint": note})
        assert answer.status_code == 200
        return answer.text

    assert "consistent: the first 3 entries are the ones the checkpoint you hold signed" in check(held)
    assert "the first 3 entries" in check(held.replace("\n", "\r\n"))  # as a browser's textarea sends it
    assert "is of process-memory/other, not of process-memory/held" in check(other)
    forged = Signer.from_key(generate_key("pm.ui")[0]).sign(held.split("\n\n")[0] + "\n")
    assert "does not open with this service&#39;s keys: no known key signed the note" in check(forged)
    longer = client.get("/api/v1/instances/held/checkpoint").get_json()["note"]
    raw.delete_entry("held", 3)
    raw.set_summary_head("held", 2)
    assert "covers 4 entries; the chain has 3" in check(longer)
    raw.update_entry("held", 1, data_json='{"n":9}')
    assert "the chain does not hold at seq 1" in check(held)  # a row changed without its hash
    rewrite_consistently(backend.store, "held", 1, b'{"n":9}')  # the chain holds again
    assert "NOT consistent: the first 3 entries are not the ones" in check(held)
    assert client.get("/ui/instances/held/held").status_code == 400
    assert client.get("/ui/instances/held/held", query_string={"checkpoint": "x" * 20000}).status_code == 400


def test_links_lead_only_to_pages_that_exist_and_sizes_and_counts_read_as_words(client: FlaskClient, iid: str) -> None:
    for n in range(6):  # ingest at 0, 2, 4; transform at 1, 3, 5
        _append(client, iid, "ingest" if n % 2 == 0 else "transform", {"rows": n})
    _append(client, iid, "note", {"only": ["one"], "pad": "x" * 300_000})  # seq 6, the head
    # The last page of a type whose oldest entry is not seq 0 offers no older page (it would be empty).
    transforms = client.get(f"/ui/instances/{iid}", query_string={"type": "transform"}).get_data(as_text=True)
    assert transforms.count("<tr data-seq=") == 3 and 'rel="next"' not in transforms
    # Read forward from seq 0, the newest ingest (4) is not the head (6): still no newer page of that type.
    forward = client.get(f"/ui/instances/{iid}", query_string={"type": "ingest", "after": 0}).get_data(as_text=True)
    assert forward.count("<tr data-seq=") == 2 and 'rel="prev"' not in forward and 'rel="next"' in forward
    # The head's page links to no seq after it; the one before it does link to the head.
    head, before = (client.get(f"/ui/instances/{iid}/entries/{seq}").get_data(as_text=True) for seq in (6, 5))
    assert 'rel="next"' not in head and 'rel="prev"' in head
    assert f'href="/ui/instances/{iid}/entries/6">seq 6 →</a>' in before
    # Sizes in units people read; counts of keys and items in the singular when there is one.
    timeline = client.get(f"/ui/instances/{iid}").get_data(as_text=True)
    assert ">293 KiB</td>" in timeline and ">10 B</td>" in timeline  # 300,025 bytes, and {"rows":0}
    assert "Load the data (293 KiB)" in head
    small = client.get(f"/ui/instances/{iid}/entries/0").get_data(as_text=True)
    assert "{1 key}" in small and "{1 keys}" not in small
    _append(client, iid, "list", {"a": ["x"], "b": ["x", "y"]})
    lists = client.get(f"/ui/instances/{iid}/entries/7").get_data(as_text=True)
    assert "{2 keys}" in lists and "[1 item]" in lists and "[2 items]" in lists


def test_the_timeline_marks_failures_times_each_step_and_previews_the_data(client: FlaskClient, iid: str) -> None:
    steps = [  # (type, data, metadata, occurred_at, marked as a failure)
        ("extract", {"rows": 120}, {}, "2026-01-05T10:00:00.000Z", False),
        ("load.failure", {"rows": 0}, {}, "2026-01-05T10:00:04.200Z", True),
        ("load", {"status": "FAILED", "rows": 0}, {}, "2026-01-05T10:03:09.200Z", True),
        ("load", {"status": "ok", "error": None}, {}, "2026-01-05T12:13:09.200Z", False),
        ("load", {"rows": 3}, {"error": "disk full"}, None, True),
        ("terrors", {"errorless": True, "status": "errorless"}, {}, None, False),
    ]
    for entry_type, data, metadata, occurred_at, _ in steps:
        extra = {"metadata": metadata} | ({"occurred_at": occurred_at} if occurred_at else {})
        _append(client, iid, entry_type, data, **extra)
    page = client.get(f"/ui/instances/{iid}").get_data(as_text=True)
    rows = page.split("<tr data-seq=")[1:]
    marked = ['class="failed"' in row.split(">", 1)[0] for row in reversed(rows)]
    assert marked == [failed for *_, failed in steps]
    assert [row.count("tag-failed") for row in reversed(rows)] == [int(failed) for *_, failed in steps]
    # Each step's length, from the event times the client gave (the one below it on the page).
    took = [row.split('class="num step">', 1)[1].split("<", 1)[0] for row in reversed(rows)]
    assert took[1:4] == ["4.2 s", "3 min 5 s", "2 h 10 min"]
    assert "<time>2026-01-05T10:00:04.200Z</time>" in rows[-2]  # the event time, beside the recorded one
    assert '<code>{"rows":120}</code>' in html.unescape(rows[-1])  # the data's canonical JSON, one line
    # Go to a seq: its page; a seq that is not one is refused with the reason.
    went = client.get(f"/ui/instances/{iid}/goto", query_string={"seq": "2"})
    assert went.status_code == 302 and went.headers["Location"].endswith(f"/ui/instances/{iid}/entries/2")
    for bad in ("two", "-1", "9223372036854775808", ""):  # the last seq is 2**63 - 1: one past it is refused
        refused = client.get(f"/ui/instances/{iid}/goto", query_string={"seq": bad})
        assert refused.status_code == 422, bad
    last = client.get(f"/ui/instances/{iid}/goto", query_string={"seq": "9223372036854775807"})
    assert last.status_code == 302  # the page it leads to says the entry is not there
    assert client.get(last.headers["Location"]).status_code == 404
    assert "<code>seq</code>: a whole number from 0 to " in refused.get_data(as_text=True)
    assert "Oldest ⇥" not in page  # one page holds them all
    # The live timeline's rows after seq 5: the one new row, rendered as the page's, with the count.
    _append(client, iid, "error", {"message": "late"})
    fresh = client.get(f"/ui/instances/{iid}/rows", query_string={"after": 5})
    assert fresh.headers["X-Instance-Count"] == "7"
    assert fresh.get_data(as_text=True).count("<tr data-seq=") == 1 and 'data-seq="6" class="failed"' in fresh.text


def test_the_search_page_finds_entries_across_instances_and_links_into_their_timelines(client: FlaskClient) -> None:
    tag = uuid.uuid4().hex[:8]
    first, second = f"s{tag}-a", f"s{tag}-b"
    for n in range(3):
        _append(client, first, f"found-{tag}", {"n": n})
        _append(client, second, "other", {"n": n})
    _append(client, second, f"found-{tag}", {"status": "failed"})
    found = client.get("/ui/search", query_string={"type": f"found-{tag}"}).get_data(as_text=True)
    rows = found.split("<tr data-instance=")[1:]
    assert [row.split('"')[1] for row in rows] == [first] * 3 + [second]  # oldest first, only that type
    assert f'href="/ui/instances/{first}">{first}</a>' in rows[0]
    assert f'href="/ui/instances/{second}/entries/3">3</a>' in rows[3] and 'class="failed"' in rows[3]
    paged = client.get("/ui/search", query_string={"type": f"found-{tag}", "limit": 2}).get_data(as_text=True)
    assert 'rel="next"' not in paged  # the page size is the browser's own: 50
    refused = client.get("/ui/search", query_string={"since": "soon"})
    assert refused.status_code == 422 and "<code>since</code>: " in refused.get_data(as_text=True)


def test_arrays_of_records_are_tables_even_when_the_tree_waits_to_be_asked_for(client: FlaskClient, iid: str) -> None:
    dataset = [{"id": f"U{n}", "nome": f"usina {n}", "extra": {"k": n}, "pad": "x" * 120} for n in range(4000)]
    _append(client, iid, "dataset", {"entities": {"usina": dataset}, "count": 4000})  # about 700 KB
    _append(client, iid, "mixed", [{"a": 1}, {"b": None, "a": "two"}])
    _append(client, iid, "scalars", {"list": [1, 2], "empty": [], "deep": {"a": {"b": {"c": [{"x": 1}]}}}})
    page = client.get(f"/ui/instances/{iid}/entries/0").get_data(as_text=True)
    assert 'id="lazy-data"' in page  # the tree is loaded on demand, the table is there at once
    section = page.split('<section class="records" data-path="entities.usina">', 1)[1].split("</section>", 1)[0]
    assert "4000 records</small>" in section
    # The columns as the records' keys first appear, which canonical JSON sorts.
    assert "<thead><tr><th>extra</th><th>id</th><th>nome</th><th>pad</th></tr></thead>" in section
    assert section.count("<tr><td>") == 4000
    assert "<tr><td>{&#34;k&#34;:3999}</td><td>U3999</td><td>usina 3999</td>" in section  # nested: compact JSON
    assert f'id="raw-json" href="/api/v1/instances/{iid}/history/0"' in page
    assert f'download="{iid}-0.json"' in page
    mixed = client.get(f"/ui/instances/{iid}/entries/1").get_data(as_text=True)
    assert 'data-path="the data"' in mixed and "<thead><tr><th>a</th><th>b</th></tr></thead>" in mixed
    assert "<tr><td>two</td><td></td></tr>" in mixed  # a null cell is empty
    scalars = client.get(f"/ui/instances/{iid}/entries/2").get_data(as_text=True)
    assert 'class="records"' not in scalars  # numbers, nothing, and records deeper than three levels: no table


def test_a_copy_links_to_the_entry_it_was_copied_from_and_planted_provenance_links_nowhere(
    backend: Backend, raw: RawAccess, iid: str
) -> None:
    client = create_app(backend.settings, history_store=backend.store).test_client()
    for n in range(3):
        _append(client, iid, "step", {"n": n})
    copy = f"{iid}-copy"
    assert client.post(f"{API}/{iid}/clone", json={"to": copy}).status_code == 201
    cloned = client.get(f"/ui/instances/{copy}/entries/2").get_data(as_text=True)
    assert f'Cloned from <a href="/ui/instances/{iid}/entries/2">{iid} · seq 2</a>' in cloned
    forged = {"cloned_from": {"instance_id": "../../api/v1/keys", "seq": 1}, "imported_from": {"instance_id": iid}}
    refused = client.post(f"{API}/{iid}/history", json={"type": "step", "data": 3, "metadata": forged})
    assert refused.status_code == 422  # provenance is the service's to write, never a client's
    raw.update_entry(iid, 2, metadata_json=json.dumps(forged))  # so plant it behind the service's back
    page = client.get(f"/ui/instances/{iid}/entries/2")
    assert page.status_code == 200 and 'class="relation"' not in page.get_data(as_text=True)
    assert 'id="not-intact"' in page.get_data(as_text=True)


def test_the_instance_list_shows_the_most_recently_active_first_and_pages_on(client: FlaskClient) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = [f"r{tag}-{n:02d}" for n in range(52)]
    for iid in ids:  # each later than the one before (or as late, and then after it by id)
        _append(client, iid, "row", 1)
    _append(client, ids[10], "row", 2)  # the most recently active now

    def listed(page: str) -> list[str]:
        return re.findall(rf'<a href="/ui/instances/(r{tag}-\d\d)">', page)

    first = client.get("/ui/", query_string={"prefix": f"r{tag}-"}).get_data(as_text=True)
    expected = [ids[10], *reversed(ids[11:]), *reversed(ids[:10])]
    assert listed(first) == expected[:50]
    following = html.unescape(re.search(r'<a rel="next" href="([^"]+)"', first).group(1))
    second = client.get(following).get_data(as_text=True)
    assert listed(second) == expected[50:] and 'rel="next"' not in second and "First page" in second
    refused = client.get("/ui/", query_string={"after": "not a cursor"})
    assert refused.status_code == 422 and "<code>after</code>" in refused.get_data(as_text=True)


def test_the_instance_list_shows_each_status_filters_on_it_sorts_by_size_and_pages_back(client: FlaskClient) -> None:
    tag = uuid.uuid4().hex[:6]
    ok, failed, big = f"s{tag}-ok", f"s{tag}-failed", f"s{tag}-big"
    _append(client, ok, "load", {"rows": 3})
    _append(client, failed, "load", {"rows": 3})
    _append(client, failed, "load", {"status": "FAILED", "reason": "disk full"})
    for n in range(3):
        _append(client, big, "extract", n)

    def rows(page: str) -> dict[str, str]:
        """Each listed instance's status cell, as text."""
        found = re.findall(rf'<tr data-instance="(s{tag}-\w+)"[^>]*>.*?<td class="status">(.*?)</td>', page, re.S)
        return {iid: re.sub(r"<[^>]+>", "", cell).strip() for iid, cell in found}

    every = client.get("/ui/", query_string={"prefix": f"s{tag}-"}).get_data(as_text=True)
    assert rows(every) == {big: "extract", failed: "failed load", ok: "load"}
    assert list(rows(every)) == [big, failed, ok]  # the most recently active first
    assert re.search(rf'<tr data-instance="{failed}" class="failed">', every)
    offered = re.findall(r'<option value="([^"]*)"', every.split('id="head-type"')[1].split("</select>")[0])
    assert offered == ["", "extract", "load"]  # any, then the last steps these instances have
    only_failed = client.get("/ui/", query_string={"prefix": f"s{tag}-", "status": "failed"}).get_data(as_text=True)
    assert list(rows(only_failed)) == [failed]
    not_failed = client.get("/ui/", query_string={"prefix": f"s{tag}-", "status": "ok"}).get_data(as_text=True)
    assert list(rows(not_failed)) == [big, ok]
    by_type = client.get("/ui/", query_string={"prefix": f"s{tag}-", "type": "load"}).get_data(as_text=True)
    assert list(rows(by_type)) == [failed, ok] and '<option value="load" selected>' in by_type
    by_size = client.get("/ui/", query_string={"prefix": f"s{tag}-", "sort": "size"}).get_data(as_text=True)
    assert list(rows(by_size)) == [big, failed, ok] and "<strong>size</strong>" in by_size
    none = client.get("/ui/", query_string={"prefix": f"s{tag}-", "type": "extract", "status": "failed"})
    assert "No instance matches" in none.get_data(as_text=True)


def test_the_instance_list_pages_back_as_it_came(client: FlaskClient) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = [f"b{tag}-{n:03d}" for n in range(120)]
    for iid in ids:
        _append(client, iid, "row", 1)

    def listed(page: str) -> list[str]:
        return re.findall(rf'<a href="/ui/instances/(b{tag}-\d+)">', page)

    def link(page: str, rel: str) -> str | None:
        found = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
        return html.unescape(found.group(1)) if found else None

    first = client.get("/ui/", query_string={"prefix": f"b{tag}-", "sort": "id"}).get_data(as_text=True)
    assert listed(first) == ids[:50] and link(first, "prev") is None
    second = client.get(link(first, "next")).get_data(as_text=True)
    third = client.get(link(second, "next")).get_data(as_text=True)
    assert listed(third) == ids[100:] and link(third, "next") is None
    back = client.get(link(third, "prev")).get_data(as_text=True)
    assert listed(back) == ids[50:100] and link(back, "next") and link(back, "prev")
    start = client.get(link(back, "prev")).get_data(as_text=True)
    assert listed(start) == ids[:50] and link(start, "prev") is None  # no page before the first
    assert listed(client.get(link(start, "next")).get_data(as_text=True)) == ids[50:100]


def test_the_reprocessing_view_suggests_what_was_read_draws_the_lineage_and_runs_link_their_reprocesses(
    client: FlaskClient,
) -> None:
    scenario = Scenario(tag=f"tag-{uuid.uuid4().hex[:8]}")
    for iid, document in [*scenario.readers(), scenario.reprocess_of_a()]:
        assert client.post(f"/{iid}/commit", json=document).status_code == 201
    empty = client.get("/ui/reprocessing").get_data(as_text=True)
    suggested = re.findall(r'<a href="/ui/reprocessing\?tag=([^&"]+)&amp;table=([^"]+)"', empty)
    assert (scenario.tag, TABLE) in suggested and (OTHER_TAG, TABLE) in suggested  # every tag's tables
    assert f'<option value="{scenario.tag}">' in empty and f'<option value="{TABLE}">' in empty
    drawn = client.get("/ui/reprocessing", query_string={"tag": scenario.tag, "table": TABLE}).get_data(as_text=True)
    graph = drawn.split('<svg id="lineage"')[1].split("</svg>")[0]
    # Readers by id, each followed by what runs in its place: a was reprocessed, so its reprocess does; b never
    # was, so it runs again itself.
    per_reader = {
        scenario.a: [("reader", scenario.a), ("rerun", scenario.reprocess)],
        scenario.b: [("reader reruns", scenario.b)],
    }
    expected = [("source", ""), *[node for iid in sorted(per_reader) for node in per_reader[iid]]]
    assert re.findall(r'<g class="node ([a-z ]+)" data-instance="([^"]*)"', graph) == expected
    assert graph.count('<path class="edge"') == 3  # the source to a and to b; a to its reprocess
    assert f"<title>{scenario.tag} › {TABLE}</title>" in graph
    original = client.get(f"/ui/instances/{scenario.a}").get_data(as_text=True)
    assert f'class="reprocessed-by" href="/ui/instances/{scenario.reprocess}"' in original
    again = client.get(f"/ui/instances/{scenario.reprocess}").get_data(as_text=True)
    assert f'class="reprocess-of" href="/ui/instances/{scenario.a}"' in again
    assert 'id="relations"' not in client.get(f"/ui/instances/{scenario.b}").get_data(as_text=True)


def test_an_instance_and_its_entries_link_to_their_copies_and_back(client: FlaskClient, raw: RawAccess) -> None:
    source = f"src-{uuid.uuid4().hex[:8]}"
    for n in range(3):
        _append(client, source, "step", {"n": n})
    whole, part, imported = f"{source}-whole", f"{source}-part", f"{source}-imported"
    assert client.post(f"{API}/{source}/clone", json={"to": whole}).status_code == 201
    assert client.post(f"{API}/{source}/clone", json={"to": part, "upto": 1}).status_code == 201
    _append(client, part, "own", {"after": "the copy"})  # seq 2 of part is its own, no copy of source's seq 2
    exported = client.get(f"{API}/{source}/export").get_data()
    answer = client.post(f"{API}/{imported}/import", data=exported, content_type="application/x-ndjson")
    assert answer.status_code == 201, answer.get_json()

    def copies_on(page: str) -> list[tuple[str, str]]:
        return re.findall(r'<a href="/ui/instances/([^"]+)" data-kind="(\w+)">', page)

    timeline = client.get(f"/ui/instances/{source}").get_data(as_text=True)
    assert copies_on(timeline) == [(imported, "imported"), (part, "cloned"), (whole, "cloned")]  # by id
    assert 'id="copied-from"' not in timeline
    copy_page = client.get(f"/ui/instances/{part}").get_data(as_text=True)
    assert f'<span id="copied-from">Cloned from <a href="/ui/instances/{source}">{source}</a>.</span>' in copy_page
    assert "Imported from" in client.get(f"/ui/instances/{imported}").get_data(as_text=True)

    def copied_into(seq: int) -> list[str]:
        page = client.get(f"/ui/instances/{source}/entries/{seq}").get_data(as_text=True)
        return re.findall(rf'Copied \((\w+)\) into <a href="/ui/instances/([^"/]+)/entries/{seq}">', page)

    assert copied_into(1) == [("imported", imported), ("cloned", part), ("cloned", whole)]
    assert copied_into(2) == [("imported", imported), ("cloned", whole)]  # part stopped at seq 1
    # A copy whose first entry no longer holds what the original's did is no copy to show, either way.
    raw.update_entry(whole, 0, type="forged")
    assert [iid for iid, _ in copies_on(client.get(f"/ui/instances/{source}").get_data(as_text=True))] == [
        imported,
        part,
    ]
    assert 'id="copied-from"' not in client.get(f"/ui/instances/{whole}").get_data(as_text=True)


def test_the_timelines_type_filter_offers_the_types_its_entries_have(client: FlaskClient, iid: str) -> None:
    for entry_type in ["load", "extract", "load", "zeta.done", "extract", "Load"]:
        _append(client, iid, entry_type, 1)
    _append(client, f"{iid}-other", "elsewhere", 1)
    page = client.get(f"/ui/instances/{iid}").get_data(as_text=True)
    offered = re.findall(
        r'<option value="([^"]*)">', page.split('<datalist id="entry-types">')[1].split("</datalist>")[0]
    )
    assert offered == ["Load", "extract", "load", "zeta.done"]  # each once, by code point; none of another instance
