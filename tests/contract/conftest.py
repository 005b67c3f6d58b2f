"""Fixtures the contract suites share beyond tests/conftest.py: a service log witnessed by two litewitness."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest
from flask import Flask

from process_memory import create_app
from process_memory.anchoring.anchorer import Anchorer, AnchoringSettings
from process_memory.anchoring.witnesses import parse_witnesses
from process_memory.proofs.notes import Signer, generate_key
from tests.conftest import Backend, WitnessPair


@dataclasses.dataclass
class Witnessed:
    """An app over the backend whose service log two witnesses cosign, and its anchorer."""

    app: Flask
    anchorer: Anchorer
    origin: str
    signer: Signer
    witnesses: WitnessPair


@pytest.fixture
def witnessed(backend: Backend, witness_pair: WitnessPair) -> Witnessed:
    """The backend's app, signing as a new origin both witnesses know (quorum 2), and an anchorer run by hand."""
    origin = f"pm.test/{uuid.uuid4().hex[:12]}"  # a log of its own at each witness
    signer = Signer.from_key(generate_key(origin)[0])
    for witness in witness_pair.witnesses:
        witness.add_log(origin, signer.verifier_key)
    configured = parse_witnesses(";".join(f"{w.verifier_key} {w.url}" for w in witness_pair.witnesses))
    settings = dataclasses.replace(
        backend.settings, signing_key=signer, log_origin=origin, witnesses=configured, witness_quorum=2
    )
    app = create_app(settings, history_store=backend.store)
    anchoring = AnchoringSettings(signer, origin, configured, 2)
    anchorer = Anchorer(backend.store, anchoring, lambda: datetime.now(UTC), holder="test")
    return Witnessed(app, anchorer, origin, signer, witness_pair)


def append_entries(witnessed: Witnessed, instance_id: str, count: int) -> None:
    """Append ``count`` entries to the instance through the API."""
    client = witnessed.app.test_client()
    for n in range(count):
        assert client.post(f"/api/v1/instances/{instance_id}/history", json={"type": "t", "data": n}).status_code == 201
