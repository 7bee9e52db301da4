"""The forward pass as named symbols and their definitions.

For layer l = 1..L and neuron j (a^0 = x is the input):

    z^l_j = Σ_k w^l_{jk} a^{l-1}_k + b^l_j        (the weighted input)
    a^l_j = σ_l(z^l_j)                            (its activation; softmax mixes the layer)
    C     = Σ_j c(a^L_j, y_j) + (λ/2n) Σ w²       (one example's cost, with L2 if asked)

Each quantity is a :class:`~symbackprop.symbols.Quantity`. The *compact* form of an
expression keeps these names; the *composed* form replaces them by their
definitions, down to inputs, targets and parameters only. Composed forms grow
exponentially with depth when written out, so they are built on demand and
memoised (SymPy shares the repeated subexpressions).

>>> from symbackprop.model.spec import Network
>>> fw = forward(Network([2, 2], activation="identity", bias=False))
>>> fw.z_definition(1, 1)
w[1,1,1]*x[1] + w[1,1,2]*x[2]
>>> fw.composed(fw.q("a", 1, 2))
w[1,2,1]*x[1] + w[1,2,2]*x[2]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from .activations import Z, VectorActivation
from .spec import Network
from .symbols import COST, LAMBDA, N_EXAMPLES, Quantity, product, total

#: a stand-in weight for stating the regulariser's derivative once for all weights
_W = sp.Symbol("w", real=True)


@dataclass(frozen=True, eq=False)
class Forward:
    """The named quantities of a network and the definitions of z, a and C."""

    network: Network
    symbols: dict = field(repr=False)
    _memo: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ symbols
    def q(self, kind: str, *indices: int) -> Quantity:
        """The quantity ``kind`` at canonical ``indices`` (``q("w", 2, 1, 3)`` is w^2_{13})."""
        return self.symbols[(kind, *indices)]

    @cached_property
    def inputs(self) -> tuple[Quantity, ...]:
        return tuple(self.q("x", k) for k in range(1, self.network.sizes[0] + 1))

    @cached_property
    def targets(self) -> tuple[Quantity, ...]:
        return tuple(self.q("y", j) for j in range(1, self.network.sizes[-1] + 1))

    def activations(self, l: int) -> tuple[Quantity, ...]:
        """a^l as a tuple of symbols; a^0 is the input x."""
        if l == 0:
            return self.inputs
        return self._layer_symbols("a", l)

    def weighted_inputs(self, l: int) -> tuple[Quantity, ...]:
        return self._layer_symbols("z", l)

    def deltas(self, l: int) -> tuple[Quantity, ...]:
        return self._layer_symbols("delta", l)

    def _layer_symbols(self, kind: str, l: int) -> tuple[Quantity, ...]:
        """The symbols of one kind for every neuron of layer l, built once (a weight's gradient reads
        one entry of its layer's tuple, so rebuilding it would cost the layer's width each time)."""
        key = ("layer", kind, l)
        if key not in self._memo:
            self._memo[key] = tuple(self.q(kind, l, j) for j in range(1, self.network.sizes[l] + 1))
        return self._memo[key]

    @cached_property
    def parameters(self) -> tuple[tuple, ...]:
        """Every parameter key, layer by layer: weights row by row, then biases."""
        keys = []
        sizes = self.network.sizes
        for layer in self.network.layers:
            l = layer.index
            keys += [("w", l, j, k) for j in range(1, sizes[l] + 1) for k in range(1, sizes[l - 1] + 1)]
            if layer.bias:
                keys += [("b", l, j) for j in range(1, sizes[l] + 1)]
        return tuple(keys)

    # -------------------------------------------------------------- definitions
    def z_terms(self, l: int, j: int) -> tuple[sp.Expr, ...]:
        """The terms of z^l_j, in the order of k: w^l_{j1} a^{l-1}_1, …, w^l_{jn} a^{l-1}_n, then b^l_j.

        What :meth:`z_definition` adds up, without SymPy's sorting of the sum (a proof that reads
        each term on its own need not pay for putting them in canonical order)."""
        previous = self.activations(l - 1)
        terms = [product(self.q("w", l, j, k), a) for k, a in enumerate(previous, start=1)]
        if self.network.layer(l).bias:
            terms.append(self.q("b", l, j))
        return tuple(terms)

    def z_definition(self, l: int, j: int) -> sp.Expr:
        """z^l_j = Σ_k w^l_{jk} a^{l-1}_k + b^l_j."""
        key = ("zdef", l, j)
        if key not in self._memo:
            self._memo[key] = total(self.z_terms(l, j))
        return self._memo[key]

    def a_definition(self, l: int, j: int) -> sp.Expr:
        """a^l_j in terms of the weighted inputs of layer l (σ(z^l_j), or softmax of z^l)."""
        rule = self.network.layer(l).activation
        if isinstance(rule, VectorActivation):
            return rule.forward(j - 1, list(self.weighted_inputs(l)))
        return rule.apply(self.q("z", l, j))

    @cached_property
    def regulariser(self) -> sp.Expr:
        """(λ/2n) Σ w², or 0 without L2 regularisation."""
        if self.network.l2 is None:
            return sp.S.Zero
        weights = [self.q(*key) for key in self.parameters if key[0] == "w"]
        return self.network.l2 / (2 * N_EXAMPLES) * sp.Add(*[w**2 for w in weights])

    @cached_property
    def regulariser_rule(self) -> tuple[sp.Expr, sp.Expr]:
        """One weight's term of the regulariser and its derivative, stated for a stand-in w."""
        if self.network.l2 is None:
            return sp.S.Zero, sp.S.Zero
        term = self.network.l2 / (2 * N_EXAMPLES) * _W**2
        return term, sp.diff(term, _W)

    def regulariser_gradient(self, weight: Quantity) -> sp.Expr:
        """∂/∂w of (λ/2n) Σ w² for one weight: (λ/n) w."""
        return self.regulariser_rule[1].xreplace({_W: weight})

    @cached_property
    def cost(self) -> sp.Expr:
        """C in terms of the output activations and the targets (plus the regulariser)."""
        outputs = self.activations(self.network.depth)
        return self.network.cost.total(outputs, self.targets) + self.regulariser

    @property
    def cost_symbol(self) -> Quantity:
        return COST

    @property
    def l2_symbols(self) -> tuple[sp.Symbol, ...]:
        """λ and n when the regulariser is symbolic."""
        if self.network.l2 is None:
            return ()
        return tuple(s for s in (LAMBDA, N_EXAMPLES) if s in self.regulariser_rule[0].free_symbols)

    # ------------------------------------------------------------------ composed
    def composed(self, expr: sp.Expr, opaque: bool = False) -> sp.Expr:
        """``expr`` with every z, a (and δ-free) named intermediate replaced by its definition.

        With ``opaque=True`` an element-wise activation stays whole, as an undefined
        function ``σ_l(·)`` whose derivative is ``σ_l'(·)``; the result is then the
        composed expression of the *generic* network with the same structure.
        """
        if not opaque:
            expr = self._stepped(expr)
        replacements = {}
        for symbol in expr.free_symbols:
            if isinstance(symbol, Quantity) and symbol.kind in ("z", "a"):
                replacements[symbol] = self._composed_quantity(symbol, opaque)
            elif isinstance(symbol, Quantity) and symbol.kind == "delta":
                raise ValueError(f"{symbol} has no definition in the forward pass; substitute δ first")
        return expr.xreplace(replacements) if replacements else expr

    def _composed_quantity(self, symbol: Quantity, opaque: bool) -> sp.Expr:
        key = ("composed", opaque, symbol)
        if key in self._memo:
            return self._memo[key]
        l, j = symbol.indices
        if symbol.kind == "z":
            definition = self.z_definition(l, j)
        else:
            rule = self.network.layer(l).activation
            if opaque and not isinstance(rule, VectorActivation):
                definition = rule.function(self.q("z", l, j))
            elif getattr(rule, "step", None) is not None:
                definition = rule.step[0].xreplace({Z: self.q("z", l, j)})
            else:
                definition = self.a_definition(l, j)
        value = self.composed(definition, opaque)
        self._memo[key] = value
        return value

    def _stepped(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with every σ'(z) of a piecewise-linear activation (ReLU, leaky ReLU) written with
        the Heaviside step, as its composed definition is (see ``Activation.step``)."""
        if not expr.has(sp.Piecewise):
            return expr
        steps = {}
        for layer in self.network.layers:
            rule = layer.activation
            if getattr(rule, "step", None) is not None:
                for z in self.weighted_inputs(layer.index):
                    steps[rule.prime(z)] = rule.step[1].xreplace({Z: z})
                    steps[rule.apply(z)] = rule.step[0].xreplace({Z: z})
        return expr.xreplace(steps)

    def composed_cost(self, opaque: bool = False) -> sp.Expr:
        """C in inputs, targets and parameters only."""
        return self.composed(self.cost, opaque)


def forward(network: Network) -> Forward:
    """The named symbols of ``network`` and their definitions."""
    sizes = network.sizes
    symbols: dict[tuple, Quantity] = {}
    for k in range(1, sizes[0] + 1):
        symbols[("x", k)] = Quantity("x", k)
    for j in range(1, sizes[-1] + 1):
        symbols[("y", j)] = Quantity("y", j)
    for layer in network.layers:
        l = layer.index
        for j in range(1, sizes[l] + 1):
            for kind in ("z", "a", "delta"):
                symbols[(kind, l, j)] = Quantity(kind, l, j)
            if layer.bias:
                symbols[("b", l, j)] = Quantity("b", l, j)
            for k in range(1, sizes[l - 1] + 1):
                symbols[("w", l, j, k)] = Quantity("w", l, j, k)
    return Forward(network, symbols)
