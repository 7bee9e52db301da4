"""The symbol table of a notation: every symbol of one network, keyed as the grammar reads it.

The notation is never restated here. For a network and a notation, every quantity of the network is
printed by :class:`symbackprop.documents.printing.LatexPrinter`, the printed form is read back with
the grammar into a key (letter, layer, indices), and the key maps to the quantity; a symbol a person
writes (``w^{3}_{12}``, ``\\Theta^{(2)}_{1,0}``, ``\\delta_{lj}``) is read the same way and looked up.
Keys are lenient in the ways people are: ``w^3_{12}``, ``w^{(3)}_{1,2}`` and ``w^{3}_{12}`` are the same
key, and a run of digits is cut into indices in every way the network allows. The table also describes
itself (the symbols, one kind a line, with their index ranges) for the message of an unknown symbol.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import sympy as sp
from lark import Token, Tree

from ..documents.printing import LatexPrinter, layer_number, notation as lookup_notation
from ..model.symbols import COST, UNREGULARISED, LayerMatrix, Quantity
from .lexing import _NAME, _parse, _token
from .reading import FormulaError, span

#: longest run of index digits written without commas (w_{123})
MAX_INDEX_DIGITS = 12


@dataclass
class _Table:
    """Every symbol of one network in one notation, keyed as the grammar reads it."""

    notation: str
    sizes: tuple
    entries: dict = field(default_factory=dict)       # (letter, layer, subs) -> object
    by_letter: dict = field(default_factory=dict)     # letter -> [(layer, subs, object)]
    arities: dict = field(default_factory=dict)       # (letter, layer) -> {number of subscripts}
    layered: set = field(default_factory=set)         # letters written with a layer superscript
    printed: dict = field(default_factory=dict)       # object -> printed LaTeX
    keys: dict = field(default_factory=dict)          # object -> the key of its printed form
    generic: dict = field(default_factory=dict)       # kind -> (generic LaTeX, names of its subscripts)
    explicit: dict = field(default_factory=dict)      # LayerMatrix -> ImmutableMatrix, on demand
    activation_letter: str = "a"

    @property
    def output_layer(self) -> int:
        """The printed number of the output layer (what L means in an index)."""
        return layer_number(len(self.sizes) - 1, self.notation)

    def add(self, key, obj, shown=None):
        letter, layer, subs = key
        if key in self.entries and self.entries[key] != obj:
            raise RuntimeError(f"two symbols print as {key}: {self.entries[key]} and {obj}")
        if key in self.entries:
            return
        self.entries[key] = obj
        self.by_letter.setdefault(letter, []).append((layer, subs, obj))
        self.arities.setdefault((letter, layer), set()).add(len(subs))
        if layer is not None:
            self.layered.add(letter)
        if shown is not None and obj not in self.printed:
            self.printed[obj] = shown
            self.keys[obj] = key

    def matrix(self, m: LayerMatrix) -> sp.ImmutableMatrix:
        if m not in self.explicit:
            self.explicit[m] = sp.ImmutableMatrix(m.as_explicit())
        return self.explicit[m]

    @functools.cached_property
    def summary(self) -> str:
        return _summary(self)


def _network_key(network):
    sizes = tuple(network.sizes)
    biases = tuple(layer.bias for layer in network.layers)
    return sizes, biases


def _symbol_table(network, notation_name: str) -> _Table:
    lookup_notation(notation_name)
    sizes, biases = _network_key(network)
    return _build_table(sizes, biases, notation_name)


@functools.lru_cache(maxsize=32)
def _build_table(sizes: tuple, biases: tuple, notation_name: str) -> _Table:
    """Print every symbol of the network and read each printed form back into a key."""
    table = _Table(notation_name, sizes)
    printer = LatexPrinter({"notation": notation_name, "sizes": sizes})
    depth = len(sizes) - 1
    quantities = [Quantity("x", k) for k in range(1, sizes[0] + 1)]
    quantities += [Quantity("y", j) for j in range(1, sizes[-1] + 1)]
    for l in range(1, depth + 1):
        for j in range(1, sizes[l] + 1):
            quantities += [Quantity("w", l, j, k) for k in range(1, sizes[l - 1] + 1)]
            if biases[l - 1]:
                quantities.append(Quantity("b", l, j))
            quantities += [Quantity(kind, l, j) for kind in ("z", "a", "delta")]
    quantities += [COST, UNREGULARISED, Quantity("lambda"), Quantity("n")]
    quantities += [Quantity("m", l) for l in range(depth + 1)]
    reader = _IndexReader("", table)
    keys = _PrintedKeys(reader)
    for q in quantities:
        shown = printer.doprint(q)
        table.add(keys.key(shown, len(printer.quantity_parts(q)[2])), q, shown)
    # the input written as the activation of layer 0 (a^1 in nielsen, a^{(1)} in ng)
    for k in range(1, sizes[0] + 1):
        alias = Quantity("a", 0, k)
        table.add(keys.key(printer.doprint(alias), len(printer.quantity_parts(alias)[2])), Quantity("x", k))
    first_input = Quantity("a", 0, 1)
    letter, layer, subs = keys.key(printer.doprint(first_input), len(printer.quantity_parts(first_input)[2]))
    table.add((letter, layer, subs[:-1]), LayerMatrix("a", 0, sizes[0], 1))
    matrices = [LayerMatrix("x", 0, sizes[0], 1), LayerMatrix("y", depth, sizes[-1], 1)]
    for l in range(1, depth + 1):
        matrices.append(LayerMatrix("W", l, sizes[l], sizes[l - 1]))
        if biases[l - 1]:
            matrices.append(LayerMatrix("b", l, sizes[l], 1))
        matrices += [LayerMatrix(kind, l, sizes[l], 1) for kind in ("z", "a", "delta")]
    for m in matrices:
        shown = printer.doprint(m)
        table.add(keys.key(shown, len(printer.matrix_parts(m)[2])), m, shown)
    keys.verify()
    # \hat{y}: the network's prediction, the output activation (as in L(y, \hat{y})), wherever the notation
    # does not write the target with it
    if "hat:y" not in table.by_letter:
        for j in range(1, sizes[-1] + 1):
            table.add(("hat:y", None, (j,)), Quantity("a", depth, j))
        table.add(("hat:y", None, ()), LayerMatrix("a", depth, sizes[-1], 1))
    first_activation = Quantity("a", 1, 1)
    table.activation_letter = keys.key(printer.doprint(first_activation),
                                       len(printer.quantity_parts(first_activation)[2]))[0]
    return table


class _PrintedKeys:
    """Keys of printed symbols, read by the grammar once per pattern of digits.

    Printed symbols that differ only in their digits (w^{2}_{13} and w^{3}_{21}) read
    the same way: the first of each pattern is read by the grammar, and the lengths
    of its numbers cut the digits of the others. The last of each pattern is read by
    the grammar again, as a check.
    """

    def __init__(self, reader: "_IndexReader"):
        self.reader = reader
        self.recipes: dict = {}
        self.last: dict = {}

    def key(self, shown: str, arity: int) -> tuple:
        pattern = (_DIGIT.sub("#", shown), arity)
        digits = "".join(_DIGIT.findall(shown))
        recipe = self.recipes.get(pattern)
        if recipe is None:
            key = _printed_key(self.reader, shown, arity)
            numbers = ([] if key[1] is None else [key[1]]) + list(key[2])
            if "".join(str(n) for n in numbers) == digits:
                self.recipes[pattern] = (key[0], key[1] is not None, [len(str(n)) for n in numbers])
            return key
        letter, layered, lengths = recipe
        numbers, start = [], 0
        for length in lengths:
            numbers.append(int(digits[start:start + length]))
            start += length
        key = (letter, numbers[0], tuple(numbers[1:])) if layered else (letter, None, tuple(numbers))
        self.last[pattern] = (shown, key)
        return key

    def verify(self):
        for (pattern, arity), (shown, key) in self.last.items():
            if _printed_key(self.reader, shown, arity) != key:
                raise RuntimeError(f"the printed symbols like {shown!r} do not read alike")


_DIGIT = re.compile(r"\d")


def _printed_key(reader: "_IndexReader", shown: str, arity: int) -> tuple:
    """The key of a printed symbol: (letter, layer, subscripts), read by the grammar."""
    node = _parse(shown, "latex", "formula").children[0]
    tok, scripts = _symbol_parts(node)
    if tok is None:
        raise RuntimeError(f"the printer wrote {shown!r}, which does not read as one symbol")
    layer_arg = sub_arg = None
    for script in scripts:
        op, arg = script.children[0], script.children[1]
        if op.type == "CARET" and layer_arg is None:
            layer_arg = arg
        elif op.type == "UNDER" and sub_arg is None:
            sub_arg = arg
        else:
            raise RuntimeError(f"the printer wrote {shown!r}, which has scripts beyond a layer and indices")
    layer = reader.integer(layer_arg, {}) if layer_arg is not None else None
    items = reader.index_items(sub_arg, {}) if sub_arg is not None else []
    splits = _splits(items, arity)
    if len(splits) > 1:  # the printer joins indices without commas only when each has one digit
        splits = [s for s in splits if all(len(str(v)) == 1 for v in s)]
    if len(splits) != 1:
        raise RuntimeError(f"the printer wrote {shown!r}, whose indices do not split into {arity}")
    return (tok.value, layer, splits[0])


def _symbol_parts(node):
    """(NAME token, scripts) when ``node`` is a symbol with scripts, else (None, None)."""
    if isinstance(node, Token) and node.type == _NAME:
        return node, []
    if isinstance(node, Tree) and node.data == "postfix" and isinstance(node.children[0], Token) \
            and node.children[0].type == _NAME:
        return node.children[0], list(node.children[1:])
    return None, None


def _run_parts(run: str, count: int):
    """Every way of cutting the digit run into ``count`` numbers (no leading zeros)."""
    if count == 1:
        if len(run) == 1 or run[0] != "0":
            yield (int(run),)
        return
    for cut in range(1, len(run) - count + 2):
        head = run[:cut]
        if len(head) > 1 and head[0] == "0":
            continue
        for rest in _run_parts(run[cut:], count - 1):
            yield (int(head), *rest)


def _splits(items, arity: int) -> list[tuple]:
    """The index tuples of length ``arity`` that ``items`` can be read as.

    ``items`` is a list of ``("run", "123")`` (digits written together, to be cut),
    ``("int", 4)`` and ``("var", "k")``; a var stays its name in the tuples.
    """
    results: list[tuple] = []

    def walk(position: int, acc: tuple):
        if len(acc) > arity:
            return
        if position == len(items):
            if len(acc) == arity:
                results.append(acc)
            return
        kind, value = items[position]
        if kind != "run":
            walk(position + 1, acc + (value,))
            return
        left = len(items) - position - 1
        for count in range(1, min(len(value), arity - len(acc) - left) + 1):
            for parts in _run_parts(value, count):
                walk(position + 1, acc + parts)

    walk(0, ())
    return results


def _ranges(values) -> str:
    """1..3 for consecutive values, else a list."""
    values = sorted(values)
    if not values:
        return "none"
    if len(values) > 1 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return ", ".join(str(v) for v in values)


def _letter_text(letter: str) -> str:
    if letter.startswith("hat:"):
        return f"\\hat{{{letter[4:]}}}"
    if letter.startswith("cal:"):
        return f"\\mathcal{{{letter[4:]}}}"
    return letter


_INDEX_NAMES = {"w": ("j", "k"), "b": ("j",), "z": ("j",), "a": ("j",), "delta": ("j",), "x": ("k",), "y": ("j",)}


def _owner_layer(kind: str, canonical, name: str, depth: int) -> int:
    """The canonical layer whose neurons an index of a quantity counts."""
    if kind == "x":
        return 0
    if kind == "y":
        return depth
    if kind == "w" and name == "k":
        return canonical - 1
    return canonical


def _generic(table: _Table, kind: str):
    """The printed form of a kind with letters for indices (w^{l}_{jk}) and the letters' order."""
    if kind in table.generic:
        return table.generic[kind]
    printer = LatexPrinter({"notation": table.notation, "sizes": table.sizes})
    l = sp.Symbol("l")
    shift = 0
    for obj, (letter, layer, subs) in table.keys.items():
        if isinstance(obj, Quantity) and obj.kind == kind and obj.indices:
            if layer is not None:
                shift = layer - obj.indices[0]
            else:
                shift = layer_number(0, table.notation)
            break
    names = [sp.Symbol(n) for n in _INDEX_NAMES.get(kind, ())]
    if kind in ("x", "y"):
        q = Quantity(kind, *names)
    else:
        q = Quantity(kind, l - shift, *names)
    shown = printer.doprint(q)
    reader = _IndexReader("", table)
    node = _parse(shown, "latex", "formula").children[0]
    tok, scripts = _symbol_parts(node)
    subs = []
    for script in scripts:
        if script.children[0].type == "UNDER":
            for item_kind, value in reader.index_items(script.children[1], {}):
                subs.append(value if item_kind == "var" else str(value))
    table.generic[kind] = (shown, tuple(str(s) for s in subs))
    return table.generic[kind]


def _summary(table: _Table) -> str:
    """The symbols of the network in the table's notation, one kind a line, with index ranges."""
    lines = []
    by_kind: dict = {}
    for obj, (letter, layer, subs) in table.keys.items():
        if isinstance(obj, Quantity) and obj.kind in _INDEX_NAMES:
            canonical = obj.indices[0] if obj.kind not in ("x", "y") else 0
            by_kind.setdefault(obj.kind, {}).setdefault((canonical, layer), []).append(subs)
    for kind in ("x", "y", "w", "b", "z", "a", "delta"):
        if kind not in by_kind:
            continue
        generic, names = _generic(table, kind)
        parts = []
        for (canonical, layer), members in sorted(by_kind[kind].items(), key=lambda item: item[0]):
            columns = list(zip(*members))
            described = [f"l = {layer}"] if layer is not None and kind not in ("x", "y") else []
            for name, column in zip(names, columns):
                if name.isalpha():
                    values = sorted(set(column))
                    described.append(f"{name} = {values[0]}" if len(values) == 1 else f"{name} in {_ranges(values)}")
            parts.append(", ".join(described))
        merged = []
        for part in parts:  # l = 2, j in 1..4; l = 3, j in 1..4 -> l = 2..3, j in 1..4
            head, _, tail = part.partition(", ")
            if merged and head.startswith("l = ") and merged[-1][1] == tail and merged[-1][0]:
                merged[-1][0].append(int(head[4:]))
            else:
                merged.append(([int(head[4:])] if head.startswith("l = ") else [], tail if head.startswith("l = ")
                               else part))
        shown = "; ".join((f"l = {_ranges(layers)}, {tail}" if layers else tail).rstrip(", ")
                          for layers, tail in merged)
        lines.append(f"  {generic} for {shown}" if shown else f"  {generic}")
    scalars = [table.printed[q] for q in (COST, Quantity("lambda"), Quantity("n")) if q in table.printed]
    lines.append("  " + ", ".join(scalars) + " (cost, regularisation strength, number of examples)")
    sizes = [table.printed[q] for q in (Quantity("m", l) for l in range(len(table.sizes))) if q in table.printed]
    lines.append("  layer sizes: " + ", ".join(sizes))
    matrices = [shown for obj, shown in table.printed.items() if isinstance(obj, LayerMatrix)]
    printer = LatexPrinter({"notation": table.notation, "sizes": table.sizes})
    depth = len(table.sizes) - 1
    matrices.append(printer.doprint(LayerMatrix("dsigma", depth, table.sizes[-1], 1)) + " (any layer)")
    matrices.append(printer.doprint(LayerMatrix("grad_a", depth, table.sizes[-1], 1)))
    lines.append("  vectors and matrices: " + ", ".join(matrices))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- indices


class _Unbound(Exception):
    """An index names a variable that no sum binds."""

    def __init__(self, name: str, tok):
        super().__init__(name)
        self.name = name
        self.tok = tok


_BRACKETS = {"LPAR", "RPAR", "LBRACK", "RBRACK", "LBRACE", "RBRACE", "COMMA"}


def _group_items(node: Tree) -> list:
    return [c for c in node.children if not (isinstance(c, Token) and c.type in _BRACKETS)]


class _IndexReader:
    """Reads the indices of written symbols against one symbol table: numbers, index letters, L, sums of those.

    The printed symbols the table is built from are read with it alone; the reader of whole formulas
    (:class:`~symbackprop.claims.transform._Reader`) extends it.
    """

    def __init__(self, text: str, table: _Table):
        self.text = text
        self.table = table
        #: values for free indices (name -> int): one instance of a claim with index letters
        self.assume = {}

    # -------------------------------------------------------------- messages
    def error(self, message: str, node=None, expected=()) -> FormulaError:
        position = span(node)[0] if node is not None else None
        return FormulaError(message, self.text, position, expected)

    def source(self, node, end_node=None) -> str:
        start, end = span(node)
        if end_node is not None:
            end = span(end_node)[1]
        return self.text[start:end] if self.text else ""

    # -------------------------------------------------------------- integers (indices)
    def integer(self, node, env) -> int:
        """An index: a whole number, a summed variable, L (the output layer) or + and - of those."""
        if isinstance(node, Token):
            if node.type == "NUMBER":
                if "." in node.value:
                    raise self.error(f"index {node.value} is not a whole number", node)
                return int(self._run(node)[1])
            if node.type == _NAME:
                if node.value in env:
                    return env[node.value]
                if node.value == "L":
                    return self.table.output_layer
                if node.value in self.assume:
                    return self.assume[node.value]
                if len(node.value) == 1 and node.value.isalpha():
                    raise _Unbound(node.value, node)
            raise self.error(f"{self.source(node) or node.value} is not an index; expected a whole number, "
                             "a summed index or L", node)
        data = node.data
        if data == "group":
            items = _group_items(node)
            if len(items) == 1:
                return self.integer(items[0], env)
        elif data == "terms":
            total = self.integer(node.children[0], env)
            for op, operand in zip(node.children[1::2], node.children[2::2]):
                value = self.integer(operand, env)
                total = total + value if op.value == "+" else total - value
            return total
        elif data in ("negated", "negsarg"):
            sign = -1 if [c.value for c in node.children[:-1]].count("-") % 2 else 1
            return sign * self.integer(node.children[-1], env)
        elif data == "postfix":
            value = self.value(node, env)
            if isinstance(value, sp.Integer):
                return int(value)
        raise self.error(f"{self.source(node)} is not an index; expected a whole number, a summed index or L", node)

    def index_items(self, node, env) -> list:
        """The indices a subscript writes: digit runs to be cut, numbers, and variables."""
        if isinstance(node, Token):
            if node.type == "NUMBER":
                return [self._run(node)]
            if node.type == _NAME:
                return self._name_items(node, env)
            raise self.error(f"{node.value} is not an index; expected numbers or index letters", node)
        if node.data == "group":
            items = _group_items(node)
            if len(items) > 1:
                return [self._one_index(item, env) for item in items]
            node = items[0]
            if isinstance(node, Tree) and node.data == "mprod" and all(
                    isinstance(c, Token) and c.type in ("NUMBER", _NAME) for c in node.children):
                out = []
                for child in node.children:
                    out += self.index_items(child, env)
                return out
            if isinstance(node, Token):
                return self.index_items(node, env)
        return [self._one_index(node, env)]

    def _run(self, tok: Token):
        if "." in tok.value:
            raise self.error(f"index {tok.value} is not a whole number", tok)
        if len(tok.value) > MAX_INDEX_DIGITS:
            raise self.error(f"the index {tok.value[:20]}… has {len(tok.value)} digits; expected at most "
                             f"{MAX_INDEX_DIGITS} (separate indices with commas)", tok)
        return ("run", tok.value)

    def _name_items(self, tok: Token, env) -> list:
        value = tok.value
        if not re.fullmatch(r"[A-Za-z0-9]+", value):
            raise self.error(f"{self.source(tok)} is not an index; expected numbers or index letters", tok)
        out = []
        for part in re.findall(r"[A-Za-z]|\d+", value):
            if part.isdigit():
                out.append(self._run(_token("NUMBER", part, tok)))
            elif part in env:
                out.append(("int", env[part]))
            elif part in self.assume:
                out.append(("int", self.assume[part]))
            elif part == "L":
                out.append(("int", self.table.output_layer))
            else:
                out.append(("var", part))
        return out

    def _one_index(self, node, env):
        try:
            return ("int", self.integer(node, env))
        except _Unbound as unbound:
            if isinstance(node, Token) and node.type == _NAME:
                return ("var", node.value)
            raise unbound

    def value(self, node, env):
        """An index reader reads no values: an index written as an expression is not an index."""
        raise self.error(f"{self.source(node)} is not an index; expected a whole number, a summed index or L", node)
