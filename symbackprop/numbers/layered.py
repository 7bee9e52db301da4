"""A worked numeric example for a network of layers: its derivation with numbers carried through it.

Given every parameter, one example (x, y) and a learning rate η, :func:`layered_worked_example`
evaluates, from the derivation's own forms (never from a second implementation):

* every value of the forward pass: z^l (and a^l = σ(z^l)) of a dense or convolutional layer, the
  pooled or flattened a^l of a layer without activation, each from its definition;
* a recurrent layer's weighted input z^l_t and state a^l_t step after step from the zero state a^l_0;
* the cost C of the example (for a sequence, the cost C_t of each step, then their sum);
* every δ, layer by layer from the output back, from the form the derivation gives it (the output's
  simplified δ^L, then each layer's textbook rule times σ'(z)); through a recurrent layer, step by
  step from the last: e^l_t (what the output passes back to the state), ∂C/∂a^l_t = e^l_t + (W^l)ᵀ δ^l_{t+1}
  and δ^l_t, each from the derivation's through-time forms;
* every gradient ∂C/∂θ in its textbook form (a kernel entry: the sum over every position it is used
  at; a recurrent weight: the sum of one term per step, each term's value shown), and every parameter
  after one step of gradient descent, θ − η ∂C/∂θ.

Numbers are exact Rationals while they can be and 40-digit Floats otherwise, as in
:mod:`symbackprop.numbers`. The values file names parameters by canonical keys: ``"K,l,o,c,p,q"``
(``"K,l,o,c,p"`` for a 1-D convolution) for kernel entries, ``"w,l,j,k"`` for dense weights (k counts
the input in reading order), ``"W,l,j,i"`` and ``"U,l,j,k"`` for a recurrent layer's weights, ``"b,l,o"`` or
``"b,l,j"`` for biases; ``"K[l,o,c,p,q]"`` is read too. ``"x"`` is the input as nested lists of the input's
shape (channel, row, column; for a sequence, one list per step), ``"y"`` the targets (one list per step
when the output is a sequence).
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
from ..model.symbols import Chain, Partial, WrittenSum, written_difference, written_product, written_sum
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


def _nested(value, shape: tuple, name: str, problems: list, steps: bool = False, index: tuple = ()) -> dict | None:
    """Nested lists of ``shape`` as {1-based position: number}; a problem for each misfit. ``steps``: the
    outermost lists are the steps of a sequence, and the problems say which step."""
    where = name + "".join(f"[{i}]" for i in index) + (f" (step {index[0] + 1})" if steps and index else "")
    if len(shape) == 0:
        if not _is_number(value) or not _finite(value):
            problems.append(f"values: {where} is {value!r}; expected a finite number")
            return None
        return {(): value}
    if not isinstance(value, (list, tuple)) or len(value) != shape[0]:
        size = len(value) if isinstance(value, (list, tuple)) else None
        if steps and not index:
            got = f"{size} step{'s' if size != 1 else ''}" if size is not None else repr(value)
            problems.append(f"values: {where} has {got}; expected {shape[0]} steps, one list of "
                            f"{shape_text(shape[1:])} numbers for each (shape {shape_text(shape)}: steps × entries)")
            return None
        got = f"a list of {size}" if size is not None else repr(value)
        problems.append(f"values: {where} is {got}; expected a list of {shape[0]}"
                        + (f" lists (shape {shape_text(shape)})" if len(shape) > 1 else " numbers"))
        return None
    out = {}
    for i, item in enumerate(value, start=1):
        inner = _nested(item, shape[1:], name, problems, steps, (*index, i - 1))
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
                            f"kernel entries \"K,l,o,c,p,q\", weights \"w,l,j,k\", recurrent weights \"W,l,j,i\" "
                            f"and \"U,l,j,k\", biases \"b,l,j\"), \"x\" or \"y\"")
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
    inputs, outputs = batch + tuple(network.input_shape), batch + tuple(network.layers[-1].output_shape)
    sequence = network.steps is not None  # the input is a sequence, one list per step
    every = sequence and len(outputs) == 2  # and so is the output: an rnn passing on every step
    if "x" not in data:
        problems.append(f"values: no 'x'; expected the input as nested lists of shape {shape_text(inputs)}"
                        + (" (the examples of the batch first)" if batch else "")
                        + (" (one list for each step)" if sequence else ""))
    else:
        x = _nested(data["x"], inputs, "x", problems, steps=sequence)
    if "y" not in data:
        problems.append(f"values: no 'y'; expected the targets as nested lists of shape {shape_text(outputs)}"
                        + (" (one list for each step)" if every else ""))
    else:
        found = _nested(data["y"], outputs, "y", problems, steps=every)
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
class TimeStep:
    """One step t of backpropagation through a recurrent layer, unit by unit: ``passed``, e^l_t (what the
    output passes back to the state; None at a step whose state is no output), ``received``, ∂C/∂a^l_t
    (e^l_t plus what the next step passes back), and ``deltas``, δ^l_t."""

    step: int
    passed: tuple[Value | None, ...]
    received: tuple[Value, ...]
    deltas: tuple[Value, ...]


@dataclass(frozen=True)
class LayerNumbers:
    """Layer ``index`` at the point: its computed values (z then a, or a alone; a recurrent layer's z and a
    step after step) and its δ, in reading order (a recurrent layer's from the last step back, with the
    numbers of each step in ``steps``)."""

    index: int
    values: tuple[Value, ...]
    deltas: tuple[Value, ...]
    steps: tuple[TimeStep, ...] = ()


@dataclass(frozen=True)
class ParameterNumbers:
    """One parameter: its value, its gradient (form: the derivation's textbook form) and the value after the step.

    ``terms``: for a weight shared by the steps of a recurrent layer, the gradient's term of each step
    (symbol: the term, in the order of the steps), whose values add up to the gradient."""

    parameter: Value
    gradient: Value
    updated: Value
    terms: tuple[Value, ...] = ()


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
    #: the cost of each step (C_t), when the output is a sequence; the cost is their sum
    step_costs: tuple[Value, ...] = ()

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

        def through_time(step: TimeStep):
            return {"step": step.step,
                    "passed": [None if v is None else site(v) for v in step.passed],
                    "received": [{"symbol": printing.text(v.symbol), **number(v.value)} for v in step.received],
                    "delta": [site(v) for v in step.deltas]}

        def layer_data(layer: LayerNumbers):
            data = {"layer": layer.index, "values": [site(v) for v in layer.values],
                    "delta": [site(v) for v in layer.deltas]}
            if layer.steps:  # a recurrent layer: each step of backpropagation through time, the last first
                data["through_time"] = [through_time(step) for step in layer.steps]
            return data

        def gradient_data(p: ParameterNumbers):
            data = {"key": key_text(p.parameter.symbol), "parameter": number(p.parameter.value),
                    "gradient": number(p.gradient.value), "updated": number(p.updated.value)}
            if p.terms:  # a weight shared by the steps: its term at each step
                data["terms"] = [{"term": printing.text(v.symbol), **number(v.value)} for v in p.terms]
            return data

        data = {
            "digits": self.digits,
            "lr": number(self.lr),
            "x": [site(v) for v in self.x],
            "y": [number(v.value) for v in self.y],
            "layers": [layer_data(layer) for layer in self.layers],
            "cost": number(self.cost.value),
            "gradients": [gradient_data(p) for p in self.parameters],
        }
        if self.step_costs:
            data["step_costs"] = [number(v.value) for v in self.step_costs]
        return data


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
        if layer.recurrent:
            values[l] = _recurrent_forward(fw, l, known)
            continue
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
    step_costs = _step_costs(fw, known)
    cost = Value(COST, _number(fw.cost, known),
                 (written_sum([c.symbol for c in step_costs]),) if step_costs else (fw.cost,))
    deltas, steps = {}, {}
    for l in range(network.depth, 0, -1):
        if network.layer(l).recurrent:
            steps[l] = _through_time(derivation, l, known)
            deltas[l] = tuple(v for step in steps[l] for v in step.deltas)
            continue
        entries = []
        for pos, form in derivation.deltas[l].items():
            symbol = Site("delta", l, *pos)
            known[symbol] = _number(form, known)
            entries.append(Value(symbol, known[symbol], (form,)))
        deltas[l] = tuple(entries)
    parameters = []
    for p in fw.parameters:
        form = derivation.gradients[p]
        gradient = _number(form, known)
        terms = ()
        # a recurrent weight's gradient sums over the steps: shown step by step, each term with its value
        # (over a single step W is used nowhere, and its gradient is 0)
        if network.layer(p.layer).recurrent and form != 0:
            ordered = sorted(sp.Add.make_args(form), key=_step_of)
            form = written_sum(ordered)
            terms = tuple(Value(term, _number(term, known)) for term in ordered)
        parameters.append(ParameterNumbers(Value(p, known[p]), Value(Partial(COST, p), gradient, (form,)),
                                           Value(p, known[p] - eta * gradient), terms))
    layers = tuple(LayerNumbers(layer.index, values[layer.index], deltas[layer.index], steps.get(layer.index, ()))
                   for layer in network.layers)
    return LayeredWorkedExample(network, digits, eta, tuple(Value(fw.inputs[pos], known[fw.inputs[pos]]) for pos in fw.inputs),
                                tuple(Value(t, known[t]) for t in fw.targets), layers, cost, tuple(parameters), known,
                                step_costs)


def _recurrent_forward(fw, l: int, known: dict) -> tuple[Value, ...]:
    """z^l_t and then a^l_t of a recurrent layer, step after step: each step's definition reads the state of
    the step before (none at the first step, a^l_0 = 0)."""
    computed, by_step = [], {}
    for pos in fw.definitions[l]:
        by_step.setdefault(pos[0], []).append(pos)
    for t, where in by_step.items():
        for pos in where:
            z, definition = fw.weighted[l][pos], fw.definitions[l][pos]
            known[z] = _number(definition, known)
            computed.append(Value(z, known[z], (definition,)))
        for pos in where:
            a, form = fw.states[l][pos], fw.activation_of(l, pos)
            known[a] = _number(form, known)
            computed.append(Value(a, known[a], (form,)))
    return tuple(computed)


def _step_costs(fw, known: dict) -> tuple[Value, ...]:
    """C_t, the cost at each step, when the network's output is a sequence (its cost is their sum); else none."""
    network = fw.network
    last = network.layers[-1]
    if not (last.recurrent and len(last.output_shape) == 2):
        return ()
    outputs, costs = fw.outputs[last.index], []
    for t in range(1, last.output_shape[0] + 1):
        here = [pos for pos in outputs if pos[0] == t]
        form = network.cost.total([outputs[pos] for pos in here], [Site("y", None, *pos) for pos in here])
        costs.append(Value(Site("C", None, t), _number(form, known), (form,)))
    return tuple(costs)


def _through_time(derivation: LayeredDerivation, l: int, known: dict) -> tuple[TimeStep, ...]:
    """Backpropagation through recurrent layer ``l``, from the last step back, each number from the derivation's
    forms: e^l_t (what the output passes back), ∂C/∂a^l_t and δ^l_t. The documents show ∂C/∂a^l_t with e^l_t
    named, and δ^l_t with ∂C/∂a^l_t named, so each line puts in numbers computed on the lines before."""
    fw, layer = derivation.forward, derivation.network.layer(l)
    output, back = derivation.through_time[l]
    rows: dict = {}
    for pos, form in derivation.deltas[l].items():
        state = fw.states[l][pos]
        passed = None
        shown = back[pos]
        if pos in output:
            e = Site("e", l, *pos)
            known[e] = _number(output[pos], known)
            passed = Value(e, known[e], (output[pos],))
            shown = back[pos] - output[pos] + e  # the same sum, what the output passes back named e
        received = Partial(COST, state)
        known[received] = _number(back[pos], known)
        named = received * layer.activation.prime_named(fw.weighted[l][pos], state)  # ∂C/∂a^l_t σ'(z^l_t), when
        if sp.expand(named.xreplace({received: back[pos]}) - form) != 0:  # that is the derivation's form
            named = form
        delta = Site("delta", l, *pos)
        known[delta] = _number(form, known)
        row = rows.setdefault(pos[0], ([], [], []))
        row[0].append(passed)
        row[1].append(Value(received, known[received], (shown,)))
        row[2].append(Value(delta, known[delta], (named,)))
    return tuple(TimeStep(t, tuple(p), tuple(r), tuple(d)) for t, (p, r, d) in rows.items())


def _step_of(term) -> int:
    """The step of a recurrent gradient's term: that of the δ in it."""
    return min(s.position[0] for s in term.free_symbols if isinstance(s, Site) and s.kind == "delta")


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


def _summed(terms):
    """A sum shown as written, in the order given: over several rows when it is long."""
    terms = list(terms)
    return LongSum(PER_ROW, *terms) if len(terms) > PER_ROW else written_sum(terms)


def _sum_chain(value: Value, terms, known, n) -> Chain:
    """symbol = its terms = each term with numbers = each term's value = the value (a recurrent weight's
    gradient: one term per step; the cost of a sequence: one cost per step)."""
    links = [value.symbol, _summed(t.symbol for t in terms)]
    if any(not t.symbol.is_Atom for t in terms):  # products: each with its numbers first
        links.append(_summed(_term(t.symbol, known, n) for t in terms))
    if len(terms) > 1:
        links.append(_summed(n(t.value) for t in terms))
    links.append(n(value.value))
    return Chain(*links)


def _descent(p: ParameterNumbers, example: LayeredWorkedExample) -> Chain:
    n = example.rounded
    return Chain(written_difference(p.parameter.symbol, sp.Mul(ETA, p.gradient.symbol)),
                 written_difference(n(p.parameter.value), written_product([n(example.lr), n(p.gradient.value)],
                                                                          dotted=True)),
                 n(p.updated.value))


def layered_worked_context(example: LayeredWorkedExample, derivation: LayeredDerivation) -> dict:
    """What the templates loop over: the network (as the derivation documents describe it) and every
    number of the example as a chain of equalities; a recurrent layer's numbers also step by step."""
    n, known = example.rounded, example.known
    model = layered_model(derivation, None)
    layers = []
    for info, layer in zip(model["layers"], example.layers):
        gradients = [{"gradient": _sum_chain(p.gradient, p.terms, known, n) if p.terms
                      else _chain(p.gradient, known, n), "descent": _descent(p, example)}
                     for p in example.parameters if p.parameter.symbol.layer == layer.index]
        recurrent = bool(layer.steps)
        entry = {**info, "recurrent": recurrent, "every": recurrent and info["spec"].output == "every",
                 "values": [_chain(v, known, n) for v in layer.values],
                 "deltas": [_chain(v, known, n) for v in layer.deltas], "gradients": gradients}
        if layer.steps:  # forward step after step, backward from the last step, with what each unit receives
            forward: dict = {}
            for v, chain in zip(layer.values, entry["values"]):
                forward.setdefault(v.symbol.position[0], []).append(chain)
            entry["by_step"] = [{"step": t, "values": chains} for t, chains in forward.items()]
            entry["through_time"] = [
                {"step": step.step, "output": any(v is not None for v in step.passed),
                 "values": [_chain(v, known, n) for unit in zip(step.passed, step.received, step.deltas)
                            for v in unit if v is not None]}
                for step in layer.steps]
        layers.append(entry)
    if example.step_costs:
        cost = _sum_chain(example.cost, example.step_costs, known, n)
    else:
        cost = _chain(example.cost, known, n)
    last = example.network.layers[-1]
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
        "steps": example.network.steps,
        "sequence_output": last.recurrent and len(last.output_shape) == 2,
        "step_costs": [_chain(v, known, n) for v in example.step_costs],
        "cost": cost,
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


__all__ = ["LAYERED_WORKED_FORMATS", "LayeredWorkedExample", "TimeStep", "key_text", "layered_worked_context",
           "layered_worked_example", "parse_layered_values", "render_layered_worked"]
