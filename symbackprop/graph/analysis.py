"""Computational graphs: an expression as a graph of its operations, differentiated in two modes.

An expression (plain text read by the grammar in ``graph.lark``, never evaluated,
or a SymPy expression) becomes a :class:`Graph`: one :class:`Node` per distinct
subexpression, in topological order, and one :class:`Edge` per operand of every
operation, carrying the local partial derivative of the operation with respect to
that operand. Shared subexpressions are one node, so ``(a+b)*(b+1)`` has the
inputs a and b, the intermediate nodes c = a + b and d = b + 1 and the output
e = c·d; an operation that uses one node several times (``x*x*x``) has one edge
per use.

At a point (:func:`evaluate`), every node gets its value and every edge the value
of its local derivative. The chain rule then runs in two ways, each kept as a
table of steps with the value accumulated at every node:

* :func:`forward_mode`: one input x at a time; the tangent ∂n/∂x of every node n,
  in topological order, is the sum over n's incoming edges of (local derivative)
  times (the tangent of the edge's source);
* :func:`reverse_mode`: one output, every input at once; the adjoint ∂e/∂n of
  every node, in reverse topological order, is the sum over n's outgoing edges of
  (the adjoint of the edge's target) times (local derivative).

Both equal the sum over every path from the input to the output of the product
of the local derivatives along it (:func:`path_sums`), and both visit each edge
once, where listing the paths one by one visits an edge once per path through it
(:func:`path_counts`). :func:`check` compares every derivative the graph gives
with ``sympy.diff`` of the whole expression, symbolically and at the point.

>>> g = parse_graph("(a+b)*(b+1)")
>>> [(n.name, n.op) for n in g.nodes]
[('a', 'input'), ('b', 'input'), ('c', 'add'), ('d', 'add'), ('e', 'mul')]
>>> point = evaluate(g, {"a": 2, "b": 1})
>>> point.values
(2, 1, 3, 2, 6)
>>> [(g.nodes[s.node].name, s.total) for s in reverse_mode(point).steps]
[('e', 1), ('d', 3), ('c', 2), ('b', 5), ('a', 2)]
>>> [(p.input, p.count, p.total) for p in path_sums(point)]
[('a', 1, 2), ('b', 2, 5)]
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import mpmath
import sympy as sp
from sympy.core.add import _addsort
from sympy.core.mul import _mulsort
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from ..documents import printing
from ..model.activations import ACTIVATIONS
from ..documents.drawing import _round
from ..errors import SpecError, unknown_name
from ..claims.exact import expanded_terms
from ..claims.reading import MAX_DIGITS, MAX_EXPONENT, FormulaError, check_bounds, exact_number, grammar, place, span, syntax_error
from ..model.symbols import WrittenProduct, WrittenSum, written_product, written_sum

__all__ = [
    "Sigmoid", "WrittenSum", "WrittenProduct", "written_sum", "written_product", "Rule", "RULES", "FUNCTIONS",
    "Node", "Edge", "Graph", "parse_graph", "graph_of",
    "parse_point", "Evaluation", "evaluate", "Term", "Step", "Sweep", "forward_mode", "reverse_mode",
    "Path", "PathSum", "path_sums", "InputCount", "PathCounts", "path_counts", "Fact", "Check", "check",
    "symbolic_gradient", "NodePath", "DrawnNode", "DrawnEdge", "GraphDrawing", "layout", "Analysis", "analyse",
    "MODES", "MAX_DEPTH", "PATH_LIST_LIMIT", "MAX_MAGNITUDE",
]

#: deepest nesting of operations in one expression (x^x^x^..., - - - x); deeper text is refused
MAX_DEPTH = 100
#: the paths from one input to the output are listed one by one up to this many (always counted)
PATH_LIST_LIMIT = 32
#: the differentiation modes a request may ask for
MODES = ("forward", "reverse", "both")

_GRAMMAR_PATH = Path(__file__).with_name("graph.lark")


# ====================================================================== the sigmoid


#: the activation registry's rules, which hold σ(u) = 1/(1 + e^(−u)), σ' = σ(1 − σ) and tanh' = 1 − tanh²
_SIGMOID, _TANH = ACTIVATIONS["sigmoid"], ACTIVATIONS["tanh"]


class Sigmoid(sp.Function):
    """σ(u), the registry's sigmoid kept whole; at a number it is its definition (σ(0) = 1/2).

    Its derivative is the registry's identity σ(1 − σ) (:data:`RULES`); the checks
    differentiate the definition instead (:func:`definition`), never this rule. The
    printers in :mod:`symbackprop.printing` write it σ(u).
    """

    @classmethod
    def eval(cls, arg):
        if arg.is_number:
            return _SIGMOID.apply(arg)
        return None

    def fdiff(self, argindex=1):
        return _SIGMOID.prime_named(self.args[0], self)

    def _eval_rewrite_as_exp(self, arg, **kwargs):
        return _SIGMOID.apply(arg)


def definition(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every σ(u) written as 1/(1 + e^(−u)): what the independent checks differentiate."""
    return expr.replace(Sigmoid, _SIGMOID.apply)


# ====================================================================== display forms
# WrittenSum, WrittenProduct, written_sum and written_product come from symbols.py; the
# printers in printing.py write them and NodePath.


class NodePath(sp.Basic):
    """A path through the graph, for display: ``b → c → e``."""

    def __new__(cls, *symbols):
        return sp.Basic.__new__(cls, *symbols)


# ====================================================================== the rule table


@dataclass(frozen=True)
class Rule:
    """One operation: its value, its display form and its local partial derivatives.

    Each function takes the operands (SymPy expressions, one per edge, repeats
    allowed) followed by the operation's parameters. ``partials`` gives ∂/∂(operand i)
    for every operand; ``arity`` is the number of operands (None: any number ≥ 1).
    """

    name: str
    arity: int | None
    value: Callable[..., sp.Expr]
    show: Callable[..., sp.Expr]
    partials: Callable[..., tuple]


def _others(us, i):
    return [u for j, u in enumerate(us) if j != i]


def _add_show(us, constant, signs):
    terms, term_signs = list(us), list(signs)
    if constant != 0:
        negative = constant.could_extract_minus_sign()
        terms.append(-constant if negative else constant)
        term_signs.append(-1 if negative else 1)
    return WrittenSum(tuple(term_signs), *terms)


def _mul_show(us, coefficient):
    if coefficient == -1:
        return WrittenSum((-1,), written_product(us))
    factors = ([] if coefficient == 1 else [coefficient]) + list(us)
    return written_product(factors)


RULES = {
    # name: Rule(name, arity, value, display form, ∂/∂ each operand)
    "add":   Rule("add", None, lambda us, c, s: c + sum(si * u for si, u in zip(s, us)), _add_show,
                  lambda us, c, s: tuple(sp.Integer(si) for si in s)),
    "mul":   Rule("mul", None, lambda us, c: c * sp.Mul(*us), _mul_show,
                  lambda us, c: tuple(c * sp.Mul(*_others(us, i)) for i in range(len(us)))),
    "div":   Rule("div", 2, lambda us: us[0] / us[1],
                  lambda us: sp.Mul(us[0], sp.Pow(us[1], -1, evaluate=False), evaluate=False),
                  lambda us: (1 / us[1], -us[0] / us[1] ** 2)),
    "recip": Rule("recip", 1, lambda us, c: c / us[0],
                  lambda us, c: sp.Mul(c, sp.Pow(us[0], -1, evaluate=False), evaluate=False),
                  lambda us, c: (-c / us[0] ** 2,)),
    "pow":   Rule("pow", 1, lambda us, k: us[0] ** k, lambda us, k: sp.Pow(us[0], k, evaluate=False),
                  lambda us, k: (k * us[0] ** (k - 1),)),
    "expc":  Rule("expc", 1, lambda us, c: c ** us[0], lambda us, c: sp.Pow(c, us[0], evaluate=False),
                  lambda us, c: (c ** us[0] * sp.log(c),)),
    "powv":  Rule("powv", 2, lambda us: us[0] ** us[1], lambda us: sp.Pow(us[0], us[1], evaluate=False),
                  lambda us: (us[1] * us[0] ** (us[1] - 1), us[0] ** us[1] * sp.log(us[0]))),
    "exp":   Rule("exp", 1, lambda us: sp.exp(us[0]), lambda us: sp.exp(us[0]), lambda us: (sp.exp(us[0]),)),
    "log":   Rule("log", 1, lambda us: sp.log(us[0]), lambda us: sp.log(us[0]), lambda us: (1 / us[0],)),
    "sin":   Rule("sin", 1, lambda us: sp.sin(us[0]), lambda us: sp.sin(us[0]), lambda us: (sp.cos(us[0]),)),
    "cos":   Rule("cos", 1, lambda us: sp.cos(us[0]), lambda us: sp.cos(us[0]), lambda us: (-sp.sin(us[0]),)),
    "tan":   Rule("tan", 1, lambda us: sp.tan(us[0]), lambda us: sp.tan(us[0]),
                  lambda us: (1 + sp.tan(us[0]) ** 2,)),
    "tanh":  Rule("tanh", 1, lambda us: sp.tanh(us[0]), lambda us: sp.tanh(us[0]),
                  lambda us: (_TANH.prime_named(us[0], sp.tanh(us[0])),)),
    "sigmoid": Rule("sigmoid", 1, lambda us: Sigmoid(us[0]), lambda us: Sigmoid(us[0]),
                    lambda us: (_SIGMOID.prime_named(us[0], Sigmoid(us[0])),)),
}

#: the functions an expression may call, by the names it may use
FUNCTIONS = {"exp": "exp", "log": "log", "ln": "log", "sin": "sin", "cos": "cos", "tan": "tan",
             "tanh": "tanh", "sigma": "sigmoid", "sigmoid": "sigmoid", "sqrt": "sqrt"}

#: SymPy's function classes and the rule of each
_SYMPY_FUNCTIONS = {sp.exp: "exp", sp.log: "log", sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.tanh: "tanh",
                    Sigmoid: "sigmoid"}


# ====================================================================== the graph


@dataclass(frozen=True)
class Node:
    """One distinct subexpression.

    ``index`` is its place in topological order (operands first). An input has
    ``op == "input"`` and no operands; an operation names its rule in
    :data:`RULES`, lists its operands by index (once per use) and its parameters
    (``params``: the constant term and signs of a sum, the coefficient of a product,
    an exponent, a base). ``definition`` is the operation in the operands' symbols,
    as shown (c = a + b); ``expression`` is the node in the inputs alone.
    ``level`` is 0 for an input, else one more than its highest operand.
    """

    index: int
    name: str
    symbol: sp.Symbol
    op: str
    operands: tuple[int, ...]
    params: tuple
    level: int
    definition: sp.Expr | None
    expression: sp.Expr


@dataclass(frozen=True)
class Edge:
    """Operand ``slot`` of node ``target`` is node ``source``; ``partial`` is ∂target/∂(that operand).

    The partial is written in the symbols of the target's operands (for e = c·d,
    the edge from c carries d).
    """

    index: int
    source: int
    target: int
    slot: int
    partial: sp.Expr


@dataclass(frozen=True)
class Graph:
    """An expression as a graph: nodes in topological order (inputs first, the output last) and edges."""

    source: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    #: the expression as written, in the inputs (for display)
    formula: sp.Expr

    @property
    def inputs(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.op == "input")

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    @property
    def expression(self) -> sp.Expr:
        """The whole expression in the inputs (SymPy's evaluated form)."""
        return self.output.expression

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise SpecError(unknown_name("node", name, [n.name for n in self.nodes]))

    def into(self, index: int) -> tuple[Edge, ...]:
        """The edges into node ``index``, by operand slot."""
        return tuple(e for e in self.edges if e.target == index)

    def out_of(self, index: int) -> tuple[Edge, ...]:
        """The edges out of node ``index``, in edge order."""
        return tuple(e for e in self.edges if e.source == index)

    @property
    def depth(self) -> int:
        return self.output.level


class _Builder:
    """Collects distinct operations (one node per distinct (rule, params, operands)) in creation order."""

    def __init__(self):
        self.keys: dict[tuple, int] = {}
        self.entries: list[tuple] = []  # (op, operands, params, input name, display)

    def variable(self, name: str) -> int:
        return self._node(("input", name), ("input", (), (), name))

    def operation(self, op: str, operands, params=()) -> int:
        operands = tuple(operands)
        return self._node((op, operands, params), (op, operands, params, None))

    def _node(self, key, entry) -> int:
        if key not in self.keys:
            self.keys[key] = len(self.entries)
            self.entries.append(entry)
        return self.keys[key]

    def finish(self, source: str, root: int) -> Graph:
        """The graph of the node ``root``: its ancestors, renumbered in topological order, and named."""
        order: list[int] = []
        seen: set[int] = set()
        stack = [(root, False)]
        while stack:  # post-order, operands left to right
            index, expanded = stack.pop()
            if expanded:
                order.append(index)
                continue
            if index in seen:
                continue
            seen.add(index)
            stack.append((index, True))
            for operand in reversed(self.entries[index][1]):
                if operand not in seen:
                    stack.append((operand, False))
        # the inputs first (in the order they appear), then every operation after its operands
        order = [i for i in order if self.entries[i][0] == "input"] + \
                [i for i in order if self.entries[i][0] != "input"]
        renumber = {old: new for new, old in enumerate(order)}
        input_names = [self.entries[i][3] for i in order if self.entries[i][0] == "input"]
        names = iter(_intermediate_names(input_names, len(order) - len(input_names)))
        nodes: list[Node] = []
        edges: list[Edge] = []
        # each node's expression in the inputs: SymPy's arithmetic (sums, products, integer powers) is
        # evaluated with every other operation held as an opaque placeholder, so that no assumption about a
        # function of a long argument is ever asked (SymPy's reasoning about tanh, log, ... of such an
        # argument has no bound on its work); the placeholders are then written back without evaluation,
        # each distinct subexpression once
        opaque: list[sp.Expr] = []
        back: dict = {}
        memo: dict = {}
        for new, old in enumerate(order):
            op, operands, params, input_name = self.entries[old]
            operands = tuple(renumber[o] for o in operands)
            if op == "input":
                symbol = sp.Symbol(input_name)
                opaque.append(symbol)
                nodes.append(Node(new, input_name, symbol, op, (), (), 0, None, symbol))
                continue
            name = next(names)
            rule = RULES[op]
            symbols = [nodes[o].symbol for o in operands]
            if _is_arithmetic(op, params):
                opaque.append(rule.value([opaque[o] for o in operands], *params))
                expression = _rebuilt(opaque[-1], back.get, memo, ordered=True)
            else:
                expression = _unevaluated(op, [nodes[o].expression for o in operands], params)
                opaque.append(sp.Dummy(name))
                back[opaque[-1]] = expression
            level = 1 + max(nodes[o].level for o in operands)
            nodes.append(Node(new, name, sp.Symbol(name), op, operands, params, level,
                              rule.show(symbols, *params), expression))
            for slot, (o, partial) in enumerate(zip(operands, rule.partials(symbols, *params))):
                edges.append(Edge(len(edges), o, new, slot, partial))
        formula = _formula(nodes)
        return Graph(source, tuple(nodes), tuple(edges), formula)


#: the functions of :data:`RULES` by name, for a node written without evaluation
_FUNCTION_CLASSES = {"exp": sp.exp, "log": sp.log, "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "tanh": sp.tanh,
                     "sigmoid": Sigmoid}


def _is_arithmetic(op: str, params: tuple) -> bool:
    """Whether SymPy evaluates the node's operation when building its expression: a sum, a product, a
    quotient or an integer power (its arithmetic asks nothing of a function's argument)."""
    return op in ("add", "mul", "div", "recip") or (op == "pow" and params[0].is_Integer)


def _unevaluated(op: str, operands: list, params: tuple) -> sp.Expr:
    """A function application or non-integer power of ``operands``, as written (SymPy does not evaluate it)."""
    if op == "pow":
        return sp.Pow(operands[0], params[0], evaluate=False)
    if op == "expc":
        return sp.Pow(params[0], operands[0], evaluate=False)
    if op == "powv":
        return sp.Pow(operands[0], operands[1], evaluate=False)
    return _FUNCTION_CLASSES[op](operands[0], evaluate=False)


def _formula(nodes: list[Node]) -> sp.Expr:
    """The output written in the inputs, each operation shown as written."""
    shown: list[sp.Expr] = []
    for node in nodes:
        if node.op == "input":
            shown.append(node.symbol)
        else:
            shown.append(RULES[node.op].show([shown[o] for o in node.operands], *node.params))
    return shown[-1]


def _intermediate_names(inputs: list[str], count: int) -> list[str]:
    """Names for ``count`` operation nodes: the letters a, b, c, ... not used by an input, else v_1, v_2, ..."""
    letters = [c for c in "abcdefghijklmnopqrstuvwxyz" if c not in inputs]
    if count <= len(letters):
        return letters[:count]
    for prefix in ("v", "u", "t", "q", "node"):
        if not any(name.startswith(prefix + "_") for name in inputs):
            return [f"{prefix}_{i}" for i in range(1, count + 1)]
    return [f"node_{i}" for i in range(1, count + 1)]  # pragma: no cover - every prefix taken


# ====================================================================== reading text


@functools.cache
def _parser() -> Lark:
    return grammar(_GRAMMAR_PATH)


_OPERAND = "an operand (a variable, a number, a function such as exp(...) or '(')"
_CHARACTERS = ("a variable", "a number", "a function", "an operator (+ - * / ^)", "a bracket")
_EXPECTED = {"RPAR": "')'", "ADDOP": "'+', '-'", "MULOP": "'*'", "DIV": "'/'", "POW": "'^'",
             "$END": "the end of the expression"}
_EXPECTED_ORDER = ("RPAR", "ADDOP", "MULOP", "DIV", "POW", "$END")


def _expected(names, text: str, position: int) -> list[str]:
    """What may come at ``position``, in words; ')' only when a bracket is open, the end only when none is."""
    open_brackets = text[:position].count("(") - text[:position].count(")")
    names = set(names)
    if open_brackets <= 0:
        names.discard("RPAR")
    else:
        names.discard("$END")
    out = [_EXPECTED[n] for n in _EXPECTED_ORDER if n in names]
    if names & {"NUMBER", "NAME", "LPAR"}:
        out = [_OPERAND] + [o for o in out if o != "'+', '-'"]
    return out or [_OPERAND]


def _parse(text: str) -> Tree:
    try:
        return _parser().parse(text)
    except (UnexpectedToken, UnexpectedCharacters) as error:
        raise syntax_error(text, error, "expression", lambda names, position: _expected(names, text, position),
                           _CHARACTERS) from None


def _tree_depth(tree: Tree) -> int:
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return deepest


class _Reader:
    """Turns a parse tree into graph nodes; constants fold into the operation that uses them.

    Every reading returns either ``("const", value)`` or ``("node", index)``.
    """

    def __init__(self, text: str):
        self.text = text
        self.builder = _Builder()

    def fail(self, message: str, position: int):
        raise FormulaError(f"{message} (at {place(self.text, position)})", self.text, position)

    def _constant(self, value: sp.Expr, position: int) -> tuple:
        if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or value.is_extended_real is False:
            self.fail(f"the constant part here is {value}, not a finite real number", position)
        if value.is_Integer and len(str(abs(value))) > MAX_DIGITS:
            self.fail(f"a number computed here has more than {MAX_DIGITS} digits; expected at most {MAX_DIGITS}",
                      position)
        return ("const", value)

    def read(self, tree) -> tuple:
        if isinstance(tree, Token):  # only a NUMBER or NAME reaches here through a one-child rule
            raise AssertionError(tree)  # pragma: no cover
        return getattr(self, "_" + tree.data)(tree)

    def _start(self, tree):
        return self.read(tree.children[0])

    def _number(self, tree):
        token = tree.children[0]
        digits = token.value.replace(".", "")
        if len(digits) > MAX_DIGITS:
            self.fail(f"the number has {len(digits)} digits; expected at most {MAX_DIGITS}", token.start_pos)
        return ("const", exact_number(token.value))

    def _name(self, tree):
        token = tree.children[0]
        if token.value in FUNCTIONS:
            self.fail(f"{token.value} is a function; write {token.value}(...)", token.start_pos)
        return ("node", self.builder.variable(token.value))

    def _group(self, tree):
        return self.read(tree.children[1])

    def _call(self, tree):
        name, _, argument, _ = tree.children
        if name.value not in FUNCTIONS:
            self.fail(unknown_name("function", name.value, FUNCTIONS) + f"; write {name.value}*(...) for a product",
                      name.start_pos)
        op = FUNCTIONS[name.value]
        kind, value = self.read(argument)
        if op == "sqrt":
            if kind == "const":
                return self._constant(sp.sqrt(value), name.start_pos)
            return ("node", self.builder.operation("pow", [value], (sp.Rational(1, 2),)))
        if kind == "const":
            return self._constant(RULES[op].value([value]), name.start_pos)
        return ("node", self.builder.operation(op, [value]))

    def _negation(self, tree):
        kind, value = self.read(tree.children[1])
        sign = -1 if tree.children[0].value in "-−" else 1
        if kind == "const":
            return ("const", sign * value)
        if sign > 0:
            return (kind, value)
        return ("node", self.builder.operation("add", [value], (sp.S.Zero, (-1,))))

    def _signed_terms(self, tree):
        """(sign, tree) for every term of a sum, a unary sign of a term folded into its sign."""
        children = tree.children
        pairs = [(1, children[0])] + [(-1 if op.value in "-−" else 1, term)
                                      for op, term in zip(children[1::2], children[2::2])]
        for sign, term in pairs:
            while isinstance(term, Tree) and term.data == "negation":
                sign = -sign if term.children[0].value in "-−" else sign
                term = term.children[1]
            yield sign, term

    def _sum(self, tree):
        constant, operands, signs = sp.S.Zero, [], []
        for sign, term in self._signed_terms(tree):
            kind, value = self.read(term)
            if kind == "const":
                constant += sign * value
            else:
                operands.append(value)
                signs.append(sign)
        if not operands:
            return self._constant(constant, span(tree)[0])
        if len(operands) == 1 and signs[0] == 1 and constant == 0:
            return ("node", operands[0])
        return ("node", self.builder.operation("add", operands, (constant, tuple(signs))))

    def _product(self, tree):
        children = tree.children
        coefficient, operands = sp.S.One, []

        def close():
            """The product so far as one reading."""
            if not operands:
                return ("const", coefficient)
            if len(operands) == 1 and coefficient == 1:
                return ("node", operands[0])
            return ("node", self.builder.operation("mul", list(operands), (coefficient,)))

        first = self.read(children[0])
        if first[0] == "const":
            coefficient = first[1]
        else:
            operands.append(first[1])
        for op, factor in zip(children[1::2], children[2::2]):
            kind, value = self.read(factor)
            if op.type == "MULOP":
                if kind == "const":
                    coefficient *= value
                    self._constant(coefficient, op.start_pos)
                else:
                    operands.append(value)
                continue
            if kind == "const":  # division by a number: a coefficient
                if value == 0:
                    self.fail("division by zero", op.start_pos)
                coefficient /= value
                self._constant(coefficient, op.start_pos)
                continue
            numerator = close()
            if numerator[0] == "const":
                if numerator[1] == 0:
                    coefficient, operands = sp.S.Zero, []
                    continue
                index = self.builder.operation("recip", [value], (numerator[1],))
            else:
                index = self.builder.operation("div", [numerator[1], value])
            coefficient, operands = sp.S.One, [index]
        if coefficient == 0:
            return ("const", sp.S.Zero)
        return close()

    def _power(self, tree):
        base_tree, op, exponent_tree = tree.children
        base, exponent = self.read(base_tree), self.read(exponent_tree)
        position = op.start_pos
        if exponent[0] == "const":
            k = exponent[1]
            if k.is_Rational and abs(k) > MAX_EXPONENT:
                self.fail(f"the exponent {k} is too large; expected at most {MAX_EXPONENT} in size", position)
            if not k.is_Rational:
                self.fail(f"the exponent {k} is not a rational number; expected an integer or a fraction", position)
            if base[0] == "const":
                return self._constant(base[1] ** k, position)
            if k == 1:
                return base
            return ("node", self.builder.operation("pow", [base[1]], (k,)))
        if base[0] == "const":
            c = base[1]
            if not (c.is_positive and c != 1):
                self.fail(f"the base {c} of a power with a variable exponent must be a positive number other than 1",
                          position)
            return ("node", self.builder.operation("expc", [exponent[1]], (c,)))
        return ("node", self.builder.operation("powv", [base[1], exponent[1]]))


def parse_graph(text: str) -> Graph:
    """The graph of an expression written as plain text (``(a+b)*(b+1)``, ``exp(-x^2)``).

    Variables are names (letters, then letters, digits or ``_``); numbers are
    exact (``0.5`` is 1/2). Functions: exp, log (or ln), sin, cos, tan, tanh,
    sigma (or sigmoid), sqrt. Nothing the user writes is evaluated: the text is
    read by the grammar ``graph.lark``. Bad text raises :class:`FormulaError`
    with the position and what was expected there.
    """
    check_bounds(text)
    if not text.strip():
        raise FormulaError("the expression is empty; expected a formula such as (a+b)*(b+1)", text)
    tree = _parse(text)
    if _tree_depth(tree) > MAX_DEPTH:
        raise FormulaError(f"the expression nests operations more than {MAX_DEPTH} deep; expected at most "
                           f"{MAX_DEPTH} levels", text)
    reader = _Reader(text)
    kind, value = reader.read(tree)
    if kind == "const":
        raise FormulaError(f"the expression {text.strip()!r} has no variable; expected at least one, "
                           "such as a in (a+b)*(b+1)", text)
    return reader.builder.finish(text, value)


# ====================================================================== reading SymPy


def graph_of(expression) -> Graph:
    """The graph of an expression: plain text (see :func:`parse_graph`) or a SymPy expression.

    A SymPy expression is taken as SymPy holds it: a sum (``Add``) or product
    (``Mul``) is one node with one edge per non-constant argument, ``x**2`` is a power.
    """
    if isinstance(expression, str):
        return parse_graph(expression)
    if not isinstance(expression, sp.Expr):
        raise SpecError(f"an expression must be text or a SymPy expression, got {type(expression).__name__}")
    if not expression.free_symbols:
        raise SpecError(f"the expression {expression} has no variable; expected at least one")
    builder = _Builder()
    reading: dict[sp.Expr, tuple] = {}
    for sub in sp.postorder_traversal(expression):
        if sub not in reading:
            reading[sub] = _read_sympy(sub, reading, builder)
    kind, root = reading[expression]
    return builder.finish(str(expression), root)


def _read_sympy(expr, reading, builder: _Builder) -> tuple:
    if expr.is_Symbol:
        return ("node", builder.variable(expr.name))
    if not expr.free_symbols:
        if expr.is_number and expr.is_finite and expr.is_extended_real:
            return ("const", expr)
        raise SpecError(f"the constant {expr} is not a finite real number")
    args = [reading[a] for a in expr.args]
    if expr.is_Add:
        constant = sum((v for k, v in args if k == "const"), sp.S.Zero)
        operands, signs = [], []
        for arg, (kind, value) in zip(expr.args, args):
            if kind == "const":
                continue
            coefficient, rest = arg.as_coeff_Mul()
            if coefficient == -1 and rest.free_symbols:
                operands.append((reading[rest] if rest in reading else _read_sympy(rest, reading, builder))[1])
                signs.append(-1)
            else:
                operands.append(value)
                signs.append(1)
        return ("node", builder.operation("add", operands, (constant, tuple(signs))))
    if expr.is_Mul:
        coefficient = sp.Mul(*[v for k, v in args if k == "const"])
        operands = [v for k, v in args if k == "node"]
        if len(operands) == 1 and coefficient == 1:
            return ("node", operands[0])
        return ("node", builder.operation("mul", operands, (coefficient,)))
    if expr.is_Pow:
        (bk, base), (ek, exponent) = args
        if ek == "const":
            return ("node", builder.operation("pow", [base], (exponent,)))
        if bk == "const":
            if base == sp.E:
                return ("node", builder.operation("exp", [exponent]))
            return ("node", builder.operation("expc", [exponent], (base,)))
        return ("node", builder.operation("powv", [base, exponent]))
    rule = _SYMPY_FUNCTIONS.get(expr.func)
    if rule is not None and len(args) == 1:
        return ("node", builder.operation(rule, [args[0][1]]))
    names = sorted({*(f.__name__ for f in _SYMPY_FUNCTIONS), "Add", "Mul", "Pow"})
    raise SpecError(f"the graph has no rule for {expr.func.__name__} (in {expr}); expected one of: {', '.join(names)}")


# ====================================================================== a point


_NUMBER = re.compile(r"[+-]?(?P<mantissa>\d+(?:\.\d*)?|\.\d+)(?:[eE](?P<exponent>[+-]?\d{1,4}))?(?:/(?P<denominator>\d+))?")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_NUMBER_WORDS = "an integer, a decimal or a fraction such as 2, -0.5 or 1/3"
#: the largest size |v| of a value a node, an edge or a sweep may take (the most an exact value of
#: MAX_DIGITS digits can be); larger values are refused before anything is computed from them
MAX_MAGNITUDE = 10 ** MAX_DIGITS


def _digits(n: int) -> int:
    """The number of decimal digits of ``n`` (without converting it to text)."""
    n = abs(n)
    digits = max(1, int(n.bit_length() * 0.30102999566398120))
    return digits + (n >= 10 ** digits)


def _exact_value(value, what: str) -> sp.Rational:
    """An exact number from text, an int, a Fraction or a SymPy rational; a float is read as it prints.

    Its numerator and denominator may have at most :data:`MAX_DIGITS` digits each
    (``1e300`` is allowed, ``1e301`` is not); text is measured before it is converted.
    """
    if isinstance(value, bool):
        raise SpecError(f"{what} is {value!r}; expected {_NUMBER_WORDS}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{what} is {value!r}; expected a finite number")
    if isinstance(value, str):
        shown = value.strip()
        match = _NUMBER.fullmatch(shown)
        if not match:
            raise SpecError(f"{what} is {value!r}, not a number; expected {_NUMBER_WORDS}")
        written = sum(c.isdigit() for c in match["mantissa"]) + len(match["denominator"] or "")
        exponent = int(match["exponent"] or 0)
        if written > MAX_DIGITS or abs(exponent) > MAX_DIGITS:
            raise SpecError(_too_long(what, _clipped(shown), f"more than {MAX_DIGITS}"))
        numerator, _, denominator = shown.partition("/")
        if denominator and int(denominator) == 0:
            raise SpecError(f"{what} is {value!r}, a division by zero; expected {_NUMBER_WORDS}")
        number = sp.Rational(Fraction(numerator) / (int(denominator) if denominator else 1))
    elif isinstance(value, (int, Fraction, float, sp.Rational)):
        number = sp.Rational(Fraction(repr(value))) if isinstance(value, float) else sp.Rational(value)
    else:
        raise SpecError(f"{what} is {value!r}, not a number; expected {_NUMBER_WORDS}")
    longest = max(_digits(number.p), _digits(number.q))
    if longest > MAX_DIGITS:
        raise SpecError(_too_long(what, _clipped(str(value) if longest < 4000 else type(value).__name__), longest))
    return number


def _too_long(what: str, shown: str, digits) -> str:
    return (f"{what} is {shown}, an exact number of {digits} digits; expected at most {MAX_DIGITS} digits above "
            f"and below the fraction bar (1e{MAX_DIGITS - 1} and 1e-{MAX_DIGITS - 1} are the extremes)")


def _clipped(text: str) -> str:
    """``text`` quoted, cut in the middle when it is long."""
    return repr(text if len(text) <= 40 else f"{text[:18]}…{text[-18:]}")


def parse_point(text: str) -> dict[str, sp.Rational]:
    """Values from ``name=number,name=number`` (as given to ``--at``): ``a=2,b=1`` or ``x=-1/2``."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError("no values given; expected name=number pairs separated by commas, such as a=2,b=1")
    problems, point = [], {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not _NAME.fullmatch(name):
            problems.append(f"{item.strip()!r} is not a value; expected name=number, such as a=2")
            continue
        if name in point:
            problems.append(f"{name} is given twice; expected one value per variable")
            continue
        try:
            point[name] = _exact_value(value, f"the value of {name}")
        except SpecError as error:
            problems.extend(error.problems)
    if problems:
        raise SpecError(problems)
    return point


@dataclass(frozen=True)
class Evaluation:
    """A graph at a point: the value of every node and of every edge's local derivative, exact."""

    graph: Graph
    point: tuple[tuple[str, sp.Expr], ...]
    values: tuple[sp.Expr, ...]
    partials: tuple[sp.Expr, ...]


def _at(point) -> str:
    """A point in words: ``a = 2, b = 1``."""
    return ", ".join(f"{name} = {_clipped(str(value))[1:-1]}" for name, value in point)


def _finite_real(value) -> bool:
    return not value.has(sp.zoo, sp.nan, sp.oo, -sp.oo) and value.is_extended_real is not False


class _NoRule(Exception):
    """A function the tree evaluation has no rule for."""


def _tree_value(expr: sp.Expr, point: Mapping, context, digits: int):
    """``expr`` at ``point`` (symbol → Rational) in mpmath's ``context`` at ``digits`` digits: an interval
    (``mpmath.iv``) sure to hold the value, or a number (``mpmath.mp``); ``None`` where there is no real
    value (a logarithm of a negative number, a division by zero) or no rule for a function. Each
    distinct subexpression is computed once, so the work is one operation per distinct subexpression
    (SymPy's ``evalf`` walks the whole tree, and again at a higher precision when it loses digits)."""
    memo: dict = {}

    def number(r):
        return context.mpf(int(r.p)) / int(r.q)

    def value(e):
        if e in memo:
            return memo[e]
        if e.is_Rational:
            result = number(e)
        elif e.is_Symbol:
            result = number(point[e])
        elif e is sp.pi:
            result = context.pi
        elif e is sp.E:
            result = context.e
        elif e.is_Add:
            result = value(e.args[0])
            for a in e.args[1:]:
                result = result + value(a)
        elif e.is_Mul:
            result = value(e.args[0])
            for a in e.args[1:]:
                result = result * value(a)
        elif e.is_Pow:
            base = value(e.base)
            if e.exp.is_Integer:
                if e.exp < 0 and (0 in base if context is mpmath.iv else base == 0):
                    raise ZeroDivisionError
                result = base ** int(e.exp)
            elif e.exp == sp.S.Half:
                if base < 0:
                    raise ValueError(e)
                result = context.sqrt(base)
            else:
                if base <= 0:
                    raise ValueError(e)
                result = context.exp(value(e.exp) * context.log(base))
        elif isinstance(e, sp.tanh):
            result = 1 - 2 / (context.exp(2 * value(e.args[0])) + 1)
        elif isinstance(e, Sigmoid):
            result = 1 / (1 + context.exp(-value(e.args[0])))
        elif isinstance(e, sp.log):
            argument = value(e.args[0])
            if argument <= 0:
                raise ValueError(e)
            result = context.log(argument)
        elif isinstance(e, (sp.exp, sp.sin, sp.cos, sp.tan)):
            result = getattr(context, type(e).__name__)(value(e.args[0]))
        else:
            raise _NoRule(e)
        memo[e] = result
        return result

    saved = context.dps
    try:
        context.dps = digits
        return value(expr)
    except (_NoRule, ZeroDivisionError, ValueError, ArithmeticError, KeyError):
        return None
    finally:
        context.dps = saved


#: digits carried by the estimates that bound the exact values
_ESTIMATE_DIGITS = 30


def _estimate(value) -> sp.Expr:
    """``value`` to :data:`_ESTIMATE_DIGITS` digits (for a value whose parts are all bounded in size)."""
    return sp.N(value, _ESTIMATE_DIGITS)


def _check_size(estimate, what: str, where: str) -> None:
    """Refuse ``what`` (at the point ``where``) when its ``estimate`` exceeds :data:`MAX_MAGNITUDE` in size."""
    if estimate.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or not estimate.is_number:
        return  # undefined, not large: the exact value says so
    size = abs(estimate)
    if not size.is_Float or size <= MAX_MAGNITUDE:
        return
    order = mpmath.floor(mpmath.log10(mpmath.mpf(size._mpf_)))
    shown = f"10^{int(order)}" if order < 10 ** 9 else f"10^({mpmath.nstr(order, 3)})"
    raise SpecError(f"{what} at {where} is about {shown} in size; expected at most 10^{MAX_DIGITS} "
                    "(choose smaller values or a smaller expression)")


def _bounded(value: sp.Expr, what: str, where: str, estimate=None) -> sp.Expr:
    """``value`` when its size is at most :data:`MAX_MAGNITUDE` and every exact number in it has at most
    :data:`MAX_DIGITS` digits; else a :class:`SpecError` naming ``what`` (at the point ``where``) and the bound.

    ``estimate`` is the value to a few digits when already known (see :func:`evaluate`).
    """
    for number in value.atoms(sp.Rational):
        longest = max(_digits(number.p), _digits(number.q))
        if longest > MAX_DIGITS:
            raise SpecError(f"{what} at {where} is an exact number with {longest} digits; expected at most "
                            f"{MAX_DIGITS} digits (choose smaller values or a smaller expression)")
    if estimate is None:
        size = _tree_value(value, {}, mpmath.mp, _ESTIMATE_DIGITS)
        estimate = sp.S.Zero if size is None else sp.Float(size, _ESTIMATE_DIGITS)
    _check_size(estimate, what, where)
    return value


def evaluate(graph: Graph, point: Mapping) -> Evaluation:
    """Every node's value and every edge's local derivative at ``point`` (name → number).

    Every variable needs a value and every value a variable; a node or edge that is
    undefined there (log 0, a division by 0) is refused, naming it. So is one whose
    size exceeds :data:`MAX_MAGNITUDE` or whose exact value holds a number of more
    than :data:`MAX_DIGITS` digits: each node is first computed to
    :data:`_ESTIMATE_DIGITS` digits from its operands' estimates (cheap, since they
    are bounded), and only then exactly, so that the work stays bounded for every
    input (``exp(exp(exp(a)))`` at a = 10 stops at exp(exp(10)) ≈ 10^9565).
    """
    if isinstance(point, str):
        point = parse_point(point)
    names = [n.name for n in graph.inputs]
    problems = []
    for name in point:
        if name not in names:
            problems.append(f"{name} is not a variable of {graph.source.strip()}; its variables are "
                            f"{', '.join(names)}")
    missing = [name for name in names if name not in point]
    if missing:
        problems.append(f"no value for {', '.join(missing)}; expected a value for every variable "
                        f"({', '.join(names)}), such as --at " + ",".join(f"{n}=1" for n in names))
    numbers = {}
    for name in names:
        if name in point:
            try:
                numbers[name] = _exact_value(point[name], f"the value of {name}")
            except SpecError as error:
                problems.extend(error.problems)
    if problems:
        raise SpecError(problems)
    where = _at((n, numbers[n]) for n in names)
    values: list[sp.Expr] = []
    estimates: list[sp.Expr] = []
    for node in graph.nodes:
        if node.op == "input":
            values.append(numbers[node.name])
            estimates.append(_estimate(numbers[node.name]))
            continue
        rule = RULES[node.op]
        what = f"node {node.name} = {printing.text(node.definition)}"
        estimate = _estimate(rule.value([estimates[o] for o in node.operands], *node.params))
        _check_size(estimate, what, where)  # before the exact value: 2^(10^300) would take forever
        value = rule.value([values[o] for o in node.operands], *node.params)
        if not _finite_real(value):
            raise SpecError(f"{what} is undefined at {where} (it evaluates to {value}); "
                            "expected a finite real number")
        values.append(_bounded(value, what, where, estimate))
        estimates.append(estimate)
    by_symbol = {node.symbol: values[node.index] for node in graph.nodes}
    by_estimate = {node.symbol: estimates[node.index] for node in graph.nodes}
    partials = []
    for edge in graph.edges:
        what = f"the derivative of {graph.nodes[edge.target].name} with respect to {graph.nodes[edge.source].name}"
        estimate = _estimate(edge.partial.xreplace(by_estimate))
        _check_size(estimate, what, where)
        value = edge.partial.xreplace(by_symbol)
        if not _finite_real(value):
            raise SpecError(f"{what} is undefined at {where} (it evaluates to {value}); expected a finite real number")
        partials.append(_bounded(value, what, where, estimate))
    return Evaluation(graph, tuple((n, numbers[n]) for n in names), tuple(values), tuple(partials))


# ====================================================================== the two modes


@dataclass(frozen=True)
class Term:
    """One edge's contribution to a node: ``local`` (the edge's derivative) times ``carried``.

    In forward mode ``carried`` is the tangent of the edge's source; in reverse mode
    the adjoint of the edge's target.
    """

    edge: int
    local: sp.Expr
    carried: sp.Expr
    product: sp.Expr


@dataclass(frozen=True)
class Step:
    """The value accumulated at one node: the sum of its terms, or its seed (``seed`` not None)."""

    node: int
    terms: tuple[Term, ...]
    total: sp.Expr
    seed: sp.Expr | None = None
    #: False for a node that the sweep's start does not reach (its derivative is 0 without any work)
    reached: bool = True


@dataclass(frozen=True)
class Sweep:
    """A forward sweep (∂n/∂x for every node n, ``start`` the input x) or a reverse sweep
    (∂e/∂n for every node n, ``start`` the output e), step by step."""

    mode: str
    start: int
    steps: tuple[Step, ...]

    @property
    def edges_visited(self) -> int:
        return sum(len(step.terms) for step in self.steps)

    def total(self, node: int) -> sp.Expr:
        for step in self.steps:
            if step.node == node:
                return step.total
        raise KeyError(node)  # pragma: no cover - every node has a step


def forward_mode(evaluation: Evaluation, wrt: str) -> Sweep:
    """Forward mode from input ``wrt``: every node's tangent ∂n/∂wrt, in topological order."""
    graph = evaluation.graph
    start = graph.node(wrt)
    if start.op != "input":
        raise SpecError(f"forward mode starts at an input; {wrt} is an operation node "
                        f"(inputs: {', '.join(n.name for n in graph.inputs)})")
    tangent: dict[int, sp.Expr] = {}
    reached: set[int] = set()
    steps = []
    for node in graph.nodes:
        if node.op == "input":
            seed = sp.S.One if node.index == start.index else sp.S.Zero
            tangent[node.index] = seed
            if seed:
                reached.add(node.index)
            steps.append(Step(node.index, (), seed, seed, bool(seed)))
            continue
        terms = tuple(
            Term(e.index, evaluation.partials[e.index], tangent[e.source],
                 evaluation.partials[e.index] * tangent[e.source])
            for e in graph.into(node.index) if e.source in reached)
        if terms:
            reached.add(node.index)
        tangent[node.index] = _bounded(sp.Add(*(t.product for t in terms)), f"∂{node.name}/∂{wrt}",
                                       _at(evaluation.point))
        steps.append(Step(node.index, terms, tangent[node.index], None, bool(terms)))
    return Sweep("forward", start.index, tuple(steps))


def reverse_mode(evaluation: Evaluation) -> Sweep:
    """Reverse mode from the output: every node's adjoint ∂e/∂n, in reverse topological order."""
    graph = evaluation.graph
    output = graph.output.index
    adjoint: dict[int, sp.Expr] = {output: sp.S.One}
    steps = [Step(output, (), sp.S.One, sp.S.One)]
    for node in reversed(graph.nodes[:-1]):
        terms = tuple(
            Term(e.index, evaluation.partials[e.index], adjoint[e.target],
                 adjoint[e.target] * evaluation.partials[e.index])
            for e in graph.out_of(node.index))
        adjoint[node.index] = _bounded(sp.Add(*(t.product for t in terms)),
                                       f"∂{graph.output.name}/∂{node.name}", _at(evaluation.point))
        steps.append(Step(node.index, terms, adjoint[node.index]))
    return Sweep("reverse", output, tuple(steps))


# ====================================================================== paths


@dataclass(frozen=True)
class Path:
    """One path from an input to the output: its edges, its nodes and the product of its local derivatives."""

    edges: tuple[int, ...]
    nodes: tuple[int, ...]
    factors: tuple[sp.Expr, ...]
    product: sp.Expr


@dataclass(frozen=True)
class PathSum:
    """Every path from ``input`` to the output (listed when there are at most :data:`PATH_LIST_LIMIT`)
    and the sum of their products, which is ∂output/∂input."""

    input: str
    count: int
    paths: tuple[Path, ...]
    total: sp.Expr | None

    @property
    def listed(self) -> bool:
        return len(self.paths) == self.count


def _count_paths(graph: Graph) -> tuple[list[int], list[int]]:
    """Per node: the number of paths to the output, and the number of edges on them all together."""
    count = [0] * len(graph.nodes)
    length = [0] * len(graph.nodes)
    count[-1] = 1
    for node in reversed(graph.nodes[:-1]):
        for e in graph.out_of(node.index):
            count[node.index] += count[e.target]
            length[node.index] += length[e.target] + count[e.target]
    return count, length


def path_sums(evaluation: Evaluation) -> tuple[PathSum, ...]:
    """For every input, its paths to the output and the sum over them of the products along them."""
    graph = evaluation.graph
    count, _ = _count_paths(graph)
    sums = []
    for node in graph.inputs:
        if count[node.index] > PATH_LIST_LIMIT:
            sums.append(PathSum(node.name, count[node.index], (), None))
            continue
        paths: list[Path] = []
        stack = [(node.index, ())]
        while stack:
            at, edges = stack.pop()
            if at == graph.output.index:
                factors = tuple(evaluation.partials[e] for e in edges)
                nodes = (node.index,) + tuple(graph.edges[e].target for e in edges)
                product = _bounded(sp.Mul(*factors), "the product along the path "
                                   + " → ".join(graph.nodes[i].name for i in nodes), _at(evaluation.point))
                paths.append(Path(edges, nodes, factors, product))
                continue
            for e in reversed(graph.out_of(at)):
                stack.append((e.target, edges + (e.index,)))
        sums.append(PathSum(node.name, len(paths), tuple(paths), sp.Add(*(p.product for p in paths))))
    return tuple(sums)


@dataclass(frozen=True)
class InputCount:
    """For one input: its paths to the output, the edge visits of listing them one by one
    (every path's length, summed) and the edges a forward sweep from it visits (each once)."""

    input: str
    paths: int
    visits: int
    merged: int


@dataclass(frozen=True)
class PathCounts:
    """The count that motivates backpropagation, for one graph.

    ``edges`` is also what one reverse sweep visits to get every input's derivative:
    each edge of the graph once.
    """

    inputs: tuple[InputCount, ...]
    edges: int

    @property
    def paths(self) -> int:
        return sum(c.paths for c in self.inputs)

    @property
    def visits(self) -> int:
        return sum(c.visits for c in self.inputs)

    @property
    def forward(self) -> int:
        """Edges visited by one forward sweep per input."""
        return sum(c.merged for c in self.inputs)


def path_counts(graph: Graph) -> PathCounts:
    """Paths enumerated one by one against edges visited when paths are merged at every node."""
    count, length = _count_paths(graph)
    rows = []
    for node in graph.inputs:
        reach = {node.index}
        merged = 0
        for e in graph.edges:  # edges are in topological order of their targets
            if e.source in reach:
                reach.add(e.target)
                merged += 1
        rows.append(InputCount(node.name, count[node.index], length[node.index], merged))
    return PathCounts(tuple(rows), len(graph.edges))


# ====================================================================== the independent check


def symbolic_gradient(graph: Graph, inputs: Mapping | None = None) -> dict[str, sp.Expr]:
    """∂output/∂x for every input x, in the inputs, from the edges' local derivatives alone.

    The adjoints of reverse mode, symbolically: each edge's derivative with the
    operands' symbols replaced by the nodes' expressions. ``inputs`` may map each
    input's symbol to another symbol to write the result in (real symbols, for the check).
    """
    by_symbol = {node.symbol: node.expression.xreplace(inputs) if inputs else node.expression
                 for node in graph.nodes}
    adjoint = {graph.output.index: sp.S.One}
    for node in reversed(graph.nodes[:-1]):
        adjoint[node.index] = sp.Add(*(adjoint[e.target] * e.partial.xreplace(by_symbol)
                                       for e in graph.out_of(node.index)))
    return {node.name: adjoint[node.index] for node in graph.inputs}


@dataclass(frozen=True)
class Fact:
    """One comparison with ``sympy.diff`` of the whole expression.

    ``kind`` is ``"symbolic"`` (the graph's derivative as a function of the inputs)
    or ``"point"`` (at the point: forward sweep, reverse sweep and path sum).
    ``method`` says how the answer was established: ``"exact"`` (a bounded algebraic
    check shows the difference is 0, or the values are equal numbers), ``"numeric"``
    (interval arithmetic: equal to 25 digits at rational points, which is evidence and
    not a proof, or intervals that do not overlap, which shows a difference) or
    ``"undecided"`` (neither within the bounds on the work; ``ok`` is then None).
    ``oracle`` is what SymPy gives; ``shown`` is the same written for display, with
    the graph's named nodes in place of their expressions when written out in full
    it would be long (see :data:`SHOWN_NODES`).
    """

    kind: str
    input: str
    graph: tuple[sp.Expr, ...]
    oracle: sp.Expr
    ok: bool | None
    method: str
    shown: sp.Expr | None = None


@dataclass(frozen=True)
class Check:
    """Every derivative of a graph compared with ``sympy.diff``: ``ok`` when all agree, ``failed`` when one
    differs (an undecided comparison is neither)."""

    facts: tuple[Fact, ...]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.facts)

    @property
    def failed(self) -> bool:
        return any(f.ok is False for f in self.facts)


#: the most terms an expansion may produce for ``_same`` to try it: (a + b)^3 (c + d) counts 4 · 2
EXPAND_TERMS = 500
#: the most nodes of a difference that ``_same`` hands to SymPy's cancellation
CANCEL_NODES = 200
#: the most digits (numerators and denominators together) of the numbers in a difference that ``_same`` expands
#: or cancels: the greatest common divisors of cancellation grow with them; a difference of two numbers (values
#: at the point) is only expanded, never cancelled
ALGEBRA_DIGITS = 300
#: digits of the interval arithmetic that decides numerically, tried in turn while the intervals are too wide
#: to decide; and the relative agreement it requires
INTERVAL_DIGITS = (40, 120)
AGREEMENT = mpmath.mpf("1e-25")
#: rational points tried for a numeric comparison of two functions, and how many must agree
POINTS_TRIED, POINTS_NEEDED = 8, 3
#: the most nodes an exact value at the point may have for the oracle to be written out there exactly; and
#: the most nodes of a displayed derivative before it is written with the graph's named nodes
EXACT_NODES = 60
SHOWN_NODES = 120


def _nodes(expr: sp.Expr, limit: int) -> int:
    """The nodes of ``expr``'s tree, counted up to ``limit + 1``."""
    count = 0
    for _ in sp.preorder_traversal(expr):
        count += 1
        if count > limit:
            break
    return count


def _interval(expr: sp.Expr, point: Mapping, digits: int):
    """``expr`` at ``point`` (symbol → Rational) in interval arithmetic at ``digits`` digits: an interval
    sure to hold the value, or ``None`` where it has none (a logarithm of a negative number, a division by
    zero) or the arithmetic has no rule for a function (:func:`_tree_value`)."""
    return _tree_value(expr, point, mpmath.iv, digits)


def _compare_at(left: sp.Expr, right: sp.Expr, point: Mapping) -> bool | None:
    """At ``point``: True when the two expressions agree to AGREEMENT (relative), False when their
    intervals do not overlap (they differ there, for certain), None when the arithmetic cannot tell (no
    value there, no rule, or intervals too wide at every precision of :data:`INTERVAL_DIGITS`)."""
    for digits in INTERVAL_DIGITS:
        a, b = _interval(left, point, digits), _interval(right, point, digits)
        if a is None or b is None:
            return None
        difference = a - b
        if 0 not in difference:
            return False
        if abs(difference).b <= AGREEMENT * max(1, abs(b).b):
            return True
    return None


def _function_arguments(expr: sp.Expr) -> list:
    """The arguments of every function application and non-integer power in ``expr`` (each distinct
    subexpression visited once): what ``sympy.expand`` expands besides the expression itself."""
    found, seen, stack = [], set(), [expr]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        if isinstance(e, sp.Function) or (e.is_Pow and not e.exp.is_Integer):
            found.extend(e.args)
        stack.extend(e.args)
    return found


def _algebra_bounded(difference: sp.Expr) -> bool:
    """Whether expanding and cancelling ``difference`` is bounded: at most :data:`CANCEL_NODES` nodes and
    :data:`ALGEBRA_DIGITS` digits in its numbers, and at most :data:`EXPAND_TERMS` terms from the expansion
    of it and of every function's argument."""
    if _nodes(difference, CANCEL_NODES) > CANCEL_NODES:
        return False
    if sum(_digits(r.p) + _digits(r.q) for r in _distinct(difference) if r.is_Rational) > ALGEBRA_DIGITS:
        return False
    return all(expanded_terms(e, EXPAND_TERMS) <= EXPAND_TERMS for e in [difference, *_function_arguments(difference)])


def _same(left: sp.Expr, right: sp.Expr, seed: int) -> tuple[bool | None, str]:
    """Whether two expressions (σ written out) are equal, and by which method: ``"exact"`` when a bounded
    algebraic check shows it, else ``"numeric"`` (interval arithmetic at the expressions' point, or at
    :data:`POINTS_NEEDED` rational points drawn with ``seed``), else ``(None, "undecided")``.

    The exact checks are structural equality, then expansion and cancellation, tried only when counts
    on the expression's tree bound their work (:func:`_algebra_bounded`); the interval arithmetic does
    one operation per distinct subexpression at each of a fixed number of precisions and points. The
    decision is the same on every machine and never waits on SymPy's open-ended ``simplify``.
    """
    difference = left - right
    if difference == 0:
        return True, "exact"
    if _algebra_bounded(difference) and (sp.expand(difference) == 0 or (
            difference.free_symbols and sp.cancel(difference) == 0)):
        return True, "exact"
    variables = sorted(difference.free_symbols, key=str)
    rng = random.Random(seed)
    points = [{}] if not variables else [
        {v: sp.Rational(rng.randint(1, 9), rng.randint(2, 9)) for v in variables} for _ in range(POINTS_TRIED)]
    agreed = 0
    for point in points:
        agree = _compare_at(left, right, point)
        if agree is False:
            return False, "numeric"
        agreed += bool(agree)
        if agreed == min(POINTS_NEEDED, len(points)):
            return True, "numeric"
    return None, "undecided"


def _real_inputs(graph: Graph) -> dict:
    """Each input's symbol → the same name as a real symbol: the check computes in these, since SymPy's
    reasoning about expressions in complex symbols (while differentiating) has no bound on its work."""
    return {n.symbol: sp.Symbol(n.name, real=True) for n in graph.inputs}


def _written_out(graph: Graph, real: Mapping) -> dict:
    """Every node's symbol → the node in the real inputs, σ written as its definition: built once per
    node from its operands', so that no expression is rewritten as a whole."""
    written: dict = {}
    for node in graph.nodes:
        if node.op == "input":
            written[node.symbol] = real[node.symbol]
            continue
        operands = [written[graph.nodes[o].symbol] for o in node.operands]
        written[node.symbol] = _tanh_definition(operands[0]) if node.op == "tanh" else \
            _SIGMOID.apply(operands[0]) if node.op == "sigmoid" else RULES[node.op].value(operands, *node.params)
    return written


def _tanh_definition(u: sp.Expr) -> sp.Expr:
    """tanh(u) = 1 − 2/(e^(2u) + 1), as the check writes it: SymPy's reasoning about tanh of a long
    argument (whether it is real, finite) has no bound on its work, its reasoning about exp has."""
    return 1 - 2 / (sp.exp(2 * u) + 1)


def _written_rule(expr: sp.Expr) -> sp.Expr:
    """A local derivative (short, in the operands' symbols) with σ and tanh written as the check writes them."""
    return definition(expr).replace(sp.tanh, _tanh_definition)


def _gradient_written_out(graph: Graph, written: Mapping) -> dict[str, sp.Expr]:
    """:func:`symbolic_gradient` in the real inputs with σ written out (each edge's derivative is
    written out while still in the operands' symbols, where it is short)."""
    adjoint = {graph.output.index: sp.S.One}
    for node in reversed(graph.nodes[:-1]):
        adjoint[node.index] = sp.Add(*(adjoint[e.target] * _written_rule(e.partial).xreplace(written)
                                       for e in graph.out_of(node.index)))
    return {node.name: adjoint[node.index] for node in graph.inputs}


def _rebuilt(expr: sp.Expr, replace: Callable, memo: dict, ordered: bool = False) -> sp.Expr:
    """``expr`` with every subexpression that ``replace`` answers (not None) replaced, rebuilt without
    evaluation, each distinct subexpression once; ``ordered``: the terms of every sum and the factors of
    every product sorted as SymPy sorts them when it evaluates (a comparison of structure alone)."""
    if expr in memo:
        return memo[expr]
    found = replace(expr)
    if found is None and not expr.args:
        found = expr
    elif found is None:
        args = [_rebuilt(a, replace, memo, ordered) for a in expr.args]
        if ordered and expr.is_Add:
            _addsort(args)
        elif ordered and expr.is_Mul:
            _mulsort(args)
        found = expr.func(*args, evaluate=False)
    memo[expr] = found
    return found


def _shown(graph: Graph, expr: sp.Expr, written: Mapping) -> sp.Expr:
    """``expr`` (in the inputs, σ written out) for display: as it is when short, else with every
    node's expression written as the node's name (``i``, ``h``, …), so that a long derivative stays
    readable and its printing stays bounded."""
    if _nodes(expr, SHOWN_NODES) <= SHOWN_NODES:
        return expr
    names = {}
    for node in graph.nodes:
        if node.op != "input":
            names.setdefault(written[node.symbol], sp.Symbol(node.name, real=True))
    return _rebuilt(expr, names.get, {})


def _is_rational_function(expr: sp.Expr) -> bool:
    """Whether ``expr`` is built from symbols and rationals by +, · and integer powers alone."""
    return all(e.is_Symbol or e.is_Rational or e.is_Add or e.is_Mul or (e.is_Pow and e.exp.is_Integer)
               for e in _distinct(expr))


def _distinct(expr: sp.Expr):
    """Every distinct subexpression of ``expr``, once."""
    seen, stack = set(), [expr]
    while stack:
        e = stack.pop()
        if e not in seen:
            seen.add(e)
            yield e
            stack.extend(e.args)


def check(graph: Graph, evaluation: Evaluation | None = None, sweeps=None) -> Check:
    """Every derivative the graph gives, against ``sympy.diff`` of the whole expression.

    Symbolically: the graph's gradient (:func:`symbolic_gradient`) for every input. At
    ``evaluation``'s point (when given): the forward sweep from each input, the reverse
    sweep and the path sum. ``sweeps`` may pass the sweeps already made as ``(forward,
    reverse)``. Both sides are written in real symbols (:func:`_real_inputs`) with σ
    written as its definition, so SymPy differentiates the definition, never σ's rule.
    """
    real = _real_inputs(graph)
    written = _written_out(graph, real)
    composed = written[graph.output.symbol]
    symbolic = _gradient_written_out(graph, written)
    oracles = {}
    facts = []
    for index, node in enumerate(graph.inputs):
        oracle = oracles[node.name] = sp.diff(composed, real[node.symbol])
        ok, method = _same(symbolic[node.name], oracle, seed=index)
        facts.append(Fact("symbolic", node.name, (symbolic[node.name],), oracle, ok, method,
                          _shown(graph, oracle, written)))
    if evaluation is not None:
        forward, reverse = sweeps if sweeps is not None else (
            tuple(forward_mode(evaluation, n.name) for n in graph.inputs), reverse_mode(evaluation))
        forward = {graph.nodes[s.start].name: s for s in forward}
        point = {real[graph.node(name).symbol]: value for name, value in evaluation.point}
        sums = {s.input: s for s in path_sums(evaluation)}
        for index, node in enumerate(graph.inputs):
            found = []
            if node.name in forward:
                found.append(forward[node.name].total(graph.output.index))
            if reverse is not None:
                found.append(reverse.total(node.index))
            if sums[node.name].total is not None:
                found.append(sums[node.name].total)
            ok, method, value = _same_at(found, oracles[node.name], point)
            facts.append(Fact("point", node.name, tuple(found), value, ok, method, value))
    return Check(tuple(facts))


def _same_at(found, oracle: sp.Expr, point: Mapping) -> tuple[bool | None, str, sp.Expr]:
    """Every value in ``found`` (exact numbers) against ``oracle`` at ``point``: (agreement, method, the
    oracle's value there).

    The value there is exact when the oracle is a rational function (exact rational arithmetic) or
    short (at most :data:`EXACT_NODES` nodes); else it is the oracle's interval at the point to 20
    digits, and the values are compared with it by interval arithmetic.
    """
    if _is_rational_function(oracle) or _nodes(oracle, EXACT_NODES) <= EXACT_NODES:
        value = oracle.xreplace(point)
        results = [_same(v, value, seed=0) for v in found]
    else:
        enclosure = _interval(oracle, point, INTERVAL_DIGITS[0])
        value = oracle.xreplace(point) if enclosure is None else \
            sp.Float(mpmath.nstr(mpmath.mp.make_mpf(enclosure.mid._mpi_[0]), 20), 20)
        results = []
        for v in found:
            agree = _compare_at(v, oracle, point)
            results.append((agree, "undecided" if agree is None else "numeric"))
    if any(r[0] is False for r in results):
        return False, "numeric" if any(r[1] == "numeric" for r in results if r[0] is False) else "exact", value
    if any(r[0] is None for r in results):
        return None, "undecided", value
    return True, "numeric" if any(r[1] == "numeric" for r in results) else "exact", value


# ====================================================================== the drawing


#: (horizontal distance between two levels, vertical distance between two nodes of a level)
SPACING = (3.4, 2.0)
RADIUS = 0.42
MARGIN = 0.7
#: room below a node for its value
VALUE_GAP = 0.72
#: the angle, in degrees, between two parallel edges (x*x*x)
BEND = 24.0


@dataclass(frozen=True)
class DrawnNode:
    """A node of the drawing: its name in the circle and its value below it (at ``value_y``)."""

    id: str
    x: float
    y: float
    value_y: float
    kind: str
    latex: str
    text: str
    value_latex: str
    value_text: str


@dataclass(frozen=True)
class DrawnEdge:
    """An edge from ``source_id`` to ``target_id``: a quadratic curve (x1, y1) → (cx, cy) → (x2, y2).

    ``bend`` (degrees) is the same curve for TikZ (``bend left``); a straight edge has
    ``bend == 0`` and its control point halfway. The label (the local derivative and
    its value) sits at ``(label_x, label_y)``, on the curve halfway.
    """

    source_id: str
    target_id: str
    x1: float
    y1: float
    cx: float
    cy: float
    x2: float
    y2: float
    bend: float
    label_x: float
    label_y: float
    latex: str
    text: str


@dataclass(frozen=True)
class GraphDrawing:
    """Everything the drawing templates need: nodes by level from left to right, edges and the extent."""

    nodes: tuple[DrawnNode, ...]
    edges: tuple[DrawnEdge, ...]
    width: float
    height: float
    radius: float
    title: str


def _drawn_value(value: sp.Expr) -> sp.Expr:
    """A value as the drawing shows it: exact when rational and short, else to 4 significant digits."""
    if value.is_Rational and len(str(value)) <= 8:
        return value
    return sp.Float(sp.N(value, 4), 4)


def layout(evaluation: Evaluation, latex: Callable, text: Callable) -> GraphDrawing:
    """Place the graph at a point: one column per topological level, nodes of a level in graph order.

    ``latex`` and ``text`` print an expression (the notation-aware printer's functions).
    """
    graph = evaluation.graph
    levels: dict[int, list[Node]] = {}
    for node in graph.nodes:
        levels.setdefault(node.level, []).append(node)
    tallest = max(len(column) for column in levels.values())
    column_gap, row_gap = SPACING
    nodes = []
    where = {}
    for level, column in sorted(levels.items()):
        for row, node in enumerate(column):
            x = MARGIN + RADIUS + level * column_gap
            y = MARGIN + RADIUS + (row + (tallest - len(column)) / 2) * row_gap
            kind = "input" if node.op == "input" else "output" if node.index == graph.output.index else "operation"
            value = _drawn_value(evaluation.values[node.index])
            drawn = DrawnNode(f"n{node.index}", _round(x), _round(y), _round(y + VALUE_GAP), kind,
                              latex(node.symbol), text(node.symbol), latex(value), text(value))
            nodes.append(drawn)
            where[node.index] = drawn
    edges = []
    for edge in graph.edges:
        parallel = [e for e in graph.edges if e.source == edge.source and e.target == edge.target]
        position = parallel.index(edge)
        bend = (position - (len(parallel) - 1) / 2) * BEND
        value = _drawn_value(evaluation.partials[edge.index])
        label = value if edge.partial == evaluation.partials[edge.index] or edge.partial.is_number else \
            sp.Eq(edge.partial, value, evaluate=False)
        edges.append(_curve(where[edge.source], where[edge.target], bend, latex(label), text(label)))
    width = _round(2 * (MARGIN + RADIUS) + graph.depth * column_gap)
    height = _round(2 * (MARGIN + RADIUS) + (tallest - 1) * row_gap + VALUE_GAP)
    return GraphDrawing(tuple(nodes), tuple(edges), width, height, RADIUS, graph.source.strip())


def _curve(source: DrawnNode, target: DrawnNode, bend: float, tex: str, shown: str) -> DrawnEdge:
    dx, dy = target.x - source.x, target.y - source.y
    length = math.hypot(dx, dy)
    # the control point of a quadratic curve leaving at ``bend`` degrees off the straight line
    # (to the left of the direction of travel; y grows downwards, so left is (dy, -dx))
    offset = math.tan(math.radians(bend)) * length / 2
    nx, ny = dy / length, -dx / length
    cx, cy = (source.x + target.x) / 2 + offset * nx, (source.y + target.y) / 2 + offset * ny

    def towards(px, py, qx, qy):
        d = math.hypot(qx - px, qy - py)
        return px + RADIUS * (qx - px) / d, py + RADIUS * (qy - py) / d

    x1, y1 = towards(source.x, source.y, cx, cy)
    x2, y2 = towards(target.x, target.y, cx, cy)
    # the point of the curve halfway: (P0 + 2C + P2) / 4
    label_x, label_y = (x1 + 2 * cx + x2) / 4, (y1 + 2 * cy + y2) / 4
    return DrawnEdge(source.id, target.id, _round(x1), _round(y1), _round(cx), _round(cy), _round(x2), _round(y2),
                     _round(bend), _round(label_x), _round(label_y), tex, shown)


# ====================================================================== everything at once


@dataclass(frozen=True)
class Analysis:
    """A graph at a point with what a document shows: the sweeps asked for, the paths, the counts, the check."""

    graph: Graph
    evaluation: Evaluation
    mode: str
    forward: tuple[Sweep, ...]
    reverse: Sweep | None
    paths: tuple[PathSum, ...]
    counts: PathCounts
    check: Check


def analyse(expression, point, mode: str = "both") -> Analysis:
    """Read ``expression`` (text or SymPy), evaluate it at ``point`` and run the modes asked for.

    ``mode`` is ``"forward"`` (one sweep per input), ``"reverse"`` (one sweep from the
    output) or ``"both"``.
    """
    if mode not in MODES:
        raise SpecError(unknown_name("mode", mode, MODES))
    graph = expression if isinstance(expression, Graph) else graph_of(expression)
    evaluation = evaluate(graph, point)
    forward = tuple(forward_mode(evaluation, n.name) for n in graph.inputs) if mode in ("forward", "both") else ()
    reverse = reverse_mode(evaluation) if mode in ("reverse", "both") else None
    return Analysis(graph, evaluation, mode, forward, reverse, path_sums(evaluation), path_counts(graph),
                    check(graph, evaluation, (forward, reverse)))
