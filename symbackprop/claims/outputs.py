"""The JSON outputs of the tool, read and decided like a document.

``derive --format json`` states a formula for every gradient and error (and, for a network of layers, each
layer's rules for whole maps) in three forms: ``latex``, ``text`` and ``sympy``. Each ``latex`` form becomes the
claim ``∂C/∂θ = …`` or ``δ = …`` (its left-hand side printed from the entry's key) and is decided as a claim of
a document is. ``text`` and ``sympy`` are the same formula for programs and terminals, which no grammar of the
project reads (SymPy's own parser is never given a file's text): each is correct when it is, character for
character, what the printers write for the derivation's formula of its entry (:class:`FormVerdict`). The records of the checks that
``derive`` ran (``check``, ``established``) and the definitions of the forward pass are skipped, each with
its reason.

``evaluate --format json`` states numbers: every z, a, δ, the cost, every gradient, each factor of the chain rule
and every updated parameter, each as ``value`` (rounded to the file's ``digits``), ``rounded`` (that text as a
JSON number) and ``exact`` (a fraction, or 40 significant digits). Each is decided at the example's point
(:mod:`symbackprop.claims.values`): ``value`` and ``rounded`` with the rounding of ``digits`` significant digits,
``exact`` to 38 significant digits (the checker's own numbers carry 40). The point is the values file given
with ``--values``, else the exact parameters, input, target and learning rate the file itself states.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sympy as sp

from ..documents import printing
from ..errors import SpecError
from ..model.symbols import COST, LAMBDA, N_EXAMPLES, Partial
from .reading import exact_number
from .values import PlainVerdict, ValueVerdict, WorkedPoint, exact_interval, stated_interval, within

#: the significant digits to which an ``exact`` number must agree with the checker's (which carries 40)
EXACT_DIGITS = 38
#: η, as the worked numbers write it
ETA = sp.Symbol("eta")


@dataclass(frozen=True)
class FormVerdict(PlainVerdict):
    """A restatement of a formula (``text``, ``sympy``) compared with what the printers write for the formula its
    ``latex`` form reads as: ``stated`` is the file's, ``printed`` the printer's."""

    text: str
    line: int | None
    status: str
    field: str
    stated: str
    printed: str
    method: str = "form"


class _Cursor:
    """Finds the line of each string of a JSON text, in the order the file states them."""

    def __init__(self, text: str):
        self.text, self.at = text, 0

    def line(self, value) -> int | None:
        for needle in (json.dumps(value, ensure_ascii=False), json.dumps(value)):
            found = self.text.find(needle, self.at)
            if found >= 0:
                self.at = found + len(needle)
                return self.text.count("\n", 0, found) + 1
        return None


def load_output(text: str, name: str) -> dict:
    """The JSON object of an output of the tool; bad JSON, or JSON that is no output of derive or evaluate, is
    refused in one message."""
    from ..model.spec import load_json

    data = load_json(text, f"JSON file {name!r}")
    if not isinstance(data, dict) or "gradients" not in data or not isinstance(data["gradients"], list):
        raise SpecError(f"JSON file {name!r} is not an output of symbackprop derive or evaluate; expected an object "
                        "with \"gradients\" (derive --format json, or evaluate --format json)")
    return data


def output_kind(data: dict) -> str:
    """``"evaluate"`` for worked numbers, ``"derive"`` for formulas."""
    return "evaluate" if "digits" in data else "derive"


def _problem(name: str, what: str) -> SpecError:
    return SpecError(f"JSON file {name!r}: {what}")


# ------------------------------------------------------------------ derive: formulas


def dense_derive_equations(data: dict, derivation, notation: str, name: str, source: str) -> tuple[list, list]:
    """(equations, restatements) of a dense network's derive output: the (line, LaTeX claim) pairs, and
    (line, latex, field, stated) for every ``text`` and ``sympy`` form."""
    from ..proof.oracle import parse_key

    quantity = derivation.forward.q
    cursor, equations, forms = _Cursor(source), [], []
    sizes = derivation.network.sizes
    for entry in data.get("gradients", []):
        key = tuple(entry.get("key", ())) if isinstance(entry.get("key"), list) else parse_key(str(entry.get("key")))
        if not key or "latex" not in entry:
            raise _problem(name, f"a gradient without a key or a latex form: {json.dumps(entry)[:80]}")
        if key not in derivation.params:
            raise _problem(name, f"gradient key {list(key)} is not a parameter of this network")
        lhs = printing.latex(Partial(COST, quantity(*key)), notation=notation, sizes=sizes)
        _entry(cursor, entry, lhs, equations, forms, derivation.gradient(key))
    for entry in data.get("deltas", []):
        if "layer" not in entry or "neuron" not in entry or "latex" not in entry:
            raise _problem(name, f"an error without a layer, a neuron or a latex form: {json.dumps(entry)[:80]}")
        try:
            truth = derivation.delta(entry["layer"], entry["neuron"])
        except (KeyError, IndexError, TypeError, ValueError):
            raise _problem(name, f"no error of layer {entry['layer']}, neuron {entry['neuron']} in this network") from None
        lhs = printing.latex(quantity("delta", entry["layer"], entry["neuron"]), notation=notation, sizes=sizes)
        _entry(cursor, entry, lhs, equations, forms, truth)
    return equations, forms


def layered_derive_equations(data: dict, derivation, name: str, source: str) -> tuple[list, list]:
    """The same for a network of layers: every gradient and error, and each layer's rules for whole maps."""
    from ..model.layers import COST, Site

    cursor, equations, forms = _Cursor(source), [], []
    for layer in data.get("layers", []):
        for rule in ([layer["backward_rule"]] if layer.get("backward_rule") else []) + list(layer.get("gradient_rules", [])):
            if "latex" in rule:
                equations.append((cursor.line(rule["latex"]), rule["latex"]))
    for entry in data.get("gradients", []):
        key = entry.get("key")
        if not isinstance(key, list) or len(key) < 2 or "latex" not in entry:
            raise _problem(name, f"a gradient without a key or a latex form: {json.dumps(entry)[:80]}")
        site = Site(str(key[0]), *key[1:])
        if site not in derivation.gradients:
            raise _problem(name, f"gradient key {key} is not a parameter of this network")
        _entry(cursor, entry, printing.latex(Partial(COST, site)), equations, forms, derivation.gradients[site])
    for entry in data.get("deltas", []):
        if "layer" not in entry or "position" not in entry or "latex" not in entry:
            raise _problem(name, f"an error without a layer, a position or a latex form: {json.dumps(entry)[:80]}")
        truth = derivation.deltas.get(entry["layer"], {}).get(tuple(entry["position"]))
        if truth is None:
            raise _problem(name, f"no error of layer {entry['layer']} at {entry['position']} in this network")
        lhs = printing.latex(Site("delta", entry["layer"], *entry["position"]))
        _entry(cursor, entry, lhs, equations, forms, truth)
    return equations, forms


def _entry(cursor, entry, lhs, equations, forms, truth) -> None:
    for field in ("sympy", "text"):
        if field in entry:
            forms.append((cursor.line(entry[field]), truth, field, entry[field], lhs))
    equations.append((cursor.line(entry["latex"]), f"{lhs} = {entry['latex']}"))


def check_forms(forms, printed) -> list:
    """Each restatement (``text``, ``sympy``) against the derivation's formula for its entry, as ``printed(expr,
    field)`` writes it."""
    results = []
    for line, truth, field, stated, lhs in forms:
        text = f"{lhs} = {stated}"
        shown = printed(truth, field)
        results.append(FormVerdict(text, line, "correct" if shown == stated else "incorrect", field, stated, shown))
    return results


def derive_skips(data: dict, source: str) -> list:
    """The statements of a derive output that are no formula to decide: the records of its checks, and the
    definitions of the forward pass; one Skipped each."""
    from .verdicts import Skipped

    cursor = _Cursor(source)
    skipped = []
    for layer in data.get("layers", []) if isinstance(data.get("layers"), list) else []:
        for definition in layer.get("forward", []) if isinstance(layer, dict) else []:
            if "latex" in definition:
                skipped.append(Skipped(definition["latex"], cursor.line(definition["latex"])))
        for fact in layer.get("established", []) if isinstance(layer, dict) else []:
            skipped.append(Skipped(json.dumps(fact, ensure_ascii=False)[:120], None, reason="record"))
    check = data.get("check")
    if isinstance(check, dict):
        for fact in check.get("facts", []):
            skipped.append(Skipped(json.dumps(fact, ensure_ascii=False)[:120], None, reason="record"))
    return skipped


# ------------------------------------------------------------------ evaluate: numbers


def _exact(text, name: str, where: str) -> sp.Rational:
    try:
        return exact_number(str(text).strip())
    except (ValueError, ZeroDivisionError):
        raise _problem(name, f"{where} is {text!r}; expected an exact number (a fraction or decimals)") from None


def _decimal(text) -> sp.Rational | None:
    """A number as a JSON output writes it (``0.35``, ``1.23457e-7``, a JSON number), exactly; None if it is not one."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    numerator, denominator = value.as_integer_ratio()
    return sp.Rational(numerator, denominator)


def number_verdicts(lhs: str, entry, value, digits: int, cursor: _Cursor, where: str) -> list:
    """The verdicts on one stated number of a worked example (``value``, ``rounded``, ``exact``) at its point."""
    if not isinstance(entry, dict) or "value" not in entry:
        return []
    results = []
    for field in ("value", "rounded", "exact"):
        if field not in entry:
            continue
        stated = entry[field]
        line = cursor.line(stated) if isinstance(stated, str) else None
        text = f"{lhs} = {stated}  ({where}.{field})"
        number = _decimal(stated) if field != "exact" else _fraction(stated)
        if number is None:
            results.append(ValueVerdict(text, line, "incorrect", value, None, None, digits, False))
            continue
        shown = sp.Dummy("stated")
        if field == "exact":
            width = abs(number) * sp.Rational(1, 10 ** EXACT_DIGITS) + sp.Rational(1, 10 ** 60)
            lo, hi = number - width, number + width
            results.append(_between(text, line, value, lo, hi, EXACT_DIGITS))
            continue
        whole = field == "value" and isinstance(stated, str) and not any(c in stated for c in ".eE")
        if whole or (field == "rounded" and isinstance(stated, int)):  # a whole number is exact
            results.append(within(text, line, exact_interval(number, number), value, digits))
        else:
            results.append(within(text, line, stated_interval(shown, {shown: number}, digits), value, digits))
    return results


def _fraction(text) -> sp.Rational | None:
    try:
        return exact_number(str(text).strip())
    except (ValueError, ZeroDivisionError):
        return _decimal(text)


def _between(text, line, value, lo, hi, digits) -> ValueVerdict:
    return within(text, line, exact_interval(lo, hi), value, digits)


def dense_evaluate_point(data: dict, derivation, name: str):
    """The point an evaluate output of a dense network states: its exact parameters, input, target, λ and n, η."""
    from ..proof.oracle import Point, parse_key

    params = {}
    for g in data["gradients"]:
        key = parse_key(str(g.get("key")))
        if key is None or key not in derivation.params:
            raise _problem(name, f"gradient key {g.get('key')!r} is not a parameter of this network; expected one of "
                                 f"{', '.join(','.join(map(str, k)) for k in derivation.params[:4])}, …")
        params[key] = _exact(g.get("parameter", {}).get("exact"), name, f"the parameter {g.get('key')}")
    missing = [k for k in derivation.params if k not in params]
    if missing:
        raise _problem(name, f"no gradient for {','.join(map(str, missing[0]))}; expected every parameter of the network")
    x = tuple(_exact(v.get("exact"), name, "x") for v in data.get("x", []))
    y = tuple(_exact(v.get("exact"), name, "y") for v in data.get("y", []))
    if len(x) != len(derivation.forward.inputs) or len(y) != len(derivation.forward.targets):
        raise _problem(name, f"x has {len(x)} and y {len(y)} numbers; expected {len(derivation.forward.inputs)} and "
                             f"{len(derivation.forward.targets)} for this network")
    l2 = {k: _exact(v.get("exact"), name, k) for k, v in (data.get("l2") or {}).items()}
    lr = _exact(data.get("lr", {}).get("exact"), name, "lr")
    return WorkedPoint(Point(params, x, y, l2), lr, _digits(data, name))


def _digits(data, name) -> int:
    digits = data.get("digits")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 40:
        raise _problem(name, f"digits is {digits!r}; expected a whole number of significant digits from 1 to 40")
    return digits


def dense_evaluate_results(data: dict, derivation, values: WorkedPoint, notation: str, value_at, source: str) -> list:
    """Every number of a dense network's evaluate output, decided at the point of ``values``."""
    from ..proof.oracle import parse_key

    fw, network = derivation.forward, derivation.network
    sizes = network.sizes
    cursor = _Cursor(source)
    digits = values.digits
    tex = lambda e: printing.latex(e, notation=notation, sizes=sizes)  # noqa: E731
    factors = _factor_names(derivation, notation)
    results = []

    def number(expr, entry, where):
        results.extend(number_verdicts(tex(expr), entry, value_at(expr), digits, cursor, where))

    for i, layer in enumerate(data.get("layers", [])):
        l = layer.get("layer")
        for kind in ("z", "a", "delta"):
            for j, entry in enumerate(layer.get(kind, []), start=1):
                number(fw.q(kind, l, j), entry, f"layers[{i}].{kind}[{j - 1}]")
    number(COST, data.get("cost"), "cost")
    for i, g in enumerate(data["gradients"]):
        theta = fw.q(*parse_key(str(g["key"])))
        gradient = Partial(COST, theta)
        number(gradient, g.get("gradient"), f"gradients[{i}].gradient")
        for k, factor in enumerate(g.get("factors", [])):
            _factor(factor, factors, number, results, f"gradients[{i}].factors[{k}]", cursor)
        for k, pair in enumerate(g.get("terms", [])):
            for m, factor in enumerate(pair):
                _factor(factor, factors, number, results, f"gradients[{i}].terms[{k}][{m}]", cursor)
        if g.get("regularisation") is not None and network.l2 is not None:
            number(network.l2 / N_EXAMPLES * theta if network.l2 != LAMBDA else LAMBDA / N_EXAMPLES * theta,
                   g["regularisation"], f"gradients[{i}].regularisation")
        number(theta - ETA * gradient, g.get("updated"), f"gradients[{i}].updated")
    return results


def _factor(factor, factors: dict, number, results, where, cursor) -> None:
    from .verdicts import Unreadable

    symbol = factor.get("symbol") if isinstance(factor, dict) else None
    if symbol not in factors:
        results.append(Unreadable(f"{symbol}  ({where})", cursor.line(symbol) if isinstance(symbol, str) else None,
                                  f"{symbol!r} is no factor of the chain rule of this network; expected one such as "
                                  f"{next(iter(factors), '∂C/∂a')}"))
        return
    number(factors[symbol], factor, where)


def _factor_names(derivation, notation: str) -> dict:
    """Every factor of the chain rule a worked example states, by its printed text: ∂C/∂a, ∂C/∂z, ∂a/∂z within a
    layer, ∂z/∂θ, ∂z^{l+1}_k/∂a^l_j, ∂a^L_i/∂z^L_j."""
    fw, network = derivation.forward, derivation.network
    found = {}
    for layer in network.layers:
        l, m = layer.index, layer.size
        units = range(1, m + 1)
        candidates = [Partial(COST, fw.q(kind, l, j)) for kind in ("a", "z") for j in units]
        candidates += [Partial(fw.q("a", l, i), fw.q("z", l, j)) for i in units for j in units]
        for j in units:
            fan_in = network.sizes[l - 1]
            candidates += [Partial(fw.q("z", l, j), fw.q("w", l, j, k)) for k in range(1, fan_in + 1)]
            if layer.bias:
                candidates.append(Partial(fw.q("z", l, j), fw.q("b", l, j)))
            if l > 1:
                candidates += [Partial(fw.q("z", l, j), fw.q("a", l - 1, k)) for k in range(1, fan_in + 1)]
        for candidate in candidates:
            found.setdefault(printing.text(candidate, notation=notation, sizes=network.sizes), candidate)
    return found


def layered_evaluate_point(data: dict, derivation, name: str):
    """The point an evaluate output of a network of layers states: exact parameters, input, target and η."""
    from ..proof.layered import LayeredPoint

    fw = derivation.forward
    keys = {",".join([p.kind, str(p.layer), *map(str, p.position)]): p for p in fw.parameters}
    params = {}
    for g in data["gradients"]:
        if g.get("key") not in keys:
            raise _problem(name, f"gradient key {g.get('key')!r} is not a parameter of this network; expected one of "
                                 f"{', '.join(list(keys)[:4])}, …")
        params[keys[g["key"]]] = _exact(g.get("parameter", {}).get("exact"), name, f"the parameter {g['key']}")
    if len(params) != len(keys):
        raise _problem(name, "a parameter has no gradient; expected every parameter of the network")
    x = {}
    for v in data.get("x", []):
        position = tuple(v.get("position", ()))
        if position not in fw.inputs:
            raise _problem(name, f"x at {list(position)} is no input of this network")
        x[position] = _exact(v.get("exact"), name, "x")
    y = tuple(_exact(v.get("exact"), name, "y") for v in data.get("y", []))
    if len(x) != len(fw.inputs) or len(y) != len(fw.targets):
        raise _problem(name, f"x has {len(x)} and y {len(y)} numbers; expected {len(fw.inputs)} and {len(fw.targets)}")
    lr = _exact(data.get("lr", {}).get("exact"), name, "lr")
    return WorkedPoint(LayeredPoint(params, x, y), lr, _digits(data, name))


def layered_evaluate_results(data: dict, derivation, values: WorkedPoint, value_at, source: str) -> list:
    """Every number of the evaluate output of a network of layers, decided at the point of ``values``."""
    from .verdicts import Unreadable

    from ..model.layers import COST, Site

    fw = derivation.forward
    cursor = _Cursor(source)
    sites = {printing.text(s): s for s in _layered_sites(derivation)}
    keys = {",".join([p.kind, str(p.layer), *map(str, p.position)]): p for p in fw.parameters}
    digits, results = values.digits, []

    def number(expr, entry, where):
        results.extend(number_verdicts(printing.latex(expr), entry, value_at(expr), digits, cursor, where))

    for i, layer in enumerate(data.get("layers", [])):
        for part in ("values", "delta"):
            for k, entry in enumerate(layer.get(part, [])):
                symbol = entry.get("symbol") if isinstance(entry, dict) else None
                if symbol not in sites:
                    results.append(Unreadable(f"{symbol}  (layers[{i}].{part}[{k}])", cursor.line(symbol) if
                                              isinstance(symbol, str) else None,
                                              f"{symbol!r} is no entry of this network"))
                    continue
                number(sites[symbol], entry, f"layers[{i}].{part}[{k}]")
    number(COST, data.get("cost"), "cost")
    for t, entry in enumerate(data.get("step_costs", []), start=1):  # the cost at each step of a sequence
        number(Site("C", None, t), entry, f"step_costs[{t - 1}]")
    for i, g in enumerate(data["gradients"]):
        theta = keys[g["key"]]
        number(Partial(COST, theta), g.get("gradient"), f"gradients[{i}].gradient")
        number(theta - ETA * Partial(COST, theta), g.get("updated"), f"gradients[{i}].updated")
    return results


def _layered_sites(derivation) -> list:
    fw, network = derivation.forward, derivation.network
    from ..model.layers import Site

    sites = list(fw.auxiliary)
    for layer in network.layers:
        l = layer.index
        sites += list(fw.weighted.get(l, {}).values()) + list(fw.outputs[l].values())
        sites += [Site("delta", l, *pos) for pos in derivation.deltas[l]]
    return sites


# ------------------------------------------------------------------ the entry point


def check_output(text: str, name: str, network, derivation, notation: str = "nielsen", values=None,
                 layered: bool = False, **options) -> list:
    """Every statement of a JSON output of ``derive`` or ``evaluate`` about ``network`` (dense, or of layers with
    ``layered``), decided: verdicts for the formulas and numbers, FormVerdicts for restatements, Skipped records."""
    from dataclasses import replace

    data = load_output(text, name)
    if output_kind(data) == "evaluate":
        if layered:
            from .layered import layered_value

            point = layered_evaluate_point(data, derivation, name) if values is None else \
                replace(values, digits=_digits(data, name))
            return layered_evaluate_results(data, derivation, point, lambda e: layered_value(derivation, e, point), text)
        from .verdicts import _value_at

        notation = _notation(data, notation, name)
        point = dense_evaluate_point(data, derivation, name) if values is None else \
            replace(values, digits=_digits(data, name))
        return dense_evaluate_results(data, derivation, point, notation, lambda e: _value_at(derivation, e, point), text)
    if layered:
        from .layered import check_layered_document
        from ..proof.layered_report import _shown

        equations, forms = layered_derive_equations(data, derivation, name, text)
        results = check_layered_document("", "json", network, derivation, equations=equations, **options)

        printed = lambda expr, field: str(expr) if field == "sympy" else printing.text(_shown(expr))  # noqa: E731
    else:
        from .verdicts import check_document

        notation = _notation(data, notation, name)
        equations, forms = dense_derive_equations(data, derivation, notation, name, text)
        results = check_document("", "json", network, notation, derivation=derivation, equations=equations, **options)
        printed = lambda expr, field: str(expr) if field == "sympy" else printing.text(  # noqa: E731
            expr, notation=notation, sizes=network.sizes)
    results = results + check_forms(forms, printed) + derive_skips(data, text)
    return sorted(results, key=lambda r: (r.line is None, r.line or 0))


def _notation(data: dict, notation: str, name: str) -> str:
    """The notation a dense output states (its symbols are printed in it)."""
    stated = data.get("notation", notation)
    if stated not in printing.NOTATIONS:
        raise _problem(name, f"notation {stated!r} is unknown; expected one of {', '.join(sorted(printing.NOTATIONS))}")
    return stated
