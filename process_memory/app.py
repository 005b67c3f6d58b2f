"""The service as a WSGI app: create_app() reads the settings once and runs the named register_* steps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask, Response, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from process_memory.anchoring.anchorer import Anchorer, AnchoringSettings
from process_memory.anchoring.loop import AnchoringLoop
from process_memory.api.access import guard_named_instances, recording_caller, register_access_control
from process_memory.bodies import TOO_LARGE, WholeBodies
from process_memory.commands import register_commands
from process_memory.config import Settings
from process_memory.history.service import HistoryService
from process_memory.history.store import HistoryStore
from process_memory.history.wakeups import HostWakeups, wakeup_directory
from process_memory.http_errors import register_error_handlers
from process_memory.memory import memory_index_of
from process_memory.memory.projection import MemoryProjection
from process_memory.memory.queries import LineageService
from process_memory.memory.service import MemoryService
from process_memory.observability import (
    configure_json_logging,
    record_appends,
    record_waiting,
    register_request_observers,
)
from process_memory.registry import HISTORY_STORES, STATE_STORES, history_backend
from process_memory.services import Services
from process_memory.state import INSTANCE_STATE_NAMESPACE, ExpirySweeper, StateService
from process_memory.stores import StateStore


def create_app(
    config: Settings | None = None,
    history_store: HistoryStore | None = None,
    state_store: StateStore | None = None,
) -> Flask:
    """Build the WSGI app from ``config`` (default: the environment and ``.env``)."""
    settings = config or Settings.from_env()
    # Every route is in the route table (api/access.py), so no static folder of Flask's own. The history
    # browser's templates are the app's: its swagger_ui.html replaces flask-smorest's inline-script page.
    app = Flask("process_memory", static_folder=None, template_folder="ui/templates")
    # Routing never redirects (/ui -> /ui/, // -> /): Werkzeug would build an absolute Location from the
    # request's Host, which behind a proxy is not the client's. /ui serves as /ui/ does.
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    app.config["SETTINGS"] = settings
    # Werkzeug refuses longer bodies while reading; the hook below refuses them before.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    configure_json_logging()
    register_proxy_trust(app, settings)
    register_services(app, settings, history_store, state_store)
    register_request_observers(app)
    register_access_control(app)
    register_request_limits(app, settings)
    register_error_handlers(app)
    register_security_headers(app)
    register_blueprints(app)
    register_commands(app)
    return app


def register_proxy_trust(app: Flask, settings: Settings) -> None:
    """Believe X-Forwarded-For/-Proto from exactly as many proxies as configured (nginx: one)."""
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)  # type: ignore[method-assign]


def register_services(
    app: Flask, settings: Settings, history_store: HistoryStore | None, state_store: StateStore | None
) -> None:
    """Create the history and state services over the configured stores (connections open lazily, after fork)."""
    store = history_store or HISTORY_STORES.create(history_backend(settings), settings)
    memory_index = memory_index_of(store)
    history = HistoryService(
        store,
        settings.max_inline_data,
        recorder=recording_caller,
        projections=[MemoryProjection(instance_guard=guard_named_instances)],
        max_waiting=settings.max_tail_waiting,
        tail_poll_seconds=settings.tail_poll_ms / 1000,
        wakeups=HostWakeups(wakeup_directory(store.describe())),
    )
    history.notifier.listeners.append(record_appends)
    history.notifier.waiting_listeners.append(record_waiting)
    memory = MemoryService(history, memory_index)
    root = state_store or STATE_STORES.create(settings.state_backend, settings)
    sweeper = ExpirySweeper(root, settings.state_sweep_seconds)
    anchoring = anchoring_loop(store, settings, history.context.clock)
    Services(
        history=history,
        memory=memory,
        lineage=LineageService(memory),
        state=StateService(root.with_namespace(INSTANCE_STATE_NAMESPACE), settings.state_ttl),
        state_root=root,
        sweeper=sweeper,
        anchoring=anchoring,
    ).install(app)

    @app.before_request
    def start_background_threads() -> None:
        # Started by the first request of each worker: a thread started before a fork would not survive it.
        sweeper.ensure_running()
        if anchoring is not None:
            anchoring.ensure_running()


def anchors(settings: Settings) -> bool:
    """Whether the settings anchor the service log: a signing key, and a round every so many seconds (not 0)."""
    return settings.signing_key is not None and settings.anchor_seconds > 0


def anchoring_loop(store: HistoryStore, settings: Settings, clock: Callable[[], datetime]) -> AnchoringLoop | None:
    """The service log's anchoring loop the settings ask for: none without a signing key, or at 0 seconds."""
    if settings.signing_key is None or not anchors(settings):  # the first test narrows the key's type
        return None
    anchoring = AnchoringSettings(
        settings.signing_key, settings.log_origin, settings.witnesses, settings.witness_quorum
    )
    return AnchoringLoop(Anchorer(store, anchoring, clock), settings.anchor_seconds)


def register_request_limits(app: Flask, settings: Settings) -> None:
    """Refuse a body over the limit from its Content-Length, before reading it, and a path holding NUL."""

    app.wsgi_app = WholeBodies(app.wsgi_app, settings.max_request_bytes)  # type: ignore[method-assign]

    @app.before_request
    def refuse_large_bodies() -> None:
        too_large = request.environ.get(TOO_LARGE) or (request.content_length or 0) > settings.max_request_bytes
        if too_large:
            raise RequestEntityTooLarge(f"the body is larger than {settings.max_request_bytes} bytes")
        if "\0" in request.path:  # no backend keys NUL alike (PostgreSQL text cannot hold it)
            raise BadRequest("the path holds NUL (%00)")


#: Sent with every page (the history browser, its error pages, the API docs): they run only the service's own
#: script files (no inline script, no eval), load nothing from elsewhere, and cannot be framed.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def register_security_headers(app: Flask) -> None:
    """No answer is sniffed as another type than it says; every HTML page also gets :data:`PAGE_HEADERS`.

    Only pages get the policy: a JSON answer runs nothing, and the API's answers are the hot path.
    """

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if response.mimetype == "text/html":
            response.headers.extend(PAGE_HEADERS)
        return response


def register_blueprints(app: Flask) -> None:
    """Mount the API and the history browser."""
    from process_memory.api import health, register_api
    from process_memory.ui import register_ui

    app.register_blueprint(health.blp)
    register_api(app)
    register_ui(app)
