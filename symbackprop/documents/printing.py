"""One notation-aware printer, for LaTeX and for the terminal.

A :class:`Notation` says how each canonical quantity is written in one of the
conventions of the literature: its letter, how its layer is numbered and where
the layer goes. The two printers, :class:`LatexPrinter` (a SymPy
``LatexPrinter``) and :class:`TextPrinter` (a SymPy ``StrPrinter`` that writes
Unicode), share that knowledge and differ only in how they set a letter, a
superscript and a subscript. No LaTeX is assembled anywhere else.

>>> from symbackprop.model.symbols import Quantity
>>> latex(Quantity("w", 2, 1, 3))
'w^{3}_{13}'
>>> latex(Quantity("w", 2, 1, 3), notation="ng")
'\\\\Theta^{(2)}_{13}'
>>> text(Quantity("delta", 1, 2))
'δ²₂'
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass

import sympy as sp
from sympy.printing.latex import LatexPrinter as _SympyLatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.pretty.pretty_symbology import greek_unicode
from sympy.printing.str import StrPrinter

from ..errors import SpecError, unknown_name
from ..model.symbols import COST, Aligned, Chain, LayerMatrix, Partial, Quantity, Shape, SumOver, WrittenProduct, WrittenSum


@dataclass(frozen=True)
class Notation:
    """How one convention writes the canonical quantities.

    ``layer_offset`` is added to a canonical layer (input = 0) to get the printed
    layer; ``layer_style`` is ``"plain"`` (w^l), ``"paren"`` (Θ^{(l)}) or
    ``"subscript"`` (z_{lj}: the layer first among the subscripts). ``letters``
    maps a kind to its (LaTeX, Unicode) letter; ``matrices`` does the same for
    a layer's vectors and matrices.
    """

    name: str
    layer_offset: int
    layer_style: str
    letters: dict
    matrices: dict
    activation: tuple[str, str]
    #: Ng's weights map layer l to l+1 and carry the number of their source layer
    weight_layer_shift: int = 0
    #: the nodes convention numbers neurons across the whole network
    global_nodes: bool = False
    #: Ng writes a bias as the weight from the bias unit 0
    bias_as_weight: bool = False
    #: the size of layer l as M_l (Qiu), not m^l
    size_subscript: bool = False
    #: a dimension as the space it lies in, ℝ^{M_l} or ℝ^{M_l × M_{l-1}} (Qiu), not M_l × 1
    real_spaces: bool = False


def _letters(**overrides):
    base = {
        "x": ("x", "x"), "y": ("y", "y"), "w": ("w", "w"), "b": ("b", "b"), "z": ("z", "z"),
        "a": ("a", "a"), "delta": ("\\delta", "δ"), "C": ("C", "C"), "lambda": ("\\lambda", "λ"),
        "n": ("n", "n"), "m": ("m", "m"),
    }
    base.update(overrides)
    return base


def _matrices(**overrides):
    base = {
        "W": ("W", "W"), "b": ("b", "b"), "z": ("z", "z"), "a": ("a", "a"), "delta": ("\\delta", "δ"),
        "x": ("x", "x"), "y": ("y", "y"),
    }
    base.update(overrides)
    return base


NOTATIONS = {
    "nielsen": Notation("nielsen", 1, "plain", _letters(), _matrices(W=("w", "w")), ("\\sigma", "σ")),
    "ng": Notation("ng", 1, "paren", _letters(w=("\\Theta", "Θ"), C=("J", "J"), n=("m", "m"), m=("s", "s")),
                   _matrices(W=("\\Theta", "Θ")), ("g", "g"), weight_layer_shift=-1, bias_as_weight=True),
    # Qiu sets vectors and matrices in bold and gives layer l M_l neurons: z^{(l)} ∈ ℝ^{M_l}
    "qiu": Notation("qiu", 0, "paren", _letters(w=("W", "W"), C=("\\mathcal{L}", "ℒ"), n=("N", "N"), m=("M", "M")),
                    _matrices(**{kind: ("\\boldsymbol{%s}" % tex, uni) for kind, (tex, uni) in _matrices().items()}),
                    ("f", "f"), size_subscript=True, real_spaces=True),
    "nodes": Notation("nodes", 0, "subscript", _letters(x=("\\hat{x}", "x̂"), y=("\\hat{y}", "ŷ"), a=("y", "y")),
                      _matrices(x=("\\hat{x}", "x̂"), y=("\\hat{y}", "ŷ"), a=("y", "y")), ("f", "f"),
                      global_nodes=True),
}


def notation(name) -> Notation:
    """Look up a notation by name."""
    if isinstance(name, Notation):
        return name
    if name not in NOTATIONS:
        raise SpecError(unknown_name("notation", name, NOTATIONS))
    return NOTATIONS[name]


def layer_number(canonical, notation_name: str = "nielsen"):
    """The number a notation gives to canonical layer ``canonical`` (the input is canonical layer 0)."""
    return canonical + notation(notation_name).layer_offset


_KIND_ORDER = {kind: i for i, kind in enumerate(("a", "z", "delta", "w", "b", "x", "y", "C", "lambda", "n", "m"))}


def _layer_value(index) -> int:
    """A layer index as a number to sort by: symbolic layers read l = 1000, L = 10**6 (l+1 after l, L last)."""
    if isinstance(index, int):
        return index
    index = sp.sympify(index)
    if index.is_Number:
        return int(index)
    values = {s: (10**6 if s.name == "L" else 1000) for s in index.free_symbols}
    return int(index.xreplace(values))


_KIND_RANK = {"delta": 0, "a": 1, "z": 2, "w": 3, "b": 3}


def _chain_position(factor: sp.Expr):
    """Where a factor stands in a product written in the order of the chain rule.

    The derivative of the cost comes first (a factor with a target or the cost in it), then the
    layers from the output backwards; within a layer the error, then the activation's slope
    (a, 1 − a or σ'(z): one factor, kept together), then the weight that leads to the layer before,
    so that the activation a weight comes from ends the product (δ σ'(z) a^{l−1}).
    """
    quantities = [q for q in factor.free_symbols if isinstance(q, Quantity)]
    if isinstance(factor, Partial):
        quantities = [q for q in factor.of.free_symbols if isinstance(q, Quantity)]
    if not quantities and not isinstance(factor, Partial):  # a constant such as η or λ leads
        return (-1, 0, 0)
    if any(q.kind in ("y", "C") for q in quantities) or (isinstance(factor, Partial) and factor.of == COST):
        return (0, 0, 0)
    layered = [(_layer_value(q.indices[0]), q.kind) for q in quantities if q.kind in _KIND_RANK]
    if any(q.kind == "x" for q in quantities):
        layered.append((0, "a"))
    if not layered:
        return (1, 0, 0)
    top = max(layer for layer, _ in layered)
    rank = min(_KIND_RANK[kind] for layer, kind in layered if layer == top)
    return (1, -top, rank)


def chain_ordered(expr: sp.Expr):
    """The factors of a plain product (no quotient, coefficient ±1) in chain-rule order, else None."""
    if not expr.is_Mul:
        return None
    coefficient, rest = expr.as_coeff_Mul()
    if coefficient not in (sp.S.One, sp.S.NegativeOne) or not rest.is_Mul:
        return None
    factors = rest.args
    if any(f.is_Pow and f.exp.is_negative for f in factors) or any(f.is_Number for f in factors):
        return None
    if not any(isinstance(f, Partial) or any(isinstance(q, Quantity) for q in f.free_symbols) for f in factors):
        return None  # no quantity of the network: nothing to order by the chain rule
    ordered = sorted(factors, key=lambda f: (_chain_position(f), sp.default_sort_key(f)))
    return coefficient, ordered


def _reading_order(term: sp.Expr):
    quantities = sorted(
        (_KIND_ORDER[q.kind], tuple(i if isinstance(i, int) else -1 for i in q.indices))
        for q in term.free_symbols if isinstance(q, Quantity)
    )
    return (tuple(quantities), sp.default_sort_key(term))


class _NotationMixin:
    """What both printers share: which letter, layer and subscripts a quantity gets."""

    #: ``inline``: set in running text, where a derivative is written ∂C/∂z and does not spread the lines apart
    #: ``activation``: the name of the activation every layer shares, which then names σ of a general statement
    _notation_settings = {"notation": "nielsen", "sizes": None, "shapes": False, "aligned": False, "inline": False,
                          "activation": None}
    unicode = False

    @property
    def notation(self) -> Notation:
        return notation(self._settings["notation"])

    def _letter(self, pair) -> str:
        return pair[1 if self.unicode else 0]

    #: activations written with their own name, also in their derivative (tanh', ReLU', not σ' = 1 − tanh²);
    #: sigmoid, identity and a generic activation take the notation's letter (σ, g or f)
    _OWN_NAMES = {"tanh": ("\\tanh", "tanh"), "relu": ("\\operatorname{ReLU}", "ReLU"),
                  "leaky_relu": ("\\operatorname{LeakyReLU}", "LeakyReLU"),
                  "softplus": ("\\operatorname{softplus}", "softplus")}

    def _activation_letter(self, function_name: str = "sigma") -> str:
        """The letter of an activation function (σ, g or f in the notation), or its own name where it has one.

        ``sigma`` is the activation of a general statement: the one every layer shares (setting ``activation``)
        where the document has one, else the notation's letter.
        """
        name = re.split(r"[(:]", function_name.rstrip("'"))[0]  # leaky_relu(slope=1/5), leaky_relu:0.2
        if name == "sigma" and self._settings["activation"]:
            name = re.split(r"[(:]", self._settings["activation"])[0]
        return self._letter(self._OWN_NAMES.get(name, self.notation.activation))

    #: the Jacobian of a softmax output is J, or 𝒥 where the notation's cost is J (Ng): one meaning per letter
    _JACOBIAN = {False: ("J", "J"), True: ("\\mathcal{J}", "𝒥")}

    def _jacobian_letter(self) -> str:
        return self._letter(self._JACOBIAN[self.notation.letters["C"][0] == "J"])

    def _print_MatrixSymbol(self, expr):
        """A matrix by its name; the Jacobian J by the notation's letter for it."""
        return self._jacobian_letter() if expr.name == "J" else super()._print_MatrixSymbol(expr)

    def _node(self, layer, neuron):
        sizes = self._settings["sizes"]
        if not isinstance(layer, int) or not isinstance(neuron, int):
            return neuron  # a general statement: the index names the node
        if not sizes:
            raise ValueError("the nodes notation needs the layer sizes (printer setting 'sizes')")
        return sum(sizes[:layer]) + neuron

    def _layer(self, canonical):
        """The printed layer of a canonical layer (an int or an expression)."""
        return sp.sympify(canonical) + self.notation.layer_offset if not isinstance(canonical, int) \
            else canonical + self.notation.layer_offset

    def quantity_parts(self, q: Quantity):
        """(letter, layer or None, subscripts) of a quantity in this notation; indices unprinted."""
        nt = self.notation
        letter = self._letter(nt.letters[q.kind])
        if q.kind in ("C", "lambda", "n"):
            return letter, None, list(q.indices)  # C_0: the cost without its regulariser
        if q.kind in ("x", "y"):
            return letter, None, [q.indices[0]]
        layer = q.indices[0]
        if q.kind == "m":
            if nt.layer_style == "subscript" or nt.size_subscript:
                return letter, None, [self._layer(layer)]
            return letter, self._layer(layer), []
        if q.kind == "w":
            j, k = q.indices[1:]
            if nt.global_nodes:
                return letter, None, [self._node(layer - 1, k), self._node(layer, j)]
            return letter, self._layer(layer + nt.weight_layer_shift), [j, k]
        j = q.indices[1]
        if q.kind == "b" and nt.bias_as_weight:
            return self._letter(nt.letters["w"]), self._layer(layer + nt.weight_layer_shift), [j, 0]
        if nt.layer_style == "subscript":
            return letter, None, [self._layer(layer), j]
        return letter, self._layer(layer), [j]

    def matrix_parts(self, m: LayerMatrix):
        """(letter, layer or None, subscripts) of a layer's vector or matrix."""
        nt = self.notation
        kind, layer = m.kind, m.layer
        if kind == "a" and layer == 0:
            kind = "x"
        if kind in ("x", "y"):
            return self._letter(nt.matrices[kind]), None, []
        if kind == "W" and nt.bias_as_weight is False and nt.global_nodes:
            return self._letter(nt.matrices["W"]), None, [self._layer(layer - 1)]  # seed 002's W_0, W_1
        shift = nt.weight_layer_shift if kind == "W" else 0
        if nt.layer_style == "subscript":
            return self._letter(nt.matrices[kind]), None, [self._layer(layer)]
        return self._letter(nt.matrices[kind]), self._layer(layer + shift), []

    def _index_expr(self, value):
        """An index as it should read: ``l + 1`` and ``l - 1``, the number last."""
        if isinstance(value, int) or not value.is_Add:
            return value
        numbers = [t for t in value.args if t.is_Number]
        others = [t for t in value.args if not t.is_Number]
        return sp.Add(*others, *numbers, evaluate=False)

    def _as_ordered_terms(self, expr, order=None):
        """Terms of a sum in reading order: by kind, then layer and index numerically (δ₂ before δ₁₀)."""
        if order == "none":
            return list(expr.args)
        if expr.free_symbols and all(s.is_integer for s in expr.free_symbols):  # index arithmetic: l + 1, not 1 + l
            return sorted(expr.args, key=lambda term: (term.is_Number, sp.default_sort_key(term)))
        return sorted(expr.args, key=_reading_order)

    @contextmanager
    def _without_shapes(self):
        """Print the inside of an annotated expression without annotating its parts again."""
        shapes = self._settings["shapes"]
        self._settings["shapes"] = False
        try:
            yield
        finally:
            self._settings["shapes"] = shapes

    def _derived(self, expr) -> str:
        """What ∂ applies to: a sum, product or quotient in brackets (∂(λ·Σw²/(2·n)), not ∂λ·Σw²/(2·n))."""
        shown = self._print(expr)
        return self._brackets(shown) if _compound(expr) else shown

    # ---------------------------------------------------------- display forms (symbols.py)

    def _print_WrittenSum(self, expr: WrittenSum) -> str:
        out = []
        for index, (sign, term) in enumerate(zip(expr.signs, expr.terms)):
            if (term.is_Mul or term.is_Number) and term.could_extract_minus_sign():
                sign, term = -sign, -term
            shown = self.parenthesize(term, PRECEDENCE["Add"], strict=False)
            if sign < 0:
                out.append(("-" if index == 0 else " - ") + shown)
            else:
                out.append(("" if index == 0 else " + ") + shown)
        return "".join(out)

    def _written_factors(self, expr: WrittenProduct) -> list[str]:
        return [self.parenthesize(f, PRECEDENCE["Mul"], strict=not isinstance(f, WrittenProduct))
                for f in expr.factors]

    # ---------------------------------------------------------- general statements (general.py)

    def _print_LayerRange(self, expr) -> str:
        """low ≤ variable ≤ high, or variable = low for a single layer."""
        variable, low, high = (self._index(x) for x in expr.args)
        if expr.args[1] == expr.args[2]:
            return "%s = %s" % (variable, low)
        return "%s %s %s %s %s" % (low, self._le, variable, self._le, high)

    def _print_Rewrite(self, expr) -> str:
        return "%s %s %s" % (self._print(expr.args[0]), self._mapsto, self._print(expr.args[1]))

    def _print_NodePath(self, expr) -> str:
        """A path through a computational graph (graph.py): b → c → e."""
        return self._to.join(self._print(s) for s in expr.args)

    # ---------------------------------------------------------- layered networks (model/layers.py)

    _SITE_LETTERS = {"x": ("x", "x"), "y": ("y", "y"), "z": ("z", "z"), "a": ("a", "a"), "delta": ("\\delta", "δ"),
                     "K": ("K", "K"), "b": ("b", "b"), "w": ("w", "w"), "W": ("W", "W"), "U": ("U", "U"),
                     "e": ("e", "e"), "C": ("C", "C"),
                     "gamma": ("\\gamma", "γ"), "beta": ("\\beta", "β"), "mu": ("\\mu", "μ"),
                     "sigma": ("\\sigma", "σ"), "xhat": ("\\hat{x}", "x̂"), "eps": ("\\varepsilon", "ε")}

    def _site_parts(self, kind, layer, subs):
        """(letter, layer or None, subscripts) of a layered quantity; layers are numbered as described.
        Batch normalisation's ε is written without its layer (a superscript on ε would read as a power)."""
        if kind == "a" and layer == 0 or kind == "eps":
            kind, layer = ("x" if kind == "a" else kind), None
        if kind in ("gamma", "beta", "mu", "sigma", "xhat") and layer is not None:
            # the layer in brackets: σ^(2) is batch normalisation's σ of layer 2, never a variance
            return self._letter(self._SITE_LETTERS[kind]) + self._bracketed_layer(layer), None, list(subs)
        return self._letter(self._SITE_LETTERS[kind]), layer, list(subs)

    def _print_Site(self, expr) -> str:
        return self._site(*self._site_parts(expr.kind, expr.layer, expr.position))

    def _print_FeatureMap(self, expr) -> str:
        kind, layer, channels = expr.kind, expr.args[1], expr.args[2:]
        if kind == "dsigma":
            return self._apply("%s'" % self._activation_letter(),
                               self._site(*self._site_parts("z", layer, channels)))
        return self._site(*self._site_parts(kind, layer, channels))

    def _print_SumOverIndex(self, expr) -> str:
        indices = ",".join(self._print(i) for i in expr.args[1:])
        return self._sum_over(indices, self.parenthesize(expr.args[0], PRECEDENCE["Mul"], strict=True))

    def _print_Indicator(self, expr) -> str:
        return self._bracketed(self._print(expr.args[0]))

    def _print_UnitStep(self, expr) -> str:
        return self._apply("H", self._print(expr.args[0]))

    def _print_LongSum(self, expr) -> str:
        rows = []
        for start in range(0, len(expr.terms), expr.per_row):
            row = ""
            for index, term in enumerate(expr.terms[start:start + expr.per_row]):
                negative = term.could_extract_minus_sign()
                shown = self.parenthesize(-term if negative else term, PRECEDENCE["Add"], strict=False)
                row += ("- " if negative else "+ " if index or start else "") + shown + " "
            rows.append(row.strip())
        return self._long_sum(rows)

    def _print_MapOperation(self, expr) -> str:
        op, args = expr.op, expr.operands
        shown = [self.parenthesize(a, PRECEDENCE["Mul"], strict=True) for a in args]
        if op in self._MAP_INFIX:
            return (" %s " % self._MAP_INFIX[op]).join(shown)
        if op == "transpose_times":
            return "%s %s" % (self._transposed(shown[0]), shown[1])
        name, scripted = self._MAP_NAMES[op]
        if scripted:  # dil_s; pad_p and crop_p on every side, or pad_{b,e} (b before, e after; a pair per axis)
            return self._apply(self._operator(name, ",".join(self._print(n) for n in args[1:])), self._print(args[0]))
        return self._apply(self._operator(name, None), self._print(args[0]))

    def _print_OrderedProduct(self, expr) -> str:
        """∏ over an index of matrix factors, in the order given (a recurrent layer's Jacobian over time)."""
        index, lower, upper, *factors = expr.args
        body = " ".join(self.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in factors)
        return self._product_over(self._print(index), self._index(lower), self._index(upper), body)


class LatexPrinter(_NotationMixin, _SympyLatexPrinter):
    """SymPy's LaTeX printer, writing the network's quantities in a notation.

    With the setting ``shapes=True``, every layer vector or matrix is annotated
    with its dimensions (``\\underbrace{δ^l}_{m^l × 1}``).
    """

    printmethod = None  # no expression prints itself: every class has a _print_<Class> method here
    _default_settings = {**_SympyLatexPrinter._default_settings, **_NotationMixin._notation_settings}

    def _index(self, value) -> str:
        if isinstance(value, int):
            return str(value)
        value = self._index_expr(value)
        return self._print_Add(value, order="none") if value.is_Add else self._print(value)

    def _scripts(self, letter, layer, subs) -> str:
        out = letter
        if layer is not None:
            shown = self._index(layer)
            out += "^{(%s)}" % shown if self.notation.layer_style == "paren" else "^{%s}" % shown
        if subs:
            parts = [self._index(s) for s in subs]
            out += "_{%s}" % ("".join(parts) if all(len(p) == 1 for p in parts) else ",".join(parts))
        return out

    def _print_Quantity(self, q: Quantity) -> str:
        return self._scripts(*self.quantity_parts(q))

    def _print_LayerMatrix(self, m: LayerMatrix) -> str:
        if m.kind == "dsigma":
            z = LayerMatrix("z", m.layer, *m.shape)
            body = r"%s'\left(%s\right)" % (self._activation_letter(), self._print_LayerMatrix_plain(z))
        elif m.kind == "grad_a":
            body = r"\nabla_{%s} %s" % (self._print_LayerMatrix_plain(LayerMatrix("a", m.layer, *m.shape)),
                                        self._letter(self.notation.letters["C"]))
        elif m.kind == "Wb":  # [Θ_{·0}  Θ]: the bias weights beside the weights
            weights = self._print_LayerMatrix_plain(LayerMatrix("W", m.layer, m.shape[0], m.shape[1] - 1))
            body = r"\left[\begin{matrix}%s_{\cdot 0} & %s\end{matrix}\right]" % (weights, weights)
        elif m.kind == "a1":  # [1; a]: the bias unit on top of the activations
            below = self._print_LayerMatrix_plain(LayerMatrix("a", m.layer, m.shape[0] - 1))
            body = r"\left[\begin{matrix}1 \\ %s\end{matrix}\right]" % below
        else:
            body = self._print_LayerMatrix_plain(m)
        return self._shape(body, m)

    def _print_LayerMatrix_plain(self, m: LayerMatrix) -> str:
        return self._scripts(*self.matrix_parts(m))

    def _shape(self, body: str, expr) -> str:
        if not self._settings["shapes"]:
            return body
        rows, cols = expr.shape
        return r"\underbrace{%s}_{%s \times %s}" % (body, self._dimension(rows), self._dimension(cols))

    def _dimension(self, size) -> str:
        """A size in a dimension: s^{(l)}, or (s^{(l)} + 1) with the number last and in brackets."""
        size = sp.sympify(size)
        return r"\left(%s\right)" % self._index(size) if size.is_Add else self._print(size)

    def _print_Transpose(self, expr):
        inner = expr.arg
        with self._without_shapes():
            body = self._print(inner)
        if not (isinstance(inner, LayerMatrix) and self.matrix_parts(inner)[1] is None or
                type(inner) is sp.MatrixSymbol):  # J^T, W_1^T; (w^{3})^T, (a + b)^T
            body = r"\left(%s\right)" % body
        return self._shape("%s^{T}" % body, expr)

    def _print_HadamardProduct(self, expr):
        return r" \odot ".join(self.parenthesize(a, PRECEDENCE["Mul"], strict=True) for a in expr.args)

    def _print_MatrixBase(self, expr):
        """A matrix; one of derivatives gets room between its rows (\\\\[6pt]), so that its fractions do not touch."""
        shown = super()._print_MatrixBase(expr)
        if any(isinstance(entry, Partial) for entry in expr) and shown.count(r"\begin{") == 1:
            shown = shown.replace("\\\\", "\\\\[6pt]")
        return shown

    def _print_Partial(self, e: Partial) -> str:
        if self._settings["inline"]:
            return r"\partial %s / \partial %s" % (self._derived(e.of), self._print(e.wrt))
        return r"\frac{\partial %s}{\partial %s}" % (self._derived(e.of), self._print(e.wrt))

    def _print_Chain(self, chain: Chain) -> str:
        links = _distinct(self._print(link) for link in chain.links)
        aligned = self._settings["aligned"]
        short = sum(visible_width(link) for link in links) <= SHORT_CHAIN  # fits on one line: a·b = 0.3·0.5 = 0.15
        if aligned == "row" or (aligned == "rows" and (len(links) == 2 or short)):  # one line of an align environment
            return " &= ".join([links[0], " = ".join(links[1:])]) if len(links) > 1 else links[0]
        if aligned and len(links) > 2:
            rows = [f"{links[0]} &= {links[1]}"] + [f"&= {link}" for link in links[2:]]
            if aligned == "rows":  # the lines of an align environment the caller opens
                return " \\\\\n".join(rows)
            return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"
        return " = ".join(links)

    def _print_Equality(self, expr):
        if self._settings["aligned"] in ("row", "rows"):
            return "%s &= %s" % (self._print(expr.lhs), self._print(expr.rhs))
        return super()._print_Relational(expr)

    def _print_SumOver(self, expr: SumOver) -> str:
        return r"\sum_{%s} %s" % (self._print(expr.args[1]), self.parenthesize(expr.args[0], PRECEDENCE["Mul"]))

    def _print_Shape(self, expr: Shape) -> str:
        rows, cols = expr.args
        if self.notation.real_spaces:  # ℝ^{M_l}, ℝ^{M_l × M_{l-1}}
            return r"\mathbb{R}^{%s}" % (self._print(rows) if cols == 1 else
                                         r"%s \times %s" % (self._print(rows), self._print(cols)))
        return r"%s \times %s" % (self._print(rows), self._print(cols))

    def _print_Aligned(self, expr: Aligned) -> str:
        rows = [f"{self._print(eq.lhs)} &= {self._print(eq.rhs)}" for eq in expr.args]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _print_Function(self, expr, exp=None):
        if isinstance(expr.func, sp.core.function.UndefinedFunction):
            prime = expr.func.__name__.endswith("'")
            out = "%s%s\\left(%s\\right)" % (self._activation_letter(expr.func.__name__), "'" if prime else "",
                                             ", ".join(self._print(a) for a in expr.args))
            return out if exp is None else "%s^{%s}" % (out, exp)
        return super()._print_Function(expr, exp)

    def _print_Piecewise(self, expr):
        """1[z > 0] for an indicator; otherwise the cases, each with its condition written as math, not in words
        ("otherwise" becomes z ≤ 0), so that a formula reads the same in every language."""
        indicator = _indicator(expr)
        if indicator is not None:
            return r"\mathbb{1}\left[%s\right]" % self._print(indicator)
        rows, earlier = [], []
        for piece, condition in expr.args:
            if condition == sp.true:
                condition = sp.And(*[sp.Not(c) for c in earlier]).simplify()
            rows.append(r"%s & %s" % (self._print(piece), self._print(condition)))
            earlier.append(condition)
        return r"\begin{cases} %s \end{cases}" % r" \\ ".join(rows)

    # ---------------------------------------------------------- display forms

    _le, _mapsto, _to = r"\le", r"\;\longmapsto\;", r" \to "

    # ---------------------------------------------------------- layered networks

    _MAP_INFIX = {"full": r"\star_{\mathrm{full}}", "valid": r"\star", "hadamard": r"\odot"}
    _MAP_NAMES = {"rot180": ("rot180", False), "dilate": ("dil", True), "crop": ("crop", True), "pad": ("pad", True),
                  "upsample_max": ("route_max", False), "upsample_mean": ("spread_mean", False),
                  "unflatten": ("unflatten", False), "sigma_prime": ("sigma_prime", False), "diag": ("diag", False)}
    _OPERATOR_TEX = {"rot180": r"\operatorname{rot}_{180}", "dil": r"\operatorname{dil}", "crop": r"\operatorname{crop}",
                     "pad": r"\operatorname{pad}", "route_max": r"\operatorname{route}_{\max}",
                     "spread_mean": r"\operatorname{spread}_{\mathrm{mean}}", "unflatten": r"\operatorname{unflatten}",
                     "sigma_prime": None, "diag": r"\operatorname{diag}"}

    def _bracketed_layer(self, layer) -> str:
        return "^{(%s)}" % self._index(layer)

    def _site(self, letter, layer, subs) -> str:
        out = letter
        if layer is not None:
            out += "^{%s}" % self._index(layer)
        if subs:
            out += "_{%s}" % ",".join(self._index(s) for s in subs)
        return out

    def _apply(self, name, argument) -> str:
        return r"%s\left(%s\right)" % (name, argument)

    def _operator(self, name, script) -> str:
        tex = self._OPERATOR_TEX[name] or r"%s'" % self._activation_letter()
        return tex if script is None else "%s_{%s}" % (tex, script)

    def _sum_over(self, indices, term) -> str:
        return r"\sum_{%s} %s" % (indices, term)

    def _product_over(self, index, lower, upper, body) -> str:
        return r"\prod_{%s=%s}^{%s} %s" % (index, lower, upper, body)

    def _bracketed(self, shown) -> str:
        return r"\left[%s\right]" % shown

    def _long_sum(self, rows) -> str:
        if len(rows) == 1:
            return rows[0]
        return "\\begin{aligned}\n&" + " \\\\\n&".join(rows) + "\n\\end{aligned}"

    def _transposed(self, shown) -> str:
        return r"\left(%s\right)^{T}" % shown

    def _brackets(self, shown: str) -> str:
        return r"\left(%s\right)" % shown

    def _print_WrittenProduct(self, expr: WrittenProduct) -> str:
        factors, shown = expr.factors, self._written_factors(expr)
        out = shown[0]
        for left, factor, tex in zip(factors, factors[1:], shown[1:]):
            dot = expr.dotted or left.is_Number or factor.is_Number or tex[:1].isdigit() or tex.startswith("-")
            out += (r" \cdot " if dot else " ") + tex
        return out

    def _print_Sum(self, expr):
        """A sum over several indices as nested sums, outermost first: Σ_p Σ_q Σ_r, not a stack of ranges."""
        if len(expr.limits) == 1:
            return super()._print_Sum(expr)
        signs = " ".join(r"\sum_{%s=%s}^{%s}" % (self._print(i), self._index(lo), self._index(hi))
                         for i, lo, hi in reversed(expr.limits))
        body = self._print(expr.function)
        return "%s %s" % (signs, r"\left(%s\right)" % body if expr.function.is_Add else body)

    def _print_Mul(self, expr):
        """A product in the order of the chain rule (see :func:`chain_ordered`); SymPy's order otherwise.

        A quotient with a sum in its numerator puts the sum after the fraction: λ/(2n) Σ w², not (λ Σ w²)/(2n).
        """
        numerator, denominator = sp.fraction(expr, exact=True)
        sums = [f for f in sp.Mul.make_args(numerator) if isinstance(f, (sp.Sum, SumOver))]
        if denominator != 1 and sums and not expr.could_extract_minus_sign():
            rest = sp.Mul(*[f for f in sp.Mul.make_args(numerator) if f not in sums])
            return r"\frac{%s}{%s} %s" % (self._print(rest), self._print(denominator),
                                          " ".join(self._print(f) for f in sums))
        ordered = chain_ordered(expr)
        if ordered is None:
            return super()._print_Mul(expr)
        coefficient, factors = ordered
        shown = [r"\left(%s\right)" % self._print(f) if self._needs_mul_brackets(f, first=(n == 0),
                                                                           last=(n == len(factors) - 1))
                 else self._print(f) for n, f in enumerate(factors)]
        return ("- " if coefficient == -1 else "") + " ".join(shown)

    def _print_Sigmoid(self, expr, exp=None) -> str:
        """σ(u) of a computational graph (graph.py)."""
        out = r"\sigma\left(%s\right)" % self._print(expr.args[0])
        return out if exp is None else "%s^{%s}" % (out, exp)

    def _print_GradientOf(self, expr) -> str:
        with self._without_shapes():
            inner = self._print(expr.of)
        return self._shape(r"\frac{\partial %s}{\partial %s}" % (self._print(COST), inner), expr)

    def _print_Entry(self, expr) -> str:
        """(X)_{jk}: an entry of a matrix expression (general.py)."""
        with self._without_shapes():
            body = self._print(expr.args[0])
            indices = [self._print(x) for x in expr.args[1:]]
        joined = ",".join(indices) if any(len(x) > 1 for x in indices) else "".join(indices)
        return r"\left(%s\right)_{%s}" % (body, joined)

    def _print_Jacobian(self, expr) -> str:
        """J^L, the output activation's Jacobian (general.py)."""
        return self._shape(self._scripts(self._jacobian_letter(), self._layer(expr.args[0]), []), expr)

    def _print_IndexDelta(self, expr) -> str:
        """The Kronecker delta δ_{ij} (general.py)."""
        indices = [self._index(x) for x in expr.args]
        return r"\delta_{%s}" % ("".join(indices) if all(len(x) == 1 for x in indices) else ",".join(indices))

    # ---------------------------------------------------------- gradient diffusion (diffusion.py)

    def _print_FiniteSet(self, s) -> str:
        """{0, 1} with \\lbrace and \\rbrace: Markdown would eat the backslash of \\{ in inline math on GitHub."""
        items = ", ".join(self._print(x) for x in sorted(s.args, key=sp.default_sort_key))
        return r"\left\lbrace %s\right\rbrace" % items

    def _print_Norm(self, expr) -> str:
        # \lVert, not \|: Markdown would eat the backslash of \| in inline math on GitHub
        body = r"\left\lVert %s \right\rVert" % self._print(expr.args[0])
        return body + ("_{%s}" % expr.kind if expr.kind else "")

    def _print_MaxOver(self, expr) -> str:
        return r"\max_{%s} %s" % (self._print(expr.args[1]), self._print(expr.args[0]))

    def _print_ProductOver(self, expr) -> str:
        term, index, lower, upper = expr.args
        return r"\prod_{%s=%s}^{%s} \left(%s\right)" % (
            self._print(index), self._index(lower), self._index(upper), self._print(term))

    def _print_Ratio(self, expr) -> str:
        return r"\frac{%s}{%s}" % (self._print(expr.args[0]), self._print(expr.args[1]))


class TextPrinter(_NotationMixin, StrPrinter):
    """Readable Unicode math for the terminal: w²₁₃, ∂C/∂a²₁, σ'(z²₁)."""

    printmethod = None  # no expression prints itself: every class has a _print_<Class> method here
    _default_settings = {**StrPrinter._default_settings, **_NotationMixin._notation_settings}
    unicode = True

    _SUP = str.maketrans("0123456789()+-=lLjkm", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁺⁻⁼ˡᴸʲᵏᵐ")  # noqa: RUF001
    _SUB = str.maketrans("0123456789()+-=ljkm", "₀₁₂₃₄₅₆₇₈₉₍₎₊₋₌ₗⱼₖₘ")

    def _index(self, value) -> str:
        if isinstance(value, int):
            return str(value)
        value = self._index_expr(value)
        return self._print_Add(value, order="none") if value.is_Add else self._print(value)

    def _script(self, value, table) -> str | None:
        shown = self._index(value).replace(" ", "")
        converted = shown.translate(table)
        return converted if all(not c.isascii() or c in "," for c in converted) else None

    def _scripts(self, letter, layer, subs) -> str:
        out = letter
        if layer is not None:
            if self.notation.layer_style == "paren":
                layer = sp.Symbol("(%s)" % self._index(layer))
            sup = self._script(layer, self._SUP)
            out += sup if sup is not None else "^(%s)" % self._index(layer)
        if subs:
            shown = [self._index(s).replace(" ", "") for s in subs]
            if all(len(s) == 1 for s in shown):
                sub = self._script(sp.Symbol("".join(shown)), self._SUB)
                out += sub if sub is not None else "_" + "".join(shown)
            else:
                out += "_(" + ",".join(shown) + ")"
        return out

    def _print_Symbol(self, expr):
        """A symbol by its name; a Greek letter's name as the letter (eta → η), as LaTeX writes \\eta."""
        return greek_unicode.get(expr.name, expr.name)

    def _print_Quantity(self, q: Quantity) -> str:
        return self._scripts(*self.quantity_parts(q))

    def _print_MatrixBase(self, expr) -> str:
        """An explicit matrix row by row, rows separated by semicolons: [a³₁ - y₁; a³₂ - y₂]."""
        rows = [", ".join(self._print(expr[r, c]) for c in range(expr.cols)) for r in range(expr.rows)]
        return "[%s]" % "; ".join(rows)

    _print_ImmutableDenseMatrix = _print_MutableDenseMatrix = _print_MatrixBase

    def _print_LayerMatrix(self, m: LayerMatrix) -> str:
        if m.kind == "dsigma":
            body = "%s'(%s)" % (self._activation_letter(), self._scripts(*self.matrix_parts(LayerMatrix("z", m.layer, *m.shape))))
        elif m.kind == "grad_a":
            body = "∇_%s %s" % (self._scripts(*self.matrix_parts(LayerMatrix("a", m.layer, *m.shape))),
                                self._letter(self.notation.letters["C"]))
        elif m.kind == "Wb":
            weights = self._scripts(*self.matrix_parts(LayerMatrix("W", m.layer, m.shape[0], m.shape[1] - 1)))
            body = "[%s_·0, %s]" % (weights, weights)
        elif m.kind == "a1":
            body = "[1; %s]" % self._scripts(*self.matrix_parts(LayerMatrix("a", m.layer, m.shape[0] - 1)))
        else:
            body = self._scripts(*self.matrix_parts(m))
        return self._shape(body, m)

    def _shape(self, body: str, expr) -> str:
        if not self._settings["shapes"]:
            return body
        rows, cols = expr.shape
        return "%s[%s×%s]" % (body, self._dimension(rows), self._dimension(cols))

    def _dimension(self, size) -> str:
        size = sp.sympify(size)
        return "(%s)" % self._index(size) if size.is_Add else self._print(size)

    def _print_Transpose(self, expr):
        with self._without_shapes():
            body = "%sᵀ" % self.parenthesize(expr.arg, PRECEDENCE["Pow"])
        return self._shape(body, expr)

    def _print_Equality(self, expr):
        return "%s = %s" % (self._print(expr.lhs), self._print(expr.rhs))

    _RELATIONS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">", "!=": "≠"}

    def _print_Relational(self, expr):
        """j ≤ mᴸ, not j <= mᴸ."""
        if expr.rel_op not in self._RELATIONS:
            return super()._print_Relational(expr)
        level = precedence(expr)
        return "%s %s %s" % (self.parenthesize(expr.lhs, level), self._RELATIONS[expr.rel_op],
                             self.parenthesize(expr.rhs, level))

    def _print_Sum(self, expr):
        limits = "".join(
            "_(%s=%s..%s)" % (self._print(v), self._print(lo), self._print(hi)) for v, lo, hi in expr.limits)
        return "Σ%s %s" % (limits, self.parenthesize(expr.function, PRECEDENCE["Mul"]))

    def _print_HadamardProduct(self, expr):
        return " ⊙ ".join(self.parenthesize(a, PRECEDENCE["Mul"], strict=True) for a in expr.args)

    def _print_MatMul(self, expr):
        return " ".join(self.parenthesize(a, PRECEDENCE["Mul"], strict=True) for a in expr.args)

    def _print_Partial(self, e: Partial) -> str:
        return "∂%s/∂%s" % (self._derived(e.of), self._print(e.wrt))

    def _print_Chain(self, chain: Chain) -> str:
        return " = ".join(_distinct(self._print(link) for link in chain.links))

    def _print_SumOver(self, expr: SumOver) -> str:
        return "Σ_%s %s" % (self._print(expr.args[1]), self.parenthesize(expr.args[0], PRECEDENCE["Mul"]))

    def _print_Shape(self, expr: Shape) -> str:
        rows, cols = expr.args
        if self.notation.real_spaces:
            return "ℝ^%s" % (self._print(rows) if cols == 1 else "(%s×%s)" % (self._print(rows), self._print(cols)))
        return "%s×%s" % (self._print(rows), self._print(cols))

    def _print_Aligned(self, expr: Aligned) -> str:
        return "\n".join(self._print(eq) for eq in expr.args)

    def _print_Function(self, expr):
        if isinstance(expr.func, sp.core.function.UndefinedFunction):
            prime = expr.func.__name__.endswith("'")
            return "%s%s(%s)" % (self._activation_letter(expr.func.__name__), "'" if prime else "",
                                 ", ".join(self._print(a) for a in expr.args))
        return super()._print_Function(expr)

    def _print_Piecewise(self, expr):
        """[z > 0] for an indicator; otherwise the cases {z, z > 0; 0, z ≤ 0}, each with its condition."""
        indicator = _indicator(expr)
        if indicator is not None:
            return "[%s]" % self._print(indicator)
        cases, earlier = [], []
        for piece, condition in expr.args:
            if condition == sp.true:  # "otherwise": none of the conditions before it holds
                condition = sp.And(*[sp.Not(c) for c in earlier]).simplify()
            cases.append("%s, %s" % (self._print(piece), self._print(condition)))
            earlier.append(condition)
        return "{%s}" % "; ".join(cases)

    # ---------------------------------------------------------- display forms

    _le, _mapsto, _to = "≤", "⟼", " → "

    # ---------------------------------------------------------- layered networks

    _MAP_INFIX = {"full": "⋆full", "valid": "⋆", "hadamard": "⊙"}
    _MAP_NAMES = LatexPrinter._MAP_NAMES
    _OPERATOR_TEXT = {"rot180": "rot180", "dil": "dil", "crop": "crop", "pad": "pad", "route_max": "route_max",
                      "spread_mean": "spread_mean", "unflatten": "unflatten", "sigma_prime": None, "diag": "diag"}

    def _bracketed_layer(self, layer) -> str:
        sup = self._script(layer, self._SUP)
        return "⁽%s⁾" % sup if sup is not None else "^(%s)" % self._index(layer)

    def _site(self, letter, layer, subs) -> str:
        out = letter
        if layer is not None:
            sup = self._script(layer, self._SUP)
            out += sup if sup is not None else "^(%s)" % self._index(layer)
        if subs:
            one = self._index(subs[0]).replace(" ", "")
            out += "_(%s)" % ",".join(self._index(s).replace(" ", "") for s in subs) if len(subs) > 1 \
                else "_(%s)" % one if any(op in one for op in "+-") else "_%s" % one
        return out

    def _apply(self, name, argument) -> str:
        return "%s(%s)" % (name, argument)

    def _operator(self, name, script) -> str:
        text = self._OPERATOR_TEXT[name] or "%s'" % self._activation_letter()
        return text if script is None else "%s_%s" % (text, script) if "," not in script else "%s_(%s)" % (text, script)

    def _sum_over(self, indices, term) -> str:
        return "Σ_(%s) %s" % (indices, term)

    def _product_over(self, index, lower, upper, body) -> str:
        return "∏_(%s=%s..%s) %s" % (index, lower, upper, body)

    def _bracketed(self, shown) -> str:
        return "[%s]" % shown

    def _long_sum(self, rows) -> str:
        return " ".join(rows)

    def _transposed(self, shown) -> str:
        return "(%s)ᵀ" % shown

    def _brackets(self, shown: str) -> str:
        return "(%s)" % shown

    def _print_WrittenProduct(self, expr: WrittenProduct) -> str:
        # 1/2·1/4 would read as 1/(2·1)/4: a fraction in a product gets brackets
        shown = [self.parenthesize(f, PRECEDENCE["Pow"]) if f.is_Rational and not f.is_Integer else tex
                 for f, tex in zip(expr.factors, self._written_factors(expr))]
        return "·".join(shown)

    def _print_Sigmoid(self, expr) -> str:
        """σ(u) of a computational graph (graph.py)."""
        return "σ(%s)" % self._print(expr.args[0])

    def _print_GradientOf(self, expr) -> str:
        with self._without_shapes():
            body = "∂%s/∂%s" % (self._print(COST), self._print(expr.of))
        return self._shape(body, expr)

    def _print_Entry(self, expr) -> str:
        """(X)_j,k: an entry of a matrix expression (general.py)."""
        with self._without_shapes():
            body = self._print(expr.args[0])
            indices = [self._print(x) for x in expr.args[1:]]
        return "(%s)_%s" % (body, ",".join(indices))

    def _print_Jacobian(self, expr) -> str:
        """Jᴸ, the output activation's Jacobian (general.py)."""
        return self._shape(self._scripts(self._jacobian_letter(), self._layer(expr.args[0]), []), expr)

    def _print_IndexDelta(self, expr) -> str:
        """The Kronecker delta δ_(i,j) (general.py)."""
        return "δ_(%s)" % ",".join(self._index(x).replace(" ", "") for x in expr.args)

    # ---------------------------------------------------------- gradient diffusion (diffusion.py)

    def _print_Norm(self, expr) -> str:
        return "‖%s‖%s" % (self._print(expr.args[0]), "_" + expr.kind if expr.kind else "")

    def _print_MaxOver(self, expr) -> str:
        return "max_%s %s" % (self._print(expr.args[1]), self._print(expr.args[0]))

    def _print_ProductOver(self, expr) -> str:
        term, index, lower, upper = expr.args
        return "∏_(%s=%s..%s) (%s)" % (self._print(index), self._index(lower), self._index(upper), self._print(term))

    def _print_Ratio(self, expr) -> str:
        return "%s / (%s)" % (self._print(expr.args[0]), self._print(expr.args[1]))

    def _print_Mul(self, expr):
        ordered = chain_ordered(expr)
        if ordered is None:
            return super()._print_Mul(expr).replace("*", "·")
        coefficient, factors = ordered
        shown = "·".join(self.parenthesize(f, PRECEDENCE["Mul"]) for f in factors)
        return ("-" if coefficient == -1 else "") + shown

    def _print_Pow(self, expr, rational=False):
        if expr.exp.is_Integer and expr.exp > 1:
            return "%s%s" % (self.parenthesize(expr.base, PRECEDENCE["Pow"]), str(expr.exp).translate(self._SUP))
        return super()._print_Pow(expr, rational).replace("**", "^")


#: a chain whose links add up to at most this many visible characters is set on one line of an align
SHORT_CHAIN = 72


def visible_width(tex: str) -> int:
    """About how many characters wide a formula sets: commands, braces, scripts' markers and spaces count nothing,
    a fraction counts its wider part."""
    while True:
        match = re.search(r"\\frac\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", tex)
        if not match:
            break
        wider = max(match.group(1), match.group(2), key=len)
        tex = tex[:match.start()] + wider + tex[match.end():]
    shown = re.sub(r"\\(?:left|right|partial|cdot)|\\[a-zA-Z]+|[{}^_ ]", lambda m: "x" if m.group(0) in (
        "\\partial", "\\cdot") else "", tex)
    return len(shown) + sum(1 for c in shown if ord(c) >= 0x2E80)  # a Chinese character is two wide


def _distinct(shown) -> list[str]:
    """Printed links without a link that repeats the one before it: a chain never shows a line twice."""
    out = []
    for link in shown:
        if not out or link != out[-1]:
            out.append(link)
    return out


def _compound(expr) -> bool:
    """Whether ``expr`` needs brackets after ∂: a sum, a product, a quotient, a root; not w, σ(z) or w²."""
    if expr.is_Pow:
        return not (expr.exp.is_Integer and expr.exp > 0)
    return precedence(expr) < PRECEDENCE["Pow"]


def _indicator(expr: sp.Piecewise):
    """The condition of a Piecewise that is 1 where it holds and 0 elsewhere, else None."""
    if len(expr.args) == 2 and expr.args[0].expr == 1 and expr.args[1].expr == 0 and expr.args[1].cond == sp.true:
        return expr.args[0].cond
    return None


def latex(expr, notation: str = "nielsen", sizes=None, **settings) -> str:
    """LaTeX for ``expr`` in a notation (``sizes`` is needed by the nodes notation)."""
    return _printed(LatexPrinter, expr, notation, sizes, settings)


def text(expr, notation: str = "nielsen", sizes=None, **settings) -> str:
    """Unicode text for ``expr`` in a notation."""
    return _printed(TextPrinter, expr, notation, sizes, settings)


def _printed(printer, expr, notation, sizes, settings: dict) -> str:
    """``expr`` printed by a fresh ``printer``; the same formula in the same settings is printed once.

    A document prints its formulas again for every Markdown flavour and language, and every
    printer starts afresh, so the text depends only on the expression (of its type, as SymPy
    compares them) and the settings. What cannot be a dictionary key is printed every time.
    """
    try:
        key = (printer, type(expr), expr, notation, tuple(sizes) if sizes is not None else None,
               tuple(sorted(settings.items())))
        return _PRINTED[key]
    except KeyError:
        pass
    except TypeError:  # unhashable: a list, a dict of settings
        return printer({"notation": notation, "sizes": sizes, **settings}).doprint(expr)
    if len(_PRINTED) >= _PRINTED_LIMIT:
        _PRINTED.clear()
    printed = _PRINTED[key] = printer({"notation": notation, "sizes": sizes, **settings}).doprint(expr)
    return printed


#: formulas already printed, by printer, expression and settings (emptied when it reaches the limit)
_PRINTED: dict = {}
_PRINTED_LIMIT = 50_000
