"""The cost registry: one frozen rule per cost, for one training example.

Every registered cost is a sum over output neurons, C = Σ_j c(a_j, y_j); a rule
states the term ``c`` with ``A`` for a^L_j and ``Y`` for y_j. The derivative
∂C/∂a_j is never tabulated: the engine takes it with ``sympy.diff``.

>>> cost("quadratic").term
(a - y)**2/2
>>> cost("hinge")
Traceback (most recent call last):
...
symbackprop.errors.SpecError: unknown cost 'hinge'; expected one of: binary_cross_entropy, cross_entropy, quadratic
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .activations import A
from ..errors import SpecError, unknown_name

Y = sp.Symbol("y", real=True)


@dataclass(frozen=True)
class Cost:
    """A cost rule: C = Σ_j term(a^L_j, y_j)."""

    name: str
    term: sp.Expr
    #: the targets are a probability distribution: Σ_j y_j = 1 (one-hot labels, for instance)
    targets_sum_to_one: bool = False
    #: the registered output activations whose values the cost can take (empty: any);
    #: the logarithms of the cross-entropies need outputs in (0, 1)
    outputs: tuple[str, ...] = ()

    def total(self, outputs, targets) -> sp.Expr:
        """C for the given output activations and targets."""
        return sp.Add(*[self.term.xreplace({A: a, Y: y}) for a, y in zip(outputs, targets)])

    def gradient(self, a: sp.Expr, y: sp.Expr) -> sp.Expr:
        """∂C/∂a_j at one output, taken with ``sympy.diff`` of the term."""
        return sp.diff(self.term, A).xreplace({A: a, Y: y})


# ---------------------------------------------------------------- the rule table
# The generic σ in PROBABILITY is an undefined function, assumed to take values in (0, 1).
PROBABILITY = ("generic", "sigmoid", "softmax")

#         name                          c(a, y)
COSTS: dict[str, Cost] = {
    "quadratic":            Cost("quadratic", (A - Y) ** 2 / 2),
    "binary_cross_entropy": Cost("binary_cross_entropy", -(Y * sp.log(A) + (1 - Y) * sp.log(1 - A)),
                                 outputs=PROBABILITY),
    "cross_entropy":        Cost("cross_entropy", -Y * sp.log(A), targets_sum_to_one=True, outputs=PROBABILITY),
}


def cost(spec) -> Cost:
    """Look up a cost by name (or pass a rule through)."""
    if isinstance(spec, Cost):
        return spec
    if isinstance(spec, str) and spec in COSTS:
        return COSTS[spec]
    raise SpecError(unknown_name("cost", spec, COSTS))
