"""The stores' schemas made once, before gunicorn's workers serve: ``python -m process_memory.schemas``.

gunicorn's master runs it in a process of its own (``gunicorn.conf.py`` ``when_ready``): a database client made
in the master itself would be forked into every worker, its threads with it. Exit status 0 when the schemas are
ready, 2 for a configuration the app refuses (each worker then reports it), 1 when the database failed (each
worker's first use then tries again); the line on stderr names the error's type, never its text, which may
carry a URL's credentials.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Create the history's and the SQL state store's schemas, as ``Services.prepare_schemas``; return the status."""
    from process_memory.app import create_app
    from process_memory.services import services

    try:
        running = services(create_app())
    except Exception as error:  # noqa: BLE001 - a refused configuration is the workers' to report
        print(f"process-memory: configuration refused ({type(error).__name__})", file=sys.stderr)
        return 2
    try:
        running.prepare_schemas()
    except Exception as error:  # noqa: BLE001 - any failure is the workers' to meet and report
        print(f"process-memory: schemas not prepared ({type(error).__name__})", file=sys.stderr)
        return 1
    finally:
        running.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
