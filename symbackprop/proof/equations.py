"""BP1–BP4, and the proof that a derivation satisfies them.

    BP1  δ^L = ∇_a C ⊙ σ'(z^L)                 (softmax: δ^L = J^T ∇_a C)
    BP2  δ^l = ((W^{l+1})^T δ^{l+1}) ⊙ σ'(z^l)
    BP3  ∂C/∂b^l_j = δ^l_j
    BP4  ∂C/∂w^l_{jk} = a^{l-1}_k δ^l_j        (∂C/∂W^l = δ^l (a^{l-1})^T)

Each fact of a :class:`Report` names the method that established it:

``exact``
    Every gradient, composed down to x, y, w, b with each activation kept as an
    opaque function σ_l (so the identity holds for *every* differentiable
    activation), equals the derivative of the composed cost. That derivative is
    taken by SymPy's ``diff`` over the cost's own expression graph, found by
    cutting the composed cost at its function applications: it never sees the
    layers, δ or the chain module. The difference expands to 0. The concrete
    activations then enter by substitution, valid because each rule's σ' is
    proven equal to ``sympy.diff`` of its σ, and the output simplifications are
    proven on their own.
``inductive``
    Layer-local exact proofs: BP1 at the output against ``sympy.diff`` of the
    cost (one neuron proven, the rest shown to be renamings of it), BP2 as the
    step from layer l+1 to l (∂z^{l+1}_k/∂a^l_j by ``sympy.diff`` of each term,
    after checking that a^l_j appears nowhere else), BP3 and BP4 from the
    affine z (each parameter found in exactly one weighted input). Linear cost.
``numeric``
    Agreement with :class:`~symbackprop.oracle.CostOracle` (central differences
    in mpmath at 40 digits) at random points: every δ against the cost's
    derivative along its weighted input, and every gradient through directional
    derivatives along random directions (all parameters at once, each layer,
    each neuron), which locate a wrong entry. Evidence, never a proof.
"""

from __future__ import annotations

import functools
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import mpmath
import sympy as sp
from sympy.core.cache import clear_cache

from ..choices import METHODS
from ..collector import without_cycle_collection
from ..model.activations import A, Z, VectorActivation
from ..model.costs import Y
from ..documents import printing
from . import budget
from .oracle import (DIGITS, CostOracle, Direction, Evaluator, _mpf, is_generic, key_list, key_name,
                     random_components, random_point, realise, stand_in_for)
from ..model.symbols import N_EXAMPLES, Quantity, product

EQUATIONS = ("BP1", "BP2", "BP3", "BP4")

#: ``auto`` proves networks up to this many parameters by the exact method
EXACT_LIMIT = 250
#: the exact method also assembles the matrix form and compares it up to this many parameters
MATRIX_LIMIT = 2000
#: random directions through every parameter at each point of the numeric check
DIRECTIONS = 2
#: neurons per layer whose weights the numeric check tries one by one when the neuron's direction fails
LOCATE = 3
#: relative tolerance of the numeric agreement
TOLERANCE = sp.Float("1e-20")


@dataclass(frozen=True)
class Fact:
    """One checked fact: ``equation`` at ``layer``, established (or refuted) by ``method``."""

    equation: str
    layer: int
    method: str
    ok: bool
    detail: str
    #: figures behind a numeric fact (sampled, total, points, worst), for documents to phrase
    evidence: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "ok", bool(self.ok))


@dataclass(frozen=True)
class Report:
    """The result of :func:`check`: one :class:`Fact` per equation, layer and method."""

    facts: tuple[Fact, ...]
    method: str

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.facts)

    @property
    def failures(self) -> tuple[Fact, ...]:
        return tuple(f for f in self.facts if not f.ok)

    def __iter__(self):
        return iter(self.facts)

    def __len__(self):
        return len(self.facts)


# -------------------------------------------------------------------- zero tests


def is_zero(expr: sp.Expr) -> bool:
    """True when SymPy proves ``expr`` identically 0 (cheapest test first)."""
    if expr == 0:
        return True
    for transform in (sp.expand, sp.cancel, lambda e: sp.cancel(sp.expand(e.rewrite(sp.exp))), sp.simplify):
        try:
            if transform(expr) == 0:
                return True
        except (TypeError, ValueError, NotImplementedError, sp.PolynomialError):
            continue
    if expr.has(sp.Piecewise):
        folded = sp.piecewise_fold(expr)
        if isinstance(folded, sp.Piecewise):
            return all(is_zero(branch) for branch, _ in folded.args)
    return False


def _identical(left: sp.Expr, right: sp.Expr) -> bool:
    """Exact identity of two expressions in independent symbols.

    Both are brought to the canonical form of SymPy's sparse polynomials over QQ
    (Laurent polynomials, see :class:`_Laurent`, or else rational functions) in
    their symbols; that is much faster than ``expand`` on the sums of products a
    gradient is made of.
    """
    symbols = sorted(left.free_symbols | right.free_symbols, key=sp.default_sort_key)
    if not symbols:
        return is_zero(left - right)
    for atoms in (True, False):
        try:
            laurent = _Laurent((left, right), atoms)
            if laurent.terms(left) == laurent.terms(right):
                return True
        except (_NotLaurent, sp.CoercionFailed):
            break
    try:
        algebra = sp.polys.fields.field(symbols, sp.QQ)[0]
        if algebra.from_expr(left) == algebra.from_expr(right):
            return True
    except (ValueError, TypeError, sp.PolynomialError, sp.CoercionFailed):
        pass
    return is_zero(left - right)


class _NotLaurent(Exception):
    """An expression with a part that is not a power, product or sum of symbols and rationals."""


class _Laurent:
    """Expressions as Laurent polynomials over QQ, in which each divisor is a variable of its own.

    Symbols and function applications are the variables. Every u that appears as 1/u^k gets a
    variable ū standing for 1/u. For a variable u, ū pairs
    with u: u^k ū^m counts as u^(k−m). With ``atoms``, a sum u that appears as 1/u^k (the
    softmax denominator Σ_i e^{z_i}, say) also becomes a variable U wherever it appears whole,
    paired with its ū in the same way, so that U·U^{-2} = U^{-1} without expanding U; without
    ``atoms`` the sum is expanded where it appears whole and ū stays unpaired. Two expressions
    with the same terms are equal, since they stay equal when every variable is put back as
    what it stands for; different terms prove nothing.

    A composed gradient shares its subexpressions, so each is converted once.

    With ``roots``, a base u raised to a fraction (the √(σ² + ε) of batch normalisation) is not
    looked into: it gets a variable r standing for u^(1/q), q the least common denominator of
    its exponents, paired with its r̄ = 1/r, so that u^(p/q′) is r^(p·q/q′) and u^(−1/2)·u^(−1)
    meets u^(−3/2) as r̄³ (for every u ≠ 0, with the principal root). Without ``roots`` such a
    power is no Laurent polynomial.
    """

    def __init__(self, exprs, atoms: bool, roots: bool = False):
        symbols, bases, seen, radicals = set(), set(), set(), {}
        stack = list(exprs)
        while stack:
            expr = stack.pop()
            if expr in seen:
                continue
            seen.add(expr)
            if expr.is_Symbol or expr.is_Function:
                # a function application is a variable of its own: identities such as
                # exp(u)·exp(−u) = 1 are not used, which keeps "same terms" sound
                symbols.add(expr)
                continue
            if roots and expr.is_Pow and expr.exp.is_Rational and not expr.exp.is_Integer:
                radicals[expr.base] = sp.ilcm(radicals.get(expr.base, 1), expr.exp.q)
                continue
            if expr.is_Pow and expr.exp.is_Integer and expr.exp < 0:
                bases.add(expr.base)
            stack.extend(expr.args)
        order = sp.default_sort_key
        bases -= set(radicals)  # an integer power of a root's base is a power of the root
        wholes = sorted((b for b in bases if b not in symbols), key=order) if atoms else []
        rooted = sorted(radicals, key=order)
        names = (sorted(symbols, key=order) + [sp.Dummy(f"u{i}") for i in range(len(wholes))]
                 + [sp.Dummy(f"r{i}") for i in range(len(rooted))])
        inverted = sorted(bases, key=order)
        self.ring = sp.polys.rings.ring(names + [sp.Dummy(f"inv{i}") for i in range(len(inverted))]
                                        + [sp.Dummy(f"rinv{i}") for i in range(len(rooted))], sp.QQ)[0]
        gens = self.ring.gens
        self.symbols = dict(zip(names, gens))
        self.wholes = {b: gens[len(symbols) + i] for i, b in enumerate(wholes)}
        self.inverses = {b: gens[len(names) + i] for i, b in enumerate(inverted)}
        first = len(symbols) + len(wholes)
        self.roots = {b: (radicals[b], gens[first + i], gens[len(names) + len(inverted) + i])
                      for i, b in enumerate(rooted)}
        index = {g: i for i, g in enumerate(gens)}
        self.pairs = [(index[self.symbols[b] if b in self.symbols else self.wholes[b]], index[inverse])
                      for b, inverse in self.inverses.items() if b in self.symbols or b in self.wholes]
        self.pairs += [(index[root], index[inverse]) for _, root, inverse in self.roots.values()]
        self.memo: dict = {}

    def _convert(self, expr):
        if expr in self.memo:
            return self.memo[expr]
        if expr in self.wholes:
            result = self.wholes[expr]
        elif expr.is_Symbol or expr.is_Function:
            result = self.symbols[expr]
        elif expr.is_Rational:
            result = self.ring.ground_new(sp.QQ.from_sympy(expr))
        elif expr.is_Add:
            result = self.ring.zero
            for term in expr.args:
                result += self._convert(term)
        elif expr.is_Mul:
            result = self.ring.one
            for factor in expr.args:
                result *= self._convert(factor)
        elif expr.is_Pow and expr.base in self.roots and expr.exp.is_Rational:
            q, root, inverse = self.roots[expr.base]
            k = expr.exp * q  # an integer: q is a multiple of every denominator of the base's exponents
            result = root ** int(k) if k >= 0 else inverse ** int(-k)
        elif expr.is_Pow and expr.exp.is_Integer:
            k = int(expr.exp)
            result = self._convert(expr.base) ** k if k >= 0 else self.inverses[expr.base] ** (-k)
        else:
            raise _NotLaurent(expr)
        self.memo[expr] = result
        return result

    def terms(self, expr) -> dict:
        """The Laurent polynomial of ``expr``: exponents (paired variables combined) → coefficient."""
        found: dict = defaultdict(lambda: sp.QQ.zero)
        for monomial, coefficient in self._convert(expr).terms():
            exponents = list(monomial)
            for variable, inverse in self.pairs:
                exponents[variable] -= exponents[inverse]
                exponents[inverse] = 0
            found[tuple(exponents)] += coefficient
        return {m: c for m, c in found.items() if c}


def laurent_zero(expr: sp.Expr) -> bool:
    """True when ``expr`` is 0 as a Laurent polynomial in its symbols, function applications and the roots
    of its bases (see :class:`_Laurent`): a proof that it is identically 0, much faster than ``expand`` on
    the products of sums that batch normalisation composes. False proves nothing."""
    try:
        return not _Laurent((expr,), atoms=False, roots=True).terms(expr)
    except (_NotLaurent, sp.CoercionFailed, KeyError):
        return False


# -------------------------------------------------------------- activation rules


@dataclass(frozen=True)
class RuleProof:
    """Whether an activation rule's σ' (and identity) equal ``sympy.diff`` of its σ."""

    ok: bool
    detail: str
    #: what was proven, for templates to phrase: the rule's label, ``jacobian`` (softmax) or
    #: ``derivative``, and whether an identity (such as σ' = a(1 − a)) was proven too
    evidence: dict = field(default_factory=dict, compare=False)


def prove_rule(rule, size: int = 2) -> RuleProof:
    """Prove an activation rule exactly against ``sympy.diff`` of its definition.

    The proof depends on the rule alone (and, for a rule that mixes the neurons, the layer's size), so it is
    made once per process for each: the rules compare by every field, so a rule that differs in anything,
    such as a planted wrong derivative, gets a proof of its own."""
    if not isinstance(rule, VectorActivation):
        size = 2  # an element-wise rule's proof does not look at the layer
    try:
        hash(rule)
    except TypeError:  # a rule that cannot be a key (unhashable parts) is proven every time
        return _prove_rule(rule, size)
    return _proven_rule(rule, size)


@functools.lru_cache(maxsize=128)
def _proven_rule(rule, size: int) -> RuleProof:
    return _prove_rule(rule, size)


def _prove_rule(rule, size: int) -> RuleProof:
    if isinstance(rule, VectorActivation):
        zs = [sp.Symbol(f"z{i}", real=True) for i in range(1, max(size, 2) + 1)]
        outputs = rule.apply_vector(zs)
        # by symmetry under permuting the neurons, one diagonal and one off-diagonal entry suffice
        pairs = [(0, 0), (1, 0)]
        ok = all(is_zero(sp.diff(outputs[i], zs[j]) - rule.jacobian_named(i, j, outputs)) for i, j in pairs)
        return RuleProof(ok, f"{rule.label}: Jacobian ∂a_i/∂z_j against sympy.diff, m={len(zs)}",
                         {"rule": rule.label, "proof": "jacobian", "size": len(zs)})
    derivative = sp.diff(rule.forward, Z)
    ok = is_zero(derivative - rule.derivative)
    detail = f"{rule.label}: σ' against sympy.diff of σ {'holds' if ok else 'FAILS'}"
    evidence = {"rule": rule.label, "proof": "derivative", "derivative_ok": ok}
    if rule.identity is not None:
        holds = is_zero(rule.identity.xreplace({A: rule.forward}) - derivative)
        detail += f"; identity σ' = {rule.identity} {'holds' if holds else 'FAILS'}"
        evidence.update(identity=rule.identity, identity_ok=holds)
        ok = ok and holds
    if rule.exponential is not None:
        multiple, value = rule.exponential
        holds = is_zero(value.xreplace({A: rule.forward}) - sp.exp(multiple * Z))
        if not holds:
            detail += f"; exp({multiple}z) = {value} FAILS"
        ok = ok and holds
    return RuleProof(ok, detail, evidence)


# ------------------------------------------------------------------ the checks


def plan(network, method: str = "auto", points: int = 3, directions: int = DIRECTIONS) -> tuple[str, bool]:
    """The symbolic method ``check`` runs (``auto`` resolved: exact for a small network, else
    inductive) and whether the numeric cross-check follows; a check whose counted work exceeds
    its limit (see :mod:`symbackprop.proof.budget`) is refused here, before any work."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of: {', '.join(METHODS)}")
    chosen = method
    if method == "auto":
        small = network.parameter_count <= EXACT_LIMIT and budget.exact_work(network) <= budget.EXACT_WORK
        chosen = "exact" if small else "inductive"
    numeric = method in ("auto", "numeric")
    budget.require_checkable(network, chosen + ("+numeric" if numeric else ""), points, directions)
    return chosen, numeric


@without_cycle_collection
def check(derivation, method: str = "auto", points: int = 3, seed: int = 0, directions: int = DIRECTIONS) -> Report:
    """Prove BP1–BP4 for ``derivation`` by ``method``; ``auto`` adds the numeric cross-check.

    The numeric check compares at ``points`` random points, along ``directions``
    random directions per point (see :func:`numeric_facts`).
    """
    facts: list[Fact] = []
    chosen, numeric = plan(derivation.network, method, points, directions)
    if chosen == "exact":
        facts += exact_facts(derivation)
    elif chosen == "inductive":
        facts += inductive_facts(derivation)
    if numeric:
        facts += numeric_facts(derivation, points=points, seed=seed, directions=directions)
    return Report(tuple(facts), method)


def _rule_proofs(network) -> dict:
    proofs = {}
    for layer in network.layers:
        rule = layer.activation
        if rule.label not in proofs:
            proofs[rule.label] = prove_rule(rule, layer.size)
    return proofs


def _delta_equation(network, l: int) -> str:
    return "BP1" if l == network.depth else "BP2"


# ------------------------------------------------------------------ exact


class _Graph:
    """The composed cost cut at its function applications: an expression graph.

    Every application f(u) (an opaque activation, exp, log) becomes a node symbol;
    equal applications become the same node. Derivatives are taken over this
    graph with ``sympy.diff`` for every local partial (forward mode), which is
    the derivative of the composed expression without its exponential swell.
    """

    def __init__(self, parameters):
        self.parameters = set(parameters)
        self.memo: dict = {}
        self.nodes: dict = {}       # (func, args) -> node symbol
        self.definition: dict = {}  # node symbol -> f(u) with u cut
        self.local: dict = {}       # (expr, node) -> ∂expr/∂node
        self._outer_partials: dict = {}  # node -> [(∂f/∂u_i, u_i)]
        self._symbols: dict = {}    # expr -> its free symbols
        self._deps: dict = {}

    def cut(self, expr: sp.Expr) -> sp.Expr:
        if expr in self.memo:
            return self.memo[expr]
        if expr.is_Atom:
            result = expr
        elif expr.func is sp.exp and self._exp_power(expr.args[0]) is not None:
            # exp(-u), exp(2u) and exp(u) are not independent: keep one node, exp(c·u) = exp(u)^c
            power, base = self._exp_power(expr.args[0])
            result = self.cut(sp.exp(base)) ** power
        elif isinstance(expr, sp.Function):
            args = tuple(self.cut(a) for a in expr.args)
            key = (expr.func, args)
            if key not in self.nodes:
                node = sp.Dummy(f"n{len(self.nodes)}", real=True)
                self.nodes[key] = node
                self.definition[node] = expr.func(*args)
            result = self.nodes[key]
        else:
            result = expr.func(*[self.cut(a) for a in expr.args])
        self.memo[expr] = result
        return result

    @staticmethod
    def _exp_power(argument: sp.Expr):
        """(c, u) with argument = c·u for an integer c ≠ 1 and u free of a sign; None otherwise."""
        content, primitive = argument.as_content_primitive()
        if primitive.could_extract_minus_sign():
            content, primitive = -content, -primitive
        if content == 1 or not content.is_Integer:
            return None
        return content, primitive

    def symbols(self, expr: sp.Expr) -> set:
        """``expr.free_symbols``, found once per expression (SymPy walks the tree on every call)."""
        found = self._symbols.get(expr)
        if found is None:
            found = self._symbols[expr] = expr.free_symbols
        return found

    def depends(self, expr: sp.Expr) -> frozenset:
        """The parameters an (already cut) expression depends on, through its nodes."""
        if expr in self._deps:
            return self._deps[expr]
        found = set()
        for s in self.symbols(expr):
            if s in self.definition:
                for argument in self.definition[s].args:
                    found |= self.depends(argument)
            elif s in self.parameters:
                found.add(s)
        result = frozenset(found)
        self._deps[expr] = result
        return result

    def _partial(self, expr, node):
        key = (expr, node)
        if key not in self.local:
            self.local[key] = sp.diff(expr, node)
        return self.local[key]

    def derivative(self, expr: sp.Expr, theta: sp.Symbol, memo: dict) -> sp.Expr:
        """d expr / dθ for a cut expression, through every node it depends on."""
        if expr in memo:
            return memo[expr]
        if theta not in self.depends(expr):
            memo[expr] = sp.S.Zero
            return sp.S.Zero
        symbols = self.symbols(expr)
        total = sp.diff(expr, theta) if theta in symbols else sp.S.Zero
        for node in symbols:
            if node in self.definition and theta in self.depends(node):
                total += self._partial(expr, node) * self._node_derivative(node, theta, memo)
        memo[expr] = total
        return total

    def _outer(self, node) -> list:
        """(∂f/∂u_i at the node's arguments, cut; u_i) for each argument u_i of the application f(u).

        These do not depend on the parameter being differentiated, so each is taken once.
        """
        if node not in self._outer_partials:
            application = self.definition[node]
            u = sp.Dummy("u", real=True)
            partials = []
            for i, argument in enumerate(application.args):
                args = list(application.args)
                args[i] = u
                local = sp.diff(application.func(*args), u).xreplace({u: argument})
                partials.append((self.cut(local), argument))
            self._outer_partials[node] = partials
        return self._outer_partials[node]

    def _node_derivative(self, node, theta, memo):
        key = ("node", node)
        if key not in memo:
            total = sp.S.Zero
            for local, argument in self._outer(node):
                total += local * self.derivative(argument, theta, memo)
            memo[key] = total
        return memo[key]


def _raw_gradient(derivation, key) -> sp.Expr:
    """∂C/∂θ with σ' kept opaque: δ^l_j (raw) · ∂z^l_j/∂θ, plus the regulariser's term."""
    fw = derivation.forward
    raw = derivation.deltas[(key[1], key[2])].raw
    if key[0] == "b":
        return raw
    grad = product(raw, fw.activations(key[1] - 1)[key[3] - 1])
    if derivation.network.l2 is not None:
        grad += fw.regulariser_gradient(fw.q(*key))
    return grad


def _compact_gradient(derivation, key) -> sp.Expr:
    """δ^l_j (compact) · ∂z^l_j/∂θ, plus the regulariser's term: what the gradient must be."""
    fw = derivation.forward
    delta = derivation.delta(key[1], key[2])
    if key[0] == "b":
        return delta
    grad = product(delta, fw.activations(key[1] - 1)[key[3] - 1])
    if derivation.network.l2 is not None:
        grad += fw.regulariser_gradient(fw.q(*key))
    return grad


def _output_simplification_ok(derivation) -> tuple[bool, str, bool]:
    """The compact δ^L equals the raw δ^L with σ' written by its rule (exact)."""
    network, fw = derivation.network, derivation.forward
    L = network.depth
    rule = network.output.activation
    replacements = {}
    if not isinstance(rule, VectorActivation):
        for z, a in zip(fw.weighted_inputs(L), fw.activations(L)):
            replacements[rule.prime_function(z)] = rule.prime_named(z, a)
    constraint = {}
    if network.cost.targets_sum_to_one:
        *first, last = fw.targets
        constraint = {last: 1 - sp.Add(*first)}
    for j in range(1, network.sizes[L] + 1):
        delta = derivation.deltas[(L, j)]
        if not is_zero((delta.raw.xreplace(replacements) - delta.value).xreplace(constraint)):
            return False, f"the simplified δ of output {j} differs from the chain rule's product", bool(constraint)
    note = " (with Σ_j y_j = 1)" if constraint else ""
    return True, f"the simplified output δ equals the chain rule's product{note}", bool(constraint)


def exact_facts(derivation) -> list[Fact]:
    """BP1–BP4 for every parameter, exact on the composed cost (see the module docstring)."""
    network, fw = derivation.network, derivation.forward
    # Composed forms share their subexpressions, so comparing two of them is cheap while
    # they are the same objects. SymPy's global cache may still hold equal but distinct
    # trees from an earlier composition, and comparing those walks every path of the tree:
    # start from an empty cache so that the composition below shares only with itself.
    clear_cache()
    params = [fw.q(*key) for key in derivation.params]
    graph = _Graph(params)
    cost = graph.cut(fw.composed(fw.cost, opaque=True))
    proofs = _rule_proofs(network)
    output_ok, output_detail, output_constraint = _output_simplification_ok(derivation)
    by_layer: dict[int, dict[str, list]] = defaultdict(lambda: {"w": [], "b": []})
    for key, theta in zip(derivation.params, params):
        ours = graph.cut(derivation.composed(_raw_gradient(derivation, key), opaque=True))
        reference = graph.derivative(cost, theta, {})
        proven = _identical(ours, reference)
        # the compact gradient is the compact δ times the same ∂z/∂θ (plus the same L2 term)
        compact = derivation.gradient(key) == _compact_gradient(derivation, key)
        by_layer[key[1]][key[0]].append((proven, compact))
    hidden_ok = {}
    for l in range(1, network.depth):
        rule = network.layer(l).activation
        ok = True
        for j in range(1, network.sizes[l] + 1):
            z, a = fw.q("z", l, j), fw.q("a", l, j)
            delta = derivation.deltas[(l, j)]
            ok = ok and delta.raw.xreplace({rule.prime_function(z): rule.prime_named(z, a)}) == delta.value
        hidden_ok[l] = ok
    facts = []
    how = f"composed gradient = d(composed cost)/dθ, {len(graph.nodes)} function nodes, generic σ per layer"
    for layer in network.layers:
        l = layer.index
        results = by_layer[l]
        # δ^l is right when every parameter's chain-rule product matches the composed derivative
        raw_ok = all(proven for proven, _ in results["w"] + results["b"])
        rule = proofs[layer.activation.label]
        evidence = {"kind": "exact", "nodes": len(graph.nodes), "rule": rule.evidence}
        if l == network.depth:
            ok = raw_ok and rule.ok and output_ok
            detail = f"{how}; {rule.detail}; {output_detail}"
            evidence.update(output=output_ok, constraint=output_constraint)
        else:
            ok = raw_ok and rule.ok and hidden_ok[l]
            detail = f"{how}; {rule.detail}"
        facts.append(Fact(_delta_equation(network, l), l, "exact", ok, detail, evidence))
        if layer.bias:
            biases_ok = all(compact for _, compact in results["b"])
            facts.append(Fact("BP3", l, "exact", biases_ok and ok, f"{len(results['b'])} biases: {how}",
                              {"kind": "exact", "nodes": len(graph.nodes), "count": len(results["b"])}))
        weights_ok = all(compact for _, compact in results["w"])
        facts.append(Fact("BP4", l, "exact", weights_ok and ok, f"{len(results['w'])} weights: {how}",
                          {"kind": "exact", "nodes": len(graph.nodes), "count": len(results["w"])}))
    facts += matrix_facts(derivation, "exact")
    return facts


# ------------------------------------------------------------------ inductive


def _occurrences(fw):
    """Where each symbol appears among the weighted inputs' terms: symbol -> [(l, j, term)]."""
    found = defaultdict(list)
    for layer in fw.network.layers:
        l = layer.index
        for j in range(1, layer.size + 1):
            for term in fw.z_terms(l, j):
                for s in term.free_symbols:
                    found[s].append((l, j, term))
    return found


def _bp1_inductive(derivation, proofs) -> Fact:
    network, fw = derivation.network, derivation.forward
    L = network.depth
    rule = network.output.activation
    cost = network.cost
    if isinstance(rule, VectorActivation):
        zs = fw.weighted_inputs(L)
        outputs = [fw.a_definition(L, j) for j in range(1, len(zs) + 1)]
        total = cost.total(outputs, fw.targets)
        *first, last = fw.targets
        constraint = {last: 1 - sp.Add(*first)} if cost.targets_sum_to_one else {}
        to_z = dict(zip(fw.activations(L), outputs))
        ok = all(
            is_zero((derivation.delta(L, j).xreplace(to_z) - sp.diff(total, z)).xreplace(constraint))
            for j, z in enumerate(zs, start=1)
        )
        detail = f"δ_j = ∂C/∂z_j for all {len(zs)} outputs against sympy.diff of C(softmax(z))"
        if constraint:
            detail += " with Σ_j y_j = 1"
        evidence = {"kind": "inductive_softmax", "outputs": len(zs), "constraint": bool(constraint),
                    "rule": proofs[rule.label].evidence}
        return Fact("BP1", L, "inductive", ok and proofs[rule.label].ok, detail + "; " + proofs[rule.label].detail,
                    evidence)
    # element-wise: prove neuron 1 against sympy.diff, show every other neuron is a renaming of it
    template = None
    symmetric = True
    for j in range(1, network.sizes[L] + 1):
        z, a, y = fw.q("z", L, j), fw.q("a", L, j), fw.q("y", j)
        renamed = derivation.delta(L, j).xreplace({z: Z, a: A, y: Y})
        if renamed.free_symbols - {Z, A, Y}:
            symmetric = False
        if template is None:
            template = renamed
        symmetric = symmetric and renamed == template
    reference = sp.diff(cost.term.xreplace({A: rule.forward}), Z)
    ok = symmetric and is_zero(realise(template.xreplace({A: rule.forward}) - reference))
    detail = (f"δ_j = ∂C/∂z_j against sympy.diff of c(σ(z), y), one neuron proven, "
              f"{network.sizes[L]} shown to be renamings; {proofs[rule.label].detail}")
    evidence = {"kind": "inductive_output", "outputs": network.sizes[L], "rule": proofs[rule.label].evidence}
    return Fact("BP1", L, "inductive", ok and proofs[rule.label].ok, detail, evidence)


def _coefficient(term: sp.Expr, theta: Quantity) -> sp.Expr | None:
    """d term/dθ for a term linear in θ (c·θ with c free of θ); None if it is not such a term."""
    factors = sp.Mul.make_args(term)
    rest = [f for f in factors if f is not theta and f != theta]
    # a symbol other than θ is free of θ; anything else is searched
    if len(rest) != len(factors) - 1 or any(not f.is_Symbol and f.has(theta) for f in rest):
        return None
    if len(rest) == 1:
        return rest[0]
    return product(*rest) if rest else sp.S.One


def _factors(*exprs: sp.Expr):
    """The multiset of factors of a product of ``exprs`` (each flattened, a factor 1 dropped):
    a frozenset when no factor repeats (the common case, and cheap), else a Counter's items."""
    found = [f for expr in exprs for f in sp.Mul.make_args(expr) if f is not sp.S.One]
    distinct = frozenset(found)
    return distinct if len(distinct) == len(found) else frozenset(Counter(found).items())


def _same_sum(value: sp.Expr, products: list) -> bool:
    """``value`` = Σ_i Π products[i], shown by pairing its terms one to one with the products by their
    multisets of factors (a product of commuting factors is fixed by them, whatever their order).

    ``False`` proves nothing: the same sum can be written otherwise (a number folded into a factor).
    """
    terms = sp.Add.make_args(value) if len(products) > 1 else (value,)
    if len(terms) != len(products):
        return False
    if len(products) == 1:
        return _factors(value) == _factors(*products[0])
    return Counter(_factors(term) for term in terms) == Counter(_factors(*factors) for factors in products)


def _same_scaled_sum(value: sp.Expr, scale: sp.Expr, products: list) -> bool:
    """``value`` = (Σ_i Π products[i]) · scale, shown factor by factor as in :func:`_same_sum`."""
    factors = Counter(f for f in sp.Mul.make_args(value) if f is not sp.S.One)
    factors.subtract(f for f in sp.Mul.make_args(scale) if f is not sp.S.One)
    if any(count < 0 for count in factors.values()):
        return False
    rest = list((+factors).elements())
    if len(products) == 1:
        return _factors(*rest) == _factors(*products[0])
    if len(rest) != 1:
        return False
    return rest[0].is_Add and _same_sum(rest[0], products)


def _equal(value: sp.Expr, expected: sp.Expr) -> bool:
    return value == expected or sp.expand(value - expected) == 0


def inductive_facts(derivation) -> list[Fact]:
    """BP1–BP4 by layer-local exact proofs (see the module docstring).

    Every derivative these proofs need is the coefficient of a symbol in an affine weighted
    input, read off its term: ∂z^{l+1}_k/∂a^l_j (BP2), ∂z^l_j/∂w^l_{jk} and ∂z^l_j/∂b^l_j (BP3,
    BP4). A result is compared with what the equation gives factor by factor, and through
    ``expand`` only when the factors differ.
    """
    network, fw = derivation.network, derivation.forward
    proofs = _rule_proofs(network)
    found = _occurrences(fw)
    facts = [_bp1_inductive(derivation, proofs)]
    # BP2: the step from layer l+1 to layer l
    for l in range(network.depth - 1, 0, -1):
        rule = network.layer(l).activation
        following = fw.deltas(l + 1)
        feeds = [(l + 1, k) for k in range(1, network.sizes[l + 1] + 1)]
        ok = True
        for j in range(1, network.sizes[l] + 1):
            a, z = fw.q("a", l, j), fw.q("z", l, j)
            places = found.get(a, [])
            # a^l_j must feed the weighted inputs of layer l+1 and nothing else
            if sorted((p[0], p[1]) for p in places) != feeds:
                ok = False
                break
            coefficients = [_coefficient(term, a) for (_, _, term) in places]
            if any(c is None for c in coefficients):
                ok = False
                break
            products = [[following[k - 1], c] for (_, k, _), c in zip(places, coefficients)]
            named = rule.prime_named(z, a)
            value = derivation.delta(l, j)
            if not _same_scaled_sum(value, named, products):
                expected = sp.Add(*[product(*factors) for factors in products]) * named
                if not _equal(value, expected):
                    ok = False
                    break
        detail = (f"δ_j = Σ_k δ'_k ∂z'_k/∂a_j σ'(z_j) over the next layer for all {network.sizes[l]} neurons, "
                  f"∂z'_k/∂a_j the coefficient of a_j in z'_k; {proofs[rule.label].detail}")
        evidence = {"kind": "inductive_step", "neurons": network.sizes[l], "rule": proofs[rule.label].evidence}
        facts.append(Fact("BP2", l, "inductive", ok and proofs[rule.label].ok, detail, evidence))
    # BP3 and BP4: each parameter appears in one weighted input, whose derivative is its coefficient
    stand_in = sp.Symbol("w", real=True)
    l2_rule = sp.diff(network.l2 / (2 * N_EXAMPLES) * stand_in**2, stand_in) if network.l2 is not None else None
    counts = {(layer.index, kind): 0 for layer in network.layers for kind in "wb"}
    good = {key: True for key in counts}
    for key in derivation.params:
        kind, l, j = key[0], key[1], key[2]
        counts[(l, kind)] += 1
        theta = fw.q(*key)
        places = found.get(theta, [])
        coefficient = _coefficient(places[0][2], theta) if len(places) == 1 and places[0][:2] == (l, j) else None
        if coefficient is None:
            good[(l, kind)] = False
            continue
        delta = derivation.delta(l, j)
        products = [[delta, coefficient]]
        if kind == "w" and l2_rule is not None:
            products.append([l2_rule.xreplace({stand_in: theta})])
        value = derivation.gradient(key)
        if not _same_sum(value, products) and not _equal(value, sp.Add(*[product(*p) for p in products])):
            good[(l, kind)] = False
    for layer in network.layers:
        l = layer.index
        if layer.bias:
            facts.append(Fact("BP3", l, "inductive", good[(l, "b")],
                              f"{counts[(l, 'b')]} biases: each in one weighted input, with coefficient 1",
                              {"kind": "inductive_parameter", "count": counts[(l, "b")]}))
        facts.append(Fact("BP4", l, "inductive", good[(l, "w")],
                          f"{counts[(l, 'w')]} weights: each in one weighted input, ∂z/∂w its coefficient"
                          + ("; plus (λ/n) w from sympy.diff of the regulariser" if l2_rule is not None else ""),
                          {"kind": "inductive_parameter", "count": counts[(l, "w")], "l2": l2_rule is not None}))
    facts.sort(key=lambda f: (f.layer, EQUATIONS.index(f.equation)))
    return facts


# ------------------------------------------------------------------ matrix form


@dataclass(frozen=True)
class MatrixForm:
    """BP1–BP4 as SymPy matrices for one network, in named intermediates.

    ``delta[l]`` is δ^l (m_l × 1); ``weights[l]`` is ∂C/∂W^l (m_l × m_{l-1});
    ``biases[l]`` is ∂C/∂b^l. ``jacobian`` is set when the output is softmax:
    then BP1 reads δ^L = J^T ∇_a C, not a Hadamard product.
    """

    delta: dict
    weights: dict
    biases: dict
    cost_gradient: sp.Matrix
    jacobian: sp.Matrix | None = None
    shapes: dict = field(default_factory=dict)


def matrix_form(derivation) -> MatrixForm:
    """Assemble BP1–BP4 with SymPy matrix operations (σ' kept opaque, as in the raw δ)."""
    network, fw = derivation.network, derivation.forward
    L = network.depth
    outputs = fw.activations(L)
    grad_a = sp.Matrix([network.cost.gradient(a, y) for a, y in zip(outputs, fw.targets)])
    rule = network.output.activation
    jacobian = None
    delta = {}
    if isinstance(rule, VectorActivation):
        m = len(outputs)
        jacobian = sp.Matrix(m, m, lambda i, j: rule.jacobian_named(i, j, list(outputs)))
        delta[L] = jacobian.T * grad_a
    else:
        prime = sp.Matrix([rule.prime_function(z) for z in fw.weighted_inputs(L)])
        delta[L] = grad_a.multiply_elementwise(prime)
    named = {L: sp.Matrix(fw.deltas(L))}
    for l in range(L - 1, 0, -1):
        W = sp.Matrix(network.sizes[l + 1], network.sizes[l], lambda j, k: fw.q("w", l + 1, j + 1, k + 1))
        rule = network.layer(l).activation
        prime = sp.Matrix([rule.prime_function(z) for z in fw.weighted_inputs(l)])
        delta[l] = (W.T * sp.Matrix(fw.deltas(l + 1))).multiply_elementwise(prime)
        named[l] = sp.Matrix(fw.deltas(l))
    weights, biases, shapes = {}, {}, {}
    for layer in network.layers:
        l = layer.index
        previous = sp.Matrix(fw.activations(l - 1))
        weights[l] = named[l] * previous.T
        biases[l] = named[l]
        shapes[l] = {"delta": delta[l].shape, "weights": weights[l].shape}
    return MatrixForm(delta, weights, biases, grad_a, jacobian, shapes)


def matrix_facts(derivation, method: str) -> list[Fact]:
    """The matrix form reproduces every element-wise result, with the expected shapes."""
    network = derivation.network
    if network.parameter_count > MATRIX_LIMIT:
        return []
    form = matrix_form(derivation)
    fw = derivation.forward
    facts = []
    for layer in network.layers:
        l = layer.index
        m, m_prev = network.sizes[l], network.sizes[l - 1]
        ok = form.delta[l].shape == (m, 1) and form.weights[l].shape == (m, m_prev)
        for j in range(1, m + 1):
            ok = ok and sp.expand(form.delta[l][j - 1] - derivation.deltas[(l, j)].raw) == 0
            for k in range(1, m_prev + 1):
                entry = form.weights[l][j - 1, k - 1].xreplace({fw.q("delta", l, j): derivation.delta(l, j)})
                expected = derivation.gradient(("w", l, j, k))
                if network.l2 is not None:
                    expected = expected - fw.regulariser_gradient(fw.q("w", l, j, k))
                ok = ok and (entry == expected or sp.expand(entry - expected) == 0)
        jacobian = l == network.depth and form.jacobian is not None
        what = "J^T ∇_a C" if jacobian else "Hadamard"
        facts.append(Fact("matrix", l, method, ok,
                          f"δ ∈ R^({m}×1) ({what}) and ∂C/∂W = δ a_prev^T ∈ R^({m}×{m_prev}) match every element",
                          {"kind": "matrix", "rows": m, "columns": m_prev, "jacobian": jacobian}))
    return facts


# ------------------------------------------------------------------ numeric


def _relative(ours, reference):
    return abs(ours - reference) / max(1, abs(reference))


class _Tally:
    """The worst relative difference of one kind of comparison, and where it failed."""

    def __init__(self):
        self.worst = mpmath.mpf(0)
        self.failed: list = []

    def add(self, ours, reference, where=None) -> bool:
        error = _relative(ours, reference)
        self.worst = max(self.worst, error)
        ok = error <= TOLERANCE
        if not ok and where is not None and where not in self.failed:
            self.failed.append(where)
        return ok

    @property
    def ok(self) -> bool:
        return self.worst <= TOLERANCE

    def shown(self) -> str:
        return f"{float(self.worst):.1e}"


def numeric_facts(derivation, points: int = 3, seed: int = 0, directions: int = DIRECTIONS) -> list[Fact]:
    """BP1–BP4 against the finite-difference oracle at ``points`` random points.

    At each point the derivation's δ and gradients are evaluated from its own
    expressions, and the oracle differentiates the cost by central differences:

    * along each weighted input z^l_j alone, for δ^l_j (BP1, BP2) and, since a
      bias moves its weighted input alone, for ∂C/∂b^l_j (BP3);
    * along ``directions`` random directions through every parameter at once,
      compared with Σ_θ ∂C/∂θ v_θ, and along the same directions restricted to
      each layer's weights and each layer's biases (BP4, BP3);
    * at the first point, along the first direction restricted to each neuron's
      weights (BP4), and when that fails, along each of the neuron's weights
      alone, which names the wrong entries (for at most :data:`LOCATE` neurons
      per layer). A wrong gradient fails at every point, so the first locates
      it; once any comparison has failed, the later points search too.

    A few dozen forward passes check every parameter; the components of a random
    direction are never 0, so no entry escapes it.
    """
    network, fw = derivation.network, derivation.forward
    sizes = network.sizes
    rng = random.Random(seed)
    oracle = CostOracle(network)
    stand_in = stand_in_for(network)
    deltas = {layer.index: _Tally() for layer in network.layers}
    weights = {layer.index: _Tally() for layer in network.layers}
    biases = {layer.index: _Tally() for layer in network.layers}
    whole = _Tally()
    located: dict = defaultdict(list)   # layer -> keys found wrong one by one
    searched: dict = defaultdict(set)   # layer -> neurons searched entry by entry
    neuron_points = 0                   # points at which each neuron's weights had their own direction
    with mpmath.workdps(DIGITS):
        for point_number in range(points):
            point, params, run = _smooth_point(derivation, oracle, rng)
            ours = Evaluator({**point.substitution(derivation, _mpf),
                              **{fw.q(*key): v for key, v in params.items()}}, stand_in)
            ours.network(derivation)
            gradients = derivation.gradients
            rows = {l: [[ours.once(gradients[("w", l, j, k)]) for k in range(1, sizes[l - 1] + 1)]
                        for j in range(1, sizes[l] + 1)] for l in range(1, network.depth + 1)}
            column = {layer.index: [ours.once(gradients[("b", layer.index, j)]) for j in range(1, layer.size + 1)]
                      for layer in network.layers if layer.bias}
            # δ^l_j, and ∂C/∂b^l_j: a bias moves its weighted input alone, at the same rate
            for layer in network.layers:
                l = layer.index
                for j in range(1, layer.size + 1):
                    reference = run.along_z(l, j)
                    deltas[l].add(ours(fw.q("delta", l, j)), reference, j)
                    if layer.bias:
                        biases[l].add(column[l][j - 1], reference, ("b", l, j))
            per_neuron = point_number == 0 or any(not t.ok for t in weights.values())
            neuron_points += per_neuron
            for r in range(directions):
                everything, first_shift, total = {}, {}, []
                for layer in network.layers:
                    l, m = layer.index, layer.size
                    width = sizes[l - 1]
                    flat = random_components(rng, m * width)
                    along = {j: flat[j * width:(j + 1) * width] for j in range(m)}
                    bias_along = dict(enumerate(random_components(rng, m))) if layer.bias else {}
                    everything[l] = (along, bias_along)
                    dots = [mpmath.fdot(rows[l][j], along[j]) for j in range(m)]
                    total += dots
                    shift = run.shift(l, along, {})
                    weights[l].add(mpmath.fsum(dots), run.directional(Direction({l: (along, {})}), shift))
                    if bias_along:
                        dot = mpmath.fdot(column[l], bias_along.values())
                        total.append(dot)
                        biases[l].add(dot, run.directional(Direction({l: ({}, bias_along)}), bias_along))
                    if l == 1:
                        first_shift = {j: s + bias_along.get(j, 0) for j, s in shift.items()}
                    if r == 0 and per_neuron:
                        # each neuron's weights alone (at the first point, or at every point once a
                        # comparison has failed); a failure is then searched weight by weight
                        for j in range(m):
                            reference = run.directional(Direction({l: ({j: along[j]}, {})}), {j: shift[j]})
                            if not weights[l].add(dots[j], reference, j + 1) and len(searched[l]) < LOCATE:
                                searched[l].add(j)
                                located[l] += _locate(run, rows[l][j], l, j, width)
                whole.add(mpmath.fsum(total), run.directional(Direction(everything), first_shift))
    return _numeric_report(derivation, points, directions, deltas, weights, biases, whole, located, stand_in,
                           neuron_points)


#: how many random points are drawn, at most, to find one away from every kink
DRAWS = 100


def _smooth_point(derivation, oracle: CostOracle, rng: random.Random):
    """A random point whose weighted inputs all lie away from their activation's kink.

    Points are drawn from ``rng`` until one qualifies (at most :data:`DRAWS`; the last is kept
    otherwise), so the choice depends on the seed alone. Returns the point, its parameters
    in mpmath and the oracle's forward pass there.
    """
    for _ in range(DRAWS):
        point = random_point(derivation, rng)
        params = {key: _mpf(v) for key, v in point.params.items()}
        run = oracle.at(params, point.x, point.y, point.l2)
        if not oracle.near_kink(run):
            break
    return point, params, run


def _locate(run, gradients: list, l: int, j: int, width: int) -> list:
    """The weights of neuron j (from 0) of layer l whose gradient differs from the cost along that weight alone."""
    wrong = []
    for k in range(width):
        unit = [0] * width
        unit[k] = 1
        if _relative(gradients[k], run.directional(Direction({l: ({j: unit}, {})}))) > TOLERANCE:
            wrong.append(("w", l, j + 1, k + 1))
    return wrong


def _numeric_report(derivation, points, directions, deltas, weights, biases, whole, located, stand_in,
                    neuron_points) -> list[Fact]:
    network = derivation.network
    shown = printing.text(stand_in) if is_generic(network) else ""
    # a direction through every parameter that fails where no layer's own comparison does
    # is a failure nothing locates: then every gradient fact fails with it
    unexplained = not whole.ok and all(t.ok for t in [*weights.values(), *biases.values()])
    how = f"mpmath central differences (40 digits) at {points} random points"
    if shown:
        how += f", the generic σ realised as {shown}"
    whole_evidence = {"directions": directions, "total": network.parameter_count, "worst": whole.shown(),
                      "ok": whole.ok}
    facts = []
    for layer in network.layers:
        l = layer.index
        m = layer.size
        tally = deltas[l]
        facts.append(Fact(_delta_equation(network, l), l, "numeric", tally.ok,
                          f"δ of all {m} neurons against the derivative of the cost along each z_j: {how}, "
                          f"worst relative error {tally.shown()}"
                          + (f"; differs at neurons {', '.join(map(str, tally.failed[:8]))}" if tally.failed else ""),
                          {"kind": "numeric_delta", "neurons": m, "points": points, "worst": tally.shown(),
                           "tolerance": f"{float(TOLERANCE):.0e}",
                           "failed": tally.failed[:8], "stand_in": shown}))
        kinds = [("b", "BP3", biases[l])] if layer.bias else []
        kinds.append(("w", "BP4", weights[l]))
        for kind, equation, tally in kinds:
            total = m if kind == "b" else m * network.sizes[l - 1]
            wrong = [key_name(key) for key in (tally.failed if kind == "b" else located[l])]
            neurons = [] if kind == "b" else tally.failed[:8]
            noun = "biases" if kind == "b" else "weights"
            each = "each bias alone" if kind == "b" else \
                f"each of the {m} neurons' weights (at {neuron_points} of the points)"
            detail = (f"all {total} {noun} along {directions} random directions through the layer's {noun} and "
                      f"along {each}, and {directions} through all {network.parameter_count} parameters at "
                      f"once: {how}, worst relative error {tally.shown()}")
            if neurons:
                detail += f"; differs at neurons {', '.join(map(str, neurons))}"
            if wrong:
                detail += f"; wrong entries: {key_list(wrong)}"
            evidence = {"kind": "numeric", "parameter": kind, "total": total, "neurons": m, "points": points,
                        "neuron_points": neuron_points if kind == "w" else points,
                        "directions": directions, "worst": tally.shown(), "failed": neurons,
                        "located": wrong[:8], "whole": whole_evidence, "tolerance": f"{float(TOLERANCE):.0e}",
                        "stand_in": shown}
            facts.append(Fact(equation, l, "numeric", tally.ok and not unexplained, detail, evidence))
    return facts
