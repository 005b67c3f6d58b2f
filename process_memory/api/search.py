"""Search across instances: entries by type and time, from an index."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from process_memory.api import ApiBlueprint, history_service, next_link, within_key
from process_memory.api.rendering import page_response
from process_memory.api.schemas import SearchArgsSchema, SearchPageSchema
from process_memory.history.queries import SearchQuery

blp = ApiBlueprint("search", __name__, description="Entries of every instance, by type and time")


@blp.route("")
class Search(MethodView):
    """All histories at once."""

    @blp.arguments(SearchArgsSchema(), location="query")
    @blp.response(200, SearchPageSchema)
    def get(self, query: SearchQuery) -> Any:
        """Find entries of any instance by type and recorded time, oldest first."""
        page = history_service().reader.search(within_key(query))
        return page_response(page, next_link("after", page.next))
