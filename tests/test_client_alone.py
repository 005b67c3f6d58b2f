"""The client stands alone: importing it, and checking an export offline with ``process-memory verify``, load no
module of the server and none of its libraries (the web framework, the drivers, the serializers)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from process_memory import create_app
from process_memory.config import Settings
from process_memory.proofs.notes import Signer, generate_key

#: What the client, its command and the offline verifier may load of this project: the client, the proofs and
#: the pure modules they share with the service (the entry record, canonical JSON, ids and times, errors).
SHARED = {"process_memory", "process_memory.chain", "process_memory.entry", "process_memory.exceptions"}
SHARED |= {"process_memory.formats"}
SHARED_PACKAGES = ("process_memory.client", "process_memory.proofs")
#: The service's libraries, none of which the client may load.
SERVER_LIBRARIES = {
    "apispec", "bson", "dotenv", "flask", "flask_smorest", "gevent", "gunicorn", "marshmallow", "prometheus_client",
    "psycopg", "pymongo", "redis", "snappy", "sqlalchemy", "webargs", "werkzeug",
}  # fmt: skip

_RUN = """
import json, sys
import process_memory.client
from process_memory.client.cli import main
try:
    main(["verify", sys.argv[1], "--checkpoint", sys.argv[2], "--key", sys.argv[3]], standalone_mode=False)
finally:
    with open(sys.argv[4], "w") as loaded:
        json.dump(sorted(sys.modules), loaded)
"""


def _loaded_by_a_verify(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    signer_key, verifier_key = generate_key("pm.alone")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}",
        signing_key=Signer.from_key(signer_key),
        log_origin="pm.alone",
    )
    client, iid = create_app(settings).test_client(), str(uuid.uuid4())
    for n in range(5):
        assert (
            client.post(f"/api/v1/instances/{iid}/history", json={"type": "row", "data": {"n": n}}).status_code == 201
        )
    (tmp_path / "export.ndjson").write_bytes(client.get(f"/api/v1/instances/{iid}/export").data)
    (tmp_path / "checkpoint").write_text(client.get(f"/api/v1/instances/{iid}/checkpoint").get_json()["note"])
    files = [str(tmp_path / name) for name in ("export.ndjson", "checkpoint")]
    ran = subprocess.run(
        [sys.executable, "-c", _RUN, *files, verifier_key, str(tmp_path / "modules.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return ran, json.loads((tmp_path / "modules.json").read_text())


def test_verify_loads_no_module_of_the_server(tmp_path: Path) -> None:
    ran, modules = _loaded_by_a_verify(tmp_path)
    assert ran.returncode == 0 and ran.stdout.startswith("ok: 5 entries"), ran.stderr
    ours = [name for name in modules if name.split(".")[0] == "process_memory"]
    assert [name for name in ours if name not in SHARED and not name.startswith(SHARED_PACKAGES)] == []
    assert "process_memory.proofs.exports" in ours  # the check really ran through the verifier
    assert sorted({name.split(".")[0] for name in modules} & SERVER_LIBRARIES) == []


def test_importing_the_client_loads_no_module_of_the_server() -> None:
    probe = "import json, sys, process_memory.client; print(json.dumps(sorted(sys.modules)))"
    modules = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout)
    ours = [name for name in modules if name.split(".")[0] == "process_memory"]
    assert [name for name in ours if name not in SHARED and not name.startswith(SHARED_PACKAGES)] == []
    assert sorted({name.split(".")[0] for name in modules} & SERVER_LIBRARIES) == []
