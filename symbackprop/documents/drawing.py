"""The drawing of a network as data: where each node and edge goes and how it is labelled.

:func:`layout` places a :class:`~symbackprop.spec.Network` once; the templates
``drawing/network.tikz.j2`` (a ``tikzpicture``) and ``drawing/network.svg.j2``
(a standalone SVG) only draw what it returns. Every label comes from
:mod:`symbackprop.printing` in the requested notation.

Coordinates are abstract units (the TikZ template draws one unit as 1 cm),
rounded to 2 decimals, with x growing to the right and y growing *downwards*,
so that neuron 1 of a layer is at the top of its column. Every node, edge and
layer label lies inside ``[0, width] × [0, height]``.

Columns are the canonical layers: column 0 holds the inputs, column l the
neurons of layer l. The bias of layer l is drawn as Ng's bias unit, a node
labelled 1 at the top of column l - 1, with one edge to every shown neuron of
layer l. A layer with more than ``max_neurons`` neurons shows its first
``max_neurons - 2`` neurons, an ellipsis node and its last neuron; edges join
shown neurons, inputs and bias units only.

>>> from symbackprop.model.spec import Network
>>> d = layout(Network([2, 2, 2], bias=False))
>>> [node.text for node in d.nodes]
['x₁', 'x₂', 'a²₁', 'a²₂', 'a³₁', 'a³₂']
>>> len(d.edges), d.edges[0].text
(8, 'w²₁₁')
>>> [label.text for label in d.layer_labels]
['x', 'a²', 'a³']
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from . import printing
from ..errors import SpecError
from ..model.symbols import LayerMatrix, Quantity

#: edges carry their parameter's symbol when the network has at most this many parameters (edges)
EDGE_LABEL_LIMIT = 12
#: (horizontal distance between two columns, vertical distance between two nodes of a column)
SPACING = (3.0, 1.5)
#: the same when edges are labelled: room for the labels of crossing edges
LABELLED_SPACING = (3.5, 2.0)
#: radius of a node's circle
RADIUS = 0.45
#: space around the outermost nodes
MARGIN = 0.6
#: distance from the centre of a column's lowest node to its layer label
LABEL_GAP = 1.1
#: where a weight's label sits, as a fraction of the way from source to target: near the target,
#: where the edges into one neuron fan apart
WEIGHT_LABEL_AT = 0.7
#: where a bias's label sits: near the bias unit, where its edges fan apart, away from the weights' labels
BIAS_LABEL_AT = 0.35


@dataclass(frozen=True)
class Node:
    """A node of the drawing.

    ``layer`` is the canonical column (0 for the inputs). ``neuron`` is the
    1-based neuron index, 0 for a bias unit and None for an ellipsis. ``kind`` is
    ``"input"``, ``"neuron"``, ``"bias"`` or ``"ellipsis"``; an ellipsis has
    empty labels (the templates draw it as vertical dots). ``id`` is a name
    usable in TikZ and as an XML id.
    """

    id: str
    layer: int
    neuron: int | None
    x: float
    y: float
    kind: str
    latex: str
    text: str
    #: the node's number across the whole network, in a notation that numbers nodes (w_{35} joins nodes 3 and 5)
    number: int | None = None


@dataclass(frozen=True)
class Edge:
    """A directed edge from ``source_id`` to ``target_id``, labelled with its parameter or unlabelled ("").

    ``x1, y1`` and ``x2, y2`` are the points where the edge leaves the source's
    circle and meets the target's; the label goes at ``(label_x, label_y)``, the
    fraction ``label_at`` of the way between the two centres, rotated by
    ``angle`` degrees (clockwise, since y grows downwards) to follow the edge.
    """

    source_id: str
    target_id: str
    latex: str
    text: str
    x1: float
    y1: float
    x2: float
    y2: float
    label_x: float
    label_y: float
    label_at: float
    angle: float


@dataclass(frozen=True)
class LayerLabel:
    """The symbol of a column's vector (x for the inputs, a^l for layer l), centred at ``(x, y)`` below it."""

    layer: int
    x: float
    y: float
    latex: str
    text: str


@dataclass(frozen=True)
class Drawing:
    """Everything the drawing templates need: nodes, edges, one label per column and the extent."""

    sizes: tuple[int, ...]
    notation: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    layer_labels: tuple[LayerLabel, ...]
    width: float
    height: float
    radius: float

    def node(self, node_id: str) -> Node:
        """The node named ``node_id``."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


def shown_neurons(size: int, max_neurons: int) -> list[int | None]:
    """The 1-based neurons a column of ``size`` shows, top to bottom, None standing for the ellipsis.

    >>> shown_neurons(3, 6)
    [1, 2, 3]
    >>> shown_neurons(784, 6)
    [1, 2, 3, 4, None, 784]
    """
    if size <= max_neurons:
        return list(range(1, size + 1))
    return [*range(1, max_neurons - 1), None, size]


def layout(network, notation: str = "nielsen", max_neurons: int = 6) -> Drawing:
    """Place the nodes, edges and layer labels of ``network`` for drawing in ``notation``."""
    if isinstance(max_neurons, bool) or not isinstance(max_neurons, int) or max_neurons < 3:
        raise SpecError(
            f"max_neurons is {max_neurons!r}; expected an integer >= 3 "
            "(room for the first neurons, an ellipsis and the last neuron)"
        )
    printing.notation(notation)  # an unknown notation is reported before anything is printed
    sizes = network.sizes
    tex = lambda expr: printing.latex(expr, notation=notation, sizes=sizes)  # noqa: E731
    show = lambda expr: printing.text(expr, notation=notation, sizes=sizes)  # noqa: E731
    labelled = network.parameter_count <= EDGE_LABEL_LIMIT
    column_gap, row_gap = LABELLED_SPACING if labelled else SPACING
    has_bias = {layer.index - 1: layer.bias for layer in network.layers}  # column -> bias unit above it

    columns = [shown_neurons(size, max_neurons) for size in sizes]
    # a column's slots, top to bottom: its bias unit (if any), then its shown neurons
    slots = [len(col) + (1 if has_bias.get(c, False) else 0) for c, col in enumerate(columns)]
    neuron_rows = [len(col) for col in columns]
    tallest = max(neuron_rows)
    # the shown neurons of every column are centred on one line; bias units sit above them
    top = min((tallest - rows) / 2 - (slots[c] - rows) for c, rows in enumerate(neuron_rows))
    bottom = max((tallest + rows) / 2 - 1 for rows in neuron_rows)

    def place(column: int, row: float) -> tuple[float, float]:
        """Centre of the node in ``row`` (0 = top of the centred neuron block) of ``column``."""
        x = MARGIN + RADIUS + column * column_gap
        y = MARGIN + RADIUS + (row - top) * row_gap
        return _round(x), _round(y)

    nodes: list[Node] = []
    by_key: dict[tuple[int, int], Node] = {}  # (column, neuron) -> node; neuron 0 is a bias unit
    for c, col in enumerate(columns):
        first_row = (tallest - len(col)) / 2
        if has_bias.get(c, False):
            x, y = place(c, first_row - 1)
            node = Node(f"l{c}b", c, 0, x, y, "bias", tex(sp.S.One), show(sp.S.One))
            nodes.append(node)
            by_key[(c, 0)] = node
        for row, j in enumerate(col):
            x, y = place(c, first_row + row)
            if j is None:
                nodes.append(Node(f"l{c}e", c, None, x, y, "ellipsis", "", ""))
                continue
            q = Quantity("x", j) if c == 0 else Quantity("a", c, j)
            number = sum(sizes[:c]) + j if printing.notation(notation).global_nodes else None
            node = Node(f"l{c}n{j}", c, j, x, y, "input" if c == 0 else "neuron", tex(q), show(q), number)
            nodes.append(node)
            by_key[(c, j)] = node

    edges: list[Edge] = []
    for layer in network.layers:
        l = layer.index
        sources = [j for j in columns[l - 1] if j is not None]
        for j in columns[l]:
            if j is None:
                continue
            target = by_key[(l, j)]
            if layer.bias:
                edges.append(_edge(by_key[(l - 1, 0)], target, Quantity("b", l, j), labelled, tex, show))
            for k in sources:
                edges.append(_edge(by_key[(l - 1, k)], target, Quantity("w", l, j, k), labelled, tex, show))

    label_y = _round(MARGIN + RADIUS + (bottom - top) * row_gap + LABEL_GAP)
    vectors = [LayerMatrix("a", c, size) for c, size in enumerate(sizes)]  # printed as x for c = 0
    layer_labels = tuple(
        LayerLabel(c, place(c, 0)[0], label_y, tex(vector), show(vector)) for c, vector in enumerate(vectors)
    )
    width = _round(2 * (MARGIN + RADIUS) + (len(sizes) - 1) * column_gap)
    height = _round(label_y + MARGIN)
    return Drawing(tuple(sizes), notation, tuple(nodes), tuple(edges), layer_labels, width, height, RADIUS)


def _edge(source: Node, target: Node, parameter: Quantity, labelled: bool, tex, show) -> Edge:
    dx, dy = target.x - source.x, target.y - source.y
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    at = BIAS_LABEL_AT if parameter.kind == "b" else WEIGHT_LABEL_AT
    return Edge(
        source.id,
        target.id,
        tex(parameter) if labelled else "",
        show(parameter) if labelled else "",
        _round(source.x + RADIUS * ux),
        _round(source.y + RADIUS * uy),
        _round(target.x - RADIUS * ux),
        _round(target.y - RADIUS * uy),
        _round(source.x + at * dx),
        _round(source.y + at * dy),
        at,
        _round(math.degrees(math.atan2(dy, dx))),
    )


def _round(value: float) -> float:
    """``value`` to 2 decimals, without a negative zero."""
    return round(value, 2) + 0.0
