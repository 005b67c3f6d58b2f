"""The history browser at /ui/ (Jinja2 pages over the same services as the API), and the API docs' assets.

Pages need the ``read`` scope like the API; a browser's own Basic-auth prompt supplies the key (any user name,
the key as password). An error on a page is the API's error, shown as a page: same status, same message, and
the same challenge on a 401 so that the browser prompts.
"""

from __future__ import annotations

from flask import Flask, Response, render_template, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from werkzeug.http import HTTP_STATUS_CODES

from process_memory.ui.pages import blp, root_blp
from process_memory.ui.steps import duration

#: Where the Swagger UI's files are served from: the swagger-ui-bundle package, never a CDN.
SWAGGER_ASSETS = "/api/v1/docs/assets/"


@root_blp.route(f"{SWAGGER_ASSETS}<path:filename>")
def swagger_assets(filename: str) -> Response:
    """A file of the Swagger UI, from the installed package (air-gapped deployments have no CDN)."""
    return send_from_directory(str(swagger_ui_path), filename, max_age=86400)


def errors_as_pages(response: Response) -> Response:
    """Show an error answer under /ui/ (JSON, from the app's one error handler) as a page with the same status and
    headers: a page's own, and a path under /ui/ that no page matches."""
    if not request.path.startswith(blp.url_prefix or "/ui"):
        return response
    if response.status_code < 400 or response.mimetype != "application/json" or request.endpoint == "ui.badge":
        return response
    error = (response.get_json(silent=True) or {}).get("error") or {}
    page = render_template(
        "error.html",
        status=response.status_code,
        title=HTTP_STATUS_CODES.get(response.status_code, "Error"),
        message=error.get("message", ""),
        details=error.get("details"),  # which field is wrong, as the API says
    )
    response.set_data(page)
    response.mimetype = "text/html"
    return response


def readable_size(size: int) -> str:
    """A byte count as people read one: 512 B, 9.5 KiB, 725 KiB, 15 MiB."""
    shown, unit = float(size), "B"
    for larger in ("KiB", "MiB", "GiB"):
        if shown < 1024:
            break
        shown, unit = shown / 1024, larger
    return f"{size} B" if unit == "B" else f"{shown:.1f} {unit}" if shown < 10 else f"{shown:.0f} {unit}"


def register_ui(app: Flask) -> None:
    """Serve the history browser at /ui/ (and / redirects there), and the Swagger UI from its package."""
    app.add_template_filter(readable_size)
    app.add_template_filter(duration, "seconds_as_duration")
    app.register_blueprint(blp)
    app.register_blueprint(root_blp)
    # On the app, not the blueprint: a blueprint's hooks do not run for a path that matched none of its rules.
    app.after_request(errors_as_pages)
