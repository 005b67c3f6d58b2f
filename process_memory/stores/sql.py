"""SQLStore: state in one SQL table (SQLite file or PostgreSQL), safe across processes and hosts.

Compare-and-set is one statement: an UPDATE that names the expected version,
or an INSERT whose ON CONFLICT branch only replaces an expired row. Whether it
won is its row count, so no lock is held across round trips.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from process_memory.db import DEFAULT_TIMEOUT_MS, ProcessLocalEngine, unavailable_on
from process_memory.migrations import upgrade
from process_memory.statements import DriverStatement
from process_memory.stores.base import DEFAULT_STATE_TABLE, StateStore, VersionConflict, new_version, remaining_seconds

_unavailable_on_database_error = unavailable_on(OperationalError)
#: The state table's Alembic revisions.
STATE_REVISIONS = Path(__file__).parent / "revisions"


def build_state_table(name: str) -> sa.Table:
    """Describe the state table: one row per (namespace, key), with an index for expiry sweeps."""
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("namespace", sa.String(512), primary_key=True),
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.Float),  # seconds since the epoch; NULL: never
        sa.Index(f"{name}_expires_at", "expires_at"),
    )


@dataclass(frozen=True)
class _Statements:
    """The statements of reads and writes of one value, built once and run on the driver's cursor."""

    read: DriverStatement
    #: Write whatever is there; only if the expected version is live; only if nothing live is there.
    put: DriverStatement
    update: DriverStatement
    put_if_absent: DriverStatement


def _statements(table: sa.Table, engine: ProcessLocalEngine) -> _Statements:
    c, bind = table.c, sa.bindparam
    one = sa.and_(c.namespace == bind("ns"), c.key == bind("k"))
    fields: dict[str, Any] = {"value": bind("v"), "version": bind("ver"), "expires_at": bind("exp")}
    insert = engine.upsert(table).values(namespace=bind("ns"), key=bind("k"), **fields)
    replace = {name: insert.excluded[name] for name in fields}
    live = sa.or_(c.expires_at.is_(None), c.expires_at > bind("now"))
    expired = sa.and_(c.expires_at.is_not(None), c.expires_at <= bind("now"))
    return _Statements(
        read=DriverStatement(sa.select(c.value, c.version, c.expires_at).where(one)),
        put=DriverStatement(insert.on_conflict_do_update(index_elements=[c.namespace, c.key], set_=replace)),
        update=DriverStatement(table.update().where(one, c.version == bind("expected"), live).values(**fields)),
        put_if_absent=DriverStatement(
            insert.on_conflict_do_update(index_elements=[c.namespace, c.key], set_=replace, where=expired)
        ),
    )


class SQLStore(StateStore):
    """State rows keyed by namespace path (``a/b``; the root is ``""``) and key."""

    def __init__(
        self,
        url: str,
        table: str = DEFAULT_STATE_TABLE,
        clock: Callable[[], float] = time.time,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        *,
        _engine: ProcessLocalEngine | None = None,
        _namespace: str = "",
    ) -> None:
        super().__init__(clock)
        if _engine is None:
            self.table = build_state_table(table)
            self._engine = ProcessLocalEngine(url, timeout_ms, self.table.metadata, schema=self._migrate)
        else:  # a namespace view shares its parent's engine and table
            self._engine, self.table = _engine, _engine.metadata.tables[table]
        self._namespace = _namespace
        self._statements = _statements(self.table, self._engine)

    def _row(self, key: str) -> Any:
        c = self.table.c
        return sa.and_(c.namespace == self._namespace, c.key == key)

    def _live(self, now: float) -> Any:
        c = self.table.c
        return sa.or_(c.expires_at.is_(None), c.expires_at > now)

    def _scope(self) -> Any:
        """This namespace and its children: ``a`` and ``a/…`` (a range, not LIKE, so no escaping)."""
        if not self._namespace:
            return sa.true()
        c = self.table.c
        # "0" is the character after "/": the range holds exactly the paths below this one.
        return sa.or_(
            c.namespace == self._namespace,
            sa.and_(c.namespace >= self._namespace + "/", c.namespace < self._namespace + "0"),
        )

    def _write(self, statement: Any) -> int:
        """Run a write in its own transaction and return how many rows it touched."""
        with self._engine.begin() as conn:
            # An upsert's count says whether a condition held; SQLAlchemy keeps it for INSERT only when asked.
            return conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount

    def _migrate(self, engine: Engine) -> None:
        """Bring the state table to its revisions' head (process_memory/migrations), from any earlier release."""
        name = self.table.name
        upgrade(engine, f"{name}_schema_version", [STATE_REVISIONS], state_table=name)

    @_unavailable_on_database_error
    def ensure_schema(self) -> None:
        """Create the table and its index when missing."""
        self._engine.create_schema()

    @_unavailable_on_database_error
    def _get(self, key: str, renew: float | None) -> bytes | None:
        found = self._read(key)
        if found is None:
            return None
        value, version, deadline = found
        if renew is not None and deadline is not None:
            c = self.table.c
            self._write(
                self.table.update().where(self._row(key), c.version == version).values(expires_at=self.clock() + renew)
            )
        return value

    def _read(self, key: str) -> tuple[bytes, str, float | None] | None:
        c = self.table.c
        now = self.clock()
        rows = self._statements.read.read(self._engine.get(), {"ns": self._namespace, "k": key})
        if not rows:
            return None
        value, version, expires_at = rows[0]
        if expires_at is not None and expires_at <= now:
            # Only this expired version: a value written meanwhile stays.
            self._write(self.table.delete().where(self._row(key), c.version == version))
            return None
        return bytes(value), version, expires_at

    @_unavailable_on_database_error
    def _get_versioned(self, key: str) -> tuple[bytes, str] | None:
        found = self._read(key)
        return (found[0], found[1]) if found else None

    @_unavailable_on_database_error
    def _set(self, key: str, data: bytes, ttl: float | None, if_version: str | None, if_absent: bool) -> str:
        # A condition is part of the one statement that writes.
        now = self.clock()
        version = new_version()
        values = {"ns": self._namespace, "k": key, "v": data, "ver": version, "exp": None if ttl is None else now + ttl}
        write = self._statements
        statement = write.update if if_version is not None else write.put_if_absent if if_absent else write.put
        with self._engine.begin() as conn:
            written = statement.changed(conn, {**values, "now": now, "expected": if_version})
        if written != 1:
            raise VersionConflict(key)
        return version

    @_unavailable_on_database_error
    def _delete(self, key: str, if_version: str | None) -> bool:
        c = self.table.c
        now = self.clock()
        condition = [self._row(key), self._live(now)]
        if if_version is not None:
            condition.append(c.version == if_version)
        deleted = self._write(self.table.delete().where(*condition)) == 1
        if if_version is not None and not deleted:
            raise VersionConflict(key)
        return deleted

    @_unavailable_on_database_error
    def delete_all(self) -> None:
        """Delete this namespace's rows and its children's."""
        self._write(self.table.delete().where(self._scope()))

    @_unavailable_on_database_error
    def _expires_in(self, key: str) -> int | None:
        found = self._read(key)
        return remaining_seconds(found[2], self.clock()) if found else None

    @_unavailable_on_database_error
    def delete_expired(self) -> int:
        """Delete expired rows of this namespace and its children (the expires_at index finds them)."""
        c = self.table.c
        return self._write(self.table.delete().where(self._scope(), c.expires_at <= self.clock()))

    def _child(self, name: str) -> SQLStore:
        path = f"{self._namespace}/{name}" if self._namespace else name
        return SQLStore("", self.table.name, self.clock, _engine=self._engine, _namespace=path)

    def close(self) -> None:
        """Close this process's pooled connections."""
        self._engine.dispose()
