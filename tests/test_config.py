"""Settings: read once from the environment over .env, validated, never echoing secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from process_memory.config import ConfigError, Settings

SECRET = "p@ss:w/rd?#%"


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"DOCDB_HOST": "db.example"}, dotenv_path=str(tmp_path / "missing"))
    assert settings.docdb_uri == "mongodb://db.example:27017"
    assert (settings.docdb_database_name, settings.docdb_collection) == ("platform", "process_memory")
    assert (settings.docdb_max_data, settings.max_request_bytes) == (16_000_000, 64 * 1024 * 1024)


def test_uri_from_parts_escapes_credentials() -> None:
    settings = Settings.from_env(
        {"DOCDB_HOST": "docdb.cluster", "DOCDB_PORT": "27018", "DOCDB_USER": "app user",
         "DOCDB_SECRET": SECRET, "DOCDB_OPTIONS": "/?tls=true&replicaSet=rs0&retryWrites=false"},
        dotenv_path=None,
    )
    assert settings.docdb_uri == (
        "mongodb://app+user:p%40ss%3Aw%2Frd%3F%23%25@docdb.cluster:27018/?tls=true&replicaSet=rs0&retryWrites=false"
    )
    assert SECRET not in repr(settings) and "p%40ss" not in repr(settings)


def test_a_whole_uri_wins_over_parts() -> None:
    settings = Settings.from_env({"DOCDB_URI": "mongodb+srv://cluster.example/", "DOCDB_HOST": "ignored"},
                                 dotenv_path=None)
    assert settings.docdb_uri == "mongodb+srv://cluster.example/"


def test_dotenv_is_read_and_the_real_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("DOCDB_HOST=from-file\nDOCDB_COLLECTION=from_file\nDOCDB_MAX_DATA=1000\n")
    settings = Settings.from_env({"DOCDB_COLLECTION": "from_env"}, dotenv_path=str(dotenv))
    assert settings.docdb_uri == "mongodb://from-file:27017"
    assert settings.docdb_collection == "from_env"
    assert settings.docdb_max_data == 1000


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"DOCDB_MAX_DATA": "lots"}, "DOCDB_MAX_DATA"),
        ({"DOCDB_MAX_DATA": "16000001"}, "DOCDB_MAX_DATA"),
        ({"DOCDB_MAX_DATA": "0"}, "DOCDB_MAX_DATA"),
        ({"PROCESS_MEMORY_MAX_REQUEST_BYTES": "64MB"}, "PROCESS_MEMORY_MAX_REQUEST_BYTES"),
        ({"DOCDB_HOST": "h", "DOCDB_PORT": "http"}, "DOCDB_PORT"),
        ({"DOCDB_URI": f"postgres://u:{SECRET}@h/db"}, "DOCDB_URI"),
        ({"DOCDB_URI": f"mongodb://u:{SECRET}@h:notaport/"}, "DOCDB_URI"),
        ({"DOCDB_HOST": "h", "DOCDB_USER": "u", "DOCDB_SECRET": SECRET, "DOCDB_OPTIONS": "/?tls=maybe"},
         "DOCDB_OPTIONS"),
        ({"DOCDB_COLLECTION": "bad$name"}, "DOCDB_COLLECTION"),
    ],
)
def test_bad_values_name_the_variable_and_hide_the_secret(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(environ, dotenv_path=None)
    message = str(error.value)
    assert variable in message and "\n" not in message
    assert "w/rd" not in message and "p%40ss" not in message


def test_start_up_with_a_bad_value_stops_with_one_line(project_root: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=project_root,
        env={"PATH": "/usr/bin:/bin", "DOCDB_URI": f"mongodb://user:{SECRET}@h:99999999/"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DOCDB_URI" in lines[0]
    assert "w/rd" not in result.stderr + result.stdout


def test_state_defaults_to_files_under_var(tmp_path: Path) -> None:
    settings = Settings.from_env({}, dotenv_path=None)
    assert settings.state_backend == "file"
    assert settings.state_file_dir == str((Path("var") / "state").resolve())
    assert (settings.state_ttl, settings.state_max_bytes) == (None, 1024 * 1024)


def test_sql_state_defaults_to_the_history_database() -> None:
    settings = Settings.from_env({"PROCESS_MEMORY_STATE_BACKEND": "sql",
                                  "PROCESS_MEMORY_DATABASE_URL": "sqlite:////srv/h.sqlite3"}, dotenv_path=None)
    assert settings.state_sql_url == "sqlite:////srv/h.sqlite3"
    own = Settings.from_env({"PROCESS_MEMORY_STATE_BACKEND": "sql", "DOCDB_HOST": "db",
                             "PROCESS_MEMORY_STATE_SQL_URL": "postgresql+psycopg://u:p@h/db",
                             "PROCESS_MEMORY_STATE_SQL_TABLE": "my_state", "PROCESS_MEMORY_STATE_TTL": "3600"},
                            dotenv_path=None)
    assert (own.state_sql_url, own.state_sql_table, own.state_ttl) == ("postgresql+psycopg://u:p@h/db", "my_state", 3600)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"PROCESS_MEMORY_STATE_BACKEND": "etcd"}, "PROCESS_MEMORY_STATE_BACKEND"),
        ({"PROCESS_MEMORY_STATE_BACKEND": "redis"}, "PROCESS_MEMORY_STATE_REDIS_URL"),
        ({"PROCESS_MEMORY_STATE_REDIS_URL": f"http://:{SECRET}@h"}, "PROCESS_MEMORY_STATE_REDIS_URL"),
        ({"PROCESS_MEMORY_STATE_BACKEND": "sql", "DOCDB_HOST": "h"}, "PROCESS_MEMORY_STATE_SQL_URL"),
        ({"PROCESS_MEMORY_STATE_SQL_URL": f"mysql://u:{SECRET}@h/db"}, "PROCESS_MEMORY_STATE_SQL_URL"),
        ({"PROCESS_MEMORY_STATE_SQL_TABLE": "state; DROP TABLE x"}, "PROCESS_MEMORY_STATE_SQL_TABLE"),
        ({"PROCESS_MEMORY_STATE_TTL": "-5"}, "PROCESS_MEMORY_STATE_TTL"),
        ({"PROCESS_MEMORY_STATE_MAX_BYTES": "1MB"}, "PROCESS_MEMORY_STATE_MAX_BYTES"),
        ({"PROCESS_MEMORY_DATABASE_URL": "sqlite://"}, "PROCESS_MEMORY_DATABASE_URL"),
    ],
)
def test_bad_state_values_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(environ, dotenv_path=None)
    assert variable in str(error.value) and "w/rd" not in str(error.value)


def test_state_init_creates_the_sql_table(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from process_memory import create_app

    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    app = create_app(Settings(database_url=url, state_backend="sql", state_sql_url=url, state_sql_table="st"))
    result = app.test_cli_runner().invoke(args=["state", "init"])
    assert result.exit_code == 0 and "sql state store ready" in result.output
    assert "st" in sa.inspect(sa.create_engine(url)).get_table_names()
