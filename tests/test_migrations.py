"""A database made by the release before Alembic (tests/fixtures/release_1_0, from main at f144c44) is brought up
to date at start-up: every table and index reaches it, its histories still verify, read and grow."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask.testing import FlaskClient

from process_memory import create_app
from process_memory.config import Settings
from process_memory.history.sql import SQLHistoryStore
from process_memory.memory import memory_index_of
from process_memory.migrations import upgrade
from process_memory.services import services
from process_memory.stores.sql import SQLStore
from tests.services import PostgresServer

FIXTURES = Path(__file__).parent / "fixtures" / "release_1_0"
RUN = "6a1f2f0e-31c4-4d7c-9a55-6f1f6c1f0d10"
MEMORY = "0b0e5f3e-6a41-4d7c-9a55-6f1f6c1f0d11"
#: The indexes release 1.0 has, by table (their names, as the schema declares them).
INDEXES = {
    "process_memory_entries": {
        "process_memory_entries_instance_type_seq",
        "process_memory_entries_instance_recorded_at",
        "process_memory_entries_data_blob",
        "process_memory_entries_type_recorded_at",
        "process_memory_entries_recorded_at",
    },
    "process_memory_blobs": {"ix_process_memory_blobs_created_at"},
    "process_memory_memory_views": {
        "process_memory_memory_views_process_date",
        "process_memory_memory_views_original_time",
    },
    "process_memory_memory_reads": {"process_memory_memory_reads_entity", "process_memory_memory_reads_instance"},
    "process_memory_memory_read_tables": {
        "process_memory_memory_read_tables_tag",
        "process_memory_memory_read_tables_instance",
    },
    "process_memory_memory_items": {"process_memory_memory_items_type"},
    "process_memory_state": {"process_memory_state_expires_at"},
    # Added since: the anchoring round's (h0002); the instance list's by last step and by failure (h0003).
    "process_memory_instances": {
        "process_memory_instances_last_recorded_at",
        "process_memory_instances_head_type",
        "process_memory_instances_failed",
    },
}
#: Indexes a release before 1.0 lacked (the search's; the sweep's): the upgrade must add them to its tables.
ADDED_LATER = [
    ("process_memory_entries", "process_memory_entries_type_recorded_at"),
    ("process_memory_state", "process_memory_state_expires_at"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a copy of the release's database, on its engine."""
    if request.param == "sqlite":
        shutil.copy(FIXTURES / "history.sqlite3", tmp_path / "history.sqlite3")
        yield f"sqlite:///{tmp_path / 'history.sqlite3'}"
        return
    postgres: PostgresServer = request.getfixturevalue("postgres")
    name = f"upgrade_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    psql = [str(postgres.bindir / "psql"), "-v", "ON_ERROR_STOP=1", "-q", "-h", "127.0.0.1", "-p", str(postgres.port)]
    dump = (FIXTURES / "history.postgresql.sql").read_bytes()
    subprocess.run([*psql, "-U", "postgres", "-d", name], input=dump, check=True, capture_output=True)
    yield postgres.url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def _indexes(engine: sa.Engine) -> dict[str, set[str]]:
    inspector = sa.inspect(engine)
    return {table: {index["name"] for index in inspector.get_indexes(table)} for table in INDEXES}


def test_a_database_of_the_release_before_alembic_is_brought_up_to_date(old_database: str) -> None:
    engine = sa.create_engine(old_database)
    with engine.begin() as conn:  # as a release before the indexes had them
        for _, index in ADDED_LATER:
            conn.execute(sa.text(f"DROP INDEX {index}"))
    assert not any(index in _indexes(engine)[table] for table, index in ADDED_LATER)
    assert not {"process_memory_schema_version", "process_memory_state_schema_version"} & set(
        sa.inspect(engine).get_table_names()
    )

    settings = Settings(database_url=old_database, max_inline_data=4096, state_backend="sql")
    app = create_app(dataclasses.replace(settings, state_sql_url=old_database))
    for command in (["history", "init"], ["state", "init"]):
        assert app.test_cli_runner().invoke(args=command).exit_code == 0
    client: FlaskClient = app.test_client()

    with engine.connect() as conn:
        versions = set(conn.execute(sa.text("SELECT version_num FROM process_memory_schema_version")).scalars())
        state = set(conn.execute(sa.text("SELECT version_num FROM process_memory_state_schema_version")).scalars())
    assert versions == {"h0003", "m0002"} and state == {"s0001"}
    found = _indexes(engine)
    assert all(INDEXES[table] <= found[table] for table in INDEXES), found
    # What the release stored still verifies, reads (offloaded and redacted data included) and grows.
    assert client.get(f"/api/v1/instances/{RUN}/verify").get_json() == {"ok": True, "checked": 8, "first_bad_seq": None}
    assert len(client.get(f"/api/v1/instances/{RUN}/history/6").get_json()["data"]["rows"]) == 200
    assert client.get(f"/api/v1/instances/{RUN}/history/2").get_json()["data"] is None
    before = client.get(f"/api/v1/instances/{RUN}").get_json()
    assert (before["head_type"], before["head_failed"]) == (None, None)  # not known until the next append
    appended = client.post(f"/api/v1/instances/{RUN}/history", json={"type": "row", "data": {"n": 6}})
    assert appended.status_code == 201 and appended.get_json()["seq"] == 8
    after = client.get(f"/api/v1/instances/{RUN}").get_json()
    assert (after["head_type"], after["head_failed"]) == ("row", False)
    failed = client.get("/api/v1/instances", query_string={"failed": "false", "sort": "recent"}).get_json()
    assert [item["instance_id"] for item in failed["items"]] == [RUN]  # the one whose status is known
    assert client.get(f"/{MEMORY}/head").get_json()["event"]["name"] == "load"
    readers = client.post("/instances/bytags", json={"tables_grouped_by_tags": {"img": ["tb_usina"]}})
    assert MEMORY in str(readers.get_json())
    assert services(app).state_root.with_namespace("jobs").get("job-7") == b"step=3"
    engine.dispose()


def test_starting_again_changes_nothing(old_database: str) -> None:
    for _ in range(2):
        app = create_app(Settings(database_url=old_database, max_inline_data=4096))
        assert app.test_cli_runner().invoke(args=["history", "init"]).exit_code == 0
    engine = sa.create_engine(old_database)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM process_memory_schema_version")).scalar() == 2
    engine.dispose()


_PROBE_REVISION = """
from alembic import context

revision = "p0001"
down_revision = None
branch_labels = ("probe",)
depends_on = None


def upgrade() -> None:
    context.config.attributes["probe"](context.config.attributes["name"])
"""


def test_two_threads_migrating_take_turns(tmp_path: Path) -> None:
    """Alembic's ``context`` is a module global while a migration runs: the history's and the state's databases
    migrated at once by two threads took it from each other (KeyError 'config' in CI)."""
    (tmp_path / "revisions").mkdir()
    (tmp_path / "revisions" / "p0001_probe.py").write_text(_PROBE_REVISION)
    inside, second_inside = threading.Event(), threading.Event()
    seen: list[str] = []

    def probe(name: str) -> None:
        seen.append(f"{name} in")
        if name == "first":
            inside.set()
            second_inside.wait(0.5)  # the second thread starts meanwhile; it must wait its turn
        else:
            second_inside.set()
        seen.append(f"{name} out")

    def migrate(name: str) -> None:
        engine = sa.create_engine(f"sqlite:///{tmp_path / name}.sqlite3")
        upgrade(engine, "versions", [tmp_path / "revisions"], probe=probe, name=name)
        engine.dispose()

    failures: list[BaseException] = []
    first = threading.Thread(target=lambda: _collect(failures, migrate, "first"))
    first.start()
    assert inside.wait(10)
    _collect(failures, migrate, "second")
    first.join(10)
    assert failures == [] and seen == ["first in", "first out", "second in", "second out"]


def _collect(failures: list[BaseException], call: Callable[[str], None], name: str) -> None:
    try:
        call(name)
    except BaseException as failure:  # noqa: BLE001 — the test reports it
        failures.append(failure)


def _drift(engine: sa.Engine, metadata: sa.MetaData) -> list[Any]:
    """What Alembic's autogenerate would change to make the database hold ``metadata``'s tables as declared."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: kind != "table" or name in metadata.tables,
            },
        )
        return list(compare_metadata(context, metadata))


def _assert_declared_as_made(url: str) -> None:
    history = SQLHistoryStore(url)
    memory_index_of(history)
    state = SQLStore(url, "process_memory_state")
    history.ensure_schema()
    state.ensure_schema()
    engine = sa.create_engine(url)
    assert _drift(engine, history.metadata) == [] and _drift(engine, state.table.metadata) == []
    # The comparison sees what it must: a declared column the database lacks is drift.
    state.table.append_column(sa.Column("added_later", sa.String(8), nullable=False))
    assert [change[0] for change in _drift(engine, state.table.metadata)] == ["add_column"]
    engine.dispose()


def test_the_tables_the_code_declares_are_the_tables_the_revisions_make(tmp_path: Path) -> None:
    """The statements are built from the declared tables, the database from the frozen revisions: a column, a
    type, a nullability or an index changed in one and not the other is a revision forgotten."""
    _assert_declared_as_made(f"sqlite:///{tmp_path / 'new.sqlite3'}")


def test_the_tables_of_an_upgraded_database_are_the_tables_the_code_declares(old_database: str) -> None:
    _assert_declared_as_made(old_database)
