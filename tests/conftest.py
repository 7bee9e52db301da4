"""Shared helpers for the test suite."""

import sympy as sp


def same(left, right) -> bool:
    """Symbolic equality the SymPy way: the difference simplifies to 0."""
    return sp.simplify(sp.expand(left - right)) == 0
