"""The history browser in real headless Chromium (Debian's ``chromium``, driven by Playwright through
``executable_path``), against a real gunicorn over SQLite with keys and signed checkpoints.

A person lists instances, opens one, pages through it, filters it, opens an entry and reads its diff, watches
a new entry arrive, sees the badge fail after a row is changed behind the service's back, and a key without
``read`` gets a 403 page. Screenshots of the list, the timeline and an entry are saved under
``.cache/artifacts/ui/``.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from process_memory.client import Client
from process_memory.proofs.notes import generate_key
from tests.keys import KeySet, write_test_keys
from tests.services import ROOT, GunicornServer, unavailable
from tests.ui_data import DATASET_RECORDS, RealisticData, load_realistic_data

ARTIFACTS = ROOT / ".cache" / "artifacts" / "ui"
#: Long enough for a page, a badge or a live entry on a loaded CI machine; Playwright polls until then.
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GunicornServer, KeySet, Path]]:
    """gunicorn over SQLite with keys and a signing key; and the database file, for tampering."""
    folder = tmp_path_factory.mktemp("ui")
    keys = write_test_keys(folder)
    (folder / "signing.key").write_text(generate_key("pm.ui")[0])
    database = folder / "history.sqlite3"
    env = {
        "PROCESS_MEMORY_DATABASE_URL": f"sqlite:///{database}",
        "PROCESS_MEMORY_API_KEYS_FILE": str(keys.path),
        "PROCESS_MEMORY_SIGNING_KEY_FILE": str(folder / "signing.key"),
    }
    server = GunicornServer(env, workers=2, cwd=folder)
    server.start()
    yield server, keys, database
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, through Playwright (whose own browser download cannot work here)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        unavailable("Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)  # its assertions poll as long as the pages' own actions may take
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def realistic(site: tuple[GunicornServer, KeySet, Path]) -> RealisticData:
    """The realistic data set (tests/ui_data.py), loaded once for the module's tests."""
    server, keys, _ = site
    return load_realistic_data(server.url, keys.secrets["all"])


def _page(browser: Any, site: tuple[GunicornServer, KeySet, Path], key_name: str) -> Any:
    server, keys, _ = site
    context = browser.new_context(
        base_url=server.url,
        http_credentials={"username": "someone", "password": keys.secrets[key_name]},
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(WAIT_MS)
    context.grant_permissions(["clipboard-read", "clipboard-write"])  # as a person's click grants them
    return context.new_page()


def _seed(site: tuple[GunicornServer, KeySet, Path]) -> tuple[str, str]:
    server, keys, _ = site
    run, other = f"run-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    with Client(server.url, keys.secrets["all"]) as client:
        client.append_many(
            run,
            (
                {
                    "type": "ingest" if n % 2 == 0 else "transform",
                    "data": {"rows": n * 10, "source": f"s3://bucket/part-{n:04d}", "columns": ["a", "b"][: 1 + n % 2]},
                    "metadata": {"step": n},
                }
                for n in range(120)
            ),
        )
        client.append_many(other, [{"type": "ingest", "data": {"rows": 1}}])
    return run, other


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_person_browses_an_instance(browser: Any, site: tuple[GunicornServer, KeySet, Path]) -> None:
    from playwright.sync_api import expect

    run, other = _seed(site)
    page = _page(browser, site, "read")
    page.goto("/")  # the front page is the browser
    expect(page.locator("#instances")).to_contain_text(run)
    expect(page.locator("#instances")).to_contain_text(other)
    page.fill("input[name=prefix]", "run-")
    page.click("form.filters button")
    expect(page.locator("#instances")).not_to_contain_text(other)
    _shot(page, "instances")
    page.click(f"text={run}")
    rows = page.locator("#timeline tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-seq", "119")  # newest first
    expect(page.locator("#badge")).to_contain_text("verified")
    _shot(page, "timeline")
    page.click("text=Older →")
    expect(rows.first).to_have_attribute("data-seq", "69")
    page.click("text=Older →")
    expect(rows.last).to_have_attribute("data-seq", "0")
    page.click("text=← Newer")
    expect(rows.first).to_have_attribute("data-seq", "69")
    page.goto(f"/ui/instances/{run}?type=transform")
    expect(rows).to_have_count(50)
    assert set(page.locator("#timeline tbody tr td:nth-child(2)").all_inner_texts()) == {"transform"}
    page.click("text=Older →")
    expect(rows).to_have_count(10)  # seqs 19 to 1: the oldest transform is seq 1, and no empty page follows it
    expect(page.locator("text=Older →")).to_have_count(0)
    page.click("text=← Newer")
    page.click("#timeline tbody tr[data-seq='117'] a")
    expect(page.locator("h1")).to_contain_text("transform")
    diff = page.locator("#diff")
    expect(diff).to_contain_text("rows")  # 1150 → 1170
    expect(diff).to_contain_text("source")
    expect(page.locator("#diff-against")).to_contain_text("seq 115")
    expect(page.locator("#data")).to_contain_text("s3://bucket/part-0117")
    _shot(page, "entry")
    page.click("#copy-data")
    expect(page.locator("#copy-data")).to_have_text("copied")
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied == {"rows": 1170, "source": "s3://bucket/part-0117", "columns": ["a", "b"]}
    page.goto(f"/ui/instances/{run}/entries/119")  # the head: no link to a seq after it, which would be a 404
    expect(page.locator("a[rel=next]")).to_have_count(0)
    expect(page.locator("a[rel=prev]")).to_have_text("← seq 118")
    page.click("a[rel=prev]")
    expect(page.locator("#data")).to_contain_text("[1 item]")  # columns: ["a"]
    page.click("header >> text=Search")  # across instances, from every page's header
    page.fill("input[name=type]", "ingest")
    page.click("form.filters button")
    results = page.locator("#results tbody tr")
    expect(results).to_have_count(50)  # 60 ingests of the run and one of the other: a first page of 50
    expect(results.first).to_have_attribute("data-instance", run)
    _shot(page, "search")
    results.first.locator("td").first.locator("a").click()
    expect(page.locator("h1")).to_have_text(run)


def test_a_new_entry_appears_live(browser: Any, site: tuple[GunicornServer, KeySet, Path]) -> None:
    from playwright.sync_api import expect

    server, keys, _ = site
    run, _ = _seed(site)
    page = _page(browser, site, "read")
    page.goto(f"/ui/instances/{run}")
    expect(page.locator("#timeline tbody tr").first).to_have_attribute("data-seq", "119")
    with Client(server.url, keys.secrets["append"]) as client:
        client.append(run, "late", {"arrived": "while watched"})
    expect(page.locator("#timeline tbody tr").first).to_have_attribute("data-seq", "120")
    expect(page.locator("#timeline tbody tr").first).to_contain_text("late")
    expect(page.locator("#timeline tbody tr").first).to_contain_text('{"arrived":"while watched"}')  # its preview
    expect(page.locator("#count")).to_have_text("121")  # the count follows
    # And so does the badge, computed again: unanchored it counts 121 entries, anchored it names the tree's size.
    expect(page.locator("#badge")).to_contain_text(re.compile(r"\b121 entries\b|\bsize 121\b"))
    with Client(server.url, keys.secrets["append"]) as client:
        client.append(run, "load.failure", {"status": "failed", "error": "disk full"})
    failed = page.locator("#timeline tbody tr").first
    expect(failed).to_have_attribute("data-seq", "121")
    expect(failed).to_have_class("failed fresh")  # rendered by the server, the failure rule with it
    expect(failed.locator(".tag-failed")).to_have_text("failed")


def test_the_badge_fails_after_a_row_is_changed(browser: Any, site: tuple[GunicornServer, KeySet, Path]) -> None:
    from playwright.sync_api import expect

    run, _ = _seed(site)
    page = _page(browser, site, "read")
    page.goto(f"/ui/instances/{run}")
    expect(page.locator("#badge")).to_contain_text("verified")
    _, _, database = site
    with sqlite3.connect(database) as conn:  # behind the service's back
        changed = conn.execute(
            "UPDATE process_memory_entries SET data_json = ? WHERE instance_id = ? AND seq = 5", ('{"rows":0}', run)
        )
        assert changed.rowcount == 1
    page.reload()
    expect(page.locator("#badge")).to_contain_text("failed")
    expect(page.locator("#badge")).to_contain_text("seq 5")
    _shot(page, "failed-badge")
    page.click("#badge >> text=see seq 5")
    expect(page.locator("h1")).to_contain_text("seq 5")
    expect(page.locator("#not-intact")).to_contain_text("does not match its own hash")


def test_a_key_without_read_sees_a_403_page(browser: Any, site: tuple[GunicornServer, KeySet, Path]) -> None:
    from playwright.sync_api import expect

    page = _page(browser, site, "state")
    answer = page.goto("/ui/")
    assert answer is not None and answer.status == 403
    expect(page.locator("h1")).to_contain_text("403")
    expect(page.locator("#error-message")).to_contain_text("lacks the read scope")
    assert "Traceback" not in page.content()


def test_pages_and_the_api_docs_work_under_the_security_headers(
    browser: Any, site: tuple[GunicornServer, KeySet, Path]
) -> None:
    """No inline script runs, nothing comes from elsewhere, no page can be framed: and every page still works."""
    from playwright.sync_api import expect

    run, _ = _seed(site)
    page = _page(browser, site, "read")
    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    for path in ("/ui/", f"/ui/instances/{run}", f"/ui/instances/{run}/entries/3", "/api/v1/docs"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, path
        headers = answer.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp, path
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY", path
        assert headers["referrer-policy"] == "same-origin", path
    expect(page.locator(".opblock").first).to_be_visible()  # the Swagger UI started, from its script file
    page.goto(f"/ui/instances/{run}")
    expect(page.locator("#badge")).to_contain_text("verified")  # the page's own script ran
    assert refused == []


def test_no_page_of_the_service_can_be_framed(browser: Any, site: tuple[GunicornServer, KeySet, Path]) -> None:
    server, _, _ = site
    page = _page(browser, site, "read")
    page.goto("/ui/")
    page.set_content(f'<iframe src="{server.url}/ui/"></iframe>')  # from the service's own origin, even
    [_, frame] = page.frames
    assert frame.url == "chrome-error://chromewebdata/"  # the browser refused to show it
    assert frame.locator("#instances").count() == 0


def test_a_dataset_of_4000_records_is_a_table_with_a_filter(
    browser: Any, site: tuple[GunicornServer, KeySet, Path], realistic: RealisticData
) -> None:
    from playwright.sync_api import expect

    page = _page(browser, site, "read")
    page.goto(f"/ui/instances/{realistic.dataset}/entries/0")
    section = page.locator("section.records[data-path='entities.usina']")
    expect(section.locator("h3")).to_contain_text(f"{DATASET_RECORDS} records")
    rows = section.locator("tbody tr")
    expect(rows).to_have_count(4000)
    section.locator(".record-filter").fill("usina 3999")
    expect(section.locator(".record-count")).to_have_text("1 of 4000 rows")
    expect(section.locator("tbody tr:not([hidden])")).to_have_text(re.compile(r"U3999\s*usina 3999"))
    _shot(page, "entry-table")
    section.locator(".record-filter").fill("bacia 7")  # every eleventh plant, from the eighth: 363 of them
    expect(section.locator(".record-count")).to_have_text("363 of 4000 rows")
    section.locator(".record-filter").fill("")
    expect(section.locator(".record-count")).to_have_text("")
    expect(section.locator("tbody tr:not([hidden])")).to_have_count(4000)


def test_the_instance_list_shows_which_runs_failed_filters_sorts_and_pages_both_ways(
    browser: Any, site: tuple[GunicornServer, KeySet, Path], realistic: RealisticData
) -> None:
    from playwright.sync_api import expect

    page = _page(browser, site, "read")
    page.goto("/ui/?prefix=etl-2026-12-")
    rows = page.locator("#instances tbody tr")
    expect(rows).to_have_count(8)
    expect(rows.first).to_have_attribute("data-instance", "etl-2026-12-08")  # the most recently active first
    failed_run = page.locator("#instances tr[data-instance='etl-2026-12-03']")
    expect(failed_run).to_have_class("failed")
    expect(failed_run.locator("td.status")).to_have_text("failed load.failure")
    expect(page.locator("#instances tr[data-instance='etl-2026-12-06'] td.status")).to_have_text("failed load")
    expect(page.locator("#instances tr[data-instance='etl-2026-12-05'] td.status")).to_have_text("done")
    _shot(page, "instances")
    page.select_option("#status", "failed")
    page.click("form.filters button")
    expect(rows).to_have_count(2)
    assert rows.evaluate_all("rows => rows.map(row => row.dataset.instance)") == ["etl-2026-12-06", "etl-2026-12-03"]
    offered = page.locator("#head-type option").all_inner_texts()
    assert offered == ["any", "done", "load", "load.failure"]  # the last steps these runs have
    page.select_option("#status", "")
    page.select_option("#head-type", "load.failure")
    page.click("form.filters button")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-instance", "etl-2026-12-03")
    page.goto("/ui/?prefix=etl-2026-12-")
    page.click("#sorts >> text=size")
    # The runs that got to done have 4 entries, the failed ones 3; ties by id, the same way (the last first).
    sizes = rows.evaluate_all("rows => rows.map(row => row.dataset.instance.slice(-2))")
    assert sizes == ["08", "07", "05", "04", "02", "01", "06", "03"]
    page.goto("/ui/?prefix=batch-&sort=id")
    expect(rows).to_have_count(50)
    expect(page.locator("a[rel=prev]")).to_have_count(0)
    page.click("text=Next page →")
    expect(rows).to_have_count(10)
    expect(rows.first).to_have_attribute("data-instance", sorted(realistic.batches)[50])
    page.click("text=← Previous page")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-instance", sorted(realistic.batches)[0])
    expect(page.locator("a[rel=prev]")).to_have_count(0)  # no page before the first


def test_an_etl_runs_timeline_marks_its_failure_and_times_each_step(
    browser: Any, site: tuple[GunicornServer, KeySet, Path], realistic: RealisticData
) -> None:
    from playwright.sync_api import expect

    page = _page(browser, site, "read")
    page.goto("/ui/instances/etl-2026-12-03")
    rows = page.locator("#timeline tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_have_class("failed")
    expect(rows.first.locator(".tag-failed")).to_have_text("failed")
    # Event times 02:00, 02:04, 02:11: each step's length, from the row below it.
    assert [row.locator("td").nth(4).inner_text() for row in rows.all()] == ["7 min 0 s", "4 min 0 s", ""]
    expect(rows.first).to_contain_text('{"error":"deadlock on tb_usina"}')
    expect(rows.first).to_contain_text("all")  # recorded by the key that appended it
    expect(page.locator("#badge")).to_contain_text("verified")
    _shot(page, "etl-timeline")
    page.fill("input[name=seq]", "1")
    page.press("input[name=seq]", "Enter")
    expect(page.locator("h1")).to_contain_text("transform")


def test_search_finds_the_failed_loads_across_runs(
    browser: Any, site: tuple[GunicornServer, KeySet, Path], realistic: RealisticData
) -> None:
    from playwright.sync_api import expect

    page = _page(browser, site, "read")
    page.goto("/ui/search")
    page.fill("input[name=type]", "load.failure")
    page.click("form.filters button")
    # The one ETL run that failed so (other tests of the module append one to their own runs as well).
    results = page.locator("#results tbody tr[data-instance^='etl-']")
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-instance", "etl-2026-12-03")
    expect(results.first).to_have_class("failed")
    assert set(page.locator("#results tbody tr td:nth-child(3)").all_inner_texts()) == {"load.failure failed"}
    _shot(page, "search")
    results.first.locator("td").first.locator("a").click()
    expect(page.locator("h1")).to_have_text("etl-2026-12-03")


def test_the_reprocessing_view_offers_what_was_read_and_draws_who_would_run_again(
    browser: Any, site: tuple[GunicornServer, KeySet, Path], realistic: RealisticData
) -> None:
    from playwright.sync_api import expect

    scenario = realistic.scenario
    page = _page(browser, site, "read")
    page.goto("/ui/reprocessing")
    page.click(f"#suggestions >> text={scenario.tag} › {realistic.table}")
    graph = page.locator("#lineage")
    expect(graph).to_be_visible()
    expect(graph.locator(".node.source")).to_have_count(1)
    expect(graph.locator(".node.reader")).to_have_count(2)  # a and b read the table
    expect(graph.locator(".node.rerun")).to_have_count(1)  # a's reprocess runs in a's place
    expect(graph.locator(f".node.reruns[data-instance='{scenario.b}']")).to_have_count(1)  # b runs itself again
    expect(page.locator("#readers tbody tr")).to_have_count(2)
    _shot(page, "lineage")
    graph.locator(f".node.rerun[data-instance='{scenario.reprocess}']").click()
    expect(page.locator("h1")).to_have_text(scenario.reprocess)
    page.click("#relations a.reprocess-of")
    expect(page.locator("h1")).to_have_text(scenario.a)
    expect(page.locator("#relations a.reprocessed-by")).to_have_text(scenario.reprocess)


def test_a_run_and_its_clone_link_to_each_other(
    browser: Any, site: tuple[GunicornServer, KeySet, Path], realistic: RealisticData
) -> None:
    from playwright.sync_api import expect

    page = _page(browser, site, "read")
    page.goto("/ui/instances/etl-2026-12-05")
    page.click(f"#copies >> text={realistic.copy}")
    expect(page.locator("h1")).to_have_text(realistic.copy)
    expect(page.locator("#copied-from")).to_have_text("Cloned from etl-2026-12-05.")
    page.click("#timeline tbody tr[data-seq='2'] a")
    expect(page.locator(".relation")).to_contain_text("Cloned from etl-2026-12-05 · seq 2")
    page.click(".relation >> a")
    expect(page.locator(".relation.copy")).to_contain_text(f"Copied (cloned) into {realistic.copy} · seq 2")


def test_the_paper_cuts_stay_mended(
    browser: Any, site: tuple[GunicornServer, KeySet, Path], realistic: RealisticData
) -> None:
    from playwright.sync_api import expect

    page = _page(browser, site, "read")
    answer = page.goto("/ui/instances/etl-2026-12-01?since=yesterday")
    assert answer is not None and answer.status == 422
    expect(page.locator("#error-details")).to_contain_text("since")  # which field, as the API says it
    page.goto("/ui/instances/etl-2026-12-01")
    expect(page.locator("#timeline tbody tr[data-seq='0'] td.num").last).to_have_text("40 B")  # not a raw 40
    page.click("text=Download and check offline")
    expect(page.locator(".downloads")).to_contain_text(
        "make verifier"
    )  # how to get pm-verify, which make install lacks
    page.goto(f"/ui/instances/{realistic.dataset}/entries/0")
    expect(page.locator("h2 small").first).to_have_text("710 KiB")  # the dataset's 726,857 bytes, for people
