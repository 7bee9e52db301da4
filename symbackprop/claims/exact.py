"""Deciding A = B exactly for the quantities of one network, by counting work, never by the clock.

Both sides are rewritten into rational functions of *generators*, values that no rational identity ties
together, and compared by polynomial arithmetic over the rationals (SymPy's sparse polynomials). The
generators are

* the free quantities x, y, w, b, λ, n and any other symbol a claim writes, with
  y_m = 1 − Σ_{j<m} y_j when the cost takes the targets to sum to one (the cross-entropy);
* a^l_j of an activation that no rational function of z gives: a generic σ, the sigmoid, tanh,
  softplus (each neuron's own weights and bias make the values of these independent); under
  softmax a^L_1 … a^L_{m-1}, with a^L_m = 1 − Σ_{j<m} a^L_j;
* σ'(z^l_j) of a generic σ (no identity ties it to σ);
* the step [z^l_j > 0] of a piecewise activation (relu, leaky relu), with [z > 0]² = [z > 0];
* z^l_j itself where it stands alone, at the first of the two levels below.

The named quantities become generators by rewrite rules, one for each definition of the derivation:
δ^l_j is the derivation's closed form, z = W a + b, a = σ(z) (a itself when a is a generator),
σ'(z) by the activation's identity (a(1 − a) for the sigmoid, 1 − a² for tanh), exp(c z) by its
exponential identity (e^z = a/(1 − a) for the sigmoid), and a user's σ, σ', tanh of an argument that
is (a multiple of) a weighted input are recognised as the activation of that neuron. They are applied
in levels, each only when the one before does not show the two sides equal and left something to do:

1. a weighted input z^l_j that stands alone stays whole, as a generator. Equal at this level is
   equal: substituting the true values keeps an identity of rational functions.
2. every lone z^l_j is written out, Σ_k w^l_{jk} a^{l-1}_k + b^l_j, layer by layer down to the
   generators. At this level the generators are independent.
3. only when an odd power of e^z met a tanh neuron (e^{2z} = (1 + a)/(1 − a) has no odd root in a): the
   sigmoid and tanh neurons get t = e^z as their generator instead of a, and σ is written in t.

A function no rule knows (a log, exp of something that is no weighted input, σ of a softmax layer) is
kept whole as an atom of its rewritten argument: equal atoms are equal, so equal is still equal, but
an inequality with such an atom proves nothing.

Work is bounded by counting: a comparison whose expansion could exceed ``max_terms`` terms is not
made (the decision is then None), so one input gets one answer on every machine at any load.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass

import sympy as sp
from sympy.polys.fields import field as rational_field
from sympy.polys.rings import ring as polynomial_ring

from ..choices import MAX_TERMS  # the largest number of terms a comparison may expand to
from ..model.activations import A, Z, VectorActivation, opaque_functions
from ..model.symbols import COST, Quantity

SIGMA, SIGMA_PRIME = opaque_functions("sigma")
_WILD = sp.Wild("u")


class WorkLimit(Exception):
    """The comparison would expand past its bound of terms."""


def decide(derivation, left, right, max_terms: int = MAX_TERMS) -> bool | None:
    """True when ``left`` and ``right`` (scalars or matrices in the network's quantities) are identical.

    False when the rewriting does not show them equal; None when showing it would take more than
    ``max_terms`` terms.
    """
    pairs = list(zip(left, right)) if isinstance(right, sp.MatrixBase) else [(left, right)]
    limited = False
    for level in LEVELS:
        rewriter = _rewriter(derivation, level)
        try:
            if all(rewriter.equal(l, r, max_terms) for l, r in pairs):
                return True
        except WorkLimit:
            limited = True
        if not rewriter.goes_further:
            break  # the next level would rewrite nothing more
    return None if limited else False


# ------------------------------------------------------------------ the rewriter


_REWRITERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


#: the levels of rewriting: lone z whole, lone z written out, and then the sigmoid and tanh written in e^z
LEVELS = ("named", "expanded", "exponential")


def _rewriter(derivation, level: str) -> "_Rewriter":
    """One rewriter per derivation and level, kept while the derivation lives (its memo is reused)."""
    levels = _REWRITERS.setdefault(derivation, {})
    if level not in levels:
        levels[level] = _Rewriter(derivation, level)
    return levels[level]


def is_generator(rule) -> bool:
    """Whether an element-wise activation's value a is a generator (σ of no rational form in z)."""
    return not isinstance(rule, VectorActivation) and (rule.name == "generic" or rule.exponential is not None)


@dataclass(frozen=True)
class _Match:
    """An argument u = c · z^l_j."""

    layer: int
    neuron: int
    factor: sp.Rational


class _Rewriter:
    """Rewrites expressions in one network's quantities into rational functions of generators."""

    def __init__(self, derivation, level: str):
        self.derivation = derivation
        self.network = derivation.network
        self.fw = derivation.forward
        self.expand = level != "named"
        #: a sigmoid or tanh neuron is written in its generator t = e^z (an odd power of e^z has no form in a)
        self.exponentials = level == "exponential"
        self.level = level
        self.memo: dict = {}
        self.atoms: dict = {}           # canonical key -> Dummy
        self.steps: set = set()         # the step generators [z > 0], which are idempotent
        #: the next level may show more: a lone z was kept whole, or e^{cz} had no form in a
        self.goes_further = False
        self._definitions: dict = {}    # (l, j) -> z^l_j written out at the second level
        #: the opaque σ_l and σ_l' a derivation's raw forms write, by function: (rule, prime)
        self.opaque = {}
        for layer in self.network.layers:
            rule = layer.activation
            if not isinstance(rule, VectorActivation):
                self.opaque[rule.function] = (rule, False)
                self.opaque[rule.prime_function] = (rule, True)
        #: σ(Z) of the generator activations that are one function application (tanh(z), log(1 + e^z)),
        #: as patterns in a wildcard, so that σ written out at a weighted input is recognised as a
        self.patterns = []
        for layer in self.network.layers:
            rule = layer.activation
            if is_generator(rule) and rule.name != "generic" and rule.forward.is_Function:
                pattern = rule.forward.xreplace({Z: _WILD})
                if (rule, pattern) not in self.patterns:
                    self.patterns.append((rule, pattern))

    # -------------------------------------------------------------- comparing
    def equal(self, left, right, max_terms: int) -> bool:
        left, right = self(sp.sympify(left)), self(sp.sympify(right))
        if left == right:
            return True
        for side in (left, right):
            if expanded_terms(side, max_terms) > max_terms:
                raise WorkLimit()
        return _same_rational(left, right, self.steps)

    # -------------------------------------------------------------- rewriting
    def __call__(self, expr: sp.Expr) -> sp.Expr:
        found = self.memo.get(expr)
        if found is not None:
            return found
        value = self._rewrite(expr)
        self.memo[expr] = value
        return value

    def _rewrite(self, e):
        if e.is_Number:
            return e
        if isinstance(e, Quantity):
            return self.quantity(e)
        if e.is_Symbol:
            return e
        if e.is_Add:
            return sp.Add(*[self(a) for a in e.args])
        if e.is_Mul:
            return sp.Mul(*[self(a) for a in e.args])
        if e.is_Pow:
            base = self(e.base)
            if e.exp.is_Integer:
                return base ** e.exp
            return self.atom(("pow", base, self(e.exp)))
        if isinstance(e, sp.Piecewise):
            return self.piecewise(e)
        if isinstance(e, sp.Function) or isinstance(e, sp.core.function.AppliedUndef):
            return self.application(e)
        return self.atom(("expr", e))

    def atom(self, key) -> sp.Dummy:
        if key not in self.atoms:
            self.atoms[key] = sp.Dummy(f"t{len(self.atoms)}")
        return self.atoms[key]

    def quantity(self, q: Quantity) -> sp.Expr:
        kind = q.kind
        if kind == "a":
            l, j = q.indices
            if l == 0:
                return self.fw.q("x", j)
            return self.activation(l, j)
        if kind == "z":
            l, j = q.indices
            if self.expand:
                return self.weighted_input(l, j)
            self.goes_further = True
            return q
        if kind == "y" and self.network.cost.targets_sum_to_one:
            m = self.network.sizes[-1]
            if q.indices[0] == m and m > 1:
                return 1 - sp.Add(*[self.fw.q("y", k) for k in range(1, m)])
            return q
        if kind == "delta":
            return self(self.derivation._without_deltas(q, opaque=False))
        if q == COST:
            return self(self.fw.cost)
        return q

    def activation(self, l: int, j: int) -> sp.Expr:
        rule = self.network.layer(l).activation
        a = self.fw.q("a", l, j)
        if isinstance(rule, VectorActivation):
            m = self.network.sizes[l]
            if j == m and m > 1:  # the outputs of softmax sum to one
                return 1 - sp.Add(*[self.fw.q("a", l, k) for k in range(1, m)])
            return a
        if self.exponentials and _in_exponentials(rule):
            return self(rule.forward.rewrite(sp.exp).xreplace({Z: self.fw.q("z", l, j)}))
        if is_generator(rule):
            return a
        return self(rule.apply(self.fw.q("z", l, j)))

    def weighted_input(self, l: int, j: int) -> sp.Expr:
        """z^l_j written out: Σ_k w^l_{jk} a^{l-1}_k + b^l_j, its activations rewritten in turn."""
        if (l, j) not in self._definitions:
            self._definitions[(l, j)] = self(self.fw.z_definition(l, j))
        return self._definitions[(l, j)]

    # -------------------------------------------------------------- functions
    def match(self, u: sp.Expr) -> _Match | None:
        """(l, j, c) when the argument u is c · z^l_j for a rational c ≠ 0."""
        if isinstance(u, Quantity) and u.kind == "z":
            return _Match(*u.indices, sp.S.One)
        if u.is_Mul and len(u.args) == 2 and u.args[0].is_Rational and isinstance(u.args[1], Quantity) \
                and u.args[1].kind == "z":
            return _Match(*u.args[1].indices, u.args[0])
        written = _rewriter(self.derivation, "expanded")(u)
        if expanded_terms(written, MAX_TERMS) > MAX_TERMS:
            return None
        # a multiple of z^l_j holds the bias b^l_j, or else every weight w^l_{jk}: the last layer's decides
        candidates = sorted((s for s in written.free_symbols if isinstance(s, Quantity) and s.kind in ("w", "b")),
                            key=lambda s: (-s.indices[0], s.kind, s.indices))
        if not candidates:
            return None
        l, j = candidates[0].indices[:2]
        definition = _rewriter(self.derivation, "expanded").weighted_input(l, j)
        symbol = candidates[0]
        ratio = sp.cancel(sp.expand(written).coeff(symbol) / sp.expand(definition).coeff(symbol))
        if not ratio.is_Rational or ratio == 0:
            return None
        if sp.expand(written - ratio * definition) != 0:
            return None
        return _Match(l, j, ratio)

    def application(self, e) -> sp.Expr:
        func, args = e.func, e.args
        if len(args) != 1:
            return self.atom(("apply", func, tuple(self(a) for a in args)))
        u = args[0]
        if func in (SIGMA, SIGMA_PRIME):
            return self.sigma(u, prime=func is SIGMA_PRIME)
        if func in self.opaque:
            rule, prime = self.opaque[func]
            return self.sigma(u, prime, rule)
        for rule, pattern in self.patterns:
            if func is pattern.func:
                bound = e.match(pattern)
                found = self.match(bound[_WILD]) if bound else None
                if found is not None and found.factor == 1 and self.network.layer(found.layer).activation == rule:
                    return self.activation(found.layer, found.neuron)
        if func is sp.exp:
            return self.exponential(u)
        return self.atom((func, self.argument(u)))

    def argument(self, u) -> sp.Expr:
        """The canonical form of an atom's argument: expanded, over one denominator (as rewritten, when expanding
        it could pass :data:`MAX_TERMS` terms; equal atoms are then still equal)."""
        value = self(u)
        if expanded_terms(value, MAX_TERMS) > MAX_TERMS:
            return value
        return sp.cancel(sp.expand(value))

    def sigma(self, u, prime: bool, rule=None) -> sp.Expr:
        """σ(u) or σ'(u) written by a claim: the network's activation where u is a weighted input (or ``rule``,
        for the opaque function of a rule, where u is a weighted input of a layer with that rule)."""
        found = self.match(u)
        if found is not None and found.factor == 1 and rule in (None, self.network.layer(found.layer).activation):
            l, j = found.layer, found.neuron
            rule = self.network.layer(l).activation
            if isinstance(rule, VectorActivation):
                return self.atom(("sigma'" if prime else "sigma", l, j))
            if not prime:
                return self.activation(l, j)
            if rule.name == "generic":
                return self.atom(("sigma'", l, j))
            return self(rule.prime_named(self.fw.q("z", l, j), self.fw.q("a", l, j)))
        rule = rule or rule_for(self.network, u)
        if rule is None or rule.name == "generic":
            return self.atom(("sigma'" if prime else "sigma", self.argument(u)))
        return self(rule.prime(u) if prime else rule.apply(u))

    def exponential(self, u) -> sp.Expr:
        """exp(u): by the activation's exponential identity where u is a multiple of a weighted input."""
        found = self.match(u)
        if found is not None:
            rule = self.network.layer(found.layer).activation
            if isinstance(rule, VectorActivation) and rule.name == "softmax" and found.factor.is_Integer:
                # e^{z_j} = a_j S with S = Σ_k e^{z_k}: (a_1 .. a_{m-1}, S) are independent, as z_1 .. z_m are
                scale = self.atom(("softmax", found.layer))
                return (self.activation(found.layer, found.neuron) * scale) ** found.factor
            identity = None if isinstance(rule, VectorActivation) else rule.exponential
            if self.exponentials and _in_exponentials(rule) and found.factor.is_Integer:
                return self.atom(("e^z", found.layer, found.neuron)) ** found.factor
            if identity is not None:
                multiple, value = identity
                power = found.factor / multiple
                if power.is_Integer:
                    a = self.fw.q("a", found.layer, found.neuron)
                    return self(value.xreplace({A: a})) ** power
                self.goes_further = True
        argument = self.argument(u)
        # exp(c·v) = exp(v)^c: one atom for every integer multiple of one argument
        content, primitive = argument.as_content_primitive()
        if primitive.could_extract_minus_sign():
            content, primitive = -content, -primitive
        if content.is_Integer and content != 0:
            return self.atom(("exp", primitive)) ** content
        return self.atom(("exp", argument))

    def piecewise(self, e) -> sp.Expr:
        """Two pieces split at z^l_j > 0 (relu, its derivative, leaky relu): a step generator [z > 0]."""
        pieces = e.args
        if len(pieces) == 2 and pieces[1].cond == sp.true:
            condition = pieces[0].cond
            step = None
            if isinstance(condition, (sp.StrictGreaterThan, sp.LessThan)) and condition.rhs == 0:
                found = self.match(condition.lhs)
                if found is not None and found.factor > 0:
                    step = self.atom(("step", found.layer, found.neuron))
                    self.steps.add(step)
                    if isinstance(condition, sp.LessThan):
                        step = 1 - step
            if step is not None:
                return self(pieces[0].expr) * step + self(pieces[1].expr) * (1 - step)
        return self.atom(("piecewise", tuple((self(p.expr), p.cond) for p in pieces)))


def _in_exponentials(rule) -> bool:
    """Whether σ is a rational function of e^z (the sigmoid, tanh), so that t = e^z can be its generator."""
    return not isinstance(rule, VectorActivation) and rule.exponential is not None and not rule.forward.has(sp.log)


def rule_for(network, argument):
    """The activation a claim's σ means for an argument that is no weighted input: that of the layer of its
    quantities, when they all lie in layers of one element-wise activation (None otherwise)."""
    layers = {s.indices[0] for s in argument.free_symbols if isinstance(s, Quantity) and s.kind in ("z", "a")}
    rules = [network.layer(l).activation for l in layers if l >= 1] if layers else [layer.activation
                                                                                  for layer in network.layers]
    labels = {r.label for r in rules}
    if len(labels) != 1 or isinstance(rules[0], VectorActivation):
        return None
    return rules[0]


# ------------------------------------------------------------------ arithmetic


def expanded_terms(expr, limit: int) -> int:
    """An upper bound of the number of terms ``sympy.expand(expr)`` gives, counted on the expression's tree
    (capped just above ``limit``), so that an expansion can be refused before it starts."""
    memo: dict = {}

    def count(e) -> int:
        if e in memo:
            return memo[e]
        if e.is_Add:
            n = sum(count(a) for a in e.args)
        elif e.is_Mul:
            n = 1
            for a in e.args:
                n *= count(a)
                if n > limit:
                    break
        elif e.is_Pow and e.exp.is_Integer:
            base = count(e.base)
            n = 1
            for _ in range(abs(int(e.exp))):
                n *= base
                if n > limit:
                    break
        else:
            n = 1
        n = min(n, limit + 1)
        memo[e] = n
        return n

    return count(expr)


def _same_rational(left, right, steps) -> bool:
    """Whether two rational functions of independent symbols are identical (``steps`` are idempotent)."""
    return _same_rational_in(left, right, frozenset((left.free_symbols | right.free_symbols) & steps))


@functools.lru_cache(maxsize=4096)
def _same_rational_in(left, right, steps: frozenset) -> bool:
    """:func:`_same_rational`, kept per process: the same claim about the same network, read from another
    language, format or document, is compared again."""
    symbols = sorted(left.free_symbols | right.free_symbols, key=sp.default_sort_key)
    if not symbols:
        return sp.nsimplify(left - right) == 0 if (left - right).is_number else False
    positions = [i for i, s in enumerate(symbols) if s in steps]
    try:
        algebra = polynomial_ring(symbols, sp.QQ)[0]
        difference = algebra.from_expr(left) - algebra.from_expr(right)
    except (ValueError, sp.CoercionFailed, sp.PolynomialError):
        algebra = rational_field(symbols, sp.QQ)[0]
        a, b = algebra.from_expr(left), algebra.from_expr(right)
        difference = a.numer * b.denom - b.numer * a.denom
    return not _idempotent(difference, positions)


def _idempotent(polynomial, positions):
    """``polynomial`` with every power of a step generator (at ``positions``) reduced to the first."""
    if not positions or not polynomial:
        return polynomial
    reduced: dict = {}
    for monomial, coefficient in polynomial.terms():
        monomial = tuple(min(e, 1) if i in positions else e for i, e in enumerate(monomial))
        reduced[monomial] = reduced.get(monomial, 0) + coefficient
    return polynomial.ring.from_dict({m: c for m, c in reduced.items() if c != 0})
