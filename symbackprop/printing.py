"""One notation-aware printer, for LaTeX and for the terminal.

A :class:`Notation` says how each canonical quantity is written in one of the
conventions of the literature: its letter, how its layer is numbered and where
the layer goes. The two printers, :class:`LatexPrinter` (a SymPy
``LatexPrinter``) and :class:`TextPrinter` (a SymPy ``StrPrinter`` that writes
Unicode), only differ in how they set a letter, a superscript and a subscript.
No LaTeX is assembled anywhere else.

>>> from symbackprop.symbols import Quantity
>>> latex(Quantity("w", 2, 1, 3))
'w^{3}_{13}'
>>> latex(Quantity("w", 2, 1, 3), notation="ng")
'\\\\Theta^{(2)}_{13}'
>>> text(Quantity("delta", 1, 2))
'δ²₂'
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.latex import LatexPrinter as _SympyLatexPrinter
from sympy.printing.str import StrPrinter

from .errors import SpecError, unknown_name
from .symbols import Partial, Quantity


@dataclass(frozen=True)
class Notation:
    """How one convention writes the canonical quantities.

    ``layer_offset`` is added to a canonical layer (input = 0) to get the printed
    layer; ``layer_style`` is ``"plain"`` (w^l), ``"paren"`` (Θ^{(l)}) or
    ``"subscript"`` (z_{lj}, the layer first among the indices). ``letters`` maps
    a kind to its (LaTeX, Unicode) letter.
    """

    name: str
    layer_offset: int
    layer_style: str
    letters: dict
    activation: tuple[str, str]
    cost: tuple[str, str]
    #: Ng's weights map layer l to l+1 and are numbered by their source layer
    weight_layer_shift: int = 0
    #: the nodes convention numbers neurons across the whole network
    global_nodes: bool = False
    #: Ng writes a bias as the weight from the bias unit 0
    bias_as_weight: bool = False


def _letters(**overrides):
    base = {
        "x": ("x", "x"), "y": ("y", "y"), "w": ("w", "w"), "b": ("b", "b"), "z": ("z", "z"),
        "a": ("a", "a"), "delta": ("\\delta", "δ"), "C": ("C", "C"), "lambda": ("\\lambda", "λ"),
        "n": ("n", "n"),
    }
    base.update(overrides)
    return base


NOTATIONS = {
    "nielsen": Notation("nielsen", 1, "plain", _letters(), ("\\sigma", "σ"), ("C", "C")),
    "ng": Notation("ng", 1, "paren", _letters(w=("\\Theta", "Θ"), C=("J", "J"), n=("m", "m")),
                   ("g", "g"), ("J", "J"), weight_layer_shift=-1, bias_as_weight=True),
    "qiu": Notation("qiu", 0, "paren", _letters(w=("W", "W"), y=("y", "y"), C=("\\mathcal{L}", "ℒ"), n=("N", "N")),
                    ("f", "f"), ("\\mathcal{L}", "ℒ")),
    "nodes": Notation("nodes", 0, "subscript",
                      _letters(x=("\\hat{x}", "x̂"), y=("\\hat{y}", "ŷ"), a=("y", "y")),
                      ("f", "f"), ("C", "C"), global_nodes=True),
}


def notation(name: str) -> Notation:
    """Look up a notation by name."""
    if isinstance(name, Notation):
        return name
    if name not in NOTATIONS:
        raise SpecError(unknown_name("notation", name, NOTATIONS))
    return NOTATIONS[name]


class _NotationMixin:
    """What both printers share: which letter, superscript and subscripts a quantity gets."""

    #: settings of both printers: the notation, the layer sizes (for the nodes convention)
    _notation_settings = {"notation": "nielsen", "sizes": None}

    @property
    def notation(self) -> Notation:
        return notation(self._settings["notation"])

    def _node(self, layer: int, neuron: int) -> int:
        sizes = self._settings["sizes"]
        if not sizes:
            raise ValueError("the nodes notation needs the layer sizes (printer setting 'sizes')")
        return sum(sizes[:layer]) + neuron

    def quantity_parts(self, q: Quantity, unicode: bool) -> tuple[str, str | None, list[str]]:
        """(letter, layer superscript or None, subscripts) of a quantity in this notation."""
        nt = self.notation
        letter = nt.letters[q.kind][1 if unicode else 0]
        if q.kind in ("C", "lambda", "n"):
            return letter, None, []
        if q.kind in ("x", "y"):
            return letter, None, [str(q.indices[0])]
        layer = q.indices[0]
        if q.kind == "w":
            j, k = q.indices[1:]
            if nt.global_nodes:
                return letter, None, [str(self._node(layer - 1, k)), str(self._node(layer, j))]
            return letter, self._layer(layer + nt.weight_layer_shift), [str(j), str(k)]
        j = q.indices[1]
        if q.kind == "b" and nt.bias_as_weight:
            return nt.letters["w"][1 if unicode else 0], self._layer(layer + nt.weight_layer_shift), [str(j), "0"]
        if nt.layer_style == "subscript":
            return letter, None, [str(layer + nt.layer_offset), str(j)]
        return letter, self._layer(layer), [str(j)]

    def _layer(self, canonical: int) -> str:
        nt = self.notation
        number = canonical + nt.layer_offset
        return f"({number})" if nt.layer_style == "paren" else str(number)

    def _as_ordered_terms(self, expr, order=None):
        """Terms of a sum in reading order: by kind, then layer and index numerically (δ₂ before δ₁₀)."""
        return sorted(expr.args, key=_reading_order)

    def activation_name(self, func, unicode: bool) -> tuple[str, bool]:
        """The printed name of an opaque activation function and whether it is a derivative."""
        name = func.__name__
        prime = name.endswith("'")
        return self.notation.activation[1 if unicode else 0], prime


class LatexPrinter(_NotationMixin, _SympyLatexPrinter):
    """SymPy's LaTeX printer, writing the network's quantities in a notation."""

    printmethod = "_symbackprop_latex"
    _default_settings = {**_SympyLatexPrinter._default_settings, **_NotationMixin._notation_settings}

    def _print_Quantity(self, q: Quantity) -> str:
        letter, sup, subs = self.quantity_parts(q, unicode=False)
        out = letter
        if sup is not None:
            out += "^{%s}" % sup
        if subs:
            out += "_{%s}" % ("".join(subs) if all(len(s) == 1 for s in subs) else ",".join(subs))
        return out

    def _print_Partial(self, e: Partial) -> str:
        return r"\frac{\partial %s}{\partial %s}" % (self._print(e.of), self._print(e.wrt))

    def _print_Function(self, expr, exp=None):
        if isinstance(expr.func, sp.core.function.UndefinedFunction):
            letter, prime = self.activation_name(expr.func, unicode=False)
            out = "%s%s\\left(%s\\right)" % (letter, "'" if prime else "", ", ".join(self._print(a) for a in expr.args))
            return out if exp is None else "%s^{%s}" % (out, exp)
        return super()._print_Function(expr, exp)

    def _print_Piecewise(self, expr):
        indicator = _indicator(expr)
        if indicator is not None:
            return r"\mathbb{1}\left[%s\right]" % self._print(indicator)
        return super()._print_Piecewise(expr)


class TextPrinter(_NotationMixin, StrPrinter):
    """Readable Unicode math for the terminal: w²₁₃, ∂C/∂a²₁, σ'(z²₁)."""

    printmethod = "_symbackprop_text"
    _default_settings = {**StrPrinter._default_settings, **_NotationMixin._notation_settings}

    _SUP = str.maketrans("0123456789()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾")
    _SUB = str.maketrans("0123456789()", "₀₁₂₃₄₅₆₇₈₉₍₎")

    def _print_Quantity(self, q: Quantity) -> str:
        letter, sup, subs = self.quantity_parts(q, unicode=True)
        out = letter
        if sup is not None:
            out += sup.translate(self._SUP)
        if subs:
            if all(len(s) == 1 for s in subs):
                out += "".join(subs).translate(self._SUB)
            else:
                out += "_(" + ",".join(subs) + ")"
        return out

    def _print_Partial(self, e: Partial) -> str:
        return "∂%s/∂%s" % (self._print(e.of), self._print(e.wrt))

    def _print_Function(self, expr):
        if isinstance(expr.func, sp.core.function.UndefinedFunction):
            letter, prime = self.activation_name(expr.func, unicode=True)
            return "%s%s(%s)" % (letter, "'" if prime else "", ", ".join(self._print(a) for a in expr.args))
        return super()._print_Function(expr)

    def _print_Piecewise(self, expr):
        indicator = _indicator(expr)
        if indicator is not None:
            return "[%s]" % self._print(indicator)
        return super()._print_Piecewise(expr)

    def _print_Mul(self, expr):
        return super()._print_Mul(expr).replace("*", "·")

    def _print_Pow(self, expr, rational=False):
        if expr.exp.is_Integer and expr.exp > 1:
            return "%s%s" % (self.parenthesize(expr.base, sp.printing.precedence.PRECEDENCE["Pow"]),
                             str(expr.exp).translate(self._SUP))
        return super()._print_Pow(expr, rational).replace("**", "^")


_KIND_ORDER = {kind: i for i, kind in enumerate(("a", "z", "delta", "w", "b", "x", "y", "C", "lambda", "n"))}


def _reading_order(term: sp.Expr):
    quantities = sorted(
        (_KIND_ORDER[q.kind], q.indices) for q in term.free_symbols if isinstance(q, Quantity)
    )
    return (tuple(quantities), sp.default_sort_key(term))


def _indicator(expr: sp.Piecewise):
    """The condition of a Piecewise that is 1 where it holds and 0 elsewhere, else None."""
    if len(expr.args) == 2 and expr.args[0].expr == 1 and expr.args[1].expr == 0 and expr.args[1].cond == sp.true:
        return expr.args[0].cond
    return None


def layer_number(canonical: int, notation_name: str = "nielsen") -> int:
    """The number a notation gives to canonical layer ``canonical`` (the input is canonical layer 0)."""
    return canonical + notation(notation_name).layer_offset


def latex(expr, notation: str = "nielsen", sizes=None, **settings) -> str:
    """LaTeX for ``expr`` in a notation (``sizes`` is needed by the nodes notation)."""
    return LatexPrinter({"notation": notation, "sizes": sizes, **settings}).doprint(expr)


def text(expr, notation: str = "nielsen", sizes=None, **settings) -> str:
    """Unicode text for ``expr`` in a notation."""
    return TextPrinter({"notation": notation, "sizes": sizes, **settings}).doprint(expr)
