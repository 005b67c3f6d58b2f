"""Property: any JSON value posted as data or metadata comes back as the same JSON, on every backend."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from process_memory.chain import canonical_json
from process_memory.memory.document import MEMORY_MARKER

API = "/api/v1/instances"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


RESERVED = {MEMORY_MARKER, "cloned_from", "imported_from", "redacted"}


def exact(value: Any) -> str:
    """A spelling that tells 1 from 1.0 and -0.0 from 0.0, which == does not."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Any key but the one that marks the data as a memory document, which must then be one (test_platform_memory.py),
# and those only the service writes (test_trust.py).
@given(
    data=json_values,
    metadata=st.dictionaries(st.text(max_size=16).filter(lambda key: key not in RESERVED), json_values, max_size=4),
)
def test_any_json_round_trips_exactly(client: FlaskClient, data: Any, metadata: dict[str, Any]) -> None:
    iid = str(uuid.uuid4())
    posted = client.post(f"{API}/{iid}/history", json={"type": "p", "data": data, "metadata": metadata})
    assert posted.status_code == 201, posted.get_data(as_text=True)
    fetched = client.get(f"{API}/{iid}/history/0").get_json()
    assert exact(fetched["data"]) == exact(data)
    assert exact(fetched["metadata"]) == exact(metadata)
    assert fetched["size"] == len(canonical_json(data))
    assert client.get(f"{API}/{iid}/verify").get_json()["ok"] is True
