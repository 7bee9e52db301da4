"""The drawing of a network of layers as data: the shape of every value, left to right.

:func:`layered_layout` places a :class:`~symbackprop.model.layers.LayeredNetwork` once; the templates
``drawing/layers.svg.j2`` (a standalone SVG) and ``drawing/layers.tikz.j2`` (a ``tikzpicture``) only
draw what it returns. Each value of the network (the input, then every layer's output) is a column:

* a map of C channels is C rectangles stacked one behind the other, each as many cells high and wide
  as the map has rows and columns (a 1-D map is one row of cells); at most :data:`STACK_LIMIT`
  rectangles are drawn, the count is in the shape below;
* a vector is a single column of cells, one per entry.

Under each column its symbol (x, a^1, …) and its shape; between two columns an arrow and the layer
that maps one to the other (its type and settings). On the map a convolution or pooling layer reads,
a dashed square in its first corner shows the kernel or the window, with the output entry it gives
marked in the next map; a dense layer's arrow fans out from the whole column.

A recurrent part (the input sequence and the rnn layers that read it) is drawn unrolled instead, as
:class:`Unrolled`: a row of vectors per value (the input at the bottom, each rnn layer's state above),
a column per step, U arrows up from each input to its state, W arrows from each state to the next,
from the zero state before the first step; all steps up to :data:`ALL_STEPS`, beyond that the first
two, an ellipsis and the last. The states the layer gives leave upwards (every step's, or the last
one's when nothing follows); a layer after the recurrent part reads the last state.

Coordinates are abstract units (the TikZ template draws one unit as 1 cm), rounded to 2 decimals,
x growing to the right and y downwards.

>>> from symbackprop.model.layers import LayeredNetwork, conv2d, dense, maxpool
>>> d = layered_layout(LayeredNetwork([1, 6, 6], [conv2d(2, 3, activation="relu"), maxpool(2), dense(3, "softmax")]))
>>> [c.shape for c in d.columns]
['1×6×6', '2×4×4', '2×2×2', '3']
>>> [(b.kind, b.column) for b in d.marks]
[('kernel', 0), ('entry', 1), ('window', 1), ('entry', 2)]
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import printing
from ..model.layers import Conv, FeatureMap, Pool, Recurrent, Residual, shape_text

#: the most channels drawn as stacked rectangles
STACK_LIMIT = 4
#: the side of a cell, and the largest extent of a map or vector, before it is scaled down to fit
CELL = 0.3
LARGEST = 3.6
#: the offset between stacked channels, the gap between columns, the space around everything
STACK_OFFSET = 0.18
GAP = 2.4
MARGIN = 0.5
#: room above the columns (for a residual layer's arc) and below them (for the symbol and the shape)
TOP = 0.9
BELOW = 1.3


@dataclass(frozen=True)
class Rect:
    """A rectangle at (x, y) (its top-left corner) of ``width`` × ``height``, with ``rows`` × ``cols`` cells
    drawn inside it when both are given (``kind`` is ``map``, ``vector``, ``kernel``, ``window`` or ``entry``)."""

    kind: str
    column: int
    x: float
    y: float
    width: float
    height: float
    rows: int
    cols: int


@dataclass(frozen=True)
class Column:
    """A value of the network: its rectangles (back first), its symbol, its shape, where its labels go."""

    index: int
    rects: tuple
    latex: str
    text: str
    shape: str
    shape_latex: str
    x: float
    top: float
    bottom: float
    right: float


@dataclass(frozen=True)
class Step:
    """The arrow from one column to the next and the layer it stands for (its words above the arrow)."""

    layer: int
    x1: float
    x2: float
    y: float
    #: the words in lines (the type and size first, the other settings after), as text and as LaTeX
    text: tuple
    latex: tuple
    #: a residual layer's skip: the column whose value it adds, drawn as an arc above (None otherwise)
    skip_from: float | None = None
    skip_top: float | None = None
    skip_y: float | None = None
    #: where the skip's arc ends: the top of the column the residual layer gives
    skip_to: float | None = None
    skip_end: float | None = None


@dataclass(frozen=True)
class Node:
    """A vector of the unrolled recurrence: ``kind`` is ``input`` (x_t), ``state`` (a_t) or ``zero`` (the
    state before the first step); a column of ``rows`` cells with its top-left corner at (x, y), its
    label beside it (above and to the right of a state, below an input or the zero state)."""

    kind: str
    row: int
    step: int
    x: float
    y: float
    width: float
    height: float
    rows: int
    latex: str
    text: str


@dataclass(frozen=True)
class Link:
    """An arrow of the unrolled recurrence: ``U`` (input to state), ``W`` (state to the next state),
    ``initial`` (the zero state to the first) or ``output`` (a state the layer gives), with its label."""

    kind: str
    x1: float
    y1: float
    x2: float
    y2: float
    latex: str
    text: str


@dataclass(frozen=True)
class Unrolled:
    """The input sequence and the recurrent layers that read it, drawn step by step: a row of nodes per
    value (the input at the bottom), the steps drawn (all of them, or the first two, an ellipsis and
    the last), each step's number under it."""

    steps: int
    nodes: tuple
    links: tuple
    #: (x, y) of each ellipsis standing for the steps not drawn
    gaps: tuple
    #: (x, y, text) of each step's number under the input row
    labels: tuple


@dataclass(frozen=True)
class LayeredDrawing:
    columns: tuple
    steps: tuple
    marks: tuple
    width: float
    height: float
    title: str
    #: the recurrent part, unrolled over its steps (None for a network without a recurrent layer)
    unrolled: Unrolled | None = None


def _r(value: float) -> float:
    return round(value, 2) + 0.0


def _settings(layer) -> tuple[tuple, tuple]:
    """The layer's words above its arrow in lines, as text and as LaTeX (math in $…$)."""
    spec = layer.spec
    act = f", {layer.activation.label}" if layer.activation is not None else ""
    if isinstance(spec, Conv):
        side = "×".join([str(spec.kernel)] * spec.dims)
        extra = (f", stride {spec.stride}" if spec.stride != 1 else "") + (f", pad {spec.padding}" if spec.padding else "")
        text = f"{layer.type} {side}, {spec.channels} ch{extra}{act}"
    elif isinstance(spec, Pool):
        side = "×".join([str(spec.size)] * (len(layer.input_shape) - 1))
        text = f"{layer.type} {side}" + (f", stride {spec.step}" if spec.step != spec.size else "")
    elif layer.type == "dense":
        text = f"dense {spec.size}{act}"
    elif isinstance(spec, Residual):
        text = (f"residual + a{_superscript(spec.source)}" if spec.source else "residual + x") + act
    else:
        text = layer.type
    lines = tuple(text.split(", ", 1))
    latex = tuple(line.replace("×", r"$\times$").replace("_", r"\_") for line in lines)
    if isinstance(spec, Residual):
        latex = (f"residual + ${printing.latex(FeatureMap('a', spec.source))}$", *latex[1:])
    return lines, latex


def _superscript(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _extent(shape: tuple) -> tuple[int, int, int]:
    """(channels, rows, columns of cells) of a value: a vector is one column of its entries."""
    if len(shape) == 1:
        return 1, shape[0], 1
    if len(shape) == 2:
        return shape[0], 1, shape[1]
    return shape[0], shape[1], shape[2]


#: unrolled steps: the distance between two steps, the vertical room between two rows (the U arrow),
#: the length of an output arrow, the most steps drawn before the middle ones become an ellipsis
PITCH = 1.6
ROW_GAP = 0.9
OUTPUT = 0.55
ALL_STEPS = 4


def _subscript(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _recurrent_end(network) -> int:
    """The last layer of the recurrent part: the rnn layers that read the input sequence one after the
    other (0 when the input is no sequence)."""
    end = 0
    if network.steps is None:
        return end
    for layer in network.layers:
        if not isinstance(layer.spec, Recurrent):
            break
        end = layer.index
        if layer.spec.output != "every":
            break
    return end


def _unroll(network, end: int, cell: float, left: float, middle: float) -> tuple[Unrolled, Column, float, float]:
    """The input sequence and the rnn layers 1 … ``end`` over their steps, the last layer's row centred
    on ``middle``; with the column that stands for the last value, the right edge and the bottom."""
    steps = network.steps
    shown = list(range(1, steps + 1)) if steps <= ALL_STEPS else [1, 2, None, steps]
    sizes = [network.shapes[0][1]] + [network.layers[l - 1].spec.size for l in range(1, end + 1)]
    heights = [size * cell for size in sizes]
    centres, y = [0.0] * len(sizes), middle
    for row in range(len(sizes) - 1, -1, -1):
        if row < len(sizes) - 1:
            y += heights[row + 1] / 2 + ROW_GAP + heights[row] / 2
        centres[row] = y
    xs = [left + cell / 2 + PITCH * (k + 1) for k in range(len(shown))]
    nodes, links, gaps = [], [], []
    grid = {}  # (row, slot) → node
    for row, size in enumerate(sizes):
        symbol = FeatureMap("a", row)
        base_latex, base_text = printing.latex(symbol), printing.text(symbol)
        top = centres[row] - heights[row] / 2
        if row > 0:
            zero = Node("zero", row, 0, _r(left), _r(top), _r(cell), _r(heights[row]), size,
                        f"{base_latex}_{{0}} = 0", f"{base_text}₀ = 0")
            nodes.append(zero)
            grid[row, -1] = zero
        for slot, (t, cx) in enumerate(zip(shown, xs)):
            if t is None:
                gaps.append((_r(cx), _r(centres[row])))
                continue
            node = Node("input" if row == 0 else "state", row, t, _r(cx - cell / 2), _r(top), _r(cell),
                        _r(heights[row]), size, f"{base_latex}_{{{t}}}", base_text + _subscript(t))
            nodes.append(node)
            grid[row, slot] = node
    for row in range(1, len(sizes)):
        weight = FeatureMap("W", row)
        w_latex, w_text = printing.latex(weight), printing.text(weight)
        u = FeatureMap("U", row)
        y = _r(centres[row])
        previous = grid[row, -1]
        for slot, (t, cx) in enumerate(zip(shown, xs)):
            if t is None:
                links.append(Link("W", _r(previous.x + cell + 0.1), y, _r(cx - 0.3), y, w_latex, w_text))
                previous, gap = None, cx
                continue
            node = grid[row, slot]
            start = _r(previous.x + cell + 0.1) if previous is not None else _r(gap + 0.3)
            links.append(Link("initial" if previous is grid[row, -1] else "W", start, y, _r(node.x - 0.1), y,
                              w_latex, w_text))
            below = grid[row - 1, slot]
            links.append(Link("U", _r(cx), _r(below.y - 0.08), _r(cx), _r(node.y + node.height + 0.08),
                              printing.latex(u), printing.text(u)))
            previous = node
    layer = network.layers[end - 1]
    last_row = len(sizes) - 1
    given = [node for node in nodes if node.row == last_row and node.kind == "state"]
    if layer.spec.output == "last":
        given = given[-1:] if end == len(network.layers) else []
    for node in given:
        cx = _r(node.x + cell / 2)
        links.append(Link("output", cx, _r(node.y - 0.08), cx, _r(node.y - OUTPUT), "", ""))
    bottom = centres[0] + heights[0] / 2
    labels = tuple((_r(cx), _r(bottom + 0.5), f"t = {t}" if t != steps or t <= ALL_STEPS else f"t = T = {t}",
                    f"$t = {t}$" if t != steps or t <= ALL_STEPS else f"$t = T = {t}$")
                   for t, cx in zip(shown, xs) if t is not None)
    last = grid[last_row, len(shown) - 1]
    symbol = FeatureMap("a", end)
    shape = network.shapes[end]
    anchor = Column(end, (Rect("vector", end, last.x, last.y, last.width, last.height, last.rows, 1),),
                    printing.latex(symbol), printing.text(symbol), shape_text(shape),
                    r"\times ".join(map(str, shape)), _r(last.x + cell / 2), last.y, _r(last.y + last.height),
                    _r(last.x + cell))
    unrolled = Unrolled(steps, tuple(nodes), tuple(links), tuple(gaps), labels)
    return unrolled, anchor, xs[-1] + cell / 2 + 0.6, bottom + 0.6


def layered_layout(network) -> LayeredDrawing:
    """Place every value of ``network`` as a column of stacked rectangles, with the layers between them;
    a recurrent part (the input sequence and the rnn layers reading it) unrolled over its steps."""
    shapes = network.shapes
    end = _recurrent_end(network)
    first = end + 1 if end else 0  # the first value drawn as a column
    extents = [_extent(s) for s in shapes]
    sizes = [extents[i] for i in range(first, len(shapes))]
    sides = [max(rows, cols) for _, rows, cols in sizes]
    if end:
        sides += [shapes[0][1]] + [network.layers[l - 1].spec.size for l in range(1, end + 1)]
    cell = min(CELL, *(LARGEST / side for side in sides))
    heights = [rows * cell + (min(c, STACK_LIMIT) - 1) * STACK_OFFSET for c, rows, _ in extents]
    above = below = max((heights[i] / 2 for i in range(first, len(shapes))), default=0.0)
    if end:
        last_size = network.layers[end - 1].spec.size
        above = max(above, last_size * cell / 2 + OUTPUT + 0.35)
    middle = MARGIN + TOP + above
    columns, anchors, x, unrolled = [], {}, MARGIN, None
    if end:
        unrolled, anchor, right, block_bottom = _unroll(network, end, cell, x, middle)
        anchors.update({i: anchor for i in range(end + 1)})
        below = max(below, block_bottom - middle - BELOW + 0.4)
        x = right + GAP - 0.6 if end < len(network.layers) else right + GAP
    for index in range(first, len(shapes)):
        shape, (channels, rows, cols) = shapes[index], extents[index]
        drawn = min(channels, STACK_LIMIT)
        width, height = cols * cell, rows * cell
        total_w = width + (drawn - 1) * STACK_OFFSET
        total_h = height + (drawn - 1) * STACK_OFFSET
        top = middle - total_h / 2
        kind = "vector" if len(shape) == 1 else "map"
        rects = tuple(Rect(kind, index, _r(x + (drawn - 1 - k) * STACK_OFFSET), _r(top + k * STACK_OFFSET),
                           _r(width), _r(height), rows, cols) for k in range(drawn))  # the back one first
        symbol = FeatureMap("a", index)
        column = Column(index, rects, printing.latex(symbol), printing.text(symbol), shape_text(shape),
                        r"\times ".join(map(str, shape)), _r(x + total_w / 2), _r(top), _r(top + total_h),
                        _r(x + total_w))
        columns.append(column)
        anchors[index] = column
        x += total_w + GAP
    marks, steps = [], []
    for layer in network.layers[end:]:
        l = layer.index
        before, after = anchors[l - 1], anchors[l]
        text, latex = _settings(layer)
        skip_from = skip_top = skip_y = None
        if isinstance(layer.spec, Residual):
            source = anchors[layer.spec.source]
            skip_from, skip_top, skip_y = source.x, source.top, _r(MARGIN + TOP / 3)
        steps.append(Step(l, _r(before.right + 0.15), _r(after.rects[0].x - 0.15), _r(middle), text, latex,
                          skip_from, skip_top, skip_y, *((after.x, _r(after.top - 0.05)) if skip_from is not None
                                                          else (None, None))))
        spec = layer.spec
        if isinstance(spec, (Conv, Pool)):
            side = spec.kernel if isinstance(spec, Conv) else spec.size
            front, target = before.rects[-1], after.rects[-1]
            rows = side if front.rows > 1 else 1
            marks.append(Rect("kernel" if isinstance(spec, Conv) else "window", l - 1, front.x, front.y,
                              _r(side * cell), _r(rows * cell), rows, side))
            marks.append(Rect("entry", l, target.x, target.y, _r(cell), _r(cell), 1, 1))
    width = _r(x - GAP + MARGIN)
    height = _r(middle + below + BELOW + MARGIN)
    return LayeredDrawing(tuple(columns), tuple(steps), tuple(marks), width, height, network.name, unrolled)


__all__ = ["LayeredDrawing", "layered_layout"]
