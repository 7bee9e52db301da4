"""What every reader of written mathematics shares: its errors, its bounds, its numbers, its grammars.

Two readers turn text into SymPy through a grammar of their own: the reader of claims
(``formula.lark``, :mod:`symbackprop.claims.formula`) and the reader of computational graphs
(``graph.lark``, :mod:`symbackprop.graph.analysis`). Both load their grammar the same way
(LALR, linear time, positions kept), refuse hostile text before parsing it (more than
:data:`MAX_LENGTH` characters, brackets nested deeper than :data:`MAX_NESTING`), read a
written number exactly (``0.5`` is 1/2, never a float), and report a problem as one
:class:`FormulaError` that names the place (``column 7``) and shows the line with a caret under it.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import sympy as sp
from lark import Lark, Token
from lark.exceptions import UnexpectedInput, UnexpectedToken

from ..errors import SpecError

#: longest formula read, in characters (longer text is refused before any parsing)
MAX_LENGTH = 5000
#: deepest nesting of brackets and braces (deeper text is refused before any parsing)
MAX_NESTING = 40
#: largest |n| of a power x^n
MAX_EXPONENT = 20
#: most digits a number computed from the formula may have (powers of numbers)
MAX_DIGITS = 300


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
            message = f"{message}\n{pointer(text, position)}"
        super().__init__(message)


def pointer(text: str, position: int) -> str:
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


def place(text: str, position: int) -> str:
    """``column N`` (1-based), with the line when the text has several."""
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}" if "\n" in text else f"column {column}"


def check_bounds(text: str) -> None:
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
                raise FormulaError(f"brackets nested more than {MAX_NESTING} deep at {place(text, position)}; "
                                   f"expected at most {MAX_NESTING} levels", text, position)
        elif char in ")]}":
            depth = max(0, depth - 1)


def token_text(tok: Token) -> str:
    """A token as a message quotes it (the end of the text in words)."""
    if tok.type == "$END":
        return "the end of the formula"
    return repr(tok.value) if tok.value else tok.type


def span(node) -> tuple[int, int]:
    """(start, end) of a token or a parse-tree node in the text read."""
    if isinstance(node, Token):
        return node.start_pos, node.end_pos
    return node.meta.start_pos, node.meta.end_pos


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
        found = f"the end of the {noun}" if tok.type == "$END" else token_text(tok)
        expected = list(tokens(error.expected, position))
        return FormulaError(f"cannot read the {noun} at {place(text, position)}: expected {listed(expected)}; "
                            f"found {found}", text, position, expected)
    position = error.pos_in_stream
    return FormulaError(f"cannot read the {noun} at {place(text, position)}: the character {text[position]!r} is "
                        f"not part of the {noun} language; expected {listed(list(characters))}",
                        text, position, list(characters))


def grammar(path: Path, **options) -> Lark:
    """The LALR parser of the grammar in ``path`` (basic lexer, positions kept); ``options`` go to Lark."""
    return Lark(path.read_text(encoding="utf-8"), parser="lalr", lexer="basic", propagate_positions=True,
                maybe_placeholders=False, **options)


def exact_number(written: str) -> sp.Rational:
    """A number as written (``2``, ``0.5``, ``.25``) as the exact rational it writes, never a float."""
    number = Fraction(written)
    return sp.Rational(number.numerator, number.denominator)
