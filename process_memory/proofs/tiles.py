"""A log served as C2SP tlog-tiles: hash tiles and entry bundles of height 8, named as ``golang.org/x/mod/sumdb/tlog``
and ``filippo.io/torchwood`` name them.

- ``tile/<L>/<N>[.p/<W>]``: the hashes at tree level 8·L of nodes 256·N to 256·N + W − 1, 32 bytes each; a full
  tile has W = 256 and never changes, a partial one (``.p/W``) exists while the tree's right edge is inside it.
- ``tile/entries/<N>[.p/<W>]``: the entries (leaves' data) 256·N to 256·N + W − 1, each as a big-endian uint16
  length and its bytes.

``N`` is written in groups of three digits, each group but the last prefixed by ``x``: 1234067 is
``x001/x234/067``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from process_memory.proofs.tlog import HashReader, stored_hash_index

#: Levels of the tree per tile: a tile holds 2**8 = 256 hashes or entries.
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
#: The level of an entry bundle, as tlog names data tiles.
ENTRIES = -1
#: An entry bundle keeps each entry's length in two bytes.
MAX_ENTRY = 0xFFFF

_PATH = re.compile(r"(entries|[0-9]{1,2})/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]{1,3}))?")


class TileError(ValueError):
    """A tile path that names no tile of the log as it is."""


@dataclass(frozen=True)
class Tile:
    """One tile: its level (ENTRIES for an entry bundle), its index, and how many hashes or entries it holds."""

    level: int
    index: int
    width: int

    @property
    def path(self) -> str:
        """The tile's path below the log's prefix."""
        name = "entries" if self.level == ENTRIES else str(self.level)
        partial = f".p/{self.width}" if self.width < TILE_WIDTH else ""
        return f"tile/{name}/{encode_index(self.index)}{partial}"


def encode_index(index: int) -> str:
    """The tile index in groups of three digits: 1234067 → ``x001/x234/067``."""
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{group}" for group in groups[:-1]), groups[-1]])


def parse_tile_path(path: str) -> Tile:
    """The tile a path (``tile/…`` stripped of ``tile/``) names; raise TileError when it is malformed."""
    match = _PATH.fullmatch(path)
    if match is None:
        raise TileError("a tile path is <level>/<index>[.p/<width>] or entries/<index>[.p/<width>]")
    name, encoded, width = match.groups()
    groups = encoded.split("/")
    if len(groups) > 1 and groups[0] == "x000":
        raise TileError("a tile index has no leading zero groups")
    level = ENTRIES if name == "entries" else int(name)
    size = int(width) if width is not None else TILE_WIDTH
    if not 1 <= size < TILE_WIDTH and width is not None:
        raise TileError("a partial tile's width is from 1 to 255")
    return Tile(level, int(encoded.replace("x", "").replace("/", "")), size)


def tile_exists(tile: Tile, size: int) -> bool:
    """Whether the log of ``size`` leaves has this tile exactly (a partial tile only while it is the right edge)."""
    level = 0 if tile.level == ENTRIES else tile.level
    nodes = size >> (TILE_HEIGHT * level)
    full = nodes // TILE_WIDTH
    if tile.width == TILE_WIDTH:
        return tile.index < full
    return tile.index == full and tile.width == nodes % TILE_WIDTH


def read_hash_tile(tile: Tile, read: HashReader) -> bytes:
    """The hashes of a hash tile, read from the log's stored hashes."""
    level = TILE_HEIGHT * tile.level
    first = tile.index * TILE_WIDTH
    return b"".join(read([stored_hash_index(level, first + i) for i in range(tile.width)]))


def entry_bundle(entries: Sequence[bytes]) -> bytes:
    """The entries as a bundle: each one's length in two bytes, big-endian, then its bytes."""
    return b"".join(struct.pack(">H", len(entry)) + entry for entry in entries)


def read_entry_bundle(bundle: bytes) -> list[bytes]:
    """The entries of a bundle; raise TileError when it is cut short."""
    entries, at = [], 0
    while at < len(bundle):
        if at + 2 > len(bundle):
            raise TileError("an entry bundle ends inside a length")
        (length,) = struct.unpack_from(">H", bundle, at)
        if at + 2 + length > len(bundle):
            raise TileError("an entry bundle ends inside an entry")
        entries.append(bundle[at + 2 : at + 2 + length])
        at += 2 + length
    return entries
