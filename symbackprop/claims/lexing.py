"""From text to the parse tree of ``formula.lark``: LaTeX and plain text lexed into one stream of tokens.

Two syntaxes share the grammar. In LaTeX (``\\delta^{3}_{1}``) every letter is a symbol of its own
and commands (``\\sigma``, ``\\frac``, ``\\odot``, ``\\text{T}``) and Unicode signs (σ, ∂, ⊙, ᵀ)
become the grammar's token types; in plain text (``delta^3_1``, ``dC/dw^3_12``) a word is one name
and ``w^3_12`` takes the whole run after ``_``. Decorations (``\\label``, ``\\tag``, trailing
punctuation) are blanked before lexing, so positions in messages are positions in the text as written.
A text that does not read becomes a :class:`~symbackprop.claims.reading.FormulaError` that says where
and lists, in words, what the grammar accepts there. Nothing here knows a network or a notation.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..errors import unknown_name
from .reading import FormulaError, grammar, place, token_text

SYNTAXES = ("latex", "text", "auto")
#: most sums (Σ) in one formula
MAX_SUMS = 6

_GRAMMAR_PATH = Path(__file__).with_name("formula.lark")


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
    "sqrt": ("SQRT", "sqrt"), "geq": ("GEQ", "geq"), "ge": ("GEQ", "geq"),
    "max": (_FUNC, "max"), "wedge": ("WEDGE", "and"), "land": ("WEDGE", "and"),
    # batch normalisation: the scale, the shift, the mean and the constant under the square root
    "gamma": (_NAME, "\\gamma"), "beta": (_NAME, "\\beta"), "mu": (_NAME, "\\mu"),
    "varepsilon": (_NAME, "\\varepsilon"), "epsilon": (_NAME, "\\varepsilon"),
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
    "·": ("MULOP", "*"), "×": ("MULOP", "*"), "′": ("APOS", "'"), "−": ("ADDOP", "-"), "≤": ("LEQ", "leq"), "≥": ("GEQ", "geq"),
    "∧": ("WEDGE", "and"), "γ": (_NAME, "\\gamma"), "β": (_NAME, "\\beta"), "μ": (_NAME, "\\mu"),
    "ε": (_NAME, "\\varepsilon"),
}

#: the operations on maps a layered document writes (\operatorname{rot}_{180}), by their name and subscript
_MAP_OPERATIONS = {("rot", "180"): "rot180", ("route", "\\max"): "route_max", ("spread", "\\mathrm{mean}"): "spread_mean"}
#: the operations on maps written with a whole number (\operatorname{dil}_{2}): dilation, zero padding, cropping
_SIZED_OPERATIONS = ("dil", "pad", "crop")

#: what \text{...}, \mathrm{...} and the like may name
_TEXT_ARGUMENTS = {"T": ("TOP", "T"), "exp": (_FUNC, "exp"), "log": (_FUNC, "log"), "ln": (_FUNC, "log"),
                   "tanh": (_FUNC, "tanh"), "sigma": (_FUNC, "sigma"), "d": (_NAME, "d"),
                   # activations by their own names, as documents write them (\operatorname{ReLU}'(z))
                   "ReLU": (_FUNC, "relu"), "LeakyReLU": (_FUNC, "leaky_relu"), "softplus": (_FUNC, "softplus"),
                   "unflatten": (_FUNC, "unflatten")}  # a flattening layer's error laid back out as its input map


def _token(kind: str, value: str, source: Token, start: int | None = None, end: int | None = None) -> Token:
    start = source.start_pos if start is None else start
    end = source.end_pos if end is None else end
    column = source.column + (start - source.start_pos)
    return Token(kind, value, start_pos=start, line=source.line, column=column,
                 end_line=source.line, end_column=column + (end - start), end_pos=end)


class _PostLexer:
    """Turns letters, commands and Unicode signs into the grammar's token types."""

    always_accept = ("IDENT", "CMD", "UNI", "TEXTCMD", "CALCMD", "HATCMD", "NORM", "MAPOP", "STARCMD", "INDICATOR")

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
            elif kind in ("MBEGIN", "CBEGIN"):  # & and \\ separate the entries of a matrix or of cases
                matrices += 1
            elif kind in ("MEND", "CEND"):
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
            elif kind in ("CMD", "UNI") and tok.value in ("\\sigma", "σ") and _statistic(tokens, index):
                yield _token(_NAME, "\\sigma", tok)  # σ^{(l)}, σ_B: a standard deviation, not the activation
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
            elif kind == "INDICATOR":
                # 1[z > 0] is the bracket of its condition; the 1 in front only names it
                if index >= len(tokens) or tokens[index].type != "LBRACK":
                    raise _LexProblem(f"{tok.value} at {{where}} without a condition after it; expected "
                                      f"{tok.value}[z > 0], 1 where the condition holds", tok.start_pos,
                                      ["[condition]"])
            elif kind == "TEXTCMD":
                yield _text_argument(tok)
            elif kind == "CALCMD":
                yield _token(_NAME, "cal:" + re.sub(r"[^A-Za-z]", "", tok.value[len("\\mathcal"):]), tok)
            elif kind == "MAPOP":
                yield _map_operation(tok)
            elif kind == "STARCMD":
                yield _token("CORR", "full" if "full" in tok.value else "valid", tok)
            elif kind == "HATCMD":
                yield _token(_NAME, "hat:" + tok.value.rstrip("} \t\n")[-1], tok)
            else:
                yield tok


def _statistic(tokens, index: int) -> bool:
    """Whether the σ before ``tokens[index]`` is batch normalisation's standard deviation: its layer in brackets
    (σ^{(2)}, as the layered documents write it) or the batch as its subscript (σ_B, σ_{B}). The activation is
    written σ(z), σ'(z) or σ^{k}(z) for a power, never with a bracketed superscript or the subscript B."""
    kinds = [t.type for t in tokens[index:index + 3]]
    values = [t.value for t in tokens[index:index + 3]]
    if kinds[:3] == ["CARET", "LBRACE", "LPAR"]:
        return True
    return kinds[:1] == ["UNDER"] and (values[1:2] == ["B"] or values[1:3] == ["{", "B"])


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


def _map_operation(tok: Token) -> Token:
    """\\operatorname{rot}_{180} and the like: the token of the operation, or what was expected."""
    name, script = re.fullmatch(r"\\operatorname\s*\{\s*(\w+)\s*\}\s*_\s*\{(.*)\}", tok.value, re.S).groups()
    script = re.sub(r"\s+", "", script)
    found = _MAP_OPERATIONS.get((name, script))
    sizes = script.split(",")
    if found is None and name in _SIZED_OPERATIONS and all(n.isdigit() and int(n) <= 64 for n in sizes) \
            and (len(sizes) == 1 and int(script) > 0 or name != "dil" and len(sizes) in (2, 4)):
        # dilation by the stride, padding and cropping by the padding on every side, or by (before, after) along
        # every axis, or by (before, after) along the rows and then the columns
        found = "_".join([name, *(str(int(n)) for n in sizes)])
    if found is None:
        expected = ["\\operatorname{rot}_{180}", "\\operatorname{route}_{\\max}", "\\operatorname{spread}_{\\mathrm{mean}}",
                    "\\operatorname{dil}_{s}", "\\operatorname{pad}_{p}", "\\operatorname{crop}_{p}",
                    "\\operatorname{pad}_{b,e}", "\\operatorname{crop}_{b,e}"]
        raise _LexProblem(f"{tok.value} at {{where}} names no operation on maps; expected one of: {', '.join(expected)}",
                          tok.start_pos, expected)
    return _token(_FUNC, found, tok)


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
    return grammar(_GRAMMAR_PATH, postlex=_PostLexer(syntax), start=["formula", "claim"])


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
    """The parse tree of ``text``; a formula read again (the same symbol in every table, the same claim in
    every language and format of a document) is parsed once. Nothing changes a tree after parsing."""
    return _parse_once(text, syntax, start)


@functools.lru_cache(maxsize=8192)
def _parse_once(text: str, syntax: str, start: str) -> Tree:
    try:
        return _parser(syntax).parse(text, start=start)
    except _LexProblem as problem:
        message = problem.message.replace("{where}", place(text, problem.position))
        raise FormulaError(message, text, problem.position, problem.expected) from None
    except UnexpectedToken as error:
        tok = error.token
        position = len(text.rstrip()) if tok.type == "$END" else tok.start_pos
        expected = _expected(_acceptable(text, syntax, start, position) or error.expected, syntax)
        raise FormulaError(
            f"cannot read the formula at {place(text, position)}: expected "
            f"{'one of ' if len(expected) > 1 else ''}{', '.join(expected)}; found {token_text(tok)}",
            text, position, expected) from None
    except UnexpectedCharacters as error:
        position = error.pos_in_stream
        char = text[position]
        expected = ["a symbol", "a number", "an operator", "a bracket"]
        raise FormulaError(
            f"cannot read the formula at {place(text, position)}: the character {char!r} is not part of "
            f"the formula language; expected {', '.join(expected[:-1])} or {expected[-1]}",
            text, position, expected) from None
