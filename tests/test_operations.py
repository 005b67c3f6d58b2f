"""Operational endpoints and tooling: liveness, readiness, proxy trust, request logs, the nginx renderer."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from process_memory import create_app
from process_memory.config import Settings
from process_memory.deploy import main as render_main
from process_memory.deploy import render_nginx_config
from tests.services import free_port


def test_liveness_needs_no_database_and_readiness_does() -> None:
    unreachable = f"postgresql+psycopg://pm:pw@127.0.0.1:{free_port()}/db"
    client = create_app(Settings(database_url=unreachable, database_timeout_ms=1000)).test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"
    assert ready.get_json() == {
        "status": "unavailable",
        "checks": {"history": "unavailable", "state": "ok"},
        "anchoring": {"status": "off"},  # no signing key
    }


def test_readiness_when_the_stores_answer(tmp_path: Path) -> None:
    client = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}")).test_client()
    assert client.get("/readyz").get_json() == {
        "status": "ready",
        "checks": {"history": "ok", "state": "ok"},
        "anchoring": {"status": "off"},
    }


def _request_log(caplog: pytest.LogCaptureFixture) -> dict[str, object]:
    [record] = [r for r in caplog.records if r.name == "process_memory.request"]
    return vars(record)


@pytest.mark.parametrize(("hops", "remote"), [(1, "203.0.113.9"), (0, "127.0.0.1")])
def test_exactly_the_configured_proxy_hops_are_believed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, hops: int, remote: str
) -> None:
    client = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}", proxy_hops=hops)).test_client()
    caplog.set_level(logging.INFO, logger="process_memory.request")
    # A spoofed first address and the one nginx appended: only the proxy's own hop is believed.
    client.get("/api/v1/instances", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
    assert _request_log(caplog)["remote"] == remote


def test_request_ids_are_kept_or_made(tmp_path: Path) -> None:
    client = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}")).test_client()
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": 'bad id" with quotes'}).headers["X-Request-ID"]
    assert len(made) == 32 and made.isalnum()


def test_the_request_log_names_the_outcome(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}")).test_client()
    caplog.set_level(logging.INFO, logger="process_memory.request")
    client.get("/api/v1/instances/abc/head")
    line = _request_log(caplog)
    assert (line["status"], line["outcome"], line["instance_id"]) == (404, "not_found", "abc")


def test_the_nginx_site_is_rendered_for_a_socket_port_and_limit() -> None:
    site = render_nginx_config("443", "unix:/run/process-memory/gunicorn.sock", 1234567, "memory.example.org")
    assert "listen 443;" in site and "server unix:/run/process-memory/gunicorn.sock;" in site
    assert "client_max_body_size 1234567;" in site and "larger than 1234567 bytes" in site
    assert "server_name memory.example.org;" in site and "{{" not in site
    for line in site.splitlines():
        if line.strip().startswith("return 4") or line.strip().startswith("return 5"):
            body = line.split("'")[1]
            assert set(json.loads(body)["error"]) == {"code", "message", "details"}


def test_the_nginx_site_lists_every_app_host_in_its_upstream() -> None:
    site = render_nginx_config("80", ["10.0.1.11:8000", "10.0.1.12:8000"], 10)
    upstream = site[site.index("upstream process_memory {") :].splitlines()[:3]
    assert upstream == ["upstream process_memory {", "    server 10.0.1.11:8000;", "    server 10.0.1.12:8000;"]
    assert render_main(["--upstream", "10.0.1.11:8000", "10.0.1.12:8000; include /etc/passwd"]) == 2
    with pytest.raises(ValueError, match="no app host"):
        render_nginx_config("80", [], 10)


@pytest.mark.parametrize("listen", ["80; include /etc/passwd", "80\n", "80 ssl"])
def test_the_renderer_refuses_values_that_would_inject_directives(listen: str) -> None:
    with pytest.raises(ValueError):
        render_nginx_config(listen, "127.0.0.1:8000", 10)
    assert render_main(["--listen", listen]) == 2


def test_the_renderer_refuses_unknown_placeholders() -> None:
    with pytest.raises(ValueError, match="unknown placeholders: port"):
        render_nginx_config("80", "127.0.0.1:8000", 10, template="listen {{port}};")


def test_made_up_methods_are_counted_as_other_and_grow_nothing(tmp_path: Path) -> None:
    client = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}")).test_client()

    def send(methods: range) -> str:
        for n in methods:
            client.open("/api/v1/instances", method=f"BREW{n}")
            client.open(f"/nowhere/{n}", method=f"X-{n}")
        return client.get("/metrics").get_data(as_text=True)

    client.get("/metrics")  # its own series exist before the first count
    first = send(range(0, 50))
    later = send(range(50, 1550))
    assert not re.search(r'method="(BREW|X-)', later)
    assert re.search(r'process_memory_http_requests_total\{method="other",route="unmatched",status="405"\}', later)
    assert len(later) - len(first) < 200  # 1,500 more made-up methods: the same series, larger counts


def test_json_answers_are_not_sniffed_and_pages_get_the_page_policy(tmp_path: Path) -> None:
    client = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}")).test_client()
    for path in ("/healthz", "/api/v1/instances", "/api/v1/instances/missing/head"):
        answer = client.get(path)
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
        assert "Content-Security-Policy" not in answer.headers and "X-Frame-Options" not in answer.headers, path
    for path in ("/ui/", "/ui/instances/missing", "/ui/nowhere", "/api/v1/docs"):
        page = client.get(path)
        assert page.mimetype == "text/html", path
        assert page.headers["X-Content-Type-Options"] == "nosniff", path
        assert "script-src 'self'" in page.headers["Content-Security-Policy"], path
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"], path
        assert (page.headers["X-Frame-Options"], page.headers["Referrer-Policy"]) == ("DENY", "same-origin"), path
