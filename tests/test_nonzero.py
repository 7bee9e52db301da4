"""A difference that interval arithmetic shows nonzero at one point is not expanded: it cannot expand to 0."""

import sympy as sp

import symbackprop.claims.layered as layered
from symbackprop.claims.values import certainly_nonzero

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
    assert layered._zero((x + y) ** 2 - x ** 2 - 2 * x * y - y ** 2, 100) is True
    assert len(expanded) == 1
