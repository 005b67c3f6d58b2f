"""The operator's console script: ``process-memory-admin history init|gc|reindex|redact``, ``state init``, ``keys``.

The same commands as ``flask --app process_memory …``, installed with the package, on the service's own
configuration. The client's command, ``process-memory``, is process_memory/client/cli.py.
"""

from __future__ import annotations

from flask.cli import FlaskGroup

from process_memory import create_app

admin = FlaskGroup(
    name="process-memory-admin",
    create_app=create_app,
    add_default_commands=False,
    help="Maintain process-memory's history and state stores (configured as the service is: environment and .env).",
)
