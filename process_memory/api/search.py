"""Search across instances: entries by type and time, from an index."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from process_memory.api import ApiBlueprint, history_service
from process_memory.api.instances import next_link
from process_memory.api.schemas import SearchArgsSchema, SearchPageSchema
from process_memory.history.service import format_timestamp
from process_memory.history.store import SearchQuery

blp = ApiBlueprint("search", __name__, description="Entries of every instance, by type and time")


@blp.route("")
class Search(MethodView):
    """All histories at once."""

    @blp.arguments(SearchArgsSchema, location="query")
    @blp.response(200, SearchPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Find entries of any instance by type and recorded time, oldest first."""
        since, until = args.get("since"), args.get("until")
        query = SearchQuery(
            type=args.get("type"),
            since=format_timestamp(since) if since else None,
            until=format_timestamp(until) if until else None,
            limit=args["limit"],
        )
        items, cursor = history_service().search(query, args.get("after"))
        return {"items": items, "next": cursor}, 200, next_link("after", cursor)
