"""The configured URLs of the stores, validated without echoing them: they carry credentials."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from pymongo.errors import ConfigurationError, InvalidURI
from pymongo.uri_parser import parse_uri
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from process_memory.config_values import ConfigError, switch, whole_number

#: The embedded SQLite file: the history's default, relative to the working directory.
EMBEDDED_DATABASE_PATH = Path("var") / "process_memory.sqlite3"


def mongo_uri(values: Mapping[str, str]) -> str | None:
    """Build the MongoDB URI from DOCDB_URI or its parts; validate it without echoing it."""
    uri = values.get("DOCDB_URI", "").strip()
    variable = "DOCDB_URI"
    if not uri:
        host = values.get("DOCDB_HOST", "").strip()
        if not host:
            return None
        variable = "DOCDB_HOST"
        port = whole_number(values, "DOCDB_PORT", 27017, 1, 65535)
        user = values.get("DOCDB_USER", "")
        secret = values.get("DOCDB_SECRET", "")
        credentials = ""
        if user:
            credentials = quote_plus(user)
            if secret:
                credentials += ":" + quote_plus(secret)
            credentials += "@"
        uri = f"mongodb://{credentials}{host}:{port}"
        options = values.get("DOCDB_OPTIONS", "").strip()
        if options:
            variable = "DOCDB_HOST/DOCDB_OPTIONS"
            uri += options if options.startswith("/") else "/" + options
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ConfigError(f"{variable} must be a mongodb:// or mongodb+srv:// URI")
    if uri.startswith("mongodb://"):
        # An SRV URI would need a DNS lookup to validate; its driver checks it on first use.
        try:
            parse_uri(uri)
        except (InvalidURI, ConfigurationError, ValueError):
            raise ConfigError(f"{variable} is not a valid MongoDB URI") from None
    return uri


def database_url(values: Mapping[str, str]) -> str:
    """Return PROCESS_MEMORY_DATABASE_URL, validated, or the embedded SQLite file's URL."""
    raw = values.get("PROCESS_MEMORY_DATABASE_URL", "").strip()
    if not raw:
        return f"sqlite:///{EMBEDDED_DATABASE_PATH.resolve()}"
    return sql_url(raw, "PROCESS_MEMORY_DATABASE_URL")


def sql_url(raw: str, name: str) -> str:
    """``raw``, the value of ``name``, checked to be a SQLite file's or a PostgreSQL (psycopg) URL."""
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):  # ValueError quotes the URL: never pass it on
        raise ConfigError(f"{name} is not a valid database URL") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"{name} must be a sqlite:/// or postgresql+psycopg:// URL")
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        raise ConfigError(f"{name} must use the psycopg driver: postgresql+psycopg://")
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        # Each connection would get a database of its own: nothing would be shared or kept.
        raise ConfigError(f"{name} must name a SQLite file, not memory")
    return raw


def pooling(values: Mapping[str, str]) -> dict[str, Any]:
    """The settings of a SQL history behind a pooler: PROCESS_MEMORY_DATABASE_POOLER (``none`` or
    ``transaction``) and PROCESS_MEMORY_DATABASE_LISTEN_URL (a PostgreSQL URL past the pooler, or none)."""
    pooler = switch(values, "PROCESS_MEMORY_DATABASE_POOLER", {"none": False, "transaction": True})
    return {"database_transaction_pooler": pooler, "database_listen_url": _listen_url(values)}


def _listen_url(values: Mapping[str, str]) -> str | None:
    raw = values.get("PROCESS_MEMORY_DATABASE_LISTEN_URL", "").strip()
    if not raw:
        return None
    if sql_url(raw, "PROCESS_MEMORY_DATABASE_LISTEN_URL").startswith("sqlite"):
        raise ConfigError("PROCESS_MEMORY_DATABASE_LISTEN_URL must be a postgresql+psycopg:// URL")
    return raw


def state_sql_url(values: Mapping[str, str], backend: str, history_url: str | None) -> str | None:
    """PROCESS_MEMORY_STATE_SQL_URL, or the history's SQL database when the state is kept in SQL too."""
    raw = values.get("PROCESS_MEMORY_STATE_SQL_URL", "").strip()
    if raw:
        return sql_url(raw, "PROCESS_MEMORY_STATE_SQL_URL")
    if backend == "sql" and history_url is None:
        raise ConfigError("PROCESS_MEMORY_STATE_SQL_URL must be set when the history is not in SQL")
    return history_url if backend == "sql" else None


def redis_url(values: Mapping[str, str], backend: str) -> str | None:
    """PROCESS_MEMORY_STATE_REDIS_URL, validated: required by the redis state backend."""
    raw = values.get("PROCESS_MEMORY_STATE_REDIS_URL", "").strip()
    if backend == "redis" and not raw:
        raise ConfigError("PROCESS_MEMORY_STATE_REDIS_URL must be set for the redis state backend")
    if raw and not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("PROCESS_MEMORY_STATE_REDIS_URL must be a redis://, rediss:// or unix:// URL")
    return raw or None
