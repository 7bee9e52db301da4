"""Backpropagation through a list of layers: dense, convolution, pooling, flatten, batch normalisation, residual,
recurrent.

Two computations of every backward rule are kept apart and compared:

* **the chain rule, mechanically**: for each layer, ``sympy.diff`` of the definition of
  every z^l_v (or pooled a^l_v) by each quantity in it. A value a^{l−1}_u used by several
  outputs receives the sum over all of them, and a shared parameter (a kernel entry, used
  at every position) the sum over every place it is used:

      ∂C/∂a^{l−1}_u = Σ_v δ^l_v ∂z^l_v/∂a^{l−1}_u,        ∂C/∂θ = Σ_v δ^l_v ∂z^l_v/∂θ

* **the textbook rule** of the layer type (:data:`LAYER_RULES`), built from the layer's
  sizes by index arithmetic, never from the definitions:

      conv     ∂C/∂a^{l−1}_c = crop_P(Σ_o dil_s(δ^l_o) ⋆_full rot180(K^l_{o,c}))
               ∂C/∂K^l_{o,c} = pad_P(a^{l−1}_c) ⋆_valid dil_s(δ^l_o),   ∂C/∂b^l_o = Σ_positions δ^l_o
      maxpool  δ goes to the first maximum of its window in reading order, 0 elsewhere
      avgpool  every entry of a window receives δ/size²
      dense    ∂C/∂a^{l−1} = (W^l)ᵀ δ^l,  ∂C/∂w^l_{j,k} = δ^l_j a^{l−1}_k,  ∂C/∂b^l_j = δ^l_j
      flatten  ∂C/∂a^{l−1} is δ^l laid back out as the map
      batchnorm  ∂C/∂a^{l−1}_i = γ_c/(n σ_c) (n δ^l_i − Σ_j δ^l_j − x̂_i Σ_j δ^l_j x̂_j) over the n entries
               of channel c in the batch;  ∂C/∂γ_c = Σ_i δ^l_i x̂_i,  ∂C/∂β_c = Σ_i δ^l_i
      residual ∂C/∂a^{l−1} = δ^l, and δ^l is added to ∂C/∂a^m of the layer m the skip reads
      rnn      through time: ∂C/∂a^l_t = (W^l)ᵀ δ^l_{t+1} + e^l_t (δ^l_{T+1} = 0), with e^l_t what the
               output passes back to a^l_t (0 at a step that is not an output);
               ∂C/∂a^{l−1}_t = (U^l)ᵀ δ^l_t,  ∂C/∂W^l = Σ_t δ^l_t (a^l_{t−1})ᵀ,
               ∂C/∂U^l = Σ_t δ^l_t (a^{l−1}_t)ᵀ,  ∂C/∂b^l = Σ_t δ^l_t

and δ^{l−1} = ∂C/∂a^{l−1} ⊙ σ'(z^{l−1}) for a layer with an activation. The two are proven
equal for the network at hand: exactly (the difference expands to 0, with σ' left as an
opaque function) for every linear rule; case by case for max pooling, whose derivative is
piecewise (one case per entry of a window being its strict maximum; ties excluded); for batch
normalisation, after both forms are rewritten as rational functions with a symbol s_c for each
channel's σ_c (the chain rule's square root becomes √(s_c²) = s_c, x̂ becomes (x − μ)/s_c).

Over a batch (``batch = n``), every rule but batch normalisation's is applied to each example
alone (:func:`apply_rule`) and the parameter gradients are summed over the examples.

Independently of both, :func:`check` compares every gradient at random points with
high-precision central differences of a forward pass written separately in mpmath
(numeric evidence, not a proof), and, for small networks, with ``sympy.diff`` of the
fully composed cost evaluated at the same points.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field, replace
from typing import Callable

import mpmath
import sympy as sp

from ..collector import without_cycle_collection
from ..model.activations import A, Z, VectorActivation
from ..model.costs import Y
from ..model.layers import (COST, BatchNorm, Conv, Dense, Flatten, LayeredForward, LayeredNetwork, Pool, Recurrent,
                            Residual, Site, batchnorm_symbols, channel_groups, layered_forward, of_example, padded_value,
                            pool_window, positions)
from ..model.symbols import Partial
from .chain import Step
from .oracle import (GENERIC_STAND_IN, PROBABILITY_STAND_IN, mpmath_function, random_decimal, random_targets, realise,
                     with_numbers)

#: working precision of the numeric comparison, in decimal digits
DIGITS = 40
#: relative agreement required of the central differences
TOLERANCE = sp.Float("1e-20")
#: networks with at most this many parameters are also compared with sympy.diff of the composed cost
COMPOSED_LIMIT = 8
#: how far from a tie of a max-pool window or a kink of a piecewise activation a random point must be
MARGIN = mpmath.mpf("1e-4")


# ---------------------------------------------------------------------- textbook rules per layer type


def conv_backward(fw: LayeredForward, layer, delta: dict, rotate: bool = True) -> dict:
    """∂C/∂a^{l−1} = crop_P(Σ_o pad_{0,r}(dil_s(δ^l_o)) ⋆_full rot180(K^l_{o,c})), entry by entry, where
    r = (n + 2P − k) mod s entries of the padded input lie past the last window (r = 0 when the stride divides
    n + 2P − k): they are read by no window, and the r zeros after the dilated δ give them no error.

    ``rotate=False`` gives the classic mistake, the kernel slid over δ without its rotation (the claim
    checker names it by comparing a claim with it).

    Dilating δ by the stride puts δ^l_{o,i} at s(i−1)+1; the full cross-correlation pads the
    dilated map by k−1 zeros and slides the kernel rotated by 180° (rot180(K)_p = K_{k+1−p})
    over it: at padded input coordinate r it takes Σ_p rot180(K)_p · dil(δ)_{r+p−k}. Cropping
    the padding maps input coordinate r to padded coordinate r + P. An entry of the dilated map that δ does not
    fill (between its entries, or among the r zeros after them) is absent from ``dilated``, a zero.
    """
    spec, l, k = layer.spec, layer.index, layer.spec.kernel
    dilated = {(pos[0], *(spec.stride * (i - 1) + 1 for i in pos[1:])): d for pos, d in delta.items()}
    offsets = positions((k,) * spec.dims)
    out = {}
    for pos in positions(layer.input_shape):
        c, padded = pos[0], [x + spec.padding for x in pos[1:]]
        terms = []
        for o in range(1, spec.channels + 1):
            for off in offsets:
                rotated = tuple(k + 1 - p for p in off) if rotate else off
                source = (o, *(r + p - k for r, p in zip(padded, off)))
                if source in dilated:
                    terms.append(Site("K", l, o, c, *rotated) * dilated[source])
        out[pos] = sp.Add(*terms)
    return out


def conv_gradients(fw: LayeredForward, layer, delta: dict) -> dict:
    """∂C/∂K^l_{o,c} = crop_{0,r}(pad_P(a^{l−1}_c)) ⋆_valid dil_s(δ^l_o), the padded input without the r entries past
    the last window (see :func:`conv_backward`); ∂C/∂b^l_o = Σ over positions of δ^l_o."""
    spec, l = layer.spec, layer.index
    previous = fw.a(l - 1)
    dilated = {(pos[0], *(spec.stride * (i - 1) + 1 for i in pos[1:])): d for pos, d in delta.items()}
    grads = {}
    for o in range(1, spec.channels + 1):
        for c in range(1, layer.input_shape[0] + 1):
            for off in positions((spec.kernel,) * spec.dims):
                terms = [d * padded_value(previous, c, [u + p - 1 for u, p in zip(where[1:], off)], spec.padding)
                         for where, d in dilated.items() if where[0] == o]
                grads[Site("K", l, o, c, *off)] = sp.Add(*terms)
        if spec.bias:
            grads[Site("b", l, o)] = sp.Add(*[d for pos, d in delta.items() if pos[0] == o])
    return grads


def first_maximum(window: list, index: int) -> sp.Expr:
    """1 where entry ``index`` is the first maximum of ``window`` in reading order, else 0.

    The tie convention: an entry beats the entries before it strictly and those after it or equal.
    """
    return _first_maximum(tuple(window), index)


@functools.lru_cache(maxsize=4096)
def _first_maximum(window: tuple, index: int) -> sp.Expr:
    """:func:`first_maximum`, kept per process: every derivation of a network builds the same windows."""
    here = window[index]
    conditions = [here > other for other in window[:index]] + [here >= other for other in window[index + 1:]]
    return sp.Piecewise((1, sp.And(*conditions)), (0, True))


def maxpool_backward(fw: LayeredForward, layer, delta: dict) -> dict:
    """δ^l of each window goes to the window's first maximum; every other entry receives 0."""
    previous = fw.a(layer.index - 1)
    out = {pos: [] for pos in positions(layer.input_shape)}
    for pos, d in delta.items():
        window = pool_window(layer, pos)
        values = [previous[p] for p in window]
        for index, p in enumerate(window):
            out[p].append(d * first_maximum(values, index))
    return {pos: sp.Add(*terms) for pos, terms in out.items()}


def avgpool_backward(fw: LayeredForward, layer, delta: dict) -> dict:
    """Every entry of a window receives δ^l / size^dims of that window."""
    out = {pos: [] for pos in positions(layer.input_shape)}
    for pos, d in delta.items():
        window = pool_window(layer, pos)
        for p in window:
            out[p].append(d / len(window))
    return {pos: sp.Add(*terms) for pos, terms in out.items()}


def dense_backward(fw: LayeredForward, layer, delta: dict) -> dict:
    """∂C/∂a^{l−1}_k = Σ_j w^l_{j,k} δ^l_j ((W^l)ᵀ δ^l), with k counting the input in reading order."""
    l = layer.index
    return {pos: sp.Add(*[Site("w", l, j, k) * d for (j,), d in delta.items()])
            for k, pos in enumerate(positions(layer.input_shape), start=1)}


def dense_gradients(fw: LayeredForward, layer, delta: dict) -> dict:
    """∂C/∂w^l_{j,k} = δ^l_j a^{l−1}_k and ∂C/∂b^l_j = δ^l_j."""
    l = layer.index
    flat = list(fw.a(l - 1).values())
    grads = {Site("w", l, j, k): d * a for (j,), d in delta.items() for k, a in enumerate(flat, start=1)}
    if layer.bias:
        grads.update({Site("b", l, j): d for (j,), d in delta.items()})
    return grads


def flatten_backward(fw: LayeredForward, layer, delta: dict) -> dict:
    """δ^l laid back out as the map: entry k goes to the k-th position in reading order."""
    return {pos: delta[(k,)] for k, pos in enumerate(positions(layer.input_shape), start=1)}


def no_gradients(fw, layer, delta) -> dict:
    return {}


def rnn_through_time(fw: LayeredForward, layer, delta: dict, output: dict) -> dict:
    """∂C/∂a^l_{t,j} = Σ_i W^l_{i,j} δ^l_{t+1,i} ((W^l)ᵀ δ^l_{t+1}, none at the last step) + e^l_{t,j}.

    ``output`` gives e^l by (step, unit): what the layer's output passes back to that state.
    The result is ordered from the last step to the first, the order in which it is computed.
    """
    l = layer.index
    steps, units = layer.state_shape
    out = {}
    for t in range(steps, 0, -1):
        for j in range(1, units + 1):
            terms = [Site("W", l, i, j) * delta[(t + 1, i)] for i in range(1, units + 1)] if t < steps else []
            out[(t, j)] = sp.Add(*terms, output.get((t, j), sp.S.Zero))
    return out


def rnn_backward(fw: LayeredForward, layer, delta: dict) -> dict:
    """∂C/∂a^{l−1}_{t,k} = Σ_j U^l_{j,k} δ^l_{t,j}: (U^l)ᵀ δ^l_t at every step."""
    l = layer.index
    units = layer.spec.size
    return {(t, k): sp.Add(*[Site("U", l, j, k) * delta[(t, j)] for j in range(1, units + 1)])
            for t, k in positions(layer.input_shape)}


def rnn_gradients(fw: LayeredForward, layer, delta: dict) -> dict:
    """∂C/∂W^l_{j,i} = Σ_{t≥2} δ^l_{t,j} a^l_{t−1,i} (a^l_0 = 0), ∂C/∂U^l_{j,k} = Σ_t δ^l_{t,j} a^{l−1}_{t,k},
    ∂C/∂b^l_j = Σ_t δ^l_{t,j}: each a sum over every step, where the shared weight is used."""
    l = layer.index
    steps, width = layer.input_shape
    units = range(1, layer.spec.size + 1)
    state, previous = fw.states[l], fw.a(l - 1)
    grads = {Site("W", l, j, i): sp.Add(*[delta[(t, j)] * state[(t - 1, i)] for t in range(2, steps + 1)])
             for j in units for i in units}
    grads.update({Site("U", l, j, k): sp.Add(*[delta[(t, j)] * previous[(t, k)] for t in range(1, steps + 1)])
                  for j in units for k in range(1, width + 1)})
    if layer.bias:
        grads.update({Site("b", l, j): sp.Add(*[delta[(t, j)] for t in range(1, steps + 1)]) for j in units})
    return grads


def batchnorm_backward(fw: LayeredForward, layer, delta: dict) -> dict:
    """∂C/∂a^{l−1}_i = γ_c / (n σ_c) · (n δ^l_i − Σ_j δ^l_j − x̂_i Σ_j δ^l_j x̂_j), over the n entries j of
    channel c in the batch (δ^l = ∂C/∂a^l: batch normalisation has no activation)."""
    gamma, _, _, sigma, xhat, _ = batchnorm_symbols(layer.index)
    out = {}
    for c, members in channel_groups(fw.network, layer.input_shape).items():
        n = len(members)
        total = sp.Add(*[delta[j] for j in members])
        weighted = sp.Add(*[delta[j] * xhat(j) for j in members])
        for i in members:
            out[i] = gamma(c) / (n * sigma(c)) * (n * delta[i] - total - xhat(i) * weighted)
    return out


def batchnorm_gradients(fw: LayeredForward, layer, delta: dict) -> dict:
    """∂C/∂γ_c = Σ_i δ^l_i x̂_i and ∂C/∂β_c = Σ_i δ^l_i, over the entries of channel c in the batch."""
    gamma, beta, _, _, xhat, _ = batchnorm_symbols(layer.index)
    groups = channel_groups(fw.network, layer.input_shape)
    grads = {gamma(c): sp.Add(*[delta[i] * xhat(i) for i in members]) for c, members in groups.items()}
    grads.update({beta(c): sp.Add(*[delta[i] for i in members]) for c, members in groups.items()})
    return grads


def batchnorm_rational(fw: LayeredForward, layer) -> Callable:
    """Writes an expression of the layer as a rational function in a^{l−1}, γ, β, ε and one symbol s_c per
    channel that stands for σ_c: x̂_i becomes (a^{l−1}_i − μ_c)/s_c, μ_c its mean, and √(Σ(…)²/n + ε),
    the chain rule's σ_c, becomes √(s_c²) = s_c. The identity that relates s_c to the a's is never used, so an
    equality of the rewritten forms holds for every s_c, and so for s_c = σ_c."""
    l = layer.index
    _, _, mu, sigma, xhat, _ = batchnorm_symbols(l)
    chain_defs = fw.definitions[l]
    named, radicals = {}, {}
    for c, members in channel_groups(fw.network, layer.input_shape).items():
        s = sp.Symbol(f"s_{c}", positive=True)
        mean = fw.auxiliary[mu(c)]
        named[sigma(c)] = s
        named[mu(c)] = mean
        for i in members:
            named[xhat(i)] = (fw.a(l - 1)[i] - mean) / s
        # the chain rule's definition: γ (a − mean) · radical**(−1/2) + β; its radical's base becomes s²
        for power in chain_defs[members[0]].atoms(sp.Pow):
            if power.exp == sp.Rational(-1, 2):
                radicals[power.base] = s ** 2

    def rewrite(expr):
        return expr.xreplace(named).xreplace(radicals)

    return rewrite


def residual_backward(fw: LayeredForward, layer, delta: dict) -> dict:
    """Through the main path a^{l−1} → a^l = a^{l−1} + a^m, the identity: ∂C/∂a^{l−1} = δ^l."""
    return dict(delta)


def residual_skip(fw: LayeredForward, layer, delta: dict) -> dict:
    """Through the skip a^m → a^l, the identity again: δ^l is added to ∂C/∂a^m, entry by entry."""
    return dict(delta)


@dataclass(frozen=True)
class LayerRule:
    """A layer type's textbook backward rule and parameter gradients.

    ``backward(fw, layer, δ^l)`` gives ∂C/∂a^{l−1} by input position, ``gradients(fw, layer, δ^l)``
    ∂C/∂θ by parameter, both in the δ^l given. ``piecewise``: proven case by case, not by expansion.
    ``through_time(fw, layer, δ^l, e^l)``, for a recurrent layer: ∂C/∂a^l at every step in the δ^l
    of the next step and e^l, what the layer's output passes back (by step and unit).
    ``batch``: the rule is given the whole batch (its positions carry the example's number) rather
    than one example at a time. ``skip(fw, layer, δ^l)``: what the layer adds to ∂C/∂a^m of the
    earlier layer m it reads (a residual connection). ``rational(fw, layer)``: a rewriting of both
    forms into rational functions before they are compared (batch normalisation's square root).
    """

    name: str
    backward: Callable
    gradients: Callable
    piecewise: bool = False
    through_time: Callable | None = None
    batch: bool = False
    skip: Callable | None = None
    rational: Callable | None = None


#            type        rule
LAYER_RULES = {
    "dense":   LayerRule("dense", dense_backward, dense_gradients),
    "conv1d":  LayerRule("conv", conv_backward, conv_gradients),
    "conv2d":  LayerRule("conv", conv_backward, conv_gradients),
    "maxpool": LayerRule("maxpool", maxpool_backward, no_gradients, piecewise=True),
    "avgpool": LayerRule("avgpool", avgpool_backward, no_gradients),
    "flatten": LayerRule("flatten", flatten_backward, no_gradients),
    "rnn":     LayerRule("rnn", rnn_backward, rnn_gradients, through_time=rnn_through_time),
    "batchnorm": LayerRule("batchnorm", batchnorm_backward, batchnorm_gradients, batch=True,
                           rational=batchnorm_rational),
    "residual": LayerRule("residual", residual_backward, no_gradients, skip=residual_skip),
}


# ---------------------------------------------------------------------- the chain rule, mechanically


def partial_derivative(definition: sp.Expr, symbol: sp.Symbol) -> sp.Expr:
    """∂(definition)/∂symbol. A definition is mostly a sum of products in which the symbol is one plain factor
    (a weighted input, a convolution, a sum over a window): such a term's derivative is read off as the
    product of its other factors, which is what sympy.diff returns for it, without the machinery; any
    other term goes to sympy.diff."""
    parts = []
    for term in (definition.args if definition.is_Add else (definition,)):
        if term == symbol:
            parts.append(sp.S.One)
        elif term.is_Mul and term.args.count(symbol) == 1 \
                and not any(factor != symbol and factor.has(symbol) for factor in term.args):
            parts.append(sp.Mul(*[factor for factor in term.args if factor != symbol]))
        elif term.has(symbol):
            parts.append(_term_derivative(term, symbol))
    return sp.Add(*parts)


@functools.lru_cache(maxsize=4096)
def _term_derivative(term: sp.Expr, symbol: sp.Symbol) -> sp.Expr:
    """``sympy.diff(term, symbol)``, kept per process: a max-pool window or a batch normalisation reads the same
    terms in every derivation of the same network, and their derivatives cost more than the rest of the step."""
    return sp.diff(term, symbol)


def chain_backward(fw: LayeredForward, layer, delta: dict, source: int | None = None) -> dict:
    """∂C/∂a^{l−1}_u = Σ_v δ^l_v ∂(definition of v)/∂a^{l−1}_u, over every v whose definition uses u
    (with ``source``: ∂C/∂a^m_u of layer m instead, for the skip of a residual layer)."""
    previous = fw.a(layer.index - 1 if source is None else source)
    where = {symbol: pos for pos, symbol in previous.items()}
    out = {pos: [] for pos in previous}
    for v, definition in fw.definitions[layer.index].items():
        for symbol in sorted(definition.free_symbols & where.keys(), key=lambda s: where[s]):
            out[where[symbol]].append(delta[v] * partial_derivative(definition, symbol))
    return {pos: sp.Add(*terms) for pos, terms in out.items()}


def chain_skip(fw: LayeredForward, layer, delta: dict) -> dict:
    """∂C/∂a^m_u through the skip of a residual layer: Σ_v δ^l_v ∂a^l_v/∂a^m_u (m the layer it reads)."""
    return chain_backward(fw, layer, delta, source=layer.spec.source)


def chain_gradients(fw: LayeredForward, layer, delta: dict) -> dict:
    """∂C/∂θ = Σ_v δ^l_v ∂z^l_v/∂θ, over every position v where θ is used."""
    params = [p for p in fw.parameters if p.layer == layer.index]
    wanted = set(params)
    out = {p: [] for p in params}
    for v, definition in fw.definitions[layer.index].items():
        for symbol in definition.free_symbols & wanted:
            out[symbol].append((v, delta[v] * partial_derivative(definition, symbol)))
    return {p: sp.Add(*[term for _, term in sorted(out[p], key=lambda t: t[0])]) for p in params}


def chain_through_time(fw: LayeredForward, layer, delta: dict, output: dict) -> dict:
    """∂C/∂a^l_{t,j} = Σ_v δ^l_v ∂z^l_v/∂a^l_{t,j} over every z^l_v of the layer that reads the state,
    plus e^l_{t,j} (what the output passes back) where the state is one of the layer's outputs."""
    states = fw.states[layer.index]
    where = {state: pos for pos, state in states.items()}
    uses = {pos: [] for pos in states}
    for v, definition in fw.definitions[layer.index].items():
        for state in sorted(definition.free_symbols & where.keys(), key=lambda s: where[s]):
            uses[where[state]].append(delta[v] * partial_derivative(definition, state))
    given = set(fw.outputs[layer.index].values())
    return {pos: sp.Add(*uses[pos], *([output[pos]] if state in given else [])) for pos, state in states.items()}


# ---------------------------------------------------------------------- the derivation


@dataclass(frozen=True, eq=False)
class LayeredDerivation:
    """δ for every layer and ∂C/∂θ for every parameter of a layered network, in named quantities.

    ``deltas[l][pos]``: δ^l at ``pos`` in δ^{l+1} (the output layer's in a and y); ``gradients[θ]``:
    the textbook form in δ^l and a^{l−1}; ``backward[l]``: ∂C/∂a^{l−1} by the textbook rule
    of layer l (∂C/∂x for l = 1). ``rules`` are the rules used (a test may plant a wrong one).
    ``output``: the simplified form of ``raw_output`` (δ^L, or ∂C/∂a^L for a recurrent output
    layer). ``through_time[l]``, for a recurrent layer: (e^l, ∂C/∂a^l), both by (step, unit);
    its δ^l is in the δ^l of the next step, and listed from the last step to the first.
    """

    network: LayeredNetwork
    forward: LayeredForward = field(repr=False)
    deltas: dict = field(repr=False)
    backward: dict = field(repr=False)
    gradients: dict = field(repr=False)
    rules: dict = field(repr=False)
    raw_output: dict = field(repr=False)
    output: dict = field(repr=False, default_factory=dict)
    through_time: dict = field(repr=False, default_factory=dict)
    #: what each residual layer l adds to ∂C/∂a^m of the layer m it reads, by position: skips[l]
    skips: dict = field(repr=False, default_factory=dict)

    @property
    def params(self) -> tuple:
        return self.forward.parameters

    def check(self, points: int = 2, seed: int = 0, composed: bool | None = None):
        return check(self, points=points, seed=seed, composed=composed)


def _delta_symbols(network, l):
    return {e + pos: Site("delta", l, *e, *pos) for e in network.examples
            for pos in positions(network.layer(l).state_shape)}


def example_view(fw: LayeredForward, prefix: tuple) -> LayeredForward:
    """The named quantities of one example of a batch, keyed by position without the example's number
    (the forward pass itself for a single example): what a rule that works per example is given."""
    if not prefix:
        return fw
    return replace(fw, inputs=of_example(fw.inputs, prefix),
                   outputs={l: of_example(v, prefix) for l, v in fw.outputs.items()},
                   weighted={l: of_example(v, prefix) for l, v in fw.weighted.items()},
                   definitions={l: of_example(v, prefix) for l, v in fw.definitions.items()})


def apply_rule(rule: LayerRule, part: str, fw: LayeredForward, layer, delta: dict) -> dict:
    """``rule.backward``, ``.gradients`` or ``.skip`` over the batch: given it whole (a batch rule), or
    example by example, the positions given back with the example's number and the gradients summed."""
    function = getattr(rule, part)
    if rule.batch or fw.network.batch == 1:
        return function(fw, layer, delta)
    out: dict = {}
    for e in fw.network.examples:
        result = function(example_view(fw, e), layer, of_example(delta, e))
        if part == "gradients":
            for p, g in result.items():
                out[p] = out[p] + g if p in out else g
        else:
            out.update({e + pos: value for pos, value in result.items()})
    return out


def _sigma_prime(layer, z, a):
    return layer.activation.prime_named(z, a)


def _output_deltas(fw: LayeredForward) -> tuple[dict, dict]:
    """δ^L = ∂C/∂z^L (or ∂C/∂a^L without activation, or for a recurrent layer, whose δ is formed through
    time), raw and simplified, by output position."""
    network = fw.network
    last = network.layers[-1]
    L = last.index
    raw, value = {}, {}
    rule = last.activation
    for e in network.examples:
        where = [pos for pos in fw.outputs[L] if pos[:len(e)] == e]
        outputs = [fw.outputs[L][pos] for pos in where]
        targets = fw.example_targets(e)
        grads = [network.cost.gradient(a, y) for a, y in zip(outputs, targets)]
        for index, pos in enumerate(where):
            if rule is None or last.recurrent:
                raw[pos] = grads[index]
            elif isinstance(rule, VectorActivation):
                raw[pos] = sp.Add(*[g * rule.jacobian_named(i, index, outputs) for i, g in enumerate(grads)])
            else:
                raw[pos] = grads[index] * rule.prime_named(fw.weighted[L][pos], fw.outputs[L][pos])
            value[pos] = _simplest(raw[pos], fw, targets)
    return raw, value


def _simplest(expr: sp.Expr, fw: LayeredForward, targets) -> sp.Expr:
    """A rational cancellation, then Σ_j y_j = 1 when the cost's targets sum to one; the shortest kept."""
    best = expr
    cancelled = sp.cancel(expr)
    if sp.count_ops(cancelled) < sp.count_ops(best):
        best = cancelled
    if fw.network.cost.targets_sum_to_one:
        outputs = sorted((s for s in best.free_symbols if isinstance(s, Site) and s.kind == "a"), key=sp.default_sort_key)
        reduced = sp.collect(sp.expand(best), outputs).subs(sp.Add(*targets), 1)
        if sp.count_ops(reduced) < sp.count_ops(best):
            best = reduced
    return best


@without_cycle_collection
def derive_layered(network: LayeredNetwork, rules: dict | None = None) -> LayeredDerivation:
    """Apply the textbook rule of every layer, from the output back, and collect every gradient.

    >>> from symbackprop.model.layers import LayeredNetwork, conv1d, dense
    >>> d = derive_layered(LayeredNetwork([1, 3], [conv1d(1, 2, activation="identity", bias=False),
    ...                                            dense(1, "identity", bias=False)]))
    >>> d.gradients[Site("K", 1, 1, 1, 1)]
    delta[1;1,1]*x[1,1] + delta[1;1,2]*x[1,2]
    """
    rules = {**LAYER_RULES, **(rules or {})}
    fw = layered_forward(network)
    raw, output = _output_deltas(fw)
    L = network.depth
    deltas = {L: output}
    backward = {}
    gradients = {}
    through_time = {}
    if network.layers[-1].recurrent:
        deltas[L] = _deltas_through_time(fw, rules, network.layers[-1], output, through_time)
    skips = {}
    for layer in reversed(network.layers):
        l = layer.index
        delta = _delta_symbols(network, l)
        rule = rules[layer.type]
        gradients.update(apply_rule(rule, "gradients", fw, layer, delta))
        backward[l] = apply_rule(rule, "backward", fw, layer, delta)  # into layer l − 1; for l = 1, ∂C/∂x
        if rule.skip is not None:
            skips[l] = apply_rule(rule, "skip", fw, layer, delta)  # into the layer the skip reads
        if l == 1:
            continue
        received = received_by(backward, skips, network, l - 1)
        before = network.layer(l - 1)
        if before.recurrent:
            deltas[l - 1] = _deltas_through_time(fw, rules, before, received, through_time)
        elif before.has_z:
            deltas[l - 1] = {pos: g * _sigma_prime(before, fw.weighted[l - 1][pos], fw.outputs[l - 1][pos])
                             for pos, g in received.items()}
        else:
            deltas[l - 1] = received
    ordered = {p: gradients[p] for p in fw.parameters}
    return LayeredDerivation(network, fw, deltas, backward, ordered, rules, raw, output=output,
                             through_time=through_time, skips=skips)


def received_by(backward: dict, skips: dict, network: LayeredNetwork, m: int) -> dict:
    """∂C/∂a^m: what layer m + 1 passes back, plus what every residual layer reading a^m adds."""
    total = dict(backward[m + 1])
    for l, added in sorted(skips.items()):
        if network.layer(l).spec.source == m:
            total = {pos: g + added[pos] for pos, g in total.items()}
    return total


def _deltas_through_time(fw: LayeredForward, rules: dict, layer, given: dict, through_time: dict) -> dict:
    """δ^l of a recurrent layer, step by step from the last: ∂C/∂a^l_t by the rule's through_time,
    given ∂C/∂a^l at the layer's outputs (``given``, by output position), times σ'(z^l_t)."""
    l = layer.index
    step_of = {state: pos for pos, state in fw.states[l].items()}
    output = {step_of[fw.outputs[l][pos]]: value for pos, value in given.items()}
    back = rules[layer.type].through_time(fw, layer, _delta_symbols(fw.network, l), output)
    through_time[l] = (output, back)
    return {pos: g * _sigma_prime(layer, fw.weighted[l][pos], fw.states[l][pos]) for pos, g in back.items()}


# ---------------------------------------------------------------------- steps (data for documents)


def backward_steps(derivation: LayeredDerivation, l: int, pos) -> tuple[Step, ...]:
    """How ∂C/∂a^{l−1} at ``pos`` (∂C/∂x for l = 1) and then δ^{l−1} there follow from the chain rule."""
    fw, network = derivation.forward, derivation.network
    layer = network.layer(l)
    u = fw.a(l - 1)[pos]
    # every layer that reads a^{l−1}: layer l, and each residual layer whose skip starts there
    readers = [l] + [r for r in sorted(derivation.skips) if network.layer(r).spec.source == l - 1]
    uses, chain, rule = [], [], []
    for r in readers:
        reader = network.layer(r)
        named = fw.weighted[r] if reader.has_z else fw.outputs[r]
        uses += [Partial(COST, named[v]) * Partial(named[v], u)
                 for v, definition in fw.definitions[r].items() if u in definition.free_symbols]
        delta = _delta_symbols(network, r)
        chain.append(chain_backward(fw, reader, delta)[pos] if r == l else chain_skip(fw, reader, delta)[pos])
        rule.append(derivation.backward[l][pos] if r == l else derivation.skips[r][pos])
    steps = [Step("sum_over_uses", Partial(COST, u), sp.Add(*uses))]
    if derivation.rules[layer.type].rational is None:  # batch normalisation's is shown through μ and σ instead
        steps.append(Step("substitute", Partial(COST, u), sp.Add(*chain)))
    steps.append(Step("layer_rule", steps[-1].after, sp.Add(*rule)))
    before = network.layer(l - 1) if l > 1 else None
    if before is not None and before.has_z and not before.recurrent:  # a recurrent layer's δ is formed through time
        z = fw.weighted[l - 1][pos]
        steps.append(Step("delta_definition", Site("delta", l - 1, *pos), Partial(COST, z)))
        steps.append(Step("activation_derivative", Partial(COST, z), Partial(COST, u) * Partial(u, z)))
        steps.append(Step("substitute", Partial(COST, u) * Partial(u, z), derivation.deltas[l - 1][pos]))
    return tuple(steps)


def gradient_steps(derivation: LayeredDerivation, parameter: Site) -> tuple[Step, ...]:
    """∂C/∂θ as the sum over every place θ is used, then in the layer's textbook form."""
    fw, network = derivation.forward, derivation.network
    layer = network.layer(parameter.layer)
    delta = _delta_symbols(network, layer.index)
    users = [v for v, definition in fw.definitions[layer.index].items() if parameter in definition.free_symbols]
    z = fw.weighted[layer.index] if layer.has_z else fw.outputs[layer.index]
    chain = chain_gradients(fw, layer, delta)[parameter]
    steps = [Step("shared_weight_sum" if len(users) > 1 else "chain_rule", Partial(COST, parameter),
                  sp.Add(*[Partial(COST, z[v]) * Partial(z[v], parameter) for v in users]))]
    if derivation.rules[layer.type].rational is None:  # batch normalisation's is shown through x̂ instead
        steps.append(Step("substitute", Partial(COST, parameter), chain))
    steps.append(Step("layer_rule", steps[-1].after, derivation.gradients[parameter]))
    return tuple(steps)


def through_time_steps(derivation: LayeredDerivation, l: int, pos) -> tuple[Step, ...]:
    """How ∂C/∂a^l at (step, unit) ``pos`` of a recurrent layer, and then δ^l there, follow from the
    chain rule: the sum over the next step's weighted inputs that read the state, plus what the
    output passes back."""
    fw, network = derivation.forward, derivation.network
    layer = network.layer(l)
    u, z = fw.states[l][pos], fw.weighted[l][pos]
    output, back = derivation.through_time[l]
    users = [v for v, definition in fw.definitions[l].items() if u in definition.free_symbols]
    chain = chain_through_time(fw, layer, _delta_symbols(network, l), output)[pos]
    uses = [Partial(COST, fw.weighted[l][v]) * Partial(fw.weighted[l][v], u) for v in users]
    if pos in output:
        uses.append(output[pos])
    return (
        Step("sum_over_uses", Partial(COST, u), sp.Add(*uses)),
        Step("substitute", Partial(COST, u), chain),
        Step("layer_rule", chain, back[pos]),
        Step("delta_definition", Site("delta", l, *pos), Partial(COST, z)),
        Step("activation_derivative", Partial(COST, z), Partial(COST, u) * Partial(u, z)),
        Step("substitute", Partial(COST, u) * Partial(u, z), derivation.deltas[l][pos]),
    )


# ---------------------------------------------------------------------- the check


@dataclass(frozen=True)
class LayerFact:
    """One checked fact: ``what`` (output, through_time, backward, gradients, numeric, composed) of ``layer``.

    ``count`` things were compared (entries, parameters, outputs or gradients), ``failed`` of them
    disagree, ``first`` is the first that does (a symbol); ``points`` and ``worst`` (the largest
    relative difference) for the comparisons at random points. Templates put these in words.
    """

    what: str
    layer: int | None
    rule: str
    method: str
    ok: bool
    count: int
    failed: int = 0
    first: sp.Expr | None = None
    points: int = 0
    worst: float | None = None


@dataclass(frozen=True)
class LayeredReport:
    facts: tuple

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.facts)


def _linear_difference(textbook: sp.Expr, chain: sp.Expr, deltas) -> list:
    """The coefficient of each δ in textbook − chain, and the rest (0 when they agree)."""
    difference = sp.expand(textbook - chain)
    present = sorted(difference.free_symbols & set(deltas), key=sp.default_sort_key)
    parts = [(d, difference.coeff(d)) for d in present]
    rest = difference.xreplace({d: 0 for d in deltas})
    return parts + [(None, rest)]


def _max_cases(window: list):
    """One exact point per case: the entry at ``m`` is the strict maximum, the others distinct below it."""
    for m in range(len(window)):
        values = {}
        others = [w for i, w in enumerate(window) if i != m]
        for rank, w in enumerate(others, start=1):
            values[w] = sp.Integer(rank)
        values[window[m]] = sp.Integer(len(window))
        yield values


def _prove_backward(derivation: LayeredDerivation, l: int) -> LayerFact:
    fw, network = derivation.forward, derivation.network
    layer = network.layer(l)
    rule = derivation.rules[layer.type]
    delta = _delta_symbols(network, l)
    chain = chain_backward(fw, layer, delta)
    textbook = derivation.backward[l]
    rewrite = rule.rational(fw, layer) if rule.rational is not None else (lambda expr: expr)
    bad = []
    for pos in chain:
        for d, coefficient in _linear_difference(rewrite(textbook[pos]), rewrite(chain[pos]), delta.values()):
            if coefficient == 0:
                continue
            if rule.piecewise and d is not None:
                prefix = d.position[:len(d.position) - len(layer.output_shape)]
                window = [fw.a(l - 1)[prefix + p] for p in pool_window(layer, d.position[len(prefix):])]
                if all(coefficient.xreplace(case) == 0 for case in _max_cases(window)):
                    continue
            bad.append(pos)
            break
    method = "cases" if rule.piecewise else "rational" if rule.rational is not None else "exact"
    first = fw.a(l - 1)[bad[0]] if bad else None
    return LayerFact("backward", l, rule.name, method, not bad, len(chain), len(bad), first)


def _prove_through_time(derivation: LayeredDerivation, l: int) -> LayerFact:
    """∂C/∂a^l at every step of a recurrent layer: the rule's form equals the chain rule over every
    use of the state (the next step's weighted inputs, and the output), exactly."""
    fw, network = derivation.forward, derivation.network
    layer = network.layer(l)
    output, back = derivation.through_time[l]
    chain = chain_through_time(fw, layer, _delta_symbols(network, l), output)
    bad = [pos for pos in fw.states[l] if sp.expand(back.get(pos, sp.S.Zero) - chain[pos]) != 0]
    first = fw.states[l][bad[0]] if bad else None
    return LayerFact("through_time", l, derivation.rules[layer.type].name, "exact", not bad, len(chain), len(bad), first)


def _prove_skip(derivation: LayeredDerivation, l: int) -> LayerFact | None:
    """What a residual layer adds to ∂C/∂a^m equals the chain rule through its skip (exact)."""
    fw, network = derivation.forward, derivation.network
    layer = network.layer(l)
    if l not in derivation.skips:
        return None
    chain = chain_skip(fw, layer, _delta_symbols(network, l))
    bad = [pos for pos, value in chain.items() if sp.expand(derivation.skips[l].get(pos, sp.S.Zero) - value) != 0]
    first = fw.a(layer.spec.source)[bad[0]] if bad else None
    return LayerFact("skip", l, derivation.rules[layer.type].name, "exact", not bad, len(chain), len(bad), first)


def _prove_gradients(derivation: LayeredDerivation, l: int) -> LayerFact | None:
    fw, network = derivation.forward, derivation.network
    layer = network.layer(l)
    rule = derivation.rules[layer.type]
    delta = _delta_symbols(network, l)
    chain = chain_gradients(fw, layer, delta)
    if not chain:
        return None
    rewrite = rule.rational(fw, layer) if rule.rational is not None else (lambda expr: expr)
    bad = [p for p, value in chain.items()
           if sp.expand(rewrite(derivation.gradients.get(p, sp.S.Zero)) - rewrite(value)) != 0]
    method = "rational" if rule.rational is not None else "exact"
    return LayerFact("gradients", l, rule.name, method, not bad, len(chain), len(bad), bad[0] if bad else None)


def _prove_output(derivation: LayeredDerivation) -> LayerFact:
    """The simplified δ^L equals the chain rule's ∂C/∂a^L · ∂a^L/∂z^L (Σ y = 1 used when the cost says so)."""
    fw, network = derivation.forward, derivation.network
    L = network.depth
    assume = {}
    if network.cost.targets_sum_to_one:
        for e in network.examples:
            targets = fw.example_targets(e)
            assume[targets[-1]] = 1 - sp.Add(*targets[:-1])
    bad = [pos for pos, raw in derivation.raw_output.items()
           if sp.cancel((raw - derivation.output[pos]).xreplace(assume)) != 0]
    count = len(derivation.raw_output)
    first = (fw.outputs[L][bad[0]] if network.layers[-1].recurrent else Site("delta", L, *bad[0])) if bad else None
    return LayerFact("output", L, network.cost.name, "exact", not bad, count, len(bad), first)


# ---------------------------------------------------------------------- numbers


def stand_in(network: LayeredNetwork) -> sp.Expr:
    last = network.layers[-1].activation
    return PROBABILITY_STAND_IN if network.cost.outputs and last is not None and last.name == "generic" \
        else GENERIC_STAND_IN


class MpmathNetwork:
    """The forward pass and cost in mpmath, written from the layer descriptions alone (no SymPy
    expression of the derivation is used), and ∂C/∂θ by central differences (``mpmath.diff``)."""

    def __init__(self, network: LayeredNetwork):
        self.network = network
        self.functions = {}
        for layer in network.layers:
            if layer.activation is not None and not isinstance(layer.activation, VectorActivation):
                definition = realise(layer.activation.forward, stand_in(network))
                self.functions[layer.index] = mpmath_function(Z, definition)
        self.term = mpmath_function((A, Y), network.cost.term)

    def run(self, params: dict, x: dict, y: list):
        """C (summed over the examples), and the smallest distance to a tie of a max window or a kink of
        a piecewise activation."""
        values = dict(x)
        history = {0: values}
        margin = mpmath.inf
        network = self.network
        for layer in network.layers:
            spec, l = layer.spec, layer.index
            if isinstance(spec, Recurrent):
                out, near = self._recurrent(layer, params, values)
                margin = min(margin, near)
            elif isinstance(spec, BatchNorm):
                out = self._batchnorm(layer, values, params)
            else:
                out = {}
                for e in network.examples:
                    source = of_example(history[spec.source], e) if isinstance(spec, Residual) else None
                    part, near = self._layer(layer, of_example(values, e), params, source)
                    margin = min(margin, near)
                    out.update({e + pos: v for pos, v in part.items()})
            history[l] = values = out
        cost = mpmath.fsum(self.term(a, t) for a, t in zip(values.values(), y))
        return cost, margin

    def _batchnorm(self, layer, values: dict, params: dict) -> dict:
        """Each channel's entries over the batch: minus their mean, over √(variance + ε), times γ, plus β."""
        l, epsilon = layer.index, layer.spec.epsilon
        eps = mpmath.mpf(int(epsilon.p)) / int(epsilon.q)
        out = {}
        for c, members in channel_groups(self.network, layer.input_shape).items():
            mean = mpmath.fsum(values[i] for i in members) / len(members)
            variance = mpmath.fsum((values[i] - mean) ** 2 for i in members) / len(members)
            for i in members:
                out[i] = params[("gamma", l, c)] * (values[i] - mean) / mpmath.sqrt(variance + eps) \
                    + params[("beta", l, c)]
        return {i: out[i] for i in values}

    def _layer(self, layer, values: dict, params: dict, source: dict | None):
        """One example through one layer: its outputs, and how near a tie or a kink it came."""
        spec, l = layer.spec, layer.index
        margin = mpmath.inf
        out = {}
        if isinstance(spec, Dense):
            flat = list(values.values())
            for (j,) in positions(layer.output_shape):
                total = mpmath.fsum(params[("w", l, j, k)] * v for k, v in enumerate(flat, start=1))
                out[(j,)] = total + (params[("b", l, j)] if spec.bias else 0)
        elif isinstance(spec, Conv):
            channels = layer.input_shape[0]
            for pos in positions(layer.output_shape):
                o, total = pos[0], []
                for c in range(1, channels + 1):
                    for off in positions((spec.kernel,) * spec.dims):
                        where = (c, *(spec.stride * (i - 1) + p - spec.padding for i, p in zip(pos[1:], off)))
                        if where in values:
                            total.append(params[("K", l, o, c, *off)] * values[where])
                out[pos] = mpmath.fsum(total) + (params[("b", l, o)] if spec.bias else 0)
        elif isinstance(spec, Pool):
            for pos in positions(layer.output_shape):
                window = [values[(pos[0], *(spec.step * (i - 1) + p for i, p in zip(pos[1:], off)))]
                          for off in positions((spec.size,) * (len(pos) - 1))]
                if spec.kind == "max":
                    ordered = sorted(window, reverse=True)
                    margin = min(margin, ordered[0] - ordered[1]) if len(ordered) > 1 else margin
                    out[pos] = ordered[0]
                else:
                    out[pos] = mpmath.fsum(window) / len(window)
        elif isinstance(spec, Flatten):
            out = {(k,): v for k, v in enumerate(values.values(), start=1)}
        elif isinstance(spec, Residual):
            out = {pos: v + source[pos] for pos, v in values.items()}
        if layer.activation is not None:
            if isinstance(layer.activation, VectorActivation):
                top = max(out.values())
                exps = {p: mpmath.exp(v - top) for p, v in out.items()}
                total = mpmath.fsum(exps.values())
                out = {p: e / total for p, e in exps.items()}
            else:
                if layer.activation.forward.has(sp.Piecewise):
                    margin = min(margin, min(abs(v) for v in out.values()))
                f = self.functions[l]
                out = {p: mpmath.mpf(f(v)) for p, v in out.items()}
        return out, margin

    def _recurrent(self, layer, params: dict, values: dict):
        """The states of a recurrent layer, step after step from a zero state, and its output;
        with the smallest distance of a weighted input to a kink of a piecewise activation."""
        spec, l = layer.spec, layer.index
        steps, width = layer.input_shape
        units = range(1, spec.size + 1)
        f = self.functions[l]
        piecewise = layer.activation.forward.has(sp.Piecewise)
        state = {i: mpmath.mpf(0) for i in units}
        states, margin = {}, mpmath.inf
        for t in range(1, steps + 1):
            weighted = {}
            for j in units:
                total = mpmath.fdot([(params[("W", l, j, i)], state[i]) for i in units] +
                                    [(params[("U", l, j, k)], values[(t, k)]) for k in range(1, width + 1)])
                weighted[j] = total + (params[("b", l, j)] if spec.bias else 0)
            if piecewise:
                margin = min(margin, min(abs(v) for v in weighted.values()))
            state = {j: mpmath.mpf(f(v)) for j, v in weighted.items()}
            states.update({(t, j): v for j, v in state.items()})
        if spec.output == "every":
            return states, margin
        return {(j,): states[(steps, j)] for j in units}, margin

    def gradient(self, key, params: dict, x: dict, y: list):
        point = dict(params)

        def f(t):
            point[key] = t
            return self.run(point, x, y)[0]

        return mpmath.diff(f, params[key])


def site_key(symbol: Site) -> tuple:
    return (symbol.kind, symbol.layer, *symbol.position)


@dataclass(frozen=True)
class LayeredPoint:
    """Exact coordinates: every parameter (by symbol), the input and the targets."""

    params: dict
    x: dict
    y: tuple

    def substitution(self, fw: LayeredForward) -> dict:
        values = dict(fw.constants)
        values.update(self.params)
        values.update({fw.inputs[pos]: v for pos, v in self.x.items()})
        values.update(dict(zip(fw.targets, self.y)))
        return values


def random_layered_point(derivation: LayeredDerivation, rng: random.Random) -> LayeredPoint:
    """Random decimal coordinates in [−1, 1]; targets that suit the cost."""
    fw, network = derivation.forward, derivation.network
    params = {p: random_decimal(rng, -1, 1) for p in fw.parameters}
    x = {pos: random_decimal(rng, -1, 1) for pos in fw.inputs}
    y = tuple(t for e in network.examples for t in random_targets(network.cost, len(fw.example_targets(e)), rng))
    return LayeredPoint(params, x, y)


def _mp(value):
    return mpmath.mpf(int(value.p)) / int(value.q)


def named_values(derivation: LayeredDerivation, point: LayeredPoint) -> dict:
    """Every z, a and δ at a point, from the derivation's own forms, as 40-digit floats."""
    fw, network = derivation.forward, derivation.network
    values = {s: sp.Float(v, DIGITS) for s, v in point.substitution(fw).items()}
    sub = stand_in(network)
    memo: dict = {}  # the values of shared subexpressions, which stay valid as values grows

    def number(expr):
        return sp.Float(with_numbers(realise(expr, sub), values, memo).evalf(DIGITS), DIGITS)

    for layer in network.layers:
        l = layer.index
        target = fw.weighted[l] if layer.has_z else fw.outputs[l]
        for symbol, definition in fw.auxiliary.items():
            if symbol.layer == l:  # μ, σ, x̂ of batch normalisation, each in those before it
                values[symbol] = number(definition)
        for pos, definition in fw.definitions[l].items():
            values[target[pos]] = number(definition)
            if layer.recurrent:  # the next step reads this state
                values[fw.states[l][pos]] = number(fw.activation_of(l, pos))
        if layer.has_z and not layer.recurrent:
            for pos in fw.weighted[l]:
                values[fw.outputs[l][pos]] = number(fw.activation_of(l, pos))
    for l in range(network.depth, 0, -1):
        for pos, value in derivation.deltas[l].items():
            values[Site("delta", l, *pos)] = number(value)
    return values


def _numeric_fact(derivation: LayeredDerivation, points: int, seed: int) -> tuple[LayerFact, list]:
    """Every gradient against central differences of :class:`MpmathNetwork`, at random points
    at least :data:`MARGIN` away from ties and kinks."""
    network, fw = derivation.network, derivation.forward
    oracle = MpmathNetwork(network)
    rng = random.Random(seed)
    worst, bad, used = mpmath.mpf(0), [], []
    with mpmath.workdps(DIGITS):
        while len(used) < points:
            point = random_layered_point(derivation, rng)
            params = {site_key(p): _mp(v) for p, v in point.params.items()}
            x = {pos: _mp(v) for pos, v in point.x.items()}
            y = [_mp(v) for v in point.y]
            if oracle.run(params, x, y)[1] < MARGIN:
                continue  # too close to a tie or a kink for a derivative to exist or be stable
            used.append(point)
            known, memo = named_values(derivation, point), {}
            for p in fw.parameters:
                ours = mpmath.mpf(str(sp.Float(with_numbers(derivation.gradients[p], known, memo).evalf(DIGITS), DIGITS)))
                theirs = oracle.gradient(site_key(p), params, x, y)
                error = abs(ours - theirs) / max(1, abs(theirs))
                worst = max(worst, error)
                if error > mpmath.mpf(str(TOLERANCE)):
                    bad.append(p)
    count = len(fw.parameters)
    failed = sorted(set(bad), key=fw.parameters.index)
    return LayerFact("numeric", None, "central differences", "numeric", not bad, count, len(failed),
                     failed[0] if failed else None, points, float(worst)), used


def _composed_fact(derivation: LayeredDerivation, used: list) -> LayerFact:
    """sympy.diff of the composed cost, evaluated at the same points as the derivation.

    For each parameter θ the cost is composed through every layer with all other coordinates
    fixed at the point (as 50-digit floats) and θ left a symbol; ``sympy.diff`` by θ of that
    expression is then evaluated at θ's value. No named intermediate and no rule of the
    derivation is used.
    """
    fw, network = derivation.forward, derivation.network
    sub = stand_in(network)
    bad, worst = [], sp.S.Zero
    for point in used:
        known, memo = named_values(derivation, point), {}
        exact = {s: sp.Float(v, DIGITS + 10) for s, v in point.substitution(fw).items()}
        for p in fw.parameters:
            others = {s: v for s, v in exact.items() if s != p}
            # θ as a symbol without assumptions: SymPy then asks nothing about the signs of the numbers around it
            theta = sp.Symbol("theta")
            cost = realise(fw.cost.xreplace(fw.composition(others)), sub).xreplace({p: theta})
            truth = sp.Float(sp.diff(cost, theta).xreplace({theta: exact[p]}).evalf(DIGITS), DIGITS)
            ours = sp.Float(with_numbers(derivation.gradients[p], known, memo).evalf(DIGITS), DIGITS)
            error = abs(ours - truth) / max(1, abs(truth))
            worst = max(worst, error)
            if error > TOLERANCE:
                bad.append(p)
    count = len(fw.parameters)
    failed = sorted(set(bad), key=fw.parameters.index)
    return LayerFact("composed", None, "sympy.diff", "composed", not bad, count, len(failed),
                     failed[0] if failed else None, len(used), float(worst))


def rule_facts(derivation: LayeredDerivation) -> tuple[LayerFact, ...]:
    """The exact facts: the output δ, then, from the last layer back, each layer's rule through time (a
    recurrent layer), backward rule and parameter gradients, each proven equal to the chain rule (max pooling by cases)."""
    facts = [_prove_output(derivation)]
    for layer in reversed(derivation.network.layers):
        if layer.recurrent:
            facts.append(_prove_through_time(derivation, layer.index))
        facts.append(_prove_backward(derivation, layer.index))
        for prove in (_prove_skip, _prove_gradients):
            fact = prove(derivation, layer.index)
            if fact is not None:
                facts.append(fact)
    return tuple(facts)


@without_cycle_collection
def check(derivation: LayeredDerivation, points: int = 2, seed: int = 0, composed: bool | None = None) -> LayeredReport:
    """Every fact about the derivation, each with the method that established it.

    * ``output``: the simplified δ^L equals the chain rule through the cost (exact);
    * ``backward`` (every layer, the first one's into the input x): the textbook rule equals the per-position chain rule (exact;
      max pooling by cases);
    * ``gradients``: the textbook parameter gradients equal the sum over every use (exact);
    * ``numeric``: every gradient agrees with central differences of an independent mpmath
      forward pass at ``points`` random points (evidence, not a proof);
    * ``composed`` (small networks, or when asked): every gradient agrees with ``sympy.diff``
      of the fully composed cost at the same points.
    """
    network = derivation.network
    facts = list(rule_facts(derivation))
    numeric, used = _numeric_fact(derivation, points, seed)
    facts.append(numeric)
    if composed or (composed is None and network.parameter_count <= COMPOSED_LIMIT):
        facts.append(_composed_fact(derivation, used))
    return LayeredReport(tuple(facts))


def plant(rule_type: str, **changes) -> dict:
    """The rules with one layer type's rule changed (for tests that plant a mistake)."""
    return {rule_type: replace(LAYER_RULES[rule_type], **changes)}
