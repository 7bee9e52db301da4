"""Code export for a network of layers: a standalone, batched NumPy module from its derivation.

:func:`layered_module` hands the template ``templates/codegen/layered_module.py.j2`` one entry per
layer: its sizes, its activation and σ' as NumPy code printed from the activation rule, and the
name of the backward rule the derivation applied to it (``conv``, ``maxpool``, ``avgpool``,
``dense``, ``flatten``, ``batchnorm``, ``residual``, ``rnn``). The template holds one block of code per
rule, the array form of the rule the derivation states and proves entry by entry:

    conv     ∂C/∂a^{l−1}_c = crop_P(Σ_o dil_s(δ^l_o) ⋆_full rot180(K^l_{o,c}))
             ∂C/∂K^l_{o,c} = pad_P(a^{l−1}_c) ⋆_valid dil_s(δ^l_o),   ∂C/∂b^l_o = Σ_positions δ^l_o
    maxpool  δ to the first maximum of each window in reading order (numpy.argmax's choice)
    avgpool  δ/size^dims to every entry of each window
    dense    ∂C/∂a^{l−1} = (W^l)ᵀ δ^l,  ∂C/∂W^l = δ^l (a^{l−1})ᵀ,  ∂C/∂b^l = δ^l
    flatten  δ^l laid back out as the map
    rnn      through time, from the last step: δ^l_t = ((W^l)ᵀ δ^l_{t+1} + e^l_t) ⊙ σ'(z^l_t), δ^l_{T+1} = 0,
             with e^l_t what the output passes back to the state a^l_t (0 at a step that is no output);
             ∂C/∂a^{l−1}_t = (U^l)ᵀ δ^l_t,  ∂C/∂W^l = Σ_{t≥2} δ^l_t (a^l_{t−1})ᵀ,  ∂C/∂U^l = Σ_t δ^l_t (a^{l−1}_t)ᵀ,
             ∂C/∂b^l = Σ_t δ^l_t

and δ^{l−1} = ∂C/∂a^{l−1} ⊙ σ'(z^{l−1}) for a layer with an activation; the output's δ^L is the
derivation's simplified form, printed by SymPy's ``NumPyPrinter`` (for a recurrent output layer, the
derivation's ∂C/∂a^L, the e^L from which its δ is formed through time).

Before anything is written, every rule of the derivation is proven against the chain rule
(:func:`symbackprop.proof.layered.rule_facts`) and must be the layer type's textbook rule; a
derivation whose rules do not hold, or that uses a rule the template does not know, is refused
rather than exported wrongly.

The module works on batches with the example first: X has shape (N, *input shape), Y (N, *output shape)
(a sequence's input and targets are (N, steps, size)). Its cost and gradients are the sums of the
per-example ones over the batch. A recurrent layer runs its steps in a loop, each step a matrix product
over the whole batch.
"""

from __future__ import annotations

import math

import sympy as sp

from . import code as _numpy_code
from ..errors import SpecError
from ..model.activations import A, Z, VectorActivation
from ..model.costs import Y as COST_Y
from ..model.layers import BatchNorm, Conv, Pool, Recurrent, Residual, Site, shape_text
from ..proof.layered import LAYER_RULES, LayeredDerivation, rule_facts

TEMPLATE = "codegen/layered_module.py.j2"


def code(expr: sp.Expr) -> str:
    """``expr`` as NumPy code, a piecewise rule (ReLU and its derivative) as nested ``numpy.where``,
    which evaluates each case once, unlike ``numpy.select`` over every condition."""
    return _numpy_code(expr.replace(lambda e: isinstance(e, sp.Piecewise), _where))


def _where(piecewise: sp.Piecewise) -> sp.Expr:
    (value, condition), *rest = piecewise.args
    otherwise = _where(sp.Piecewise(*rest)) if rest and rest[0].cond is not sp.true else rest[0].expr if rest else sp.nan
    return _Where(condition, value, otherwise)


class _Where(sp.Function):
    """numpy.where(condition, value, otherwise), for the printer only."""

    def _numpycode(self, printer):
        return "numpy.where({}, {}, {})".format(*map(printer._print, self.args))


def _names(l: int) -> dict:
    return {kind: sp.Symbol(f"{kind}{l}") for kind in ("z", "a")}


def _output_delta(derivation: LayeredDerivation) -> dict:
    """The derivation's output δ^L as code (for a recurrent output layer its ∂C/∂a^L, the e^L its δ is formed
    from through time): one expression of the whole layer's a, z and y when every entry has the same form,
    else one expression per output (``columns``), in the columns ``a{L}_i``, ``z{L}_i``, ``y_i``, with
    ``places`` the 0-based index of each in the output."""
    fw, network = derivation.forward, derivation.network
    L = network.depth
    names = _names(L)
    y = sp.Symbol("y")
    has_z = L in fw.weighted and not network.layer(L).recurrent
    forms, columns, replacements = [], [], {}
    for index, (pos, value) in enumerate(derivation.output.items()):
        own = {fw.outputs[L][pos]: names["a"], fw.targets[index]: y}
        if has_z:
            own[fw.weighted[L][pos]] = names["z"]
        forms.append(value.xreplace(own))
    allowed = {names["a"], names["z"], y}
    if all(form.free_symbols <= allowed for form in forms) and all(form == forms[0] for form in forms):
        return {"elementwise": True, "delta": code(forms[0])}
    for index, pos in enumerate(derivation.output):
        replacements[fw.outputs[L][pos]] = sp.Symbol(f"a{L}_{index}")
        replacements[fw.targets[index]] = sp.Symbol(f"y_{index}")
        if has_z:
            replacements[fw.weighted[L][pos]] = sp.Symbol(f"z{L}_{index}")
    for value in derivation.output.values():
        form = value.xreplace(replacements)
        stray = form.free_symbols - set(replacements.values())
        if stray:
            raise SpecError(f"δ^{L} depends on {', '.join(sorted(map(str, stray)))}; expected only the output "
                            f"layer's z, a and the targets")
        columns.append(code(form))
    places = [", ".join(str(i - 1) for i in pos) for pos in derivation.output]
    return {"elementwise": False, "columns": columns, "places": places, "size": len(columns), "has_z": has_z}


def _targets_sum_to_one(derivation: LayeredDerivation) -> bool:
    """Whether the output δ was simplified using Σ_j y_j = 1: the cost allows it, and the simplified form is not
    the raw chain rule as a rational function (a cancellation alone, such as the binary cross-entropy's, is)."""
    return derivation.network.cost.targets_sum_to_one and any(
        sp.cancel(raw - derivation.output[pos]) != 0 for pos, raw in derivation.raw_output.items())


#: the rules the module template has code for
CODED_RULES = ("conv", "maxpool", "avgpool", "dense", "flatten", "batchnorm", "residual", "rnn")


def _require_proven(derivation: LayeredDerivation) -> None:
    """Every rule of the derivation is its layer type's textbook rule, has code, and is proven; else refuse."""
    for layer in derivation.network.layers:
        if derivation.rules[layer.type].name not in CODED_RULES:
            raise SpecError(f"layer {layer.index} ({layer.type}) has no NumPy code yet; expected layers of the types "
                            f"with code: {', '.join(CODED_RULES)}")
        if derivation.rules[layer.type] is not LAYER_RULES.get(layer.type):
            raise SpecError(f"layer {layer.index} ({layer.type}) was derived with a rule other than the textbook "
                            f"rule of its type; the module is written from the textbook rules only")
    failed = [fact for fact in rule_facts(derivation) if not fact.ok]
    if failed:
        fact = failed[0]
        where = "the output δ" if fact.what == "output" else f"the {fact.what} rule of layer {fact.layer}"
        raise SpecError(f"{where} ({fact.rule}) does not equal the chain rule at {fact.first}; the module "
                        f"cannot be written from it")


def _activation(layer, names: dict) -> dict:
    """The activation and σ' as code in the layer's names: z and a of the whole layer, or, for a recurrent
    layer, σ of one step's z (``z<l>_t``) and σ' over every step's z and state (``z<l>``, ``h<l>``)."""
    rule = layer.activation
    if rule is None:
        return {"activation": None, "softmax": False, "forward": None, "prime": None}
    if getattr(rule, "name", None) == "generic":
        raise SpecError("a generic activation σ has no code; choose a concrete activation to export")
    if isinstance(rule, VectorActivation):
        return {"activation": rule.label, "softmax": True, "forward": None, "prime": None}
    l = layer.index
    step, state = (sp.Symbol(f"z{l}_t"), sp.Symbol(f"h{l}")) if layer.recurrent else (names["z"], names["a"])
    return {"activation": rule.label, "softmax": False,
            "forward": code(rule.forward.xreplace({Z: step})),
            "prime": code(rule.prime_named(Z, A).xreplace({Z: names["z"], A: state}))}


def _layer_entry(derivation: LayeredDerivation, layer) -> dict:
    l, spec = layer.index, layer.spec
    entry = {
        "index": l,
        "type": layer.type,
        "rule": derivation.rules[layer.type].name,
        "input_shape": list(layer.input_shape),
        "output_shape": list(layer.output_shape),
        "shapes": f"{shape_text(layer.input_shape)} -> {shape_text(layer.output_shape)}",
        "dims": len(layer.input_shape) - 1,
        "bias": layer.bias,
        "has_z": layer.has_z,
        "recurrent": layer.recurrent,
        **_activation(layer, _names(l)),
    }
    if isinstance(spec, Conv):
        entry.update(kernel=spec.kernel, stride=spec.stride, padding=spec.padding, channels=spec.channels,
                     fan_in=layer.input_shape[0] * spec.kernel ** spec.dims)
    elif isinstance(spec, Pool):
        entry.update(size=spec.size, stride=spec.step, window=spec.size ** (len(layer.input_shape) - 1))
    elif layer.type == "dense":
        entry.update(size=spec.size, fan_in=math.prod(layer.input_shape))
    elif isinstance(spec, BatchNorm):
        dims = len(layer.input_shape) - 1
        entry.update(axes=[0, *range(2, 2 + dims)], channel_shape=[1, -1, *([1] * dims)],
                     epsilon=repr(float(spec.epsilon)), channels=layer.input_shape[0])
    elif isinstance(spec, Residual):
        entry.update(source=spec.source)
    elif isinstance(spec, Recurrent):
        steps, width = layer.input_shape
        entry.update(size=spec.size, steps=steps, width=width, output=spec.output)
    entry["skips"] = [r.index for r in derivation.network.layers
                      if isinstance(r.spec, Residual) and r.spec.source == l]
    return entry


def _parameter_names(derivation: LayeredDerivation) -> list:
    """The module's arrays, in the derivation's order of parameters: ``K1``, ``b1``, ``W3``, ``b3``."""
    names = []
    for p in derivation.params:
        name = f"{'W' if p.kind == 'w' else p.kind}{p.layer}"
        if name not in names:
            names.append(name)
    return names


def layered_module_context(derivation: LayeredDerivation) -> dict:
    """What the layered module template sees; refuses a derivation whose rules are not proven."""
    _require_proven(derivation)
    network = derivation.network
    L = network.depth
    layers = [_layer_entry(derivation, layer) for layer in network.layers]
    cost_term = network.cost.term.xreplace({A: _names(L)["a"], COST_Y: sp.Symbol("y")})
    return {
        "description": repr(network),
        "shapes": [shape_text(s) for s in network.shapes],
        "input_shape": list(network.input_shape),
        "target_shape": list(network.shapes[-1]),
        "depth": L,
        "layers": layers,
        "cost": network.cost.name,
        "cost_rule": sp.sstr(network.cost.term),
        "cost_term": code(cost_term),
        "output": _output_delta(derivation),
        "targets_sum_to_one": _targets_sum_to_one(derivation),
        "parameters": _parameter_names(derivation),
    }


def layered_module(derivation: LayeredDerivation, templates=None) -> str:
    """The source of a standalone NumPy module: ``init_params(seed)``, ``forward(params, X)``,
    ``predict(params, X)``, ``cost(params, X, Y)`` and ``gradients(params, X, Y)``.

    ``params`` maps ``"K1"`` (shape (out channels, in channels, k[, k]); entry [o−1, c−1, p−1, q−1] is
    K^1_{o,c,p,q}), ``"W3"`` (rows j−1, columns k−1: w^3_{j,k}) and ``"b1"``, ``"b3"`` (one entry per
    channel or neuron) to arrays. ``templates`` is a directory searched first.
    """
    from ..documents.render import environment, get_template

    context = layered_module_context(derivation)
    return get_template(environment(templates=templates), TEMPLATE).render(**context)


def site_array_index(parameter: Site) -> tuple[str, tuple]:
    """Where the module keeps a parameter: its array's name and the 0-based index in it."""
    name = f"{'W' if parameter.kind == 'w' else parameter.kind}{parameter.layer}"
    return name, tuple(i - 1 for i in parameter.position)


__all__ = ["layered_module", "layered_module_context", "site_array_index"]
