"""The chain rule, applied symbolically to every parameter, with its steps kept.

For the output layer L (element-wise activation):

    δ^L_j = ∂C/∂z^L_j = ∂C/∂a^L_j · ∂a^L_j/∂z^L_j = ∂C/∂a^L_j · σ'(z^L_j)

and for softmax, which mixes the layer, δ^L_j = Σ_i ∂C/∂a^L_i · ∂a^L_i/∂z^L_j
(J^T ∇_a C, with the full Jacobian). For a hidden layer l, C depends on z^l_j
only through the weighted inputs of layer l+1, so the paths through them add up:

    δ^l_j = Σ_k ∂C/∂z^{l+1}_k · ∂z^{l+1}_k/∂a^l_j · ∂a^l_j/∂z^l_j
          = (Σ_k w^{l+1}_{kj} δ^{l+1}_k) σ'(z^l_j)

A parameter θ of neuron j in layer l enters C only through z^l_j, hence

    ∂C/∂θ = δ^l_j · ∂z^l_j/∂θ      (+ (λ/n) w for a weight under L2)

with ∂z^l_j/∂w^l_{jk} = a^{l-1}_k and ∂z^l_j/∂b^l_j = 1.

Every factor is computed, not assumed: ∂C/∂a by ``sympy.diff`` of the cost,
σ' from the activation rule (itself checked against ``sympy.diff`` by
:mod:`symbackprop.equations`), ∂z/∂θ as the coefficient of θ in the affine z.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import functools
from functools import cached_property
from typing import Callable

import sympy as sp

from ..collector import without_cycle_collection
from ..model.activations import VectorActivation
from .budget import require_derivable
from ..model.forward import Forward, forward
from ..model.spec import Network
from ..model.symbols import COST, Partial, Quantity, product, total

# The rules a step can name. Templates explain each one in words.
RULES = (
    "chain_rule",               # ∂C/∂θ = ∂C/∂z · ∂z/∂θ, θ enters C only through z
    "output_chain",             # ∂C/∂z^L_j = ∂C/∂a^L_j · ∂a^L_j/∂z^L_j
    "output_jacobian",          # ∂C/∂z^L_j = Σ_i ∂C/∂a^L_i · ∂a^L_i/∂z^L_j (softmax)
    "sum_over_paths",           # ∂C/∂z^l_j = Σ_k ∂C/∂z^{l+1}_k ∂z^{l+1}_k/∂a^l_j ∂a^l_j/∂z^l_j
    "cost_derivative",          # ∂C/∂a^L_j by differentiating the cost
    "activation_derivative",    # ∂a/∂z = σ'(z), from the activation rule
    "activation_identity",      # σ'(z) written in terms of a (σ' = σ(1 − σ))
    "softmax_jacobian",         # ∂a_i/∂z_j = a_i(δ_ij − a_j)
    "weighted_input_derivative",  # ∂z/∂θ and ∂z/∂a: the coefficient in the affine z
    "delta_definition",         # ∂C/∂z^l_j is named δ^l_j
    "substitute",               # the factors replaced by their values
    "simplify",                 # a rational simplification (cancellation)
    "targets_sum_to_one",       # Σ_j y_j = 1 used to simplify
    "regularisation",           # + ∂/∂w (λ/2n) Σ w² = (λ/n) w
    # layered networks (proof/layered.py)
    "sum_over_uses",            # ∂C/∂a^{l-1}_u = Σ_v ∂C/∂z^l_v ∂z^l_v/∂a^{l-1}_u over every v that uses u
    "shared_weight_sum",        # ∂C/∂K = Σ_v ∂C/∂z^l_v ∂z^l_v/∂K over every position v where K is used
    "layer_rule",               # the chain rule's sum is the layer type's textbook rule
)


@dataclass(frozen=True)
class Step:
    """One step of a derivation: ``before`` equals ``after`` by ``rule``."""

    rule: str
    before: sp.Expr
    after: sp.Expr

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}; expected one of: {', '.join(RULES)}")


@dataclass(frozen=True)
class NeuronDelta:
    """δ^l_j = ∂C/∂z^l_j for one neuron.

    ``raw`` keeps σ' as an opaque function σ_l'(z^l_j), the form that holds for
    any activation; ``value`` is the simplified closed form in named
    intermediates (identity applied, cancellations made). ``steps`` are built
    when first asked for: a large network needs its values, rarely its steps.
    """

    layer: int
    neuron: int
    raw: sp.Expr
    value: sp.Expr
    build_steps: Callable[[], tuple[Step, ...]] = field(repr=False, compare=False)

    @cached_property
    def steps(self) -> tuple[Step, ...]:
        return self.build_steps()


def _dz(fw: Forward, key: tuple) -> sp.Expr:
    """∂z^l_j/∂θ: the coefficient of θ in the affine weighted input z^l_j."""
    if key[0] == "b":
        return sp.S.One
    _, l, j, k = key
    return fw.activations(l - 1)[k - 1]


def _simplify_output(value: sp.Expr, fw: Forward, steps: list) -> sp.Expr:
    """δ^L_j in its simplest form, each simplification that helped recorded as a step.

    A rational cancellation turns (−y/a + (1 − y)/(1 − a)) · a(1 − a) into a − y
    (sigmoid with binary cross-entropy); with targets that sum to one, the
    softmax Jacobian with categorical cross-entropy gives a_j − y_j too.
    """
    sum_to_one = fw.network.cost.targets_sum_to_one
    simplest, taken = _simplest_output(value, sum_to_one, fw.targets if sum_to_one else ())
    steps.extend(taken)
    return simplest


@functools.lru_cache(maxsize=1024)
def _simplest_output(value: sp.Expr, targets_sum_to_one: bool, targets: tuple) -> tuple[sp.Expr, tuple]:
    """(the simplest form, the steps to it) of an output error, kept per process: networks of the same depth,
    output activation and cost have the same output errors, and cancelling them is most of deriving them."""
    steps = []
    cancelled = sp.cancel(value)
    if sp.count_ops(cancelled) < sp.count_ops(value):
        steps.append(Step("simplify", value, cancelled))
        value = cancelled
    if targets_sum_to_one:
        reduced = _targets_sum_to_one(value, targets)
        if sp.count_ops(reduced) < sp.count_ops(value):
            steps.append(Step("targets_sum_to_one", value, reduced))
            value = reduced
    return value, tuple(steps)


@dataclass(frozen=True, eq=False)
class Derivation:
    """Every parameter's gradient ∂C/∂θ for a network, with the steps that led to it.

    Build one with :func:`derive`. Keys are canonical and 1-based:
    ``("w", l, j, k)`` for w^l_{jk} (from neuron k of layer l-1 to neuron j of
    layer l) and ``("b", l, j)`` for b^l_j, l = 1..L.
    """

    network: Network
    forward: Forward = field(repr=False)
    deltas: dict = field(repr=False)
    gradients: dict = field(repr=False)
    _memo: dict = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- the API
    @property
    def params(self) -> tuple[tuple, ...]:
        """Every parameter key, layer by layer."""
        return self.forward.parameters

    @property
    def inputs(self) -> tuple[Quantity, ...]:
        return self.forward.inputs

    @property
    def targets(self) -> tuple[Quantity, ...]:
        return self.forward.targets

    def symbol(self, key: tuple) -> Quantity:
        """The SymPy symbol of a parameter (or of any named quantity) by its canonical key."""
        key = tuple(key)
        try:
            return self.forward.symbols[key]
        except KeyError:
            raise KeyError(self._bad_key(key)) from None

    def gradient(self, key: tuple, form: str = "compact") -> sp.Expr:
        """∂C/∂θ for the parameter ``key``.

        ``form="compact"``: the closed form in named intermediates (z, a, δ of the
        next layer). ``form="named"``: the same with every δ written out, so only
        z, a, weights and targets remain (the way seed-style derivations write a
        hidden weight's gradient). ``form="composed"``: in inputs, targets and
        parameters only (a ReLU or leaky ReLU written with the Heaviside step θ, θ(0) = 0, so that
        the form grows linearly with depth rather than as nested Piecewise cases).
        """
        key = tuple(key)
        if key not in self.gradients:
            raise KeyError(self._bad_key(key))
        if form == "compact":
            return self.gradients[key]
        if form == "named":
            return self._without_deltas(self.gradients[key], opaque=False)
        if form == "composed":
            return self.composed(self.gradients[key])
        raise ValueError(f"unknown form {form!r}; expected 'compact', 'named' or 'composed'")

    def delta(self, l: int, j: int) -> sp.Expr:
        """δ^l_j in named intermediates."""
        return self.deltas[(l, j)].value

    def steps(self, key: tuple) -> tuple[Step, ...]:
        """The chain-rule steps that led to ∂C/∂θ, the neuron's δ derivation included."""
        key = tuple(key)
        if key not in self.gradients:
            raise KeyError(self._bad_key(key))
        l, j = key[1], key[2]
        theta = self.symbol(key)
        z = self.forward.q("z", l, j)
        delta = self.forward.q("delta", l, j)
        grad = Partial(COST, theta)
        dz = _dz(self.forward, key)
        steps = [
            Step("chain_rule", grad, Partial(COST, z) * Partial(z, theta)),
            Step("delta_definition", Partial(COST, z), delta),
            Step("weighted_input_derivative", Partial(z, theta), dz),
            *self.deltas[(l, j)].steps,
            Step("substitute", grad, product(self.deltas[(l, j)].value, dz) if dz != 1 else self.deltas[(l, j)].value),
        ]
        if key[0] == "w" and self.network.l2 is not None:
            steps.append(Step("regularisation", grad, self.gradients[key]))
        return tuple(steps)

    def composed(self, expr: sp.Expr, opaque: bool = False) -> sp.Expr:
        """``expr`` with δ, a and z replaced by their definitions, down to x, y, w, b."""
        return self.forward.composed(self._without_deltas(expr, opaque), opaque)

    def check(self, method: str = "auto", **options):
        """Prove BP1–BP4 for this network; see :func:`symbackprop.equations.check`."""
        from .equations import check

        return check(self, method=method, **options)

    def evaluate(self, values, x, y):
        """Numbers at one point; see :func:`symbackprop.oracle.evaluate`."""
        from .oracle import evaluate

        return evaluate(self, values, x, y)

    # ---------------------------------------------------------- Jupyter display
    def _repr_markdown_(self) -> str:
        """The derivation document, for a notebook's Markdown display (math in $…$)."""
        from .report import render

        return render(self, "md", flavor="katex").text

    def _repr_latex_(self) -> str:
        """The gradients as one aligned display, for a notebook's LaTeX display."""
        from .report import render_latex_summary

        return render_latex_summary(self)

    # ------------------------------------------------------------------ helpers
    def _without_deltas(self, expr: sp.Expr, opaque: bool) -> sp.Expr:
        """Replace every δ symbol by its definition (raw with ``opaque``), deepest layer first."""
        form = "raw" if opaque else "value"
        for l in range(1, self.network.depth + 1):
            present = {s for s in expr.free_symbols if isinstance(s, Quantity) and s.kind == "delta"}
            if not present:
                break
            expr = expr.xreplace(
                {s: self._delta_closed(s.indices[0], s.indices[1], form) for s in present}
            )
        return expr

    def _delta_closed(self, l: int, j: int, form: str) -> sp.Expr:
        """δ^l_j with every δ of later layers substituted (memoised)."""
        key = ("delta_closed", form, l, j)
        if key not in self._memo:
            expr = getattr(self.deltas[(l, j)], form)
            if l < self.network.depth:
                expr = expr.xreplace(
                    {d: self._delta_closed(l + 1, d.indices[1], form) for d in self.forward.deltas(l + 1)}
                )
            self._memo[key] = expr
        return self._memo[key]

    def _bad_key(self, key: tuple) -> str:
        sizes = self.network.sizes
        L = self.network.depth
        kind = key[0] if key else None
        if kind == "w" and len(key) == 4:
            l, j, k = key[1:]
            if not (isinstance(l, int) and 1 <= l <= L):
                return f"no weight {key!r}: layer {l!r} out of range; expected 1..{L}"
            if not (isinstance(j, int) and 1 <= j <= sizes[l]):
                return f"no weight {key!r}: neuron j={j!r} out of range; expected 1..{sizes[l]} in layer {l}"
            return f"no weight {key!r}: input k={k!r} out of range; expected 1..{sizes[l - 1]} (layer {l - 1})"
        if kind == "b" and len(key) == 3:
            l, j = key[1:]
            if not (isinstance(l, int) and 1 <= l <= L):
                return f"no bias {key!r}: layer {l!r} out of range; expected 1..{L}"
            if not self.network.layer(l).bias:
                return f"no bias {key!r}: layer {l} has no bias"
            return f"no bias {key!r}: neuron j={j!r} out of range; expected 1..{sizes[l]} in layer {l}"
        return f"no parameter {key!r}; expected ('w', l, j, k) or ('b', l, j) with l in 1..{L}"


# ---------------------------------------------------------------------- derive


def _output_deltas(fw: Forward) -> dict:
    network = fw.network
    L = network.depth
    outputs = fw.activations(L)
    zs = fw.weighted_inputs(L)
    rule = network.output.activation
    if isinstance(rule, VectorActivation):
        grads_a = [network.cost.gradient(a, y) for a, y in zip(outputs, fw.targets)]
        return {(L, j): _softmax_delta(fw, j, grads_a) for j in range(1, len(zs) + 1)}
    # The cost is a sum of one identical term per output and σ acts neuron by neuron, so
    # δ^L_1 is derived once and every other δ^L_j is the same derivation with renamed symbols.
    first = _elementwise_output_delta(fw, 1)
    deltas = {(L, 1): first}
    own = {zs[0], outputs[0], fw.targets[0]}
    if not (first.value.free_symbols | first.raw.free_symbols) <= own:
        return {(L, j): _elementwise_output_delta(fw, j) for j in range(1, len(zs) + 1)}
    for j in range(2, len(zs) + 1):
        rename = {zs[0]: zs[j - 1], outputs[0]: outputs[j - 1], fw.targets[0]: fw.targets[j - 1]}
        deltas[(L, j)] = NeuronDelta(
            L, j, first.raw.xreplace(rename), first.value.xreplace(rename),
            lambda rename=rename: tuple(Step(s.rule, s.before.xreplace(rename), s.after.xreplace(rename))
                                        for s in first.steps),
        )
    return deltas


def _elementwise_output_delta(fw: Forward, j: int) -> NeuronDelta:
    """δ^L_j = ∂C/∂a^L_j · σ'(z^L_j), simplified."""
    network = fw.network
    L = network.depth
    rule = network.output.activation
    z, a, y = fw.q("z", L, j), fw.q("a", L, j), fw.q("y", j)
    grad_a = network.cost.gradient(a, y)
    opaque = rule.prime_function(z)
    named = rule.prime_named(z, a)
    value = grad_a * named
    steps = [
        Step("output_chain", Partial(COST, z), Partial(COST, a) * Partial(a, z)),
        Step("cost_derivative", Partial(COST, a), grad_a),
        Step("activation_derivative", Partial(a, z), opaque),
        Step("activation_identity" if rule.identity is not None else "activation_derivative", opaque, named),
        Step("substitute", Partial(COST, z), value),
    ]
    simplest = _simplify_output(value, fw, steps)
    steps = tuple(steps)
    return NeuronDelta(L, j, grad_a * opaque, simplest, lambda: steps)


def _softmax_delta(fw: Forward, j: int, grads_a: list) -> NeuronDelta:
    """δ^L_j = Σ_i ∂C/∂a^L_i · ∂a^L_i/∂z^L_j (J^T ∇_a C), simplified."""
    network = fw.network
    L = network.depth
    rule = network.output.activation
    outputs = fw.activations(L)
    z = fw.q("z", L, j)
    jac = [rule.jacobian_named(i, j - 1, list(outputs)) for i in range(len(outputs))]
    raw = sp.Add(*[g * d for g, d in zip(grads_a, jac)])
    chain = sp.Add(*[Partial(COST, ai) * Partial(ai, z) for ai in outputs])
    steps = [
        Step("output_jacobian", Partial(COST, z), chain),
        *(Step("cost_derivative", Partial(COST, ai), g) for ai, g in zip(outputs, grads_a)),
        *(Step("softmax_jacobian", Partial(ai, z), d) for ai, d in zip(outputs, jac)),
        Step("substitute", Partial(COST, z), raw),
    ]
    simplest = _simplify_output(raw, fw, steps)
    steps = tuple(steps)
    return NeuronDelta(L, j, raw, simplest, lambda: steps)


def _targets_sum_to_one(expr: sp.Expr, targets) -> sp.Expr:
    """``expr`` with Σ_j y_j replaced by 1 wherever the sum appears as a factor."""
    total = sp.Add(*targets)
    outputs = sorted(
        (s for s in expr.free_symbols if isinstance(s, Quantity) and s.kind == "a"), key=sp.default_sort_key
    )
    collected = sp.collect(sp.expand(expr), outputs)
    return collected.subs(total, 1)


def _hidden_deltas(fw: Forward, l: int) -> dict:
    rule = fw.network.layer(l).activation
    following = fw.deltas(l + 1)
    next_z = fw.weighted_inputs(l + 1)
    deltas = {}
    for j, (z, a) in enumerate(zip(fw.weighted_inputs(l), fw.activations(l)), start=1):
        # ∂z^{l+1}_k/∂a^l_j: the coefficient of a^l_j in z^{l+1}_k, the weight w^{l+1}_{kj}
        dz_da = [fw.q("w", l + 1, k, j) for k in range(1, len(next_z) + 1)]
        back = total(product(w, d) for w, d in zip(dz_da, following))
        opaque = rule.prime_function(z)
        named = rule.prime_named(z, a)
        raw = product(back, opaque) if back.is_Add else back * opaque
        value = back * named
        deltas[(l, j)] = NeuronDelta(
            l, j, raw, value,
            lambda z=z, a=a, dz_da=dz_da, opaque=opaque, named=named, value=value: _hidden_steps(
                rule, next_z, following, z, a, dz_da, opaque, named, value),
        )
    return deltas


def _hidden_steps(rule, next_z, following, z, a, dz_da, opaque, named, value) -> tuple[Step, ...]:
    """The steps of δ^l_j for a hidden neuron: the sum over the paths through layer l+1."""
    paths = sp.Add(*[Partial(COST, zk) * Partial(zk, a) for zk in next_z]) * Partial(a, z)
    return (
        Step("sum_over_paths", Partial(COST, z), paths),
        *(Step("delta_definition", Partial(COST, zk), dk) for zk, dk in zip(next_z, following)),
        *(Step("weighted_input_derivative", Partial(zk, a), w) for zk, w in zip(next_z, dz_da)),
        Step("activation_derivative", Partial(a, z), opaque),
        Step("activation_identity" if rule.identity is not None else "activation_derivative", opaque, named),
        Step("substitute", Partial(COST, z), value),
    )


@without_cycle_collection
def derive(network: Network) -> Derivation:
    """Apply the chain rule to every parameter of ``network``.

    >>> from symbackprop import Network
    >>> d = derive(Network([2, 2, 1], activation="sigmoid", cost="quadratic"))
    >>> d.gradient(("w", 2, 1, 1))
    a[1,1]*a[2,1]*(1 - a[2,1])*(a[2,1] - y[1])
    >>> d.gradient(("b", 1, 2))
    a[1,2]*delta[2,1]*w[2,1,2]*(1 - a[1,2])
    """
    require_derivable(network)
    fw = forward(network)
    deltas = _output_deltas(fw)
    for l in range(network.depth - 1, 0, -1):
        deltas.update(_hidden_deltas(fw, l))
    return Derivation(network, fw, deltas, _Gradients(fw, deltas))


class _Gradients(Mapping):
    """∂C/∂θ by parameter key: δ^l_j · ∂z^l_j/∂θ (+ (λ/n) w under L2), each built when first asked for.

    A network of tens of thousands of weights is often asked about a few of them (a claim, a document's
    sample); building every product up front would dominate the time.
    """

    def __init__(self, fw: Forward, deltas: dict):
        self._fw, self._deltas = fw, deltas
        self._keys = frozenset(fw.parameters)
        self._built: dict = {}

    def __getitem__(self, key):
        if key in self._built:
            return self._built[key]
        if key not in self._keys:
            raise KeyError(key)
        fw = self._fw
        grad = self._deltas[(key[1], key[2])].value
        if key[0] == "w":
            grad = product(grad, _dz(fw, key))
            if fw.network.l2 is not None:
                grad = grad + fw.regulariser_gradient(fw.q(*key))
        self._built[key] = grad
        return grad

    def __contains__(self, key):
        return key in self._keys

    def __iter__(self):
        return iter(self._fw.parameters)

    def __len__(self):
        return len(self._keys)
