"""The numbers of a worked example, decided at the point where the example was computed.

A worked example (``symbackprop evaluate``) states, for each quantity, its definition, the definition with
the numbers put in and the value: ``z^{2}_{1} = w^{2}_{11} x_{1} + … = 0.3 \\cdot 1 + … = 0.35``. Given the
example's values (its parameters, its input and target, the learning rate η), every member of such a chain
that is arithmetic on numbers is a claim about the left-hand side *at that point*, and is decided here:

* the left-hand side is read with the network's symbols and evaluated at the point by the checker's own
  forward pass and derivation (40 digits; never from the numbers of the example itself);
* the member is read with every decimal number it writes as a symbol of its own: a decimal ``d`` shown to
  ``digits`` significant digits stands for every number that rounds to it, the interval
  ``[d − h, d + h]`` with ``h`` half a unit in its last significant place; a whole number (``0``, ``1``)
  is exact, as the worked examples write only exact whole numbers without a decimal point;
* the member is evaluated by interval arithmetic over those intervals (:mod:`mpmath.iv`, rounded
  outward), and it is *correct* when the interval contains the exact value, *incorrect* otherwise.

So a value shown correctly rounded is correct, and so is a sum or product of rounded numbers that differs
from the rounded result in its last digit (the rounding the documents declare); a wrong digit anywhere a
difference of a unit in the last place can show is incorrect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import mpmath
import sympy as sp
from mpmath import iv

#: the significant digits a worked example shows unless told otherwise (``evaluate --digits``)
DIGITS = 6
#: working precision of the interval arithmetic, in decimal digits
INTERVAL_DIGITS = 60
#: the relative uncertainty of an exact value computed to 40 digits
VALUE_SLACK = mpmath.mpf("1e-36")

#: letters that may stand in arithmetic on numbers: e (Euler's number, e^{…})
_NUMERIC_LETTERS = re.compile(r"[A-DF-Za-df-z]")
_COMMAND = re.compile(r"\\[A-Za-z]+")
#: LaTeX commands that may stand in arithmetic on numbers
_ARITHMETIC = {"\\left", "\\right", "\\cdot", "\\times", "\\frac", "\\dfrac", "\\tfrac", "\\sqrt", "\\log", "\\ln",
               "\\exp", "\\max", "\\min", "\\begin", "\\end", "\\mathrm"}


@dataclass(frozen=True)
class WorkedPoint:
    """Where a worked example was computed: ``point`` (the values of its parameters, input and target, as
    :class:`~symbackprop.proof.oracle.Point` or :class:`~symbackprop.proof.layered.LayeredPoint`), the learning
    rate η of its step and the significant digits it shows."""

    point: object
    lr: sp.Rational
    digits: int = DIGITS


@dataclass(frozen=True, kw_only=True)
class PlainVerdict:
    """What the reports read from every verdict, for a claim decided as it stands: no random points, no index
    letters, one entry. The verdicts on a number (:class:`ValueVerdict`) and on a restated formula
    (:class:`~symbackprop.claims.outputs.FormVerdict`) add what they compared."""

    points: int = 0
    letters: tuple = ()
    instances: int = 1
    entries: int = 1
    diagnosis: tuple = ()
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "correct"


@dataclass(frozen=True)
class ValueVerdict(PlainVerdict):
    """The answer about one number of a worked example: ``text`` is ``LHS = member``; ``value`` the exact value
    of the left-hand side at the point (40 digits), ``low`` and ``high`` the interval the member's numbers give
    with the rounding of ``digits`` significant digits; ``arithmetic`` whether the member puts numbers into a
    formula (else it states one number); ``table`` whether the number stands in a table (a row about a parameter,
    :mod:`symbackprop.claims.tables`) rather than in a display equation."""

    text: str
    line: int | None
    status: str
    value: object
    low: object
    high: object
    digits: int
    arithmetic: bool
    method: str = "value"
    table: bool = False


def looks_numeric(member: str) -> bool:
    """Whether a member of a chain may be arithmetic on numbers: a digit, and no letter that names a symbol
    (a cheap test before the member is read with every decimal as a symbol)."""
    if not re.search(r"\d", member):
        return False
    commands = set(_COMMAND.findall(member))
    if commands - _ARITHMETIC:
        return False
    stripped = re.sub(r"\\begin\{[a-z]*\}|\\end\{[a-z]*\}|\\mathrm\{e\}", "", member)
    return not _NUMERIC_LETTERS.search(_COMMAND.sub("", stripped))


def has_decimal(member: str) -> bool:
    return bool(re.search(r"\d\.\d", member))


def numeric_members(members, read_shown) -> dict:
    """``{index: (expr, shown)}`` for every member (after the first) that reads as arithmetic on numbers alone;
    ``read_shown(text)`` reads a formula with every decimal number as a symbol and returns (value, shown)."""
    from ..errors import SpecError

    found = {}
    for index, member in enumerate(members):
        if index == 0 or not looks_numeric(member):
            continue
        try:
            expr, shown = read_shown(member)
        except SpecError:
            continue
        if isinstance(expr, sp.MatrixBase) or not sp.sympify(expr).free_symbols <= set(shown):
            continue
        found[index] = (sp.sympify(expr), shown)
    return found


def half_unit(number: sp.Rational, digits: int) -> sp.Rational:
    """Half a unit in the last of ``digits`` significant places of ``number`` (0 for 0)."""
    if number == 0:
        return sp.S.Zero
    exponent = Decimal(number.p).copy_abs().adjusted() - Decimal(number.q).adjusted()
    # the exponent of |p/q| is that of |p| less that of q, or one less: fix it by comparing with the power of ten
    if abs(number) < sp.Rational(10) ** exponent:
        exponent -= 1
    return sp.Rational(5) * sp.Rational(10) ** (exponent - digits)


def _exact_interval(low: sp.Rational, high: sp.Rational):
    lo = iv.mpf(int(low.p)) / int(low.q)
    hi = iv.mpf(int(high.p)) / int(high.q)
    return iv.mpf([lo.a, hi.b])


def stated_interval(expr, shown: dict, digits: int):
    """``expr`` evaluated over intervals: each shown decimal as every number that rounds to it."""
    saved = iv.dps
    iv.dps = INTERVAL_DIGITS
    try:
        return _interval(sp.sympify(expr), shown, digits)
    finally:
        iv.dps = saved


def certainly_nonzero(expr) -> bool:
    """True when ``expr`` is not 0 at one point of its symbols, shown by outward-rounded interval arithmetic, so
    that no rewriting can turn it into 0 (which would keep its value at every point). The point is fixed
    (positive fractions below 1, the same on every run) and used only where each symbol's assumptions hold
    for its value. False says nothing: an expression this evaluator does not read, or whose interval holds 0."""
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key)
    point = {s: sp.Rational(17 + (31 * i) % 73, 97) for i, s in enumerate(symbols)}
    for s, value in point.items():
        if any(getattr(value, f"is_{key}", None) != holds for key, holds in s.assumptions0.items()):
            return False
    saved = iv.dps
    iv.dps = INTERVAL_DIGITS
    try:
        value = _interval(expr, point, None, {})
    except (ValueError, ZeroDivisionError, ArithmeticError, TypeError):
        return False
    finally:
        iv.dps = saved
    ends = (mpmath.mpf(end) for end in value._mpi_)
    low, high = ends
    if not (mpmath.isfinite(low) and mpmath.isfinite(high)):
        return False  # a pole, a logarithm of a negative number: nothing is shown
    return low > 0 or high < 0


def _interval(expr, shown, digits, memo=None):
    """``expr`` over intervals: each expression in ``shown`` as every number that rounds to its value at
    ``digits`` places (``digits`` None: the value itself); ``memo`` keeps what each subexpression gave."""
    if memo is not None and expr in memo:
        return memo[expr]
    value = _interval_of(expr, shown, digits, memo)
    if memo is not None:
        memo[expr] = value
    return value


def _interval_of(expr, shown, digits, memo):
    def of(e):
        return _interval(e, shown, digits, memo)

    if expr in shown:
        d = shown[expr]
        h = half_unit(d, digits) if digits is not None else 0
        return _exact_interval(d - h, d + h)
    if expr.is_Rational:
        return _exact_interval(expr, expr)
    if expr.is_Add:
        total = iv.mpf(0)
        for a in expr.args:
            total = total + of(a)
        return total
    if expr.is_Mul:
        product = iv.mpf(1)
        for a in expr.args:
            product = product * of(a)
        return product
    if expr.is_Pow:
        base = of(expr.base)
        if expr.exp.is_Integer:
            return base ** int(expr.exp)
        if expr.exp == sp.S.Half:
            return iv.sqrt(base)
        return iv.exp(of(expr.exp) * iv.log(base))
    if expr.func is sp.exp:
        return iv.exp(of(expr.args[0]))
    if expr.func is sp.log:
        return iv.log(of(expr.args[0]))
    if expr.func is sp.tanh:
        twice = iv.exp(2 * of(expr.args[0]))
        return iv.mpf([max(-1, ((twice.a - 1) / (twice.a + 1))), min(1, (twice.b - 1) / (twice.b + 1))])
    if expr.func in (sp.Max, sp.Min):
        parts = [of(a) for a in expr.args]
        pick = max if expr.func is sp.Max else min
        return iv.mpf([pick(p.a for p in parts), pick(p.b for p in parts)])
    if expr.func is sp.Piecewise:
        for piece, condition in expr.args:
            if _holds(condition, of):
                return of(piece)
        raise ValueError(f"no piece of {expr} holds")
    if expr.func is sp.Heaviside:
        return iv.mpf(1) if _holds(sp.StrictGreaterThan(expr.args[0], 0), of) else iv.mpf(0)
    if expr.is_number and not expr.free_symbols:
        value = sp.N(expr, INTERVAL_DIGITS + 10)
        if value.is_real:
            text = str(value)
            return iv.mpf([text, text])
    raise ValueError(f"{expr} is not arithmetic on numbers")


def _holds(condition, of) -> bool:
    """Whether a piece's condition holds where the intervals of its sides do not overlap; a condition the
    intervals leave open (or one this does not read) raises ValueError."""
    if condition is sp.true:
        return True
    if condition is sp.false:
        return False
    if isinstance(condition, sp.core.relational.Relational) and condition.rel_op in ("<", "<=", ">", ">="):
        gap = of(condition.lhs - condition.rhs)
        if gap.a > 0 or gap.b < 0:  # the sides differ at every point of the intervals: the sign decides
            return (gap.a > 0) == (condition.rel_op in (">", ">="))
    raise ValueError(f"{condition} is not decided by intervals")


#: one number, as a member of a chain writes a value: 0.35, -0.0600978, \left(-0.5\right), 1.5 \cdot 10^{-7}
_ONE_NUMBER = re.compile(r"^\s*(\\left\(|\()?\s*-?\s*\d+(\.\d+)?(\s*\\cdot\s*10\^\{-?\d+\})?\s*(\\right\)|\))?\s*$")


def decide(text: str, line, expr, shown: dict, value, digits: int) -> ValueVerdict:
    """Whether the exact ``value`` (a SymPy number, 40 digits) lies in the interval of the numbers ``expr`` states;
    ``text`` is the claim ``LHS = member``."""
    stated = stated_interval(expr, shown, digits)
    return within(text, line, stated, value, digits, arithmetic=not _ONE_NUMBER.match(text.rsplit(" = ", 1)[-1]))


def within(text: str, line, stated, value, digits: int, arithmetic: bool = False) -> ValueVerdict:
    """Whether the exact ``value`` lies in the interval ``stated`` (an mpmath interval)."""
    number = sp.sympify(value)
    with mpmath.workdps(INTERVAL_DIGITS):
        low, high = (mpmath.mpf(end) for end in stated._mpi_)  # the endpoints, exactly as the interval holds them
        if not number.is_number or number.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or not number.is_real:
            return ValueVerdict(text, line, "incorrect", sp.nan, low, high, digits, arithmetic)
        exact = mpmath.mpf(sp.Float(number, 45)._to_mpmath(mpmath.mp.prec))
        slack = abs(exact) * VALUE_SLACK
        holds = low - slack <= exact <= high + slack
    return ValueVerdict(text, line, "correct" if holds else "incorrect", number, low, high, digits, arithmetic)


def exact_interval(low: sp.Rational, high: sp.Rational):
    """The interval from ``low`` to ``high``, rounded outward."""
    saved = iv.dps
    iv.dps = INTERVAL_DIGITS
    try:
        return _exact_interval(low, high)
    finally:
        iv.dps = saved


def eta_values(expr, lr) -> dict:
    """The learning rate for every η a formula writes (``\\eta`` reads as a symbol named eta)."""
    return {s: sp.Rational(lr) for s in sp.sympify(expr).free_symbols if getattr(s, "name", None) == "eta"}


def number_text(value) -> str:
    """A number of a value verdict as the answers print it: 12 significant digits."""
    try:
        return mpmath.nstr(mpmath.mpf(value) if not isinstance(value, sp.Basic) else
                           mpmath.mpf(sp.Float(value, 45)._to_mpmath(200)), 12)
    except (TypeError, ValueError):
        return str(value)
