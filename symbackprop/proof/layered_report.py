"""A layered network's derivation as the terminal report, or a Markdown or LaTeX document.

The model below holds expressions only (no words); the templates ``{lang}/layered.*.j2`` say
everything in words, through :mod:`symbackprop.documents.render`.
"""

from __future__ import annotations

import json
import weakref

import sympy as sp

from ..documents import printing
from ..documents.layered_drawing import layered_layout
from ..documents.render import (FLAVORS, LANGUAGES, Document, check_choice, check_label_prefix, environment,
                                get_template, templates_found)
from ..errors import SpecError
from ..model.activations import opaque_functions
from ..model.layers import (COST, BatchNorm, Conv, FeatureMap, Indicator, LongSum, MapOperation, OrderedProduct, Pool,
                            Residual, Site, SumOverIndex, UnitStep, channel_groups, positions, shape_text)
from ..model.symbols import Chain, Partial
from .general import Entry
from .layered import LayeredDerivation, LayeredReport, backward_steps, gradient_steps, through_time_steps

LAYERED_FORMATS = ("text", "md", "tex", "json")

# index names of the general statements
_O, _C, _I, _J, _P, _Q, _K = sp.symbols("o c i j p q k", integer=True, positive=True)
# of a recurrent layer: the step t, the last step T, a step s of a product over steps
_t, _T, _S = sp.symbols("t T s", integer=True, positive=True)
#: the number of entries batch normalisation averages over, in its general statements
_N = sp.Symbol("n", integer=True, positive=True)


def _batchnorm_statements(layer, network) -> dict:
    """Batch normalisation's forward pass, its backward rule derived through the mean's and the variance's
    paths, and its parameter gradients, with symbolic indices: i, j, k count the n entries of channel c."""
    l = layer.index
    eq = lambda lhs, rhs: sp.Eq(lhs, rhs, evaluate=False)  # noqa: E731
    grad = lambda x: Partial(COST, x)  # noqa: E731
    x = lambda i: Site("a", l - 1, i)  # noqa: E731
    y = lambda i: Site("a", l, i)  # noqa: E731
    xhat = lambda i: Site("xhat", l, i)  # noqa: E731
    delta = lambda i: Site("delta", l, i)  # noqa: E731
    mu, sigma = Site("mu", l, _C), Site("sigma", l, _C)
    gamma, beta = Site("gamma", l, _C), Site("beta", l, _C)
    mean_of = lambda term, i: SumOverIndex(term, i) / _N  # noqa: E731
    forward = [eq(mu, mean_of(x(_I), _I)),
               eq(sigma, sp.sqrt(mean_of((x(_I) - mu) ** 2, _I) + Site("eps", l))),
               eq(xhat(_I), (x(_I) - mu) / sigma),
               eq(y(_I), gamma * xhat(_I) + beta)]
    same = Indicator(sp.Eq(_I, _J))
    derivation = [
        eq(grad(x(_I)), SumOverIndex(delta(_J) * Partial(y(_J), x(_I)), _J)),
        eq(Partial(y(_J), x(_I)), gamma * Partial(xhat(_J), x(_I))),
        eq(Partial(xhat(_J), x(_I)), (same - 1 / _N) / sigma - xhat(_J) / sigma * Partial(sigma, x(_I))),
        eq(Partial(sigma, x(_I)), mean_of((x(_K) - mu) * (Indicator(sp.Eq(_I, _K)) - 1 / _N), _K) / sigma),
        eq(Partial(sigma, x(_I)), xhat(_I) / _N),
        eq(Partial(y(_J), x(_I)), gamma / (_N * sigma) * (_N * same - 1 - xhat(_I) * xhat(_J))),
    ]
    backward = eq(grad(x(_I)), gamma / (_N * sigma) * (_N * delta(_I) - SumOverIndex(delta(_J), _J)
                                                       - xhat(_I) * SumOverIndex(delta(_J) * xhat(_J), _J)))
    if network.batch > 1 and len(layer.input_shape) == 1:  # entry (i, c): example i, unit c, as the network names it
        delta, xhat = (lambda i: Site("delta", l, i, _C)), (lambda i: Site("xhat", l, i, _C))  # noqa: E731
    gradients = [eq(grad(gamma), SumOverIndex(delta(_I) * xhat(_I), _I)), eq(grad(beta), SumOverIndex(delta(_I), _I))]
    return {"forward": forward, "derivation": derivation, "backward": backward, "gradients": gradients,
            "mean_zero": eq(SumOverIndex(x(_K) - mu, _K), 0), "gamma": gamma, "beta": beta, "eps": Site("eps", l)}


def _residual_statements(layer, network) -> dict:
    """a^l = a^{l−1} + a^m (or, with an activation, z^l = a^{l−1} + a^m and a^l = σ(z^l)); the error goes back
    unchanged along both paths, and adds at a^m. With an activation the error is δ^l = ∂C/∂a^l ⊙ σ'(z^l),
    taken at the sum, so both paths carry σ'(z^l): ``error`` states it (None without an activation)."""
    l, m = layer.index, layer.spec.source
    eq = lambda lhs, rhs: sp.Eq(lhs, rhs, evaluate=False)  # noqa: E731
    # for one example i over a batch, for each channel c of a map
    at = ((_I,) if network.batch > 1 else ()) + ((_C,) if len(layer.input_shape) > 1 else ())
    into = FeatureMap("a", m, *at)
    total = FeatureMap("a", l - 1, *at) + into
    if layer.has_z:
        z = FeatureMap("z", l, *at)
        forward = [eq(z, total), eq(FeatureMap("a", l, *at), opaque_functions(layer.activation.label)[0](z))]
        error = eq(FeatureMap("delta", l, *at), MapOperation("hadamard", Partial(COST, FeatureMap("a", l, *at)),
                                                             _slope(layer, z)))
    else:
        forward, error = [eq(FeatureMap("a", l, *at), total)], None
    return {"forward": forward, "error": error,
            "backward": eq(Partial(COST, FeatureMap("a", l - 1, *at)), FeatureMap("delta", l, *at)),
            "skip": _with_skips(_skip_read_by(network.layer(m + 1), network), [l]), "gradients": []}


def _skip_read_by(reader, network) -> sp.Equality:
    """∂C/∂a^m as layer m + 1 (``reader``) passes it back: its own backward rule, stated as its section
    states it; batch normalisation's, which mixes the entries of a channel, entry by entry: its compact rule, with n
    the number of entries of the channel."""
    m, l = reader.index - 1, reader.index
    if isinstance(reader.spec, BatchNorm):  # its compact rule at an entry, n the number of entries of a channel
        free, summed, letters = _channel_letters(len(reader.input_shape), network.batch > 1)
        n = len(next(iter(channel_groups(network, reader.input_shape).values())))
        channel = free[1] if len(reader.input_shape) == 1 or network.batch > 1 else free[0]
        gamma, sigma = Site("gamma", l, channel), Site("sigma", l, channel)
        delta, xhat = (lambda at: Site("delta", l, *at)), (lambda at: Site("xhat", l, *at))  # noqa: E731
        back = gamma / (n * sigma) * (n * delta(free) - SumOverIndex(delta(summed), *letters)
                                      - xhat(free) * SumOverIndex(delta(summed) * xhat(summed), *letters))
        return sp.Eq(Partial(COST, Site("a", m, *free)), back, evaluate=False)
    return _rule_statement(reader, network)["backward"]


def _channel_letters(dims: int, batch: bool) -> tuple:
    """(an entry, another entry of its channel, the letters a sum over the channel runs over) of a map of ``dims``
    axes (a vector: units; else a channel and positions), led by the example over a batch: batch normalisation
    counts a channel over the examples and the positions."""
    if dims == 1:  # a unit k over the examples
        return (_I, _K), (_J, _K), (_J,)
    spatial = dims - 1
    if batch:  # example i, channel c, positions p (q); summed over the examples j and the positions k (o)
        return (_I, _C, *(_P, _Q)[:spatial]), (_J, _C, *(_K, _O)[:spatial]), (_J, *(_K, _O)[:spatial])
    return (_C, *(_I, _J)[:spatial]), (_C, *(_P, _Q)[:spatial]) if spatial == 2 else (_C, _J), \
        (_P, _Q) if spatial == 2 else (_J,)


def _with_skips(rule: sp.Equality, skips: list) -> sp.Equality:
    """A backward rule ∂C/∂a^m = … with the error δ^r of every residual layer r whose skip reads a^m added
    (a channel's δ^r_c where the rule is stated for one channel c of a map, the entry δ^r_{…} where it is stated for
    one entry)."""
    if not skips:
        return rule
    wrt = rule.lhs.wrt
    added = [Site("delta", r, *wrt.position) if isinstance(wrt, Site) else FeatureMap("delta", r, *wrt.args[2:])
             for r in skips]
    return sp.Eq(rule.lhs, sp.Add(*added, rule.rhs, evaluate=False), evaluate=False)


def _spatial(dims: int):
    return (_I, _J)[:dims], (_P, _Q)[:dims]


def _forward_statement(layer, batch: bool = False) -> list:
    """The layer's forward pass with symbolic indices (and its concrete layer number, stride, padding); over a
    batch, a convolution's for the example i, its positions j (k)."""
    l, spec = layer.index, layer.spec
    if isinstance(spec, Conv):
        _, offsets = _spatial(spec.dims)
        ex, where = ((_I,), (_J, _K)[:spec.dims]) if batch else ((), _spatial(spec.dims)[0])
        source = [spec.stride * (i - 1) + p - spec.padding for i, p in zip(where, offsets)]
        term = Site("K", l, _O, _C, *offsets) * Site("a", l - 1, *ex, _C, *source)
        total = SumOverIndex(term, _C, *offsets) + (Site("b", l, _O) if spec.bias else 0)
        return [sp.Eq(Site("z", l, *ex, _O, *where), total, evaluate=False)]
    if isinstance(spec, Pool):
        return []
    if layer.recurrent:
        total = (SumOverIndex(Site("W", l, _J, _I) * Site("a", l, _t - 1, _I), _I)
                 + SumOverIndex(Site("U", l, _J, _K) * Site("a", l - 1, _t, _K), _K) + (Site("b", l, _J) if spec.bias else 0))
        return [sp.Eq(Site("z", l, _t, _J), total, evaluate=False),
                sp.Eq(Site("a", l, _t, _J), sp.Function("sigma")(Site("z", l, _t, _J)), evaluate=False),
                sp.Eq(FeatureMap("a", l, 0), 0, evaluate=False)]
    if layer.type == "dense":
        total = SumOverIndex(Site("w", l, _J, _K) * Site("a", l - 1, _K), _K) + (Site("b", l, _J) if spec.bias else 0)
        return [sp.Eq(Site("z", l, _J), total, evaluate=False)]
    return []


def _rule_statement(layer, network) -> dict:
    """The textbook backward rule and parameter gradients of the layer's type, as display equations."""
    l, spec = layer.index, layer.spec
    if isinstance(spec, BatchNorm):
        return _batchnorm_statements(layer, network)
    if isinstance(spec, Residual):
        return _residual_statements(layer, network)
    grad = lambda x: Partial(COST, x)  # noqa: E731
    ex = (_I,) if network.batch > 1 else ()  # over a batch, each map is stated for one example i
    if isinstance(spec, Conv):
        delta = FeatureMap("delta", l, *ex, _O)
        dilated = MapOperation("dilate", delta, spec.stride) if spec.stride > 1 else delta
        skipped = spec.skipped(layer.input_shape)
        ends = _end_sizes(skipped)
        # the r trailing zeros: the input entries past the last window the stride reaches receive no error
        extended = MapOperation("pad", dilated, *ends) if any(skipped) else dilated
        full = SumOverIndex(MapOperation("full", extended, MapOperation("rot180", FeatureMap("K", l, _O, _C))), _O)
        back = MapOperation("crop", full, spec.padding) if spec.padding else full
        source = FeatureMap("a", l - 1, *ex, _C)
        padded = MapOperation("pad", source, spec.padding) if spec.padding else source
        padded = MapOperation("crop", padded, *ends) if any(skipped) else padded  # only what the windows cover
        where = _spatial(spec.dims)[1 if ex else 0]  # positions p (q) where i counts the examples
        kernel = MapOperation("valid", padded, dilated)
        gradients = [sp.Eq(grad(FeatureMap("K", l, _O, _C)), SumOverIndex(kernel, *ex) if ex else kernel,
                           evaluate=False)]
        if spec.bias:
            gradients.append(sp.Eq(grad(Site("b", l, _O)), SumOverIndex(Site("delta", l, *ex, _O, *where), *ex, *where),
                                   evaluate=False))
        return {"backward": sp.Eq(grad(source), back, evaluate=False), "gradients": gradients}
    if isinstance(spec, Pool):
        op = "upsample_max" if spec.kind == "max" else "upsample_mean"
        source = FeatureMap("a", l - 1, *ex, _C)
        return {"backward": sp.Eq(grad(source), MapOperation(op, FeatureMap("delta", l, *ex, _C)), evaluate=False),
                "gradients": []}
    if layer.recurrent:
        return _rnn_statement(layer)
    if layer.type == "flatten":
        source = FeatureMap("a", l - 1, *ex)
        return {"backward": sp.Eq(grad(source), MapOperation("unflatten", FeatureMap("delta", l, *ex)), evaluate=False),
                "gradients": []}
    source = FeatureMap("a", l - 1, *ex)
    if network.batch > 1:  # a weight is used by every example: the sum over the examples i of the batch
        gradients = [sp.Eq(grad(Site("w", l, _J, _K)), SumOverIndex(Site("delta", l, _I, _J) * Site("a", l - 1, _I, _K), _I),
                           evaluate=False)]
        if spec.bias:
            gradients.append(sp.Eq(grad(Site("b", l, _J)), SumOverIndex(Site("delta", l, _I, _J), _I), evaluate=False))
        return {"backward": sp.Eq(grad(source), MapOperation("transpose_times", FeatureMap("W", l),
                                                             FeatureMap("delta", l, *ex)), evaluate=False),
                "gradients": gradients}
    gradients = [sp.Eq(grad(Site("w", l, _J, _K)), Site("delta", l, _J) * Site("a", l - 1, _K), evaluate=False)]
    if spec.bias:
        gradients.append(sp.Eq(grad(Site("b", l, _J)), Site("delta", l, _J), evaluate=False))
    return {"backward": sp.Eq(grad(source), MapOperation("transpose_times", FeatureMap("W", l), FeatureMap("delta", l)),
                              evaluate=False),
            "gradients": gradients}


def _end_sizes(skipped: tuple) -> tuple:
    """The sizes of pad_{b,e} (or crop_{b,e}) that add (take) ``skipped`` entries at the end of each axis only:
    (0, r) when every axis has the same r, else (0, r_1, 0, r_2)."""
    if len(set(skipped)) == 1:
        return (0, skipped[0])
    return tuple(n for r in skipped for n in (0, r))


def _rnn_statement(layer) -> dict:
    """Backpropagation through time: the rule from step to step, into the input, the sums over steps,
    and the Jacobian of the last state by an earlier one."""
    l, spec = layer.index, layer.spec
    grad = lambda x: Partial(COST, x)  # noqa: E731
    state, delta = FeatureMap("a", l, _t), FeatureMap("delta", l, _t)
    through_time = [
        sp.Eq(grad(state), MapOperation("transpose_times", FeatureMap("W", l), FeatureMap("delta", l, _t + 1))
              + FeatureMap("e", l, _t), evaluate=False),
        sp.Eq(delta, MapOperation("hadamard", grad(state), FeatureMap("dsigma", l, _t)), evaluate=False),
        sp.Eq(FeatureMap("delta", l, _T + 1), 0, evaluate=False),
    ]
    gradients = [
        sp.Eq(grad(Site("W", l, _J, _I)), SumOverIndex(Site("delta", l, _t, _J) * Site("a", l, _t - 1, _I), _t),
              evaluate=False),
        sp.Eq(grad(Site("U", l, _J, _K)), SumOverIndex(Site("delta", l, _t, _J) * Site("a", l - 1, _t, _K), _t),
              evaluate=False),
    ]
    if spec.bias:
        gradients.append(sp.Eq(grad(Site("b", l, _J)), SumOverIndex(Site("delta", l, _t, _J), _t), evaluate=False))
    jacobian = sp.Eq(Partial(FeatureMap("a", l, _T), state),
                     OrderedProduct(_S, _t + 1, _T, MapOperation("diag", FeatureMap("dsigma", l, _S)), FeatureMap("W", l)),
                     evaluate=False)
    backward = sp.Eq(grad(FeatureMap("a", l - 1, _t)), MapOperation("transpose_times", FeatureMap("U", l), delta),
                     evaluate=False)
    return {"backward": backward, "gradients": gradients, "through_time": through_time, "jacobian": jacobian}


def _step_middle(shape) -> tuple:
    """(step, unit) in the middle of a recurrent layer's steps, at step 2 at least (where W is used)."""
    steps, units = shape
    return (max(min(2, steps), (steps + 1) // 2), (units + 1) // 2)


def _middle(shape) -> tuple:
    """A position in the middle of a shape (where a pooling window or a kernel is whole)."""
    return tuple(1 if index == 0 and len(shape) > 1 else (n + 1) // 2 for index, n in enumerate(shape))


def _is_indicator(expr) -> bool:
    return (isinstance(expr, sp.Piecewise) and len(expr.args) == 2 and expr.args[0].expr == 1
            and expr.args[1].expr == 0 and expr.args[1].cond == sp.true)


def _shown(expr, rows: bool = True):
    """An expression as displayed: indicators as [condition], SymPy's Heaviside as H, long sums over rows
    (unless ``rows`` is false)."""
    if isinstance(expr, sp.Equality):
        return sp.Eq(_shown(expr.lhs, rows), _shown(expr.rhs, rows), evaluate=False)
    expr = expr.replace(_is_indicator, lambda e: Indicator(e.args[0].cond))
    expr = expr.replace(sp.Heaviside, lambda x, *rest: UnitStep(x))
    if expr.is_Add and rows:
        terms = sorted(expr.args, key=sp.default_sort_key)
        per_row = 3 if expr.has(Partial) else 5
        if len(terms) > per_row:
            return LongSum(per_row, *terms)
    return expr


def _links(steps) -> list:
    """A chain of equalities from steps: the first step's two sides, then each later right side that differs."""
    links = [steps[0].before, steps[0].after]
    for step in steps[1:]:
        if step.after != links[-1]:
            links.append(step.after)
    return links


def _chain(steps, entry=None):
    """The chain of a derivation's steps, ending (when given) with the entry of the layer's rule it equals."""
    links = [_shown(link) for link in _links(steps)]
    return Chain(*links, *([entry] if entry is not None else []))


def _rule_entry(rule_rhs, layer, channels: dict, position):
    """The entry at ``position`` of a rule stated for whole maps, its channel indices made concrete."""
    return Entry(rule_rhs.xreplace(channels), *position)


def _cut(steps) -> int:
    """Where a derivation's chain ends: ∂C/∂a by the chain rule up to the rule; then δ follows."""
    return [step.rule for step in steps].index("layer_rule") + 1


def _through_time_model(derivation: LayeredDerivation, layer, rule: dict, pos) -> dict:
    """One state of a recurrent layer: ∂C/∂a by the chain rule through the next step and the output,
    the entry of the rule through time it equals, then its δ."""
    fw, l = derivation.forward, layer.index
    steps = through_time_steps(derivation, l, pos)
    entry = Entry(rule["through_time"][0].rhs.xreplace({_t: pos[0]}), pos[1])
    return {"target": fw.states[l][pos], "step": pos[0], "chain": _chain(steps[:_cut(steps)], entry),
            "delta": _chain(steps[_cut(steps):]), "every": layer.spec.output == "every",
            "last": l == derivation.network.depth, "steps": layer.state_shape[0]}


def _layer_model(derivation: LayeredDerivation, layer, report) -> dict:
    fw, network = derivation.forward, derivation.network
    l = layer.index
    prefix = network.examples[0]  # the entries shown are the first example's
    pos = prefix + (_step_middle(layer.state_shape) if layer.recurrent else _middle(layer.output_shape))
    named = (fw.weighted if layer.has_z else fw.outputs)[l]
    if isinstance(layer.spec, BatchNorm):
        c = pos[len(prefix)]
        definition = Site("gamma", l, c) * Site("xhat", l, *pos) + Site("beta", l, c)
    else:
        definition = fw.definitions[l][pos]
    example = _shown(sp.Eq(named[pos], definition, evaluate=False))
    core = _step_middle(layer.input_shape) if layer.recurrent else _middle(layer.input_shape)
    into = prefix + core
    steps = backward_steps(derivation, l, into)
    cut = _cut(steps)
    rule = _rule_statement(layer, network)
    if isinstance(layer.spec, (BatchNorm, Residual)):
        entry = None  # stated entry by entry already (batch normalisation), or the identity (residual)
    elif layer.recurrent:
        entry = Entry(rule["backward"].rhs.xreplace({_t: core[0]}), core[1])
    elif layer.type == "flatten" and layer.input_shape[0] > 1:
        entry = None  # the entry of unflatten(δ^l) is named by its channel as well: the chain ends at δ^l
    elif len(layer.input_shape) > 1 and layer.type != "dense":
        entry = _rule_entry(rule["backward"].rhs, layer, {_C: core[0], _I: prefix[0]} if prefix else {_C: core[0]},
                            core[1:])
    elif network.batch > 1:  # the entry of (W^l)^T δ^l for the example shown, as the sum it stands for
        flat = positions(layer.input_shape).index(core) + 1
        entry = SumOverIndex(Site("w", l, _J, flat) * Site("delta", l, *prefix, _J), _J)
    else:
        flat = positions(layer.input_shape).index(core) + 1
        entry = _rule_entry(rule["backward"].rhs, layer, {}, (flat,))
    skipped_by = [r for r in sorted(derivation.skips) if network.layer(r).spec.source == l - 1]
    if entry is not None and skipped_by:  # the rule's entry, plus what each skip reading a^{l−1} adds there
        entry = sp.Add(entry, *[derivation.skips[r][into] for r in skipped_by])
    if skipped_by and not isinstance(layer.spec, BatchNorm):  # the rule as stated: ∂C/∂a^{l−1} with the skips' δ
        rule = dict(rule, backward=_with_skips(rule["backward"], skipped_by))
    backward = {"position": into, "target": fw.a(l - 1)[into], "chain": _chain(steps[:cut], entry),
                "delta": _chain(steps[cut:]) if len(steps) > cut else None,
                "users": len(steps[0].after.args) if steps[0].after.is_Add else 1, "skips": skipped_by}
    params = [p for p in fw.parameters if p.layer == l]
    shown = []
    for kind in ("K", "w", "W", "U", "b", "gamma", "beta"):
        first = next((p for p in params if p.kind == kind), None)
        if first is not None:
            gsteps = gradient_steps(derivation, first)
            entry = None
            if kind == "K":
                o, c, *offsets = first.position
                entry = _rule_entry(rule["gradients"][0].rhs, layer, {_O: o, _C: c}, offsets)
            shown.append({"parameter": first, "chain": _chain(gsteps, entry), "shared": gsteps[0].rule == "shared_weight_sum",
                          "uses": len(gsteps[0].after.args) if gsteps[0].after.is_Add else 1})
    facts = [f for f in report.facts if f.layer == l and f.what in ("through_time", "backward", "skip", "gradients")] \
        if report else []
    activation = layer.activation.label if layer.activation is not None else None
    groups = channel_groups(network, layer.input_shape) if isinstance(layer.spec, BatchNorm) else {}
    return {
        "entries": len(next(iter(groups.values()))) if groups else None,
        "skipped": any(layer.spec.skipped(layer.input_shape)) if isinstance(layer.spec, Conv) else False,
        "index": l, "type": layer.type, "spec": layer.spec, "activation": activation, "bias": layer.bias,
        "input": shape_text(layer.input_shape), "output": shape_text(layer.output_shape),
        "parameters": layer.parameter_count, "has_z": layer.has_z,
        "forward": rule["forward"] if "forward" in rule else _forward_statement(layer, network.batch > 1),
        "example": example,
        "rule": rule, "backward": backward, "gradients": shown, "facts": facts,
        "through_time": _through_time_model(derivation, layer, rule, pos) if layer.recurrent else None,
        "before_has_z": l > 1 and network.layer(l - 1).has_z,
        "before_recurrent": l > 1 and network.layer(l - 1).recurrent,
        "sigma_rule": _sigma_rule(layer, network) if l > 1 else None,
    }


def _sigma_rule(layer, network) -> sp.Equality:
    """δ^{l−1} = ∂C/∂a^{l−1} ⊙ σ'(z^{l−1}): for each channel c of a map, or for the whole vector (a dense layer reads
    a map before it flattened, as one vector)."""
    l = layer.index
    per_channel = len(layer.input_shape) > 1 and layer.type != "dense"
    ex = (_I,) if network.batch > 1 else ()  # over a batch, for each example i
    at = lambda kind: FeatureMap(kind, l - 1, *ex, *((_C,) if per_channel else ()))  # noqa: E731
    return sp.Eq(at("delta"), MapOperation("hadamard", Partial(COST, at("a")), _slope(network.layer(l - 1), at("z"))),
                 evaluate=False)


def _slope(layer, z):
    """σ'(z) of ``layer``, written with its activation's name where it has one (ReLU'(z))."""
    return opaque_functions(layer.activation.label)[1](z) if layer.activation is not None else FeatureMap("dsigma", *z.args[1:])


# The models built so far, by derivation and report: the documents of one derivation in each language and
# format share one model (a model is only read; a derivation is not changed once derived).
_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def layered_model(derivation: LayeredDerivation, report: LayeredReport | None) -> dict:
    """What the layered templates show: the network, each layer's rule and derivation, the facts.

    Built once per derivation and report (the same objects), then shared."""
    built = _MODELS.setdefault(derivation, {})
    kept = built.get(id(report))
    if kept is None or kept[0] is not report:  # the report itself is kept, so its id is not reused meanwhile
        kept = built[id(report)] = (report, _layered_model(derivation, report))
    return kept[1]


def _layered_model(derivation: LayeredDerivation, report: LayeredReport | None) -> dict:
    network, fw = derivation.network, derivation.forward
    L = network.depth
    # a recurrent output layer's δ is formed through time: here, e^L, what the cost passes back to each output state
    recurrent = network.layers[-1].recurrent
    outputs = [_shown(sp.Eq(FeatureMap("e", L, *fw.outputs[L][pos].position) if recurrent else Site("delta", L, *pos),
                            value, evaluate=False)) for pos, value in derivation.output.items()]
    types = []
    for layer in network.layers:
        if layer.type not in types:
            types.append(layer.type)
    return {
        "network": network,
        "batch": network.batch,
        "input": shape_text(network.input_shape),
        "input_symbol": FeatureMap("a", 0),
        "cost": network.cost.name,
        "cost_definition": _shown(sp.Eq(COST, fw.cost, evaluate=False)),
        "parameters": network.parameter_count,
        "layers": [_layer_model(derivation, layer, report) for layer in network.layers],
        "output": outputs,
        "output_layer": network.layers[-1],
        "steps": network.steps,
        "types": types,
        "report": report,
        "facts": list(report.facts) if report else [],
        "symbols": {
            "o": _O, "c": _C, "p": _P, "n": _N, "i": _I,
            "activation": sp.Eq(sp.Symbol("a"), sp.Function("sigma")(sp.Symbol("z")), evaluate=False),
            "error_z": sp.Eq(sp.Symbol("delta"), Partial(COST, sp.Symbol("z")), evaluate=False),
            "error_a": sp.Eq(sp.Symbol("delta"), Partial(COST, sp.Symbol("a")), evaluate=False),
        },
    }


def _spec_fields(layer) -> dict:
    """A layer's settings as its description writes them (``type`` first; a residual layer's ``from``)."""
    spec = layer.spec
    fields = {"type": layer.type}
    for key, name in (("size", "size"), ("channels", "channels"), ("kernel", "kernel"), ("stride", "stride"),
                      ("padding", "padding"), ("epsilon", "epsilon"), ("source", "from")):
        if hasattr(spec, key):
            value = spec.step if key == "stride" and isinstance(spec, Pool) else getattr(spec, key)
            fields[name] = str(value) if isinstance(value, sp.Basic) else value
    if layer.activation is not None:
        fields["activation"] = layer.activation.label
    if hasattr(spec, "bias") and layer.has_z:
        fields["bias"] = layer.bias
    return fields


def _fact_data(fact) -> dict:
    data = {"what": fact.what, "layer": fact.layer, "rule": fact.rule, "method": fact.method, "ok": fact.ok,
            "compared": fact.count, "failed": fact.failed,
            "first_failure": None if fact.first is None else printing.text(fact.first)}
    if fact.points:
        data.update(points=fact.points, worst_relative_difference=fact.worst)
    return data


def _formula(expr) -> dict:
    shown = _shown(expr, rows=False)
    return {"sympy": str(expr), "text": printing.text(shown), "latex": printing.latex(shown)}


def render_layered_json(derivation: LayeredDerivation, report: LayeredReport | None = None) -> str:
    """Every derived δ and gradient (SymPy, text, LaTeX), each layer's rule as the documents state it with
    the facts that establish it (and their method), and the check, as JSON."""
    network = derivation.network
    layers = []
    for layer in network.layers:
        rule = _rule_statement(layer, network)
        skipped_by = [r.index for r in network.layers if isinstance(r.spec, Residual) and r.spec.source == layer.index - 1]
        if skipped_by and not isinstance(layer.spec, BatchNorm):  # as the documents state it: with the skips' δ
            rule = dict(rule, backward=_with_skips(rule["backward"], skipped_by))
        facts = [f for f in report.facts if f.layer == layer.index] if report else []
        layers.append({
            "layer": layer.index, **_spec_fields(layer),
            "input_shape": list(layer.input_shape), "output_shape": list(layer.output_shape),
            "parameters": layer.parameter_count,
            "rule": derivation.rules[layer.type].name,
            "forward": [_formula(eq) for eq in rule.get("forward", _forward_statement(layer, network.batch > 1))],
            "backward_rule": _formula(rule["backward"]),
            "gradient_rules": [_formula(eq) for eq in rule["gradients"]],
            "established": [_fact_data(f) for f in facts],
        })
    data = {
        "network": {"input": list(network.input_shape), "batch": network.batch, "cost": network.cost.name,
                    "shapes": [list(s) for s in network.shapes], "parameters": network.parameter_count},
        "layers": layers,
        "gradients": [{"key": [p.kind, p.layer, *p.position], **_formula(value)}
                      for p, value in derivation.gradients.items()],
        "deltas": [{"layer": l, "position": list(pos), **_formula(value)}
                   for l in sorted(derivation.deltas, reverse=True) for pos, value in derivation.deltas[l].items()],
    }
    if report is not None:
        data["check"] = {"ok": report.ok, "facts": [_fact_data(f) for f in report.facts]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_layered(derivation: LayeredDerivation, fmt: str = "md", lang: str = "en", flavor: str = "github",
                   standalone: bool = True, report: LayeredReport | None = None, templates=None,
                   label_prefix: str | None = None, figure: str | None = None) -> Document:
    """The derivation of a layered network in ``fmt`` (text, md, tex or json) and language ``lang``.

    ``figure`` names the SVG drawing of the shapes put beside a Markdown document (``None`` leaves it out
    of Markdown); LaTeX always draws it with TikZ."""
    if fmt not in LAYERED_FORMATS:
        raise SpecError(f"format {fmt!r} is not available for a description with [[layer]] entries; expected one "
                        f"of: {', '.join(LAYERED_FORMATS)}")
    check_choice("language", lang, LANGUAGES)
    check_choice("flavor", flavor, FLAVORS)
    label_prefix = check_label_prefix(label_prefix)
    if fmt == "json":
        return Document(render_layered_json(derivation, report))
    model = layered_model(derivation, report)
    env = environment("nielsen", None, templates, fmt, flavor)
    suffix = {"md": "md", "tex": "tex", "text": "txt"}[fmt]
    drawing = layered_layout(derivation.network)
    with templates_found(env):
        page = get_template(env, f"{lang}/layered.{suffix}.j2").render(
            model=model, standalone=standalone, lang=lang, label_prefix=label_prefix, drawing=drawing, figure=figure)
        attachments = {}
        if fmt == "md" and figure:
            attachments[figure] = get_template(env, "drawing/layers.svg.j2").render(drawing=drawing)
    return Document(page, attachments)


__all__ = ["LAYERED_FORMATS", "layered_model", "render_layered", "render_layered_json", "positions"]
