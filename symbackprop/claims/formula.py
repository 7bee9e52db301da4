"""Reading formulas: a gradient written by hand, as the engine's SymPy objects.

A *claim* such as ``\\frac{\\partial C}{\\partial w^{3}_{12}} = (a^{3}_{1} - y_{1})
\\sigma'(z^{3}_{1}) a^{2}_{2}`` is read against one network in one notation of
:data:`symbackprop.printing.NOTATIONS` and becomes a :class:`Claim`: what the
left-hand side names (a :class:`Target` with a canonical key) and the right-hand
side as a SymPy expression (or an ``ImmutableMatrix`` for vectors and matrices)
over the engine's :class:`~symbackprop.symbols.Quantity` symbols.

This module reads claims and formulas; each job of reading has a module of its own in this package:

- :mod:`~symbackprop.claims.reading`: what the readers of written mathematics share (errors with a caret,
  bounds on the text, exact numbers, grammars), here and in :mod:`symbackprop.graph.analysis`;
- :mod:`~symbackprop.claims.lexing`: LaTeX and plain text into the tokens and parse tree of ``formula.lark``
  (LALR, linear time); nothing the user writes is ever evaluated as Python or handed to SymPy's parsers;
- :mod:`~symbackprop.claims.symbol_table`: the symbols of a network in a notation, read back from the
  printer's own output, so that the notation is never restated;
- :mod:`~symbackprop.claims.transform`: the parse tree as SymPy values (shapes checked, sums expanded,
  work bounded);
- :mod:`~symbackprop.claims.extraction`: the equations of a document and the sides of a chain.

Hostile text is refused before it costs anything: more than :data:`MAX_LENGTH`
characters or brackets nested deeper than :data:`MAX_NESTING` before parsing,
exponents outside ±:data:`MAX_EXPONENT` and numbers of more than :data:`MAX_DIGITS`
digits before they are computed, sums expanding to more than :data:`MAX_TERMS`
terms before they are expanded.

>>> from symbackprop.model.spec import Network
>>> net = Network([2, 3, 2])
>>> parse_formula("w^{3}_{12} a^{2}_{2}", net)
a[1,2]*w[2,1,2]
>>> claim = parse_claim(r"\\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \\sigma'(z^{3}_{1})", net)
>>> claim.target
Target(kind='delta', key=('delta', 2, 1))
>>> parse_formula("w^3_41", net)
Traceback (most recent call last):
...
symbackprop.claims.transform.FormulaRangeError: w^3_41 is out of range: j = 4, but layer 3 has neurons 1..2 (w^{3}_{jk} has j in 1..2, k in 1..3)
  w^3_41
  ^
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp
from lark import Token, Tree

from ..documents.printing import notation as lookup_notation
from ..errors import SpecError, unknown_name
from ..model.activations import Activation
from ..model.symbols import COST, LayerMatrix, Quantity
from .extraction import _top_level_equals, extract_equations, split_chain
from .lexing import _NAME, MAX_SUMS, _choose_syntax, _parse, _prepare, _token
from .reading import MAX_DIGITS, MAX_EXPONENT, MAX_LENGTH, MAX_NESTING, FormulaError, check_bounds, place
from .symbol_table import _group_items, _symbol_parts, _symbol_table
from .transform import (
    MAX_TERMS, STARS, FormulaFreeIndexError, FormulaRangeError, FormulaShapeError, Mismatch, _Reader, _shape_of,
    _symbol_occurrences,
)

__all__ = [
    "FormulaError", "FormulaShapeError", "Mismatch", "Target", "Claim", "parse_claim", "parse_formula", "split_chain", "extract_equations",
    "MAX_LENGTH", "MAX_NESTING", "MAX_SUMS", "MAX_EXPONENT", "MAX_DIGITS", "MAX_TERMS",
]

# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Target:
    """What the left-hand side of a claim names, by canonical key.

    ``kind`` is ``"gradient"`` (key ``("w", l, j, k)`` or ``("b", l, j)``), ``"delta"``
    (``("delta", l, j)``), ``"gradient_matrix"`` (``("W", l)`` or ``("b", l)``),
    ``"delta_vector"`` (``("delta", l)``), ``"cost"`` (``("C",)``: the cost itself, C = ...) or
    ``"matrix"`` (a matrix written entry by entry: the key is its rows, each a tuple of the Targets
    of its entries, gradients or errors).
    """

    kind: str
    key: tuple


@dataclass(frozen=True)
class Claim:
    """A claim ``LHS = RHS`` read against a network."""

    text: str
    target: Target
    rhs: object  # sympy.Expr, or sympy.ImmutableMatrix for a vector or matrix; None when its shapes do not fit
    rhs_text: str
    #: the :class:`Mismatch` of every product whose shapes do not fit (``parse_claim(..., repair=True)``);
    #: ``rhs`` is then the formula with each mismatch repaired, or None when no repair fits.
    repairs: tuple = ()
    #: whether the right-hand side is one matrix written entry by entry (\begin{bmatrix} ... \end{bmatrix})
    entrywise: bool = False
    #: the :class:`~symbackprop.claims.transform.Narrowed` sums (``repair=True``): sums whose symbols exist for different values of the
    #: index, read over the values where all of them exist
    narrowed: tuple = ()


# ---------------------------------------------------------------------------- public API


def _read(text: str, network, notation: str, syntax: str, start: str, star: str = "product"):
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be text, got {type(text).__name__}")
    if star not in STARS:
        raise FormulaError(unknown_name("meaning of *", star, STARS))
    check_bounds(text)
    table = _symbol_table(network, notation)
    prepared = _prepare(text)
    if not prepared.strip():
        raise FormulaError("the formula is empty; expected an expression", text, 0, ["an expression"])
    chosen = _choose_syntax(prepared, syntax)
    tree = _parse(prepared, chosen, start)
    reader = _Reader(prepared, table, chosen)
    reader.rules = {layer.activation.name: layer.activation for layer in network.layers
                    if isinstance(getattr(layer, "activation", None), Activation)}
    reader.star = star
    return reader, tree


def parse_formula(text: str, network, notation: str = "nielsen", syntax: str = "auto", star: str = "product"):
    """An expression alone, as a SymPy expression or an ``ImmutableMatrix``.

    ``syntax`` is ``"latex"``, ``"text"`` or ``"auto"`` (LaTeX when the text holds a
    backslash, ``_{`` or ``^{``). Every index must end up a number of this network:
    a sum over an index is expanded. ``star="hadamard"`` reads a written ``*`` as the
    element-wise product (with the precedence of a product, left to right).
    """
    reader, tree = _read(text, network, notation, syntax, "formula", star)
    return reader.value(tree, {})


def read_shown_formula(text: str, network, notation: str = "nielsen", star: str = "product") -> tuple:
    """A formula of a worked example, ``(value, shown)``: every decimal number it writes is a symbol of ``shown``,
    which maps it to the exact number written (see :mod:`symbackprop.claims.values`)."""
    reader, tree = _read(text, network, notation, "latex", "formula", star)
    reader.shown = {}
    return reader.value(tree, {}), reader.shown


def parse_claim(text: str, network, notation: str = "nielsen", syntax: str = "auto", repair: bool = False,
                star: str = "product") -> Claim:
    """A claim ``LHS = RHS``: what the left-hand side names and the right-hand side's value.

    Vectors and matrices that do not fit together raise :class:`FormulaShapeError`. With
    ``repair=True`` the claim is read all the same: a product of mismatched shapes is
    read with the likely repair (a transpose, ⊙ for a product of two vectors, a matrix
    product for ⊙ of mismatched shapes) and every mismatch is listed in ``Claim.repairs``
    by the name of the mistake; ``rhs`` is None when no repair fits (``wrong_shape``).
    ``star`` is what a written ``*`` means (see :func:`parse_formula`).
    """
    _check_claim_text(text)
    reader, tree = _read(text, network, notation, syntax, "claim", star)
    return _claim_from(reader, tree, text, repair)


def _check_claim_text(text) -> None:
    """Refuse, before parsing, a claim with no '=' or with several."""
    if isinstance(text, str):
        check_bounds(text)
        equals = _top_level_equals(_prepare(text))
        if len(equals) > 1:
            raise FormulaError(f"the claim has {len(equals) + 1} sides at {place(text, equals[1])}; expected "
                               "LHS = RHS (split a chain A = B = C with split_chain)", text, equals[1], ["one '='"])
        if not equals:
            raise FormulaError("the claim has no '='; expected LHS = RHS", text, len(text.rstrip()), ["'='"])


def _claim_from(reader: _Reader, tree: Tree, text: str, repair: bool) -> Claim:
    """The claim a parse tree writes, read with the reader's assumed index values."""
    lhs, eq, rhs = tree.children
    if lookup_notation(reader.table.notation).global_nodes and not reader.node_layers:
        reader.node_layers = _node_layers(reader, tree)
    reader.terms = 0
    reader.repairs = reader.narrowed = None
    target = _target(reader, lhs)
    rhs_text = reader.text[eq.end_pos:].strip()
    if repair:
        reader.repairs, reader.narrowed = [], []
        reader.result_shape = _target_shape(target, reader.table.sizes)
    try:
        value = reader.value(rhs, {})
    except FormulaShapeError as error:
        if not repair:
            raise
        return Claim(text=text, target=target, rhs=None, rhs_text=rhs_text,
                     repairs=(*reader.repairs, error.mismatch), narrowed=tuple(reader.narrowed))
    if target.kind in ("gradient", "delta", "cost") and isinstance(value, sp.MatrixBase) and value.shape == (1, 1):
        value = value[0, 0]
    return Claim(text=text, target=target, rhs=value, rhs_text=rhs_text, repairs=tuple(reader.repairs or ()),
                 entrywise=isinstance(rhs, Tree) and rhs.data == "matrix", narrowed=tuple(reader.narrowed or ()))


def _target_shape(target: Target, sizes: tuple) -> tuple:
    """The shape of the quantity a target names: a matrix of weights, a column of biases or errors, a matrix of
    quantities written entry by entry, or a scalar."""
    if target.kind == "matrix":
        return (len(target.key), len(target.key[0]))
    if target.kind == "gradient_matrix" and target.key[0] == "W":
        return (sizes[target.key[1]], sizes[target.key[1] - 1])
    if target.kind in ("gradient_matrix", "delta_vector"):
        return (sizes[target.key[1]], 1)
    return (1, 1)


def lhs_target(text: str, network, notation: str = "nielsen") -> Target | None:
    """The quantity a left-hand side (LaTeX) names, or None when it names no gradient, error or cost.

    A left-hand side that names one only for a layer written as a letter (``\\delta^{(l)}``,
    ``\\frac{\\partial C}{\\partial W^{(l)}}``) raises :class:`FormulaFreeIndexError`: it is a claim,
    but not one about this network.
    """
    try:
        reader, tree = _read(f"{text} = 0", network, notation, "latex", "claim")
        return _target(reader, tree.children[0])
    except FormulaFreeIndexError as error:
        if not error.layer:
            raise
        free = error
    except SpecError:
        return None
    for layer in range(len(network.sizes) + 1):  # does it name a quantity for some concrete layer?
        reader.assume = {free.name: layer}
        try:
            _target(reader, tree.children[0])
        except SpecError:
            continue
        raise free
    return None


def lhs_instances(text: str, network, notation: str = "nielsen") -> "Instances":
    """What a left-hand side (LaTeX) names at each value of its index letters (:class:`Target` instances).

    Raises :class:`FormulaError` (a :class:`~symbackprop.errors.SpecError`) when it names no gradient,
    error or cost at any value.
    """
    reader, tree = _read(f"{text} = 0", network, notation, "latex", "claim")
    return _instances(reader, lambda: _target(reader, tree.children[0]))


@dataclass(frozen=True)
class Instances:
    """A claim with index letters read at every concrete layer and index of a network where it has a meaning.

    ``letters`` pairs each letter that no sum binds (l, j, k; L is the output layer) with the values it
    was read at; ``claims`` pairs each assignment (a tuple of (letter, value)) with the concrete
    :class:`Claim`. A claim without letters has one instance with the empty assignment. An assignment
    at which some symbol of the claim does not exist (δ^{l+1} at the output layer, a^{(l-1)}_0) is not
    an instance: a claim about layer l is a claim about the layers where it can be written.
    """

    letters: tuple
    claims: tuple


#: most concrete instances of one claim with index letters
MAX_INSTANCES = 2000


class FormulaInstancesError(FormulaError):
    """A formula whose index letters take more values than one claim is read at (:data:`MAX_INSTANCES`): it does
    name a quantity, so a document that states it has an unreadable claim, not a definition to skip."""


def claim_instances(text: str, network, notation: str = "nielsen", syntax: str = "latex", repair: bool = False,
                    star: str = "product", context: tuple = ()) -> Instances:
    """Every concrete instance of a claim (see :class:`Instances`), read by the grammar once.

    The letters are found as the reader meets them: each free letter is given, in turn, every
    layer number (a layer superscript) or every index value of the network, and an assignment
    that names a symbol the network does not have is dropped together with all its extensions.
    Raises the reading's error when the claim is unreadable at every assignment. ``context`` holds the
    other members of the chain the claim comes from (LaTeX): in a notation that numbers nodes across the
    network, they may be what says which layer an index letter of a weight belongs to.
    """
    _check_claim_text(text)
    reader, tree = _read(text, network, notation, syntax, "claim", star)
    if lookup_notation(notation).global_nodes:
        reader.node_layers = _node_layers(reader, tree)
        for other in context:
            try:
                other_tree = _parse(_prepare(other), "latex", "formula")
            except FormulaError:
                continue
            for name, node in _node_layers(reader, other_tree).items():
                reader.node_layers.setdefault(name, node)
    return _instances(reader, lambda: _claim_from(reader, tree, text, repair))


def _instances(reader: _Reader, read) -> Instances:
    """``read()`` at every assignment of the free letters it meets (see :func:`claim_instances`)."""
    table = reader.table
    layers = sorted({l for (_, l) in table.arities if l is not None})
    largest = max((max(subs) for (_, _, subs) in table.entries if subs), default=1)
    indices = list(range(1, largest + 1))  # neurons count from 1; the bias unit 0 of ng is written as 0
    found, first_range_error, work = [], None, 0

    def visit(assume: dict):
        nonlocal first_range_error, work
        work += 1
        if work > MAX_INSTANCES:
            raise FormulaInstancesError(f"the claim has more than {MAX_INSTANCES} instances for the values of its "
                                        "index letters; expected a smaller network or numbers for some letters",
                                        reader.text)
        reader.assume = assume
        try:
            result = read()
        except FormulaFreeIndexError as free:
            if free.name in assume:
                raise
            for value in (layers if free.layer else free.values or indices):
                visit({**assume, free.name: value})
            return
        except FormulaRangeError as error:
            if not assume:
                raise
            first_range_error = first_range_error or error
            return
        finally:
            reader.assume = {}
        found.append((tuple(assume.items()), result))

    visit({})
    if not found:
        raise first_range_error
    names = list(dict.fromkeys(name for assignment, _ in found for name, _ in assignment))
    letters = tuple((name, tuple(sorted({dict(a)[name] for a, _ in found}))) for name in names)
    return Instances(letters, tuple(found))


def _target(reader: _Reader, lhs) -> Target:
    """The target named by a claim's left-hand side."""
    expected = ["\\frac{\\partial C}{\\partial w^{l}_{jk}}", "\\frac{\\partial C}{\\partial b^{l}_{j}}",
                "\\frac{\\partial C}{\\partial W^{l}}", "\\frac{\\partial C}{\\partial b^{l}}", "\\delta^{l}_{j}",
                "\\delta^{l}", "C"]
    if isinstance(lhs, Tree) and lhs.data == "underbrace":  # \underbrace{\frac{\partial C}{\partial W^{l}}}_{m \times n}
        inner = lhs.children[2]
        target = _target(reader, inner)
        written = reader.annotation(lhs, {})
        shape = _shape_of(reader.value(inner, {}))
        if written is not None and written != shape:
            mismatch = Mismatch("wrong_dimension", "annotate", written, shape, reader.source(lhs.children[-1]),
                                reader.source(inner))
            raise reader.shape_error(f"the annotation {mismatch.left_text} says {written[0]}×{written[1]}, but "
                                     f"{mismatch.right_text} is {shape[0]}×{shape[1]}", lhs, mismatch)
        return target
    if isinstance(lhs, Tree) and lhs.data == "group" and len(_group_items(lhs)) == 1 \
            and isinstance(_group_items(lhs)[0], Tree) and _group_items(lhs)[0].data == "matrix":
        lhs = _group_items(lhs)[0]  # \left[\begin{matrix} ... \end{matrix}\right]
    if isinstance(lhs, Tree) and lhs.data == "matrix":  # a matrix of gradients or errors, entry by entry
        rows = []
        for row in (c for c in lhs.children if isinstance(c, Tree) and c.data == "mrow"):
            cells = [c for c in row.children if not (isinstance(c, Token) and c.type == "AMP")]
            rows.append(tuple(_target(reader, cell) for cell in cells))
        if len({len(row) for row in rows}) != 1 or any(t.kind not in ("gradient", "delta") for r in rows for t in r):
            raise reader.error(f"the left-hand side {reader.source(lhs)} is not a matrix of gradients or errors of "
                               "single parameters or neurons", lhs, expected)
        return Target("matrix", tuple(rows))
    if reader.cost_written(lhs):
        return Target("cost", ("C",))
    if isinstance(lhs, Tree) and lhs.data == "mprod" and isinstance(lhs.children[0], Tree) \
            and lhs.children[0].data == "operator" \
            and len(lhs.children) == 1 + reader.cost_operands(lhs.children[1:], [None] * (len(lhs.children) - 1)) > 1:
        denominator = lhs.children[0].children[5]  # \frac{\partial}{\partial w} J(\Theta)
        return _target_of(reader, reader.derivative_object(denominator, {}), denominator, expected)
    pair = None
    if isinstance(lhs, Tree) and lhs.data == "frac" and len(lhs.children) == 7:
        pair = lhs.children[2], lhs.children[5]
    elif isinstance(lhs, Tree) and lhs.data == "mprod" and len(lhs.children) == 3 \
            and isinstance(lhs.children[1], Token) and lhs.children[1].type == "DIV":
        pair = lhs.children[0], lhs.children[2]
    if pair is not None and all(reader.differential(p) is not None for p in pair):
        numerator, denominator = pair
        of = reader.derivative_object(numerator, {})
        if of != COST:
            raise reader.error(f"the left-hand side differentiates {reader.source(numerator)}; expected the cost "
                               f"{reader.table.printed.get(COST, 'C')} above the fraction bar", numerator, expected)
        return _target_of(reader, reader.derivative_object(denominator, {}), denominator, expected)
    if isinstance(lhs, Tree) and lhs.data == "nabla":
        _, _, arg, cost = lhs.children
        if reader.is_cost(cost):
            return _target_of(reader, reader.nabla_object(arg, {}), arg, expected)
    tok, scripts = _symbol_parts(lhs)
    if tok is not None and reader.letter_of(tok) is not None:
        obj, rest = reader.reference(tok, scripts, {})
        if not rest and ((isinstance(obj, Quantity) and obj.kind == "delta")
                         or (isinstance(obj, LayerMatrix) and obj.kind == "delta")):
            if isinstance(obj, Quantity):
                return Target("delta", ("delta", *obj.indices))
            return Target("delta_vector", ("delta", int(obj.layer)))
    raise reader.error(f"the left-hand side {reader.source(lhs)} names no gradient, error or cost; expected one of: "
                       + ", ".join(expected), lhs, expected)


def _target_of(reader: _Reader, obj, node, expected) -> Target:
    if isinstance(obj, Quantity):
        if obj.kind in ("w", "b"):
            return Target("gradient", (obj.kind, *obj.indices))
        if obj.kind == "z":
            return Target("delta", ("delta", *obj.indices))
    if isinstance(obj, LayerMatrix):
        layer = int(obj.layer)
        if obj.kind in ("W", "b"):
            return Target("gradient_matrix", (obj.kind, layer))
        if obj.kind == "z":
            return Target("delta_vector", ("delta", layer))
    raise reader.error(f"the left-hand side differentiates with respect to {reader.source(node)}; expected a weight, "
                       "a bias, their matrices, or a weighted input z", node, expected)


def _node_layers(reader: _Reader, tree) -> dict:
    """Index letter → the layer it numbers a neuron of, from symbols written (layer, neuron): z_{lj}, y_{l-1,k}."""
    weight = reader.table.keys.get(Quantity("w", 1, 1, 1), (None,))[0]
    found = {}
    for tok, scripts in _symbol_occurrences(tree):
        letter = reader.letter_of(tok)
        if letter is None or letter == weight or letter in reader.table.layered:
            continue
        subs = [s.children[1] for s in scripts if s.children[0].type == "UNDER"]
        if len(subs) != 1:
            continue
        arg = subs[0]
        if isinstance(arg, Tree) and arg.data == "group":
            items = _group_items(arg)
            if len(items) == 1 and isinstance(items[0], Tree) and items[0].data == "mprod" \
                    and len(items[0].children) == 2 and all(isinstance(c, Token) and c.type == _NAME
                                                            for c in items[0].children):
                found.setdefault(items[0].children[1].value, items[0].children[0])  # z_{lj}
                continue
            if len(items) == 1 and isinstance(items[0], Token):
                arg = items[0]
            elif len(items) == 2 and isinstance(items[1], Token) and items[1].type == _NAME \
                    and len(items[1].value) == 1:
                found.setdefault(items[1].value, items[0])  # y_{l - 1,k}
                continue
            else:
                continue
        if isinstance(arg, Token) and arg.type == _NAME and re.fullmatch(r"[A-Za-z]{2}", arg.value):
            found.setdefault(arg.value[1], _token(_NAME, arg.value[0], arg, arg.start_pos, arg.start_pos + 1))
    return found
