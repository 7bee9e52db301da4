"""A difference that interval arithmetic shows nonzero at one point is not expanded: it cannot expand to 0. Nor is
one whose Laurent polynomial is 0: it is 0."""

import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop.claims.layered as layered
from symbackprop.claims.values import certainly_nonzero
from symbackprop.proof.equations import laurent_zero

x, y = sp.symbols("x y", positive=True)
r = sp.Symbol("r", real=True)


def test_a_nonzero_difference_is_found_at_a_point():
    assert certainly_nonzero((x + y) ** 2 - x ** 2 - y ** 2)
    assert certainly_nonzero(sp.sqrt(x + 1) - sp.sqrt(x))
    assert certainly_nonzero(sp.exp(x) - 1 - x)


def test_an_identity_is_never_called_nonzero():
    assert not certainly_nonzero(sp.sqrt(x * y) ** 2 - x * y)
    assert not certainly_nonzero(sp.Add(sp.tanh(x) ** 2, 1 / sp.cosh(x) ** 2, -1, evaluate=False))
    assert not certainly_nonzero(sp.expand((x - y) ** 3) - (x - y) ** 3)


def test_nothing_is_shown_where_the_point_breaks_an_assumption_or_the_value_is_undefined():
    n = sp.Symbol("n", integer=True)
    assert not certainly_nonzero(n + 1)            # the point's fractions are no integers
    assert not certainly_nonzero(sp.log(x - 1))    # x < 1 at the point: the logarithm of a negative number
    assert not certainly_nonzero(sp.sqrt(x - 1))
    assert not certainly_nonzero(sp.Function("f")(x))


def test_pieces_are_chosen_where_the_intervals_decide_the_condition():
    assert certainly_nonzero(sp.Piecewise((r, r > 0), (2 * r, True)))
    assert certainly_nonzero(sp.Heaviside(r))
    assert not certainly_nonzero(sp.Heaviside(r - r * 2))          # r - 2r < 0 at the point: the step is 0
    assert not certainly_nonzero(sp.Piecewise((r, r > sp.Rational(17, 97)), (0, True)))  # a tie: undecided


def test_the_layered_decision_expands_only_what_the_point_leaves_open(monkeypatch):
    expanded = []
    real_expand = sp.expand

    def counting(e, *args, **kwargs):
        expanded.append(e)
        return real_expand(e, *args, **kwargs)

    monkeypatch.setattr(layered.sp, "expand", counting)
    assert layered._zero((x + y) ** 2 - x ** 2 - y ** 2, 100) is False
    assert expanded == []
    # 0 once the exponential's argument is expanded: no Laurent polynomial shows it, expand does
    assert layered._zero(sp.exp(x * (y + 1)) - sp.exp(x * y + x), 100) is True
    assert len(expanded) == 1


def test_a_difference_whose_laurent_polynomial_is_0_is_not_expanded(monkeypatch):
    """The shape batch normalisation gives: products of sums over powers of one square root's base."""
    expanded = []
    real_expand = sp.expand
    monkeypatch.setattr(layered.sp, "expand", lambda e, *a, **k: expanded.append(e) or real_expand(e, *a, **k))
    base = x ** 2 + y ** 2 + sp.Rational(1, 100000)
    difference = (x * (x - y) / base ** sp.Rational(3, 2) + 2 * y / sp.sqrt(base)
                  - (x ** 2 * sp.sqrt(base) + 2 * y * base ** sp.Rational(3, 2) - x * y * sp.sqrt(base)) / base ** 2)
    assert difference != 0  # SymPy does not see it by itself
    assert layered._zero(difference, 1000) is True
    assert expanded == []


def test_a_laurent_polynomial_proves_0_only_of_what_is_0():
    base = x + y + 1
    root = sp.sqrt(base)
    assert laurent_zero(x / root - x * root / base)
    assert laurent_zero(base ** sp.Rational(1, 3) * base ** sp.Rational(1, 2) - base ** sp.Rational(5, 6))
    assert laurent_zero((x - 1) ** 2 / root - x ** 2 / root + 2 * x / root - 1 / root)
    assert not laurent_zero(1 / root - 1 / base ** sp.Rational(3, 2))
    # two roots of one base that SymPy keeps apart: one variable for both, with their common denominator
    assert not laurent_zero(base ** sp.Rational(1, 3) - root) and not laurent_zero(root - base ** sp.Rational(1, 3))
    assert not laurent_zero(root - base)
    assert not laurent_zero(x / root - y / root)
    assert not laurent_zero(sp.sqrt(x + 1) - sp.sqrt(y + 1))


_BASES = [x + 1, x + y, x * y + 2]


def _powers():
    leaves = st.sampled_from([x, y, sp.Integer(2), sp.Rational(-1, 3)]) | st.tuples(
        st.sampled_from(_BASES), st.sampled_from([sp.S.Half, -sp.S.Half, sp.Rational(-3, 2), sp.Rational(1, 3), -1])
    ).map(lambda p: p[0] ** p[1])
    return st.recursive(leaves, lambda c: st.lists(c, min_size=2, max_size=3).map(lambda a: sp.Add(*a))
                        | st.lists(c, min_size=2, max_size=3).map(lambda a: sp.Mul(*a)), max_leaves=10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_powers(), _powers())
def test_what_laurent_zero_calls_0_is_0(left, right):
    """Sound: what it calls 0 is 0 at a point (50 digits), for differences of random expressions and for a
    product of two sums against the sum of the products of their terms, which SymPy combines power by power
    (u^(1/2)·u^(−1) = u^(−1/2)). It need not find every 0: ``expand`` decides what it leaves."""
    at = {x: sp.Rational(7, 3), y: sp.Rational(5, 11)}
    distributed = sp.Add(*[a * b for a in sp.Add.make_args(left) for b in sp.Add.make_args(right)])
    for difference in (left - right, left * right - distributed, left * right - distributed + x / sp.sqrt(x + 1)):
        if laurent_zero(difference):
            assert abs(difference.xreplace(at).evalf(50)) < sp.Float("1e-40"), difference
