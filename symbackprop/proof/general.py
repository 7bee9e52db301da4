"""BP1–BP4 proven for every network: symbolic layer sizes, symbolic indices, induction over depth.

A concrete network's check (:mod:`symbackprop.equations`) proves the four
equations for that network only. This module proves them once for all
networks. The network is written in index notation, for a layer l with m_l
neurons (layer 0 is the input, a^0 = x; the output layer is L):

    z^l_j = Σ_{k=1}^{m_{l-1}} w^l_{jk} a^{l-1}_k + b^l_j
    a^l_j = σ(z^l_j)                      (softmax at the output: a^L_j = e^{z^L_j} / Σ_k e^{z^L_k})
    C     = Σ_{i=1}^{m_L} c(a^L_i, y_i)   (+ (λ/2n) Σ_p Σ_q Σ_r (w^p_{qr})² with L2)

with σ an undefined SymPy function whose derivative is the paired undefined
σ' (:func:`symbackprop.activations.opaque_functions`), the sizes m_l, the layer
l, the depth L and the neuron indices symbols. Computations use SymPy's
``IndexedBase`` (so that ``diff`` of w[l, j, k] with respect to w[l, p, q] is
a ``KroneckerDelta`` and ``Sum`` sees its index); statements use the engine's
:class:`~symbackprop.symbols.Quantity` with symbolic indices, so that the
notation-aware printers write them. :func:`machine` and :func:`display`
convert between the two forms; they are inverse to each other.

The theorem is that the δ computed by the backward recursion (δ^L_j the right
side of BP1 at the output, δ^l_j the right side of BP2 from the δ^{l+1} of the
layer after) is the gradient of the cost with respect to the weighted inputs,

    P(l):  δ^l_j = ∂C/∂z^l_j   for every neuron j of layer l,

where δ is the recursion's value, not a name for ∂C/∂z. It is proven by
downward induction on l: the base case P(L) is that BP1's right side equals
∂C/∂z^L_j (the proof of BP1); the step P(l+1) ⇒ P(l) for 1 ≤ l ≤ L−1 is that,
if the recursion's δ^{l+1}_k equals ∂C/∂z^{l+1}_k for every k, BP2's right
side equals ∂C/∂z^l_j (the proof of BP2, which uses the hypothesis); so P(l)
holds for 1 ≤ l ≤ L, for every depth L and every layer size. BP3 and BP4 then
follow for every layer from P(l) and the affine weighted input.

Each proof is a sequence of :class:`GeneralStep` rewrites: starting from the
left-hand side of the proof's goal, each step replaces one subexpression
``before`` by ``after`` and names its ``rule``; the last expression must be
the goal's right-hand side. :meth:`GeneralDerivation.check` re-verifies every
step with SymPy (see :data:`GENERAL_RULES` for what each rule's verification
computes) and that the steps chain, so a derivation whose steps or statements
were altered fails the check of the equation concerned. The matrix form is
proven entry by entry from SymPy's index form of matrix expressions with
symbolic shapes ((A^T v)_j = Σ_k A_{kj} v_k as ``MatMul(...)[j, 0]``), which
holds for all sizes at once.

Layers are canonical (input = 0). :meth:`GeneralDerivation.in_notation`
returns the same derivation renumbered for a notation, so that its layers
print as l, l+1, L in that notation's own numbering (as
:mod:`symbackprop.document` writes its general statements).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import sympy as sp
from sympy.concrete.delta import deltasummation
from sympy.tensor.indexed import Indexed, IndexedBase

from ..collector import without_cycle_collection
from ..model.activations import A, VectorActivation, activation as lookup_activation, opaque_functions
from ..model.costs import Y, Cost, cost as lookup_cost
from .equations import Fact, Report, prove_rule
from ..errors import SpecError
from ..documents.printing import notation as lookup_notation
from ..model.symbols import COST, LAMBDA, N_EXAMPLES, GradientOf, LayerMatrix, Partial, Quantity, Shape

# ------------------------------------------------------------------ symbols

#: the layer, the depth (output layer) and the neuron indices of general statements
l, L = sp.symbols("l L", integer=True, positive=True)
i, j, k, p, q, r = sp.symbols("i j k p q r", integer=True, positive=True)
#: symbols that stand for layers (p only as the layer of the regulariser's sum)
LAYER_SYMBOLS = (l, L, p)

SIGMA, SIGMA_PRIME = opaque_functions("sigma")

_LAYERED = ("w", "b", "z", "a", "delta", "m")
_BASES = {kind: IndexedBase(kind, real=True) for kind in ("x", "y", "w", "b", "z", "a", "delta")}
_BASES["m"] = IndexedBase("m", integer=True, positive=True)
_KIND_OF = {base: kind for kind, base in _BASES.items()}
W_, B_, Z_, A_, Y_, M_ = (_BASES[key] for key in ("w", "b", "z", "a", "y", "m"))

#: what each rule of a :class:`GeneralStep` means, and how :meth:`GeneralDerivation.check` verifies it
GENERAL_RULES = (
    # ∂F/∂u = Σ_v ∂F/∂X_v ∂X_v/∂u (+ ∂/∂u of the terms of F that contain u directly). Verified on the
    # model's definitions: the layer of quantities X whose definitions contain u is found with
    # sympy.solve on the layer indices (element-wise activations a = σ(z) looked through), it must be
    # one whole layer, and the cost's own terms are tested for u; the step must be that sum. reason: X_v.
    "chain_rule",
    # ∂F/∂z^P_Q = ∂F/∂a^P_Q ∂a^P_Q/∂z^P_Q for a quantity F defined from the activations a^P (and no z^P):
    # a^P is element-wise at layer P (reason: Eq(a^P_Q, σ(z^P_Q)), the model's definition there), so
    # a^P_Q is the only path from z^P_Q; verified by sympy.diff of F's definition with a^P written as
    # σ(z^P) against the product. This is where BP2's ∂z^{l+1}_k/∂a^l_j is split off.
    "through_activation",
    # ∂F/∂u by sympy.diff of F's definition (reason: Eq(F, definition), checked against the model),
    # or of F itself when F is an explicit expression (reason None).
    "differentiate",
    # a Σ over a KroneckerDelta collapsed: SymPy's doit (deltasummation), outermost index first for a
    # nested sum, then refine under the index range in reason (j ≤ m_l), which must be the range of a
    # free index, of an enclosing sum's index, or of the layer.
    "collapse",
    # a quantity's definition written back as its name (reason: Eq(a, definition)): substituting the
    # model's definition into both sides makes them equal (simplify).
    "definition",
    # an algebraic rearrangement (a factor moved out of a sum, terms collected): the difference
    # simplifies to 0.
    "rearrange",
    # a rational simplification (cancellation): the difference simplifies to 0.
    "simplify",
    # ∂C/∂z^{l+1}_k written δ^{l+1}_k: an instance of the induction hypothesis (reason).
    "induction_hypothesis",
    # ∂C/∂z^l_j written δ^l_j: an instance of the induction's conclusion (reason), for a layer in its range.
    "induction_conclusion",
    # Σ_i y_i = 1 (reason), an assumption of the cost (categorical targets).
    "targets_sum_to_one",
    # σ'(z) of a concrete activation (reason: Eq(σ(z), its definition)); σ' proven against sympy.diff.
    "activation_derivative",
    # σ'(z) written in a = σ(z) through the activation's identity (σ' = σ(1 − σ)), proven with sympy.diff.
    "activation_identity",
    # the entry of a matrix expression with symbolic shapes, from SymPy's index form of the product
    # ((A^T v)_j = Σ_k A_{kj} v_k), the shapes of every product checked.
    "matrix_entry",
)

EQUATION_NAMES = ("BP1", "BP2", "BP3", "BP4")


# ------------------------------------------------------------------ display objects
# Plain data: the printers in printing.py write them (``_print_Entry`` and so on). GradientOf,
# ∂C/∂W^l and ∂C/∂b^l, comes from symbols.py.


class Entry(sp.Expr):
    """Entry j of a column vector, or (j, k) of a matrix, of a matrix expression; 1-based."""

    is_commutative = True

    def __new__(cls, matrix, *indices):
        return sp.Expr.__new__(cls, matrix, *[sp.sympify(x) for x in indices])

    @property
    def matrix(self):
        return self.args[0]

    @property
    def indices(self):
        return self.args[1:]


class Jacobian(sp.MatrixExpr):
    """J^L, the Jacobian ∂a^L_i/∂z^L_j of the output activation (m_L × m_L), row i, column j."""

    def __new__(cls, layer, size):
        return sp.Basic.__new__(cls, sp.sympify(layer), sp.sympify(size))

    @property
    def layer(self):
        return self.args[0]

    @property
    def shape(self):
        return (self.args[1], self.args[1])


class IndexDelta(sp.Expr):
    """The Kronecker delta δ_{ij} as documents show it (SymPy's ``KroneckerDelta`` for display only)."""

    is_commutative = True

    def __new__(cls, first, second):
        return sp.Expr.__new__(cls, sp.sympify(first), sp.sympify(second))


class LayerRange(sp.Expr):
    """low ≤ variable ≤ high: the layers a statement is made for (printed as one chained inequality)."""

    def __new__(cls, variable, low, high):
        return sp.Expr.__new__(cls, sp.sympify(variable), sp.sympify(low), sp.sympify(high))


class Rewrite(sp.Basic):
    """``before`` rewritten as ``after``: one step of a proof, printed before ⟼ after."""

    def __new__(cls, before, after):
        return sp.Basic.__new__(cls, sp.sympify(before), sp.sympify(after))


def shown(expr):
    """``expr`` as a document shows it: every Kronecker delta as :class:`IndexDelta`."""
    if expr is None:
        return None
    expr = sp.sympify(expr)
    if not expr.has(sp.KroneckerDelta):
        return expr
    return expr.replace(lambda e: isinstance(e, sp.KroneckerDelta), lambda e: IndexDelta(*e.args))


class _IndexedMatrix(sp.MatrixExpr):
    """A layer matrix whose entries are IndexedBase elements: the computational twin of LayerMatrix."""

    def __new__(cls, kind, layer, rows, cols):
        kind = kind.name if isinstance(kind, sp.Symbol) else kind
        return sp.Basic.__new__(cls, sp.Symbol(kind), sp.sympify(layer), sp.sympify(rows), sp.sympify(cols))

    @property
    def shape(self):
        return (self.args[2], self.args[3])

    def _entry(self, row, col, **kwargs):
        kind, layer = self.args[0].name, self.args[1]
        row, col = row + 1, col + 1  # SymPy's entries are 0-based, the network's indices 1-based
        if kind == "W":
            return W_[layer, row, col]
        if kind in ("b", "z", "a", "delta"):
            return _BASES[kind][layer, row]
        if kind in ("x", "y"):
            return _BASES[kind][row]
        if kind == "dsigma":
            return SIGMA_PRIME(Z_[layer, row])
        if kind == "grad_a":
            return Partial(COST, A_[layer, row])
        if kind == "grad_W":
            return Partial(COST, W_[layer, row, col])
        if kind == "grad_b":
            return Partial(COST, B_[layer, row])
        if kind == "J":
            return Partial(A_[layer, row], Z_[layer, col])
        raise ValueError(f"no entries for {kind}")


# ------------------------------------------------------------------ the two forms


def machine(expr):
    """``expr`` with every indexed Quantity written as an IndexedBase element (w^l_{jk} → w[l, j, k])."""
    return _machine(sp.sympify(expr))


# A proof's check writes the same few expressions in machine form again and again; building their
# IndexedBase elements (each with its assumptions) is most of that work, so each form is kept.
@functools.lru_cache(maxsize=4096)
def _machine(expr):
    mapping = {q: _BASES[q.kind][q.indices] for q in expr.atoms(Quantity) if q.indices}
    return expr.xreplace(mapping) if mapping else expr


def display(expr):
    """The inverse of :func:`machine`: IndexedBase elements back to Quantities."""
    expr = sp.sympify(expr)
    mapping = {e: Quantity(_KIND_OF[e.base], *e.indices) for e in expr.atoms(Indexed) if e.base in _KIND_OF}
    return expr.xreplace(mapping) if mapping else expr


def _eq(lhs, rhs):
    return sp.Eq(lhs, rhs, evaluate=False)


def _canon(expr, depth: int = 0):
    """``expr`` with the bound indices of every sum renamed canonically (α-equivalence)."""
    if isinstance(expr, sp.Sum):
        new = {lim[0]: sp.Symbol(f"_b{depth}_{n}", integer=True) for n, lim in enumerate(expr.limits)}
        function = _canon(expr.function.xreplace(new), depth + 1)
        limits = [(new[v], _canon(lo.xreplace(new), depth + 1), _canon(hi.xreplace(new), depth + 1))
                  for v, lo, hi in expr.limits]
        return sp.Sum(function, *limits)
    if not expr.args or isinstance(expr, (Indexed, Quantity)) and not expr.atoms(sp.Sum):
        return expr
    args = [_canon(a, depth) for a in expr.args]
    if all(x is y for x, y in zip(args, expr.args)):
        return expr
    if isinstance(expr, sp.core.relational.Relational):
        return expr.func(*args, evaluate=False)
    return expr.func(*args)


def _same(left, right) -> bool:
    """SymPy establishes left = right: equal up to the names of bound indices, or a difference reducing to 0."""
    if left == right:
        return True
    left, right = _canon(left), _canon(right)
    if left == right:
        return True
    difference = left - right
    # The cheap normal forms first (a polynomial, a quotient of polynomials, sums over a Kronecker delta
    # with the delta's index put in); simplify only for what they leave. Each rewrites to an equal
    # expression, so reaching 0 by any of them proves the equality.
    for transform in (sp.expand, sp.cancel, lambda e: sp.expand(_delta_sums(e)), sp.simplify,
                      lambda e: sp.simplify(e.doit())):
        try:
            if transform(difference) == 0:
                return True
        except (TypeError, ValueError, NotImplementedError, AttributeError, sp.PolynomialError):
            continue
    return False


def _delta_sums(expr):
    """``expr`` with every sum of a product holding a Kronecker delta of its index, Σ_b δ_{bx} f(b), written
    f(x) Σ_b δ_{bx}: the delta vanishes unless b = x, and then f(b) = f(x)."""

    def rewrite(total):
        if len(total.limits) != 1:
            return total
        var = total.limits[0][0]
        factors = sp.Mul.make_args(total.function)
        for factor in factors:
            if isinstance(factor, sp.KroneckerDelta) and var in factor.args:
                other = factor.args[1] if factor.args[0] == var else factor.args[0]
                if var in other.free_symbols:
                    continue
                rest = sp.Mul(*(f for f in factors if f is not factor)).xreplace({var: other})
                return rest * sp.Sum(factor, *total.limits)
        return total

    return expr.replace(lambda e: isinstance(e, sp.Sum), rewrite)


def _contains(expr, sub) -> bool:
    return any(node == sub for node in sp.preorder_traversal(expr))


def _enclosing_ranges(expr, target, ranges=()):
    """The (index, low, high) of every sum enclosing ``target`` in ``expr``; None when absent."""
    if expr == target:
        return list(ranges)
    if isinstance(expr, sp.Sum):
        inner = tuple(ranges) + tuple(tuple(lim) for lim in expr.limits)
        return _enclosing_ranges(expr.function, target, inner)
    for arg in expr.args:
        found = _enclosing_ranges(arg, target, ranges)
        if found is not None:
            return found
    return None


def _drop_zero_sums(expr):
    """Σ of 0 is 0 (what SymPy's ``diff`` leaves for terms free of the variable)."""
    return expr.replace(lambda e: isinstance(e, sp.Sum) and e.function == 0, lambda e: sp.S.Zero)


def _relation(rel):
    return rel.canonical if isinstance(rel, sp.core.relational.Relational) else rel


def _conjuncts(reason):
    if reason is None or reason is sp.true:
        return []
    return [_relation(c) for c in sp.And.make_args(reason)]


# ------------------------------------------------------------------ the model


@dataclass(frozen=True)
class _Family:
    """The quantities kind[P, Q] for P in [low, high], defined by ``definition`` (in P and Q)."""

    kind: str
    low: sp.Expr
    high: sp.Expr
    definition: sp.Expr
    elementwise: bool = False


_P, _Q = sp.symbols("P Q", integer=True, positive=True)


@dataclass(frozen=True)
class _Model:
    """The network in index notation (machine form), built from the registered rules."""

    cost: Cost
    softmax: bool
    l2: bool

    def z_definition(self, layer, neuron, bound=r, expanded=False):
        """z^P_Q = Σ_r w^P_{Qr} a^{P-1}_r + b^P_Q; ``expanded`` writes a^{P-1}_r as σ(z^{P-1}_r)."""
        previous = SIGMA(Z_[layer - 1, bound]) if expanded else A_[layer - 1, bound]
        return sp.Sum(W_[layer, neuron, bound] * previous, (bound, 1, M_[layer - 1])) + B_[layer, neuron]

    def a_definition(self, layer, neuron, bound=k, output=False):
        """a^P_Q = σ(z^P_Q), or the softmax at the output."""
        if output and self.softmax:
            return sp.exp(Z_[layer, neuron]) / sp.Sum(sp.exp(Z_[layer, bound]), (bound, 1, M_[layer]))
        return SIGMA(Z_[layer, neuron])

    @property
    def regulariser(self):
        """(λ/2n) Σ_{p=1}^{L} Σ_{q=1}^{m_p} Σ_{r=1}^{m_{p-1}} (w^p_{qr})²."""
        return LAMBDA / (2 * N_EXAMPLES) * sp.Sum(W_[p, q, r] ** 2, (r, 1, M_[p - 1]), (q, 1, M_[p]), (p, 1, L))

    def cost_definition(self, form="named", bound=i):
        """C = Σ_i c(a^L_i, y_i) (+ the regulariser); ``form="sigma"`` writes a^L_i as σ(z^L_i)."""
        output = SIGMA(Z_[L, bound]) if form == "sigma" else A_[L, bound]
        data = sp.Sum(self.cost.term.xreplace({A: output, Y: Y_[bound]}), (bound, 1, M_[L]))
        return data + self.regulariser if self.l2 else data

    def definitions(self, quantity, params):
        """Every admissible definition of a machine-form quantity (C, z[P, Q], a[P, Q])."""
        if quantity == COST:
            forms = [self.cost_definition("named")]
            if not self.softmax:
                forms.append(self.cost_definition("sigma"))
            return forms
        if isinstance(quantity, Indexed) and quantity.base == Z_:
            layer, neuron = quantity.indices
            forms = [self.z_definition(layer, neuron)]
            if _sign(layer - 2, params) is True:  # a^{P-1} = σ(z^{P-1}) needs P - 1 ≥ 1
                forms.append(self.z_definition(layer, neuron, expanded=True))
            return forms
        if isinstance(quantity, Indexed) and quantity.base == A_:
            layer, neuron = quantity.indices
            output = _sign(layer - L, params, zero=True)
            if output is None:
                return []
            return [self.a_definition(layer, neuron, output=output)]
        return []

    @property
    def families(self):
        top = L - 1 if self.softmax else L
        out = [
            _Family("z", sp.S.One, L, self.z_definition(_P, _Q)),
            _Family("a", sp.S.One, top, SIGMA(Z_[_P, _Q]), elementwise=True),
        ]
        if self.softmax:
            out.append(_Family("a", L, L, self.a_definition(_P, _Q, output=True)))
        return out


def _sign(expr, params, zero=False):
    """With the domain's parametrisation: is ``expr`` ≥ 0 (``zero``: = 0)? None when SymPy cannot tell."""
    value = sp.sympify(expr).xreplace(params)
    if zero:
        return True if value.is_zero else (False if value.is_nonzero else None)
    return value.is_nonnegative


def _parameters(domain):
    """A parametrisation of a layer range by non-negative integers: l = low + s0, L = l + (L - high) + s1."""
    return dict(_parametrisation(tuple(domain)))


@functools.lru_cache(maxsize=256)
def _parametrisation(domain):
    return tuple(_parametrise(domain).items())


def _parametrise(domain):
    var, low, high = domain
    s0, s1 = sp.symbols("s0 s1", integer=True, nonnegative=True)
    if var == L:
        return {L: 1 + s0}
    depth = sp.solve(sp.Eq(high, var + s1), L)
    if len(depth) != 1:
        raise ValueError(f"cannot parametrise the layer range {domain}")
    return {var: low + s0, L: depth[0].xreplace({var: low + s0})}


class _Unprovable(Exception):
    pass


@functools.lru_cache(maxsize=1024)
def _layers_where(index, layer) -> tuple:
    """The layers P at which the layer index ``index`` (an expression in P) equals ``layer``."""
    return tuple(sp.solve(sp.Eq(index, layer), _P))


def _consumers(model, u, params):
    """The layers of quantities whose definitions contain ``u``, and the cost terms containing it.

    The forward pass defines z^P from a^{P-1} (and w^P, b^P), a^P from z^P, and C
    from a^L (and every weight, through the regulariser). C depends on u only
    through the quantities returned; an element-wise a^P = σ(z^P) is looked
    through, so that z^l feeds z^{l+1}.
    """
    base, layer = u.base, u.indices[0]
    found = set()
    for family in model.families:
        for atom in family.definition.atoms(Indexed):
            if atom.base != base:
                continue
            for value in _layers_where(atom.indices[0], layer):
                low, high = _sign(value - family.low, params), _sign(family.high - value, params)
                if low is None or high is None:
                    raise _Unprovable("layer_undecidable")
                if low and high:
                    found.add((family.kind, value, family.elementwise))
    direct = []
    for term in sp.Add.make_args(model.cost_definition("named")):
        bound = {v for s in term.atoms(sp.Sum) for v in s.variables}
        for atom in term.atoms(Indexed):
            if atom.base != base:
                continue
            if atom.indices[0].free_symbols & bound:
                direct.append(term)  # a sum over layers: every layer's weights
                break
            equal = _sign(atom.indices[0] - layer, params, zero=True)
            if equal is None:
                raise _Unprovable("layer_undecidable")
            if equal:
                direct.append(term)
                break
    through = set()
    for kind, value, elementwise in found:
        if elementwise:
            inner, inner_direct = _consumers(model, _BASES[kind][value, _Q], params)
            through |= inner
            direct += [t for t in inner_direct if t not in direct]
        else:
            through.add((kind, value))
    return through, direct



#: every problem :meth:`GeneralDerivation.check` can report, by key (``Fact.evidence["problem"]["key"]``);
#: the templates phrase each one (``templates/<lang>/general.names.j2``), with the step, rule and form
#: the problem dict carries
PROBLEMS = (
    # where a proof goes wrong: a step, its end, SymPy itself, the statement and its matrix form
    "not_in_previous",
    "wrong_end",
    "sympy_error",
    "layer_undecidable",
    "goal_not_statement",
    "shapes_differ",
    "free_indices",
    "no_proof",
    # the verification of one rule (GENERAL_RULES), in their order
    "chain_rule_not_cost",
    "chain_rule_layers",
    "chain_rule_not_one_sum",
    "chain_rule_wrong_sum",
    "chain_rule_wrong_intermediate",
    "not_partial",
    "not_wrt_weighted_input",
    "activation_not_given",
    "not_elementwise",
    "not_the_product",
    "no_definition",
    "definition_has_z",
    "composed_differs",
    "wrong_definition",
    "not_network_definition",
    "no_definition_quoted",
    "diff_differs",
    "not_a_sum",
    "range_not_in_scope",
    "sum_differs",
    "no_activation_definition",
    "definition_differs",
    "difference_nonzero",
    "hypothesis_outside_step",
    "no_hypothesis_instance",
    "not_hypothesis_instance",
    "step_not_hypothesis",
    "conclusion_layers",
    "no_conclusion_instance",
    "not_conclusion_instance",
    "step_not_conclusion",
    "targets_not_assumed",
    "targets_wrong_assumption",
    "step_not_assumption",
    "not_concrete_prime",
    "prime_not_at_z",
    "activation_not",
    "no_identity",
    "activation_rule_fails",
    "prime_differs",
    "not_an_entry",
    "entry_differs",
    # the bookkeeping of the induction
    "claim_wrong",
    "base_wrong",
    "hypothesis_wrong",
    "step_wrong",
    "coverage",
    "no_equation",
    "equation_goal",
    "equation_layers",
    "equation_fails",
)

# ------------------------------------------------------------------ values


@dataclass(frozen=True)
class GeneralStep:
    """One rewrite of a general proof: ``before`` (a subexpression) equals ``after`` by ``rule``.

    ``reason`` is the fact the rule uses, as a SymPy object for display: the
    definition differentiated, the index range of a collapse, the induction
    hypothesis, the assumption Σ y = 1, the intermediate quantity of a chain
    rule; None when the rule needs none. See :data:`GENERAL_RULES`.
    """

    rule: str
    before: sp.Basic
    after: sp.Basic
    reason: sp.Basic | None = None

    def __post_init__(self):
        if self.rule not in GENERAL_RULES:
            raise ValueError(f"unknown rule {self.rule!r}; expected one of: {', '.join(GENERAL_RULES)}")


@dataclass(frozen=True)
class GeneralEquation:
    """One of BP1–BP4 for every network, with its proofs.

    ``statement`` is the index form (an ``Eq`` in Quantities with symbolic
    indices), ``matrix`` the matrix form (``LayerMatrix`` factors with symbolic
    shapes; print with ``shapes=True``) and ``dimensions`` the shape of every
    matrix subexpression. ``proof`` rewrites ``goal.lhs`` into ``goal.rhs``:
    for BP1 and BP2 the goal is ∂C/∂z = the statement's right-hand side (the
    induction connects it to δ), for BP3 and BP4 it is the statement.
    ``matrix_proof`` rewrites the pair (entry of the matrix form's left side,
    entry of its right side) into (statement.lhs, statement.rhs). ``domain`` is
    the layer range (variable, low, high) the equation is stated for;
    ``indices`` the range (index, 1, size) of each free neuron index.
    """

    name: str
    statement: sp.Eq
    matrix: sp.Eq
    dimensions: tuple
    goal: sp.Eq
    proof: tuple[GeneralStep, ...]
    matrix_proof: tuple[GeneralStep, ...]
    domain: sp.Tuple
    indices: tuple
    assumptions: tuple = ()

    def expressions(self, matrix: bool = False) -> tuple:
        """The expression before the first step and after each step of ``proof`` (or ``matrix_proof``)."""
        if matrix:
            indices = tuple(x[0] for x in self.indices)
            current = sp.Tuple(Entry(self.matrix.lhs, *indices), Entry(self.matrix.rhs, *indices))
        else:
            current = self.goal.lhs
        out = [current]
        for step in self.matrix_proof if matrix else self.proof:
            current = current.xreplace({step.before: step.after})
            out.append(current)
        return tuple(out)


@dataclass(frozen=True)
class Induction:
    """The induction over layers, as data.

    ``claim`` is P(l): δ^l_j = ∂C/∂z^l_j, with δ the value the backward
    recursion computes (BP1 at the output, BP2 from layer l+1 to layer l).
    ``base`` is P(L) as it is proven: the recursion's δ^L_j, the right side of
    the equation ``base_equation`` (BP1), equals ∂C/∂z^L_j. ``step`` is
    P(l+1) ⇒ P(l) for l in ``step_domain``: ``hypothesis`` (P(l+1) for every
    neuron k of layer l+1, δ^{l+1}_k = ∂C/∂z^{l+1}_k, since BP2 sums over all
    of them) implies :attr:`step_goal`, that the right side of the equation
    ``step_equation`` (BP2), computed from those δ^{l+1}_k, equals ∂C/∂z^l_j.
    ``conclusion`` is P(l) for l in ``domain`` (1 ≤ l ≤ L, any L).
    """

    variable: sp.Symbol
    claim: sp.Eq
    base: sp.Eq
    base_equation: str
    hypothesis: sp.Eq
    step: sp.Basic
    step_equation: str
    step_domain: sp.Tuple
    conclusion: sp.Eq
    domain: sp.Tuple

    @property
    def step_goal(self):
        """What the step proves from the hypothesis: the right side of BP2 equals ∂C/∂z^l_j."""
        return self.step.args[1] if isinstance(self.step, sp.Implies) else None


@dataclass(frozen=True)
class GeneralDerivation:
    """BP1–BP4 proven for every network with the given cost, activation and output.

    Build one with :func:`derive_general`. ``equations`` are BP1–BP4 in order,
    ``induction`` the induction over layers, ``forward`` the definitions of the
    network in index form. ``notation`` is None for canonical layers (the input
    is layer 0), or the notation whose layer numbering the expressions are
    written in (see :meth:`in_notation`). :meth:`check` re-verifies every step.
    """

    cost: str
    activation: str
    softmax: bool
    l2: bool
    forward: tuple
    equations: tuple[GeneralEquation, ...]
    induction: Induction
    assumptions: tuple = ()
    notation: str | None = None

    def equation(self, name: str) -> GeneralEquation:
        for equation in self.equations:
            if equation.name == name:
                return equation
        raise KeyError(f"no equation {name!r}; expected one of {', '.join(EQUATION_NAMES)}")

    @property
    def bp1(self):
        return self.equation("BP1")

    @property
    def bp2(self):
        return self.equation("BP2")

    @property
    def bp3(self):
        return self.equation("BP3")

    @property
    def bp4(self):
        return self.equation("BP4")

    def with_equation(self, equation: GeneralEquation) -> "GeneralDerivation":
        """A copy with ``equation`` in place of the equation of the same name.

        The induction is restated from the new equations: its base case and
        step are what the proofs of BP1 and BP2 show, so they follow them.
        """
        copy = replace(self, equations=tuple(equation if e.name == equation.name else e for e in self.equations))
        ind = copy.induction
        try:
            base, goal = _proven(copy.equation(ind.base_equation)), _proven(copy.equation(ind.step_equation))
        except KeyError:
            return copy
        return replace(copy, induction=replace(ind, base=base, step=sp.Implies(ind.hypothesis, goal)))

    def in_notation(self, name: str | None) -> "GeneralDerivation":
        """The same derivation with its layers numbered as notation ``name`` prints them (None: canonical).

        A layer l of a statement is the layer the notation calls l: in the
        ``nielsen`` notation, whose input is layer 1, canonical layer l − 1.
        """
        old = _offset(self.notation)
        new = _offset(name)
        shift = new - old
        if shift == 0:
            return replace(self, notation=name)
        return _map_derivation(self, lambda e: _relabel(e, shift), name)

    def check(self) -> Report:
        """Re-verify every step of every proof and the induction with SymPy.

        One :class:`~symbackprop.equations.Fact` per equation (BP1–BP4) and one
        for the induction, with ``method="general"`` and ``layer=0``, which
        here means "any layer of any network" (BP1: the output layer L).
        """
        return _check(self.in_notation(None) if self.notation else self)

    def instantiate(self, network) -> dict:
        """The general statements evaluated for a concrete network, in the engine's named quantities.

        Keys are ``("delta", l, j)`` (δ^l_j from BP1 or BP2), ``("w", l, j, k)``
        (∂C/∂w^l_{jk} from BP4) and ``("b", l, j)`` (∂C/∂b^l_j from BP3, for
        layers with biases), canonical and 1-based like
        :class:`~symbackprop.chain.Derivation`'s keys. Values are written as the
        engine's compact forms are: a gradient has its own neuron's δ written
        out, the δ of the next layer named. The network must have
        this derivation's cost, activation, output and regularisation (a
        numeric L2 strength replaces λ); a layer without biases is the special
        case b = 0, which changes none of BP1, BP2 and BP4.
        """
        return _instantiate(self.in_notation(None) if self.notation else self, network)


def _offset(name):
    return 0 if name is None else lookup_notation(name).layer_offset


# ------------------------------------------------------------------ building proofs


class _Proof:
    """A proof under construction: the current expression and the steps so far."""

    def __init__(self, start):
        self.current = start
        self.steps: list[GeneralStep] = []

    def step(self, rule, before, after, reason=None):
        if not _contains(self.current, before):
            raise AssertionError(f"{rule}: {before} is not part of {self.current}")
        self.steps.append(GeneralStep(rule, before, after, reason))
        self.current = self.current.xreplace({before: after})
        return after

    def find(self, predicate):
        for node in sp.postorder_traversal(self.current):  # innermost first
            if predicate(node):
                return node
        return None


def _has_delta_sum(node):
    return isinstance(node, sp.Sum) and any(
        isinstance(f, sp.KroneckerDelta) and f.free_symbols & set(node.variables)
        for f in sp.preorder_traversal(node.function))


def _outer_delta(total):
    """Σ_P Σ_inner δ_{xP} f: the outermost index collapsed first (SymPy's deltasummation).

    The Kronecker deltas in the outermost index that do not involve the inner
    indices are constant factors of the inner sums and move out of them.
    """
    *inner, (var, low, high) = total.limits
    inner_vars = {lim[0] for lim in inner}
    factors = sp.Mul.make_args(total.function)
    deltas = [f for f in factors if isinstance(f, sp.KroneckerDelta) and var in f.free_symbols
              and not f.free_symbols & inner_vars]
    rest = sp.Mul(*[f for f in factors if f not in deltas])
    return deltasummation(sp.Mul(*deltas) * sp.Sum(rest, *inner), (var, low, high))


def _collapse_candidates(total):
    """What SymPy's summation of the KroneckerDelta gives (before refining the index ranges)."""
    if len(total.limits) > 1:
        yield _outer_delta(total)
    yield total.doit()


def _conditions(expr):
    """The conditions of the Piecewise results of a summation: the index ranges it needs."""
    out = []
    for piece in expr.atoms(sp.Piecewise):
        for _, condition in piece.args:
            if condition is sp.true:
                continue
            for c in sp.And.make_args(condition):
                if c not in out:
                    out.append(c)
    return out


def _collapse(proof: _Proof, total):
    """Collapse the KroneckerDelta of a displayed sum, recording the index range it needs."""
    value = next(iter(_collapse_candidates(machine(total))))
    conditions = _conditions(value)
    reason = sp.And(*conditions) if conditions else None
    if reason is not None:
        value = sp.refine(value, reason)
    return proof.step("collapse", total, display(value), display(reason) if reason is not None else None)


def _collapse_all(proof: _Proof):
    while True:
        total = proof.find(_has_delta_sum)
        if total is None:
            return
        _collapse(proof, total)


def _collapse_within(proof: _Proof, part):
    """Collapse the KroneckerDelta sums inside ``part`` of the current expression; the collapsed part."""
    while True:
        total = next((node for node in sp.postorder_traversal(part) if _has_delta_sum(node)), None)
        if total is None:
            return part
        part = part.xreplace({total: _collapse(proof, total)})
        if not _contains(proof.current, part):  # merged into the surrounding product
            return None


def _concretise(proof: _Proof, z, a, rule):
    """σ'(z) of a concrete element-wise activation, then a cancellation when it shortens the result."""
    if rule.name == "generic":
        return
    prime = SIGMA_PRIME(z)
    if not _contains(proof.current, prime):
        return
    named = rule.prime_named(z, a)
    kind = "activation_identity" if rule.identity is not None else "activation_derivative"
    proof.step(kind, prime, named, _eq(SIGMA(z), rule.apply(z)))
    _cancel(proof)


def _cancel(proof: _Proof):
    target = proof.current
    if isinstance(target, sp.Tuple):
        target = target.args[1]
    if target.has(sp.Sum):
        return
    cancelled = sp.cancel(target)
    if sp.count_ops(cancelled) < sp.count_ops(target):
        proof.step("simplify", target, cancelled)


def _finish(proof: _Proof, target):
    """A last rearrangement so that the proof ends exactly at ``target``."""
    if isinstance(proof.current, sp.Tuple):
        last = proof.current.args[1]
        if last != target:
            proof.step("rearrange", last, target)
    elif proof.current != target:
        proof.step("rearrange", proof.current, target)


def _q(kind, *indices):
    return Quantity(kind, *indices)


def _size(layer):
    return Quantity("m", layer)


def _sum_y(bound=i):
    return sp.Sum(_q("y", bound), (bound, 1, _size(L)))


def _entry_value(matrix_display, indices, names=(k, i, q, r)):
    """SymPy's entry of a matrix expression with symbolic shapes, sums re-indexed from 1 (machine form)."""
    matrix = _machine_matrix(matrix_display)
    rows = indices[0] - 1
    cols = indices[1] - 1 if len(indices) > 1 else sp.S.Zero
    value = matrix[rows, cols]
    taken = set(value.free_symbols)

    def shift(total):
        for var, low, _ in total.limits:
            if low != 1:
                new = next(n for n in names if n not in taken)
                taken.add(new)
                total = total.change_index(var, var + 1 - low, new)
        return total

    return value.replace(lambda e: isinstance(e, sp.Sum), shift)


def _machine_matrix(expr):
    """A displayed matrix expression with its factors as :class:`_IndexedMatrix` (machine form)."""

    def convert(e):
        if isinstance(e, LayerMatrix):
            return _IndexedMatrix(e.kind, e.layer, e.shape[0], e.shape[1])
        if isinstance(e, GradientOf):
            of = e.of
            return _IndexedMatrix("grad_" + of.kind, of.layer, of.shape[0], of.shape[1])
        if isinstance(e, Jacobian):
            return _IndexedMatrix("J", e.layer, e.shape[0], e.shape[1])
        if not e.args:
            return e
        return e.func(*[convert(a) for a in e.args])

    converted = convert(expr)
    return machine(converted)


def _matrix_proof(statement, matrix, indices, tail=None, names=(k, i, q, r)):
    lhs, rhs = Entry(matrix.lhs, *indices), Entry(matrix.rhs, *indices)
    proof = _Proof(sp.Tuple(lhs, rhs))
    for entry in (lhs, rhs):
        proof.step("matrix_entry", entry, display(_entry_value(entry.matrix, indices, names)))
    if tail is not None:
        tail(proof)
    _finish(proof, statement.rhs)
    return tuple(proof.steps)


def _dimensions(matrix_eq):
    seen = []
    for node in sp.preorder_traversal(matrix_eq):
        if isinstance(node, sp.MatrixExpr) and node not in [s for s, _ in seen]:
            seen.append((node, Shape(*node.shape)))
    return tuple(seen)


# ---------------------------------------------------------------- the four equations


def _softmax_tail(proof: _Proof, model: _Model, z_out):
    """Σ_i ∂C/∂a^L_i ∂a^L_i/∂z^L_j written out: ∂C/∂a by diff of the cost, the Jacobian by diff of softmax."""
    a_i = _q("a", L, i)
    cost_def = model.cost_definition("named", bound=r)
    derivative = _drop_zero_sums(sp.diff(cost_def, A_[L, i]))
    _collapse_within(proof, proof.step("differentiate", Partial(COST, a_i), display(derivative),
                                       _eq(COST, display(cost_def))))
    softmax = model.a_definition(L, i, bound=k, output=True)
    jacobian = proof.step("differentiate", Partial(a_i, z_out), display(sp.diff(softmax, machine(z_out))),
                          _eq(a_i, display(softmax)))
    jacobian = _collapse_within(proof, jacobian)
    if jacobian is None:
        raise AssertionError(f"the Jacobian is no longer a part of {proof.current}")
    # e^{z^L_v} = a^L_v Σ_k e^{z^L_k}: the Jacobian written in the activations, a_i (δ_ij − a_j)
    total = sp.Sum(sp.exp(Z_[L, k]), (k, 1, M_[L]))
    value = machine(jacobian)
    exps = {e for e in value.atoms(sp.exp) if e.args[0].base == Z_ and e.args[0] != Z_[L, k]}
    named = sp.expand(value.xreplace({e: A_[e.args[0].indices] * total for e in exps}))
    proof.step("definition", jacobian, display(named), _eq(a_i, display(softmax)))
    _collapse_all(proof)


def _bp1(model: _Model, rule, cost: Cost) -> GeneralEquation:
    z_out, a_out, y_j = _q("z", L, j), _q("a", L, j), _q("y", j)
    goal_lhs = Partial(COST, z_out)
    proof = _Proof(goal_lhs)
    domain = sp.Tuple(L, L, L)
    indices = (sp.Tuple(j, 1, _size(L)),)
    assumptions = ()
    delta_m = LayerMatrix("delta", L, _size(L))
    if model.softmax:
        a_i = _q("a", L, i)
        proof.step("chain_rule", goal_lhs, sp.Sum(Partial(COST, a_i) * Partial(a_i, z_out), (i, 1, _size(L))), a_i)
        _softmax_tail(proof, model, z_out)
        if cost.targets_sum_to_one:
            y_sum = _sum_y()
            # Σ_i a^L_j y_i = a^L_j Σ_i y_i: the factor that does not depend on i moves out
            target = display(sp.factor_terms(machine(proof.current)))
            if target != proof.current:
                proof.step("rearrange", proof.current, target)
            found = proof.find(lambda e: isinstance(e, sp.Sum) and _canon(machine(e)) == _canon(machine(y_sum)))
            if found is None:
                raise AssertionError(f"no Σ y in {proof.current}")
            assumption = _eq(found, 1)
            proof.step("targets_sum_to_one", found, sp.S.One, assumption)
            assumptions = (assumption,)
            rhs = a_out - y_j
            matrix = _eq(delta_m, sp.MatAdd(LayerMatrix("a", L, _size(L)), -LayerMatrix("y", L, _size(L))))
            tail = None
        else:
            grad = cost.gradient(a_out, y_j)
            rhs = a_out * (grad - sp.Sum(_q("a", L, i) * cost.gradient(_q("a", L, i), _q("y", i)), (i, 1, _size(L))))
            matrix = _eq(delta_m, sp.MatMul(sp.Transpose(Jacobian(L, _size(L))), LayerMatrix("grad_a", L, _size(L))))

            def tail(pf):
                _softmax_tail(pf, model, z_out)
        _finish(proof, rhs)
    else:
        cost_def = model.cost_definition("sigma")
        derivative = _drop_zero_sums(sp.diff(cost_def, Z_[L, j]))
        proof.step("differentiate", goal_lhs, display(derivative), _eq(COST, display(cost_def)))
        _collapse_all(proof)
        proof.step("definition", SIGMA(z_out), a_out, _eq(a_out, SIGMA(z_out)))
        _finish(proof, cost.gradient(a_out, y_j) * SIGMA_PRIME(z_out))
        _concretise(proof, z_out, a_out, rule)
        matrix = _eq(delta_m, sp.HadamardProduct(LayerMatrix("grad_a", L, _size(L)),
                                                 LayerMatrix("dsigma", L, _size(L))))

        def tail(pf):
            named = model.cost_definition("named")
            derivative = _drop_zero_sums(sp.diff(named, A_[L, j]))
            pf.step("differentiate", Partial(COST, a_out), display(derivative), _eq(COST, display(named)))
            _collapse_all(pf)
            _concretise(pf, z_out, a_out, rule)
    statement = _eq(_q("delta", L, j), proof.current)
    goal = _eq(goal_lhs, proof.current)
    matrix_steps = _matrix_proof(statement, matrix, (j,), tail, names=(i, k, q, r))
    return GeneralEquation("BP1", statement, matrix, _dimensions(matrix), goal, tuple(proof.steps), matrix_steps,
                           domain, indices, assumptions)


def _bp2(model: _Model, rule) -> GeneralEquation:
    z_l, a_l = _q("z", l, j), _q("a", l, j)
    z_next, d_next = _q("z", l + 1, k), _q("delta", l + 1, k)
    goal_lhs = Partial(COST, z_l)
    proof = _Proof(goal_lhs)
    proof.step("chain_rule", goal_lhs, sp.Sum(Partial(COST, z_next) * Partial(z_next, z_l), (k, 1, _size(l + 1))),
               z_next)
    proof.step("induction_hypothesis", Partial(COST, z_next), d_next, _eq(d_next, Partial(COST, z_next)))
    # z^{l+1}_k sees z^l_j only through a^l_j = σ(z^l_j): the path splits at the activation
    activation = _eq(a_l, SIGMA(z_l))
    proof.step("through_activation", Partial(z_next, z_l), Partial(z_next, a_l) * Partial(a_l, z_l), activation)
    # ∂z^{l+1}_k/∂a^l_j = Σ_i w^{l+1}_{ki} δ_{ij}: the Kronecker delta keeps the term i = j
    definition = model.z_definition(l + 1, k, bound=i)
    derivative = sp.diff(definition, A_[l, j])
    proof.step("differentiate", Partial(z_next, a_l), display(_drop_zero_sums(derivative)),
               _eq(z_next, display(definition)))
    _collapse_all(proof)
    proof.step("differentiate", Partial(a_l, z_l), SIGMA_PRIME(z_l), activation)
    # σ'(z^l_j) does not depend on k: it moves out of the sum
    _finish(proof, sp.Sum(_q("w", l + 1, k, j) * d_next, (k, 1, _size(l + 1))) * SIGMA_PRIME(z_l))
    _concretise(proof, z_l, a_l, rule)
    statement = _eq(_q("delta", l, j), proof.current)
    matrix = _eq(LayerMatrix("delta", l, _size(l)),
                 sp.HadamardProduct(sp.MatMul(sp.Transpose(LayerMatrix("W", l + 1, _size(l + 1), _size(l))),
                                              LayerMatrix("delta", l + 1, _size(l + 1))),
                                    LayerMatrix("dsigma", l, _size(l))))

    def tail(pf):
        _concretise(pf, z_l, a_l, rule)

    matrix_steps = _matrix_proof(statement, matrix, (j,), tail)
    return GeneralEquation("BP2", statement, matrix, _dimensions(matrix), _eq(goal_lhs, proof.current),
                           tuple(proof.steps), matrix_steps, sp.Tuple(l, 1, L - 1), (sp.Tuple(j, 1, _size(l)),))


def _parameter_chain(proof: _Proof, model: _Model, theta, theta_m, direct):
    """∂C/∂θ = Σ_i ∂C/∂z^l_i ∂z^l_i/∂θ (+ ∂R/∂θ): the chain rule through the weighted inputs of layer l."""
    z_i = _q("z", l, i)
    chain = sp.Sum(Partial(COST, z_i) * Partial(z_i, theta), (i, 1, _size(l)))
    if direct:
        chain = chain + Partial(display(model.regulariser), theta)
    proof.step("chain_rule", proof.current, chain, z_i)
    definition = model.z_definition(l, i, bound=r)
    proof.step("differentiate", Partial(z_i, theta), display(_drop_zero_sums(sp.diff(definition, theta_m))),
               _eq(z_i, display(definition)))
    _collapse_all(proof)
    proof.step("induction_conclusion", Partial(COST, _q("z", l, j)), _q("delta", l, j),
               _eq(_q("delta", l, j), Partial(COST, _q("z", l, j))))
    if direct:
        regulariser = Partial(display(model.regulariser), theta)
        proof.step("differentiate", regulariser, display(sp.diff(model.regulariser, theta_m)))
        _collapse_all(proof)


def _bp3(model: _Model) -> GeneralEquation:
    b = _q("b", l, j)
    goal_lhs = Partial(COST, b)
    proof = _Proof(goal_lhs)
    _parameter_chain(proof, model, b, B_[l, j], direct=False)
    statement = _eq(goal_lhs, proof.current)
    matrix = _eq(GradientOf(LayerMatrix("b", l, _size(l))), LayerMatrix("delta", l, _size(l)))
    matrix_steps = _matrix_proof(statement, matrix, (j,))
    return GeneralEquation("BP3", statement, matrix, _dimensions(matrix), statement, tuple(proof.steps),
                           matrix_steps, sp.Tuple(l, 1, L), (sp.Tuple(j, 1, _size(l)),))


def _bp4(model: _Model) -> GeneralEquation:
    w = _q("w", l, j, k)
    goal_lhs = Partial(COST, w)
    proof = _Proof(goal_lhs)
    _parameter_chain(proof, model, w, W_[l, j, k], direct=model.l2)
    rhs = _q("a", l - 1, k) * _q("delta", l, j)
    if model.l2:
        rhs = rhs + LAMBDA / N_EXAMPLES * w
    _finish(proof, rhs)
    statement = _eq(goal_lhs, proof.current)
    W = LayerMatrix("W", l, _size(l), _size(l - 1))
    product = sp.MatMul(LayerMatrix("delta", l, _size(l)), sp.Transpose(LayerMatrix("a", l - 1, _size(l - 1))))
    if model.l2:
        product = sp.MatAdd(product, sp.MatMul(LAMBDA / N_EXAMPLES, W))
    matrix = _eq(GradientOf(W), product)
    matrix_steps = _matrix_proof(statement, matrix, (j, k))
    return GeneralEquation("BP4", statement, matrix, _dimensions(matrix), statement, tuple(proof.steps),
                           matrix_steps, sp.Tuple(l, 1, L),
                           (sp.Tuple(j, 1, _size(l)), sp.Tuple(k, 1, _size(l - 1))))


def _claim(layer, neuron=j):
    return _eq(_q("delta", layer, neuron), Partial(COST, _q("z", layer, neuron)))


def _neuron(claim):
    """The neuron index of a claim δ^P_n = ∂C/∂z^P_n in machine form (None when it is not one)."""
    lhs = claim.lhs if isinstance(claim, sp.Eq) else None
    return lhs.indices[-1] if isinstance(lhs, Indexed) and len(lhs.indices) == 2 else None


def _proven(equation: GeneralEquation):
    """What the proof of BP1 or BP2 establishes about the recursion: its right side = ∂C/∂z."""
    return _eq(equation.statement.rhs, equation.goal.lhs)


def _induction(bp1: GeneralEquation, bp2: GeneralEquation) -> Induction:
    claim = _claim(l)
    # BP2 uses the error of every neuron k of layer l+1, so the hypothesis is stated for every k
    hypothesis = _claim(l + 1, k)
    return Induction(
        variable=l, claim=claim, base=_proven(bp1), base_equation="BP1", hypothesis=hypothesis,
        step=sp.Implies(hypothesis, _proven(bp2)), step_equation="BP2", step_domain=sp.Tuple(l, 1, L - 1),
        conclusion=claim, domain=sp.Tuple(l, 1, L),
    )


def _forward(model: _Model, cost: Cost) -> tuple:
    out = [
        _eq(_q("z", l, j), display(model.z_definition(l, j, bound=k))),
        _eq(_q("a", l, j), SIGMA(_q("z", l, j))),
    ]
    if model.softmax:
        out.append(_eq(_q("a", L, j), display(model.a_definition(L, j, output=True))))
    out.append(_eq(COST, display(model.cost_definition("named"))))
    return tuple(out)


@without_cycle_collection
def derive_general(cost="quadratic", activation="generic", l2=False, softmax=None) -> GeneralDerivation:
    """Prove BP1–BP4 for every network with this cost, activation and output layer.

    ``cost`` is a registered cost name; ``activation`` a registered
    element-wise activation (``"sigmoid"``, ``"leaky_relu:0.2"``) or
    ``"generic"`` (an undefined σ: the result holds for every differentiable
    activation; a concrete activation is substituted into it afterwards, with
    its σ' proven against ``sympy.diff``); ``softmax`` puts a softmax on the
    output layer (default: True for ``cross_entropy``); ``l2`` adds the
    regulariser (λ/2n) Σ w².

    A derivation is immutable: the same arguments give the same derivation, derived once per process.
    """
    key = (cost, activation, bool(l2), softmax if softmax is None else bool(softmax))
    try:
        hash(key)
    except TypeError:  # an argument that cannot be a key: derived as it is
        return _derive_general.__wrapped__(*key)
    return _derive_general(*key)


@functools.lru_cache(maxsize=64)
def _derive_general(cost, activation, l2, softmax) -> GeneralDerivation:
    rule_cost = lookup_cost(cost)
    rule = lookup_activation(activation)
    if isinstance(rule, VectorActivation):
        raise SpecError(f"{rule.name} is not element-wise; give softmax=True for a softmax output instead")
    if softmax is None:
        softmax = rule_cost.name == "cross_entropy"
    model = _Model(rule_cost, bool(softmax), bool(l2))
    equations = (_bp1(model, rule, rule_cost), _bp2(model, rule), _bp3(model), _bp4(model))
    assumptions = tuple(a for e in equations for a in e.assumptions)
    return GeneralDerivation(rule_cost.name, activation if isinstance(activation, str) else rule.label,
                             bool(softmax), bool(l2), _forward(model, rule_cost), equations, _induction(*equations[:2]),
                             assumptions)


#: the notations a general proof is written in: the ``nodes`` convention numbers neurons across a
#: concrete network, which symbolic layer sizes do not have
GENERAL_NOTATIONS = ("nielsen", "ng", "qiu")


def general_notation(name: str) -> str:
    """``name`` when a general proof can be written in it; otherwise a SpecError listing the valid ones."""
    if name not in GENERAL_NOTATIONS:
        lookup_notation(name)  # an unknown name gets the registry's message
        raise SpecError(f"notation {name!r} cannot write a general proof: it numbers the neurons across a "
                        f"concrete network, and a general network has symbolic layer sizes; expected one of: "
                        f"{', '.join(GENERAL_NOTATIONS)}")
    return name


def general_options(network) -> dict:
    """The arguments of :func:`derive_general` whose proof covers ``network`` (see :meth:`~GeneralDerivation.instantiate`).

    Every layer but a softmax output must have the same element-wise activation.
    """
    layers = network.layers
    softmax = isinstance(layers[-1].activation, VectorActivation)
    elementwise = layers[:-1] if softmax else layers
    labels = sorted({layer.activation.label for layer in elementwise})
    if len(labels) > 1:
        raise SpecError(f"a general proof needs one element-wise activation for every layer; "
                        f"the network has {', '.join(labels)}")
    activation = "generic"
    if elementwise:
        rule = elementwise[0].activation
        # the registry's spec of the rule ("leaky_relu:1/5"), which the proof's check looks up again
        activation = rule.name + "".join(f":{value}" for _, value in rule.parameters)
        if lookup_activation(activation) != rule:
            raise SpecError(f"a general proof needs a registered activation; {rule.label} is not one")
    return {"cost": network.cost.name, "activation": activation, "l2": network.l2 is not None, "softmax": softmax}


# ---------------------------------------------------------------- notations


def _relabel(expr, shift):
    """Renumber the layers of ``expr`` by ``shift``, so that a notation prints canonical layer l − shift as l."""
    if expr is None:
        return None
    if isinstance(expr, tuple):
        return tuple(_relabel(e, shift) for e in expr)
    renumber = {s: s - shift for s in LAYER_SYMBOLS}

    def inside(e):  # a layer inside a quantity: the printer adds the notation's offset itself
        return sp.sympify(e).xreplace(renumber)

    def plain(e):  # a layer written as is
        return sp.sympify(e).xreplace(renumber) + shift

    def walk(e):
        if isinstance(e, Quantity):
            if e.kind in _LAYERED:
                return Quantity(e.kind, inside(e.indices[0]), *e.indices[1:])
            return e
        if isinstance(e, LayerMatrix):
            return LayerMatrix(e.kind, inside(e.layer), walk(e.shape[0]), walk(e.shape[1]))
        if isinstance(e, Jacobian):
            return Jacobian(inside(e.layer), walk(e.shape[0]))
        if isinstance(e, sp.Tuple) and len(e) == 3 and e.args[0] in LAYER_SYMBOLS:
            return sp.Tuple(e.args[0], plain(e.args[1]), plain(e.args[2]))
        if isinstance(e, (sp.core.relational.Relational, sp.KroneckerDelta)) and e.free_symbols \
                and e.free_symbols <= set(LAYER_SYMBOLS):
            args = [plain(a) for a in e.args]
            return e.func(*args, evaluate=False) if isinstance(e, sp.core.relational.Relational) else e.func(*args)
        if not e.args:
            return e
        args = [walk(a) for a in e.args]
        if isinstance(e, sp.core.relational.Relational):
            return e.func(*args, evaluate=False)
        return e.func(*args)

    return walk(expr)


def _map_derivation(derivation: GeneralDerivation, f, notation) -> GeneralDerivation:
    def step(s):
        return GeneralStep(s.rule, f(s.before), f(s.after), f(s.reason))

    def equation(e):
        return replace(
            e, statement=f(e.statement), matrix=f(e.matrix),
            dimensions=tuple((f(m), f(s)) for m, s in e.dimensions), goal=f(e.goal),
            proof=tuple(step(s) for s in e.proof), matrix_proof=tuple(step(s) for s in e.matrix_proof),
            domain=f(e.domain), indices=f(e.indices), assumptions=f(e.assumptions))

    ind = derivation.induction
    induction = Induction(ind.variable, f(ind.claim), f(ind.base), ind.base_equation, f(ind.hypothesis),
                          f(ind.step), ind.step_equation, f(ind.step_domain), f(ind.conclusion), f(ind.domain))
    return replace(derivation, forward=f(derivation.forward),
                   equations=tuple(equation(e) for e in derivation.equations), induction=induction,
                   assumptions=f(derivation.assumptions), notation=notation)


# ---------------------------------------------------------------- verification


@dataclass
class _Context:
    model: _Model
    rule: object
    equation: GeneralEquation
    induction: Induction
    params: dict
    ranges: list  # canonical relationals: free index ranges and the layer range
    activation: str  # the activation's spec, for the proof of its rule


def _index_ranges(quantity):
    """j ≤ m_l (and k ≤ m_{l-1}) for the free neuron indices of a machine-form quantity."""
    if isinstance(quantity, Partial):
        quantity = quantity.wrt
    if not isinstance(quantity, Indexed):
        return []
    layer, *neurons = quantity.indices
    if quantity.base == W_:
        return [_relation(neurons[0] <= M_[layer]), _relation(neurons[1] <= M_[layer - 1])]
    return [_relation(neurons[0] <= M_[layer])]


def _layer_ranges(domain):
    var, low, high = domain
    out = []
    for rel in (low <= var, var <= high):
        if rel is not sp.true:
            out.append(_relation(rel))
    return out


def _problem(key: str, **data) -> dict:
    """A problem of the check, as data: its key (see :data:`PROBLEMS`) and what it concerns.

    Templates phrase it (``templates/*/general.names.j2``); ``data`` holds plain
    JSON values only: names (an equation, a cost, an activation), counts, flags.
    """
    if key not in PROBLEMS:
        raise ValueError(f"unknown problem {key!r}; expected one of: {', '.join(PROBLEMS)}")
    return {"key": key, **data}


def _verify_steps(start, end, steps, ctx: _Context) -> dict | None:
    """None when every step re-verifies and the steps rewrite ``start`` into ``end``; else the problem,
    with the ``step`` (its number) and ``rule`` where it occurs."""
    current = start
    for number, step in enumerate(steps, start=1):
        if not _contains(current, step.before):
            return _problem("not_in_previous", step=number, rule=step.rule)
        try:
            problem = _VERIFIERS[step.rule](step, current, ctx)
        except _Unprovable as error:
            problem = _problem(str(error))
        except (TypeError, ValueError, AttributeError, NotImplementedError, IndexError) as error:
            problem = _problem("sympy_error", error=type(error).__name__)
        if problem:
            return {**problem, "step": number, "rule": step.rule}
        current = current.xreplace({step.before: step.after})
    if current != end:
        return _problem("wrong_end")
    return None


def _verify_chain_rule(step, current, ctx):
    before, after = step.before, machine(step.after)
    if not isinstance(before, Partial) or before.of != COST:
        return _problem("chain_rule_not_cost")
    u = machine(before.wrt)
    through, direct = _consumers(ctx.model, u, ctx.params)
    if len(through) != 1:
        return _problem("chain_rule_layers", count=len(through))
    (kind, layer), = through
    sums = [t for t in sp.Add.make_args(after) if isinstance(t, sp.Sum)]
    if len(sums) != 1 or len(sums[0].limits) != 1:
        return _problem("chain_rule_not_one_sum")
    var = sums[0].limits[0][0]
    x = _BASES[kind][layer, var]
    expected = sp.Sum(Partial(COST, x) * Partial(x, u), (var, 1, M_[layer]))
    if direct:
        expected = expected + Partial(sp.Add(*direct), u)
    if _canon(expected) != _canon(after):
        return _problem("chain_rule_wrong_sum", direct=bool(direct))
    if step.reason is not None and machine(step.reason) != x:
        return _problem("chain_rule_wrong_intermediate")
    return None


def _verify_through_activation(step, current, ctx):
    before = step.before
    if not isinstance(before, Partial):
        return _problem("not_partial")
    of, wrt = machine(before.of), machine(before.wrt)
    if not isinstance(wrt, Indexed) or wrt.base != Z_:
        return _problem("not_wrt_weighted_input")
    layer, neuron = wrt.indices
    a = A_[layer, neuron]
    reason = machine(step.reason) if step.reason is not None else None
    if not isinstance(reason, sp.Eq) or reason.lhs != a or reason.rhs != SIGMA(wrt):
        return _problem("activation_not_given")
    if not any(_canon(reason.rhs) == _canon(d) for d in ctx.model.definitions(a, ctx.params)):
        return _problem("not_elementwise")
    if machine(step.after) != Partial(of, a) * Partial(a, wrt):
        return _problem("not_the_product")
    definitions = ctx.model.definitions(of, ctx.params)
    if not definitions:
        return _problem("no_definition")
    definition = definitions[0]
    if any(x.base == Z_ for x in definition.atoms(Indexed)):
        return _problem("definition_has_z")
    composed = definition.replace(lambda e: isinstance(e, Indexed) and e.base == A_ and e.indices[0] == layer,
                                  lambda e: SIGMA(Z_[e.indices]))
    product = (sp.diff(definition, a) * SIGMA_PRIME(wrt)).replace(
        lambda e: isinstance(e, Indexed) and e.base == A_ and e.indices[0] == layer, lambda e: SIGMA(Z_[e.indices]))
    if not _same(_drop_zero_sums(sp.diff(composed, wrt)), _drop_zero_sums(product)):
        return _problem("composed_differs")
    return None


def _verify_differentiate(step, current, ctx):
    before = step.before
    if not isinstance(before, Partial):
        return _problem("not_partial")
    of, wrt = machine(before.of), machine(before.wrt)
    if step.reason is not None:
        reason = machine(step.reason)
        if reason.lhs != of:
            return _problem("wrong_definition")
        if not any(_canon(reason.rhs) == _canon(d) for d in ctx.model.definitions(of, ctx.params)):
            return _problem("not_network_definition")
        of = reason.rhs
    elif of == COST or isinstance(of, Indexed):
        return _problem("no_definition_quoted")
    if not _same(sp.diff(of, wrt), machine(step.after)):
        return _problem("diff_differs")
    return None


def _verify_collapse(step, current, ctx):
    before = machine(step.before)
    if not isinstance(before, sp.Sum):
        return _problem("not_a_sum")
    allowed = list(ctx.ranges)
    for var, low, high in _enclosing_ranges(machine(current), before) or []:
        allowed += [_relation(low <= var), _relation(var <= high)]
    reason = machine(step.reason) if step.reason is not None else None
    for condition in _conjuncts(reason):
        if condition is not sp.true and condition not in allowed:
            return _problem("range_not_in_scope")
    after = machine(step.after)
    for value in _collapse_candidates(before):
        if reason is not None:
            value = sp.refine(value, reason)
        if _same(value, after):
            return None
    return _problem("sum_differs")


def _substitute_definitions(expr, ctx, layer):
    """Every a^layer_v of ``expr`` replaced by the model's definition."""
    output = _sign(layer - L, ctx.params, zero=True)
    return expr.replace(
        lambda e: isinstance(e, Indexed) and e.base == A_ and e.indices[0] == layer,
        lambda e: ctx.model.a_definition(layer, e.indices[1], output=bool(output)))


def _verify_definition(step, current, ctx):
    reason = machine(step.reason) if step.reason is not None else None
    if not isinstance(reason, sp.Eq) or not isinstance(reason.lhs, Indexed) or reason.lhs.base != A_:
        return _problem("no_activation_definition")
    if not any(_canon(reason.rhs) == _canon(d) for d in ctx.model.definitions(reason.lhs, ctx.params)):
        return _problem("not_network_definition")
    layer = reason.lhs.indices[0]
    before = _substitute_definitions(machine(step.before), ctx, layer)
    after = _substitute_definitions(machine(step.after), ctx, layer)
    return None if _same(before, after) else _problem("definition_differs")


def _verify_algebra(step, current, ctx):
    return None if _same(machine(step.before), machine(step.after)) else _problem("difference_nonzero")


def _verify_hypothesis(step, current, ctx):
    ind = ctx.induction
    if ctx.equation.name != ind.step_equation:
        return _problem("hypothesis_outside_step", equation=ind.step_equation)
    reason = machine(step.reason)
    if not isinstance(reason, sp.Eq) or not isinstance(reason.lhs, Indexed):
        return _problem("no_hypothesis_instance")
    hypothesis = machine(ind.hypothesis)
    if reason != hypothesis.xreplace({_neuron(hypothesis): reason.lhs.indices[-1]}):
        return _problem("not_hypothesis_instance")
    if machine(step.before) != reason.rhs or machine(step.after) != reason.lhs:
        return _problem("step_not_hypothesis")
    return None


def _verify_conclusion(step, current, ctx):
    ind = ctx.induction
    var, low, high = ctx.equation.domain
    c_var, c_low, c_high = ind.domain
    if var != c_var or _sign(low - c_low, ctx.params) is not True or _sign(c_high - high, ctx.params) is not True:
        return _problem("conclusion_layers")
    reason = machine(step.reason)
    if not isinstance(reason, sp.Eq) or not isinstance(reason.lhs, Indexed):
        return _problem("no_conclusion_instance")
    if reason != machine(ind.conclusion).xreplace({j: reason.lhs.indices[-1]}):
        return _problem("not_conclusion_instance")
    if machine(step.before) != reason.rhs or machine(step.after) != reason.lhs:
        return _problem("step_not_conclusion")
    return None


def _verify_targets(step, current, ctx):
    if not ctx.model.cost.targets_sum_to_one:
        return _problem("targets_not_assumed", cost=ctx.model.cost.name)
    reason = machine(step.reason) if step.reason is not None else None
    expected = sp.Sum(Y_[i], (i, 1, M_[L]))
    if not isinstance(reason, sp.Eq) or _canon(reason.lhs) != _canon(expected) or reason.rhs != 1:
        return _problem("targets_wrong_assumption")
    if _canon(machine(step.before)) != _canon(expected) or step.after != 1:
        return _problem("step_not_assumption")
    return None


def _rule_proof(spec):
    return prove_rule(lookup_activation(spec))  # proven once per process by prove_rule itself


def _verify_activation(step, current, ctx):
    rule = ctx.rule
    before = step.before
    if rule.name == "generic" or not (isinstance(before, sp.Function) and before.func == SIGMA_PRIME):
        return _problem("not_concrete_prime")
    z = before.args[0]
    if not isinstance(z, Quantity) or z.kind != "z":
        return _problem("prime_not_at_z")
    a = Quantity("a", *z.indices)
    reason = step.reason
    if not isinstance(reason, sp.Eq) or reason.lhs != SIGMA(z) or reason.rhs != rule.apply(z):
        return _problem("activation_not", activation=rule.label)
    if step.rule == "activation_identity":
        if rule.identity is None:
            return _problem("no_identity", activation=rule.label)
        expected = rule.prime_named(z, a)
    else:
        expected = rule.prime(z)
    proof = _rule_proof(ctx.activation)
    if not proof.ok:
        return _problem("activation_rule_fails", activation=rule.label)
    return None if step.after == expected else _problem("prime_differs", activation=rule.label)


def _shapes_ok(expr):
    """Every product, sum and Hadamard product of ``expr`` joins matching (structurally equal) shapes."""
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.MatMul):
            mats = [a for a in node.args if isinstance(a, sp.MatrixExpr)]
            if any(x.shape[1] != y.shape[0] for x, y in zip(mats, mats[1:])):
                return False
        elif isinstance(node, (sp.MatAdd, sp.HadamardProduct)):
            mats = [a for a in node.args if isinstance(a, sp.MatrixExpr)]
            if any(x.shape != mats[0].shape for x in mats):
                return False
        elif isinstance(node, LayerMatrix) and node.shape != _true_shape(node):
            return False
        elif isinstance(node, Jacobian) and node.shape[0] != Quantity("m", node.layer):
            return False
    return True


def _true_shape(matrix: LayerMatrix):
    """The shape a layer's matrix has by definition: W^p is m_p × m_{p-1}, a vector of layer p is m_p × 1."""
    layer = matrix.layer
    if matrix.kind == "W":
        return (Quantity("m", layer), Quantity("m", layer - 1))
    if matrix.kind in ("x",):
        return (Quantity("m", 0), sp.S.One)
    if matrix.kind == "y":
        return (Quantity("m", L), sp.S.One)
    return (Quantity("m", layer), sp.S.One)


def _verify_entry(step, current, ctx):
    before = step.before
    if not isinstance(before, Entry):
        return _problem("not_an_entry")
    if not _shapes_ok(before.matrix):
        return _problem("shapes_differ")
    value = _entry_value(before.matrix, before.indices)
    return None if _same(value, machine(step.after)) else _problem("entry_differs")


_VERIFIERS = {
    "chain_rule": _verify_chain_rule,
    "through_activation": _verify_through_activation,
    "differentiate": _verify_differentiate,
    "collapse": _verify_collapse,
    "definition": _verify_definition,
    "rearrange": _verify_algebra,
    "simplify": _verify_algebra,
    "induction_hypothesis": _verify_hypothesis,
    "induction_conclusion": _verify_conclusion,
    "targets_sum_to_one": _verify_targets,
    "activation_derivative": _verify_activation,
    "activation_identity": _verify_activation,
    "matrix_entry": _verify_entry,
}


def _verify_equation(equation: GeneralEquation, ctx: _Context) -> dict | None:
    statement, goal = equation.statement, equation.goal
    if goal.rhs != statement.rhs:
        return _problem("goal_not_statement")
    if equation.name in ("BP3", "BP4") and goal.lhs != statement.lhs:
        return _problem("goal_not_statement")
    problem = _verify_steps(goal.lhs, goal.rhs, equation.proof, ctx)
    if problem:
        return {**problem, "form": "index"}
    matrix = equation.matrix
    if matrix.lhs.shape != matrix.rhs.shape or not _shapes_ok(matrix):
        return _problem("shapes_differ", form="matrix")
    free = tuple(x[0] for x in equation.indices)
    lhs = machine(statement.lhs)
    lhs = lhs.wrt if isinstance(lhs, Partial) else lhs
    if not isinstance(lhs, Indexed) or tuple(lhs.indices[1:]) != free:
        return _problem("free_indices")
    start = sp.Tuple(Entry(matrix.lhs, *free), Entry(matrix.rhs, *free))
    problem = _verify_steps(start, sp.Tuple(statement.lhs, statement.rhs), equation.matrix_proof, ctx)
    if problem:
        return {**problem, "form": "matrix"}
    return None


def _verify_induction(derivation, results) -> dict | None:
    ind = derivation.induction
    var = ind.variable
    expected = _claim(var)
    if ind.claim != expected:
        return _problem("claim_wrong")
    claim = machine(ind.claim)
    proven = {}
    for name in (ind.base_equation, ind.step_equation):
        try:
            proven[name] = _proven(derivation.equation(name))
        except KeyError:
            return _problem("no_equation", equation=name)
    # the base case: the recursion's δ^L_j, BP1's right side, equals ∂C/∂z^L_j (not δ^L_j = ∂C/∂z^L_j,
    # which would hold by definition and need no proof)
    if ind.base != proven[ind.base_equation] or machine(ind.base.rhs) != claim.rhs.xreplace({var: L}):
        return _problem("base_wrong")
    # the claim at layer l + 1 for every neuron of that layer: its neuron index is a symbol, not a number
    hypothesis = machine(ind.hypothesis)
    neuron = _neuron(hypothesis)
    if not isinstance(neuron, sp.Symbol) or neuron in LAYER_SYMBOLS or \
            hypothesis != claim.xreplace({var: var + 1, j: neuron}):
        return _problem("hypothesis_wrong")
    # the step: from the hypothesis, BP2's right side (computed from the δ^{l+1}_k) equals ∂C/∂z^l_j
    goal = proven[ind.step_equation]
    if ind.step != sp.Implies(ind.hypothesis, goal) or machine(goal.rhs) != claim.rhs \
            or ind.conclusion != ind.claim:
        return _problem("step_wrong")
    # downward induction: the base covers l = L, the step l = 1..L−1, so the claim holds for l = 1..L
    _, s_low, s_high = ind.step_domain
    _, c_low, c_high = ind.domain
    if not (ind.step_domain[0] == var == ind.domain[0] and sp.simplify(s_low - c_low) == 0
            and sp.simplify(s_high + 1 - c_high) == 0 and sp.simplify(c_high - L) == 0 and c_low == 1):
        return _problem("coverage")
    for name, layer, domain in ((ind.base_equation, L, None), (ind.step_equation, var, ind.step_domain)):
        try:
            equation = derivation.equation(name)
        except KeyError:
            return _problem("no_equation", equation=name)
        instance = _eq(equation.statement.lhs, equation.goal.lhs)
        if machine(instance) != claim.xreplace({var: layer}):
            return _problem("equation_goal", equation=name)
        if domain is not None and tuple(equation.domain) != tuple(domain):
            return _problem("equation_layers", equation=name)
        if results.get(name):
            return _problem("equation_fails", equation=name, part="base" if domain is None else "step")
    return None


def _summary(problem: dict) -> str:
    """A problem in one line for ``Fact.detail``: its key and where it is (documents phrase it in templates)."""
    where = [f"{problem['form']} form"] if "form" in problem else []
    if "step" in problem:
        where.append(f"step {problem['step']} ({problem['rule']})")
    data = [f"{k}={v}" for k, v in problem.items() if k not in ("key", "form", "step", "rule")]
    return ", ".join([*where, problem["key"], *data])


# A check reads only the derivation, which is immutable: the same derivation is checked once per process
# (a derivation that differs anywhere, a planted mistake say, is a different key and checked anew).
@functools.lru_cache(maxsize=64)
def _check(derivation: GeneralDerivation) -> Report:
    cost = lookup_cost(derivation.cost)
    rule = lookup_activation(derivation.activation)
    model = _Model(cost, derivation.softmax, derivation.l2)
    results, facts = {}, []
    for name in EQUATION_NAMES:
        try:
            equation = derivation.equation(name)
        except KeyError:
            results[name] = _problem("no_proof")
            facts.append(Fact(name, 0, "general", False, f"{name}: no proof", {"problem": results[name]}))
            continue
        ctx = _Context(model, rule, equation, derivation.induction, _parameters(equation.domain),
                       _index_ranges(machine(equation.goal.lhs)) + _index_ranges(machine(equation.statement.lhs))
                       + _layer_ranges(equation.domain), derivation.activation)
        problem = _verify_equation(equation, ctx)
        results[name] = problem
        rules = sorted({s.rule for s in equation.proof + equation.matrix_proof})
        evidence = {"steps": len(equation.proof), "matrix_steps": len(equation.matrix_proof), "rules": rules}
        if problem:
            evidence["problem"] = problem
            detail = f"{name} for every network: does not re-verify ({_summary(problem)})"
        else:
            detail = (f"{name} for every network: {len(equation.proof)} steps of the index form and "
                      f"{len(equation.matrix_proof)} of the matrix form re-verified by SymPy "
                      f"({', '.join(rules)}), symbolic sizes and indices")
        facts.append(Fact(name, 0, "general", problem is None, detail, evidence))
    problem = _verify_induction(derivation, results)
    detail = ("the δ^l of the backward recursion equals ∂C/∂z^l for 1 ≤ l ≤ L and any L: base case "
              "BP1's right side = ∂C/∂z^L, step BP2's right side = ∂C/∂z^l from δ^{l+1} = ∂C/∂z^{l+1}"
              if problem is None else f"induction: does not hold ({_summary(problem)})")
    facts.append(Fact("induction", 0, "general", problem is None, detail, {"problem": problem} if problem else {}))
    return Report(tuple(facts), "general")


# ---------------------------------------------------------------- instantiation


def _instantiate(derivation: GeneralDerivation, network) -> dict:
    problems = []
    if network.cost.name != derivation.cost:
        problems.append(f"cost {network.cost.name} is not {derivation.cost}")
    rule = lookup_activation(derivation.activation)
    if network.l2 is not None and not derivation.l2 or network.l2 is None and derivation.l2:
        problems.append("the L2 regularisation differs")
    for layer in network.layers:
        output = layer.index == network.depth
        if output and derivation.softmax:
            if not isinstance(layer.activation, VectorActivation):
                problems.append("the output is not softmax")
        elif layer.activation.label != rule.label:
            problems.append(f"layer {layer.index} has {layer.activation.label}, not {rule.label}")
    if problems:
        raise ValueError("the network does not match the general derivation: " + "; ".join(problems))
    sizes = network.sizes
    depth = network.depth
    strength = {} if network.l2 is None or network.l2 == LAMBDA else {LAMBDA: network.l2}

    def at(expr, values):
        value = machine(expr).xreplace({L: depth, **values})
        value = value.replace(lambda e: isinstance(e, Indexed) and e.base == M_ and e.indices[0].is_Integer,
                              lambda e: sp.Integer(sizes[int(e.indices[0])]))
        value = value.doit()
        value = value.replace(lambda e: isinstance(e, Indexed) and e.base == A_ and e.indices[0] == 0,
                              lambda e: _BASES["x"][e.indices[1]])
        return display(value).xreplace(strength)

    bp1, bp2, bp3, bp4 = (derivation.equation(n).statement.rhs for n in EQUATION_NAMES)
    out = {}
    for layer in network.layers:
        n = layer.index
        for jj in range(1, layer.size + 1):
            delta = at(bp1 if n == depth else bp2, {l: n, j: jj})
            out[("delta", n, jj)] = delta
            # the engine's compact gradient writes this neuron's δ out (δ of the next layer stays named)
            own = {Quantity("delta", n, jj): delta}
            if layer.bias:
                out[("b", n, jj)] = at(bp3, {l: n, j: jj}).xreplace(own)
            for kk in range(1, sizes[n - 1] + 1):
                out[("w", n, jj, kk)] = at(bp4, {l: n, j: jj, k: kk}).xreplace(own)
    return out
