"""Large bodies (api/parser.py ``load_large_body``): the same answers as the usual parser, without a parsed tree.

A body over LARGE_BODY_BYTES keeps its entry's data as canonical text. These
tests hold it to the usual parser: for any body, both give the same envelope
and the same canonical data, or the same refusal with the same message. Then
the route itself, the memory-document rule that must look inside such data,
and glibc's large-buffer setting the gunicorn worker makes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import example, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException

from process_memory.api import parser
from process_memory.api.parser import LARGE_BODY_BYTES, MAX_JSON_DEPTH, load_json_body, load_large_body
from process_memory.chain import CanonicalJSON, canonical_json, sha256_hex
from process_memory.exceptions import ServiceError
from tests.memories import TAG, memory, read_by_query

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=24,
)
#: What a mutation may put into a body: JSON's own punctuation, escapes, digits and white space.
significant = st.sampled_from(list('{}[],:"\\ \n0123456789-+.eEntfu') + ["\\ud800", "NaN", "1e-400", '"data":'])


def _outcome(parse: Any, raw: bytes) -> tuple[Any, ...]:
    """What a parser makes of ``raw``: the body with its data as canonical bytes, or the refusal's words."""
    try:
        body = parse(raw)
    except HTTPException as refused:
        return ("400", refused.code, refused.description)
    except ServiceError as refused:
        return ("422", refused.message, refused.details)
    if isinstance(body, dict) and "data" in body:
        data = body.pop("data")
        return ("ok", body, data.text if isinstance(data, CanonicalJSON) else canonical_json(data))
    return ("ok", body)


def _usual(raw: bytes) -> tuple[Any, ...]:
    return _outcome(load_json_body, raw)


def _large(raw: bytes) -> tuple[Any, ...]:
    return _outcome(lambda body: load_large_body(body, "data"), raw)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """An entry body, in any layout, often with one mutation that may break it in any way."""
    body: dict[str, Any] = {"type": draw(st.text(min_size=1, max_size=8)), "data": draw(json_values)}
    body.update(draw(st.dictionaries(st.sampled_from(["metadata", "id", "x"]), json_values, max_size=2)))
    text = json.dumps(
        body,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 0, 2])),
        separators=draw(st.sampled_from([None, (",", ":"), (" , ", " : ")])),
    )
    text = draw(st.sampled_from(["", " ", "\n\t"])) + text + draw(st.sampled_from(["", " ", "\r\n"]))
    mutation = draw(st.sampled_from(["none", "insert", "delete", "cut"]))
    at = draw(st.integers(min_value=0, max_value=len(text)))
    if mutation == "insert":
        text = text[:at] + draw(significant) + text[at:]
    elif mutation == "delete":
        text = text[:at] + text[at + 1 :]
    elif mutation == "cut":
        text = text[:at]
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=600, deadline=None)
@given(bodies())
@example(b'{"data":{"b":1,"a":[1,2.5,{"z":null}]},"data":2}')
@example(b'{"data":{"a":1,"a":2},"type":"t"} x')
@example(b'{"data":{"a":1,"a":2},"type":"t"}')
@example(b'{"data":"\\udc00","type":"t"')
@example(b'{"type":"\\udc00","data":1}')
@example(b'{"data":[1e-400],"type":"t"}')
@example(b'{"data":[' + b"9" * 4301 + b'],"type":"t"}')
@example(b'{"data":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b',"type":"t"}')
@example(b'{"data":' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b',"type":"t"}')
@example(b'{"data":' + b'{"a":' * 990 + b"1" + b"}" * 990 + b"}")
@example(b'{"data":' + b"[" * 5000 + b"]" * 5000 + b"}")
@example(b'{"metadata":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b',"data":1}')
@example(b'{"data":[NaN]}')
@example(b'{"data":1,}')
@example(b"[1]")
@example(b"\xef\xbb\xbf{}")
@example(b'{"data":"\xff"}')
@example(b'{"data":{"\\u00e9":1,"z":2,"\\ud83d\\ude00":3,"e":4,"":5}}')
@example(b'{"data":[-0.0,1e-07,1e21,-0,12345678901234567890123]}')
def test_a_large_body_is_parsed_as_any_body_is(raw: bytes) -> None:
    assert _large(raw) == _usual(raw)


def _large_entry(rows: int) -> dict[str, Any]:
    """An entry whose body is over LARGE_BODY_BYTES: a dataset of records with numbers, text and keys to sort."""
    records = [
        {"nome": f"Usina ç{n}", "id": f"U{n:07d}", "potencia": n * 1.5, "ativa": n % 3 == 0} for n in range(rows)
    ]
    return {"type": "dataset", "data": {"entities": {"usina": records}, "aux": [1, None, "x"]}, "metadata": {"k": 1}}


@pytest.fixture
def large_parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The lengths of the bodies the route parsed the large way, in order."""
    seen: list[int] = []
    parse = parser._load_large_text

    def counted(text: str, canonical_field: str) -> Any:
        seen.append(len(text))
        return parse(text, canonical_field)

    monkeypatch.setattr(parser, "_load_large_text", counted)
    return seen


def test_a_large_entry_is_stored_and_shown_as_any_entry_is(
    client: FlaskClient, iid: str, large_parses: list[int]
) -> None:
    entry = _large_entry(14_000)
    body = json.dumps(entry).encode()
    assert len(body) > LARGE_BODY_BYTES
    posted = client.post(f"/api/v1/instances/{iid}/history", data=body, content_type="application/json")
    assert posted.status_code == 201
    assert large_parses == [len(body)]  # the route took the large way, and only for this body
    shown = posted.get_json()
    assert shown["data"] == entry["data"] and shown["metadata"] == {"k": 1}
    assert shown["size"] == len(canonical_json(entry["data"]))
    assert shown["data_sha256"] == sha256_hex(canonical_json(entry["data"]))
    assert client.get(f"/api/v1/instances/{iid}/history/0").get_json() == shown
    assert client.get(f"/api/v1/instances/{iid}/verify").get_json()["ok"] is True
    again = client.post(f"/api/v1/instances/{iid}/history", data=body, content_type="application/json")
    assert again.status_code == 201  # no id: a second entry, chained after the first
    assert again.get_json()["prev_hash"] == shown["hash"]


def test_a_large_entry_with_an_id_is_a_safe_retry_and_other_data_a_conflict(client: FlaskClient, iid: str) -> None:
    entry = {**_large_entry(14_000), "id": str(uuid.uuid4())}
    url = f"/api/v1/instances/{iid}/history"
    first = client.post(url, data=json.dumps(entry), content_type="application/json")
    retry = client.post(url, data=json.dumps(entry, indent=1), content_type="application/json")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.get_json() == first.get_json()
    other = {**entry, "data": {**entry["data"], "aux": [2]}}
    assert client.post(url, data=json.dumps(other), content_type="application/json").status_code == 409


def test_a_refused_large_body_stores_nothing(client: FlaskClient, iid: str) -> None:
    url = f"/api/v1/instances/{iid}/history"
    client.post(url, json={"type": "first", "data": 1})
    text = json.dumps(_large_entry(14_000))
    refusals = {
        text.replace('"aux": [1,', '"aux": [1e-400,'): 422,
        text.replace('"aux": [1,', '"aux": [1, "\\udc00",'): 422,
        text.replace('"ativa": false}', '"ativa": false, "ativa": true}', 1): 422,
        text[:-2]: 400,
        text.replace('"type": "dataset"', '"type": ""'): 422,
        text.replace('"metadata"', '"unknown"'): 422,
    }
    for body, status in refusals.items():
        answer = client.post(url, data=body, content_type="application/json")
        assert (answer.status_code, answer.get_json()["error"]["code"] != "internal_error") == (status, True)
    assert client.get(f"/api/v1/instances/{iid}").get_json()["count"] == 1


def test_a_large_memory_document_is_read_for_its_lineage(client: FlaskClient, iid: str) -> None:
    document = memory(iid)
    entity = f"U-{uuid.uuid4()}"
    document["dataset"]["entities"]["usina"] = [read_by_query(f"{entity}-{n}") for n in range(6_000)]
    entry = {"type": "calcular.taxa.request", "data": document, "metadata": {"memory_document": 1}}
    body = json.dumps(entry)
    assert len(body) > LARGE_BODY_BYTES
    posted = client.post(f"/api/v1/instances/{iid}/history", data=body, content_type="application/json")
    assert posted.status_code == 201
    query = {"tag": TAG, "table": "tb_usina", "entity": f"{entity}-5999"}
    readers = client.get("/api/v1/lineage/readers", query_string=query).get_json()
    assert iid in [item["instance_id"] for item in readers["items"]]


_FREED_ONCE_LARGE = """
import sys
from pathlib import Path
from process_memory.serving import return_large_buffers_at_once
if sys.argv[1] == "fixed":
    assert return_large_buffers_at_once()
def resident() -> int:
    return int(next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS")).split()[1])
first = bytearray(20_000_000)  # freed: glibc would now keep blocks of up to 20 MB in its heap
del first
before = resident()
second = bytearray(10_000_000)
second[::4096] = b"x" * len(second[::4096])  # touched, so resident
del second
print(resident() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and /proc are Linux's")
def test_the_worker_returns_a_large_buffer_to_the_system_when_it_is_freed() -> None:
    def kept_kib(mode: str) -> int:
        run = subprocess.run([sys.executable, "-c", _FREED_ONCE_LARGE, mode], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return int(run.stdout)

    assert kept_kib("default") > 8_000  # what the setting is for: glibc's own choice keeps it
    assert kept_kib("fixed") < 2_000
