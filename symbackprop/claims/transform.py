"""The grammar's transformer: the parse tree of a formula as SymPy values, against a symbol table.

Each rule of ``formula.lark`` has a method of :class:`_Reader` that gives its value: a SymPy
expression over the engine's :class:`~symbackprop.model.symbols.Quantity` symbols, or an
``ImmutableMatrix`` for vectors and matrices. Products, sums and element-wise products check the
shapes of their operands (a mismatch is a :class:`Mismatch`, repaired when a claim is read with
repairs); sums over an index are expanded, their ranges read from the limits or from the symbols
they sum; derivatives written ∂C/∂w, dC/dw or ∇_W C become :class:`~symbackprop.model.symbols.Partial`.
Values are built by SymPy's constructors only; nothing written is evaluated or given to SymPy's parsers.
Work is bounded: sums expanding to more than :data:`MAX_TERMS` terms, exponents outside
±:data:`~symbackprop.claims.reading.MAX_EXPONENT` and numbers of more than
:data:`~symbackprop.claims.reading.MAX_DIGITS` digits are refused before they are computed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp
from lark import Token, Tree

from ..documents.printing import layer_number, notation as lookup_notation
from ..model.activations import activation as activation_rule, opaque_functions
from ..model.symbols import COST, UNREGULARISED, LayerMatrix, Partial, Quantity
from .lexing import _NAME, _WORDS, _token
from .reading import MAX_DIGITS, MAX_EXPONENT, FormulaError, exact_number, place, span
from .symbol_table import (
    _INDEX_NAMES, _IndexReader, _Table, _Unbound, _generic, _group_items, _letter_text, _owner_layer, _ranges,
    _splits, _symbol_parts,
)

#: what a written * means: a product like \\cdot (the default), or the element-wise product, as seed 002
#: writes it (there × is the matrix product)
STARS = ("product", "hadamard")
#: most terms that expanding the sums of one formula may produce
MAX_TERMS = 20000

SIGMA, SIGMA_PRIME = opaque_functions("sigma")
#: activations a claim may name (\operatorname{ReLU}'(z)): each reads as that rule's function
_NAMED_ACTIVATIONS = ("relu", "leaky_relu", "softplus")
ETA = sp.Symbol("eta", positive=True)
#: a mini-batch size or a number of examples where the notation has no letter for it
M = sp.Symbol("m", positive=True)
_FREE_SYMBOLS = {"\\eta": ETA, "m": M}


# ---------------------------------------------------------------------------- errors


class FormulaFreeIndexError(FormulaError):
    """An index that no sum binds and no number fixes (``name``; ``layer`` when it is a layer superscript).

    A claim about a layer l in general is not a claim about this network: it is not checkable as written.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None, expected=(),
                 name: str = "", layer: bool = False, values: tuple | None = None):
        self.name = name
        self.layer = layer
        #: the values of the letter at which the symbol it indexes has an entry (None: any index value)
        self.values = values
        super().__init__(message, text, position, expected)


class FormulaRangeError(FormulaError):
    """A symbol the network does not have (a layer or an index out of range).

    For a claim with index letters it says that one value of a letter is not one of the network's:
    the claim is checked at the other values.
    """


@dataclass(frozen=True)
class Mismatch:
    """Two operands whose shapes do not fit, and the mistake that explains it.

    ``operation`` is ``"add"``, ``"multiply"``, ``"hadamard"``, ``"divide"`` or ``"power"``;
    ``left`` and ``right`` are the shapes (rows, columns), ``left_text`` and ``right_text``
    the operands as written. ``mistake`` names the repair that makes the shapes fit
    (``missing_transpose``, ``product_for_hadamard``, ``hadamard_for_product``), or is
    ``wrong_shape`` when none does.
    """

    mistake: str
    operation: str
    left: tuple
    right: tuple
    left_text: str
    right_text: str


class FormulaShapeError(FormulaError):
    """A formula whose vectors and matrices do not fit together (``mismatch`` says which, as data).

    It is a formula all the same: a claim with this error is a wrong claim, not unreadable text.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None, expected=(),
                 mismatch: Mismatch | None = None):
        self.mismatch = mismatch
        super().__init__(message, text, position, expected)


@dataclass(frozen=True)
class Narrowed:
    """A sum over ``index`` whose symbols disagree about its range, read over ``common`` (both ranges as text).

    ``symbols`` pairs each symbol of the sum, as written, with the values of the index it exists for.
    """

    index: str
    symbols: tuple
    common: str


# ---------------------------------------------------------------------------- reading


_COST_NAMES = {"C", "J", "L", "E", "cal:L", "cal:C", "cal:J", "cal:E"}
_ALIASES = {"W": ("w", "\\Theta"), "w": ("W", "\\Theta"), "\\theta": ("\\Theta",), "L": ("cal:L",),
            "cal:C": ("C",), "cal:J": ("J",)}


def _is_arguments(node) -> bool:
    """Whether ``node`` is a parenthesised argument list, as in J(\\Theta) or \\mathcal{L}(y, \\hat{y})."""
    return isinstance(node, Tree) and node.data == "group" and node.children[0].type == "LPAR"


def _per_example(scripts) -> bool:
    """Whether the scripts of a cost are the subscript x of C_x, the cost of one example."""
    if len(scripts) != 1 or scripts[0].children[0].type != "UNDER":
        return False
    arg = scripts[0].children[1]
    if isinstance(arg, Tree) and arg.data == "group" and arg.children[0].type == "LBRACE":
        items = _group_items(arg)
        arg = items[0] if len(items) == 1 else None
    return isinstance(arg, Token) and arg.type == _NAME and arg.value == "x"


def _is_mark(arg, kind: str) -> bool:
    """Whether a script argument is the transpose mark (kind TOP) or the prime (kind PRIME)."""
    if isinstance(arg, Token):
        return arg.type == kind or (kind == "TOP" and arg.type == _NAME and arg.value == "T")
    if isinstance(arg, Tree) and arg.data == "mark":
        return arg.children[1].type == kind or (kind == "PRIME" and arg.children[1].type == "APOS")
    if isinstance(arg, Tree) and arg.data == "group" and arg.children[0].type == "LBRACE":
        items = _group_items(arg)
        return len(items) == 1 and _is_mark(items[0], kind)
    return False


class _Reader(_IndexReader):
    """Turns one parse tree into SymPy objects, against one symbol table."""

    def __init__(self, text: str, table: _Table, syntax: str):
        super().__init__(text, table)
        self.syntax = syntax
        self.terms = 0
        self.repairs = None  # a list while reading a claim with repair=True
        self.narrowed = None  # likewise: the sums whose symbols disagree about the range of the index
        self.star = "product"  # what a written * means (STARS)
        #: when a dict: every decimal number read (``0.586618``) becomes a symbol of its own, recorded here with
        #: the exact number it writes, so that a worked example's arithmetic can be evaluated with the rounding
        #: of each number it shows (:mod:`symbackprop.claims.values`); None reads every number exactly
        self.shown = None
        #: the shape of the quantity a claim's left-hand side names, when reading its right-hand side with repairs
        self.result_shape = None
        #: in a notation that numbers nodes across the network: the layer (a node of the tree) that each
        #: index letter numbers a neuron of, as the claim's other symbols write it (y_{l-1,k}: k is in l - 1)
        self.node_layers = {}
        #: the network's element-wise activation rules by name: what ReLU or softplus written in a claim stands for
        self.rules = {}

    def shape_error(self, message: str, node, mismatch: Mismatch, expected=()) -> FormulaShapeError:
        position = span(node)[0] if node is not None else None
        return FormulaShapeError(message, self.text, position, expected, mismatch)

    def repaired(self, mismatch: Mismatch, value):
        """``value`` for a product whose shapes do not fit, when reading with repairs; the mismatch is kept."""
        self.repairs.append(mismatch)
        return value

    # -------------------------------------------------------------- symbols
    def split_scripts(self, letter: str, scripts: list):
        """(layer argument, subscript argument, the other scripts) of a symbol's scripts."""
        layered = letter in self.table.layered
        layer_arg = sub_arg = None
        rest = []
        for script in scripts:
            op = script.children[0]
            arg = script.children[1] if len(script.children) > 1 else None
            if op.type == "UNDER" and sub_arg is None:
                sub_arg = arg
            elif op.type == "CARET" and layered and layer_arg is None and not rest \
                    and not _is_mark(arg, "TOP") and not _is_mark(arg, "PRIME"):
                layer_arg = arg
            else:
                rest.append(script)
        return layer_arg, sub_arg, rest

    def is_jacobian(self, tok: Token) -> bool:
        r"""Whether a written letter is the Jacobian of a softmax output: J where no symbol of the notation is J,
        \mathcal{J} where the cost is J (Ng's notation)."""
        if tok.value == "J":
            return self.letter_of(tok) is None
        return tok.value == "cal:J" and "J" in self.table.by_letter

    def letter_of(self, tok: Token) -> str | None:
        """The table's letter for a written letter (W for w where the notation writes W), or None."""
        if tok.value in self.table.by_letter:
            return tok.value
        for alias in _ALIASES.get(tok.value, ()):
            if alias in self.table.by_letter:
                return alias
        return None

    def reference(self, tok: Token, scripts: list, env):
        """(table object, remaining scripts) for a written symbol; errors name what exists."""
        letter = self.letter_of(tok)
        if letter is None:
            raise self.unknown(tok, scripts)
        layer_arg, sub_arg, rest = self.split_scripts(letter, scripts)
        used = [s for s in scripts if s not in rest]
        last = used[-1] if used else tok
        shown = self.source(tok, last)
        try:
            layer = self.integer(layer_arg, env) if layer_arg is not None else None
        except _Unbound as unbound:
            raise self.free_index(unbound, shown, tok, layer=True) from None
        if layer is not None and not self.table.arities.get((letter, layer)):
            raise self.no_layer(letter, layer, shown, tok)
        try:
            items = self.index_items(sub_arg, env) if sub_arg is not None else []
        except _Unbound as unbound:
            raise self.free_index(unbound, shown, tok) from None
        free = [value for kind, value in items if kind == "var"]
        if free:
            raise self.free_index(_Unbound(free[0], tok), shown, tok,
                                  values=self.candidates(letter, layer, tuple(items), free[0]))
        node = self.node_weight(letter, layer, sub_arg, env, shown, tok)
        if node is not None:
            return node, rest
        arities = self.table.arities.get((letter, layer))
        if not arities:
            raise self.no_layer(letter, layer, shown, tok)
        found = {}
        for arity in sorted(arities):
            for split in _splits(items, arity):
                obj = self.table.entries.get((letter, layer, split))
                if obj is not None:
                    found.setdefault(obj, split)
        if len(found) == 1:
            return next(iter(found)), rest
        if len(found) > 1:
            readings = " or ".join(self.table.printed.get(obj, str(obj)) for obj in found)
            raise self.error(f"{shown} is ambiguous in this network: it reads as {readings}; separate the "
                             "indices with commas", tok, ["indices separated by commas"])
        raise self.out_of_range(letter, layer, items, shown, tok)

    def node_weight(self, letter, layer, sub_arg, env, shown, tok):
        """A weight w_{kj} written with index letters in a notation that numbers nodes across the network.

        The letters number neurons within their layers (k of layer l - 1, j of layer l, as the claim's
        other symbols say: y_{l-1,k}, δ_{lj}); the weight is the one between those two nodes. None when
        this reading does not apply.
        """
        if not self.node_layers or layer is not None or sub_arg is None:
            return None
        if letter != self.table.keys.get(Quantity("w", 1, 1, 1), (None,))[0]:
            return None
        letters = re.findall(r"[A-Za-z]", self.source(sub_arg))
        if len(letters) != 2 or not all(name in self.node_layers for name in letters):
            return None
        offset = lookup_notation(self.table.notation).layer_offset
        nodes = []
        for name in letters:
            try:
                canonical = self.integer(self.node_layers[name], env) - offset
            except _Unbound as unbound:
                raise self.free_index(unbound, shown, tok) from None
            local = env[name] if name in env else self.assume.get(name)
            if local is None:
                raise self.free_index(_Unbound(name, tok), shown, tok)
            if not (0 <= canonical < len(self.table.sizes) and 1 <= local <= self.table.sizes[canonical]):
                raise self.range_error(f"{shown}: there is no neuron {local} in layer {canonical + offset}", tok)
            nodes.append(sum(self.table.sizes[:canonical]) + local)
        obj = self.table.entries.get((letter, None, tuple(nodes)))
        if obj is None:
            raise self.range_error(f"{shown} joins nodes {nodes[0]} and {nodes[1]}, which no weight joins", tok)
        return obj

    def unknown(self, tok: Token, scripts) -> FormulaError:
        shown = self.source(tok, scripts[-1] if scripts else None) or tok.value
        return self.error(f"unknown symbol {shown} at {place(self.text, tok.start_pos)}; the symbols of this "
                          f"network in the {self.table.notation} notation are:\n{self.table.summary}", tok,
                          ["a symbol of the network"])

    def candidates(self, letter, layer, items: tuple, name: str) -> tuple | None:
        """The values of the free letter ``name`` at which the symbol has an entry, its other indices as written
        (numbers, or other letters taking any value): the only values worth reading the claim at. None when the
        subscript has digit runs to cut, whose split is not known yet, and for a symbol without a layer (a notation
        that numbers nodes across the network reads the letters of a weight as neurons within their layers)."""
        if layer is None or self.node_layers or any(kind == "run" for kind, _ in items):
            return None
        key = (letter, layer, items, name)
        memo = self.__dict__.setdefault("_candidates", {})
        if key not in memo:
            at = next(i for i, (kind, value) in enumerate(items) if kind == "var" and value == name)
            values = {subs[at] for (entry_letter, entry_layer, subs) in self.table.entries
                      if entry_letter == letter and entry_layer == layer and len(subs) == len(items)
                      and all(kind != "int" or subs[i] == value for i, (kind, value) in enumerate(items))}
            memo[key] = tuple(sorted(v for v in values if isinstance(v, int) and v >= 1)) or None
        return memo[key]

    def free_index(self, unbound: _Unbound, shown: str, tok, layer: bool = False, values=None) -> FormulaError:
        name = unbound.name
        position = span(tok)[0]
        if layer:
            layers = sorted({l for (_, l) in self.table.arities if l is not None})
            return FormulaFreeIndexError(f"{shown}: the index {name} is free: a concrete network needs concrete "
                                         f"layers; write a layer number ({_ranges(layers)})", self.text, position,
                                         ["a layer number"], name=name, layer=True)
        return FormulaFreeIndexError(f"{shown}: the index {name} is free; a claim is about concrete neurons of this "
                                     f"network: write a number, or sum over {name} (\\sum_{{{name}}})", self.text,
                                     position, ["a number", f"\\sum_{{{name}}}"], name=name, values=values)

    def no_layer(self, letter, layer, shown, tok) -> FormulaError:
        layers = sorted({l for (name, l) in self.table.arities if name == letter and l is not None})
        if layer is None and layers:
            return self.error(f"{shown} needs a layer: {_letter_text(letter)} is written with a layer "
                              f"superscript, for layers {_ranges(layers)}", tok, ["a layer superscript"])
        if layer is not None and letter not in self.table.layered:
            return self.error(f"{shown}: {_letter_text(letter)} has no layer superscript in the "
                              f"{self.table.notation} notation", tok)
        return self.range_error(f"{shown}: there is no layer {layer} for {_letter_text(letter)}; expected a layer "
                                f"in {_ranges(layers)}", tok, [str(l) for l in layers])

    def out_of_range(self, letter, layer, items, shown, tok) -> FormulaError:
        table = self.table
        groups: dict = {}
        for entry_layer, subs, obj in table.by_letter[letter]:
            if entry_layer == layer and isinstance(obj, Quantity) and obj.kind in _INDEX_NAMES:
                canonical = obj.indices[0] if obj.kind not in ("x", "y") else obj.kind
                groups.setdefault((obj.kind, canonical, len(subs)), []).append(subs)
        best = None
        for (kind, canonical, arity), members in groups.items():
            for split in _splits(items, arity):
                columns = list(zip(*members))
                inside = sum(value in set(column) for value, column in zip(split, columns))
                score = (inside, -abs(arity - len(items)))
                if best is None or score > best[0]:
                    best = (score, kind, canonical, split, columns)
        if best is None:
            arities = sorted(table.arities[(letter, layer)])
            counts = " or ".join(str(a) for a in arities)
            return self.range_error(f"{shown} has {len(items)} {'index' if len(items) == 1 else 'indices'}; "
                                    f"expected {counts}", tok)
        _, kind, canonical, split, columns = best
        generic, names = table.generic.get(kind) or _generic(table, kind)
        ranges = ", ".join(f"{name} in {_ranges(sorted(set(column)))}" for name, column in zip(names, columns)
                           if len(set(column)) > 1 or name.isalpha())
        specific = generic
        if layer is not None:
            specific = re.sub(r"\{l\}|\{\(l\)\}", lambda m: m.group(0).replace("l", str(layer)), generic, count=1)
        for name, value, column in zip(names, split, columns):
            if value not in set(column):
                if name == "l" or not name.isalpha():
                    owner = ""
                else:
                    owner_layer = _owner_layer(kind, canonical, name, len(table.sizes) - 1)
                    noun = "nodes" if table.notation == "nodes" else "neurons"
                    owner = (f", but layer {layer_number(owner_layer, table.notation)} has {noun} "
                             f"{_ranges(sorted(set(column)))}")
                return self.range_error(f"{shown} is out of range: {name} = {value}{owner} ({specific} has {ranges})",
                                        tok, [f"{name} in {_ranges(sorted(set(column)))}"])
        return self.range_error(f"{shown} is not a symbol of this network ({specific} has {ranges})", tok)

    def range_error(self, message: str, node=None, expected=()) -> FormulaRangeError:
        position = span(node)[0] if node is not None else None
        return FormulaRangeError(message, self.text, position, expected)

    # -------------------------------------------------------------- values
    def value(self, node, env):
        """The SymPy value of an expression node: an Expr or an ImmutableMatrix."""
        if isinstance(node, Token):
            if node.type == "NUMBER":
                if len(node.value) > MAX_DIGITS:
                    raise self.error(f"the number {node.value[:20]}… has {len(node.value)} digits; expected at most "
                                     f"{MAX_DIGITS}", node)
                if self.shown is not None and "." in node.value:
                    symbol = sp.Dummy(f"shown{len(self.shown)}")
                    self.shown[symbol] = exact_number(node.value)
                    return symbol
                return exact_number(node.value)
            if node.type == _NAME:
                return self.symbol_value(node, [], env)
            raise self.error(f"{node.value!r} is not a value here", node)
        method = getattr(self, "_" + node.data, None)
        if method is None:
            raise self.error(f"{self.source(node)} is not a value", node)
        return method(node, env)

    def symbol_value(self, tok: Token, scripts: list, env):
        letter = tok.value
        if letter in env and isinstance(env[letter], sp.Basic):  # a symbol a sum runs over (\sum_w w^2)
            return self.post_scripts(env[letter], scripts, env, tok)
        pair = self.index_pair(tok, scripts, env)
        if pair is not None:
            return pair
        if self.is_jacobian(tok) and not any(s.children[0].type == "UNDER" for s in scripts):
            return self.post_scripts(self.jacobian(), scripts, env, tok)  # J^T ∇_a C under a softmax output
        if letter in _FREE_SYMBOLS and (self.letter_of(tok) is None or (
                not scripts and (self.letter_of(tok), None) not in self.table.arities)):
            return self.post_scripts(_FREE_SYMBOLS[letter], scripts, env, tok)
        if self.letter_of(tok) is None:
            if letter in env and len(scripts) == 0:
                return sp.Integer(env[letter])
            if letter == "e":
                return self._exponential(tok, scripts, env)
            if letter in ("d", "partial") or (self.syntax == "text" and len(letter) > 1 and letter[0] == "d"):
                raise self.error(f"{self.source(tok)} is a differential; expected it in a derivative such as "
                                 "\\frac{\\partial C}{\\partial w^{l}_{jk}} or dC/dw", tok)
        obj, rest = self.reference(tok, scripts, env)
        return self.post_scripts(self.object_value(obj), rest, env, tok)

    def index_pair(self, tok: Token, scripts: list, env):
        """The value of a symbol with two indices and no layer that the notation has no entry for, or None.

        δ_{ij} is the Kronecker delta (1 when i = j, else 0) wherever the errors δ are written with a
        layer superscript; J_{ij} is the Jacobian of the output layer, ∂a^L_i/∂z^L_j, wherever J is not
        a symbol with two indices.
        """
        letter = self.letter_of(tok)
        if tok.value == "\\delta" and letter in self.table.layered:
            kind = "kronecker"
        elif self.is_jacobian(tok) or tok.value == "J" and letter is not None and \
                2 not in self.table.arities.get((letter, None), ()):
            kind = "jacobian"
        else:
            return None
        if len(scripts) != 1 or scripts[0].children[0].type != "UNDER":
            return None
        shown = self.source(tok, scripts[-1])
        try:
            items = self.index_items(scripts[0].children[1], env)
        except _Unbound as unbound:
            raise self.free_index(unbound, shown, tok) from None
        free = [value for kind_, value in items if kind_ == "var"]
        if free:
            raise self.free_index(_Unbound(free[0], tok), shown, tok)
        splits = _splits(items, 2)
        if len(splits) != 1:
            return None
        i, j = splits[0]
        if kind == "kronecker":
            return sp.Integer(1 if i == j else 0)
        depth, size = len(self.table.sizes) - 1, self.table.sizes[-1]
        if not (1 <= i <= size and 1 <= j <= size):
            raise self.range_error(f"{shown} is out of range: the output layer has neurons 1..{size}", tok)
        return Partial(Quantity("a", depth, i), Quantity("z", depth, j))

    def jacobian(self) -> sp.ImmutableMatrix:
        """J, the Jacobian of the output layer: J_ij = ∂a^L_i/∂z^L_j."""
        depth, size = len(self.table.sizes) - 1, self.table.sizes[-1]
        return sp.ImmutableMatrix(size, size, lambda i, j: Partial(Quantity("a", depth, i + 1),
                                                                   Quantity("z", depth, j + 1)))

    def object_value(self, obj):
        if isinstance(obj, LayerMatrix):
            return self.table.matrix(obj)
        if obj.kind == "m":
            return sp.Integer(self.table.sizes[obj.indices[0]])
        return obj

    def _exponential(self, tok, scripts, env):
        if scripts and scripts[0].children[0].type in ("CARET", "POW"):
            exponent = self.value(scripts[0].children[1], env)
            return self.post_scripts(self.elementwise(sp.exp, exponent), scripts[1:], env, tok)
        return self.post_scripts(sp.E, scripts, env, tok)

    def post_scripts(self, value, scripts, env, base_node):
        """Powers, transposes and primes written after a value (a run of powers is right-associative)."""
        index = 0
        while index < len(scripts):
            script = scripts[index]
            op = script.children[0]
            arg = script.children[1] if len(script.children) > 1 else None
            if op.type == "APOS" or (op.type == "CARET" and _is_mark(arg, "PRIME")):
                if self.syntax != "text" and op.type == "APOS":
                    raise self.error(f"{self.source(base_node, script)}: a prime marks the derivative of a "
                                     "function (\\sigma', f', g'); expected ^T for a transpose", script,
                                     ["^T", "a function such as \\sigma'"])
                if op.type == "CARET":
                    raise self.error(f"{self.source(base_node, script)}: \\prime marks the derivative of a function "
                                     "(\\sigma^{\\prime}); expected ^T for a transpose", script)
                value = self.transpose(value)
                index += 1
                continue
            if op.type == "UNDER":
                raise self.error(f"{self.source(base_node, script)}: a subscript after the indices; expected one "
                                 "subscript with every index", script)
            if _is_mark(arg, "TOP"):
                value = self.transpose(value)
                index += 1
                continue
            run = [script]
            while index + len(run) < len(scripts):
                following = scripts[index + len(run)]
                if following.children[0].type in ("CARET", "POW") and not _is_mark(following.children[1], "TOP") \
                        and not _is_mark(following.children[1], "PRIME"):
                    run.append(following)
                else:
                    break
            exponent = None
            for power in reversed(run):
                base = self.value(power.children[1], env)
                exponent = base if exponent is None else self.power(base, exponent, power)
            value = self.power(value, exponent, script, base_node)
            index += len(run)
        return value

    def power(self, base, exponent, node, base_node=None):
        where = self.source(base_node, node) if base_node is not None else self.source(node)
        if isinstance(exponent, sp.MatrixBase) or not (exponent.is_Integer):
            raise self.error(f"the exponent {exponent} in {where} is not a whole number; expected an integer "
                             f"from {-MAX_EXPONENT} to {MAX_EXPONENT}", node)
        n = int(exponent)
        if abs(n) > MAX_EXPONENT:
            raise self.error(f"the exponent {n} in {where} is too large; expected an integer from {-MAX_EXPONENT} "
                             f"to {MAX_EXPONENT}", node)
        if isinstance(base, sp.MatrixBase):
            if base.shape == (1, 1):
                base = base[0, 0]
            elif base.shape[1] == 1:
                # a column vector to a power is read element-wise, as people write (a)^2 for a ⊙ a
                return sp.ImmutableMatrix(base.applyfunc(lambda entry: self.power(entry, exponent, node, base_node)))
            else:
                raise self.shape_error(f"{where} raises a {_shape(base)} matrix to a power; expected a scalar (write "
                                       "\\odot for an element-wise product)", node,
                                       Mismatch("wrong_shape", "power", base.shape, (1, 1), where, str(exponent)))
        if base.is_Rational:
            digits = max(len(str(abs(base.p))), len(str(base.q)))
            if digits * abs(n) > MAX_DIGITS:
                raise self.error(f"{where} would be a number of about {digits * abs(n)} digits; expected at most "
                                 f"{MAX_DIGITS}", node)
            if base == 0 and n < 0:
                raise self.error(f"{where} divides by zero", node)
        return sp.Pow(base, n)

    def transpose(self, value):
        return value.T if isinstance(value, sp.MatrixBase) else value

    def elementwise(self, function, value):
        if isinstance(value, sp.MatrixBase):
            return value.applyfunc(function)
        return function(value)

    # -------------------------------------------------------------- arithmetic
    # ``lt`` and ``rt`` are the written operands (for messages), ``at`` the node to point at.
    def add(self, left, right, lt, rt, at, sign=1):
        lm, rm = isinstance(left, sp.MatrixBase), isinstance(right, sp.MatrixBase)
        if lm and rm:
            if left.shape != right.shape:
                raise self.shape_error(f"cannot add {_shape(left)} and {_shape(right)} ({lt} and {rt}); expected "
                                       "equal shapes", at, Mismatch("wrong_shape", "add", left.shape, right.shape, lt, rt))
            return sp.ImmutableMatrix(left + right if sign > 0 else left - right)
        if lm or rm:
            matrix, scalar = (left, right) if lm else (right, left)
            if matrix.shape == (1, 1):
                left, right = (left[0, 0] if lm else left), (right[0, 0] if rm else right)
                return left + right if sign > 0 else left - right
            if not scalar.is_number:
                raise self.shape_error(f"cannot add a scalar and a {_shape(matrix)} matrix ({lt} and {rt}); expected "
                                       "equal shapes", at, Mismatch("wrong_shape", "add", _shape_of(left),
                                                                    _shape_of(right), lt, rt))
            ones = sp.ImmutableMatrix.ones(*matrix.shape) * scalar  # 1 - a^{L}: the number in every entry
            left, right = (left, ones) if lm else (ones, right)
            return sp.ImmutableMatrix(left + right if sign > 0 else left - right)
        return left + right if sign > 0 else left - right

    def multiply(self, left, right, lt, rt, at):
        lm, rm = isinstance(left, sp.MatrixBase), isinstance(right, sp.MatrixBase)
        if lm and rm:
            if left.shape[1] == right.shape[0]:
                return sp.ImmutableMatrix(left * right)
            if left.shape == (1, 1) or right.shape == (1, 1):
                scalar, matrix = (left[0, 0], right) if left.shape == (1, 1) else (right[0, 0], left)
                return sp.ImmutableMatrix(matrix * scalar)
            reason = f"cannot multiply {_shape(left)} by {_shape(right)} ({lt} times {rt})"
            # the likely repair: the transpose that gives the claimed quantity its shape (δ x for δ xᵀ);
            # else two vectors of one shape multiply element-wise; otherwise a transpose
            if left.shape[1] == right.shape[1] and self.result_shape == (left.shape[0], right.shape[0]) \
                    and self.result_shape != left.shape:
                hint, name, fixed = f": did you mean the transpose, {lt} ({rt})^T?", "missing_transpose", \
                    lambda: left * right.T
            elif left.shape == right.shape and 1 in left.shape:
                hint, name, fixed = ": did you mean the element-wise product \\odot?", "product_for_hadamard", \
                    lambda: left.multiply_elementwise(right)
            elif left.shape[0] == right.shape[0]:
                hint, name, fixed = f": did you mean the transpose, ({lt})^T {rt}?", "missing_transpose", \
                    lambda: left.T * right
            elif left.shape[1] == right.shape[1]:
                hint, name, fixed = f": did you mean the transpose, {lt} ({rt})^T?", "missing_transpose", \
                    lambda: left * right.T
            else:
                hint, name, fixed = "", None, None
            mismatch = Mismatch(name or "wrong_shape", "multiply", left.shape, right.shape, lt, rt)
            if self.repairs is not None and fixed is not None:
                return self.repaired(mismatch, sp.ImmutableMatrix(fixed()))
            raise self.shape_error(reason + hint, at, mismatch, [f"a matrix with {left.shape[1]} rows"])
        if lm or rm:
            return sp.ImmutableMatrix(left * right if lm else right * left)
        return self.bounded(left * right, lt, rt, at)

    def bounded(self, value, lt, rt, at):
        """``value``, unless it is a number of more than MAX_DIGITS digits (products of long literals)."""
        if value.is_Rational and max(abs(value.p), value.q).bit_length() > MAX_DIGITS * 3.33:
            raise self.error(f"{lt} times {rt} is a number of more than {MAX_DIGITS} digits; expected a smaller "
                             "number", at)
        return value

    def divide(self, left, right, lt, rt, at):
        if isinstance(left, sp.MatrixBase) and isinstance(right, sp.MatrixBase) and left.shape == right.shape \
                and 1 in right.shape and right.shape != (1, 1):
            # two vectors of one shape divide element-wise, as in (a - y) / (a - a^2)
            return sp.ImmutableMatrix(right.shape[0], right.shape[1],
                                      [self.divide(p, q, lt, rt, at) for p, q in zip(left, right)])
        if isinstance(right, sp.MatrixBase):
            if right.shape != (1, 1):
                raise self.shape_error(f"cannot divide by the {_shape(right)} matrix {rt}; expected a scalar divisor",
                                       at, Mismatch("wrong_shape", "divide", _shape_of(left), right.shape, lt, rt))
            right = right[0, 0]
        if right == 0:
            raise self.error(f"{lt} / {rt} divides by zero", at)
        if isinstance(left, sp.MatrixBase):
            return sp.ImmutableMatrix(left / right)
        return self.bounded(left / right, lt, rt, at)

    def hadamard(self, left, right, lt, rt, at):
        lm, rm = isinstance(left, sp.MatrixBase), isinstance(right, sp.MatrixBase)
        if lm and rm:
            if left.shape != right.shape:
                product = left.shape[1] == right.shape[0]  # a matrix product was meant
                mismatch = Mismatch("hadamard_for_product" if product else "wrong_shape", "hadamard", left.shape,
                                    right.shape, lt, rt)
                if self.repairs is not None and product:
                    return self.repaired(mismatch, sp.ImmutableMatrix(left * right))
                raise self.shape_error(f"cannot take the element-wise product of {_shape(left)} and {_shape(right)} "
                                       f"({lt} and {rt}); expected equal shapes", at, mismatch)
            return sp.ImmutableMatrix(left.multiply_elementwise(right))
        return self.multiply(left, right, lt, rt, at)

    # -------------------------------------------------------------- tree nodes
    def _formula(self, node, env):
        return self.value(node.children[0], env)

    def _terms(self, node, env):
        children = node.children
        total = self.value(children[0], env)
        for previous, op, operand in zip(children[0::2], children[1::2], children[2::2]):
            total = self.add(total, self.value(operand, env), self.source(children[0], previous),
                             self.source(operand), operand, 1 if op.value == "+" else -1)
        return total

    def _negated(self, node, env):
        value = self.value(node.children[-1], env)
        minus = [c.value for c in node.children[:-1]].count("-") % 2
        return -value if minus else value

    _negfactor = _negated
    _negsarg = _negated

    def _mark(self, node, env):
        raise self.error(f"{self.source(node)} is a mark (a transpose or a prime), not a value", node)

    def _hadamard(self, node, env):
        children = node.children
        for op in children[1::2]:
            if op.type == "CORR":
                raise self.error(f"{self.source(op)} at {place(self.text, op.start_pos)} is the cross-correlation of "
                                 "maps, read in claims about networks of layers; expected \\odot or a product here", op)
        total = self.value(children[0], env)
        for previous, operand in zip(children[0:-2:2], children[2::2]):
            total = self.hadamard(total, self.value(operand, env), self.source(children[0], previous),
                                  self.source(operand), operand)
        return total

    def _mprod(self, node, env):
        # the operands, each with the operator written before it (None: juxtaposition)
        operands, ops, pending = [], [], None
        for child in node.children:
            if isinstance(child, Token) and child.type in ("MULOP", "DIV"):
                pending = child
            else:
                operands.append(child)
                ops.append(pending)
                pending = None
        values, nodes, joins = [], [], []
        index = 0
        while index < len(operands):
            operand = operands[index]
            if isinstance(operand, Tree) and operand.data == "operator":
                count = self.cost_operands(operands[index + 1:], ops[index + 1:])
                if not count:
                    raise self.error(f"{self.source(operand)} applies to nothing it can differentiate; expected the "
                                     "cost after it, as in \\frac{\\partial}{\\partial w} J(\\Theta)", operand)
                values.append(self.partial(operand.children[2], operand.children[5], env))
                nodes.append((operand, operands[index + count]))
                joins.append(ops[index])
                index += 1 + count
                continue
            if self.differential(operand) is not None:
                following = index + 1 < len(operands) and ops[index + 1] is not None \
                    and ops[index + 1].type == "DIV" and self.differential(operands[index + 1]) is not None
                if not following:
                    raise self.error(f"{self.source(operand)} is a differential alone; expected a derivative such "
                                     "as \\frac{\\partial C}{\\partial w} or dC/dw", operand)
                values.append(self.partial(operand, operands[index + 1], env))
                nodes.append((operand, operands[index + 1]))
                joins.append(ops[index])
                index += 2
                continue
            values.append(self.value(operand, env))
            nodes.append((operand, operand))
            joins.append(ops[index])
            index += 1
        total = values[0]
        for position in range(1, len(values)):
            lt = self.source(nodes[0][0], nodes[position - 1][1])
            rt = self.source(*nodes[position])
            at = nodes[position][0]
            if joins[position] is not None and joins[position].type == "DIV":
                total = self.divide(total, values[position], lt, rt, at)
            elif self.star == "hadamard" and joins[position] is not None and self.source(joins[position]) == "*":
                total = self.hadamard(total, values[position], lt, rt, at)
            else:
                total = self.multiply(total, values[position], lt, rt, at)
        return total

    def differential(self, node):
        """(NAME token, scripts) of ∂X, dX or \\mathrm{d}X, else None."""
        if isinstance(node, Tree) and node.data == "partial":
            if not isinstance(node.children[1], Token):
                return None  # ∂(expression): see _frac
            return node.children[1], list(node.children[2:])
        if isinstance(node, Tree) and node.data == "mprod" and len(node.children) == 2 \
                and isinstance(node.children[0], Tree) and node.children[0].data == "partial" \
                and _is_arguments(node.children[1]) and self.is_cost(node.children[0].children[1]) \
                and len(node.children[0].children) == 2:  # \partial J(\Theta), \partial \mathcal{L}(y, \hat{y})
            return node.children[0].children[1], []
        tok, scripts = _symbol_parts(node)
        if tok is not None and self.syntax == "text" and len(tok.value) > 1 and tok.value[0] == "d" \
                and tok.value not in self.table.by_letter:
            rest = tok.value[1:]
            return _token(_NAME, _WORDS.get(rest, (_NAME, rest))[1], tok, tok.start_pos + 1, tok.end_pos), scripts
        if isinstance(node, Tree) and node.data == "mprod" and len(node.children) == 2 \
                and isinstance(node.children[0], Token) and node.children[0].type == _NAME \
                and node.children[0].value == "d":
            tok, scripts = _symbol_parts(node.children[1])
            if tok is not None:
                return tok, scripts
        return None

    def cost_operands(self, operands, ops) -> int:
        """How many of ``operands`` (juxtaposed after ∂/∂Y) write the cost: 1 (J), 2 (J(\\Theta)) or 0 (none)."""
        if not operands or ops[0] is not None:
            return 0
        tok, scripts = _symbol_parts(operands[0])
        if tok is None or not self.is_cost(tok) or (scripts and not _per_example(scripts)):
            return 0
        return 2 if len(operands) > 1 and ops[1] is None and _is_arguments(operands[1]) else 1

    def cost_written(self, node) -> bool:
        """Whether ``node`` writes the cost alone: C, C_x, J(\\Theta), \\mathcal{L}(y, \\hat{y})."""
        if isinstance(node, Tree) and node.data == "mprod":
            return len(node.children) == self.cost_operands(node.children, [None] * len(node.children)) == 2
        tok, scripts = _symbol_parts(node)
        return tok is not None and self.is_cost(tok) and (not scripts or _per_example(scripts))

    def partial(self, numerator, denominator, env):
        """The value of ∂X/∂Y: a Partial, or a matrix of them when Y is a vector or matrix."""
        if isinstance(numerator, Token) and numerator.type == "PARTIAL":  # ∂/∂Y applied to the cost
            of = COST
        else:
            of = self.derivative_object(numerator, env)
        wrt = self.derivative_object(denominator, env)
        if isinstance(of, LayerMatrix):
            raise self.error(f"{self.source(numerator)} is a vector or matrix; expected a scalar such as the cost "
                             "above the fraction bar", numerator)
        if isinstance(wrt, LayerMatrix):
            explicit = self.table.matrix(wrt)
            return sp.ImmutableMatrix(explicit.applyfunc(lambda entry: Partial(self.object_value(of), entry)))
        return Partial(self.object_value(of), self.object_value(wrt))

    def derivative_of(self, expression, denominator, env):
        """∂(expression)/∂Y for a parameter Y: SymPy's derivative of the expression as read."""
        wrt = self.object_value(self.derivative_object(denominator, env))
        value = self.value(expression, env)
        if not (isinstance(wrt, Quantity) and wrt.kind in ("w", "b")) or isinstance(value, sp.MatrixBase):
            raise self.error(f"{self.source(expression)}: expected a scalar expression differentiated with respect to "
                             "one weight or bias", expression)
        if value.has(Partial, COST, UNREGULARISED):
            raise self.error(f"{self.source(expression)}: expected an expression in the network's parameters and "
                             "constants", expression)
        return sp.diff(value, wrt)

    def derivative_object(self, node, env):
        """The table object a differential names (the cost, leniently, for C, J, L, \\mathcal{L})."""
        tok, scripts = self.differential(node)
        if self.letter_of(tok) is None and not scripts and tok.value in _COST_NAMES:
            return COST
        if _per_example(scripts) and self.is_cost(tok):  # C_x: the cost of the one example x
            return COST
        obj, rest = self.reference(tok, scripts, env)
        if rest:
            raise self.error(f"{self.source(node)}: powers and transposes cannot follow a differential", rest[0])
        return obj

    def _frac(self, node, env):
        children = node.children
        if len(children) == 2:  # \frac12
            digits = children[1].value
            if len(digits) != 2 or not digits.isdigit():
                raise self.error(f"\\frac{digits} is unclear; expected \\frac{{a}}{{b}} (braces around numbers "
                                 "of more than one digit)", children[1])
            if digits[1] == "0":
                raise self.error(f"\\frac{digits} divides by zero", children[1])
            return sp.Rational(int(digits[0]), int(digits[1]))
        numerator, denominator = children[2], children[5]
        if isinstance(numerator, Tree) and numerator.data == "partial" and isinstance(numerator.children[1], Tree) \
                and self.differential(denominator) is not None:
            return self.derivative_of(numerator.children[1], denominator, env)
        if self.differential(numerator) is not None and self.differential(denominator) is not None:
            return self.partial(numerator, denominator, env)
        for part in (numerator, denominator):
            if self.differential(part) is not None:
                raise self.error(f"{self.source(part)} is a differential alone; expected one above and one below "
                                 "the fraction bar", part)
        return self.divide(self.value(numerator, env), self.value(denominator, env), self.source(numerator),
                           self.source(denominator), denominator)

    def _operator(self, node, env):
        raise self.error(f"{self.source(node)} applies to nothing; expected the cost after it, as in "
                         "\\frac{\\partial}{\\partial w} J(\\Theta)", node)

    def _norm(self, node, env):
        """\\|v\\|: the Euclidean norm of a vector (of every entry, for a matrix), the absolute value of a number."""
        value = self.value(node.children[1], env)
        entries = list(value) if isinstance(value, sp.MatrixBase) else [value]
        return sp.sqrt(sp.Add(*(entry ** 2 for entry in entries)))

    def _partial(self, node, env):
        raise self.error(f"{self.source(node)} is a differential alone; expected a derivative such as "
                         "\\frac{\\partial C}{\\partial w}", node)

    def _condition(self, node, env):
        """[a < b ∧ c > 0]: 1 where every comparison holds, else 0."""
        return sp.Piecewise((1, self._holds(node, env)), (0, True))

    def _holds(self, node, env):
        """The condition a < b ∧ c > 0 as a SymPy relation."""
        return sp.And(*[self._comparison(c, env) for c in node.children if isinstance(c, Tree)])

    def _cases(self, node, env):
        """\\begin{cases} v & condition \\\\ … \\end{cases}: each value where its condition holds."""
        pieces = []
        for row in (c for c in node.children if isinstance(c, Tree)):
            value, condition = (c for c in row.children if isinstance(c, Tree) or c.type != "AMP")
            result = self.value(value, env)
            if isinstance(result, sp.MatrixBase):
                raise self.error(f"{self.source(value)}: expected a number in each case", value)
            pieces.append((result, self._holds(condition, env)))
        if len(pieces) > 1 and sp.Not(sp.Or(*[c for _, c in pieces[:-1]])) == pieces[-1][1]:
            pieces[-1] = (pieces[-1][0], sp.true)  # the last case is "otherwise", as the printer writes it
        return sp.Piecewise(*pieces)

    def _sqrt(self, node, env):
        """\\sqrt{x}: the square root of a number."""
        value = self.value(node.children[2], env)
        if isinstance(value, sp.MatrixBase):
            raise self.error(f"{self.source(node)}: expected the square root of a number", node)
        return sp.sqrt(value)

    def _compared(self, node, env):
        """A side of a comparison: a value, or an index letter (the bracket [i = j] of two indices)."""
        try:
            return self.value(node, env)
        except FormulaError:
            if isinstance(node, Token) and node.type == _NAME and len(node.value) == 1 and node.value.isalpha():
                return sp.Integer(self.integer(node, env))
            raise

    def _comparison(self, node, env):
        left, op, right = node.children
        a, b = self._compared(left, env), self._compared(right, env)
        if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
            raise self.error(f"{self.source(node)}: expected a comparison of two numbers", node)
        return {"<": sp.StrictLessThan, ">": sp.StrictGreaterThan, "geq": sp.GreaterThan, "=": sp.Eq}.get(op.value,
                                                                                          sp.LessThan)(a, b)

    def _group(self, node, env):
        items = _group_items(node)
        if len(items) != 1:
            raise self.error(f"{self.source(node)} is a list; expected one expression in the brackets", node)
        return self.value(items[0], env)

    def _postfix(self, node, env):
        primary, scripts = node.children[0], list(node.children[1:])
        if isinstance(primary, Tree) and primary.data == "group" and primary.children[0].type == "LBRACE":
            items = _group_items(primary)
            if len(items) == 1 and isinstance(items[0], Token) and items[0].type == _NAME:
                primary = items[0]  # {J}_{i,j}: braces around a letter
        if isinstance(primary, Token) and primary.type == _NAME:
            return self.symbol_value(primary, scripts, env)
        if isinstance(primary, Tree) and primary.data == "norm" and scripts and scripts[0].children[0].type == "UNDER":
            kind = self.source(scripts[0].children[1]).strip("{} ")
            if kind not in ("2", "F"):
                raise self.error(f"{self.source(node)}: the norm {kind} is not read; expected the Euclidean norm "
                                 "\\|v\\| (or \\|v\\|_2, \\|W\\|_F)", scripts[0], ["\\|v\\|_2", "\\|W\\|_F"])
            scripts = scripts[1:]
        return self.post_scripts(self.value(primary, env), scripts, env, primary)

    def _underbrace(self, node, env):
        """\\underbrace{X}_{m \\times n}: the value of X; the annotation is checked against X's shape."""
        value = self.value(node.children[2], env)
        written = self.annotation(node, env)
        if written is not None and written != _shape_of(value):
            mismatch = Mismatch("wrong_dimension", "annotate", written, _shape_of(value),
                                self.source(node.children[-1]), self.source(node.children[2]))
            if self.repairs is not None:
                return self.repaired(mismatch, value)
            raise self.shape_error(f"the annotation {self.source(node.children[-1])} says "
                                   f"{written[0]}×{written[1]}, but {self.source(node.children[2])} is "
                                   f"{_shape(value) if isinstance(value, sp.MatrixBase) else '1×1'}", node, mismatch)
        return value

    def annotation(self, node, env) -> tuple | None:
        """The dimensions (rows, columns) an underbrace's annotation writes, or None when it writes no m × n
        of numbers of this network."""
        arg = node.children[-1]
        if isinstance(arg, Tree) and arg.data == "group":
            items = _group_items(arg)
            arg = items[0] if len(items) == 1 else None
        if not (isinstance(arg, Tree) and arg.data == "mprod" and len(arg.children) == 3
                and isinstance(arg.children[1], Token) and arg.children[1].type == "MULOP"):
            return None
        rows, columns = self.bound(arg.children[0], env), self.bound(arg.children[2], env)
        if rows is None or columns is None:
            return None
        return rows, columns

    def _matrix(self, node, env):
        """A matrix written entry by entry. An entry may be a block (a vector or matrix), as in
        ``\\begin{bmatrix} \\delta_{21} y_{1}^T \\\\ \\delta_{22} y_{1}^T \\end{bmatrix}``: the blocks of
        a row are set side by side (they need one height), the rows are stacked (they need one width)."""
        rows = []
        for row in (c for c in node.children if isinstance(c, Tree) and c.data == "mrow"):
            cells = [c for c in row.children if not (isinstance(c, Token) and c.type == "AMP")]
            blocks = [self.value(cell, env) for cell in cells]
            blocks = [b if isinstance(b, sp.MatrixBase) else sp.ImmutableMatrix([[b]]) for b in blocks]
            heights = sorted({b.shape[0] for b in blocks})
            if len(heights) != 1:
                raise self.error(f"the entries of the row {self.source(row)} have {', '.join(map(str, heights))} "
                                 "rows; expected entries of one height side by side", row)
            rows.append(sp.Matrix.hstack(*blocks))
        widths = sorted({row.shape[1] for row in rows})
        if len(widths) != 1:
            raise self.error(f"the rows of the matrix have {', '.join(map(str, widths))} entries; expected the "
                             "same number in every row", node)
        return sp.ImmutableMatrix(sp.Matrix.vstack(*rows))

    def _nabla(self, node, env):
        _, _, arg, cost = node.children
        if not self.is_cost(cost):
            raise self.error(f"{self.source(node)}: \\nabla takes the gradient of the cost; expected the cost after "
                             f"\\nabla_{{...}}, got {cost.value}", cost)
        wrt = self.nabla_object(arg, env)
        explicit = self.table.matrix(wrt)
        return sp.ImmutableMatrix(explicit.applyfunc(lambda entry: Partial(COST, entry)))

    def is_cost(self, tok: Token) -> bool:
        """Whether a written letter is the cost (leniently: C, J, L and \\mathcal{L} in every notation)."""
        if self.letter_of(tok) is None:
            return tok.value in _COST_NAMES
        try:
            return self.reference(tok, [], {})[0] == COST
        except FormulaError:
            return False

    def nabla_object(self, arg, env):
        """The vector or matrix a gradient \\nabla_{...} is taken with respect to."""
        inner = arg
        if isinstance(arg, Tree) and arg.data == "group":
            items = _group_items(arg)
            inner = items[0] if len(items) == 1 else arg
        tok, scripts = _symbol_parts(inner)
        if tok is None:
            raise self.error(f"{self.source(arg)}: expected a vector or matrix under \\nabla", arg)
        if not scripts and tok.value == self.table.activation_letter:  # \nabla_a C: the output layer
            return LayerMatrix("a", len(self.table.sizes) - 1, self.table.sizes[-1], 1)
        obj, rest = self.reference(tok, scripts, env)
        if not isinstance(obj, LayerMatrix) or rest:
            raise self.error(f"{self.source(arg)}: expected a vector or matrix under \\nabla", arg)
        return obj

    def _apply(self, node, env):
        head, argument, scripts = node.children[0], node.children[1], list(node.children[2:])
        function_tok = head.children[0]
        primes = 1 if function_tok.value == "dsigma" else 0
        powers = []  # \tanh^2(z) is (\tanh(z))^2, as notes write it
        for modifier in head.children[1:]:
            op = modifier.children[0]
            if op.type == "APOS":
                primes += 1
            elif op.type == "CARET":
                if _is_mark(modifier.children[1], "PRIME"):
                    primes += 1
                    continue
                exponent = self.value(modifier.children[1], env)
                if isinstance(exponent, sp.MatrixBase) or not exponent.is_Integer or exponent < 2:
                    raise self.error(f"{self.source(head)}: a power of a function is a whole number from 2 up "
                                     "(\\tanh^2(z) for (\\tanh(z))^2); expected such a power, or \\sigma^{\\prime} "
                                     "for the derivative", modifier)
                powers.append(modifier)
        name = "sigma" if function_tok.value in ("sigma", "dsigma") else function_tok.value
        if name not in ("sigma", "exp", "log", "tanh", *_NAMED_ACTIVATIONS):
            raise self.error(f"{self.source(head)} at {place(self.text, function_tok.start_pos)} is read in claims about "
                             "networks of layers; expected a function of this network: \\sigma, \\exp, \\log or "
                             "\\tanh", head, ["\\sigma", "\\exp", "\\log", "\\tanh"])
        if name == "tanh" and primes == 1:  # \tanh'(u): the derivative of tanh, as documents name it
            name, primes = "tanh_prime", 0
        if name in _NAMED_ACTIVATIONS:  # ReLU, softplus: σ where every activated layer applies that rule, else the rule
            rule = self.rules.get(name) or activation_rule(name)
            shared = set(self.rules) == {name}
            function = (SIGMA_PRIME if primes else SIGMA) if shared else rule.prime_function if primes else rule.function
            name, primes = "sigma", 0
        if name != "sigma" and primes:
            raise self.error(f"{self.source(head)}: only the activation (\\sigma, f, g) takes a prime here; "
                             f"expected {name} without one", head)
        if primes > 1:
            raise self.error(f"{self.source(head)}: a second derivative of the activation; expected \\sigma or "
                             "\\sigma'", head)
        if isinstance(argument, Token):  # \log a^{3}_{1}: the scripts belong to the argument
            value, scripts = self.symbol_value(argument, scripts, env), []
        else:
            value = self.value(argument, env)
        if function_tok.value not in _NAMED_ACTIVATIONS:
            function = {"sigma": SIGMA_PRIME if primes else SIGMA, "exp": sp.exp, "log": sp.log,
                        "tanh": sp.tanh, "tanh_prime": lambda u: 1 - sp.tanh(u) ** 2}[name]
        value = self.elementwise(function, value)
        for power in powers:
            value = self.power(value, self.value(power.children[1], env), power, head)
        return self.post_scripts(value, scripts, env, node)

    # -------------------------------------------------------------- sums
    def _sum_op(self, node, env):
        _, limits, body = node.children
        names, lower, upper = _sum_limits(limits)
        if len(names) == 1 and lower is None and upper is None and self.over_weights(names[0], body):
            return self.weight_sum(node, names[0], body, env)
        if _substack(limits):
            return self.stacked_sum(node, _substack(limits), body, env)
        for tok in names:
            if tok.value in env:
                raise self.error(f"the index {tok.value} is summed over twice", tok)
            if not re.fullmatch(r"[A-Za-z]", tok.value):
                raise self.error(f"{tok.value} is not an index to sum over; expected one letter such as k", tok)
        if len(names) > 1 and (lower is not None or upper is not None):
            raise self.error("limits for a sum over several indices; expected \\sum_{k=1}^{m} for one index",
                             limits)
        ranges = []
        for position, tok in enumerate(names):
            values = None
            if lower is not None:
                low = self.bound(lower, env)
                high = self.bound(upper, env) if upper is not None else None
                if low is not None and high is not None:
                    if high - low + 1 > MAX_TERMS:
                        raise self.error(f"the sum over {tok.value} has {high - low + 1} terms; expected at most "
                                         f"{MAX_TERMS}", limits)
                    values = list(range(low, high + 1))
            if values is None:
                values = self.infer_range(body, tok, env, names[position + 1:])
                if lower is not None and self.bound(lower, env) is not None:
                    values = [v for v in values if v >= self.bound(lower, env)]
            ranges.append((tok.value, values))
        count = 1
        for _, values in ranges:
            count *= max(len(values), 1)
        self.terms += count
        if self.terms > MAX_TERMS:
            raise self.error(f"the sums expand to more than {MAX_TERMS} terms; expected a smaller formula", node)
        bindings = [dict(env)]
        for name, values in ranges:
            bindings = [{**b, name: v} for b in bindings for v in values]
        total = None
        for binding in bindings:
            value = self.value(body, binding)
            total = value if total is None else self.add(total, value, self.source(node), self.source(body), body)
        return sp.Integer(0) if total is None else total

    def over_weights(self, tok: Token, body) -> bool:
        """Whether \\sum_{w} sums over every weight of the network: w (or the notation's weight letter) is
        summed, and the body writes it bare, as in \\sum_{w} w^{2}."""
        weight_letter = self.table.keys.get(Quantity("w", 1, 1, 1), ("w",))[0]
        if tok.value not in ("w", weight_letter):
            return False
        return any(symbol.value == tok.value and not any(s.children[0].type == "UNDER" for s in scripts)
                   for symbol, scripts in _symbol_occurrences(body))

    def weight_sum(self, node, tok: Token, body, env):
        """Σ_w over every weight of the network (not the biases): the sum of an L2 penalty."""
        weights = sorted({obj for obj in self.table.entries.values() if isinstance(obj, Quantity) and obj.kind == "w"},
                         key=sp.default_sort_key)
        self.terms += len(weights)
        if self.terms > MAX_TERMS:
            raise self.error(f"the sums expand to more than {MAX_TERMS} terms; expected a smaller formula", node)
        total = None
        for weight in weights:
            value = self.value(body, {**env, tok.value: weight})
            total = value if total is None else self.add(total, value, self.source(node), self.source(body), body)
        return total

    def stacked_sum(self, node, ranges, body, env):
        """A sum over several indices, each with its range (\\substack{1 \\leq r \\leq s^{(p-1)} \\\\ 2 \\leq p \\leq L}).

        A bound may name another index of the sum: the ranges are expanded in the order their
        bounds become numbers.
        """
        pending = list(ranges)
        for r in pending:
            tok = r.children[2]
            if tok.value in env or not re.fullmatch(r"[A-Za-z]", tok.value):
                raise self.error(f"{tok.value} is not an index to sum over here; expected one letter not summed "
                                 "already", tok)
        bindings = [dict(env)]
        while pending:
            for r in pending:
                low, high = (self.bound(r.children[0], bindings[0]), self.bound(r.children[4], bindings[0]))
                if low is not None and high is not None:
                    break
            else:
                raise self.error(f"the ranges of {self.source(node)} name no numbers of this network; expected "
                                 "bounds such as 1 \\leq k \\leq m^{l}", node)
            pending.remove(r)
            name = r.children[2].value
            expanded = []
            for binding in bindings:
                low, high = self.bound(r.children[0], binding), self.bound(r.children[4], binding)
                if low is None or high is None:
                    raise self.range_error(f"{self.source(r)} names no number of this network", r)
                expanded += [{**binding, name: v} for v in range(low, high + 1)]
            bindings = expanded
            self.terms += len(bindings)
            if self.terms > MAX_TERMS:
                raise self.error(f"the sums expand to more than {MAX_TERMS} terms; expected a smaller formula", node)
        total = None
        for binding in bindings:
            value = self.value(body, binding)
            total = value if total is None else self.add(total, value, self.source(node), self.source(body), body)
        return sp.Integer(0) if total is None else total

    def bound(self, node, env) -> int | None:
        """A limit of a sum as a number, or None when it names no number of this network (m, n)."""
        try:
            return self.integer(node, env)
        except (_Unbound, FormulaError):  # \sum_{k=1}^{m}, \sum_{k}^{n_l}: the body's indices tell
            return None

    def infer_range(self, body, tok: Token, env, later) -> list[int]:
        """The values a summed index takes: where it stands among the indices of the body's symbols."""
        name = tok.value
        found = []
        for symbol_tok, scripts in _symbol_occurrences(body):
            values = self.match_values(symbol_tok, scripts, name, env)
            if values is not None:
                found.append((symbol_tok, scripts, values))
        if not found:
            raise self.error(f"the range of {name} is unknown: it is not an index of any symbol of the sum; "
                             f"expected \\sum_{{{name}=1}}^{{m}} with numbers", tok, [f"\\sum_{{{name}=1}}^{{...}}"])
        first = found[0][2]
        for symbol_tok, scripts, values in found:
            if not values:  # at this layer the symbol does not exist for any value (δ^{l+1} at the output layer)
                a = self.source(symbol_tok, scripts[-1] if scripts else None)
                raise self.range_error(f"{a} is no symbol of this network for any value of {name}", symbol_tok)
        if self.narrowed is not None and any(values != first for _, _, values in found[1:]):
            # read with repairs: the sum runs where every symbol exists, and the disagreement is kept
            common = [v for v in first if all(v in values for _, _, values in found[1:])]
            if common:
                self.narrowed.append(Narrowed(name, tuple(
                    (self.source(t, s[-1] if s else None), _ranges(values)) for t, s, values in found),
                    _ranges(common)))
                return common
        for symbol_tok, scripts, values in found[1:]:
            if values != first:
                a = self.source(found[0][0], found[0][1][-1] if found[0][1] else None)
                b = self.source(symbol_tok, scripts[-1] if scripts else None)
                raise self.error(f"the sum over {name} has no single range: {a} gives {name} in {_ranges(first)} "
                                 f"and {b} gives {name} in {_ranges(values)}", symbol_tok)
        if not first:
            a = self.source(found[0][0], found[0][1][-1] if found[0][1] else None)
            raise self.range_error(f"{a} is no symbol of this network for any value of {name}", found[0][0])
        return first

    def match_values(self, tok: Token, scripts, name: str, env):
        """The values of index ``name`` for which the written symbol exists (None: it does not use it)."""
        letter = self.letter_of(tok)
        if letter is None:
            return None
        if self.node_layers and letter == self.table.keys.get(Quantity("w", 1, 1, 1), (None,))[0]:
            return None  # a weight between neurons numbered within their layers: the other symbols tell
        layer_arg, sub_arg, _ = self.split_scripts(letter, scripts)
        layer_pattern = None
        try:
            if layer_arg is not None:
                layer_pattern = self.integer(layer_arg, env)
        except _Unbound as unbound:
            layer_pattern = unbound.name
            if not (isinstance(layer_arg, Token) or (isinstance(layer_arg, Tree) and layer_arg.data == "group")):
                return None
        try:
            items = self.index_items(sub_arg, env) if sub_arg is not None else []
        except _Unbound:
            return None
        uses = layer_pattern == name or any(kind == "var" and value == name for kind, value in items)
        if not uses:
            return None
        values = set()
        patterns: dict = {}
        for entry_layer, subs, obj in self.table.by_letter[letter]:
            binding = {}
            if layer_arg is not None:
                if isinstance(layer_pattern, str):
                    if entry_layer is None:
                        continue
                    binding[layer_pattern] = entry_layer
                elif entry_layer != layer_pattern:
                    continue
            elif entry_layer is not None:
                continue
            if len(subs) not in patterns:
                patterns[len(subs)] = _splits(items, len(subs))
            for pattern in patterns[len(subs)]:
                local = dict(binding)
                if all(_unify(p, v, local) for p, v in zip(pattern, subs)) and name in local:
                    values.add(local[name])
        return sorted(values)


def _substack(limits: Tree) -> list:
    """The sub_range nodes of a sum's \\substack (low ≤ index ≤ high, one per line), or []."""
    sub = next(c for c in limits.children if isinstance(c, Tree) and c.data == "sum_sub")
    return [c for c in sub.children if isinstance(c, Tree) and c.data == "sub_range"]


def _unify(pattern, value, binding) -> bool:
    if isinstance(pattern, str):
        if pattern in binding:
            return binding[pattern] == value
        binding[pattern] = value
        return True
    return pattern == value


def _symbol_occurrences(node):
    """(NAME token, scripts) of every symbol written in an expression (not in indices or limits)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Token):
            if current.type == _NAME:
                yield current, []
            continue
        if current.data == "postfix" and isinstance(current.children[0], Token) \
                and current.children[0].type == _NAME:
            yield current.children[0], list(current.children[1:])
            continue
        if current.data == "partial" and isinstance(current.children[1], Token):
            yield current.children[1], list(current.children[2:])
            continue
        if current.data == "apply" and isinstance(current.children[1], Token):
            yield current.children[1], list(current.children[2:])
            continue
        if current.data in ("sum_limits", "fhead", "nabla", "script"):
            continue
        stack.extend(reversed(current.children))


def _sum_limits(limits: Tree):
    """(index tokens, lower bound node or None, upper bound node or None) of \\sum_{...}^{...}."""
    sub = next(c for c in limits.children if isinstance(c, Tree) and c.data == "sum_sub")
    if _substack(limits):
        return [r.children[2] for r in _substack(limits)], None, None
    upper = None
    children = limits.children
    for position, child in enumerate(children):
        if isinstance(child, Token) and child.type == "CARET":
            upper = children[position + 1]
    names = [c for c in sub.children if isinstance(c, Token) and c.type == _NAME]
    lower = None
    for position, child in enumerate(sub.children):
        if isinstance(child, Token) and child.type == "EQ":
            lower = sub.children[position + 1]
            names = names[:1]
    return names, lower, upper



def _shape(matrix) -> str:
    return f"{matrix.shape[0]}×{matrix.shape[1]}"


def _shape_of(value) -> tuple:
    return tuple(value.shape) if isinstance(value, sp.MatrixBase) else (1, 1)
