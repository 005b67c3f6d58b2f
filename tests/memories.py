"""Memory documents as the platform's clients post them, and a reprocessing scenario over several instances."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

PROCESS = "4c7735de-6992-4c1a-ab73-e4114b2da42a"
OTHER_PROCESS = "5823f169-8c0e-49b6-8f42-f858edc14eae"
TAG = "70a84553-d4b6-11e9-979a-0242ac12000f"
OTHER_TAG = "81b95664-e5c7-41fa-a8ab-1353bd230010"
TABLE = "tb_usina"
TABLES_BY_TAG = {TAG: [TABLE]}


def event(iid: str, name: str = "calcular.taxa.request", **fields: Any) -> dict[str, Any]:
    """An event as the Executor posts it."""
    return {
        "name": name,
        "scope": "execution",
        "instanceId": iid,
        "timestamp": "2026-01-05T10:00:00.000000Z",
        "owner": "anonymous",
        "tag": TAG,
        "branch": "master",
        "referenceDate": "2026-01-10T00:00:00.000000Z",
        "reproduction": {},
        "reprocessing": {},
        "payload": {"usinas": ["U1"], "n": 1},
        **fields,
    }


def read_by_query(entity_id: str, table: str = TABLE, change: str = "query") -> dict[str, Any]:
    """An entity record as the domain reader hands it to an app, tracked as read by a query."""
    return {
        "id": entity_id,
        "nome": f"usina {entity_id}",
        "_metadata": {"changeTrack": change, "table": table, "type": "usina"},
    }


def memory(iid: str, the_event: dict[str, Any] | None = None, image: str = TAG, **parts: Any) -> dict[str, Any]:
    """A whole memory document, as an app commits it."""
    return {
        "event": the_event if the_event is not None else event(iid),
        "processId": PROCESS,
        "systemId": "a22d9e4d-c352-4ac2-8321-2c496fe3a116",
        "instanceId": iid,
        "eventOut": "calcular.taxa.done",
        "commit": True,
        "version": "v1",
        "image": image,
        "map": {"name": "SAGER", "content": {"usina": {"model": "tb_usina", "fields": {"id": {"column": "id"}}}}},
        "dataset": {"entities": {"usina": [read_by_query("U1")], "vazio": None}},
        "fork": None,
        **parts,
    }


@dataclass
class Scenario:
    """Instances of the reprocessing flow: readers of U1 and U2, an unrelated tag, and reprocesses of ``a``."""

    a: str = field(default_factory=lambda: str(uuid.uuid4()))
    b: str = field(default_factory=lambda: str(uuid.uuid4()))
    other_tag: str = field(default_factory=lambda: str(uuid.uuid4()))
    writer: str = field(default_factory=lambda: str(uuid.uuid4()))
    reprocess: str = field(default_factory=lambda: str(uuid.uuid4()))
    newer_reprocess: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: The readers' tag and process (a database shared with other tests needs its own).
    tag: str = TAG
    process: str = PROCESS

    @property
    def tables_by_tag(self) -> dict[str, list[str]]:
        """The reprocessable tables of the readers' tag."""
        return {self.tag: [TABLE]}

    def _memory(self, iid: str, the_event: dict[str, Any], **parts: Any) -> dict[str, Any]:
        return memory(iid, {**the_event, "tag": self.tag}, image=self.tag, **{"processId": self.process, **parts})

    def readers(self) -> list[tuple[str, dict[str, Any]]]:
        """(instance, memory) of the instances that read, before any reprocess."""
        b_event = event(self.b, referenceDate="2026-01-20T00:00:00.000000Z")
        return [
            (self.a, self._memory(self.a, event(self.a))),
            (self.b, self._memory(self.b, b_event, dataset={"entities": {"usina": [read_by_query("U2")]}})),
            (
                self.other_tag,
                memory(self.other_tag, event(self.other_tag, tag=OTHER_TAG), image=OTHER_TAG, processId=OTHER_PROCESS),
            ),
        ]

    def update_of_u1(self) -> tuple[str, dict[str, Any]]:
        """Another instance updates U1 (it writes the entity; it does not read it)."""
        writer_event = event(self.writer, name="alterar.usina", processId=OTHER_PROCESS)
        entities = {"usina": [read_by_query("U1", change="update")]}
        return self.writer, memory(self.writer, writer_event, processId=OTHER_PROCESS, dataset={"entities": entities})

    def reprocess_of_a(self, newer: bool = False) -> tuple[str, dict[str, Any]]:
        """A reprocess of ``a``, as platform_reprocess enqueues it: scope reprocessing, originalInstanceId a."""
        iid = self.newer_reprocess if newer else self.reprocess
        the_event = event(
            iid,
            scope="reprocessing",
            timestamp="2026-02-02T10:00:00.000000Z" if newer else "2026-02-01T10:00:00.000000Z",
            reprocessing={"instance_id": self.writer, "originalInstanceId": self.a, "from": self.writer},
        )
        return iid, self._memory(iid, the_event)
