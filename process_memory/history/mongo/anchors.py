"""The service log's collections on MongoDB (anchoring/leaves.py names them): the indexes its reads use, and the
summaries' index an anchoring round reads the instances it looks at from."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database


def create_anchor_indexes(database: Database[Any], prefix: str) -> None:
    """Create the service log's indexes, and the summaries' by the time of their last entry."""
    database[f"{prefix}_instances"].create_index(
        [("last_recorded_at", ASCENDING), ("_id", ASCENDING)], name="last_recorded_at"
    )
    database[f"{prefix}_anchor_leaves"].create_index(
        [("instance_id", ASCENDING), ("size", ASCENDING)], name="instance_size"
    )
    database[f"{prefix}_anchor_checkpoints"].create_index([("quorum", ASCENDING), ("_id", ASCENDING)], name="quorum")
