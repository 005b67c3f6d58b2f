"""Render the nginx site for a given listen address, upstream (one app host, or several) and body limit:
`make nginx-config`.

    python -m process_memory.deploy --listen 80 --upstream unix:/run/process-memory/gunicorn.sock \\
        --max-body 67108864 > /etc/nginx/sites-available/process-memory
    python -m process_memory.deploy --listen 80 --upstream 10.0.1.11:8000 10.0.1.12:8000 > ...
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "nginx" / "process_memory.conf"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_SAFE = re.compile(r"[A-Za-z0-9_.:/\[\]\-]+")


def render_nginx_config(
    listen: str, upstream: str | Sequence[str], max_body: int, server_name: str = "_", template: str | None = None
) -> str:
    """Return the nginx site with every placeholder filled; refuse values that could inject directives.

    ``upstream`` is gunicorn's address, or the addresses of several app hosts: each becomes a ``server`` of the
    upstream, and nginx sends a request that could not reach one host (refused, or timed out connecting) on to
    the next.
    """
    hosts = [upstream] if isinstance(upstream, str) else list(upstream)
    if not hosts:
        raise ValueError("upstream names no app host")
    values = {"listen": listen, "max_body": str(max_body), "server_name": server_name}
    for name, value in [*values.items(), *(("upstream", host) for host in hosts)]:
        if not _SAFE.fullmatch(value):
            raise ValueError(f"{name} holds characters an nginx value cannot have")
    values["upstream_servers"] = "\n".join(f"    server {host};" for host in hosts)
    text = template if template is not None else TEMPLATE.read_text()
    missing = set(_PLACEHOLDER.findall(text)) - set(values)
    if missing:
        raise ValueError(f"the template names unknown placeholders: {', '.join(sorted(missing))}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def main(argv: list[str] | None = None) -> int:
    """Print the rendered site."""
    from process_memory.config import DEFAULT_MAX_REQUEST_BYTES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="80", help="port or address:port nginx listens on")
    parser.add_argument(
        "--upstream",
        nargs="+",
        default=["127.0.0.1:8000"],
        help="gunicorn's address: host:port or unix:/path/to.sock; several app hosts: one address each",
    )
    parser.add_argument(
        "--max-body", type=int, default=DEFAULT_MAX_REQUEST_BYTES, help="PROCESS_MEMORY_MAX_REQUEST_BYTES"
    )
    parser.add_argument("--server-name", default="_")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(render_nginx_config(args.listen, args.upstream, args.max_body, args.server_name))
    except ValueError as error:
        print(f"nginx-config: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
