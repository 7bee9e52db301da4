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
from ..model.layers import Conv, FeatureMap, Pool, Residual, shape_text

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
class LayeredDrawing:
    columns: tuple
    steps: tuple
    marks: tuple
    width: float
    height: float
    title: str


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
        text = f"residual + a{_superscript(spec.source)}" if spec.source else "residual + x"
    else:
        text = layer.type
    lines = tuple(text.split(", ", 1))
    latex = tuple(line.replace("×", r"$\times$").replace("_", r"\_") for line in lines)
    if isinstance(spec, Residual):
        latex = (f"residual + ${printing.latex(FeatureMap('a', spec.source))}$",)
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


def layered_layout(network) -> LayeredDrawing:
    """Place every value of ``network`` as a column of stacked rectangles, with the layers between them."""
    shapes = network.shapes
    extents = [_extent(s) for s in shapes]
    cell = min(CELL, *(LARGEST / max(rows, cols) for _, rows, cols in extents))
    heights = [rows * cell + (min(c, STACK_LIMIT) - 1) * STACK_OFFSET for c, rows, _ in extents]
    tallest = max(heights)
    middle = MARGIN + TOP + tallest / 2
    columns, x = [], MARGIN
    for index, (shape, (channels, rows, cols)) in enumerate(zip(shapes, extents)):
        drawn = min(channels, STACK_LIMIT)
        width, height = cols * cell, rows * cell
        total_w = width + (drawn - 1) * STACK_OFFSET
        total_h = height + (drawn - 1) * STACK_OFFSET
        top = middle - total_h / 2
        kind = "vector" if len(shape) == 1 else "map"
        rects = tuple(Rect(kind, index, _r(x + (drawn - 1 - k) * STACK_OFFSET), _r(top + k * STACK_OFFSET),
                           _r(width), _r(height), rows, cols) for k in range(drawn))  # the back one first
        symbol = FeatureMap("a", index)
        columns.append(Column(index, rects, printing.latex(symbol), printing.text(symbol), shape_text(shape),
                              r"\times ".join(map(str, shape)), _r(x + total_w / 2), _r(top), _r(top + total_h),
                              _r(x + total_w)))
        x += total_w + GAP
    marks, steps = [], []
    for layer in network.layers:
        l = layer.index
        before, after = columns[l - 1], columns[l]
        text, latex = _settings(layer)
        skip_from = skip_top = skip_y = None
        if isinstance(layer.spec, Residual):
            source = columns[layer.spec.source]
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
    height = _r(MARGIN + TOP + tallest + BELOW + MARGIN)
    return LayeredDrawing(tuple(columns), tuple(steps), tuple(marks), width, height, network.name)


__all__ = ["LayeredDrawing", "layered_layout"]
