"""``python -m process_memory.schemas``, which gunicorn's master runs before it starts the workers: its status
says whether the schemas are ready, and its one line never quotes the configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pymongo
import pytest
import sqlalchemy as sa

from tests.services import FerretDBServer, free_port


def _run(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} | env
    command = [sys.executable, "-m", "process_memory.schemas"]
    return subprocess.run(command, env=clean, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_the_sqlite_history_and_state_tables_are_made(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pm.sqlite3'}"
    done = _run({"PROCESS_MEMORY_DATABASE_URL": url, "PROCESS_MEMORY_STATE_BACKEND": "sql"}, tmp_path)
    assert done.returncode == 0, done.stderr
    tables = set(sa.inspect(sa.create_engine(url)).get_table_names())
    assert {
        "process_memory_entries",
        "process_memory_trees",
        "process_memory_instances",
        "process_memory_state",
    } <= tables


def test_the_mongodb_indexes_are_made(ferretdb: FerretDBServer, tmp_path: Path) -> None:
    env = {"DOCDB_URI": ferretdb.uri, "DOCDB_DATABASE_NAME": "schemas_test", "DOCDB_COLLECTION": "made"}
    assert _run(env, tmp_path).returncode == 0
    with pymongo.MongoClient(ferretdb.uri) as client:
        names = {index["name"] for index in client["schemas_test"]["made"].list_indexes()}
    assert {"instance_seq", "instance_entry_id"} <= names


def test_a_database_that_refuses_connections_is_status_1_without_its_url(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://operator:s3cret-password@127.0.0.1:{free_port()}/pm"
    done = _run({"PROCESS_MEMORY_DATABASE_URL": url}, tmp_path)
    assert done.returncode == 1
    assert "schemas not prepared" in done.stderr and "s3cret" not in done.stderr + done.stdout


@pytest.mark.parametrize("variable", ["PROCESS_MEMORY_ANCHOR_SECONDS", "DOCDB_MAX_DATA"])
def test_a_configuration_the_app_refuses_is_status_2(tmp_path: Path, variable: str) -> None:
    done = _run({variable: "not-a-number"}, tmp_path)
    assert done.returncode == 2 and "configuration refused" in done.stderr
