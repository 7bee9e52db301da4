"""The vocabulary of a derivation: named quantities of a network and partial derivatives.

Every quantity a derivation talks about is a :class:`Quantity`, a SymPy ``Symbol``
that also remembers what it is (``kind``) and where it sits (``indices``), in the
canonical numbering of the engine:

=========  ===========  =====================================================
kind       indices      meaning
=========  ===========  =====================================================
``x``      ``(k,)``     input k (layer 0), 1-based
``y``      ``(j,)``     target for output neuron j
``w``      ``(l, j, k)``weight from neuron k of layer l-1 to neuron j of layer l
``b``      ``(l, j)``   bias of neuron j of layer l
``z``      ``(l, j)``   weighted input of neuron j of layer l
``a``      ``(l, j)``   activation of neuron j of layer l
``delta``  ``(l, j)``   error dC/dz of neuron j of layer l
``C``      ``()``       the cost
``lambda`` ``()``       the L2 regularisation strength
``n``      ``()``       the number of training examples
``m``      ``(l,)``     the number of neurons of layer l
=========  ===========  =====================================================

Printers read ``kind`` and ``indices`` and apply a notation's own numbering, so
the canonical keys never change whatever the printed convention. Indices are
integers for a concrete network, or SymPy expressions (``l - 1``, ``j``) for
statements about any neuron of any layer.

>>> w = Quantity("w", 2, 1, 3)
>>> w.kind, w.indices
('w', (2, 1, 3))
>>> w
w[2,1,3]
"""

from __future__ import annotations

import bisect
import functools

import sympy as sp
from sympy.core.basic import _args_sortkey, _cmp_name  # SymPy's own canonical argument order
from sympy.printing.precedence import PRECEDENCE

KINDS = ("x", "y", "w", "b", "z", "a", "delta", "C", "lambda", "n", "m")


class Quantity(sp.Symbol):
    """A named quantity of the network: a real SymPy symbol with a kind and indices."""

    __slots__ = ("kind", "indices", "_order")

    kind: str
    indices: tuple[int, ...]

    def __new__(cls, kind: str, *indices) -> "Quantity":
        return _quantity(cls, kind, *indices)

    @staticmethod
    def _create(cls, kind: str, *indices) -> "Quantity":
        if kind not in KINDS:
            raise ValueError(f"unknown quantity kind {kind!r}; expected one of {', '.join(KINDS)}")
        indices = tuple(i if type(i) is int else _index(i) for i in indices)
        name = kind if not indices else f"{kind}[{','.join(map(str, indices))}]"
        positive = kind in ("n", "m")
        template = _TEMPLATES.get(positive)
        if template is None:
            obj = _TEMPLATES[positive] = sp.Symbol.__xnew__(cls, name, real=True, positive=positive or None)
        else:
            # A network has a symbol per weight, and deducing the same assumptions (real, or
            # positive) for each dominates building them: every quantity with the same assumptions
            # shares the first one's records, which depend on the assumptions alone.
            obj = sp.Expr.__new__(cls)
            obj.name = name
            obj._assumptions = template._assumptions
            obj._assumptions_orig = template._assumptions_orig
            obj._assumptions0 = template._assumptions0
        obj.kind = kind
        obj.indices = indices
        content = obj._hashable_content()
        obj._order = (len(content), content)  # Basic.compare's order among Quantities
        return obj

    def __getnewargs_ex__(self):
        return ((self.kind, *self.indices), {})

    @property
    def layer(self) -> int | None:
        """The layer of a layer quantity (w, b, z, a, delta); 0 for inputs; None otherwise."""
        if self.kind in ("w", "b", "z", "a", "delta"):
            return self.indices[0]
        if self.kind == "x":
            return 0
        return None


#: the first quantity built with each set of assumptions (keyed by ``positive``)
_TEMPLATES: dict = {}


@functools.lru_cache(maxsize=1 << 17, typed=True)
def _quantity(cls, kind, *indices) -> Quantity:
    """One object per quantity: a network's tens of thousands of weights are made once, not once per use."""
    return Quantity._create(cls, kind, *indices)


def _index(value):
    """An index as a Python int when it is a whole number, else as a SymPy expression."""
    if isinstance(value, bool):
        raise TypeError("an index cannot be a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, sp.Basic):
        return int(value) if value.is_Integer else value
    raise TypeError(f"an index must be an int or a SymPy expression, got {value!r}")


COST = Quantity("C")
#: the cost without its regulariser (C₀ in C = C₀ + (λ/2n) Σ w²): what the errors δ are the derivatives of
UNREGULARISED = Quantity("C", 0)
LAMBDA = Quantity("lambda")
N_EXAMPLES = Quantity("n")


class Partial(sp.Expr):
    """An unevaluated partial derivative of one named quantity with respect to another.

    It stands for a factor of the chain rule (``∂C/∂a``, ``∂a/∂z``) before it is
    replaced by its value, so that derivation steps can show the chain itself.

    >>> Partial(COST, Quantity("a", 2, 1))
    Partial(C, a[2,1])
    """

    is_commutative = True

    def __new__(cls, of: sp.Expr, wrt: sp.Expr) -> "Partial":
        return sp.Expr.__new__(cls, of, wrt)

    @property
    def of(self) -> sp.Expr:
        return self.args[0]

    @property
    def wrt(self) -> sp.Expr:
        return self.args[1]

    def _eval_derivative(self, s):  # a placeholder factor, never differentiated
        raise TypeError("a Partial is a displayed factor of the chain rule, not a function to differentiate")


def product(*factors: sp.Expr) -> sp.Expr:
    """``Mul(*factors)`` for factors that share no base, built without SymPy's flattening.

    A network's gradients are products of named intermediates that never repeat
    (δ^l_j · a^{l-1}_k), and building tens of thousands of them through
    ``Mul.flatten`` dominates the time of a large derivation. When no two factors
    share a base and at most one is a number, the canonical product is just the
    factors in SymPy's argument order; otherwise this falls back to ``Mul``.
    """
    flat: list[sp.Expr] = []
    for factor in factors:
        if factor.is_Mul:
            flat.extend(factor.args)
        else:
            flat.append(factor)
    numbers = [f for f in flat if f.is_Number]
    if numbers:
        if len(numbers) > 1 or numbers[0] in (sp.S.Zero, sp.S.One):
            return sp.Mul(*factors)
    bases = set()
    for factor in flat:
        if factor.is_Number:
            continue
        if not factor.is_commutative:
            return sp.Mul(*factors)
        base = factor.base if factor.is_Pow else factor
        if base in bases:
            return sp.Mul(*factors)
        bases.add(base)
    if len(flat) == 1:
        return flat[0]
    # every factor is commutative (checked above), so the product is: SymPy need not deduce it again
    if all(type(f) is Quantity for f in flat):
        return sp.Mul._from_args(sorted(flat, key=_quantity_order), True)
    if len(factors) == 2 and factors[0].is_Mul and not factors[1].is_Mul:
        # the first factor's arguments are already in order: insert the second
        args = list(factors[0].args)
        bisect.insort(args, factors[1], key=_args_sortkey)
        return sp.Mul._from_args(args, True)
    return sp.Mul._from_args(sorted(flat, key=_args_sortkey), True)


def _quantity_order(q: Quantity):
    return q._order


def total(terms) -> sp.Expr:
    """``Add(*terms)`` for distinct terms that are quantities or products of quantities, built without
    SymPy's comparisons.

    A weighted input (Σ_k w_{jk} a_k + b_j) and an error sent back (Σ_k w_{kj} δ_k) are sums of such
    terms, and ``Add`` puts them in canonical order by calling ``Basic.compare`` for every pair it
    sorts: on a wide layer that is most of the time it takes to build them. Among these terms the
    order of ``Basic.compare`` is known in advance (the class first, then each quantity's own order,
    factor by factor), so they are sorted by a key instead, and the sum is the very one ``Add`` would
    give. Any other term, or a term repeated, falls back to ``Add``.
    """
    terms = list(terms)
    keys = []
    for term in terms:
        kind = type(term)
        if kind is Quantity:
            keys.append((_TERM_RANK[Quantity], term._order))
        elif kind is sp.Mul and all(type(f) is Quantity for f in term.args):
            keys.append((_TERM_RANK[sp.Mul], (len(term.args), tuple(f._order for f in term.args))))
        else:
            return sp.Add(*terms)
    if len(terms) < 2 or len(set(terms)) != len(terms):
        return sp.Add(*terms)
    order = sorted(range(len(terms)), key=keys.__getitem__)
    return sp.Add._from_args([terms[i] for i in order], True)


#: Basic.compare's order of the two kinds of term :func:`total` sorts by key
_TERM_RANK = dict(zip(sorted((Quantity, sp.Mul), key=functools.cmp_to_key(_cmp_name)), range(2)))


class Chain(sp.Basic):
    """A chain of equalities ``A = B = C``, for display: each link is a derivation step."""

    def __new__(cls, *links):
        return sp.Basic.__new__(cls, *[sp.sympify(link) for link in links])

    @property
    def links(self):
        return self.args


class Aligned(sp.Basic):
    """Several equations displayed one per line, aligned at their equals signs."""

    def __new__(cls, *equations):
        return sp.Basic.__new__(cls, *equations)


class Shape(sp.Basic):
    """The dimension ``rows × cols`` of a vector or matrix, for display."""

    def __new__(cls, rows, cols):
        return sp.Basic.__new__(cls, sp.sympify(rows), sp.sympify(cols))


class SumOver(sp.Expr):
    """Σ over every value of ``index`` (Σ_w w² over all weights), for display."""

    is_commutative = True

    def __new__(cls, term, index):
        return sp.Expr.__new__(cls, sp.sympify(term), sp.sympify(index))


class LayerMatrix(sp.MatrixExpr):
    """A layer's vector or matrix as one symbol: W^l, b^l, z^l, a^l, δ^l, x, y, σ'(z^l), ∇_a C.

    ``kind`` is one of :data:`MATRIX_KINDS`; ``layer`` is canonical (an int, or a
    SymPy expression in general statements); the shape is (rows, cols), numbers
    or symbols, and SymPy's matrix algebra checks it in every product.
    """

    is_commutative = False

    def __new__(cls, kind, layer, rows, cols=1):
        kind = kind.name if isinstance(kind, sp.Symbol) else kind  # rebuilt from its args
        if kind not in MATRIX_KINDS:
            raise ValueError(f"unknown matrix kind {kind!r}; expected one of {', '.join(MATRIX_KINDS)}")
        return sp.Basic.__new__(cls, sp.Symbol(kind), sp.sympify(layer), sp.sympify(rows), sp.sympify(cols))

    @property
    def kind(self) -> str:
        return self.args[0].name

    @property
    def layer(self):
        return self.args[1]

    @property
    def shape(self):
        return (self.args[2], self.args[3])

    @property
    def free_symbols(self):
        return set()

    def _entry(self, i, j, **kwargs):
        """The element (i, j), 0-based, as a named quantity (for explicit matrices)."""
        l = self.layer
        i, j = i + 1, j + 1
        if self.kind == "W":
            return Quantity("w", l, i, j)
        if self.kind == "a" and l == 0:
            return Quantity("x", i)
        if self.kind in ("b", "z", "a", "delta"):
            return Quantity(self.kind, l, i)
        if self.kind in ("x", "y"):
            return Quantity(self.kind, i)
        if self.kind == "grad_a":
            return Partial(COST, Quantity("a", l, i))
        if self.kind == "Wb":  # column 0: the bias weights, from the bias unit
            return Quantity("b", l, i) if j == 1 else Quantity("w", l, i, j - 1)
        if self.kind == "a1":  # entry 0: the bias unit
            return sp.Integer(1) if i == 1 else LayerMatrix("a", l, self.shape[0] - 1)._entry(i - 2, 0)
        raise ValueError(f"{self.kind} has no named elements")


#: W (weights), b, z, a, delta, x, y (vectors), dsigma (σ'(z^l)), grad_a (∇_a C at layer l); for Ng's bias
#: units, Wb (the weights into layer l with the bias weights as column 0) and a1 (a^l with the bias unit 1 on top)
MATRIX_KINDS = ("W", "b", "z", "a", "delta", "x", "y", "dsigma", "grad_a", "Wb", "a1")


# ---------------------------------------------------------------------- display forms
# Plain data: the printers in printing.py write them (``_print_WrittenSum`` and so on).


class WrittenSum(sp.Expr):
    """A sum shown in the order it was written, each term with its sign: ``b + 1``, ``a - b``.

    ``signs`` is a tuple of +1/−1, one per term. SymPy's ``Add`` would sort the
    terms and add numbers up; a display keeps them (1·2 + 1·3, not 5). A term that
    is a negative number or a product with a negative coefficient is shown with
    the opposite sign (``a - 0.35``, not ``a + -0.35``).

    >>> from symbackprop.documents import printing
    >>> a, b = sp.symbols("a b")
    >>> printing.text(WrittenSum((1, -1, 1), b, a, sp.Float("-0.35", 2)))
    'b - a - 0.35'
    """

    is_commutative = True
    precedence = PRECEDENCE["Add"]

    def __new__(cls, signs, *terms):
        return sp.Expr.__new__(cls, sp.Tuple(*signs), *map(sp.sympify, terms))

    @property
    def signs(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.args[0])

    @property
    def terms(self) -> tuple[sp.Expr, ...]:
        return self.args[1:]


class WrittenProduct(sp.Expr):
    """A product shown in the order it was written: ``c d``, ``1 \\cdot 2``, ``0.74 \\cdot \\left(-0.18\\right)``.

    SymPy's ``Mul`` would multiply numbers out and sort the factors. In LaTeX a
    dot stands between two factors where one is a number (or starts with a digit
    or a sign); with ``dotted=True`` between every two factors, for a chain of
    factors set beside their values in a worked example.

    >>> from symbackprop.documents import printing
    >>> c, d = sp.symbols("c d")
    >>> printing.latex(WrittenProduct(c, d)), printing.latex(WrittenProduct(c, d, dotted=True))
    ('c d', 'c \\\\cdot d')
    """

    is_commutative = True
    precedence = PRECEDENCE["Mul"]

    def __new__(cls, *factors, dotted: bool = False):
        if factors and isinstance(factors[0], sp.logic.boolalg.BooleanAtom):  # rebuilt from its args
            dotted, factors = bool(factors[0]), factors[1:]
        return sp.Expr.__new__(cls, sp.true if dotted else sp.false, *map(sp.sympify, factors))

    @property
    def dotted(self) -> bool:
        return bool(self.args[0])

    @property
    def factors(self) -> tuple[sp.Expr, ...]:
        return self.args[1:]


def written_product(factors, dotted: bool = False) -> sp.Expr:
    """The product of ``factors`` as written (1·2, not 2), for display; one factor is itself."""
    factors = list(factors)
    return factors[0] if len(factors) == 1 else WrittenProduct(*factors, dotted=dotted)


def written_sum(terms) -> sp.Expr:
    """The sum of ``terms`` as written (1·2 + 1·3, not 5), for display; no terms are 0."""
    terms = list(terms)
    if not terms:
        return sp.S.Zero
    return terms[0] if len(terms) == 1 else WrittenSum((1,) * len(terms), *terms)


def written_difference(minuend, subtrahend) -> WrittenSum:
    """``minuend - subtrahend`` as written (θ − η ∂C/∂θ with numbers), for display."""
    return WrittenSum((1, -1), minuend, subtrahend)


class GradientOf(sp.MatrixExpr):
    """∂C/∂X for a layer matrix X (W^l or b^l), with X's shape; printed as a fraction."""

    def __new__(cls, of):
        return sp.Basic.__new__(cls, of)

    @property
    def of(self):
        return self.args[0]

    @property
    def shape(self):
        return self.args[0].shape
