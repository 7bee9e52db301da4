"""The answers about claims, as terminal text (worded by the templates) or JSON."""

from __future__ import annotations

import json
from collections import Counter
from functools import partial

import sympy as sp

from ..documents import printing
from ..documents.render import LANGUAGES, check_choice, environment, get_template
from ..model.symbols import Quantity
from .symbol_table import _ranges
from .values import number_text
from .verdicts import SKIP_REASONS, corrected_form


def _number(value) -> str:
    return f"{float(value):.6g}"


def _shown_value(value, show) -> dict:
    """A value of a counterexample for the templates: a number, or the rows of a matrix, each entry printed."""
    if isinstance(value, sp.MatrixBase):
        rows = [[show(sp.Float(value[r, c], 6)) for c in range(value.shape[1])] for r in range(value.shape[0])]
        return {"rows": rows, "scalar": None}
    return {"rows": None, "scalar": show(sp.Float(value, 12))}


def _counterexample(derivation, verdict, show, limit: int = 24) -> dict:
    """The point of a counterexample and both values there, printed, for the templates to phrase.

    Above ``limit`` parameters only those the two formulas involve are listed (``omitted``
    counts the others).
    """
    example = verdict.counterexample
    fw = derivation.forward
    wanted = set(example.params)
    if len(wanted) > limit:
        involved = set()
        for expr in (verdict.truth, verdict.claim.rhs):
            involved |= {s for s in sp.sympify(expr).free_symbols} if not isinstance(expr, sp.MatrixBase) \
                else set().union(*(e.free_symbols for e in expr))
        wanted = {key for key in example.params if fw.q(*key) in involved}
    named = lambda pairs: [{"name": show(s), "value": _number(v)} for s, v in pairs]  # noqa: E731
    constants = []
    for name, value in example.l2.items():
        symbol = name if isinstance(name, sp.Basic) else Quantity(name)
        constants.append((symbol, value))
    parameters = [(fw.q(*key), example.params[key]) for key in derivation.params if key in wanted]
    return {
        "inputs": named(zip(fw.inputs, example.x)),
        "targets": named(zip(fw.targets, example.y)),
        "parameters": named(parameters),
        "omitted": len(example.params) - len(parameters),
        "constants": named(constants),
        "claimed": _shown_value(example.claimed, show),
        "actual": _shown_value(example.actual, show),
    }


def _mismatch(mismatch) -> dict:
    return {"mistake": mismatch.mistake, "operation": mismatch.operation,
            "left": "×".join(map(str, mismatch.left)), "right": "×".join(map(str, mismatch.right)),
            "left_text": mismatch.left_text, "right_text": mismatch.right_text}


def _summary(results) -> dict:
    """How many results have each status; ``values``: how many of the claims are numbers of a worked example,
    ``skipped_values``: how many such numbers were skipped for want of the example's values."""
    summary = {status: sum(1 for r in results if r.status == status)
               for status in ("correct", "incorrect", "undecided", "unreadable", "skipped")}
    summary["values"] = sum(1 for r in results if r.status not in ("skipped", "unreadable") and r.method == "value")
    summary["skipped_values"] = sum(1 for r in results if r.status == "skipped" and r.reason == "value")
    return summary


def _value_json(r) -> dict:
    """A number of a worked example, decided at its point: the exact value and the interval the text states."""
    return {"status": r.status, "line": r.line, "text": r.text, "method": "value", "arithmetic": r.arithmetic,
            "value": number_text(r.value) if r.value is not None else None, "digits": r.digits,
            "stated": [number_text(r.low), number_text(r.high)] if r.low is not None else None,
            "table": bool(getattr(r, "table", False))}


def _form_json(r) -> dict:
    return {"status": r.status, "line": r.line, "text": r.text, "method": "form", "field": r.field,
            "stated": r.stated, "printed": r.printed}


def _verdict_json(derivation, r, notation: str) -> dict:
    if r.status not in ("unreadable", "skipped") and r.method in ("value", "form"):
        return _value_json(r) if r.method == "value" else _form_json(r)
    entry = {"status": r.status, "line": r.line}
    if r.status in ("unreadable", "skipped"):
        entry.update(text=r.text, message=getattr(r, "message", None))
        if r.status == "skipped":
            entry["reason"] = r.reason
        return entry
    entry.update(text=r.claim.text, method=r.method, points=r.points, diagnosis=list(r.diagnosis),
                 reason=r.reason,
                 correct=printing.latex(corrected_form(derivation, r.claim.target), notation=notation,
                                        sizes=derivation.network.sizes))
    if r.time_limit is not None:
        entry["time_limit"] = r.time_limit
    if r.max_terms is not None:
        entry["max_terms"] = r.max_terms
    if r.neurons:
        entry["wrong_neurons"] = [{"written": printing.latex(w, notation=notation, sizes=derivation.network.sizes),
                                   "right": printing.latex(c, notation=notation, sizes=derivation.network.sizes)}
                                  for w, c in r.neurons]
    if r.letters:  # a claim with index letters: the values it was checked at, and the instance shown
        entry["checked_at"] = {name: list(values) for name, values in r.letters}
        entry["instances"] = r.instances
        entry["instance"] = dict(r.instance)
    if r.mismatches:
        entry["mismatches"] = [{**_mismatch(m), "left": list(m.left), "right": list(m.right)} for m in r.mismatches]
    if r.shape is not None:
        entry["shape"] = list(r.shape)
    if r.repaired is not None:
        entry["repaired"] = r.repaired
    if r.counterexample:
        example = r.counterexample
        entry["counterexample"] = {
            "x": [str(v) for v in example.x], "y": [str(v) for v in example.y],
            "parameters": {",".join(map(str, k)): str(v) for k, v in example.params.items()},
            "constants": {str(k): str(v) for k, v in example.l2.items()},
            # the regularisation strength and the number of examples alone, under the key of earlier releases
            "l2": {k: str(v) for k, v in example.l2.items() if k in ("lambda", "n")},
            "claimed": _json_value(example.claimed), "actual": _json_value(example.actual),
        }
    return entry


def _json_value(value):
    if isinstance(value, sp.MatrixBase):
        return [[str(value[r, c]) for c in range(value.shape[1])] for r in range(value.shape[0])]
    return str(value)


def render_verdicts(derivation, results, notation: str = "nielsen", fmt: str = "text", templates=None,
                    lang: str = "en") -> str:
    """The answers about claims, as terminal text (in ``lang``) or JSON (mistakes by name)."""
    check_choice("format", fmt, ("text", "json"))
    check_choice("language", lang, LANGUAGES)
    show = partial(printing.text, notation=notation, sizes=derivation.network.sizes)
    summary = _summary(results)
    skipped = Counter(r.reason for r in results if r.status == "skipped")
    if fmt == "json":
        summary = {**summary, "skipped_reasons": {k: skipped[k] for k in SKIP_REASONS if skipped[k]}}
        data = {"summary": summary, "results": [_verdict_json(derivation, r, notation) for r in results]}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    env = environment(notation, derivation.network.sizes, templates)
    return get_template(env, f"{lang}/check.txt.j2").render(
        results=results, summary=summary, value_text=number_text,
        skipped_reasons=[(reason, skipped[reason]) for reason in SKIP_REASONS if skipped[reason]],
        letters=lambda v: "; ".join(f"{name} = {_ranges(values)}" for name, values in v.letters),
        instance=lambda v: ", ".join(f"{name} = {value}" for name, value in v.instance),
        corrected=lambda v: corrected_form(derivation, v.claim.target),
        counterexample=lambda v: _counterexample(derivation, v, show),
        mismatches=lambda v: [_mismatch(m) for m in v.mismatches],
        shape=lambda v: "×".join(map(str, v.shape)),
        truth_shape=lambda v: "×".join(map(str, v.truth.shape if isinstance(v.truth, sp.MatrixBase) else (1, 1))))


def render_layered_verdicts(results, fmt: str = "text", templates=None, lang: str = "en") -> str:
    """The answers about claims on a network of layers, as terminal text (in ``lang``) or JSON."""
    check_choice("format", fmt, ("text", "json"))
    check_choice("language", lang, LANGUAGES)
    summary = _summary(results)
    if fmt == "json":
        data = {"summary": summary, "results": [_layered_json(r) for r in results]}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    env = environment(templates=templates)
    return get_template(env, f"{lang}/check_layered.txt.j2").render(
        results=results, summary=summary, number=lambda value: f"{float(value):.12g}", value_text=number_text,
        shown=lambda v: _displayed(v.truth),
        letters=lambda v: "; ".join(f"{name} = {_ranges(values)}" for name, values in v.letters),
        instance=lambda v: ", ".join(f"{name} = {value}" for name, value in v.instance))


def _displayed(expr):
    """A layered formula as its documents show it (a maximum's routing as [condition])."""
    from ..proof.layered_report import _shown

    return _shown(expr)


def _layered_json(r) -> dict:
    entry = {"status": r.status, "line": r.line}
    if r.status in ("unreadable", "skipped"):
        entry.update(text=r.text, message=getattr(r, "message", None))
        if r.status == "skipped":
            entry["reason"] = r.reason
        return entry
    if r.method in ("value", "form"):
        return _value_json(r) if r.method == "value" else _form_json(r)
    entry.update(text=r.claim.text, method=r.method, points=r.points, diagnosis=list(r.diagnosis), reason=r.reason,
                 correct=printing.latex(_displayed(r.truth)))
    if r.letters:
        entry.update(checked_at={name: list(values) for name, values in r.letters}, instances=r.instances,
                     instance=dict(r.instance))
    if r.counterexample:
        entry["counterexample"] = {"claimed": str(r.counterexample[0]), "actual": str(r.counterexample[1])}
    return entry
