"""Settings: read once from the environment over .env, validated, never echoing secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from process_memory.auth import ApiKey
from process_memory.config import ConfigError, Settings

SECRET = "p@ss:w/rd?#%"


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"DOCDB_HOST": "db.example"}, dotenv_path=str(tmp_path / "missing"))
    assert settings.docdb_uri == "mongodb://db.example:27017"
    assert (settings.docdb_database_name, settings.docdb_collection) == ("platform", "process_memory")
    assert (settings.max_inline_data, settings.max_request_bytes) == (16_000_000, 64 * 1024 * 1024)


def test_uri_from_parts_escapes_credentials() -> None:
    settings = Settings.from_env(
        {
            "DOCDB_HOST": "docdb.cluster",
            "DOCDB_PORT": "27018",
            "DOCDB_USER": "app user",
            "DOCDB_SECRET": SECRET,
            "DOCDB_OPTIONS": "/?tls=true&replicaSet=rs0&retryWrites=false",
        },
        dotenv_path=None,
    )
    assert settings.docdb_uri == (
        "mongodb://app+user:p%40ss%3Aw%2Frd%3F%23%25@docdb.cluster:27018/?tls=true&replicaSet=rs0&retryWrites=false"
    )
    assert SECRET not in repr(settings) and "p%40ss" not in repr(settings)


def test_a_whole_uri_wins_over_parts() -> None:
    settings = Settings.from_env(
        {"DOCDB_URI": "mongodb+srv://cluster.example/", "DOCDB_HOST": "ignored"}, dotenv_path=None
    )
    assert settings.docdb_uri == "mongodb+srv://cluster.example/"


def test_dotenv_is_read_and_the_real_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("DOCDB_HOST=from-file\nDOCDB_COLLECTION=from_file\nDOCDB_MAX_DATA=1000\n")
    settings = Settings.from_env({"DOCDB_COLLECTION": "from_env"}, dotenv_path=str(dotenv))
    assert settings.docdb_uri == "mongodb://from-file:27017"
    assert settings.docdb_collection == "from_env"
    assert settings.max_inline_data == 1000


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
        (
            {"DOCDB_HOST": "h", "DOCDB_USER": "u", "DOCDB_SECRET": SECRET, "DOCDB_OPTIONS": "/?tls=maybe"},
            "DOCDB_OPTIONS",
        ),
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
        capture_output=True,
        text=True,
        timeout=60,
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
    settings = Settings.from_env(
        {"PROCESS_MEMORY_STATE_BACKEND": "sql", "PROCESS_MEMORY_DATABASE_URL": "sqlite:////srv/h.sqlite3"},
        dotenv_path=None,
    )
    assert settings.state_sql_url == "sqlite:////srv/h.sqlite3"
    own = Settings.from_env(
        {
            "PROCESS_MEMORY_STATE_BACKEND": "sql",
            "DOCDB_HOST": "db",
            "PROCESS_MEMORY_STATE_SQL_URL": "postgresql+psycopg://u:p@h/db",
            "PROCESS_MEMORY_STATE_SQL_TABLE": "my_state",
            "PROCESS_MEMORY_STATE_TTL": "3600",
        },
        dotenv_path=None,
    )
    assert (own.state_sql_url, own.state_sql_table, own.state_ttl) == (
        "postgresql+psycopg://u:p@h/db",
        "my_state",
        3600,
    )


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


def test_every_default_when_nothing_is_set() -> None:
    assert Settings.from_env({}, dotenv_path=None) == Settings(
        docdb_uri=None,
        database_url=f"sqlite:///{(Path('var') / 'process_memory.sqlite3').resolve()}",
        docdb_database_name="platform",
        docdb_collection="process_memory",
        max_inline_data=16_000_000,
        max_request_bytes=64 * 1024 * 1024,
        database_timeout_ms=5000,
        state_backend="file",
        state_file_dir=str((Path("var") / "state").resolve()),
        state_sql_url=None,
        state_sql_table="process_memory_state",
        state_redis_url=None,
        state_ttl=None,
        state_max_bytes=1024 * 1024,
        state_sweep_seconds=300,
        proxy_hops=0,
        api_keys=(),
        auth_off=False,
        metrics_open=False,
        anchor_seconds=1,
        witnesses=(),
        witness_quorum=0,
    )


def test_settings_believe_no_proxy_unless_told() -> None:
    # With no proxy in front (`make run`), a client could otherwise set its own logged address.
    assert Settings().proxy_hops == Settings.from_env({}, dotenv_path=None).proxy_hops == 0


def test_every_variable_is_read(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# ops\nci:read,append:{'ab' * 32}:team-a.\n")
    environ = {
        "DOCDB_HOST": "db.example",
        "DOCDB_PORT": "27_018",
        "DOCDB_USER": "app",
        "DOCDB_SECRET": "pw",
        "DOCDB_OPTIONS": "?tls=true",
        "DOCDB_DATABASE_NAME": "memory",
        "DOCDB_COLLECTION": "entries",
        "DOCDB_MAX_DATA": " 1000 ",
        "PROCESS_MEMORY_MAX_REQUEST_BYTES": "2000",
        "PROCESS_MEMORY_STATE_BACKEND": " redis ",
        "PROCESS_MEMORY_STATE_FILE_DIR": str(tmp_path / "unused"),
        "PROCESS_MEMORY_STATE_SQL_URL": "sqlite:////srv/state.sqlite3",
        "PROCESS_MEMORY_STATE_SQL_TABLE": "st",
        "PROCESS_MEMORY_STATE_REDIS_URL": "rediss://cache:6380/2",
        "PROCESS_MEMORY_STATE_TTL": "60",
        "PROCESS_MEMORY_STATE_MAX_BYTES": "4096",
        "PROCESS_MEMORY_STATE_SWEEP_SECONDS": "7",
        "PROCESS_MEMORY_PROXY_HOPS": "2",
        "PROCESS_MEMORY_API_KEYS_FILE": str(keys_file),
        "PROCESS_MEMORY_METRICS_OPEN": "1",
        "PROCESS_MEMORY_MAX_TAIL_WAITING": "9",
        "PROCESS_MEMORY_TAIL_POLL_MS": "750",
        "PROCESS_MEMORY_ANCHOR_SECONDS": "0",
    }
    assert Settings.from_env(environ, dotenv_path=None) == Settings(
        docdb_uri="mongodb://app:pw@db.example:27018/?tls=true",
        database_url=None,
        docdb_database_name="memory",
        docdb_collection="entries",
        max_inline_data=1000,
        max_request_bytes=2000,
        state_backend="redis",
        state_file_dir=str(tmp_path / "unused"),
        state_sql_url="sqlite:////srv/state.sqlite3",
        state_sql_table="st",
        state_redis_url="rediss://cache:6380/2",
        state_ttl=60,
        state_max_bytes=4096,
        state_sweep_seconds=7,
        proxy_hops=2,
        api_keys=(ApiKey("ci", frozenset({"read", "append"}), bytes.fromhex("ab" * 32), "team-a."),),
        metrics_open=True,
        max_tail_waiting=9,
        tail_poll_ms=750,
    )


@pytest.mark.parametrize(
    ("environ", "field", "expected"),
    [
        ({"DOCDB_MAX_DATA": "16000000"}, "max_inline_data", 16_000_000),
        ({"DOCDB_MAX_DATA": "1"}, "max_inline_data", 1),
        ({"PROCESS_MEMORY_MAX_REQUEST_BYTES": str(2**40)}, "max_request_bytes", 2**40),
        ({"DOCDB_HOST": "h", "DOCDB_PORT": "65535"}, "docdb_uri", "mongodb://h:65535"),
        ({"DOCDB_HOST": "h", "DOCDB_PORT": "1"}, "docdb_uri", "mongodb://h:1"),
        ({"DOCDB_HOST": "h", "DOCDB_USER": "u"}, "docdb_uri", "mongodb://u@h:27017"),
        ({"DOCDB_HOST": "h", "DOCDB_SECRET": "ignored without a user"}, "docdb_uri", "mongodb://h:27017"),
        ({"DOCDB_HOST": "h", "DOCDB_OPTIONS": "/admin?tls=true"}, "docdb_uri", "mongodb://h:27017/admin?tls=true"),
        ({"DOCDB_URI": " mongodb://h/ "}, "docdb_uri", "mongodb://h/"),
        ({"DOCDB_COLLECTION": "c" * 120}, "docdb_collection", "c" * 120),
        ({"DOCDB_COLLECTION": "  "}, "docdb_collection", "process_memory"),
        ({"PROCESS_MEMORY_STATE_SQL_TABLE": "t" * 63}, "state_sql_table", "t" * 63),
        ({"PROCESS_MEMORY_STATE_SQL_TABLE": "_t9"}, "state_sql_table", "_t9"),
        ({"PROCESS_MEMORY_STATE_REDIS_URL": "redis://h"}, "state_redis_url", "redis://h"),
        ({"PROCESS_MEMORY_STATE_REDIS_URL": "unix:///run/redis.sock"}, "state_redis_url", "unix:///run/redis.sock"),
        (
            {"PROCESS_MEMORY_STATE_BACKEND": "memory", "PROCESS_MEMORY_DATABASE_URL": "sqlite:////srv/h.sqlite3"},
            "state_sql_url",
            None,
        ),
        ({"PROCESS_MEMORY_STATE_TTL": str(10 * 365 * 86400)}, "state_ttl", 10 * 365 * 86400),
        ({"PROCESS_MEMORY_STATE_MAX_BYTES": str(64 * 1024 * 1024)}, "state_max_bytes", 64 * 1024 * 1024),
        ({"PROCESS_MEMORY_STATE_SWEEP_SECONDS": "86400"}, "state_sweep_seconds", 86400),
        ({"PROCESS_MEMORY_PROXY_HOPS": "5"}, "proxy_hops", 5),
        ({"PROCESS_MEMORY_MAX_TAIL_WAITING": "0"}, "max_tail_waiting", 0),
        ({"PROCESS_MEMORY_MAX_TAIL_WAITING": "100_000"}, "max_tail_waiting", 100_000),
        ({}, "tail_poll_ms", 200),
        ({}, "database_transaction_pooler", False),
        ({"PROCESS_MEMORY_DATABASE_POOLER": "Transaction"}, "database_transaction_pooler", True),
        ({"PROCESS_MEMORY_DATABASE_POOLER": "none"}, "database_transaction_pooler", False),
        ({}, "database_listen_url", None),
        (
            {"PROCESS_MEMORY_DATABASE_LISTEN_URL": " postgresql+psycopg://app:pw@db:5432/memory "},
            "database_listen_url",
            "postgresql+psycopg://app:pw@db:5432/memory",
        ),
        ({"PROCESS_MEMORY_TAIL_POLL_MS": "10"}, "tail_poll_ms", 10),
        ({"PROCESS_MEMORY_TAIL_POLL_MS": "60000"}, "tail_poll_ms", 60_000),
        ({"PROCESS_MEMORY_METRICS_OPEN": "1"}, "metrics_open", True),
        ({"PROCESS_MEMORY_METRICS_OPEN": "0"}, "metrics_open", False),
        ({"PROCESS_MEMORY_DATABASE_URL": "postgresql+psycopg://u@h/db"}, "database_url", "postgresql+psycopg://u@h/db"),
    ],
)
def test_values_at_the_edges_are_taken(environ: dict[str, str], field: str, expected: object) -> None:
    assert getattr(Settings.from_env(environ, dotenv_path=None), field) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DOCDB_MAX_DATA": "lots"}, "DOCDB_MAX_DATA must be a whole number"),
        ({"DOCDB_MAX_DATA": "16000001"}, "DOCDB_MAX_DATA must be between 1 and 16,000,000"),
        (
            {"PROCESS_MEMORY_MAX_REQUEST_BYTES": str(2**40 + 1)},
            "PROCESS_MEMORY_MAX_REQUEST_BYTES must be between 1 and 1,099,511,627,776",
        ),
        ({"DOCDB_HOST": "h", "DOCDB_PORT": "65536"}, "DOCDB_PORT must be between 1 and 65,535"),
        ({"DOCDB_HOST": "h", "DOCDB_PORT": "0"}, "DOCDB_PORT must be between 1 and 65,535"),
        (
            {"PROCESS_MEMORY_STATE_TTL": str(10 * 365 * 86400 + 1)},
            "PROCESS_MEMORY_STATE_TTL must be between 1 and 315,360,000",
        ),
        (
            {"PROCESS_MEMORY_STATE_MAX_BYTES": str(64 * 1024 * 1024 + 1)},
            "PROCESS_MEMORY_STATE_MAX_BYTES must be between 1 and 67,108,864",
        ),
        (
            {"PROCESS_MEMORY_STATE_SWEEP_SECONDS": "0"},
            "PROCESS_MEMORY_STATE_SWEEP_SECONDS must be between 1 and 86,400",
        ),
        ({"PROCESS_MEMORY_PROXY_HOPS": "6"}, "PROCESS_MEMORY_PROXY_HOPS must be between 0 and 5"),
        (
            {"PROCESS_MEMORY_DATABASE_POOLER": "session"},
            "PROCESS_MEMORY_DATABASE_POOLER must be none or transaction",
        ),
        (
            {"PROCESS_MEMORY_DATABASE_LISTEN_URL": "sqlite:////srv/h.sqlite3"},
            "PROCESS_MEMORY_DATABASE_LISTEN_URL must be a postgresql+psycopg:// URL",
        ),
        (
            {"PROCESS_MEMORY_DATABASE_LISTEN_URL": "app:s3cret at db"},
            "PROCESS_MEMORY_DATABASE_LISTEN_URL is not a valid database URL",
        ),
        (
            {"PROCESS_MEMORY_TAIL_POLL_MS": "9"},
            "PROCESS_MEMORY_TAIL_POLL_MS must be between 10 and 60,000",
        ),
        (
            {"PROCESS_MEMORY_MAX_TAIL_WAITING": "100001"},
            "PROCESS_MEMORY_MAX_TAIL_WAITING must be between 0 and 100,000",
        ),
        ({"PROCESS_MEMORY_MAX_TAIL_WAITING": "-1"}, "PROCESS_MEMORY_MAX_TAIL_WAITING must be between 0 and 100,000"),
        ({"PROCESS_MEMORY_METRICS_OPEN": "yes"}, "PROCESS_MEMORY_METRICS_OPEN must be 0 or 1"),
        ({"DOCDB_COLLECTION": "c" * 121}, "DOCDB_COLLECTION is not a valid MongoDB name"),
        ({"DOCDB_DATABASE_NAME": "a\0b"}, "DOCDB_DATABASE_NAME is not a valid MongoDB name"),
        ({"DOCDB_URI": "http://h/"}, "DOCDB_URI must be a mongodb:// or mongodb+srv:// URI"),
        ({"DOCDB_URI": "mongodb://h:notaport/"}, "DOCDB_URI is not a valid MongoDB URI"),
        ({"DOCDB_HOST": "h:1:2"}, "DOCDB_HOST is not a valid MongoDB URI"),
        ({"DOCDB_HOST": "h", "DOCDB_OPTIONS": "?tls=maybe"}, "DOCDB_HOST/DOCDB_OPTIONS is not a valid MongoDB URI"),
        ({"PROCESS_MEMORY_DATABASE_URL": "not a url"}, "PROCESS_MEMORY_DATABASE_URL is not a valid database URL"),
        (
            {"PROCESS_MEMORY_DATABASE_URL": "mysql://h/db"},
            "PROCESS_MEMORY_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL",
        ),
        ({"PROCESS_MEMORY_STATE_TTL": "0"}, "PROCESS_MEMORY_STATE_TTL must be between 1 and 315,360,000"),
        (
            {"PROCESS_MEMORY_DATABASE_URL": "postgresql+pg8000://h/db"},
            "PROCESS_MEMORY_DATABASE_URL must use the psycopg driver: postgresql+psycopg://",
        ),
        (
            {"PROCESS_MEMORY_DATABASE_URL": "sqlite:///:memory:"},
            "PROCESS_MEMORY_DATABASE_URL must name a SQLite file, not memory",
        ),
        (
            {"PROCESS_MEMORY_DATABASE_URL": "sqlite:///"},
            "PROCESS_MEMORY_DATABASE_URL must name a SQLite file, not memory",
        ),
        ({"PROCESS_MEMORY_STATE_SQL_URL": "not a url"}, "PROCESS_MEMORY_STATE_SQL_URL is not a valid database URL"),
        (
            {"PROCESS_MEMORY_STATE_BACKEND": "etcd"},
            "PROCESS_MEMORY_STATE_BACKEND must be one of memory, file, sql, redis",
        ),
        (
            {"PROCESS_MEMORY_STATE_BACKEND": "redis"},
            "PROCESS_MEMORY_STATE_REDIS_URL must be set for the redis state backend",
        ),
        (
            {"PROCESS_MEMORY_STATE_REDIS_URL": "http://h"},
            "PROCESS_MEMORY_STATE_REDIS_URL must be a redis://, rediss:// or unix:// URL",
        ),
        (
            {"PROCESS_MEMORY_STATE_BACKEND": "sql", "DOCDB_HOST": "h"},
            "PROCESS_MEMORY_STATE_SQL_URL must be set when the history is not in SQL",
        ),
        (
            {"PROCESS_MEMORY_STATE_SQL_TABLE": "t" * 64},
            "PROCESS_MEMORY_STATE_SQL_TABLE must be a plain SQL identifier (letters, digits, underscores)",
        ),
        (
            {"PROCESS_MEMORY_STATE_SQL_TABLE": "9t"},
            "PROCESS_MEMORY_STATE_SQL_TABLE must be a plain SQL identifier (letters, digits, underscores)",
        ),
    ],
)
def test_each_refusal_says_what_is_wrong(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(environ, dotenv_path=None)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("DOCDB_MAX_DATA", " of bytes"),
        ("PROCESS_MEMORY_MAX_REQUEST_BYTES", " of bytes"),
        ("PROCESS_MEMORY_STATE_MAX_BYTES", " of bytes"),
        ("PROCESS_MEMORY_STATE_TTL", " of seconds"),
        ("PROCESS_MEMORY_STATE_SWEEP_SECONDS", " of seconds"),
        ("PROCESS_MEMORY_PROXY_HOPS", ""),
        ("DOCDB_PORT", ""),
    ],
)
def test_a_number_that_is_not_one_is_refused_in_its_unit(name: str, unit: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"DOCDB_HOST": "h", name: "lots"}, dotenv_path=None)
    assert str(error.value) == f"{name} must be a whole number{unit}"


def test_dotenv_in_the_working_directory_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("DOCDB_COLLECTION=from_dotenv\n")
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).docdb_collection == "from_dotenv"


def test_an_unreadable_keys_file_is_named_by_its_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"PROCESS_MEMORY_API_KEYS_FILE": str(tmp_path / "missing")}, dotenv_path=None)
    assert str(error.value) == "PROCESS_MEMORY_API_KEYS_FILE: cannot read the keys file (FileNotFoundError)"
    empty = tmp_path / "empty"
    empty.write_text("# nobody yet\n")
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"PROCESS_MEMORY_API_KEYS_FILE": str(empty)}, dotenv_path=None)
    assert str(error.value) == "PROCESS_MEMORY_API_KEYS_FILE holds no key: with no keys, leave it unset"
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"PROCESS_MEMORY_API_KEYS_FILE": str(empty), "PROCESS_MEMORY_AUTH": "off"}, dotenv_path=None)
    assert str(error.value) == (
        "PROCESS_MEMORY_AUTH=off and PROCESS_MEMORY_API_KEYS_FILE contradict each other: set one"
    )
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"PROCESS_MEMORY_AUTH": "maybe"}, dotenv_path=None)
    assert str(error.value) == "PROCESS_MEMORY_AUTH must be on or off"
