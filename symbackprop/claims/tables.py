"""The numbers in the tables of a worked example, decided at the point where the example was computed.

A worked example (``symbackprop evaluate``) lists its parameters before the step in a table, and ends with the
table "Parameter | Before | Gradient | After". Each row whose first cell names a parameter θ states, column by
column, numbers about θ: its value before the step, the gradient ∂C/∂θ, and its value after one step,
θ − η ∂C/∂θ (a table of two columns states the first of these only). A row whose first cell names an input
or a target states its value. Every such number is a claim about its quantity at the example's point and is
decided as a number of a display equation is (:mod:`symbackprop.claims.values`): to the rounding of the
significant digits the document shows, with η the learning rate of the values. Rows whose first cell names
nothing of the network (a header, the table of layers) and cells that are no number are no claims.
"""

from __future__ import annotations

from dataclasses import replace


def table_results(rows, quantities, value_at, read_shown, values, printed) -> list:
    """The verdicts on the numbers of the table rows ``rows`` ((line, cells) pairs, a cell the LaTeX of its
    math or None; see :func:`~symbackprop.claims.extraction.extract_table_rows`).

    ``quantities(latex)`` gives, for a first cell that names a parameter, input or target, the quantities the
    columns after it state (each an expression of the network's symbols), else None; ``value_at(expr)`` is the
    exact value of such a quantity at the point of ``values`` (a :class:`~symbackprop.claims.values.WorkedPoint`);
    ``read_shown(text)`` reads a cell as arithmetic with its decimals as symbols; ``printed(expr)`` writes a
    quantity as the left-hand side of the claim. Without ``values`` each number is skipped (reason ``value``).
    """
    from .values import ValueVerdict, numeric_members
    from .verdicts import _number_verdict

    results = []
    for line, cells in rows:
        if len(cells) < 2 or cells[0] is None:
            continue
        named = quantities(cells[0])
        if not named:
            continue
        numbers = numeric_members([cell or "" for cell in cells[:len(named) + 1]], read_shown)
        for index, number in sorted(numbers.items()):
            quantity = named[index - 1]
            lhs = printed(quantity)
            verdict = _number_verdict(f"{lhs} = {cells[index]}", line, lhs, cells[index], number,
                                     lambda _: value_at(quantity), values)
            if isinstance(verdict, ValueVerdict):
                verdict = replace(verdict, table=True)
            if verdict is not None:
                results.append(verdict)
    return results


def step_quantities(theta, cost, eta) -> tuple:
    """What the columns of a parameter's row state: θ, ∂C/∂θ and θ − η ∂C/∂θ."""
    from ..model.symbols import Partial

    gradient = Partial(cost, theta)
    return theta, gradient, theta - eta * gradient


def merged(results: list, table: list) -> list:
    """The verdicts of a document's equations and of its tables, by line."""
    if not table:
        return results
    return sorted(results + table, key=lambda r: (r.line is None, r.line or 0))
