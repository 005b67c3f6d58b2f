"""WSGI entry point: ``gunicorn wsgi:process_memory_app``."""

from __future__ import annotations

import sys

from process_memory import create_app
from process_memory.config import ConfigError

try:
    process_memory_app = create_app()
except ConfigError as error:
    # One line naming the variable; the value is never printed (it may be a secret).
    print(f"process-memory: configuration error: {error}", file=sys.stderr)
    raise SystemExit(3) from None
