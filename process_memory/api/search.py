"""Search across instances: entries by type and time, from an index."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from process_memory.api import ApiBlueprint, history_service, paged, within_key
from process_memory.api.schemas import SearchArgsSchema, SearchPageSchema
from process_memory.history.store import SearchQuery

blp = ApiBlueprint("search", __name__, description="Entries of every instance, by type and time")


@blp.route("")
class Search(MethodView):
    """All histories at once."""

    @blp.arguments(SearchArgsSchema(), location="query")
    @blp.response(200, SearchPageSchema)
    def get(self, query: SearchQuery) -> Any:
        """Find entries of any instance by type and recorded time, oldest first."""
        return paged(history_service().search(within_key(query)), "after")
