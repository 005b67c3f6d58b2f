"""Settings: every configuration variable read once, validated and typed.

Variables come from the environment and, when present, from a ``.env`` file in
the working directory; the real environment wins. A bad value raises
:class:`ConfigError` with one line naming the variable and never its value,
because some values (``DOCDB_URI``, ``DOCDB_SECRET``) carry credentials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote_plus

from pathlib import Path

from dotenv import dotenv_values
from pymongo.errors import ConfigurationError, InvalidURI
from pymongo.uri_parser import parse_uri
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

#: BSON documents are capped at 16 MiB; leave room for the entry's own fields.
MAX_INLINE_DATA_CEILING = 16_000_000
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
#: The embedded default: history in a SQLite file, relative to the working directory.
EMBEDDED_DATABASE_PATH = Path("var") / "process_memory.sqlite3"


class ConfigError(ValueError):
    """A configuration variable has a value the service cannot start with."""


@dataclass(frozen=True)
class Settings:
    """The service's configuration; build it with :meth:`from_env`."""

    # repr=False: the URI may hold a password and Settings may end up in a log.
    docdb_uri: str | None = field(default=None, repr=False)
    #: SQLAlchemy URL of the SQL history store, used when no DOCDB_URI/DOCDB_HOST is set.
    database_url: str | None = field(default=None, repr=False)
    docdb_database_name: str = "platform"
    docdb_collection: str = "process_memory"
    docdb_max_data: int = MAX_INLINE_DATA_CEILING
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    #: How long a request waits for an unreachable database before answering 503.
    docdb_timeout_ms: int = 5000

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv_path: str | None = ".env"
    ) -> Settings:
        """Read the settings from ``environ`` (default ``os.environ``) over a ``.env`` file."""
        values: dict[str, str] = {}
        if dotenv_path and os.path.isfile(dotenv_path):
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        docdb_uri = _mongo_uri(values)
        return cls(
            docdb_uri=docdb_uri,
            database_url=None if docdb_uri else _database_url(values),
            docdb_database_name=_name(values, "DOCDB_DATABASE_NAME", "platform"),
            docdb_collection=_name(values, "DOCDB_COLLECTION", "process_memory"),
            docdb_max_data=_int(
                values, "DOCDB_MAX_DATA", MAX_INLINE_DATA_CEILING, 1, MAX_INLINE_DATA_CEILING
            ),
            max_request_bytes=_int(
                values, "PROCESS_MEMORY_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES, 1, 2**40
            ),
        )


def _int(values: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = values.get(name, "").strip()
    if not raw:
        return default
    try:
        number = int(raw.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of bytes") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low:,} and {high:,}")
    return number


def _name(values: Mapping[str, str], name: str, default: str) -> str:
    raw = values.get(name, "").strip() or default
    if "\0" in raw or "$" in raw or len(raw) > 120:
        raise ConfigError(f"{name} is not a valid MongoDB name")
    return raw


def _mongo_uri(values: Mapping[str, str]) -> str | None:
    """Build the MongoDB URI from DOCDB_URI or its parts; validate it without echoing it."""
    uri = values.get("DOCDB_URI", "").strip()
    variable = "DOCDB_URI"
    if not uri:
        host = values.get("DOCDB_HOST", "").strip()
        if not host:
            return None
        variable = "DOCDB_HOST"
        port = _int(values, "DOCDB_PORT", 27017, 1, 65535)
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


def _database_url(values: Mapping[str, str]) -> str:
    """Return PROCESS_MEMORY_DATABASE_URL, validated, or the embedded SQLite file's URL."""
    raw = values.get("PROCESS_MEMORY_DATABASE_URL", "").strip()
    if not raw:
        return f"sqlite:///{EMBEDDED_DATABASE_PATH.resolve()}"
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError("PROCESS_MEMORY_DATABASE_URL is not a valid database URL") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError("PROCESS_MEMORY_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL")
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        raise ConfigError("PROCESS_MEMORY_DATABASE_URL must use the psycopg driver: postgresql+psycopg://")
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        # Each connection would get a database of its own: nothing would be shared or kept.
        raise ConfigError("PROCESS_MEMORY_DATABASE_URL must name a SQLite file, not memory")
    return raw
