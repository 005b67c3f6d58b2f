"""API keys and scopes: the matrix of every route against every kind of caller, generated from the routes.

A route added without a line in the route table (api/access.py) fails here: it has no scope, so no key
gets in, and the first test names it.
"""

from __future__ import annotations

import base64
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from process_memory import create_app
from process_memory.anchoring.anchorer import Anchorer, AnchoringSettings
from process_memory.api.access import ROUTE_SCOPES, presented_key, required_scope
from process_memory.auth import KeysFileError, access_at_start, find_key, new_key, parse_keys
from process_memory.config import Settings
from process_memory.proofs.notes import Signer, generate_key
from process_memory.services import services
from tests.keys import PREFIX, KeySet, write_test_keys

_IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def keys(tmp_path: Path) -> KeySet:
    """The test keys."""
    return write_test_keys(tmp_path)


@pytest.fixture
def keyed_app(tmp_path: Path, keys: KeySet) -> Flask:
    """An app over SQLite that requires keys."""
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    return create_app(Settings(database_url=url, api_keys=keys.configured()))


def _routes(app: Flask) -> Iterator[tuple[Rule, str]]:
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - _IGNORED_METHODS):
            yield rule, method


def _url(rule: Rule, instance_id: str) -> str:
    """The rule's path with every argument filled: instance ids with ``instance_id`` (or a UUID where one is needed)."""
    values: dict[str, object] = {}
    for name in rule.arguments:
        converter = rule._converters[name].__class__.__name__
        if converter == "UUIDConverter":
            values[name] = uuid.uuid4()
        elif converter in ("IntegerConverter", "NumberConverter"):
            values[name] = 1
        elif name in ("instance_id", "source", "target"):
            values[name] = instance_id
        else:
            values[name] = "t"
    return rule.build(values, append_unknown=False)[1]  # type: ignore[index]


def _call(client: FlaskClient, method: str, path: str, headers: dict[str, str]) -> int:
    body = {"data": b"{}", "content_type": "application/json"} if method in ("POST", "PUT") else {}
    return client.open(path, method=method, headers=headers, **body).status_code


def test_every_route_has_a_rule_in_the_route_table(keyed_app: Flask) -> None:
    missing = [f"{method} {rule.rule} ({rule.endpoint})" for rule, method in _routes(keyed_app)]
    missing = [line for line in missing if required_scope(line.split("(")[-1].rstrip(")"), line.split()[0]) is None]
    assert missing == []
    # And no rule names a route that is gone: the table is the routes, no more.
    served = {rule.endpoint for rule, _ in _routes(keyed_app)}
    assert set(ROUTE_SCOPES) == served


#: The scope each route needs, written down by hand from docs/api.md and docs/security.md, never read from the
#: route table: a wrong line in ROUTE_SCOPES (a read route opened, an import that takes ``append``) fails here.
EXPECTED_SCOPES: dict[tuple[str, str], str] = {
    # Open: probes, the API's description and docs, verifier keys, the browser's front door and assets.
    ("GET", "/healthz"): "open",
    ("GET", "/readyz"): "open",
    ("GET", "/api/v1/openapi.json"): "open",
    ("GET", "/api/v1/docs"): "open",
    ("GET", "/api/v1/docs/assets/<path:filename>"): "open",
    ("GET", "/api/v1/keys"): "open",
    ("GET", "/"): "open",
    ("GET", "/ui/static/<path:filename>"): "open",
    # Metrics are an operator's: admin (unless PROCESS_MEMORY_METRICS_OPEN=1).
    ("GET", "/metrics"): "admin",
    # /api/v1
    ("GET", "/api/v1/instances"): "read",
    ("GET", "/api/v1/history"): "read",
    ("GET", "/api/v1/instances/<iid:instance_id>"): "read",
    ("GET", "/api/v1/instances/<iid:instance_id>/history"): "read",
    ("POST", "/api/v1/instances/<iid:instance_id>/history"): "append",
    ("POST", "/api/v1/instances/<iid:instance_id>/history/batch"): "append",
    ("GET", "/api/v1/instances/<iid:instance_id>/history/<int(max=9223372036854775807):seq>"): "read",
    ("POST", "/api/v1/instances/<iid:instance_id>/history/<int(max=9223372036854775807):seq>/redaction"): "admin",
    ("GET", "/api/v1/instances/<iid:instance_id>/head"): "read",
    ("GET", "/api/v1/instances/<iid:instance_id>/first"): "read",
    ("GET", "/api/v1/instances/<iid:instance_id>/verify"): "read",
    ("GET", "/api/v1/instances/<iid:instance_id>/export"): "read",
    ("POST", "/api/v1/instances/<iid:instance_id>/clone"): "append",
    ("POST", "/api/v1/instances/<iid:instance_id>/import"): "admin",
    ("GET", "/api/v1/instances/<iid:instance_id>/checkpoint"): "read",
    ("GET", "/api/v1/instances/<iid:instance_id>/proof/inclusion"): "read",
    ("GET", "/api/v1/instances/<iid:instance_id>/proof/consistency"): "read",
    ("GET", "/api/v1/instances/<iid:instance_id>/memory"): "read",
    ("GET", "/api/v1/instances/<iid:instance_id>/anchor"): "read",
    # The service log: its leaves name every instance, so it is read with a key (and one without a prefix).
    ("GET", "/api/v1/checkpoint"): "read",
    ("GET", "/api/v1/log/checkpoint"): "read",
    ("GET", "/api/v1/log/tile/<path:path>"): "read",
    ("GET", "/api/v1/log/proof/consistency"): "read",
    ("GET", "/api/v1/instances/<iid:instance_id>/state"): "state",
    ("PUT", "/api/v1/instances/<iid:instance_id>/state"): "state",
    ("DELETE", "/api/v1/instances/<iid:instance_id>/state"): "state",
    ("GET", "/api/v1/lineage/readers"): "read",
    ("GET", "/api/v1/lineage/events"): "read",
    ("GET", "/api/v1/lineage/items"): "read",
    # The history browser reads.
    ("GET", "/ui/"): "read",
    ("GET", "/ui/instances/<iid:instance_id>"): "read",
    ("GET", "/ui/instances/<iid:instance_id>/badge"): "read",
    ("GET", "/ui/instances/<iid:instance_id>/held"): "read",
    ("GET", "/ui/instances/<iid:instance_id>/rows"): "read",
    ("GET", "/ui/search"): "read",
    ("GET", "/ui/instances/<iid:instance_id>/goto"): "read",
    ("GET", "/ui/instances/<iid:instance_id>/entries/<int(max=9223372036854775807):seq>"): "read",
    ("GET", "/ui/reprocessing"): "read",
    # The platform's routes: writes append, everything else reads (its POST queries included).
    ("POST", "/<uuid:instance_id>"): "append",
    ("POST", "/<uuid:instance_id>/commit"): "append",
    ("POST", "/<uuid:instance_id>/create"): "append",
    ("POST", "/memory/<uuid:instance_id>"): "append",
    ("POST", "/memory/<uuid:instance_id>/commit"): "append",
    ("POST", "/<uuid:source>/<uuid:target>/clone"): "append",
    ("POST", "/clone/<uuid:source>/<uuid:target>"): "append",
    ("POST", "/reproduction/<uuid:source>/<uuid:target>"): "append",
    ("GET", "/<uuid:instance_id>/event"): "read",
    ("GET", "/<uuid:instance_id>/first"): "read",
    ("GET", "/<uuid:instance_id>/first/<int:count>"): "read",
    ("GET", "/<uuid:instance_id>/head"): "read",
    ("GET", "/<uuid:instance_id>/history"): "read",
    ("GET", "/memory/<uuid:instance_id>"): "read",
    ("GET", "/memory/<uuid:instance_id>/head"): "read",
    ("GET", "/instances"): "read",
    ("GET", "/instances/<uuid:instance_id>"): "read",
    ("GET", "/entities/<uuid:instance_id>"): "read",
    ("GET", "/event/<uuid:instance_id>"): "read",
    ("GET", "/fork/<uuid:instance_id>"): "read",
    ("GET", "/maps/<uuid:instance_id>"): "read",
    ("GET", "/payload/<uuid:instance_id>"): "read",
    ("GET", "/instance_filter/<uuid:instance_id>"): "read",
    ("GET", "/inputs/<string:type_name>/<uuid:instance_id>"): "read",
    ("POST", "/instances/reprocessable/byentities"): "read",
    ("POST", "/instances/bytags"): "read",
    ("POST", "/events/between/dates"): "read",
    ("POST", "/current/events/between/dates"): "read",
    ("POST", "/instance_filters/byinstanceids"): "read",
    ("POST", "/instance_filters/byinstanceidsandtypes"): "read",
}

#: Routes across instances that a key limited to a prefix may call, and that answer it within its prefix
#: (docs/security.md); written down by hand like the scopes. Every other route without an instance in its
#: path refuses such a key.
EXPECTED_WITHIN_PREFIX = {
    ("GET", "/api/v1/instances"),
    ("GET", "/api/v1/history"),
    ("GET", "/api/v1/lineage/readers"),
    ("GET", "/api/v1/lineage/events"),
    ("GET", "/api/v1/lineage/items"),
    # Only a size and a root: no instance is named in it.
    ("GET", "/api/v1/checkpoint"),
    ("GET", "/ui/"),
    ("GET", "/ui/search"),
    ("GET", "/ui/reprocessing"),
    ("GET", "/instances"),
    ("POST", "/instances/reprocessable/byentities"),
    ("POST", "/instances/bytags"),
    ("POST", "/events/between/dates"),
    ("POST", "/current/events/between/dates"),
    ("POST", "/instance_filters/byinstanceids"),
    ("POST", "/instance_filters/byinstanceidsandtypes"),
}


def test_the_expected_tables_name_every_route_once(keyed_app: Flask) -> None:
    served = {(method, rule.rule) for rule, method in _routes(keyed_app)}
    assert served == set(EXPECTED_SCOPES)
    assert EXPECTED_WITHIN_PREFIX <= served


def test_the_scope_matrix(keyed_app: Flask, keys: KeySet) -> None:
    client = keyed_app.test_client()
    checked = 0
    for rule, method in _routes(keyed_app):
        expected = EXPECTED_SCOPES[(method, rule.rule)]
        path = _url(rule, f"{PREFIX}{uuid.uuid4().hex[:8]}")
        other_path = _url(rule, f"other.{uuid.uuid4().hex[:8]}")
        where = f"{method} {rule.rule}"
        if expected == "open":
            assert _call(client, method, path, {}) not in (401, 403), where
            continue
        assert _call(client, method, path, {}) == 401, where
        assert _call(client, method, path, {"Authorization": "Bearer not-a-key"}) == 401, where
        for name in ("read", "append", "state", "admin"):
            status = _call(client, method, other_path, keys.bearer(name))
            assert (status == 403) == (name != expected), f"{where} with a {name} key: {status}"
        names_instances = any(arg in ("instance_id", "source", "target") for arg in rule.arguments)
        prefixed = _call(client, method, other_path, keys.bearer("prefixed"))
        if names_instances or (method, rule.rule) not in EXPECTED_WITHIN_PREFIX:
            assert prefixed == 403, f"{where} outside the prefix: {prefixed}"
        else:
            assert prefixed not in (401, 403), f"{where} answers a prefixed key within its prefix: {prefixed}"
        if names_instances and "UUIDConverter" not in {c.__class__.__name__ for c in rule._converters.values()}:
            assert _call(client, method, path, keys.bearer("prefixed")) not in (401, 403), where
        checked += 1
    assert checked >= 50  # the matrix did cover the routes


def test_errors_are_json_with_the_challenges(keyed_app: Flask, keys: KeySet) -> None:
    client = keyed_app.test_client()
    missing = client.get("/api/v1/instances")
    assert missing.status_code == 401 and missing.json["error"] == {
        "code": "unauthorized",
        "message": "a valid API key is required: Authorization: Bearer <key>, or Basic with the key as password",
        "details": None,
    }
    across = client.get("/metrics", headers=keys.bearer("prefixed"))
    assert across.json["error"]["message"] == (
        "this key is limited to an instance prefix: this route needs a key without one"
    )
    assert missing.headers.getlist("WWW-Authenticate") == [
        "Basic realm=process-memory",
        "Bearer realm=process-memory",
    ]
    forbidden = client.post("/api/v1/instances/x/import", headers=keys.bearer("read"))
    assert forbidden.status_code == 403 and forbidden.json["error"]["message"] == "this key lacks the admin scope"


def test_head_and_options_need_what_get_needs(keyed_app: Flask, keys: KeySet) -> None:
    client = keyed_app.test_client()
    for method in ("HEAD", "OPTIONS"):
        assert client.open("/api/v1/instances", method=method, headers=keys.bearer("read")).status_code == 200
        assert client.open("/api/v1/instances", method=method, headers=keys.bearer("state")).status_code == 403
        assert client.open("/api/v1/instances", method=method).status_code == 401


def test_basic_auth_carries_the_key_as_its_password(keyed_app: Flask, keys: KeySet) -> None:
    client = keyed_app.test_client()
    token = base64.b64encode(f"anyone:{keys.secrets['read']}".encode()).decode()
    assert client.get("/api/v1/instances", headers={"Authorization": f"Basic {token}"}).status_code == 200
    wrong = base64.b64encode(f"{keys.secrets['read']}:".encode()).decode()
    assert client.get("/api/v1/instances", headers={"Authorization": f"Basic {wrong}"}).status_code == 401


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("Bearer k1", "k1"),
        ("bearer   k1 ", "k1"),
        ("Bearer ", None),
        ("Basic " + base64.b64encode(b"u:p:q").decode(), "p:q"),
        ("Basic " + base64.b64encode(b"u").decode(), None),
        ("Basic " + base64.b64encode(b"u:").decode(), None),
        ("Basic !!!", None),
        ("Basic " + base64.b64encode(b"u:p").decode() + "!!", None),  # strict base64 only
        ("Basic " + base64.b64encode(b"\xff:\xfe").decode(), None),
        ("Digest k1", None),
    ],
)
def test_the_key_a_header_presents(header: str | None, expected: str | None) -> None:
    assert presented_key(header) == expected


def test_each_entry_records_the_key_that_appended_it(keyed_app: Flask, keys: KeySet) -> None:
    client = keyed_app.test_client()
    posted = client.post("/api/v1/instances/rb/history", json={"type": "t", "data": 1}, headers=keys.bearer("append"))
    assert posted.status_code == 201 and posted.json["recorded_by"] == "append"
    clone = client.post("/api/v1/instances/rb/clone", json={"to": "rb2"}, headers=keys.bearer("all"))
    assert clone.status_code == 201
    copied = client.get("/api/v1/instances/rb2/head", headers=keys.bearer("read")).json
    assert copied["recorded_by"] == "all"
    assert client.get("/api/v1/instances/rb/verify", headers=keys.bearer("read")).json["ok"] is True


def test_a_clone_target_outside_the_prefix_is_refused(keyed_app: Flask, keys: KeySet) -> None:
    client = keyed_app.test_client()
    source = f"{PREFIX}src"
    assert (
        client.post(
            f"/api/v1/instances/{source}/history", json={"type": "t", "data": 1}, headers=keys.bearer("prefixed")
        ).status_code
        == 201
    )
    refused = client.post(
        f"/api/v1/instances/{source}/clone", json={"to": "elsewhere"}, headers=keys.bearer("prefixed")
    )
    assert refused.status_code == 403 and refused.json["error"]["message"] == "this key does not cover this instance"
    assert client.get("/api/v1/instances/elsewhere", headers=keys.bearer("read")).status_code == 404


def test_metrics_need_admin_unless_opened(tmp_path: Path, keys: KeySet) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    closed = create_app(Settings(database_url=url, api_keys=keys.configured())).test_client()
    assert closed.get("/metrics").status_code == 401
    assert closed.get("/metrics", headers=keys.bearer("read")).status_code == 403
    assert closed.get("/metrics", headers=keys.bearer("admin")).status_code == 200
    opened = create_app(Settings(database_url=url, api_keys=keys.configured(), metrics_open=True)).test_client()
    assert opened.get("/metrics").status_code == 200
    assert opened.get("/healthz").status_code == 200 and opened.get("/readyz").status_code == 200


def test_without_keys_everything_is_open_and_unattributed(tmp_path: Path) -> None:
    client = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}")).test_client()
    posted = client.post("/api/v1/instances/o/history", json={"type": "t", "data": 1})
    assert posted.status_code == 201 and posted.json["recorded_by"] is None


def test_keys_are_found_by_their_digest_only() -> None:
    secret, key = new_key("ci", ["read"])
    assert secret not in key.line() and key.digest.hex() in key.line()
    assert find_key([key], secret) == key and find_key([key], secret + "x") is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("ci:read", "expected name:scopes:sha256"),
        (f"c i:read:{'a' * 64}", "name is 1-64"),
        (f"ci:write:{'a' * 64}", "scopes are"),
        (f"ci::{'a' * 64}", "scopes are"),
        ("ci:read:ABC", "64 lowercase hex"),
        (f"ci:read:{'a' * 64}:bad/prefix", "instance prefix"),
    ],
)
def test_a_bad_keys_file_line_is_named_without_its_content(line: str, problem: str) -> None:
    with pytest.raises(KeysFileError) as error:
        parse_keys(["# comment", "", line])
    assert str(error.value).startswith("line 3:") and problem in str(error.value)
    assert "a" * 64 not in str(error.value)


def test_names_and_keys_may_not_repeat() -> None:
    line = f"ci:read:{'a' * 64}"
    with pytest.raises(KeysFileError) as error:
        parse_keys([line, f"ci:read:{'b' * 64}"])
    assert str(error.value) == "two keys have the same name: each key's name must be its own"
    with pytest.raises(KeysFileError) as error:
        parse_keys([line, f"cd:read:{'a' * 64}"])
    assert str(error.value) == "two lines hold the same key"
    with pytest.raises(KeysFileError) as error:
        parse_keys([f"ci:read,write:{'a' * 64}"])
    assert str(error.value) == "line 1: scopes are a comma-separated list of read, append, state, admin"


def test_the_start_up_line_names_every_address_and_the_fix() -> None:
    binds: list[str | tuple[str, int]] = [("127.0.0.1", 8000), "/run/pm.sock"]
    assert access_at_start(False, False, 0, binds) == (
        False,
        "refusing to serve 127.0.0.1:8000, /run/pm.sock without API keys: set PROCESS_MEMORY_API_KEYS_FILE "
        "(docs/security.md), or PROCESS_MEMORY_AUTH=off to serve it open on purpose",
    )
    assert access_at_start(False, False, 0, [("127.0.0.1", 8000)]) == (
        True,
        "no API keys configured: open to every local user of 127.0.0.1:8000; requests that came through a proxy "
        "(Forwarded, X-Forwarded-*, X-Real-IP, Via) are refused (docs/security.md)",
    )
    assert access_at_start(False, True, 0, [("0.0.0.0", 80)]) == (
        True,
        "PROCESS_MEMORY_AUTH=off: open to anyone who reaches 0.0.0.0:80",
    )
    assert access_at_start(True, False, 1, ["/run/pm.sock"]) == (True, "API keys required on /run/pm.sock")


@pytest.mark.parametrize(
    ("requires_keys", "auth_off", "hops", "binds", "starts"),
    [
        (False, False, 0, [("127.0.0.1", 8000)], True),
        (False, False, 0, [("::1", 8000), ("localhost", 8001), ("[::1]", 8002)], True),
        (False, False, 0, [("example.com", 8000)], False),
        (False, False, 0, [("0.0.0.0", 8000)], False),
        (False, False, 0, ["/run/pm.sock"], False),
        (False, False, 1, [("127.0.0.1", 8000)], False),
        (False, True, 1, [("0.0.0.0", 8000)], True),
        (True, False, 1, ["/run/pm.sock"], True),
    ],
)
def test_without_keys_only_loopback_without_a_proxy_starts(
    requires_keys: bool, auth_off: bool, hops: int, binds: list[str | tuple[str, int]], starts: bool
) -> None:
    may_start, line = access_at_start(requires_keys, auth_off, hops, binds)
    assert may_start is starts
    assert ("refusing" in line) is not starts


def test_the_log_names_the_key_never_the_secret(
    keyed_app: Flask, keys: KeySet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="process_memory.request")
    client = keyed_app.test_client()
    client.get("/api/v1/instances", headers=keys.bearer("read"))
    client.get("/api/v1/instances", headers={"Authorization": f"Bearer {keys.secrets['read']}x"})
    lines = [record for record in caplog.records if record.name == "process_memory.request"]
    assert [(line.key, line.status) for line in lines] == [("read", 200), (None, 401)]  # type: ignore[attr-defined]
    assert keys.secrets["read"] not in caplog.text


def test_keys_create_prints_the_key_once_and_the_line_for_the_file(keyed_app: Flask) -> None:
    result = keyed_app.test_cli_runner().invoke(
        args=["keys", "create", "etl", "--scopes", "read,append", "--prefix", "t."]
    )
    assert result.exit_code == 0
    (key,) = parse_keys([result.stdout])
    secret = result.stderr.removeprefix("key (shown once; give it to the client): ").strip()
    assert (key.name, key.scopes, key.prefix) == ("etl", frozenset({"read", "append"}), "t.")
    assert find_key([key], secret) == key and secret not in result.stdout
    refused = keyed_app.test_cli_runner().invoke(args=["keys", "create", "etl", "--scopes", "write"])
    assert refused.exit_code == 2
    assert "Invalid value: scopes are a comma-separated list of read, append, state, admin" in refused.output
    assert "line " not in refused.output


def test_a_route_missing_from_the_table_is_open_to_no_key(keyed_app: Flask, keys: KeySet) -> None:
    keyed_app.add_url_rule("/unlisted", "unlisted", lambda: "never")
    refused = keyed_app.test_client().get("/unlisted", headers=keys.bearer("all"))
    assert refused.status_code == 403 and refused.json["error"]["message"] == "this route is not open to any key"


#: Ids a key limited to "team-a." must not reach: the prefix inside, a prefix of the prefix, other case,
#: lookalike separators, and the prefix with its dot left out.
NOT_UNDER_TEAM_A = ["x-team-a.1", "team-a", "team-", "TEAM-A.1", "Team-a.1", "team-a:1", "team_a.1", "team-a1"]


def test_a_prefixed_key_reaches_exactly_the_ids_that_start_with_its_prefix(keyed_app: Flask, keys: KeySet) -> None:
    assert PREFIX == "team-a."  # the adversarial ids below are written for this prefix
    client = keyed_app.test_client()
    team = keys.bearer("prefixed")
    for iid in NOT_UNDER_TEAM_A:
        assert client.get(f"/api/v1/instances/{iid}/head", headers=team).status_code == 403, iid
        assert (
            client.post(f"/api/v1/instances/{iid}/history", json={"type": "t", "data": 1}, headers=team).status_code
            == 403
        )
        clone = client.post("/api/v1/instances/team-a.src/clone", json={"to": iid}, headers=team)
        assert clone.status_code == 403, iid  # the body's target is checked as the path's id is
        items = client.get("/api/v1/lineage/items", query_string={"instance": iid}, headers=team)
        assert items.status_code == 403, iid
    for iid in ("team-a.1", "team-a.", "team-a.x.y", "team-a.TEAM"):
        assert (
            client.post(f"/api/v1/instances/{iid}/history", json={"type": "t", "data": 1}, headers=team).status_code
            == 201
        )


def test_the_service_log_read_with_a_key_is_kept_by_no_shared_cache(tmp_path: Path, keys: KeySet) -> None:
    signer = Signer.from_key(generate_key("process-memory")[0])
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}", api_keys=keys.configured())
    app = create_app(dataclasses.replace(settings, signing_key=signer))
    client = app.test_client()
    assert client.post("/api/v1/instances/a/history", json={"type": "t", "data": 1}, headers=keys.bearer("all"))
    Anchorer(
        services(app).history.store, AnchoringSettings(signer, "process-memory"), lambda: datetime.now(UTC)
    ).run_round()
    for path in ("/api/v1/log/checkpoint", "/api/v1/log/tile/0/000.p/1", "/api/v1/log/tile/entries/000.p/1"):
        assert client.get(path).status_code == 401
        answer = client.get(path, headers=keys.bearer("read"))
        assert (answer.status_code, answer.headers["Cache-Control"]) == (200, "private, max-age=1"), path
        assert client.get(path, headers=keys.bearer("prefixed")).status_code == 403, path
