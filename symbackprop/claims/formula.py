"""Reading formulas: a gradient written by hand, as the engine's SymPy objects.

A *claim* such as ``\\frac{\\partial C}{\\partial w^{3}_{12}} = (a^{3}_{1} - y_{1})
\\sigma'(z^{3}_{1}) a^{2}_{2}`` is read against one network in one notation of
:data:`symbackprop.printing.NOTATIONS` and becomes a :class:`Claim`: what the
left-hand side names (a :class:`Target` with a canonical key) and the right-hand
side as a SymPy expression (or an ``ImmutableMatrix`` for vectors and matrices)
over the engine's :class:`~symbackprop.symbols.Quantity` symbols.

Text is read only by the grammar in ``formula.lark`` (LALR, linear time); nothing
the user writes is ever evaluated as Python or handed to SymPy's parsers. Two
syntaxes share the grammar: LaTeX (``\\delta^{3}_{1}``, one letter is one symbol)
and plain text (``delta^3_1``, ``dC/dw^3_12``, a word is one name).

The notation is never restated here. For a network and a notation, every quantity
of the network is printed by :func:`symbackprop.printing.latex`, the printed form
is read back with the grammar into a key (letter, layer, indices), and the key maps
to the quantity; a user's symbol is read the same way and looked up. Keys are
lenient in the ways people are: ``w^3_{12}``, ``w^{(3)}_{1,2}`` and ``w^{3}_{12}``
are the same key.

Hostile text is refused before it costs anything: more than :data:`MAX_LENGTH`
characters or brackets nested deeper than :data:`MAX_NESTING` before parsing,
exponents outside ±:data:`MAX_EXPONENT` and numbers of more than :data:`MAX_DIGITS`
digits before they are computed, sums expanding to more than :data:`MAX_TERMS`
terms before they are expanded.

>>> from symbackprop.model.spec import Network
>>> net = Network([2, 3, 2])
>>> parse_formula("w^{3}_{12} a^{2}_{2}", net)
a[1,2]*w[2,1,2]
>>> claim = parse_claim(r"\\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \\sigma'(z^{3}_{1})", net)
>>> claim.target
Target(kind='delta', key=('delta', 2, 1))
>>> parse_formula("w^3_41", net)
Traceback (most recent call last):
...
symbackprop.claims.formula.FormulaRangeError: w^3_41 is out of range: j = 4, but layer 3 has neurons 1..2 (w^{3}_{jk} has j in 1..2, k in 1..3)
  w^3_41
  ^
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import sympy as sp
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..model.activations import activation as activation_rule, opaque_functions
from ..errors import SpecError, unknown_name
from ..documents.printing import LatexPrinter, layer_number, notation as lookup_notation
from ..model.symbols import COST, UNREGULARISED, LayerMatrix, Partial, Quantity

__all__ = [
    "FormulaError", "FormulaShapeError", "Mismatch", "Target", "Claim", "parse_claim", "parse_formula", "split_chain", "extract_equations",
    "MAX_LENGTH", "MAX_NESTING", "MAX_SUMS", "MAX_EXPONENT", "MAX_DIGITS", "MAX_TERMS",
]

#: longest formula read, in characters (longer text is refused before any parsing)
MAX_LENGTH = 5000
#: deepest nesting of brackets and braces (deeper text is refused before any parsing)
MAX_NESTING = 40
#: most sums (Σ) in one formula
MAX_SUMS = 6
#: largest |n| of a power x^n
MAX_EXPONENT = 20
#: most digits a number computed from the formula may have (powers of numbers)
MAX_DIGITS = 300
#: most terms that expanding the sums of one formula may produce
MAX_TERMS = 20000
#: longest run of index digits written without commas (w_{123})
MAX_INDEX_DIGITS = 12

SYNTAXES = ("latex", "text", "auto")
#: what a written * means: a product like \\cdot (the default), or the element-wise product, as seed 002
#: writes it (there × is the matrix product)
STARS = ("product", "hadamard")

SIGMA, SIGMA_PRIME = opaque_functions("sigma")
#: activations a claim may name (\operatorname{ReLU}'(z)): each reads as that rule's function
_NAMED_ACTIVATIONS = ("relu", "leaky_relu", "softplus")
ETA = sp.Symbol("eta", positive=True)
#: a mini-batch size or a number of examples where the notation has no letter for it
M = sp.Symbol("m", positive=True)
_FREE_SYMBOLS = {"\\eta": ETA, "m": M}

_GRAMMAR_PATH = Path(__file__).with_name("formula.lark")


# ---------------------------------------------------------------------------- errors


class FormulaError(SpecError):
    """A formula that cannot be read: where (``position``, 0-based) and what was expected.

    The message names the offending text and what was expected; when a position is
    known it ends with the text and a caret under that position.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None, expected=()):
        self.text = text
        self.position = position
        self.expected = list(expected)
        if position is not None and text:
            message = f"{message}\n{_pointer(text, position)}"
        super().__init__(message)


class FormulaFreeIndexError(FormulaError):
    """An index that no sum binds and no number fixes (``name``; ``layer`` when it is a layer superscript).

    A claim about a layer l in general is not a claim about this network: it is not checkable as written.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None, expected=(),
                 name: str = "", layer: bool = False):
        self.name = name
        self.layer = layer
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


def _pointer(text: str, position: int) -> str:
    """The line of ``text`` that holds ``position``, with a caret under it."""
    position = max(0, min(position, len(text)))
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    line = text[start:len(text) if end < 0 else end].replace("\t", " ")
    column = position - start
    low, high = max(0, column - 50), min(len(line), column + 30)
    shown = ("…" if low else "") + line[low:high] + ("…" if high < len(line) else "")
    caret = column - low + (1 if low else 0)
    return f"  {shown}\n  {' ' * caret}^"


def _where(text: str, position: int) -> str:
    """``column N`` (1-based), with the line when the text has several."""
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}" if "\n" in text else f"column {column}"


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Target:
    """What the left-hand side of a claim names, by canonical key.

    ``kind`` is ``"gradient"`` (key ``("w", l, j, k)`` or ``("b", l, j)``), ``"delta"``
    (``("delta", l, j)``), ``"gradient_matrix"`` (``("W", l)`` or ``("b", l)``),
    ``"delta_vector"`` (``("delta", l)``), ``"cost"`` (``("C",)``: the cost itself, C = ...) or
    ``"matrix"`` (a matrix written entry by entry: the key is its rows, each a tuple of the Targets
    of its entries, gradients or errors).
    """

    kind: str
    key: tuple


@dataclass(frozen=True)
class Claim:
    """A claim ``LHS = RHS`` read against a network."""

    text: str
    target: Target
    rhs: object  # sympy.Expr, or sympy.ImmutableMatrix for a vector or matrix; None when its shapes do not fit
    rhs_text: str
    #: the :class:`Mismatch` of every product whose shapes do not fit (``parse_claim(..., repair=True)``);
    #: ``rhs`` is then the formula with each mismatch repaired, or None when no repair fits.
    repairs: tuple = ()
    #: whether the right-hand side is one matrix written entry by entry (\begin{bmatrix} ... \end{bmatrix})
    entrywise: bool = False
    #: the :class:`Narrowed` sums (``repair=True``): sums whose symbols exist for different values of the
    #: index, read over the values where all of them exist
    narrowed: tuple = ()


@dataclass(frozen=True)
class Narrowed:
    """A sum over ``index`` whose symbols disagree about its range, read over ``common`` (both ranges as text).

    ``symbols`` pairs each symbol of the sum, as written, with the values of the index it exists for.
    """

    index: str
    symbols: tuple
    common: str


# ---------------------------------------------------------------------------- lexing

_NAME, _FUNC = "NAME", "FUNC"

#: LaTeX commands and what token they become
_COMMANDS = {
    "sigma": (_FUNC, "sigma"), "exp": (_FUNC, "exp"), "log": (_FUNC, "log"), "ln": (_FUNC, "log"),
    "tanh": (_FUNC, "tanh"),
    "delta": (_NAME, "\\delta"), "lambda": (_NAME, "\\lambda"), "eta": (_NAME, "\\eta"),
    "Theta": (_NAME, "\\Theta"), "theta": (_NAME, "\\theta"),
    "sum": ("SUM", "sum"), "frac": ("FRAC", "frac"), "dfrac": ("FRAC", "frac"), "tfrac": ("FRAC", "frac"),
    "partial": ("PARTIAL", "partial"), "nabla": ("NABLA", "nabla"),
    "top": ("TOP", "T"), "intercal": ("TOP", "T"), "prime": ("PRIME", "'"),
    "cdot": ("MULOP", "*"), "times": ("MULOP", "*"), "ast": ("MULOP", "*"),
    "odot": ("HADAMARD", "odot"), "circ": ("HADAMARD", "odot"),
    "underbrace": ("UNDERBRACE", "underbrace"),
    "substack": ("SUBSTACK", "substack"), "leq": ("LEQ", "leq"), "le": ("LEQ", "leq"),
}

#: plain-text words with a meaning of their own
_WORDS = {
    "sigma": (_FUNC, "sigma"), "dsigma": (_FUNC, "dsigma"), "f": (_FUNC, "sigma"), "g": (_FUNC, "sigma"),
    "exp": (_FUNC, "exp"), "log": (_FUNC, "log"), "ln": (_FUNC, "log"), "tanh": (_FUNC, "tanh"),
    "delta": (_NAME, "\\delta"), "lambda": (_NAME, "\\lambda"), "eta": (_NAME, "\\eta"),
    "Theta": (_NAME, "\\Theta"), "theta": (_NAME, "\\theta"),
    "xhat": (_NAME, "hat:x"), "yhat": (_NAME, "hat:y"), "sum": ("SUM", "sum"),
}

_UNICODE = {
    "σ": (_FUNC, "sigma"), "δ": (_NAME, "\\delta"), "λ": (_NAME, "\\lambda"), "η": (_NAME, "\\eta"),
    "Θ": (_NAME, "\\Theta"), "θ": (_NAME, "\\theta"), "∂": ("PARTIAL", "partial"), "∇": ("NABLA", "nabla"),
    "Σ": ("SUM", "sum"), "∑": ("SUM", "sum"), "⊙": ("HADAMARD", "odot"), "∘": ("HADAMARD", "odot"),
    "·": ("MULOP", "*"), "×": ("MULOP", "*"), "′": ("APOS", "'"), "−": ("ADDOP", "-"), "≤": ("LEQ", "leq"),
}

#: what \text{...}, \mathrm{...} and the like may name
_TEXT_ARGUMENTS = {"T": ("TOP", "T"), "exp": (_FUNC, "exp"), "log": (_FUNC, "log"), "ln": (_FUNC, "log"),
                   "tanh": (_FUNC, "tanh"), "sigma": (_FUNC, "sigma"), "d": (_NAME, "d"),
                   # activations by their own names, as documents write them (\operatorname{ReLU}'(z))
                   "ReLU": (_FUNC, "relu"), "LeakyReLU": (_FUNC, "leaky_relu"), "softplus": (_FUNC, "softplus")}


def _token(kind: str, value: str, source: Token, start: int | None = None, end: int | None = None) -> Token:
    start = source.start_pos if start is None else start
    end = source.end_pos if end is None else end
    column = source.column + (start - source.start_pos)
    return Token(kind, value, start_pos=start, line=source.line, column=column,
                 end_line=source.line, end_column=column + (end - start), end_pos=end)


class _PostLexer:
    """Turns letters, commands and Unicode signs into the grammar's token types."""

    always_accept = ("IDENT", "CMD", "UNI", "TEXTCMD", "CALCMD", "HATCMD", "NORM")

    def __init__(self, syntax: str):
        self.syntax = syntax

    def process(self, stream):
        matrices = 0
        sums = 0
        braces, stacks, opening = 0, [], False  # brace depth; depths of open \substack{...}; one just written
        for tok in self._retyped(list(stream)):  # the text is at most MAX_LENGTH characters
            kind = tok.type
            if kind == "SUBSTACK":
                opening = True
            elif kind == "LBRACE":
                braces += 1
                if opening:
                    stacks.append(braces)
                    opening = False
            elif kind == "RBRACE":
                if stacks and stacks[-1] == braces:
                    stacks.pop()
                braces -= 1
            elif kind == "ROWSEP" and stacks:
                yield tok  # a line of a \substack
                continue
            if kind == "SUM":
                sums += 1
                if sums > MAX_SUMS:
                    raise _LexProblem(f"too many sums at {{where}}: expected at most {MAX_SUMS} in one formula",
                                      tok.start_pos)
            elif kind == "MBEGIN":
                matrices += 1
            elif kind == "MEND":
                matrices -= 1
            elif kind == "AMP" and matrices <= 0:
                continue  # an alignment mark
            elif kind == "ROWSEP" and matrices <= 0:
                raise _LexProblem("a line break \\\\ at {where} outside a matrix; expected one equation "
                                  "(extract_equations splits the rows of an aligned block)", tok.start_pos)
            yield tok

    def _retyped(self, tokens):
        index = 0
        depth, norms = 0, []  # bracket depth; the depths at which the open norms were opened
        while index < len(tokens):
            tok = tokens[index]
            index += 1
            kind = tok.type
            if kind in ("LPAR", "LBRACK", "LBRACE"):
                depth += 1
            elif kind in ("RPAR", "RBRACK", "RBRACE"):
                depth -= 1
            if kind == "NORM":
                # \| closes the norm opened at this bracket depth, else opens one; \lVert and \rVert say which
                closing = tok.value == "\\rVert" or (tok.value != "\\lVert" and bool(norms) and norms[-1] == depth)
                if closing and norms and norms[-1] == depth:
                    norms.pop()
                elif not closing:
                    norms.append(depth)
                yield _token("NORMCLOSE" if closing else "NORMOPEN", "‖", tok)
            elif kind == "UNDER" and self.syntax == "text":
                # plain text: w^3_12 and w^3_k1 take the whole run of letters and digits
                yield tok
                run = []
                while index < len(tokens) and tokens[index].type in ("NUMBER", "IDENT") \
                        and "." not in tokens[index].value \
                        and tokens[index].start_pos == (run[-1].end_pos if run else tok.end_pos):
                    run.append(tokens[index])
                    index += 1
                if run:
                    value = "".join(t.value for t in run)
                    merged = "NUMBER" if value.isdigit() else _NAME
                    yield _token(merged, value, run[0], run[0].start_pos, run[-1].end_pos)
            elif kind == "IDENT":
                if self.syntax == "text":
                    yield _token(*_WORDS.get(tok.value, (_NAME, tok.value)), tok)
                elif tok.value in _WORDS and len(tok.value) > 1:  # sigma, exp, delta written without \
                    yield _token(*_WORDS[tok.value], tok)
                else:  # LaTeX: every letter is a symbol of its own
                    for offset, letter in enumerate(tok.value):
                        start = tok.start_pos + offset
                        yield _token(*((_FUNC, "sigma") if letter in "fg" else (_NAME, letter)), tok, start, start + 1)
            elif kind == "CMD":
                if tok.value[1:] not in _COMMANDS:
                    raise _unknown_command(tok)
                yield _token(*_COMMANDS[tok.value[1:]], tok)
            elif kind == "UNI":
                if tok.value == "ᵀ":
                    yield _token("CARET", "^", tok)
                    yield _token("TOP", "T", tok)
                else:
                    yield _token(*_UNICODE[tok.value], tok)
            elif kind == "TEXTCMD":
                yield _text_argument(tok)
            elif kind == "CALCMD":
                yield _token(_NAME, "cal:" + re.sub(r"[^A-Za-z]", "", tok.value[len("\\mathcal"):]), tok)
            elif kind == "HATCMD":
                yield _token(_NAME, "hat:" + tok.value.rstrip("} \t\n")[-1], tok)
            else:
                yield tok


class _LexProblem(Exception):
    """A problem found while turning text into tokens; ``message`` has a ``{where}`` to fill in."""

    def __init__(self, message: str, position: int, expected=()):
        super().__init__(message)
        self.message = message
        self.position = position
        self.expected = list(expected)


def _unknown_command(tok: Token) -> _LexProblem:
    name = tok.value
    if name in ("\\begin", "\\end"):
        return _LexProblem(
            f"{name} at {{where}}: only matrix environments are read inside a formula; expected one equation "
            "(extract_equations splits aligned blocks into equations)", tok.start_pos, ["a formula"])
    known = sorted("\\" + c for c in _COMMANDS)
    return _LexProblem(f"unknown command {name} at {{where}}; expected one of: {', '.join(known)}",
                       tok.start_pos, known)


def _text_argument(tok: Token) -> Token:
    """\\text{...}, \\mathrm{...}, \\mathbf{...}: the token for what the argument names."""
    argument = tok.value[tok.value.index("{") + 1:-1].strip()
    if argument.startswith("\\") and argument[1:] in _COMMANDS:
        return _token(*_COMMANDS[argument[1:]], tok)
    if argument in _TEXT_ARGUMENTS:
        return _token(*_TEXT_ARGUMENTS[argument], tok)
    if len(argument) == 1 and argument.isalpha():
        return _token(*((_FUNC, "sigma") if argument in "fg" else (_NAME, argument)), tok)
    if argument in _WORDS and _WORDS[argument][0] == _NAME:
        return _token(*_WORDS[argument], tok)
    expected = ["a symbol letter", "T", "d", "exp", "log", "ln", "tanh", "sigma"]
    raise _LexProblem(f"{tok.value} at {{where}} names nothing known; expected one of: {', '.join(expected)}",
                      tok.start_pos, expected)


@functools.lru_cache(maxsize=None)
def _parser(syntax: str) -> Lark:
    return Lark(_GRAMMAR_PATH.read_text(encoding="utf-8"), parser="lalr", lexer="basic",
                postlex=_PostLexer(syntax), start=["formula", "claim"], propagate_positions=True,
                maybe_placeholders=False)


# ---------------------------------------------------------------------------- parsing

_TOKEN_TEXT = {
    "RPAR": ["')'"], "RBRACK": ["']'"], "RBRACE": ["'}'"], "MEND": ["'\\end{matrix}'"],
    "ADDOP": ["'+'", "'-'"], "MULOP": ["'*'"], "DIV": ["'/'"], "HADAMARD": ["'\\odot'"], "POW": ["'**'"],
    "CARET": ["'^'"], "UNDER": ["'_'"], "APOS": ["\"'\""], "COMMA": ["','"], "EQ": ["'='"], "AMP": ["'&'"],
    "ROWSEP": ["'\\\\'"], "LBRACE": ["'{'"], "LPAR": ["'('"], "LBRACK": ["'['"], "TOP": ["'T'"],
    "PRIME": ["'\\prime'"], "NORMCLOSE": ["'\\|'"], "$END": ["the end of the formula"],
}
_ORDER = ["RPAR", "RBRACK", "RBRACE", "MEND", "ADDOP", "MULOP", "DIV", "HADAMARD", "POW", "CARET", "UNDER",
          "APOS", "COMMA", "EQ", "AMP", "ROWSEP", "LBRACE", "LPAR", "LBRACK", "TOP", "PRIME", "NORMCLOSE", "$END"]
_OPERAND_STARTS = {"NAME", "NUMBER", "FUNC", "FRAC", "PARTIAL", "NABLA", "SUM", "MBEGIN", "UNDERBRACE", "NORMOPEN"}


def _expected(names, syntax: str) -> list[str]:
    names = set(names)
    out = []
    for name in _ORDER:
        if name in names:
            if name == "HADAMARD" and syntax == "text":
                out.append("'.*'")
            else:
                out.extend(_TOKEN_TEXT[name])
    if names & _OPERAND_STARTS:  # an opening bracket is one of the operands
        out = [o for o in out if o not in ("'('", "'['", "'{'")]
        out.append("an operand (a symbol, a number, a function or a bracket)")
    return out


def _acceptable(text: str, syntax: str, start: str, position: int) -> set:
    """The token types the grammar accepts at ``position``, before any reduction forced by what follows."""
    parser = _parser(syntax)
    interactive = parser.parse_interactive(start=start)
    try:
        for tok in parser.lex(text):
            if tok.start_pos >= position:
                break
            interactive.feed_token(tok)
        return set(interactive.accepts())
    except (UnexpectedInput, _LexProblem):  # the message falls back on the parser's own list
        return set()


def _shown(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the formula"
    return repr(tok.value) if tok.value else tok.type


def _check_bounds(text: str) -> None:
    """Refuse, before parsing, text that is too long or nested too deeply."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula has {len(text)} characters; expected at most {MAX_LENGTH}", text)
    depth = 0
    for position, char in enumerate(text):
        if char in "([{":
            depth += 1
            if depth > MAX_NESTING:
                raise FormulaError(f"brackets nested more than {MAX_NESTING} deep at {_where(text, position)}; "
                                   f"expected at most {MAX_NESTING} levels", text, position)
        elif char in ")]}":
            depth = max(0, depth - 1)


def _choose_syntax(text: str, syntax: str) -> str:
    if syntax not in SYNTAXES:
        raise FormulaError(unknown_name("syntax", syntax, SYNTAXES))
    if syntax != "auto":
        return syntax
    return "latex" if ("\\" in text or "_{" in text or "^{" in text) else "text"


_TRAILING = re.compile(r"(?:\s|(?<!\\)[.,;])+$")
_DECORATION = re.compile(r"\\(?:label|tag\*?)\s*\{[^{}]*\}|\\(?:nonumber|notag)(?![A-Za-z])")


def _prepare(text: str) -> str:
    """The text with decorations blanked out (positions kept) and trailing punctuation removed."""
    text = _DECORATION.sub(lambda m: " " * len(m.group(0)), text)
    return _TRAILING.sub("", text)


def _parse(text: str, syntax: str, start: str) -> Tree:
    try:
        return _parser(syntax).parse(text, start=start)
    except _LexProblem as problem:
        message = problem.message.replace("{where}", _where(text, problem.position))
        raise FormulaError(message, text, problem.position, problem.expected) from None
    except UnexpectedToken as error:
        tok = error.token
        position = len(text.rstrip()) if tok.type == "$END" else tok.start_pos
        expected = _expected(_acceptable(text, syntax, start, position) or error.expected, syntax)
        raise FormulaError(
            f"cannot read the formula at {_where(text, position)}: expected "
            f"{'one of ' if len(expected) > 1 else ''}{', '.join(expected)}; found {_shown(tok)}",
            text, position, expected) from None
    except UnexpectedCharacters as error:
        position = error.pos_in_stream
        char = text[position]
        expected = ["a symbol", "a number", "an operator", "a bracket"]
        raise FormulaError(
            f"cannot read the formula at {_where(text, position)}: the character {char!r} is not part of "
            f"the formula language; expected {', '.join(expected[:-1])} or {expected[-1]}",
            text, position, expected) from None


# ---------------------------------------------------------------------------- symbol table


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
    reader = _Reader("", table, "latex")
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

    def __init__(self, reader: "_Reader"):
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


def _printed_key(reader: "_Reader", shown: str, arity: int) -> tuple:
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


# ---------------------------------------------------------------------------- reading


class _Unbound(Exception):
    """An index names a variable that no sum binds."""

    def __init__(self, name: str, tok):
        super().__init__(name)
        self.name = name
        self.tok = tok


_COST_NAMES = {"C", "J", "L", "E", "cal:L", "cal:C", "cal:J", "cal:E"}
_ALIASES = {"W": ("w", "\\Theta"), "w": ("W", "\\Theta"), "\\theta": ("\\Theta",), "L": ("cal:L",),
            "cal:C": ("C",), "cal:J": ("J",)}
_BRACKETS = {"LPAR", "RPAR", "LBRACK", "RBRACK", "LBRACE", "RBRACE", "COMMA"}


def _span(node) -> tuple[int, int]:
    if isinstance(node, Token):
        return node.start_pos, node.end_pos
    return node.meta.start_pos, node.meta.end_pos


def _group_items(node: Tree) -> list:
    return [c for c in node.children if not (isinstance(c, Token) and c.type in _BRACKETS)]


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


class _Reader:
    """Turns one parse tree into SymPy objects, against one symbol table."""

    def __init__(self, text: str, table: _Table, syntax: str):
        self.text = text
        self.table = table
        self.syntax = syntax
        self.terms = 0
        self.repairs = None  # a list while reading a claim with repair=True
        self.narrowed = None  # likewise: the sums whose symbols disagree about the range of the index
        self.star = "product"  # what a written * means (STARS)
        #: the shape of the quantity a claim's left-hand side names, when reading its right-hand side with repairs
        self.result_shape = None
        #: values for free indices (name -> int): one instance of a claim with index letters
        self.assume = {}
        #: in a notation that numbers nodes across the network: the layer (a node of the tree) that each
        #: index letter numbers a neuron of, as the claim's other symbols write it (y_{l-1,k}: k is in l - 1)
        self.node_layers = {}
        #: the network's activation rules by name: what ReLU or softplus written in a claim stands for
        self.rules = {}

    def shape_error(self, message: str, node, mismatch: Mismatch, expected=()) -> FormulaShapeError:
        position = _span(node)[0] if node is not None else None
        return FormulaShapeError(message, self.text, position, expected, mismatch)

    def repaired(self, mismatch: Mismatch, value):
        """``value`` for a product whose shapes do not fit, when reading with repairs; the mismatch is kept."""
        self.repairs.append(mismatch)
        return value

    # -------------------------------------------------------------- messages
    def error(self, message: str, node=None, expected=()) -> FormulaError:
        position = _span(node)[0] if node is not None else None
        return FormulaError(message, self.text, position, expected)

    def source(self, node, end_node=None) -> str:
        start, end = _span(node)
        if end_node is not None:
            end = _span(end_node)[1]
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
            raise self.free_index(_Unbound(free[0], tok), shown, tok)
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
        return self.error(f"unknown symbol {shown} at {_where(self.text, tok.start_pos)}; the symbols of this "
                          f"network in the {self.table.notation} notation are:\n{self.table.summary}", tok,
                          ["a symbol of the network"])

    def free_index(self, unbound: _Unbound, shown: str, tok, layer: bool = False) -> FormulaError:
        name = unbound.name
        position = _span(tok)[0]
        if layer:
            layers = sorted({l for (_, l) in self.table.arities if l is not None})
            return FormulaFreeIndexError(f"{shown}: the index {name} is free: a concrete network needs concrete "
                                         f"layers; write a layer number ({_ranges(layers)})", self.text, position,
                                         ["a layer number"], name=name, layer=True)
        return FormulaFreeIndexError(f"{shown}: the index {name} is free; a claim is about concrete neurons of this "
                                     f"network: write a number, or sum over {name} (\\sum_{{{name}}})", self.text,
                                     position, ["a number", f"\\sum_{{{name}}}"], name=name)

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
        position = _span(node)[0] if node is not None else None
        return FormulaRangeError(message, self.text, position, expected)

    # -------------------------------------------------------------- values
    def value(self, node, env):
        """The SymPy value of an expression node: an Expr or an ImmutableMatrix."""
        if isinstance(node, Token):
            if node.type == "NUMBER":
                if len(node.value) > MAX_DIGITS:
                    raise self.error(f"the number {node.value[:20]}… has {len(node.value)} digits; expected at most "
                                     f"{MAX_DIGITS}", node)
                number = Fraction(node.value)
                return sp.Rational(number.numerator, number.denominator)
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
        if letter == "J" and self.letter_of(tok) is None and not any(s.children[0].type == "UNDER" for s in scripts):
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
        elif tok.value == "J" and (letter is None or 2 not in self.table.arities.get((letter, None), ())):
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
        if name == "tanh" and primes == 1:  # \tanh'(u): the derivative of tanh, as documents name it
            name, primes = "tanh_prime", 0
        if name in _NAMED_ACTIVATIONS:  # ReLU, softplus: the network's rule of that name, else the table's
            rule = self.rules.get(name) or activation_rule(name)
            name, function = "sigma", rule.prime_function if primes else rule.function
            primes = 0
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


def _node_layers(reader: _Reader, tree) -> dict:
    """Index letter → the layer it numbers a neuron of, from symbols written (layer, neuron): z_{lj}, y_{l-1,k}."""
    weight = reader.table.keys.get(Quantity("w", 1, 1, 1), (None,))[0]
    found = {}
    for tok, scripts in _symbol_occurrences(tree):
        letter = reader.letter_of(tok)
        if letter is None or letter == weight or letter in reader.table.layered:
            continue
        subs = [s.children[1] for s in scripts if s.children[0].type == "UNDER"]
        if len(subs) != 1:
            continue
        arg = subs[0]
        if isinstance(arg, Tree) and arg.data == "group":
            items = _group_items(arg)
            if len(items) == 1 and isinstance(items[0], Tree) and items[0].data == "mprod" \
                    and len(items[0].children) == 2 and all(isinstance(c, Token) and c.type == _NAME
                                                            for c in items[0].children):
                found.setdefault(items[0].children[1].value, items[0].children[0])  # z_{lj}
                continue
            if len(items) == 1 and isinstance(items[0], Token):
                arg = items[0]
            elif len(items) == 2 and isinstance(items[1], Token) and items[1].type == _NAME \
                    and len(items[1].value) == 1:
                found.setdefault(items[1].value, items[0])  # y_{l - 1,k}
                continue
            else:
                continue
        if isinstance(arg, Token) and arg.type == _NAME and re.fullmatch(r"[A-Za-z]{2}", arg.value):
            found.setdefault(arg.value[1], _token(_NAME, arg.value[0], arg, arg.start_pos, arg.start_pos + 1))
    return found


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


# ---------------------------------------------------------------------------- descriptions


def _shape(matrix) -> str:
    return f"{matrix.shape[0]}×{matrix.shape[1]}"


def _shape_of(value) -> tuple:
    return tuple(value.shape) if isinstance(value, sp.MatrixBase) else (1, 1)


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
    reader = _Reader("", table, "latex")
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


# ---------------------------------------------------------------------------- public API


def _read(text: str, network, notation: str, syntax: str, start: str, star: str = "product"):
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be text, got {type(text).__name__}")
    if star not in STARS:
        raise FormulaError(unknown_name("meaning of *", star, STARS))
    _check_bounds(text)
    table = _symbol_table(network, notation)
    prepared = _prepare(text)
    if not prepared.strip():
        raise FormulaError("the formula is empty; expected an expression", text, 0, ["an expression"])
    chosen = _choose_syntax(prepared, syntax)
    tree = _parse(prepared, chosen, start)
    reader = _Reader(prepared, table, chosen)
    reader.star = star
    reader.rules = {layer.activation.name: layer.activation for layer in network.layers}
    return reader, tree


def parse_formula(text: str, network, notation: str = "nielsen", syntax: str = "auto", star: str = "product"):
    """An expression alone, as a SymPy expression or an ``ImmutableMatrix``.

    ``syntax`` is ``"latex"``, ``"text"`` or ``"auto"`` (LaTeX when the text holds a
    backslash, ``_{`` or ``^{``). Every index must end up a number of this network:
    a sum over an index is expanded. ``star="hadamard"`` reads a written ``*`` as the
    element-wise product (with the precedence of a product, left to right).
    """
    reader, tree = _read(text, network, notation, syntax, "formula", star)
    return reader.value(tree, {})


def parse_claim(text: str, network, notation: str = "nielsen", syntax: str = "auto", repair: bool = False,
                star: str = "product") -> Claim:
    """A claim ``LHS = RHS``: what the left-hand side names and the right-hand side's value.

    Vectors and matrices that do not fit together raise :class:`FormulaShapeError`. With
    ``repair=True`` the claim is read all the same: a product of mismatched shapes is
    read with the likely repair (a transpose, ⊙ for a product of two vectors, a matrix
    product for ⊙ of mismatched shapes) and every mismatch is listed in ``Claim.repairs``
    by the name of the mistake; ``rhs`` is None when no repair fits (``wrong_shape``).
    ``star`` is what a written ``*`` means (see :func:`parse_formula`).
    """
    _check_claim_text(text)
    reader, tree = _read(text, network, notation, syntax, "claim", star)
    return _claim_from(reader, tree, text, repair)


def _check_claim_text(text) -> None:
    """Refuse, before parsing, a claim with no '=' or with several."""
    if isinstance(text, str):
        _check_bounds(text)
        equals = _top_level_equals(_prepare(text))
        if len(equals) > 1:
            raise FormulaError(f"the claim has {len(equals) + 1} sides at {_where(text, equals[1])}; expected "
                               "LHS = RHS (split a chain A = B = C with split_chain)", text, equals[1], ["one '='"])
        if not equals:
            raise FormulaError("the claim has no '='; expected LHS = RHS", text, len(text.rstrip()), ["'='"])


def _claim_from(reader: _Reader, tree: Tree, text: str, repair: bool) -> Claim:
    """The claim a parse tree writes, read with the reader's assumed index values."""
    lhs, eq, rhs = tree.children
    if lookup_notation(reader.table.notation).global_nodes and not reader.node_layers:
        reader.node_layers = _node_layers(reader, tree)
    reader.terms = 0
    reader.repairs = reader.narrowed = None
    target = _target(reader, lhs)
    rhs_text = reader.text[eq.end_pos:].strip()
    if repair:
        reader.repairs, reader.narrowed = [], []
        reader.result_shape = _target_shape(target, reader.table.sizes)
    try:
        value = reader.value(rhs, {})
    except FormulaShapeError as error:
        if not repair:
            raise
        return Claim(text=text, target=target, rhs=None, rhs_text=rhs_text,
                     repairs=(*reader.repairs, error.mismatch), narrowed=tuple(reader.narrowed))
    if target.kind in ("gradient", "delta", "cost") and isinstance(value, sp.MatrixBase) and value.shape == (1, 1):
        value = value[0, 0]
    return Claim(text=text, target=target, rhs=value, rhs_text=rhs_text, repairs=tuple(reader.repairs or ()),
                 entrywise=isinstance(rhs, Tree) and rhs.data == "matrix", narrowed=tuple(reader.narrowed or ()))


def _target_shape(target: Target, sizes: tuple) -> tuple:
    """The shape of the quantity a target names: a matrix of weights, a column of biases or errors, a matrix of
    quantities written entry by entry, or a scalar."""
    if target.kind == "matrix":
        return (len(target.key), len(target.key[0]))
    if target.kind == "gradient_matrix" and target.key[0] == "W":
        return (sizes[target.key[1]], sizes[target.key[1] - 1])
    if target.kind in ("gradient_matrix", "delta_vector"):
        return (sizes[target.key[1]], 1)
    return (1, 1)


def lhs_target(text: str, network, notation: str = "nielsen") -> Target | None:
    """The quantity a left-hand side (LaTeX) names, or None when it names no gradient, error or cost.

    A left-hand side that names one only for a layer written as a letter (``\\delta^{(l)}``,
    ``\\frac{\\partial C}{\\partial W^{(l)}}``) raises :class:`FormulaFreeIndexError`: it is a claim,
    but not one about this network.
    """
    try:
        reader, tree = _read(f"{text} = 0", network, notation, "latex", "claim")
        return _target(reader, tree.children[0])
    except FormulaFreeIndexError as error:
        if not error.layer:
            raise
        free = error
    except SpecError:
        return None
    for layer in range(len(network.sizes) + 1):  # does it name a quantity for some concrete layer?
        reader.assume = {free.name: layer}
        try:
            _target(reader, tree.children[0])
        except SpecError:
            continue
        raise free
    return None


def lhs_instances(text: str, network, notation: str = "nielsen") -> "Instances":
    """What a left-hand side (LaTeX) names at each value of its index letters (:class:`Target` instances).

    Raises :class:`FormulaError` (a :class:`~symbackprop.errors.SpecError`) when it names no gradient,
    error or cost at any value.
    """
    reader, tree = _read(f"{text} = 0", network, notation, "latex", "claim")
    return _instances(reader, lambda: _target(reader, tree.children[0]))


@dataclass(frozen=True)
class Instances:
    """A claim with index letters read at every concrete layer and index of a network where it has a meaning.

    ``letters`` pairs each letter that no sum binds (l, j, k; L is the output layer) with the values it
    was read at; ``claims`` pairs each assignment (a tuple of (letter, value)) with the concrete
    :class:`Claim`. A claim without letters has one instance with the empty assignment. An assignment
    at which some symbol of the claim does not exist (δ^{l+1} at the output layer, a^{(l-1)}_0) is not
    an instance: a claim about layer l is a claim about the layers where it can be written.
    """

    letters: tuple
    claims: tuple


#: most concrete instances of one claim with index letters
MAX_INSTANCES = 2000


def claim_instances(text: str, network, notation: str = "nielsen", syntax: str = "latex", repair: bool = False,
                    star: str = "product", context: tuple = ()) -> Instances:
    """Every concrete instance of a claim (see :class:`Instances`), read by the grammar once.

    The letters are found as the reader meets them: each free letter is given, in turn, every
    layer number (a layer superscript) or every index value of the network, and an assignment
    that names a symbol the network does not have is dropped together with all its extensions.
    Raises the reading's error when the claim is unreadable at every assignment. ``context`` holds the
    other members of the chain the claim comes from (LaTeX): in a notation that numbers nodes across the
    network, they may be what says which layer an index letter of a weight belongs to.
    """
    _check_claim_text(text)
    reader, tree = _read(text, network, notation, syntax, "claim", star)
    if lookup_notation(notation).global_nodes:
        reader.node_layers = _node_layers(reader, tree)
        for other in context:
            try:
                other_tree = _parse(_prepare(other), "latex", "formula")
            except FormulaError:
                continue
            for name, node in _node_layers(reader, other_tree).items():
                reader.node_layers.setdefault(name, node)
    return _instances(reader, lambda: _claim_from(reader, tree, text, repair))


def _instances(reader: _Reader, read) -> Instances:
    """``read()`` at every assignment of the free letters it meets (see :func:`claim_instances`)."""
    table = reader.table
    layers = sorted({l for (_, l) in table.arities if l is not None})
    largest = max((max(subs) for (_, _, subs) in table.entries if subs), default=1)
    indices = list(range(1, largest + 1))  # neurons count from 1; the bias unit 0 of ng is written as 0
    found, first_range_error, work = [], None, 0

    def visit(assume: dict):
        nonlocal first_range_error, work
        work += 1
        if work > MAX_INSTANCES:
            raise FormulaError(f"the claim has more than {MAX_INSTANCES} instances for the values of its index "
                               "letters; expected a smaller network or numbers for some letters", reader.text)
        reader.assume = assume
        try:
            result = read()
        except FormulaFreeIndexError as free:
            if free.name in assume:
                raise
            for value in (layers if free.layer else indices):
                visit({**assume, free.name: value})
            return
        except FormulaRangeError as error:
            if not assume:
                raise
            first_range_error = first_range_error or error
            return
        finally:
            reader.assume = {}
        found.append((tuple(assume.items()), result))

    visit({})
    if not found:
        raise first_range_error
    names = list(dict.fromkeys(name for assignment, _ in found for name, _ in assignment))
    letters = tuple((name, tuple(sorted({dict(a)[name] for a, _ in found}))) for name in names)
    return Instances(letters, tuple(found))


def _target(reader: _Reader, lhs) -> Target:
    """The target named by a claim's left-hand side."""
    expected = ["\\frac{\\partial C}{\\partial w^{l}_{jk}}", "\\frac{\\partial C}{\\partial b^{l}_{j}}",
                "\\frac{\\partial C}{\\partial W^{l}}", "\\frac{\\partial C}{\\partial b^{l}}", "\\delta^{l}_{j}",
                "\\delta^{l}", "C"]
    if isinstance(lhs, Tree) and lhs.data == "underbrace":  # \underbrace{\frac{\partial C}{\partial W^{l}}}_{m \times n}
        inner = lhs.children[2]
        target = _target(reader, inner)
        written = reader.annotation(lhs, {})
        shape = _shape_of(reader.value(inner, {}))
        if written is not None and written != shape:
            mismatch = Mismatch("wrong_dimension", "annotate", written, shape, reader.source(lhs.children[-1]),
                                reader.source(inner))
            raise reader.shape_error(f"the annotation {mismatch.left_text} says {written[0]}×{written[1]}, but "
                                     f"{mismatch.right_text} is {shape[0]}×{shape[1]}", lhs, mismatch)
        return target
    if isinstance(lhs, Tree) and lhs.data == "group" and len(_group_items(lhs)) == 1 \
            and isinstance(_group_items(lhs)[0], Tree) and _group_items(lhs)[0].data == "matrix":
        lhs = _group_items(lhs)[0]  # \left[\begin{matrix} ... \end{matrix}\right]
    if isinstance(lhs, Tree) and lhs.data == "matrix":  # a matrix of gradients or errors, entry by entry
        rows = []
        for row in (c for c in lhs.children if isinstance(c, Tree) and c.data == "mrow"):
            cells = [c for c in row.children if not (isinstance(c, Token) and c.type == "AMP")]
            rows.append(tuple(_target(reader, cell) for cell in cells))
        if len({len(row) for row in rows}) != 1 or any(t.kind not in ("gradient", "delta") for r in rows for t in r):
            raise reader.error(f"the left-hand side {reader.source(lhs)} is not a matrix of gradients or errors of "
                               "single parameters or neurons", lhs, expected)
        return Target("matrix", tuple(rows))
    if reader.cost_written(lhs):
        return Target("cost", ("C",))
    if isinstance(lhs, Tree) and lhs.data == "mprod" and isinstance(lhs.children[0], Tree) \
            and lhs.children[0].data == "operator" \
            and len(lhs.children) == 1 + reader.cost_operands(lhs.children[1:], [None] * (len(lhs.children) - 1)) > 1:
        denominator = lhs.children[0].children[5]  # \frac{\partial}{\partial w} J(\Theta)
        return _target_of(reader, reader.derivative_object(denominator, {}), denominator, expected)
    pair = None
    if isinstance(lhs, Tree) and lhs.data == "frac" and len(lhs.children) == 7:
        pair = lhs.children[2], lhs.children[5]
    elif isinstance(lhs, Tree) and lhs.data == "mprod" and len(lhs.children) == 3 \
            and isinstance(lhs.children[1], Token) and lhs.children[1].type == "DIV":
        pair = lhs.children[0], lhs.children[2]
    if pair is not None and all(reader.differential(p) is not None for p in pair):
        numerator, denominator = pair
        of = reader.derivative_object(numerator, {})
        if of != COST:
            raise reader.error(f"the left-hand side differentiates {reader.source(numerator)}; expected the cost "
                               f"{reader.table.printed.get(COST, 'C')} above the fraction bar", numerator, expected)
        return _target_of(reader, reader.derivative_object(denominator, {}), denominator, expected)
    if isinstance(lhs, Tree) and lhs.data == "nabla":
        _, _, arg, cost = lhs.children
        if reader.is_cost(cost):
            return _target_of(reader, reader.nabla_object(arg, {}), arg, expected)
    tok, scripts = _symbol_parts(lhs)
    if tok is not None and reader.letter_of(tok) is not None:
        obj, rest = reader.reference(tok, scripts, {})
        if not rest and ((isinstance(obj, Quantity) and obj.kind == "delta")
                         or (isinstance(obj, LayerMatrix) and obj.kind == "delta")):
            if isinstance(obj, Quantity):
                return Target("delta", ("delta", *obj.indices))
            return Target("delta_vector", ("delta", int(obj.layer)))
    raise reader.error(f"the left-hand side {reader.source(lhs)} names no gradient, error or cost; expected one of: "
                       + ", ".join(expected), lhs, expected)


def _target_of(reader: _Reader, obj, node, expected) -> Target:
    if isinstance(obj, Quantity):
        if obj.kind in ("w", "b"):
            return Target("gradient", (obj.kind, *obj.indices))
        if obj.kind == "z":
            return Target("delta", ("delta", *obj.indices))
    if isinstance(obj, LayerMatrix):
        layer = int(obj.layer)
        if obj.kind in ("W", "b"):
            return Target("gradient_matrix", (obj.kind, layer))
        if obj.kind == "z":
            return Target("delta_vector", ("delta", layer))
    raise reader.error(f"the left-hand side differentiates with respect to {reader.source(node)}; expected a weight, "
                       "a bias, their matrices, or a weighted input z", node, expected)


def _past_command(text: str, index: int) -> tuple[int, int]:
    """Past the command at ``index`` (a backslash): the next index, and +1/-1 for \\begin/\\end{...}, else 0."""
    match = re.match(r"\\(begin|end)\s*\{[^{}]*\}", text[index:])
    if match:
        return index + len(match.group(0)), 1 if match.group(1) == "begin" else -1
    return index + 2, 0


def _top_level_equals(text: str) -> list[int]:
    """Positions of the '=' signs of a chain: outside braces, brackets and environments."""
    positions = []
    depth = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index, change = _past_command(text, index)
            depth += change
            continue
        if char in "{([":
            depth += 1
        elif char in "})]":
            depth = max(0, depth - 1)
        elif char == "=" and depth == 0:
            positions.append(index)
        index += 1
    return positions


def split_chain(text: str) -> list[str]:
    """The sides of a chain ``A = B = C``: split at top-level '=' only, '&' marks dropped.

    >>> split_chain(r"\\delta^{3}_{1} &= \\sum_{k=1}^{2} w_{k} = 0")
    ['\\\\delta^{3}_{1}', '\\\\sum_{k=1}^{2} w_{k}', '0']
    """
    cleaned = _remove_alignment(text)
    parts, start = [], 0
    for position in _top_level_equals(cleaned):
        parts.append(cleaned[start:position].strip())
        start = position + 1
    parts.append(cleaned[start:].strip())
    return parts


def _remove_alignment(text: str) -> str:
    """``text`` without the '&' alignment marks outside matrix environments (\\& is kept)."""
    out, depth, index = [], 0, 0
    while index < len(text):
        if text[index] == "\\":
            match = re.match(r"\\(begin|end)\s*\{([^{}]*)\}", text[index:])
            if match:
                if "matrix" in match.group(2) or match.group(2) in ("cases", "array"):
                    depth += 1 if match.group(1) == "begin" else -1
                out.append(match.group(0))
                index += len(match.group(0))
                continue
            out.append(text[index:index + 2])
            index += 2
            continue
        if text[index] == "&" and depth <= 0:
            index += 1
            continue
        out.append(text[index])
        index += 1
    return "".join(out)


# ---------------------------------------------------------------------------- documents

_DISPLAY_ENVIRONMENTS = ("equation", "align", "gather", "multline", "flalign", "alignat", "eqnarray")
_ROW_ENVIRONMENTS = ("align", "gather", "flalign", "alignat", "eqnarray", "aligned", "split", "gathered",
                     "alignedat")


def extract_equations(document: str, fmt: str) -> list[tuple[int, str]]:
    """(1-based line, LaTeX) of every display equation of a Markdown (``"md"``) or LaTeX (``"tex"``) document.

    Displays are ``$$…$$`` (also inside backticks, as some blogs write them), ``\\[…\\]``
    and the environments equation, align, gather, multline (and their starred forms,
    flalign, alignat, eqnarray). An align-like environment, and aligned, split or
    gathered inside any display, gives one entry per row (split at ``\\\\`` outside
    braces and nested environments); a row that starts with its relation
    (``&= …``) continues the chain of the row before it, so ``A &= B \\\\ &= C``
    gives the one entry ``A = B = C`` at A's line. ``&``, ``\\label``, ``\\tag`` and
    ``\\nonumber`` are removed. Markdown code blocks and LaTeX comments are skipped.
    """
    if fmt not in ("md", "tex"):
        raise FormulaError(unknown_name("document format", fmt, ("md", "tex")))
    source = _blank_code(document) if fmt == "md" else _blank_comments(document)
    source = _DECORATION.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), source)
    pattern = re.compile(
        r"\$\$(?P<dollars>.*?)\$\$"
        + (r"|\\\\\[(?P<escaped>.*?)\\\\\]" if fmt == "md" else "")  # \\[…\\], as Markdown keeps \[…\]
        + r"|\\\[(?P<brackets>.*?)\\\]"
        r"|\\begin\s*\{(?P<env>(?:%s)\*?)\}(?:\{[^{}]*\})?(?P<body>.*?)\\end\s*\{(?P=env)\}"
        % "|".join(_DISPLAY_ENVIRONMENTS),
        re.S)
    found = []
    for match in pattern.finditer(source):
        group = next(name for name in ("dollars", "escaped", "brackets", "body")
                     if name in pattern.groupindex and match.group(name) is not None)
        start = match.start(group)
        body = match.group(group)
        environment = (match.group("env") or "").rstrip("*")
        origin = None
        if fmt == "md" and (group == "escaped" or _escaped_for_markdown(body)):
            body, origin = _unescape_markdown(body)
        rows = _rows(body, 0, split=environment in _ROW_ENVIRONMENTS)
        for position, row in rows:
            position = start + (origin[position] if origin is not None else position)
            found.append((source.count("\n", 0, position) + 1, row))
    return found


def _escaped_for_markdown(math: str) -> bool:
    """Whether display math was written escaped for a Markdown pass (``w\\_{35}``, see
    :func:`symbackprop.render.escape_markdown_math`): it escapes ``_`` or ``*`` and leaves none bare."""
    return bool(re.search(r"(?<!\\)\\[_*]", math)) and not re.search(r"(?<!\\)[_*]", math)


def _unescape_markdown(math: str) -> tuple[str, list[int]]:
    """Math escaped for Markdown as the Markdown pass gives it back: ``\\_``, ``\\*``, ``\\[``, ``\\]`` lose
    their backslash and ``\\\\`` becomes ``\\``; with, for every character, its position in ``math``."""
    out, origin, index = [], [], 0
    while index < len(math):
        if math[index] == "\\" and index + 1 < len(math) and math[index + 1] in "\\_*[]":
            out.append(math[index + 1])
            origin.append(index)
            index += 2
            continue
        out.append(math[index])
        origin.append(index)
        index += 1
    origin.append(len(math))
    return "".join(out), origin


def _blank_code(document: str) -> str:
    """Markdown with fenced code blocks blanked out (lines kept)."""
    out, fence = [], None
    for line in document.split("\n"):
        stripped = line.lstrip()
        marker = stripped[:3] if stripped[:3] in ("```", "~~~") else None
        if fence is None and marker:
            fence = marker
            out.append("")
        elif fence is not None:
            if marker == fence:
                fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def _blank_comments(document: str) -> str:
    """LaTeX with % comments blanked out (lines kept)."""
    return "\n".join(re.sub(r"(?<!\\)%.*", "", line) for line in document.split("\n"))


def _rows(body: str, offset: int, split: bool) -> list[tuple[int, str]]:
    """The equations of one display: rows of aligned blocks, else the whole display."""
    inner = re.search(r"\\begin\s*\{(aligned|split|gathered|alignedat)\}(?:\{[^{}]*\})?(.*)\\end\s*\{\1\}",
                      body, re.S)
    if inner:
        before, after = body[:inner.start()], body[inner.end():]
        if not before.strip() and not after.strip():
            offset, body, split = offset + inner.start(2), inner.group(2), True
    pieces = _split_rows(body)
    if not split:  # multline and the like: one equation broken over lines
        pieces = [(pieces[0][0], " ".join(piece for _, piece in pieces))]
    rows: list[list] = []
    for start, piece in pieces:
        cleaned = _clean_equation(piece)
        if not cleaned:
            continue
        lead = len(piece) - len(piece.lstrip())
        if rows and re.match(r"(=|\\(?:leq|geq|approx|equiv)(?![A-Za-z]))", cleaned):
            rows[-1][1] = f"{rows[-1][1]} {cleaned}"
            continue
        rows.append([offset + start + lead, cleaned])
    return [(position, text) for position, text in rows]


def _split_rows(body: str) -> list[tuple[int, str]]:
    """Split at \\\\ that is outside braces and nested environments."""
    pieces, depth, start, index = [], 0, 0, 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            if body.startswith("\\\\", index) and depth == 0:
                pieces.append((start, body[start:index]))
                index += 2
                optional = re.match(r"\s*\[[^\]]*\]", body[index:])  # \\[2pt]
                if optional:
                    index += len(optional.group(0))
                start = index
                continue
            index, change = _past_command(body, index)
            depth += change
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        index += 1
    pieces.append((start, body[start:]))
    return pieces


#: a derivation line's justification: from `&&` or `\qquad` before `\text{…}` to the end of the line
_JUSTIFICATION = re.compile(r"(?:&&|\\qquad(?![A-Za-z]))\s*\\text\s*\{.*", re.S)


def _clean_equation(text: str) -> str:
    text = _JUSTIFICATION.sub("", text)
    text = _DECORATION.sub("", text)
    text = _remove_alignment(text)
    return " ".join(text.split())


# ---------------------------------------------------------------------------- shared with other grammars


def syntax_error(text: str, error: UnexpectedInput, noun: str, tokens, characters) -> FormulaError:
    """The :class:`FormulaError` for a Lark error reading ``text``: where, what was expected and what was found.

    ``noun`` names what is read (``"expression"``); ``tokens(names, position)`` puts the
    token types the parser would accept at ``position`` into words; ``characters`` lists,
    in words, what may stand where a character outside the language was found. The
    message ends with the line and a caret under the position (see :class:`FormulaError`).
    """
    def listed(words):
        return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"

    if isinstance(error, UnexpectedToken):
        tok = error.token
        position = len(text.rstrip()) if tok.type == "$END" else tok.start_pos
        found = f"the end of the {noun}" if tok.type == "$END" else _shown(tok)
        expected = list(tokens(error.expected, position))
        return FormulaError(f"cannot read the {noun} at {_where(text, position)}: expected {listed(expected)}; "
                            f"found {found}", text, position, expected)
    position = error.pos_in_stream
    return FormulaError(f"cannot read the {noun} at {_where(text, position)}: the character {text[position]!r} is "
                        f"not part of the {noun} language; expected {listed(list(characters))}",
                        text, position, list(characters))
