"""The reprocessing view's graph: what was read (a tag's table, and an entity when one is asked), the runs that read
it, and the run each one's reprocessing would run again, laid out in three columns and drawn as SVG by
``_lineage_graph.html`` (no script: the page's policy allows none inline, and the graph needs none)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The columns' left edges, a node's size and the space between rows, in SVG user units (pixels).
COLUMNS = (10, 330, 650)
NODE_WIDTH, NODE_HEIGHT, ROW = 280, 28, 38
#: Characters of a label a node shows; the whole label is its tooltip.
LABEL_CHARACTERS = 34


@dataclass(frozen=True)
class Node:
    """A box of the graph: where it is, what it says, and the instance it links to (None: the source)."""

    x: int
    y: int
    label: str
    title: str
    kind: str
    instance_id: str | None = None


@dataclass(frozen=True)
class Edge:
    """A line from the right side of one node to the left side of another."""

    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class Graph:
    """Every node and edge, and the drawing's size."""

    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int


def _label(text: str, room: int = LABEL_CHARACTERS) -> str:
    return text if len(text) <= room else text[: room - 1] + "…"


def lineage_graph(tag: str, table: str, entities: list[str], readers: list[dict[str, Any]]) -> Graph:
    """The graph of one page of readers: the source on the left, each reader in the middle, and on the right
    the reprocess that would run again in its place (a reader that was never reprocessed runs again itself)."""
    rows = max(len(readers), 1)
    height = rows * ROW + 20
    read = f"{tag} › {table}" + (f" · {', '.join(entities)}" if entities else "")
    source = Node(COLUMNS[0], (height - NODE_HEIGHT) // 2, _label(read), read, "source")
    nodes, edges = [source], []
    for row, reader in enumerate(readers):
        y = 10 + row * ROW
        instance, current = reader["instance_id"], reader["current_instance_id"]
        itself = current == instance
        kind = "reader reruns" if itself else "reader"
        shown = f"↻ {_label(instance, LABEL_CHARACTERS - 2)}" if itself else _label(instance)
        nodes.append(Node(COLUMNS[1], y, shown, instance, kind, instance))
        edges.append(_edge(source, COLUMNS[1], y))
        if not itself:
            nodes.append(
                Node(COLUMNS[2], y, _label(current), f"{current}: the reprocess of {instance}", "rerun", current)
            )
            edges.append(Edge(COLUMNS[1] + NODE_WIDTH, y + NODE_HEIGHT // 2, COLUMNS[2], y + NODE_HEIGHT // 2))
    return Graph(nodes, edges, COLUMNS[2] + NODE_WIDTH + 10, height)


def _edge(source: Node, x: int, y: int) -> Edge:
    return Edge(source.x + NODE_WIDTH, source.y + NODE_HEIGHT // 2, x, y + NODE_HEIGHT // 2)
