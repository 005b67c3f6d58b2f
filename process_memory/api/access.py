"""Who may call what: the route table and the one hook that enforces it.

Every route the app serves has a line in :data:`ROUTE_SCOPES`, by endpoint and
method; a route without one is refused to everyone (and fails the scope-matrix
test), so a new route cannot be served open by accident. The key comes as
``Authorization: Bearer <key>`` or as the password of HTTP Basic, so that a
client configured with a URL (``http://name:KEY@host/``) carries it unchanged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask, current_app, g, has_request_context, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from process_memory.auth import SCOPES, ApiKey, find_key
from process_memory.config import Settings

#: No key needed.
OPEN = "open"
#: /metrics: admin, unless PROCESS_MEMORY_METRICS_OPEN=1.
METRICS = "metrics"
#: The path parameters that name instances: a key with a prefix must cover each of them.
INSTANCE_ARGUMENTS = ("instance_id", "source", "target")
#: Headers a proxy adds (the rendered nginx site always sets X-Forwarded-For): a keyless service refuses
#: any request carrying one, or any other X-Forwarded-* header, since it came from somewhere other than this host.
PROXY_HEADERS = frozenset({"forwarded", "x-real-ip", "via"})
PROXY_HEADER_PREFIX = "x-forwarded-"

_READ, _APPEND, _STATE, _ADMIN = SCOPES

#: The routes across instances that answer a key limited to a prefix within it: each handler passes
#: :func:`caller_prefix` to the service, or checks every instance id the request names. Any other route
#: without an instance in its path refuses such a key (403), so a new listing cannot leak by accident.
PREFIX_SCOPED = frozenset(
    {
        "instances.Instances",
        "search.Search",
        "lineage.Readers",
        "lineage.Events",
        "lineage.Items",
        "compatibility.instance_ids",
        "platform.by_entities",
        "platform.by_tags",
        "platform.events_between",
        "platform.current_events_between",
        "platform.filters_by_ids",
        "platform.filters_by_ids_and_types",
        "ui.instances",
        "ui.search",
        "ui.reprocessing",
        # The service checkpoint names no instance: only a size and a root.
        "service_log.Checkpoint",
    }
)

#: endpoint -> method -> the scope it needs (or OPEN, METRICS).
ROUTE_SCOPES: dict[str, dict[str, str]] = {
    "health.healthz": {"GET": OPEN},
    "health.readyz": {"GET": OPEN},
    "health.metrics": {"GET": METRICS},
    "api-docs.openapi_json": {"GET": OPEN},
    "api-docs.openapi_swagger_ui": {"GET": OPEN},
    # /api/v1
    "instances.Instances": {"GET": _READ},
    "instances.Instance": {"GET": _READ},
    "instances.History": {"GET": _READ, "POST": _APPEND},
    "instances.HistoryBatch": {"POST": _APPEND},
    "instances.Entry": {"GET": _READ},
    "instances.Head": {"GET": _READ},
    "instances.First": {"GET": _READ},
    "instances.Verify": {"GET": _READ},
    "instances.Export": {"GET": _READ},
    "instances.Clone": {"POST": _APPEND},
    "instances.Import": {"POST": _ADMIN},
    "redactions.Redaction": {"POST": _ADMIN},
    "state.InstanceState": {"GET": _STATE, "PUT": _STATE, "DELETE": _STATE},
    "search.Search": {"GET": _READ},
    "memory.Memory": {"GET": _READ},
    "lineage.Readers": {"GET": _READ},
    "lineage.Events": {"GET": _READ},
    "lineage.Items": {"GET": _READ},
    "proofs.InstanceCheckpoint": {"GET": _READ},
    "proofs.InclusionProof": {"GET": _READ},
    "proofs.ConsistencyProof": {"GET": _READ},
    "anchors.Anchor": {"GET": _READ},
    # The service log's leaves name every instance: a key limited to a prefix cannot read them.
    "service_log.Checkpoint": {"GET": _READ},
    "service_log.LogConsistency": {"GET": _READ},
    "service_log.log_checkpoint": {"GET": _READ},
    "service_log.log_tile": {"GET": _READ},
    # The history browser reads as the API does; its assets, the Swagger UI's and / hold no data.
    "ui.instances": {"GET": _READ},
    "ui.timeline": {"GET": _READ},
    "ui.badge": {"GET": _READ},
    "ui.held": {"GET": _READ},
    "ui.timeline_rows": {"GET": _READ},
    "ui.search": {"GET": _READ},
    "ui.goto": {"GET": _READ},
    "ui.entry": {"GET": _READ},
    "ui.reprocessing": {"GET": _READ},
    "ui.static": {"GET": OPEN},
    "ui_root.root": {"GET": OPEN},
    "ui_root.swagger_assets": {"GET": OPEN},
    # Public keys: an auditor checks checkpoints with them, and needs no key of this service to get them.
    "verifier_keys.VerifierKeys": {"GET": OPEN},
    # The platform's routes (docs/compatibility.md)
    "compatibility.create": {"POST": _APPEND},
    "compatibility.commit": {"POST": _APPEND},
    "compatibility.create_memory": {"POST": _APPEND},
    "compatibility.memory": {"GET": _READ, "POST": _APPEND},
    "compatibility.memory_commit": {"POST": _APPEND},
    "compatibility.MemoryHead": {"GET": _READ},
    "compatibility.clone": {"POST": _APPEND},
    "compatibility.node_clone": {"POST": _APPEND},
    "compatibility.reproduction": {"POST": _APPEND},
    "compatibility.first_event": {"GET": _READ},
    "compatibility.first_list": {"GET": _READ},
    "compatibility.first_n": {"GET": _READ},
    "compatibility.history_list": {"GET": _READ},
    "compatibility.instance_ids": {"GET": _READ},
    "compatibility.instance_info": {"GET": _READ},
    "platform.head": {"GET": _READ},
    "platform.event": {"GET": _READ},
    "platform.payload": {"GET": _READ},
    "platform.fork": {"GET": _READ},
    "platform.entities": {"GET": _READ},
    "platform.maps": {"GET": _READ},
    "platform.instance_filter": {"GET": _READ},
    "platform.inputs": {"GET": _READ},
    "platform.by_entities": {"POST": _READ},
    "platform.by_tags": {"POST": _READ},
    "platform.events_between": {"POST": _READ},
    "platform.current_events_between": {"POST": _READ},
    "platform.filters_by_ids": {"POST": _READ},
    "platform.filters_by_ids_and_types": {"POST": _READ},
}

#: Both schemes are offered: a browser prompts for Basic; API clients send Bearer.
_CHALLENGES = [WWWAuthenticate(scheme, {"realm": "process-memory"}) for scheme in ("basic", "bearer")]


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the key's name (None with no keys configured) and what it may do."""

    name: str | None
    scopes: frozenset[str]
    prefix: str | None = None

    def covers(self, instance_id: str) -> bool:
        """Whether the caller may reach ``instance_id``."""
        return self.prefix is None or instance_id.startswith(self.prefix)


#: Everyone, when no keys are configured.
ANONYMOUS = Caller(None, frozenset(SCOPES))


def presented_key(authorization: str | None) -> str | None:
    """Return the key in an Authorization header (Bearer, or Basic's password), or None."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, colon, password = decoded.partition(":")
        return password if colon and password else None
    return None


def caller_of(keys: Iterable[ApiKey], authorization: str | None) -> Caller | None:
    """Return the caller an Authorization header names, or None when it names no configured key."""
    secret = presented_key(authorization)
    key = find_key(keys, secret) if secret is not None else None
    return Caller(key.name, key.scopes, key.prefix) if key else None


def _request_caller() -> Caller | None:
    """The caller ``check_access`` found for the current request; None outside a request or before the check."""
    return g.get("caller") if has_request_context() else None


def caller_prefix() -> str:
    """The instance prefix the request's key is limited to; empty when it reaches every instance."""
    caller = _request_caller()
    return caller.prefix or "" if caller is not None else ""


def caller_may(scope: str) -> bool:
    """Whether the request's key has ``scope`` (anonymous callers, with no keys configured, have every one): what a
    page asks before it shows something another route would guard by that scope."""
    caller = _request_caller()
    return caller is not None and scope in caller.scopes


def recording_caller() -> str | None:
    """The name of the key the current request came with: each entry records it as ``recorded_by``."""
    caller = _request_caller()
    return caller.name if caller is not None else None


def required_scope(endpoint: str | None, method: str) -> str | None:
    """The scope a route needs; None when the route table has no rule for it (then nobody gets in)."""
    rule = ROUTE_SCOPES.get(endpoint or "", {})
    return rule.get("GET" if method in ("HEAD", "OPTIONS") else method)


def check_access() -> None:
    """Let the request through, or abort with 401 (no valid key) or 403 (no scope, or outside the key's prefix)."""
    settings: Settings = current_app.config["SETTINGS"]
    if not settings.requires_keys and not settings.auth_off:
        refuse_proxied_requests()
    if request.url_rule is None:
        return  # the 404 or 405 follows; it says nothing about what exists for this key
    scope = required_scope(request.endpoint, request.method)
    if scope == OPEN or (scope == METRICS and settings.metrics_open):
        return
    if not settings.requires_keys:
        g.caller = ANONYMOUS
    else:
        caller = caller_of(settings.api_keys, request.headers.get("Authorization"))
        if caller is None:
            raise Unauthorized(
                "a valid API key is required: Authorization: Bearer <key>, or Basic with the key as password",
                www_authenticate=_CHALLENGES,
            )
        g.caller = caller
    if scope is None:
        raise Forbidden("this route is not open to any key")
    needed = _ADMIN if scope == METRICS else scope
    if needed not in g.caller.scopes:
        raise Forbidden(f"this key lacks the {needed} scope")
    check_instances(*(str(value) for name, value in (request.view_args or {}).items() if name in INSTANCE_ARGUMENTS))
    names_instance = any(name in INSTANCE_ARGUMENTS for name in request.view_args or {})
    if g.caller.prefix is not None and not names_instance and request.endpoint not in PREFIX_SCOPED:
        raise Forbidden("this key is limited to an instance prefix: this route needs a key without one")


def refuse_proxied_requests() -> None:
    """Refuse (403) a request that came through a proxy: without keys the service serves this host alone.

    Checked on every route, open ones included, so that a keyless service behind nginx is plainly
    closed rather than half open.
    """
    names = (name.lower() for name in request.headers.keys())
    if any(name in PROXY_HEADERS or name.startswith(PROXY_HEADER_PREFIX) for name in names):
        raise Forbidden(
            "this service has no API keys, so it answers only requests made on its own host, not through a "
            "proxy: set PROCESS_MEMORY_API_KEYS_FILE (docs/security.md), or PROCESS_MEMORY_AUTH=off to serve "
            "it open on purpose"
        )


def check_instances(*instance_ids: str) -> None:
    """Refuse with 403 unless the request's key covers every one of ``instance_ids`` (a clone's target, say)."""
    caller: Caller = g.get("caller") or ANONYMOUS
    if not all(caller.covers(instance_id) for instance_id in instance_ids):
        raise Forbidden("this key does not cover this instance")


def guard_named_instances(instance_ids: list[str]) -> None:
    """Refuse (403) instance ids a request names inside its body (a memory document's original instance,
    say) that its key does not cover; injected into the history service beside :func:`recording_caller`."""
    if has_request_context() and instance_ids:
        check_instances(*instance_ids)


def register_access_control(app: Flask) -> None:
    """Check every request against the route table before its handler runs."""
    app.before_request(check_access)
