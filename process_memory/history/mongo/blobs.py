"""Offloaded data on MongoDB: a GridFS file per entry whose data is over DOCDB_MAX_DATA, their sweep, and erasing
an entry's data for good (history/redacting.py)."""

from __future__ import annotations

from datetime import datetime

import gridfs
from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import ConnectionFailure

from process_memory.db import unavailable_on
from process_memory.entry import DATA_FIELD, ERASED_DATA
from process_memory.history.mongo.database import MongoCollections
from process_memory.history.store import BlobStore, Erasure

_unavailable_on_network_error = unavailable_on(ConnectionFailure)


class GridFSBlobs(BlobStore):
    """The GridFS bucket beside the entries collection."""

    def __init__(self, collections: MongoCollections) -> None:
        self._collections = collections

    def _bucket(self) -> gridfs.GridFSBucket:
        return gridfs.GridFSBucket(
            self._collections.database(), bucket_name=f"{self._collections.collection_name}_blobs"
        )

    @_unavailable_on_network_error
    def put_blob(self, instance_id: str, entry_id: str, compressed: bytes) -> str:
        """Store compressed data in GridFS and return its file id."""
        file_id = self._bucket().upload_from_stream(
            entry_id, compressed, metadata={"instance_id": instance_id, "entry_id": entry_id}
        )
        return str(file_id)

    @_unavailable_on_network_error
    def get_blob(self, ref: str) -> bytes:
        """Read a GridFS file whole."""
        try:
            with self._bucket().open_download_stream(ObjectId(ref)) as stream:
                return stream.read()
        except (gridfs.errors.NoFile, gridfs.errors.CorruptGridFile, InvalidId):
            raise KeyError(ref) from None

    @_unavailable_on_network_error
    def delete_blob(self, ref: str) -> None:
        """Delete a GridFS file and its chunks."""
        try:
            self._bucket().delete(ObjectId(ref))
        except gridfs.errors.NoFile:
            pass

    @_unavailable_on_network_error
    def delete_orphan_blobs(self, older_than: datetime) -> int:
        """Delete GridFS files, and chunks of uploads that never finished, that no entry refers to."""
        database = self._collections.database()
        bucket_name = f"{self._collections.collection_name}_blobs"
        files, chunks = database[f"{bucket_name}.files"], database[f"{bucket_name}.chunks"]
        entries = self._collections.entries()
        cutoff = ObjectId.from_datetime(older_than)
        deleted = 0
        for file_doc in files.find({"_id": {"$lt": cutoff}}, {"_id": 1}):
            if entries.find_one({"data_blob": file_doc["_id"]}, {"_id": 1}) is None:
                self._bucket().delete(file_doc["_id"])
                deleted += 1
        # An upload killed half-way leaves chunks whose files document was never written.
        for chunk in chunks.find({"files_id": {"$lt": cutoff}, "n": 0}, {"files_id": 1}):
            if files.find_one({"_id": chunk["files_id"]}, {"_id": 1}) is None:
                chunks.delete_many({"files_id": chunk["files_id"]})
                deleted += 1
        return deleted


class MongoErasure(Erasure):
    """Erasing entries' data in their documents, and their GridFS files."""

    def __init__(self, collections: MongoCollections, blobs: GridFSBlobs) -> None:
        self._collections = collections
        self._blobs = blobs

    @_unavailable_on_network_error
    def erase_data(self, instance_id: str, seq: int, redacted_json: str) -> None:
        """Make the entry's data JSON null and record ``redacted_json``, then delete its GridFS file (a crash in
        between leaves the file to ``history gc``: no entry refers to it any more)."""
        erased = {DATA_FIELD: ERASED_DATA, "data_blob": None, "redacted_json": redacted_json}
        at_entry = {"instance_id": instance_id, "seq": seq}
        before = self._collections.entries().find_one(at_entry)  # FerretDB 1.x has no findAndModify with a projection
        self._collections.entries().update_one(at_entry, {"$set": erased})
        if before is not None and before.get("data_blob") is not None:
            self._blobs.delete_blob(str(before["data_blob"]))
