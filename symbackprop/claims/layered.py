"""Claims about a network of layers (convolution, pooling, flatten, dense, batch normalisation, residual), read and
decided entry by entry.

A claim names one entry: an error ``\\delta^{1}_{1,2,2}``, a gradient ``\\frac{\\partial C}{\\partial K^{1}_{1,1,2,3}}``,
``\\frac{\\partial C}{\\partial b^{1}_{2}}``, ``\\frac{\\partial C}{\\partial w^{3}_{1,4}}``, or the error reaching a
map, ``\\frac{\\partial C}{\\partial a^{1}_{1,3,3}}`` or ``\\frac{\\partial C}{\\partial x_{1,3,3}}``. Its right-hand side
is written with the same entries, sums over positions (``\\sum_{i,j}``, ``\\sum_{p,q}``, with index arithmetic
such as ``x_{c,i+p-1,j+q-1}``), the activation and its derivative (``\\sigma'(z^{1}_{1,2,2})``) and
derivatives of the chain rule. Index letters that no sum binds are read at every value where the claim can be
written, as for dense networks. Inside a sum, an entry of a map outside the map is a zero (the zero padding of
a convolution), so that the full correlation with the rotated kernel can be written as one sum.

A claim may also state a rule for a whole map or vector, in the notation the layered documents write:
``\\frac{\\partial C}{\\partial x_{c}} = \\sum_{o} \\delta^{1}_{o} \\star_{\\mathrm{full}} \\operatorname{rot}_{180}(K^{1}_{o,c})``,
``\\frac{\\partial C}{\\partial K^{1}_{o,c}} = x_{c} \\star \\delta^{1}_{o}``,
``\\operatorname{route}_{\\max}(\\delta^{2}_{c})``, ``(W^{3})^{T} \\delta^{3}``, a flattening layer's
``\\operatorname{unflatten}(\\delta^{3})``, a stride and a padding as ``\\operatorname{dil}_{s}``, ``\\operatorname{pad}_{p}``,
``\\operatorname{crop}_{p}`` and, at the end of each axis only, ``\\operatorname{pad}_{0,r}`` and ``\\operatorname{crop}_{0,r}``, an entry ``(M)_{33}`` of a map, ``\\max``,
the unit step ``H`` and the bracket ``[a < b \\wedge c > 0]`` of a condition. Such a claim is decided entry by entry.

Over a batch, an entry's first index is its example. Batch normalisation's γ, β, μ, σ and x̂ are written with their
layer in brackets (``\\gamma^{(2)}_{1}``, ``\\sigma^{(2)}_{1}``, ``\\hat{x}^{(2)}_{1,1}``) and ε without one; a σ with a
bracketed superscript is the standard deviation, never the activation (see :mod:`~symbackprop.claims.lexing`).

The symbols are those the layered documents print (:class:`~symbackprop.model.layers.Site`), read back from
the printer's own output into a :class:`~symbackprop.claims.symbol_table._Table`; the grammar, the lexer and
the transformer are the ones that read claims about dense networks.

A claim is decided against :func:`~symbackprop.proof.layered.derive_layered`:

1. **exact**: the difference of the two sides, in the named errors δ, activations and parameters (σ' an opaque
   function), expands to 0 (with batch normalisation's μ, σ and x̂ written through their definitions, one symbol
   for each channel's σ, if need be); or, where a max pooling routes δ, it does so in every case of its windows
   (**cases**: one case per entry being the window's strict maximum, ties excluded). Work is bounded by
   terms, never by time.
2. **numeric**: otherwise both sides are evaluated at random points of the network (40 digits); a point where
   they differ makes the claim wrong, and the classic mistakes are compared with the claim at those points:
   the kernel not rotated, the sum over the positions of a shared weight forgotten, pooling's δ sent to every
   entry of its window (or not divided by the window's size), batch normalisation's mean's or variance's path
   forgotten, the error of a residual skip forgotten (or sent along the skip without the σ' of the residual
   layer's activation), σ' missing, the sign. Agreement at the points
   alone is numeric evidence, never called a proof.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import random
import weakref
from dataclasses import dataclass, field, replace

import sympy as sp
from lark import Token, Tree

from ..collector import without_cycle_collection
from ..documents.printing import LatexPrinter
from ..errors import SpecError
from ..model.activations import Activation, VectorActivation, opaque_functions
from ..model.layers import (
    COST, LayeredNetwork, Site, batch_positions, batchnorm_symbols, channel_groups, pool_window,
)
from ..model.symbols import Partial
from ..proof.equations import laurent_zero
from ..proof.layered import (
    DIGITS, MARGIN, LayeredDerivation, apply_rule, batchnorm_rational, conv_backward, derive_layered, named_values,
    random_layered_point, received_by, stand_in,
)
from ..proof.oracle import kinks, realise, with_numbers
from .exact import expanded_terms
from .formula import FormulaInstancesError, _check_claim_text, _instances
from .lexing import _choose_syntax, _parse, _prepare
from .reading import FormulaError, check_bounds
from .symbol_table import _group_items, _IndexReader, _PrintedKeys, _ranges, _splits, _Table
from .transform import SIGMA, SIGMA_PRIME, FormulaRangeError, _Reader
from .values import certainly_nonzero
from .verdicts import _combined

__all__ = ["LayeredClaim", "LayeredVerdict", "parse_layered_claim", "check_layered_claim", "check_layered_formula",
           "check_layered_document", "LAYERED_MISTAKES"]

#: most terms an exact comparison may expand to (larger claims are decided by numbers, and say so)
MAX_TERMS = 20000
#: random points at which both sides are compared when no exact proof is found
POINTS = 3
#: relative agreement required at a point
TOLERANCE = sp.Float("1e-20")
#: most combinations of max-pool cases compared exactly for one claim
MAX_CASES = 256

#: the mistakes the checker names, by key (worded in the templates)
LAYERED_MISTAKES = ("kernel_not_rotated", "missing_position_sum", "missing_example_sum", "pool_delta_everywhere", "pool_not_averaged",
                    "missing_mean_path", "missing_variance_path", "missing_skip", "skip_without_activation_derivative",
                    "bptt_cut_to_one_step",
                    "missing_step_sum", "missing_activation_derivative", "sign")


# ---------------------------------------------------------------------------- the symbols


#: the letters of the index positions of each kind of entry, by the number of indices
_INDEX_LETTERS = {"K": {3: "ocp", 4: "ocpq"}, "w": {2: "jk"}, "y": {1: "j"}, "b": {1: "j"}}
_MAP_LETTERS = {1: "j", 2: "ci", 3: "cij"}


@dataclass
class _LayeredTable(_Table):
    """The entries of a layered network, keyed as the grammar reads their printed forms."""

    convolutions: set = field(default_factory=set)  # the layers whose biases are per channel

    @functools.cached_property
    def summary(self) -> str:
        """The entries, one family a line, with the values of each index."""
        lines = []
        families: dict = {}
        for (letter, layer, subs), site in self.entries.items():
            if self.keys.get(site) == (letter, layer, subs):  # not an alias (a^{0} for x)
                families.setdefault((letter, layer, len(subs), site.kind), []).append(subs)
        for (letter, layer, arity, kind), members in families.items():
            names = "o" if kind == "b" and layer in self.convolutions else _index_letters(kind, arity)
            columns = list(zip(*members))
            ranges = ", ".join(f"{n} = {values[0]}" if len(values) == 1 else f"{n} in {_ranges(values)}"
                               for n, values in ((n, sorted(set(column))) for n, column in zip(names, columns)))
            written = letter + ("" if layer is None else f"^{{{layer}}}") + (f"_{{{','.join(names)}}}" if names else "")
            lines.append(f"  {written}" + (f" for {ranges}" if ranges else ""))
        return "\n".join(lines)


def _index_letters(kind: str, arity: int) -> str:
    return _INDEX_LETTERS.get(kind, _MAP_LETTERS).get(arity, "ijkl"[:arity])


_TABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def layered_table(derivation: LayeredDerivation) -> _LayeredTable:
    """Every entry of the network (inputs, targets, z, a, δ, parameters, the cost), printed and read back."""
    if derivation not in _TABLES:
        _TABLES[derivation] = _build_table(derivation)
    return _TABLES[derivation]


def _build_table(derivation: LayeredDerivation) -> _LayeredTable:
    network, fw = derivation.network, derivation.forward
    sizes = tuple(math.prod(shape) for shape in network.shapes)
    table = _LayeredTable("nielsen", sizes)
    table.convolutions = {layer.index for layer in network.layers if layer.type in ("conv1d", "conv2d")}
    printer = LatexPrinter({"notation": "nielsen"})
    keys = _PrintedKeys(_IndexReader("", table))
    sites = [*fw.inputs.values(), *fw.targets, COST]
    for layer in network.layers:
        l = layer.index
        sites += list(fw.weighted.get(l, {}).values()) + list(fw.outputs[l].values())
        sites += [a for a in fw.states.get(l, {}).values() if a not in fw.outputs[l].values()]  # a recurrent layer's
        sites += [Site("delta", l, *pos) for pos in derivation.deltas[l]]
    sites += list(fw.parameters) + list(fw.auxiliary) + list(fw.constants)  # with batch normalisation's μ, σ, x̂, ε
    for l in derivation.through_time:  # what a recurrent layer's output passes back to each state, e^{l}_{t,j}
        sites += [Site("e", l, *pos) for pos in derivation.deltas[l]]
    sites += list(step_costs(derivation))  # C_t, the cost at each step of an output sequence
    for site in sites:
        shown = printer.doprint(site)
        table.add(keys.key(shown, len(site.position)), site, shown)
    keys.verify()
    for pos, site in fw.inputs.items():  # the input written as the activation of layer 0
        table.add(("a", 0, pos), site)
    for layer in network.layers:  # a dense layer reads the map before it flattened: a^{l-1}_{k} in reading order
        if layer.type == "dense" and len(layer.input_shape) > 1 and network.batch == 1:
            flat = list(fw.a(layer.index - 1).values())
            for k, site in enumerate(flat, start=1):
                letter, at, _ = table.keys[site]
                table.add((letter, at, (k,)), site)
            table.add((letter, at, ()), sp.ImmutableMatrix(flat))  # the whole map as the vector a^{l-1}
            before = network.layer(layer.index - 1) if layer.index > 1 else None
            if before is not None and before.has_z:  # and z^{l-1}, δ^{l-1} as vectors, as δ = ∂C/∂a ⊙ σ'(z) is stated
                for kind, values in (("z", fw.weighted[before.index]), ("delta", derivation.deltas[before.index])):
                    flat = [values[pos] if kind == "z" else Site("delta", before.index, *pos) for pos in values]
                    letter, at, _ = table.keys[flat[0]]
                    table.add((letter, at, ()), sp.ImmutableMatrix(flat))
    if network.batch > 1:  # a dense layer reading a map reads each example's map as one vector a^{l-1}_{i}
        for layer in network.layers:
            if layer.type == "dense" and len(layer.input_shape) > 1:
                before = network.layer(layer.index - 1) if layer.index > 1 else None
                deltas = {pos: Site("delta", before.index, *pos) for pos in derivation.deltas[before.index]} \
                    if before is not None and before.has_z else {}
                for example in network.examples:
                    flat = [site for pos, site in fw.a(layer.index - 1).items() if pos[:1] == example]
                    letter, at, _ = table.keys[flat[0]]
                    for k, site in enumerate(flat, start=1):  # a^{l-1}_{i,k}, k in reading order
                        table.add((letter, at, (*example, k)), site)
                    table.add((letter, at, example), sp.ImmutableMatrix(flat))
                    for values in ((fw.weighted[before.index], deltas) if deltas else ()):  # z^{l-1}_{i}, δ^{l-1}_{i}
                        flat = [site for pos, site in values.items() if pos[:1] == example]
                        letter, at, _ = table.keys[flat[0]]
                        table.add((letter, at, example), sp.ImmutableMatrix(flat))
    _add_wholes(table, sites, network.batch > 1)
    for layer in network.layers:  # the map of one channel a flattening layer reads: a^{l-1} (of an example)
        if layer.type == "flatten" and len(layer.input_shape) > 1 and layer.input_shape[0] == 1:
            letter, at, _ = table.keys[next(iter(fw.a(layer.index - 1).values()))]
            for example in network.examples:
                channel = table.entries.get((letter, at, (*example, 1)))
                if channel is not None and (letter, at, example) not in table.entries:
                    table.add((letter, at, example), channel)
    return table


def step_costs(derivation: LayeredDerivation) -> dict:
    """C_t → the cost at step t, when the network's output is the state of a recurrent layer at every step (its
    cost is their sum); else empty."""
    network, fw = derivation.network, derivation.forward
    last = network.layers[-1]
    if not (last.recurrent and len(last.output_shape) == 2):
        return {}
    outputs, costs = fw.outputs[last.index], {}
    for t in range(1, last.output_shape[0] + 1):
        here = [pos for pos in outputs if pos[0] == t]
        costs[Site("C", None, t)] = network.cost.total([outputs[pos] for pos in here],
                                                       [Site("y", None, *pos) for pos in here])
    return costs


def _add_wholes(table: _LayeredTable, sites, batch: bool = False) -> None:
    """Whole maps and vectors, as the layered documents write them: a channel of a map (δ^{1}_{o}, x_{c}), a
    kernel (K^{1}_{o,c}), the vector of a dense layer (δ^{3}) and its weight matrix (W^{3}), as matrices. Over a
    batch, a map or a vector is one example's, named by the example first (δ^{1}_{i,o}, x_{i,c}, δ^{3}_{i})."""
    groups: dict = {}
    lead = 1 if batch else 0
    for site in sites:
        if site not in table.keys or not site.position:
            continue
        letter, layer, subs = table.keys[site]
        if site.kind in ("W", "U"):  # a recurrent layer's weight matrices
            groups.setdefault((letter, layer, ()), {})[subs] = site
        elif site.kind == "w":
            groups.setdefault(("W", layer, ()), {})[subs] = site
        elif site.kind == "K":
            groups.setdefault((letter, layer, subs[:2]), {})[subs[2:]] = site
        elif site.kind == "b":
            groups.setdefault((letter, layer, subs[:-1]), {})[subs[-1:]] = site
        elif len(subs) > lead + 1:  # a channel of a map (of an example)
            groups.setdefault((letter, layer, subs[:lead + 1]), {})[subs[lead + 1:]] = site
        elif len(subs) == lead + 1 and site.kind in ("x", "z", "a", "delta"):  # a vector (of an example)
            groups.setdefault((letter, layer, subs[:lead]), {})[subs[lead:]] = site
    for key, entries in groups.items():
        if key in table.entries:  # a flattened entry a^{l}_{k} is written with one index already
            continue
        shape = tuple(max(position[i] for position in entries) for i in range(len(next(iter(entries)))))
        rows, columns = shape if len(shape) == 2 else (shape[0], 1)
        matrix = sp.ImmutableMatrix(rows, columns, lambda i, j: entries.get((i + 1, j + 1) if len(shape) == 2
                                                                            else (i + 1,), sp.S.Zero))
        table.add(key, matrix)


def _resized(value: sp.ImmutableMatrix, op: str, sizes: list) -> sp.ImmutableMatrix:
    """dil_n (n − 1 zeros between neighbouring entries: a stride undone), pad_n (n zeros on every side) or crop_n (n
    entries off every side) of a map; pad_{b,e} and crop_{b,e} add or take b before and e after along every axis,
    pad_{b,e,b',e'} and crop_{b,e,b',e'} b, e along the rows and b', e' along the columns. A map of one column is
    one-dimensional, changed along its rows only."""
    rows, cols = value.shape
    wide = cols > 1
    if op == "dil":
        n = sizes[0]
        shape = ((rows - 1) * n + 1, (cols - 1) * n + 1 if wide else 1)
        out = sp.zeros(*shape)
        for i in range(rows):
            for j in range(cols):
                out[i * n, j * n if wide else j] = value[i, j]
        return sp.ImmutableMatrix(out)
    if len(sizes) == 1:
        sizes = sizes * 2
    top, bottom = sizes[:2]
    left, right = (sizes[2:] or sizes[:2]) if wide else (0, 0)
    if op == "pad":
        out = sp.zeros(rows + top + bottom, cols + left + right)
        out[top:top + rows, left:left + cols] = value
        return sp.ImmutableMatrix(out)
    if top + bottom >= rows or left + right >= cols:
        return sp.ImmutableMatrix(sp.zeros(max(rows - top - bottom, 0), max(cols - left - right, 0)))
    return sp.ImmutableMatrix(value[top:rows - bottom, left:cols - right])


class _LayeredReader(_Reader):
    """The transformer of dense claims, reading the entries of a layered network, and the notation its documents
    write whole maps in: the cross-correlations ⋆ and ⋆_full, rot180, the routing of pooling, \\max, the unit
    step H and the bracket [condition] of a condition, and the entry (M)_{ij} of a map."""

    derivation: LayeredDerivation = None

    def object_value(self, obj):
        return obj if isinstance(obj, sp.MatrixBase) else super().object_value(obj)

    def integer(self, node, env) -> int:
        """An index, where T is the number of steps of a sequence (as L is the output layer)."""
        steps = getattr(self.derivation.network, "steps", None) if self.derivation is not None else None
        if isinstance(node, Token) and node.type == "NAME" and node.value == "T" and "T" not in env and steps:
            return steps
        return super().integer(node, env)

    def post_scripts(self, value, scripts, env, base_node):
        if isinstance(value, sp.MatrixBase) and scripts and scripts[0].children[0].type == "UNDER":
            script = scripts[0]
            arity = 1 if 1 in value.shape else 2
            splits = _splits(self.index_items(script.children[1], env), arity)
            shown = self.source(base_node, script)
            if len(splits) != 1 or any(isinstance(i, str) for i in splits[0]):
                raise self.error(f"{shown}: expected the {'index' if arity == 1 else 'row and column'} of an entry "
                                 f"of the {value.shape[0]}×{value.shape[1]} map", script)
            where = (splits[0][0] - 1, 0 if arity == 1 else splits[0][1] - 1)
            if value.shape[0] == 1 and arity == 1:
                where = (0, splits[0][0] - 1)
            if not (0 <= where[0] < value.shape[0] and 0 <= where[1] < value.shape[1]):
                raise self.range_error(f"{shown} is out of range: the map is {value.shape[0]}×{value.shape[1]}", script)
            return super().post_scripts(value[where], scripts[1:], env, base_node)
        return super().post_scripts(value, scripts, env, base_node)

    def _hadamard(self, node, env):
        children = node.children
        total = self.value(children[0], env)
        for previous, op, operand in zip(children[0::2], children[1::2], children[2::2]):
            right = self.value(operand, env)
            if op.type == "CORR":
                total = self.correlation(total, right, op.value, operand)
            else:
                total = self.hadamard(total, right, self.source(children[0], previous), self.source(operand), operand)
        return total

    def correlation(self, left, right, mode: str, at):
        """left ⋆ right: Σ_{p,q} left_{i+p-1,j+q-1} right_{p,q} over the positions where the kernel fits (valid), or
        with left padded by zeros so that every overlap counts (full)."""
        if not (isinstance(left, sp.MatrixBase) and isinstance(right, sp.MatrixBase)):
            raise self.error(f"{self.source(at)}: a cross-correlation takes two maps", at)
        k, m = right.shape
        if mode == "full":
            padded = sp.zeros(left.rows + 2 * (k - 1), left.cols + 2 * (m - 1))
            padded[k - 1:k - 1 + left.rows, m - 1:m - 1 + left.cols] = left
            left = padded
        rows, columns = left.rows - k + 1, left.cols - m + 1
        if rows < 1 or columns < 1:
            raise self.error(f"{self.source(at)}: the kernel ({k}×{m}) is larger than the map "
                             f"({left.rows}×{left.cols})", at)
        return sp.ImmutableMatrix(rows, columns, lambda i, j: sp.Add(*[left[i + p, j + q] * right[p, q]
                                                                       for p in range(k) for q in range(m)]))

    def _mprod(self, node, env):
        children, merged = list(node.children), []
        while children:  # H(x), the unit step, as documents write the derivative of a maximum
            child = children.pop(0)
            if isinstance(child, Token) and child.type == "NAME" and child.value == "H" and self.letter_of(child) is None \
                    and children and isinstance(children[0], Tree) and children[0].data == "group" \
                    and children[0].children[0].type == "LPAR":
                group = children.pop(0)
                step = Tree("apply", [Tree("fhead", [Token("FUNC", "heaviside", start_pos=child.start_pos)]), group])
                step.meta.start_pos, step.meta.end_pos, step.meta.empty = child.start_pos, group.meta.end_pos, False
                step.children[0].meta.start_pos, step.children[0].meta.end_pos = child.start_pos, child.end_pos
                step.children[0].meta.empty = False
                merged.append(step)
            else:
                merged.append(child)
        if len(merged) == 1:
            return self.value(merged[0], env)
        return super()._mprod(Tree(node.data, merged, node.meta), env)

    def _apply(self, node, env):
        head, argument = node.children[0], node.children[1]
        name = head.children[0].value
        sized = name.split("_")[0] in ("dil", "pad", "crop") and all(n.isdigit() for n in name.split("_")[1:])
        if name not in ("max", "heaviside", "rot180", "route_max", "spread_mean", "unflatten") and not sized:
            return super()._apply(node, env)
        items = _group_items(argument) if isinstance(argument, Tree) and argument.data == "group" else [argument]
        values = [self.value(item, env) for item in items]
        if name == "max":
            return sp.Max(*values)
        if len(values) != 1:
            raise self.error(f"{self.source(node)}: expected one argument", argument)
        value = values[0]
        if name == "heaviside":
            return sp.Heaviside(value)
        if not isinstance(value, sp.MatrixBase):
            raise self.error(f"{self.source(node)}: expected a map as the argument", argument)
        if name == "rot180":
            return sp.ImmutableMatrix(value.rows, value.cols, lambda i, j: value[value.rows - 1 - i, value.cols - 1 - j])
        if sized:
            return _resized(value, name.split("_")[0], [int(n) for n in name.split("_")[1:]])
        if name == "unflatten":
            return self.unflattened(value, node)
        return self.routed(value, name, node)

    def unflattened(self, delta, node):
        """The error of a flattening layer laid out as the map of one channel before it (in reading order)."""
        sites = [e for e in delta if isinstance(e, Site) and e.kind == "delta"]
        layer = self.derivation.network.layer(sites[0].layer) if sites else None
        if layer is None or layer.type != "flatten" or len(sites) != len(delta) or len(layer.input_shape) < 2 \
                or layer.input_shape[0] != 1:
            raise self.error(f"{self.source(node)}: expected the error of a flatten layer whose input is one channel, "
                             "such as \\delta^{l}", node)
        shape = layer.input_shape[1:]
        rows, columns = (shape[0], shape[1]) if len(shape) == 2 else (shape[0], 1)
        return sp.ImmutableMatrix(rows, columns, lambda i, j: sites[i * columns + j])

    def routed(self, delta, name: str, node):
        """The error of a pooling layer's channel passed back to the layer's input: to the first maximum of each
        window (route_max; the first in reading order on a tie), or divided among its entries (spread_mean)."""
        sites = [e for e in delta if isinstance(e, Site) and e.kind == "delta"]
        network, fw = self.derivation.network, self.derivation.forward
        layer = network.layer(sites[0].layer) if sites else None
        wanted = "maxpool" if name == "route_max" else "avgpool"
        if layer is None or layer.type != wanted or len(sites) != len(delta):
            raise self.error(f"{self.source(node)}: expected the error of one channel of a {wanted} layer, "
                             "such as \\delta^{l}_{c}", node)
        previous = fw.a(layer.index - 1)
        out = {}
        k = len(network.examples[0])  # the example's index, over a batch
        for site in sites:
            window = [site.position[:k] + u for u in pool_window(layer, site.position[k:])]
            for index, u in enumerate(window):
                if name == "route_max":
                    here = previous[u]
                    first = sp.And(*[here > previous[w] for w in window[:index]],
                                   *[here >= previous[w] for w in window[index + 1:]])
                    share = sp.Piecewise((1, first), (0, True))
                else:
                    share = sp.Rational(1, len(window))
                at = u[len(u) - len(layer.input_shape) + 1:]  # the position in the channel (of the example)
                out[at] = out.get(at, sp.S.Zero) + site * share
        shape = layer.input_shape[1:]
        rows, columns = (shape[0], shape[1]) if len(shape) == 2 else (shape[0], 1)
        return sp.ImmutableMatrix(rows, columns, lambda i, j: out.get((i + 1, j + 1) if len(shape) == 2 else (i + 1,),
                                                                      sp.S.Zero))

    def partial(self, numerator, denominator, env):
        """∂C/∂Y for an entry Y; for a whole map or vector Y, the map of ∂C/∂(each entry)."""
        wrt = self.derivative_object(denominator, env)
        if isinstance(wrt, sp.MatrixBase):
            if self.derivative_object(numerator, env) != COST:
                raise self.error(f"{self.source(numerator)}: expected the cost above the fraction bar", numerator)
            return sp.ImmutableMatrix(wrt.applyfunc(lambda entry: Partial(COST, entry)))
        return super().partial(numerator, denominator, env)

    def is_cost(self, tok) -> bool:
        try:
            return self.reference(tok, [], {})[0] == COST
        except FormulaError:
            return False

    def symbol_value(self, tok, scripts, env):
        try:
            return super().symbol_value(tok, scripts, env)
        except FormulaRangeError:
            if env and self._map_entry(tok, scripts):  # inside a sum: outside the map reads a padding zero
                return sp.S.Zero
            raise

    def _map_entry(self, tok, scripts) -> bool:
        """Whether a written symbol is an entry of a map (x, a, z, δ) with as many indices as the map has."""
        letter = self.letter_of(tok)
        if letter not in ("x", "a", "z", "\\delta"):
            return False
        _, sub_arg, rest = self.split_scripts(letter, scripts)
        if sub_arg is None or rest:
            return False
        arities = {len(subs) for (name, _, subs) in self.table.entries if name == letter}
        return len(self.source(sub_arg).strip("{}").split(",")) in arities

    def out_of_range(self, letter, layer, items, shown, tok) -> FormulaError:
        family = [subs for (name, at, subs) in self.table.entries if name == letter and at == layer]
        arities = sorted({len(subs) for subs in family})
        for arity in arities:
            for split in _splits(items, arity):
                columns = list(zip(*[subs for subs in family if len(subs) == arity]))
                for position, (value, column) in enumerate(zip(split, columns)):
                    if value not in set(column):
                        return self.range_error(
                            f"{shown} is out of range: index {position + 1} is {value}; expected "
                            f"{_ranges(sorted(set(column)))}. The entries of this network:\n{self.table.summary}",
                            tok, [_ranges(sorted(set(column)))])
        counts = " or ".join(str(a) for a in arities)
        return self.range_error(f"{shown} has {len(items)} {'index' if len(items) == 1 else 'indices'}; expected "
                                f"{counts}. The entries of this network:\n{self.table.summary}", tok)


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class LayeredClaim:
    """A claim about an entry of a layered network: ``target`` is the entry whose ∂C/∂(·) it states (a z or a
    for an error δ), ``rhs`` the right-hand side in the network's entries; for a claim about a whole map or vector
    (``\\frac{\\partial C}{\\partial x_{c}}``, ``\\delta^{1}_{o}``), both are matrices of the entries."""

    text: str
    target: Site | sp.ImmutableMatrix
    rhs: sp.Expr | sp.ImmutableMatrix
    rhs_text: str
    written: str  # "delta" when the left-hand side writes δ, else "partial" (∂C/∂·)


def _read(text: str, derivation: LayeredDerivation, syntax: str, start: str):
    check_bounds(text)
    prepared = _prepare(text)
    if not prepared.strip():
        raise FormulaError("the formula is empty; expected an expression", text, 0, ["an expression"])
    chosen = _choose_syntax(prepared, syntax)
    tree = _parse(prepared, chosen, start)
    reader = _LayeredReader(prepared, layered_table(derivation), chosen)
    reader.derivation = derivation
    reader.rules = {layer.activation.name: layer.activation for layer in derivation.network.layers
                    if isinstance(getattr(layer, "activation", None), Activation)}  # what ReLU' stands for
    return reader, tree


_EXPECTED = ["\\delta^{l}_{c,i,j}", "\\frac{\\partial C}{\\partial K^{l}_{o,c,p,q}}", "\\frac{\\partial C}{\\partial b^{l}_{o}}",
             "\\frac{\\partial C}{\\partial w^{l}_{j,k}}", "\\frac{\\partial C}{\\partial a^{l}_{c,i,j}}",
             "\\frac{\\partial C}{\\partial x_{c,i,j}}"]


def _entry_target(value, network: LayeredNetwork):
    """(the entry whose gradient ``value`` names, how it is written), or None."""
    if isinstance(value, Site) and value.kind == "delta":
        layer = network.layer(value.layer)
        return Site("z" if layer.has_z else "a", value.layer, *value.position), "delta"
    if isinstance(value, Partial) and value.of == COST and isinstance(value.wrt, Site) \
            and value.wrt.kind in ("K", "b", "w", "W", "U", "gamma", "beta", "z", "a", "x"):
        return value.wrt, "partial"
    return None


def _target(reader: _LayeredReader, lhs, network: LayeredNetwork) -> tuple:
    """The entry whose gradient a left-hand side names (for a whole map or vector, the map of its entries), and
    how it is written."""
    value = reader.value(lhs, {})
    if isinstance(value, sp.MatrixBase):
        entries = [_entry_target(entry, network) for entry in value]
        if entries and all(entries):
            return sp.ImmutableMatrix(value.rows, value.cols, [t for t, _ in entries]), entries[0][1]
    else:
        found = _entry_target(value, network)
        if found is not None:
            return found
    raise reader.error(f"the left-hand side {reader.source(lhs)} names no error or gradient of one entry; expected "
                       "one of: " + ", ".join(_EXPECTED), lhs, _EXPECTED)


def parse_layered_claim(text: str, derivation: LayeredDerivation, syntax: str = "auto") -> LayeredClaim:
    """One claim ``LHS = RHS`` about an entry of a layered network (no index letters left free)."""
    instances = layered_instances(text, derivation, syntax)
    if instances.letters:
        raise FormulaError(f"the claim has the index letters {', '.join(n for n, _ in instances.letters)}; "
                           "expected numbers (check_layered_formula checks every value)", text)
    return instances.claims[0][1]


_INSTANCES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def layered_instances(text: str, derivation: LayeredDerivation, syntax: str = "auto"):
    """The claim at every value of its free index letters (see :func:`symbackprop.claims.formula.claim_instances`),
    read once per derivation: a statement repeated (in another language or format) is not read again."""
    known = _INSTANCES.setdefault(derivation, {})
    if (text, syntax) not in known:
        known[(text, syntax)] = _read_instances(text, derivation, syntax)
    return known[(text, syntax)]


def _read_instances(text: str, derivation: LayeredDerivation, syntax: str):
    _check_claim_text(text)
    reader, tree = _read(text, derivation, syntax, "claim")
    lhs, eq, rhs = tree.children

    def read() -> LayeredClaim:
        reader.terms = 0
        target, written = _target(reader, lhs, derivation.network)
        value = reader.value(rhs, {})
        wanted = target.shape if isinstance(target, sp.MatrixBase) else None
        if wanted is not None and value == 0:  # 0 for a whole map: every entry 0
            value = sp.ImmutableMatrix.zeros(*wanted)
        got = value.shape if isinstance(value, sp.MatrixBase) else None
        if wanted != got:
            shown = lambda shape: "one entry" if shape is None else f"a {shape[0]}×{shape[1]} map"  # noqa: E731
            raise reader.error(f"the right-hand side {reader.source(rhs)} is {shown(got)}; expected {shown(wanted)}, "
                               "as the left-hand side", rhs)
        return LayeredClaim(text, target, value, reader.text[eq.end_pos:].strip(), written)

    return _instances(reader, read)


def _names_entry(lhs: str, derivation: LayeredDerivation) -> bool:
    """Whether a left-hand side names the error or a gradient of an entry, at some value of its letters."""
    try:
        reader, tree = _read(f"{lhs} = 0", derivation, "latex", "claim")
        _instances(reader, lambda: _target(reader, tree.children[0], derivation.network))
    except FormulaInstancesError:
        return True  # an entry, at more values of the letters than a claim is read at
    except SpecError:
        return False
    return True


# ---------------------------------------------------------------------------- the truth


def layered_truth(derivation: LayeredDerivation, target: Site) -> sp.Expr:
    """∂C/∂(target) as the derivation states it, in the named errors, activations and parameters."""
    network, fw = derivation.network, derivation.forward
    kind, l, pos = target.kind, target.layer, target.position
    if kind in ("K", "b", "w", "W", "U", "gamma", "beta"):
        return derivation.gradients[target]
    if kind == "x":
        return received_by(derivation.backward, derivation.skips, network, 0)[pos]
    if kind == "z":
        return derivation.deltas[l][pos]
    if not network.layer(l).has_z:  # a pooled or flattened map: its error is ∂C/∂a
        return derivation.deltas[l][pos]
    if network.layer(l).recurrent:  # a state: through the next step, and the output where it is one
        return derivation.through_time[l][1][pos]
    if l == network.depth:
        return sp.diff(fw.cost, target)
    return received_by(derivation.backward, derivation.skips, network, l)[pos]


def _sigma_prime(derivation: LayeredDerivation, z: Site) -> sp.Expr:
    layer = derivation.network.layer(z.layer)
    return layer.activation.prime_named(z, derivation.forward.activated(z.layer)[z.position])


def _named(derivation: LayeredDerivation, expr: sp.Expr) -> sp.Expr:
    """A claim's value in the derivation's terms: σ(z) is a, σ'(z) the layer's derivative, and every factor
    ∂X/∂Y of the chain rule its value (∂C/∂Y from the derivation, ∂z/∂Y from the definition of z)."""
    fw = derivation.forward

    def activation(function, z):
        if not (isinstance(z, Site) and z.kind == "z"):
            return None
        return fw.activated(z.layer)[z.position] if function is SIGMA else _sigma_prime(derivation, z)

    def partial(of, wrt):
        if of == COST and isinstance(wrt, Site):
            return layered_truth(derivation, wrt) if wrt.kind != "delta" else None
        if not (isinstance(of, Site) and isinstance(wrt, Site)):
            return None
        if of.kind == "a" and wrt.kind == "z" and of.layer == wrt.layer:
            return _sigma_prime(derivation, wrt) if of.position == wrt.position else sp.S.Zero
        definitions = fw.definitions.get(of.layer, {})
        if of.position in definitions and (of.kind == "z" or not derivation.network.layer(of.layer).has_z):
            return sp.diff(definitions[of.position], wrt)
        return None

    # a rule written by its own name (ReLU'(z) where the layers do not share one activation): at a weighted
    # input of a layer with that rule, the layer's a or σ'; elsewhere, the rule's definition
    own = {}
    for layer in derivation.network.layers:
        if isinstance(layer.activation, Activation):
            function, prime = opaque_functions(layer.activation.label)
            own.update({function: (layer.activation, False), prime: (layer.activation, True)})

    def by_name(function, u):
        rule, prime = own[function]
        if isinstance(u, Site) and u.kind == "z" and derivation.network.layer(u.layer).activation == rule:
            return _sigma_prime(derivation, u) if prime else fw.activated(u.layer)[u.position]
        return rule.prime(u) if prime else rule.apply(u)

    def rewrite(e):
        if isinstance(e, Partial):
            found = partial(e.of, e.wrt)
        elif e.func in (SIGMA, SIGMA_PRIME):
            found = activation(e.func, e.args[0])
        elif e.func in own:
            found = by_name(e.func, e.args[0])
        else:
            return e
        if found is None:
            raise FormulaError(f"the claim writes {e}, which has no value in this network")
        return found

    named = expr.replace(lambda e: isinstance(e, Partial) or e.func in (SIGMA, SIGMA_PRIME) or e.func in own, rewrite)
    return _outputs_through_time(derivation, named)


def _outputs_through_time(derivation: LayeredDerivation, expr):
    """``expr`` with every e^{l}_{t,j} of a recurrent layer replaced by what its output passes back there."""
    values = {Site("e", l, *pos): output.get(pos, sp.S.Zero)
              for l, (output, _) in derivation.through_time.items() for pos in derivation.deltas[l]}
    return expr.xreplace(values) if values else expr


def _without_deltas(derivation: LayeredDerivation, expr: sp.Expr) -> sp.Expr:
    """``expr`` with every δ replaced by its value, layer after layer, down to the output's a and y."""
    for l in range(1, derivation.network.depth + 1):
        values = {Site("delta", l, *pos): value for pos, value in derivation.deltas[l].items()}
        expr = expr.xreplace(values)
    return expr


# ---------------------------------------------------------------------------- deciding


@dataclass(frozen=True)
class LayeredVerdict:
    """The answer about one claim on a layered network.

    ``method`` is ``"exact"`` (the difference expands to 0), ``"cases"`` (it does in every case of the max-pool
    windows involved) or ``"numeric"`` (points of the network decided: a point where the sides differ makes
    the claim wrong; agreement alone is evidence, ``reason="not_proven"``, or ``"work"`` when the exact
    comparison would have passed :data:`MAX_TERMS` terms). ``counterexample`` is (claimed, derivation's)
    values at the first point where they differ; ``diagnosis`` names the mistakes (:data:`LAYERED_MISTAKES`)
    the claim agrees with there.
    """

    claim: LayeredClaim
    status: str
    method: str
    points: int
    truth: sp.Expr
    counterexample: tuple | None = None
    diagnosis: tuple = ()
    reason: str | None = None
    line: int | None = None
    letters: tuple = ()
    instances: int = 1
    instance: tuple = ()
    #: a claim about a whole map or vector: how many entries were decided, and which one this verdict shows
    entries: int = 1
    entry: tuple | None = None

    @property
    def ok(self) -> bool:
        return self.status == "correct"


def _zero(difference: sp.Expr, max_terms: int) -> bool | None:
    """Whether ``difference`` expands to 0 (None: it would pass ``max_terms`` terms). A difference that interval
    arithmetic shows nonzero at one point cannot expand to 0, and is not expanded; one whose Laurent polynomial
    is 0 (:func:`~symbackprop.proof.equations.laurent_zero`) is 0, and is not expanded either."""
    if expanded_terms(difference, max_terms) > max_terms:
        return None
    if certainly_nonzero(difference):
        return False
    return laurent_zero(difference) or sp.expand(difference) == 0


def _windows(derivation: LayeredDerivation):
    """(pooling layer, output position, the input positions of its window) of every max-pool window of the batch."""
    network = derivation.network
    for layer in network.layers:
        if layer.type != "maxpool":
            continue
        for e in network.examples:
            for pos in batch_positions(network, layer.output_shape):
                if pos[:len(e)] == e:
                    yield layer, pos, [e + p for p in pool_window(layer, pos[len(e):])]


def _cases_zero(derivation: LayeredDerivation, difference: sp.Expr, max_terms: int) -> bool | None:
    """Whether ``difference`` is 0 in every case of the max-pool windows it depends on (None: too many cases)."""
    fw = derivation.forward
    symbols = difference.free_symbols
    windows = []
    for layer, _, entries in _windows(derivation):
        window = [fw.a(layer.index - 1)[p] for p in entries]
        if symbols & set(window):
            windows.append(window)
    if not windows:
        return False
    if sp.prod(len(w) for w in windows) > MAX_CASES:
        return None
    for choice in itertools.product(*[range(len(w)) for w in windows]):
        case = {}
        for window, m in zip(windows, choice):  # entry m is the strict maximum, the others distinct below it
            others = [w for i, w in enumerate(window) if i != m]
            case.update({w: sp.Integer(rank) for rank, w in enumerate(others, start=1)})
            case[window[m]] = sp.Integer(len(window))
        value = _zero(difference.xreplace(case), max_terms)
        if not value:
            return value
    return True


_PROVEN: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _prove(derivation, claimed, truth, max_terms) -> tuple[bool | None, str]:
    """(proven?, method): the difference expands to 0 (exact) or does in every max-pool case (cases), first in
    the named errors, then with every δ replaced by its value; None when the work would pass the bound.
    Decided once per derivation: the same statement in another language or format, or the same entry
    claimed again, gets the same answer without the algebra."""
    known = _PROVEN.setdefault(derivation, {})
    key = (claimed, truth, max_terms)
    if key not in known:
        known[key] = _decide(derivation, claimed, truth, max_terms)
    return known[key]


def _decide(derivation, claimed, truth, max_terms) -> tuple[bool | None, str]:
    bounded = True
    for a, b in _forms(derivation, claimed, truth):
        difference = a - b
        zero = _zero(difference, max_terms)
        if zero:
            return True, "exact"
        bounded = bounded and zero is not None
        if difference.has(sp.Piecewise):
            cases = _cases_zero(derivation, difference, max_terms)
            if cases:
                return True, "cases"
            bounded = bounded and cases is not None
    return (False if bounded else None), "exact"


def _forms(derivation, claimed, truth):
    """The two sides in the named errors, then with every δ replaced by its value, then normalised; each made only
    when the one before did not decide."""
    yield claimed, truth
    expanded = (_without_deltas(derivation, claimed), _without_deltas(derivation, truth))
    yield expanded
    yield _normalised(derivation, *expanded)


def _normalised(derivation: LayeredDerivation, *exprs) -> tuple:
    """``exprs`` with batch normalisation's μ, σ and x̂ written through their definitions, each channel's σ as one
    symbol (:func:`~symbackprop.proof.layered.batchnorm_rational`): a claim that writes the square root, or the
    chain rule's factors, compares with the derivation's named form as rational functions."""
    fw = derivation.forward
    for layer in derivation.network.layers:
        if layer.type == "batchnorm":
            rewrite = batchnorm_rational(fw, layer)
            exprs = tuple(rewrite(e) for e in exprs)
    return exprs


_SAMPLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _sample(derivation: LayeredDerivation, points: int, seed: int) -> list:
    """The named values at ``points`` random points, each at least MARGIN away from a max-pool tie (computed
    once per derivation, points and seed)."""
    known = _SAMPLES.setdefault(derivation, {})
    if (points, seed) not in known:
        known[(points, seed)] = _new_sample(derivation, points, seed)
    return known[(points, seed)]


def _new_sample(derivation: LayeredDerivation, points: int, seed: int) -> list:
    """``points`` points clear of ties, then more (at most :data:`BRANCH_DRAWS` draws) until every weighted input
    of an activation with a kink (ReLU, the leaky ReLU) has been seen on both sides of it: a rule wrong on one
    side of the kink only is then found."""
    rng = random.Random(seed)
    found = []
    for _ in range(points * 20):
        values = named_values(derivation, random_layered_point(derivation, rng))
        if _clear_of_ties(derivation, values):
            found.append(values)
        if len(found) == points:
            break
    kinked = _kinked(derivation)
    unseen = {(z, kink, side) for z, kink in kinked for side in (False, True)}
    unseen -= {side for values in found for side in _sides(kinked, values)}
    for _ in range(BRANCH_DRAWS if unseen else 0):
        values = named_values(derivation, random_layered_point(derivation, rng))
        if _clear_of_ties(derivation, values) and unseen & _sides(kinked, values):
            unseen -= _sides(kinked, values)
            found.append(values)
            if not unseen:
                break
    return found


#: the most extra points drawn to see each kinked weighted input on both sides of its kink
BRANCH_DRAWS = 60


def _kinked(derivation: LayeredDerivation) -> list:
    """(z, kink) for every weighted input of a layer whose activation has kinks."""
    fw, found = derivation.forward, []
    for layer in derivation.network.layers:
        rule = layer.activation
        if rule is None or isinstance(rule, VectorActivation):
            continue
        for kink in kinks(rule.forward):
            found += [(z, kink) for z in fw.weighted[layer.index].values()]
    return found


def _sides(kinked: list, values: dict) -> set:
    return {(z, kink, bool(values[z] > kink)) for z, kink in kinked}


def _clear_of_ties(derivation: LayeredDerivation, values: dict) -> bool:
    fw = derivation.forward
    for layer, _, entries in _windows(derivation):
        window = sorted((values[fw.a(layer.index - 1)[p]] for p in entries), reverse=True)
        if len(window) > 1 and window[0] - window[1] < MARGIN:
            return False
    return True


def _at(derivation: LayeredDerivation, expr: sp.Expr, values: dict) -> sp.Float:
    return sp.Float(with_numbers(realise(expr, stand_in(derivation.network)), values).evalf(DIGITS), DIGITS)


def _agree(a, b) -> bool:
    if a.has(sp.nan, sp.zoo) or b.has(sp.nan, sp.zoo):
        return False
    return abs(a - b) <= TOLERANCE * max(1, abs(a), abs(b))


def _mutations(derivation: LayeredDerivation, claim: LayeredClaim) -> dict:
    """The classic mistakes for the claimed entry, each as the formula it gives (several may share a name)."""
    network, fw = derivation.network, derivation.forward
    target, truth = claim.target, layered_truth(derivation, claim.target)
    found = {"sign": [-truth]}
    kind, l, pos = target.kind, target.layer, target.position
    if kind in ("K", "b", "w") and network.layer(l).type in ("conv1d", "conv2d", "dense"):
        uses = {v: Site("delta", l, *v) * sp.diff(definition, target) for v, definition in fw.definitions[l].items()}
        if network.layer(l).type != "dense":
            found["missing_position_sum"] = [term for term in uses.values() if term != 0]
        if network.batch > 1:  # the uses of one example only: the other examples forgotten
            found["missing_example_sum"] = [sp.Add(*[term for v, term in uses.items() if v[:1] == example])
                                            for example in network.examples]
        return found
    if kind in ("W", "U", "b") and network.layer(l).recurrent:
        uses = [Site("delta", l, *v) * sp.diff(definition, target) for v, definition in fw.definitions[l].items()]
        found["missing_step_sum"] = [term for term in uses if term != 0]
        return found
    if kind in ("a", "z") and network.layer(l).recurrent:
        output, back = derivation.through_time[l]
        sigma = _sigma_prime(derivation, fw.weighted[l][pos]) if kind == "z" else 1
        found["bptt_cut_to_one_step"] = [output.get(pos, sp.S.Zero) * sigma]  # the next step's (W)ᵀδ dropped
        if kind == "z":
            found["missing_activation_derivative"] = [back[pos]]
        return found
    if kind not in ("x", "a", "z"):
        return found
    after = 1 if kind == "x" else l + 1      # the layer that reads this map
    before = None if kind == "x" else network.layer(l)
    if kind == "a" and before.has_z and claim.written == "partial":
        before = None                        # ∂C/∂a: no σ' to apply
    if after > network.depth:
        return found
    layer = network.layer(after)
    delta = {p: Site("delta", after, *p) for p in derivation.deltas[after]}
    received = received_by(derivation.backward, derivation.skips, network, after - 1)

    def through(value):
        """A value of ∂C/∂a^{l} made into δ^{l} when the claim states the error of a layer with σ'."""
        if before is None or not before.has_z:
            return value
        return value * _sigma_prime(derivation, fw.weighted[l][pos])

    if layer.type in ("conv1d", "conv2d"):
        unrotated = replace(derivation.rules[layer.type], backward=functools.partial(conv_backward, rotate=False))
        wrong = apply_rule(unrotated, "backward", fw, layer, delta)[pos]
        found["kernel_not_rotated"] = [through(wrong + received[pos] - derivation.backward[after][pos])]
    if layer.type in ("maxpool", "avgpool"):
        k = len(network.examples[0])
        everywhere = sp.Add(*[delta[v] for v in delta if v[:k] == pos[:k] and pos[k:] in pool_window(layer, v[k:])])
        wrong = everywhere + received[pos] - derivation.backward[after][pos]  # what a skip adds stays
        found["pool_delta_everywhere" if layer.type == "maxpool" else "pool_not_averaged"] = [through(wrong)]
    if layer.type == "batchnorm":
        for name, wrong in _batchnorm_mistakes(network, layer, delta, pos).items():
            found[name] = [through(wrong + received[pos] - derivation.backward[after][pos])]
    if received[pos] != derivation.backward[after][pos]:  # a skip reads this map too: its error forgotten
        found["missing_skip"] = [through(derivation.backward[after][pos])]
    # a skip into a residual layer with an activation carries δ^r = ∂C/∂a^r ⊙ σ'(z^r); the mistake sends ∂C/∂a^r
    activated = [r for r in sorted(derivation.skips)
                 if network.layer(r).spec.source == after - 1 and network.layer(r).has_z]
    if activated:
        wrong = received[pos] + sp.Add(*[layered_truth(derivation, fw.outputs[r][pos]) - derivation.skips[r][pos]
                                         for r in activated])
        found["skip_without_activation_derivative"] = [through(wrong)]
    if before is not None and before.has_z:
        found["missing_activation_derivative"] = [received[pos]]
    return found


def _batchnorm_mistakes(network: LayeredNetwork, layer, delta: dict, pos: tuple) -> dict:
    """Batch normalisation's backward rule at ``pos`` with one path forgotten: the mean's (μ taken as a constant,
    which drops the sum of the errors) or the variance's (σ taken as a constant, which drops the last sum)."""
    gamma, _, _, sigma, xhat, _ = batchnorm_symbols(layer.index)
    for c, members in channel_groups(network, layer.input_shape).items():
        if pos in members:
            n = len(members)
            total = sp.Add(*[delta[j] for j in members])
            weighted = sp.Add(*[delta[j] * xhat(j) for j in members])
            scale = gamma(c) / (n * sigma(c))
            return {"missing_mean_path": scale * (n * delta[pos] - xhat(pos) * weighted),
                    "missing_variance_path": scale * (n * delta[pos] - total)}
    return {}


def _diagnose(derivation, claim, claimed, truth, sample) -> tuple:
    """The mistakes whose formula has the claim's value at every point of ``sample``, and differs from the
    derivation's at one of them at least (a mistake that changes nothing here explains nothing)."""
    values = [(known, _at(derivation, claimed, known), _at(derivation, truth, known)) for known in sample]
    names = []
    for name, mutants in _mutations(derivation, claim).items():
        for mutant in mutants:
            at = [(_at(derivation, mutant, known), value, right) for known, value, right in values]
            if all(_agree(m, value) for m, value, _ in at) and not all(_agree(m, right) for m, _, right in at):
                names.append(name)
                break
    return tuple(names)


def check_layered_claim(claim: LayeredClaim, derivation: LayeredDerivation, points: int = POINTS, seed: int = 0,
                        max_terms: int = MAX_TERMS) -> LayeredVerdict:
    """Decide ``claim`` against the derivation (see the module docstring); a claim about a whole map or vector
    entry by entry (the verdict shows the first entry that is not proven, ``entry`` its place)."""
    if isinstance(claim.target, sp.MatrixBase):
        return _check_map(claim, derivation, points, seed, max_terms)
    truth = layered_truth(derivation, claim.target)
    claimed = _named(derivation, claim.rhs)
    proven, method = _prove(derivation, claimed, truth, max_terms)
    if proven:
        return LayeredVerdict(claim, "correct", method, 0, truth)
    sample = _sample(derivation, points, seed)
    for known in sample:
        value, actual = _at(derivation, claimed, known), _at(derivation, truth, known)
        if not _agree(value, actual):
            return LayeredVerdict(claim, "incorrect", "numeric", len(sample), truth, (value, actual),
                                  _diagnose(derivation, claim, claimed, truth, sample))
    if proven is None:
        return LayeredVerdict(claim, "undecided", "numeric", len(sample), truth, reason="work")
    return LayeredVerdict(claim, "correct", "numeric", len(sample), truth, reason="not_proven")


def _check_map(claim, derivation, points, seed, max_terms) -> LayeredVerdict:
    verdicts = []
    for index, (target, rhs) in enumerate(zip(claim.target, claim.rhs)):
        entry = replace(claim, target=target, rhs=rhs)
        verdicts.append((divmod(index, claim.target.cols), check_layered_claim(entry, derivation, points, seed, max_terms)))
    order = {"incorrect": 0, "undecided": 1, "correct": 2}
    rank = {"numeric": 0, "cases": 1, "exact": 2}
    (row, column), shown = min(verdicts, key=lambda v: (order[v[1].status], rank[v[1].method]))
    entry = (row + 1,) if claim.target.cols == 1 else (row + 1, column + 1)
    return replace(shown, claim=claim, entry=entry if shown.status != "correct" else None, entries=len(verdicts))


@without_cycle_collection
def check_layered_formula(text: str, network: LayeredNetwork, syntax: str = "auto", derivation=None,
                          **options) -> LayeredVerdict:
    """Read the claim ``LHS = RHS`` about ``network`` and decide it, at every value of its index letters.

    >>> from symbackprop.model.layers import LayeredNetwork, conv1d, dense
    >>> net = LayeredNetwork([1, 3], [conv1d(1, 2, activation="identity"), dense(1, "identity")])
    >>> v = check_layered_formula(r"\\frac{\\partial C}{\\partial K^{1}_{1,1,p}} = \\sum_{i} \\delta^{1}_{1,i} x_{1,i+p-1}", net)
    >>> v.status, v.method, v.instances
    ('correct', 'exact', 2)
    """
    derivation = derivation or derive_layered(network)
    instances = layered_instances(text, derivation, syntax)
    verdicts = [(assignment, check_layered_claim(claim, derivation, **options))
                for assignment, claim in instances.claims]
    return _combined(verdicts, instances.letters)


@without_cycle_collection
def check_layered_document(document: str, fmt: str, network: LayeredNetwork, derivation=None, values=None,
                           equations=None, decided: dict | None = None, **options) -> list:
    """Every claim among the display equations of a document about a layered network, by line.

    Chains are read as for dense networks (``A = B = C`` gives ``A = B`` and ``A = C``; a display that starts
    with ``=`` continues the one before). A display whose left-hand side names no error or gradient of one
    entry is skipped (a definition, or a rule stated for whole maps); one that names an entry but whose
    right-hand side cannot be read is unreadable. A member that is arithmetic on numbers (a worked example's)
    is decided at the point of ``values`` (a :class:`~symbackprop.claims.values.WorkedPoint`), or skipped
    without it, as for dense networks (:func:`~symbackprop.claims.verdicts.read_chains`), and so are the numbers
    of the rows of its tables about a parameter, input or target (:mod:`symbackprop.claims.tables`). ``decided``
    may hold the verdicts of an earlier call with the same derivation, values and options (a dict this call
    fills), so that the documents of one derivation decide each claim once.
    """
    from .extraction import extract_equations
    from .verdicts import read_chains

    derivation = derivation or derive_layered(network)
    decided = {} if decided is None else decided
    shown, worked = decided.setdefault(("shown",), {}), decided.setdefault(("worked", id(values)), {})

    def read_shown(text):
        if text not in shown:
            reader, tree = _read(text, derivation, "latex", "formula")
            reader.shown = {}
            shown[text] = (reader.value(tree, {}), reader.shown)
        return shown[text]

    def worked_value(lhs):
        if lhs not in worked:
            try:
                worked[lhs] = (layered_value_at(derivation, lhs, values), None)
            except (SpecError, ValueError) as error:
                worked[lhs] = (None, error)
        value, error = worked[lhs]
        if error is not None:
            raise error
        return value

    def decide(claim):
        key = (claim.target, claim.rhs)
        if key not in decided:
            decided[key] = check_layered_claim(claim, derivation, **options)
        return replace(decided[key], claim=claim)

    def shorthand(text):
        if text not in decided:
            decided[text] = check_channel_claim(text, derivation, **options)
        return decided[text]

    if equations is None:
        equations = extract_equations(document, fmt)
    results = read_chains(list(equations), lambda lhs, rhs, members: layered_instances(
        f"{lhs} = {rhs}", derivation, "latex"), lambda lhs: _names_entry(lhs, derivation), decide, read_shown,
        worked_value, values, shorthand=shorthand)
    return layered_tables(results, document, fmt, derivation, values, read_shown, decided)


def layered_tables(results: list, document: str, fmt: str, derivation: LayeredDerivation, values, read_shown,
                   decided: dict) -> list:
    """``results`` with the verdicts on the numbers of the document's tables (:mod:`symbackprop.claims.tables`)."""
    from ..documents import printing
    from .extraction import extract_table_rows
    from .outputs import ETA
    from .tables import merged, step_quantities, table_results

    if not document:
        return results
    rows = decided.setdefault(("rows",), {})
    fw = derivation.forward

    def quantities(cell):
        if cell not in rows:
            try:
                reader, tree = _read(cell, derivation, "latex", "formula")
                expr = reader.value(tree, {})
            except SpecError:
                expr = None
            if isinstance(expr, sp.MatrixBase):
                expr = None
            rows[cell] = step_quantities(expr, COST, ETA) if expr in set(fw.parameters) else \
                (expr,) if expr in set(fw.inputs.values()) | set(fw.targets) else None
        return rows[cell]

    return merged(results, table_results(extract_table_rows(document, fmt), quantities,
                                         lambda expr: layered_value(derivation, expr, values), read_shown, values,
                                         printing.latex))


def layered_value_at(derivation: LayeredDerivation, lhs: str, values) -> sp.Expr:
    """The exact value (40 digits) of a left-hand side of a worked example at the point of ``values``: read with
    the network's entries, every factor of the chain rule and gradient through the derivation, and evaluated
    with the values of the forward pass and the errors at that point (:func:`~symbackprop.proof.layered.named_values`)."""
    reader, tree = _read(lhs, derivation, "latex", "formula")
    expr = reader.value(tree, {})
    if isinstance(expr, sp.MatrixBase):
        raise ValueError(f"{lhs} is not one number; expected one entry")
    return layered_value(derivation, expr, values)


def layered_value(derivation: LayeredDerivation, expr, values) -> sp.Expr:
    """``expr``, in the network's entries (with factors of the chain rule, C and η), at the point of ``values``."""
    from .values import eta_values

    cache = _POINT_VALUES.setdefault(derivation, {})
    if id(values) not in cache:  # kept with its values, so that the id stays its own
        cache[id(values)] = (values, named_values(derivation, values.point))
    known = cache[id(values)][1]
    named = _named(derivation, expr).xreplace({COST: derivation.forward.cost, **step_costs(derivation)})
    named = named.xreplace(eta_values(named, values.lr))
    value = _at(derivation, named, known)
    if not value.is_number or value.has(sp.nan, sp.zoo):
        raise ValueError(f"{expr} has no value at the example's point")
    return value


_POINT_VALUES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------------------- batch normalisation, one channel


def _channel_table(derivation: LayeredDerivation, layer, members: list) -> _LayeredTable:
    """The network's entries, and one channel of a batch normalisation as its documents write a channel: a^{l−1}_{i},
    a^{l}_{i}, δ^{l}_{i} and x̂^{(l)}_{i} the i-th of the channel's entries in reading order (i = 1..n), and n the
    number of them. An index that already names an entry keeps its meaning (one that names a whole channel of a map
    names the channel's entry instead)."""
    base = layered_table(derivation)
    table = copy.copy(base)
    table.entries, table.by_letter = dict(base.entries), {k: list(v) for k, v in base.by_letter.items()}
    table.arities, table.layered = {k: set(v) for k, v in base.arities.items()}, set(base.layered)
    table.printed, table.keys, table.explicit = dict(base.printed), dict(base.keys), {}
    fw, l = derivation.forward, layer.index
    _, _, _, _, xhat, _ = batchnorm_symbols(l)
    maps = (fw.a(l - 1), fw.outputs[l], {p: Site("delta", l, *p) for p in members}, {p: xhat(p) for p in members})
    for entries in maps:
        for m, pos in enumerate(members, start=1):
            letter, at, _ = base.keys[entries[pos]]
            key = (letter, at, (m,))
            if isinstance(base.entries.get(key), sp.MatrixBase):  # a whole channel of a map: here, its m-th entry
                del table.entries[key]
                table.by_letter[letter] = [e for e in table.by_letter[letter] if e[:2] != (at, (m,))]
            if key not in table.entries:
                table.add(key, entries[pos])
    if ("n", None, ()) not in base.entries:
        table.add(("n", None, ()), sp.Integer(len(members)))
    return table


def _channel_instances(text: str, derivation: LayeredDerivation, table: _LayeredTable):
    """Both sides of ``LHS = RHS`` read against one channel's table, at every value of the letters no sum binds."""
    _check_claim_text(text)
    check_bounds(text)
    prepared = _prepare(text)
    tree = _parse(prepared, "latex", "claim")
    reader = _LayeredReader(prepared, table, "latex")
    reader.derivation = derivation
    reader.rules = {layer.activation.name: layer.activation for layer in derivation.network.layers
                    if isinstance(getattr(layer, "activation", None), Activation)}
    lhs, _, rhs = tree.children

    def read():
        reader.terms = 0
        sides = reader.value(lhs, {}), reader.value(rhs, {})
        if any(isinstance(side, sp.MatrixBase) for side in sides):
            raise reader.error("expected one entry of the channel on each side", lhs)
        return sides

    return _instances(reader, read)


def _channel_forms(derivation: LayeredDerivation, layer) -> tuple[dict, dict]:
    """(named, composed): batch normalisation's μ, σ, x̂ and outputs by their definitions, one step (named) or
    down to the layer's input, γ, β and ε (composed)."""
    fw, l = derivation.forward, layer.index
    named, composed = {}, {}
    for symbol, definition in fw.auxiliary.items():  # μ, then σ, then x̂: each in those before it
        if symbol.layer == l:
            named[symbol] = definition
            composed[symbol] = definition.xreplace(composed)
    for pos, definition in fw.definitions[l].items():
        named[fw.outputs[l][pos]] = definition
        composed[fw.outputs[l][pos]] = definition.xreplace(composed)
    return named, composed


def _channel_value(derivation: LayeredDerivation, layer, expr, forms: dict, composed: bool):
    """``expr`` with each factor of the chain rule its value (∂C/∂a^{l−1}: what the layer passes back; ∂C/∂a^{l}: δ^l;
    any other ∂X/∂Y: the derivative of X's definition, Y an input of the layer or a parameter), then batch
    normalisation's quantities by ``forms``."""
    fw, l = derivation.forward, layer.index
    inputs, outputs = set(fw.a(l - 1).values()), fw.outputs[l]
    full = _channel_forms(derivation, layer)[1]

    def partial(e):
        if e.of == COST and e.wrt in inputs:
            return derivation.backward[l][e.wrt.position]
        if e.of == COST and e.wrt in set(outputs.values()):
            return Site("delta", l, *e.wrt.position)
        if e.of == COST:
            return layered_truth(derivation, e.wrt)
        if not (isinstance(e.wrt, Site) and (e.wrt in inputs or e.wrt.kind in ("gamma", "beta"))):
            raise FormulaError(f"the factor {e} differentiates with respect to {e.wrt}; expected an input of the "
                               "layer, γ or β")
        return sp.diff(sp.sympify(e.of).xreplace(full), e.wrt)

    value = sp.sympify(expr).replace(lambda e: isinstance(e, Partial), partial)
    value = value.xreplace(forms) if not composed else value.xreplace(full)
    return value.xreplace(fw.constants) if composed else value


def check_channel_claim(text: str, derivation: LayeredDerivation, points: int = POINTS, seed: int = 0,
                        max_terms: int = MAX_TERMS):
    """A statement about one channel of a batch normalisation, written as its documents write it (``\\mu^{(2)}_{c} =
    \\frac{\\sum_{i} a^{1}_{i}}{n}``, ``\\frac{\\partial C}{\\partial a^{1}_{i}} = …``), decided at every channel of every
    batch normalisation where it reads: both sides written out through the layer's definitions (down to its
    input, γ, β and ε; a factor ∂X/∂Y as the derivative of X's definition, ∂C/∂a^{l−1} as what the layer passes
    back) are compared exactly, else at random points. None when the text reads as no such statement.
    Decided once per derivation, like every statement (the same text in another document gets the same answer)."""
    known = _CHANNEL_VERDICTS.setdefault(derivation, {})
    key = (text, points, seed, max_terms)
    if key not in known:
        known[key] = _check_channel_claim(text, derivation, points, seed, max_terms)
    return known[key]


_CHANNEL_VERDICTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _check_channel_claim(text: str, derivation: LayeredDerivation, points: int, seed: int, max_terms: int):
    network = derivation.network
    def read_whole():
        sides = [reader.value(side, {}) for side in tree.children[::2]]
        if len({side.shape if isinstance(side, sp.MatrixBase) else () for side in sides}) > 1:
            raise reader.error("the two sides are of different shapes", tree)  # δ^{l}_{i} read as a whole channel
        return sides

    try:  # a statement that reads with the network's own entries is not written for one channel
        reader, tree = _read(text, derivation, "latex", "claim")
        _instances(reader, read_whole)
        return None
    except SpecError:
        pass
    verdicts, first_error = [], None
    for layer in network.layers:
        if layer.type != "batchnorm":
            continue
        named = _channel_forms(derivation, layer)[0]
        for c, members in channel_groups(network, layer.input_shape).items():
            try:
                instances = _channel_instances(text, derivation, _channel_table(derivation, layer, members))
            except SpecError as error:
                first_error = first_error or error
                continue
            for assignment, (lhs, rhs) in instances.claims:
                if dict(assignment).get("c", c) != c:  # μ_c, σ_c, γ_c name the channel the entries are counted in
                    continue
                claim = LayeredClaim(text, lhs, rhs, text.split("=", 1)[-1].strip(), "channel")
                verdict = _decide_channel(derivation, layer, claim, named, points, seed, max_terms)
                verdicts.append(((("layer", layer.index), ("c", c), *assignment), verdict))
    if not verdicts:
        return None
    letters = tuple((name, tuple(sorted({dict(a)[name] for a, _ in verdicts if name in dict(a)})))
                    for name in dict.fromkeys(n for a, _ in verdicts for n, _ in a))
    return _combined([(a, v) for a, v in verdicts], letters)


def _decide_channel(derivation, layer, claim: LayeredClaim, named: dict, points, seed, max_terms) -> LayeredVerdict:
    truth = _channel_value(derivation, layer, claim.target, {}, composed=False)
    left = _channel_value(derivation, layer, claim.target, named, composed=True)
    right = _channel_value(derivation, layer, claim.rhs, named, composed=True)
    difference = left - right
    if difference.has(sp.Piecewise):  # a bracket [i = j] of numbers has its value already
        difference = sp.piecewise_fold(difference)
    if _zero(difference, max_terms):
        return LayeredVerdict(claim, "correct", "exact", 0, truth)
    sample = _sample(derivation, points, seed)
    for known in sample:
        value, actual = _at(derivation, right, known), _at(derivation, left, known)
        if not _agree(value, actual):
            return LayeredVerdict(claim, "incorrect", "numeric", len(sample), truth, (value, actual),
                                  _channel_mistakes(derivation, layer, claim, right, named, sample))
    return LayeredVerdict(claim, "correct", "numeric", len(sample), truth, reason="not_proven")


def _channel_mistakes(derivation, layer, claim: LayeredClaim, right, named: dict, sample) -> tuple:
    """For ∂C/∂a^{l−1}_i, the paths through batch normalisation that the claim forgets (it agrees with the rule
    without them at every point of ``sample``)."""
    target = claim.target
    fw = derivation.forward
    if not (isinstance(target, Partial) and target.of == COST and target.wrt in set(fw.a(layer.index - 1).values())):
        return ()
    delta = {pos: Site("delta", layer.index, *pos) for pos in fw.outputs[layer.index]}
    names = []
    for name, mutant in _batchnorm_mistakes(derivation.network, layer, delta, target.wrt.position).items():
        composed = _channel_value(derivation, layer, mutant, named, composed=True)
        if all(_agree(_at(derivation, right, known), _at(derivation, composed, known)) for known in sample):
            names.append(name)
    return tuple(names)
