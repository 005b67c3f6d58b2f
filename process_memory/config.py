"""Settings: every configuration variable read once, validated and typed.

Variables come from the environment and, when present, from a ``.env`` file in
the working directory; the real environment wins. A bad value raises
:class:`ConfigError` with one line naming the variable and never its value,
because some values (``DOCDB_URI``, ``DOCDB_SECRET``) carry credentials.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from process_memory.anchoring.witnesses import Witness, WitnessConfigError, parse_witnesses
from process_memory.auth import ApiKey, KeysFileError, load_keys_file
from process_memory.config_urls import (
    database_url,
    mongo_uri,
    pooling,
    redis_url,
    state_sql_url,
)
from process_memory.config_values import ConfigError, switch, whole_number
from process_memory.db import DEFAULT_TIMEOUT_MS
from process_memory.history.tail import DEFAULT_MAX_WAITING
from process_memory.proofs.notes import NoteError, Signer, Verifier
from process_memory.stores.base import DEFAULT_STATE_TABLE

#: BSON documents are capped at 16 MiB; leave room for the entry's own fields.
MAX_INLINE_DATA_CEILING = 16_000_000
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
#: The default state store: files, because memory would be private to each gunicorn worker.
DEFAULT_STATE_DIR = Path("var") / "state"
_SQL_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


#: The origin of checkpoints when PROCESS_MEMORY_LOG_ORIGIN is not set.
DEFAULT_LOG_ORIGIN = "process-memory"
_ORIGIN_RE = re.compile(r"[!-~]{1,200}")


@dataclass(frozen=True)
class Settings:
    """The service's configuration; build it with :meth:`from_env`."""

    # repr=False: the URI may hold a password and Settings may end up in a log.
    docdb_uri: str | None = field(default=None, repr=False)
    #: SQLAlchemy URL of the SQL history store, used when no DOCDB_URI/DOCDB_HOST is set.
    database_url: str | None = field(default=None, repr=False)
    docdb_database_name: str = "platform"
    docdb_collection: str = "process_memory"
    #: DOCDB_MAX_DATA: data whose canonical JSON is longer is offloaded, on every history backend.
    max_inline_data: int = MAX_INLINE_DATA_CEILING
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    #: How long a request waits for an unreachable history database (any backend) before answering 503.
    database_timeout_ms: int = DEFAULT_TIMEOUT_MS
    #: PROCESS_MEMORY_DATABASE_POOLER=transaction: the URL goes through a transaction-mode pooler (PgBouncer), so
    #: no statement is prepared on the server, and the live tail LISTENs only on the listen URL.
    database_transaction_pooler: bool = False
    #: PROCESS_MEMORY_DATABASE_LISTEN_URL: where the live tail LISTENs (the primary itself, past any pooler).
    database_listen_url: str | None = field(default=None, repr=False)
    # from_env defaults to "file"; code that builds Settings by hand gets a store that writes nothing.
    state_backend: str = "memory"
    state_file_dir: str = str(DEFAULT_STATE_DIR)
    state_sql_url: str | None = field(default=None, repr=False)
    state_sql_table: str = DEFAULT_STATE_TABLE
    state_redis_url: str | None = field(default=None, repr=False)
    #: Default expiry of instance state in seconds; None: never.
    state_ttl: int | None = None
    state_max_bytes: int = 1024 * 1024
    #: How often each worker deletes expired state in the background.
    state_sweep_seconds: int = 300
    #: Proxies in front of the app whose X-Forwarded-For/-Proto are believed: 0 by default, so a client
    #: cannot set its logged address; the rendered nginx site's deployment sets 1.
    proxy_hops: int = 0
    #: Live-tail readers one worker lets wait at once; more are answered 503 with Retry-After.
    max_tail_waiting: int = DEFAULT_MAX_WAITING
    #: How often a waiting live-tail reader looks again when nothing woke it, in milliseconds.
    tail_poll_ms: int = 200
    #: The API keys (PROCESS_MEMORY_API_KEYS_FILE); none: every request is let in, as on loopback.
    api_keys: tuple[ApiKey, ...] = field(default=(), repr=False)
    #: PROCESS_MEMORY_AUTH=off: serve without keys on any address, on purpose.
    auth_off: bool = False
    #: PROCESS_MEMORY_METRICS_OPEN=1: /metrics without a key (for a scraper on a private network).
    metrics_open: bool = False
    #: The note signer of checkpoints (PROCESS_MEMORY_SIGNING_KEY_FILE); none: no checkpoints are served.
    signing_key: Signer | None = field(default=None, repr=False)
    #: PROCESS_MEMORY_LOG_ORIGIN: a checkpoint's origin is ``<this>/<instance id>``.
    log_origin: str = DEFAULT_LOG_ORIGIN
    #: PROCESS_MEMORY_VERIFIER_KEYS_FILE: earlier keys' verifier keys, published beside the signing key's
    #: so that checkpoints signed before a rotation still check.
    verifier_keys: tuple[str, ...] = ()
    #: PROCESS_MEMORY_ANCHOR_SECONDS: how often the service log anchors grown instances; 0: never (anchoring also
    #: needs a signing key). from_env defaults to 1; code that builds Settings by hand runs no anchoring thread.
    anchor_seconds: int = 0
    #: PROCESS_MEMORY_WITNESSES: the witnesses asked to cosign each service checkpoint.
    witnesses: tuple[Witness, ...] = ()
    #: PROCESS_MEMORY_WITNESS_QUORUM: cosignatures a service checkpoint needs before it is served (default: all).
    witness_quorum: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv_path: str | None = ".env") -> Settings:
        """Read the settings from ``environ`` (default ``os.environ``) over a ``.env`` file."""
        values: dict[str, str] = {}
        if dotenv_path and os.path.isfile(dotenv_path):
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        docdb_uri = mongo_uri(values)
        history_url = None if docdb_uri else database_url(values)
        defaults = cls()  # each default is the field's, written once above
        from process_memory.registry import STATE_STORES  # which itself reads Settings

        state_backend = values.get("PROCESS_MEMORY_STATE_BACKEND", "").strip() or "file"
        if state_backend not in STATE_STORES.names():
            raise ConfigError(f"PROCESS_MEMORY_STATE_BACKEND must be one of {', '.join(STATE_STORES.names())}")
        ttl = whole_number(values, "PROCESS_MEMORY_STATE_TTL", 0, 1, 10 * 365 * 86400, "seconds")
        auth_off = switch(values, "PROCESS_MEMORY_AUTH", {"on": False, "off": True})
        return cls(
            docdb_uri=docdb_uri,
            database_url=history_url,
            **pooling(values),
            docdb_database_name=_name(values, "DOCDB_DATABASE_NAME", defaults.docdb_database_name),
            docdb_collection=_name(values, "DOCDB_COLLECTION", defaults.docdb_collection),
            max_inline_data=whole_number(
                values, "DOCDB_MAX_DATA", MAX_INLINE_DATA_CEILING, 1, MAX_INLINE_DATA_CEILING, "bytes"
            ),
            max_request_bytes=whole_number(
                values, "PROCESS_MEMORY_MAX_REQUEST_BYTES", defaults.max_request_bytes, 1, 2**40, "bytes"
            ),
            state_backend=state_backend,
            state_file_dir=str(
                Path(values.get("PROCESS_MEMORY_STATE_FILE_DIR", "").strip() or DEFAULT_STATE_DIR).resolve()
            ),
            state_sql_url=state_sql_url(values, state_backend, history_url),
            state_sql_table=_identifier(values, "PROCESS_MEMORY_STATE_SQL_TABLE", defaults.state_sql_table),
            state_redis_url=redis_url(values, state_backend),
            state_ttl=ttl or None,
            state_max_bytes=whole_number(
                values, "PROCESS_MEMORY_STATE_MAX_BYTES", defaults.state_max_bytes, 1, 64 * 1024 * 1024, "bytes"
            ),
            state_sweep_seconds=whole_number(
                values, "PROCESS_MEMORY_STATE_SWEEP_SECONDS", defaults.state_sweep_seconds, 1, 86400, "seconds"
            ),
            proxy_hops=whole_number(values, "PROCESS_MEMORY_PROXY_HOPS", 0, 0, 5),
            **_live_tail(values, defaults),
            api_keys=_api_keys(values, auth_off),
            auth_off=auth_off,
            metrics_open=switch(values, "PROCESS_MEMORY_METRICS_OPEN", {"0": False, "1": True}),
            **_proofs(values),
        )

    @property
    def requires_keys(self) -> bool:
        """Whether requests must carry a key (keys are configured and auth is not off)."""
        return bool(self.api_keys) and not self.auth_off


def _live_tail(values: Mapping[str, str], defaults: Settings) -> dict[str, Any]:
    """The live tail's settings: how many readers a worker lets wait, and how often an unwoken one looks."""
    return {
        "max_tail_waiting": whole_number(
            values, "PROCESS_MEMORY_MAX_TAIL_WAITING", defaults.max_tail_waiting, 0, 100_000
        ),
        "tail_poll_ms": whole_number(values, "PROCESS_MEMORY_TAIL_POLL_MS", defaults.tail_poll_ms, 10, 60_000, "ms"),
    }


def _signing_key(values: Mapping[str, str]) -> Signer | None:
    path = values.get("PROCESS_MEMORY_SIGNING_KEY_FILE", "").strip()
    if not path:
        return None
    try:
        return Signer.from_key(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"PROCESS_MEMORY_SIGNING_KEY_FILE cannot be read: {error.strerror}") from None
    except NoteError:  # the message names the variable, never the key
        raise ConfigError("PROCESS_MEMORY_SIGNING_KEY_FILE holds no note signer key (see keys signing-key)") from None


def _verifier_keys(values: Mapping[str, str]) -> tuple[str, ...]:
    path = values.get("PROCESS_MEMORY_VERIFIER_KEYS_FILE", "").strip()
    if not path:
        return ()
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise ConfigError(f"PROCESS_MEMORY_VERIFIER_KEYS_FILE cannot be read: {error.strerror}") from None
    keys = []
    for number, line in enumerate(lines, 1):
        key = line.strip()
        if not key or key.startswith("#"):
            continue
        try:
            Verifier.from_key(key)
        except NoteError:
            raise ConfigError(f"PROCESS_MEMORY_VERIFIER_KEYS_FILE line {number} is not a verifier key") from None
        keys.append(key)
    return tuple(keys)


def _proofs(values: Mapping[str, str]) -> dict[str, Any]:
    """The signing key, origin and verifier keys, and how the service log is anchored and witnessed."""
    try:
        witnesses = parse_witnesses(values.get("PROCESS_MEMORY_WITNESSES", ""))
    except WitnessConfigError as error:
        raise ConfigError(f"PROCESS_MEMORY_WITNESSES: {error}") from None
    quorum = whole_number(
        values, "PROCESS_MEMORY_WITNESS_QUORUM", len(witnesses), 1 if witnesses else 0, len(witnesses)
    )
    if witnesses:
        key = _signing_key(values)
        if key is None or key.name != _log_origin(values):
            raise ConfigError(
                "PROCESS_MEMORY_WITNESSES needs a signing key named as PROCESS_MEMORY_LOG_ORIGIN: "
                "witnesses know the service log by its origin and its key by that name"
            )
    return {
        "signing_key": _signing_key(values),
        "log_origin": _log_origin(values),
        "verifier_keys": _verifier_keys(values),
        "anchor_seconds": whole_number(values, "PROCESS_MEMORY_ANCHOR_SECONDS", 1, 0, 3600, "seconds"),
        "witnesses": witnesses,
        "witness_quorum": quorum,
    }


def _log_origin(values: Mapping[str, str]) -> str:
    origin = values.get("PROCESS_MEMORY_LOG_ORIGIN", "").strip() or DEFAULT_LOG_ORIGIN
    if not _ORIGIN_RE.fullmatch(origin):
        raise ConfigError("PROCESS_MEMORY_LOG_ORIGIN is 1-200 printable characters without spaces")
    return origin


def _api_keys(values: Mapping[str, str], auth_off: bool) -> tuple[ApiKey, ...]:
    path = values.get("PROCESS_MEMORY_API_KEYS_FILE", "").strip()
    if not path:
        return ()
    if auth_off:
        raise ConfigError("PROCESS_MEMORY_AUTH=off and PROCESS_MEMORY_API_KEYS_FILE contradict each other: set one")
    try:
        keys = load_keys_file(path)
    except KeysFileError as error:
        raise ConfigError(f"PROCESS_MEMORY_API_KEYS_FILE: {error}") from None
    if not keys:
        raise ConfigError("PROCESS_MEMORY_API_KEYS_FILE holds no key: with no keys, leave it unset")
    return keys


def _name(values: Mapping[str, str], name: str, default: str) -> str:
    raw = values.get(name, "").strip() or default
    if "\0" in raw or "$" in raw or len(raw) > 120:
        raise ConfigError(f"{name} is not a valid MongoDB name")
    return raw


def _identifier(values: Mapping[str, str], name: str, default: str) -> str:
    raw = values.get(name, "").strip() or default
    if not _SQL_IDENTIFIER.fullmatch(raw):
        raise ConfigError(f"{name} must be a plain SQL identifier (letters, digits, underscores)")
    return raw
