"""A worked numeric example for a network of layers: its derivation with numbers carried through it.

Given every parameter, one example (x, y) and a learning rate η, :func:`layered_worked_example`
evaluates, from the derivation's own forms (never from a second implementation):

* every value of the forward pass: z^l (and a^l = σ(z^l)) of a dense or convolutional layer, the
  pooled or flattened a^l of a layer without activation, each from its definition;
* the cost C of the example;
* every δ, layer by layer from the output back, from the form the derivation gives it (the output's
  simplified δ^L, then each layer's textbook rule times σ'(z));
* every gradient ∂C/∂θ in its textbook form (a kernel entry: the sum over every position it is used
  at), and every parameter after one step of gradient descent, θ − η ∂C/∂θ.

Numbers are exact Rationals while they can be and 40-digit Floats otherwise, as in
:mod:`symbackprop.numbers`. The values file names parameters by canonical keys: ``"K,l,o,c,p,q"``
(``"K,l,o,c,p"`` for a 1-D convolution) for kernel entries, ``"w,l,j,k"`` for dense weights (k counts
the input in reading order), ``"b,l,o"`` or ``"b,l,j"`` for biases; ``"K[l,o,c,p,q]"`` is read too.
``"x"`` is the input as nested lists of the input's shape (channel, row, column), ``"y"`` the targets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Mapping

import sympy as sp

from . import DOCUMENT_PARAMETERS, ETA, Value, _exact, _full, _is_number, _finite, _number
from ..documents import printing
from ..documents.render import FLAVORS, LANGUAGES, Document, check_choice, environment, get_template, templates_found
from ..errors import SpecError
from ..model.layers import COST, LongSum, Site, positions, shape_text
from ..model.symbols import Chain, Partial, WrittenSum, written_difference, written_product
from ..proof.layered import LayeredDerivation
from ..proof.layered_report import _shown, layered_model

#: the keys of a values file besides the parameters
POINT_KEYS = ("x", "y")
#: a sum with more terms than this is shown with its numbers over several rows
PER_ROW = 3

_KEY = re.compile(r"^\s*([KwbA-Za-z]+)\s*(?:\[([^\]]*)\]|,(.*))\s*$")


def key_text(parameter: Site) -> str:
    """The canonical key of a parameter as a values file writes it: ``"K,1,2,1,3,3"``."""
    return ",".join([parameter.kind, str(parameter.layer), *map(str, parameter.position)])


def _parse(text: str) -> str | None:
    """``"K[1,2,1,3,3]"`` or ``"K, 1,2,1,3,3"`` written as ``"K,1,2,1,3,3"``; None when it is neither."""
    match = _KEY.match(text) if isinstance(text, str) else None
    if not match:
        return None
    kind, bracketed, listed = match.groups()
    parts = [p.strip() for p in (bracketed if bracketed is not None else listed).split(",")]
    if not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return ",".join([kind, *(str(int(p)) for p in parts)])


def _nested(value, shape: tuple, where: str, problems: list) -> dict | None:
    """Nested lists of ``shape`` as {1-based position: number}; a problem for each misfit."""
    if len(shape) == 0:
        if not _is_number(value) or not _finite(value):
            problems.append(f"values: {where} is {value!r}; expected a finite number")
            return None
        return {(): value}
    if not isinstance(value, (list, tuple)) or len(value) != shape[0]:
        size = len(value) if isinstance(value, (list, tuple)) else None
        got = f"a list of {size}" if size is not None else repr(value)
        problems.append(f"values: {where} is {got}; expected a list of {shape[0]}"
                        + (f" lists (shape {shape_text(shape)})" if len(shape) > 1 else " numbers"))
        return None
    out = {}
    for i, item in enumerate(value, start=1):
        inner = _nested(item, shape[1:], f"{where}[{i - 1}]", problems)
        if inner is None:
            return None
        out.update({(i, *pos): v for pos, v in inner.items()})
    return out


def parse_layered_values(data, derivation: LayeredDerivation) -> tuple[dict, dict, tuple]:
    """The JSON values of a point for a layered network, read and checked: ``(params, x, y)``, exact numbers.

    Every problem (an unknown or missing key, a value that is not a finite number, an input or target of
    the wrong shape) is reported in one :class:`~symbackprop.errors.SpecError`.
    """
    fw, network = derivation.forward, derivation.network
    recurrent = [layer for layer in network.layers if layer.recurrent]
    if recurrent:  # its states are computed step after step, which the worked numbers do not do yet
        raise SpecError(f"layer {recurrent[0].index} (rnn) has no worked numbers yet; expected layers of the types: "
                        f"dense, conv1d, conv2d, maxpool, avgpool, flatten, batchnorm, residual")
    wanted = {key_text(p): p for p in fw.parameters}
    example = ", ".join(f'"{k}"' for k in list(wanted)[:2])
    if not isinstance(data, Mapping):
        raise SpecError(f"values: the values are a {type(data).__name__}; expected an object mapping parameter keys "
                        f"such as {example} to numbers, with \"x\" and \"y\"")
    problems, params, spelling = [], {}, {}
    for text, value in data.items():
        if text in POINT_KEYS:
            continue
        key = _parse(text)
        if key not in wanted:
            problems.append(f"values: unknown key {text!r}; expected a parameter of this network (such as {example}; "
                            f"kernel entries \"K,l,o,c,p,q\", weights \"w,l,j,k\", biases \"b,l,j\"), \"x\" or \"y\"")
        elif key in params:
            problems.append(f"values: {key} is given twice, as {spelling[key]!r} and {text!r}")
        elif not _is_number(value) or not _finite(value):
            problems.append(f"values[{text!r}] is {value!r}; expected a finite number")
            params[key], spelling[key] = None, text
        else:
            params[key], spelling[key] = value, text
    missing = [key for key in wanted if key not in params]
    if missing:
        shown = ", ".join(missing[:6]) + (f", … ({len(missing)} in all)" if len(missing) > 6 else "")
        problems.append(f"values: no value for {shown}; expected a number for every parameter")
    x = y = None
    batch = (network.batch,) if network.batch > 1 else ()  # a batch: one entry per example, outermost
    inputs, outputs = batch + tuple(network.input_shape), batch + (network.shapes[-1][0],)
    if "x" not in data:
        problems.append(f"values: no 'x'; expected the input as nested lists of shape {shape_text(inputs)}"
                        + (" (the examples of the batch first)" if batch else ""))
    else:
        x = _nested(data["x"], inputs, "x", problems)
    if "y" not in data:
        problems.append(f"values: no 'y'; expected the targets as nested lists of shape {shape_text(outputs)}")
    else:
        found = _nested(data["y"], outputs, "y", problems)
        y = None if found is None else tuple(found[pos] for pos in positions(outputs))
    last = network.layers[-1]
    if (y is not None and network.cost.targets_sum_to_one and last.activation is not None
            and last.activation.name == "softmax"):
        width = outputs[-1]
        totals = [sum(map(_exact, y[i:i + width])) for i in range(0, len(y), width)]
        if any(total != 1 for total in totals):
            problems.append(f"values: y adds up to {next(t for t in totals if t != 1)}; the output δ of softmax with "
                            f"{network.cost.name} was simplified to a − y using Σ_j y_j = 1; expected targets that "
                            f"add up to 1, such as a one-hot label")
    if any(layer.activation is not None and layer.activation.name == "generic" for layer in network.layers):
        problems.append("a generic activation σ has no numeric values; choose a concrete activation to evaluate")
    if problems:
        raise SpecError(problems)
    return ({wanted[k]: _exact(v) for k, v in params.items()}, {pos: _exact(v) for pos, v in x.items()},
            tuple(map(_exact, y)))


# ---------------------------------------------------------------------- the example


@dataclass(frozen=True)
class LayerNumbers:
    """Layer ``index`` at the point: its computed values (z then a, or a alone) and its δ, in reading order."""

    index: int
    values: tuple[Value, ...]
    deltas: tuple[Value, ...]


@dataclass(frozen=True)
class ParameterNumbers:
    """One parameter: its value, its gradient (form: the derivation's textbook form) and the value after the step."""

    parameter: Value
    gradient: Value
    updated: Value


@dataclass(frozen=True)
class LayeredWorkedExample:
    """A layered derivation at one point and one step of gradient descent from it.

    ``layers`` holds each layer's computed values and δ, ``parameters`` every parameter in the
    derivation's order, ``known`` every named number (inputs, targets, parameters, z, a, δ). Values are
    exact or 40-digit Floats; ``digits`` only sets how :meth:`rounded` shows them.
    """

    network: object
    digits: int
    lr: sp.Rational
    x: tuple[Value, ...]
    y: tuple[Value, ...]
    layers: tuple[LayerNumbers, ...]
    cost: Value
    parameters: tuple[ParameterNumbers, ...]
    known: dict

    def rounded(self, value) -> sp.Number:
        from . import decimal_rounded

        if isinstance(value, sp.Integer):
            return value
        return decimal_rounded(value, self.digits)

    @property
    def updated(self) -> dict:
        return {p.parameter.symbol: p.updated.value for p in self.parameters}

    def as_data(self) -> dict:
        def number(v):
            rounded = self.rounded(v)
            shown = str(rounded) if isinstance(rounded, sp.Integer) else printing.text(rounded)
            return {"value": shown, "exact": _full(v)}

        def site(v: Value):
            return {"position": list(v.symbol.position), "symbol": printing.text(v.symbol), **number(v.value)}

        return {
            "digits": self.digits,
            "lr": number(self.lr),
            "x": [site(v) for v in self.x],
            "y": [number(v.value) for v in self.y],
            "layers": [{"layer": layer.index, "values": [site(v) for v in layer.values],
                        "delta": [site(v) for v in layer.deltas]} for layer in self.layers],
            "cost": number(self.cost.value),
            "gradients": [{"key": key_text(p.parameter.symbol), "parameter": number(p.parameter.value),
                           "gradient": number(p.gradient.value), "updated": number(p.updated.value)}
                          for p in self.parameters],
        }


def _named_form(fw, l: int, pos, definition):
    """The definition as a document states it: batch normalisation's γ_c x̂_i + β_c in its named x̂
    (the forward pass writes it out in a^{l−1} for the chain rule); any other definition as it is."""
    xhat = Site("xhat", l, *pos)
    if xhat not in fw.auxiliary:
        return definition
    scale = {s.kind: s for s in definition.free_symbols if isinstance(s, Site) and s.kind in ("gamma", "beta")}
    return scale["gamma"] * xhat + scale["beta"]


def layered_worked_example(derivation: LayeredDerivation, params: Mapping, x: Mapping, y, lr=sp.Rational(1, 2),
                           digits: int = 6) -> LayeredWorkedExample:
    """The derivation at a point (``params`` by parameter symbol, ``x`` by input position, ``y`` a sequence),
    with one step of gradient descent of rate ``lr``; ``digits`` only sets how values are shown."""
    fw, network = derivation.forward, derivation.network
    problems = []
    if not _is_number(lr) or not _finite(lr) or lr <= 0:
        problems.append(f"learning rate {lr!r}; expected a positive number")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 40:
        problems.append(f"digits {digits!r}; expected a whole number of significant digits from 1 to 40")
    if problems:
        raise SpecError(problems)
    eta = _exact(lr)
    known = {symbol: _exact(v) for symbol, v in params.items()}
    known.update({fw.inputs[pos]: _exact(v) for pos, v in x.items()})
    known.update(dict(zip(fw.targets, map(_exact, y))))
    known.update({symbol: _exact(v) for symbol, v in fw.constants.items()})
    values = {}
    for layer in network.layers:
        l, computed = layer.index, []
        named = fw.weighted[l] if layer.has_z else fw.outputs[l]
        for symbol, definition in fw.auxiliary.items():
            if symbol.layer == l:  # μ, σ, x̂ of batch normalisation, each in those before it
                known[symbol] = _number(definition, known)
                computed.append(Value(symbol, known[symbol], (definition,)))
        for pos, definition in fw.definitions[l].items():
            known[named[pos]] = _number(definition, known)
            computed.append(Value(named[pos], known[named[pos]], (_named_form(fw, l, pos, definition),)))
        if layer.has_z:
            for pos, a in fw.outputs[l].items():
                form = fw.activation_of(l, pos)
                known[a] = _number(form, known)
                computed.append(Value(a, known[a], (form,)))
        values[l] = tuple(computed)
    cost = Value(COST, _number(fw.cost, known), (fw.cost,))
    deltas = {}
    for l in range(network.depth, 0, -1):
        entries = []
        for pos, form in derivation.deltas[l].items():
            symbol = Site("delta", l, *pos)
            known[symbol] = _number(form, known)
            entries.append(Value(symbol, known[symbol], (form,)))
        deltas[l] = tuple(entries)
    parameters = []
    for p in fw.parameters:
        gradient = _number(derivation.gradients[p], known)
        parameters.append(ParameterNumbers(Value(p, known[p]), Value(Partial(COST, p), gradient, (derivation.gradients[p],)),
                                           Value(p, known[p] - eta * gradient)))
    layers = tuple(LayerNumbers(layer.index, values[layer.index], deltas[layer.index]) for layer in network.layers)
    return LayeredWorkedExample(network, digits, eta, tuple(Value(fw.inputs[pos], known[fw.inputs[pos]]) for pos in fw.inputs),
                                tuple(Value(t, known[t]) for t in fw.targets), layers, cost, tuple(parameters), known)


# ---------------------------------------------------------------------- the document


def _with_numbers(expr, known: dict, n):
    """``expr`` written with the rounded value of each factor in place, sums and products kept as written;
    None when it is one quantity or number already (the chain's value shows it)."""
    expr = sp.sympify(expr)
    if expr.is_Add:
        ordered = sorted(expr.args, key=sp.default_sort_key)
        if len(ordered) > PER_ROW:
            return LongSum(PER_ROW, *[_term(t, known, n) for t in ordered])
        signs, terms = [], []
        for t in ordered:
            coefficient, rest = t.as_coeff_Mul()
            negative = coefficient == -1
            signs.append(-1 if negative else 1)
            terms.append(_term(rest if negative else t, known, n))
        return WrittenSum(tuple(signs), *terms)
    if expr.is_Mul:
        return _term(expr, known, n)
    return None


def _term(term, known, n):
    factors = term.args if term.is_Mul else (term,)
    return written_product([n(_number(f, known)) for f in factors], dotted=True)


def _chain(value: Value, known, n) -> Chain:
    """symbol = its form = the form with numbers = the rounded value (steps that repeat left out)."""
    links = [value.symbol]
    for form in value.forms:
        if not sp.sympify(form).is_Number:
            links.append(_shown(form))
            numbers = _with_numbers(form, known, n)
            if numbers is not None:
                links.append(numbers)
    links.append(n(value.value))
    return Chain(*links)


def layered_worked_context(example: LayeredWorkedExample, derivation: LayeredDerivation) -> dict:
    """What the templates loop over: the network (as the derivation documents describe it) and every
    number of the example as a chain of equalities."""
    n, known = example.rounded, example.known
    model = layered_model(derivation, None)
    layers = []
    for info, layer in zip(model["layers"], example.layers):
        layers.append({**info, "values": [_chain(v, known, n) for v in layer.values],
                       "deltas": [_chain(v, known, n) for v in layer.deltas],
                       "gradients": [{"gradient": _chain(p.gradient, known, n),
                                      "descent": Chain(written_difference(p.parameter.symbol,
                                                                          sp.Mul(ETA, p.gradient.symbol)),
                                                       written_difference(n(p.parameter.value),
                                                                          written_product([n(example.lr),
                                                                                           n(p.gradient.value)],
                                                                                          dotted=True)),
                                                       n(p.updated.value))}
                                     for p in example.parameters if p.parameter.symbol.layer == layer.index]})
    return {
        "model": model,
        "example": example,
        "digits": example.digits,
        "precision": 40,
        "lr": Chain(ETA, n(example.lr)),
        "inputs": [Chain(v.symbol, n(v.value)) for v in example.x],
        "targets": [Chain(v.symbol, n(v.value)) for v in example.y],
        "parameters": [Chain(p.parameter.symbol, n(p.parameter.value)) for p in example.parameters],
        "layers": layers,
        "cost": _chain(example.cost, known, n),
        "summary": [{"symbol": p.parameter.symbol, "before": n(p.parameter.value), "partial": p.gradient.symbol,
                     "value": n(p.gradient.value), "after": n(p.updated.value)} for p in example.parameters],
    }


LAYERED_WORKED_FORMATS = ("text", "md", "tex", "json")


def render_layered_worked(example: LayeredWorkedExample, derivation: LayeredDerivation, fmt: str = "md",
                          lang: str = "en", flavor: str = "github", standalone: bool = True,
                          templates=None) -> Document:
    """The worked example of a network of layers as text, Markdown, LaTeX or JSON."""
    check_choice("format", fmt, LAYERED_WORKED_FORMATS)
    check_choice("language", lang, LANGUAGES)
    check_choice("flavor", flavor, FLAVORS)
    network = example.network
    if fmt == "json":
        data = {"network": {"input": list(network.input_shape), "cost": network.cost.name,
                            "shapes": [list(s) for s in network.shapes],
                            "layers": [layer.type for layer in network.layers]},
                **example.as_data()}
        return Document(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    if network.parameter_count > DOCUMENT_PARAMETERS:
        raise SpecError(f"the network {network.name} has {network.parameter_count} parameters; a worked example in "
                        f"{fmt} is written for at most {DOCUMENT_PARAMETERS}; use --format json for its numbers")
    env = environment("nielsen", None, templates, fmt, flavor)
    suffix = "txt" if fmt == "text" else fmt
    with templates_found(env):
        text = get_template(env, f"{lang}/layered_worked.{suffix}.j2").render(
            standalone=standalone, lang=lang, **layered_worked_context(example, derivation))
    return Document(text)


__all__ = ["LAYERED_WORKED_FORMATS", "LayeredWorkedExample", "key_text", "layered_worked_context",
           "layered_worked_example", "parse_layered_values", "render_layered_worked"]
