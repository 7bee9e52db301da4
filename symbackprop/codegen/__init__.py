"""Code export: a standalone NumPy module written from the derived closed forms.

:func:`numpy_module` walks a :class:`~symbackprop.chain.Derivation` layer by
layer and hands the template ``templates/codegen/numpy_module.py.j2`` the
expressions it needs, each printed by SymPy's ``NumPyPrinter``:

* the forward pass z^l = W^l a^{l-1} + b^l and a^l = σ_l(z^l), with σ_l the
  activation rule's definition (softmax is written by the template, shifted
  by the column's maximum, which leaves its value unchanged);
* δ^L from the derivation's output δ in its simplified form (a − y for
  sigmoid with binary cross-entropy), one expression for the whole layer when
  every δ^L_j is the same expression of its own neuron's a, z and y, else one
  row per output neuron;
* δ^l = ((W^{l+1})^T δ^{l+1}) ⊙ σ_l'(z^l) (BP2), with σ_l' as the derivation
  writes it (the rule's identity in a where there is one, such as a(1 − a));
* ∂C/∂W^l = δ^l (a^{l-1})^T and ∂C/∂b^l = δ^l (BP3, BP4), plus the
  regulariser's (λ/n) W^l.

Before writing anything, every δ and every gradient of the derivation is
compared with the matrix form the module uses; a derivation that does not
have that form is refused rather than exported wrongly.

The module works on batches: one column per example (X has shape
(inputs, N), Y has shape (outputs, N)). Its cost and gradients are the mean of
the per-example ones when the network's ``mean`` is set, else their sum; each
per-example cost carries the regulariser (λ/2n) Σ w², so under the sum a batch
of N examples holds N times the regulariser's gradient (λ/n) W.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.codeprinter import PrintMethodNotImplementedError
from sympy.printing.numpy import NumPyPrinter

from ..model.activations import A, Z, VectorActivation
from ..model.costs import Y as COST_Y
from ..errors import SpecError
from ..proof.oracle import assumes_targets_sum_to_one, is_generic
from ..model.symbols import LAMBDA, N_EXAMPLES, product

TEMPLATE = "codegen/numpy_module.py.j2"


def _name(kind: str, layer: int | None = None) -> sp.Symbol:
    """The generated module's variable for a layer's vector or matrix: ``a2``, ``W1``, ``y``."""
    return sp.Symbol(kind if layer is None else f"{kind}{layer}")


def _printer() -> NumPyPrinter:
    return NumPyPrinter({"fully_qualified_modules": True, "strict": True})


def code(expr: sp.Expr) -> str:
    """``expr`` as NumPy code (``numpy.exp``, ``numpy.select`` for a piecewise rule)."""
    try:
        return _printer().doprint(expr)
    except PrintMethodNotImplementedError as error:
        raise SpecError(f"{expr} has no NumPy form: {str(error).splitlines()[0]}") from None


#: the L2 strength and the number of examples, as the generated functions name them
_L2_NAMES = {LAMBDA: sp.Symbol("lam"), N_EXAMPLES: sp.Symbol("n")}


def _output_delta(derivation) -> dict:
    """δ^L as code: ``{"elementwise": True, "delta": code}`` or ``{"elementwise": False, "rows": [code]}``."""
    fw = derivation.forward
    L = derivation.network.depth
    zs, outputs, targets = fw.weighted_inputs(L), fw.activations(L), fw.targets
    z, a, y = _name("z", L), _name("a", L), _name("y")
    shapes = []
    for j, (zj, aj, yj) in enumerate(zip(zs, outputs, targets), start=1):
        shapes.append(derivation.delta(L, j).xreplace({zj: z, aj: a, yj: y}))
    own_only = all(expr.free_symbols <= {z, a, y} for expr in shapes)
    if own_only and all(expr == shapes[0] for expr in shapes):
        return {"elementwise": True, "delta": code(shapes[0])}
    rows = {}
    for i, (zi, ai) in enumerate(zip(zs, outputs)):
        rows[zi] = sp.IndexedBase(_name("z", L))[i]
        rows[ai] = sp.IndexedBase(_name("a", L))[i]
    for i, yi in enumerate(targets):
        rows[yi] = sp.IndexedBase(_name("y"))[i]
    exprs = [derivation.delta(L, j).xreplace(rows) for j in range(1, len(zs) + 1)]
    stray = set().union(*(e.free_symbols for e in exprs)) - {s for v in rows.values() for s in v.free_symbols}
    if stray:
        raise SpecError(f"δ^{L} depends on {', '.join(map(str, sorted(stray, key=str)))}; "
                        "expected only the output layer's z, a and the targets")
    return {"elementwise": False, "rows": [code(e) for e in exprs]}


def _same(left: sp.Expr, right: sp.Expr) -> bool:
    return left == right or sp.expand(left - right) == 0


def _check_hidden(derivation, l: int) -> None:
    """Every δ^l_j of a hidden layer is (Σ_k w^{l+1}_{kj} δ^{l+1}_k) σ_l'(z^l_j) (BP2)."""
    fw = derivation.forward
    rule = derivation.network.layer(l).activation
    following = fw.deltas(l + 1)
    for j, (z, a) in enumerate(zip(fw.weighted_inputs(l), fw.activations(l)), start=1):
        back = sp.Add(*[product(fw.q("w", l + 1, k, j), d) for k, d in enumerate(following, start=1)])
        expected = back * rule.prime_named(z, a)
        if not _same(derivation.delta(l, j), expected):
            raise SpecError(f"δ^{l}_{j} = {derivation.delta(l, j)} is not ((W^{l + 1})^T δ^{l + 1}) ⊙ σ'(z^{l}) "
                            "element by element; the module cannot be written from it")


def _check_gradients(derivation) -> None:
    """Every gradient is δ^l_j a^{l-1}_k (+ (λ/n) w) or δ^l_j, as the matrix form computes it (BP3, BP4)."""
    fw = derivation.forward
    l2 = derivation.network.l2 is not None
    for key in derivation.params:
        l, j = key[1], key[2]
        delta = derivation.delta(l, j)
        if key[0] == "b":
            expected = delta
        else:
            expected = product(delta, fw.activations(l - 1)[key[3] - 1])
            if l2:
                expected = expected + fw.regulariser_gradient(fw.q(*key))
        if not _same(derivation.gradient(key), expected):
            raise SpecError(f"∂C/∂{fw.q(*key)} = {derivation.gradient(key)} is not the matrix form's "
                            f"{expected}; the module cannot be written from it")


def module_context(derivation) -> dict:
    """What the module template sees: the network's shape and every expression as code."""
    network = derivation.network
    if is_generic(network):
        raise SpecError("a generic activation σ has no code; choose a concrete activation to export")
    fw = derivation.forward
    L = network.depth
    layers = []
    for layer in network.layers:
        l = layer.index
        rule = layer.activation
        z, a = _name("z", l), _name("a", l)
        entry = {
            "index": l,
            "size": layer.size,
            "fan_in": network.sizes[l - 1],
            "bias": layer.bias,
            "activation": rule.label,
            "softmax": isinstance(rule, VectorActivation),
            "forward": None if isinstance(rule, VectorActivation) else code(rule.forward.xreplace({Z: z})),
            "prime": None,
        }
        if l < L:
            _check_hidden(derivation, l)
            entry["prime"] = code(rule.prime_named(Z, A).xreplace({Z: z, A: a}))
        layers.append(entry)
    _check_gradients(derivation)
    l2 = None
    if network.l2 is not None:
        term, gradient = fw.regulariser_rule
        (w,) = term.free_symbols - set(_L2_NAMES)
        l2 = {
            "symbolic": network.l2 == LAMBDA,
            "strength": str(network.l2),
            "term": [code(term.xreplace({w: _name("W", l), **_L2_NAMES})) for l in range(1, L + 1)],
            "gradient": [code(gradient.xreplace({w: _name("W", l), **_L2_NAMES})) for l in range(1, L + 1)],
        }
    cost_term = network.cost.term.xreplace({A: _name("a", L), COST_Y: _name("y")})
    rules = {"cost": sp.sstr(network.cost.term)}
    if network.l2 is not None:
        rules["l2"] = sp.sstr(fw.regulariser_rule[0])
    return {
        "sizes": list(network.sizes),
        "depth": L,
        "layers": layers,
        "cost": network.cost.name,
        "cost_term": code(cost_term),
        "output": _output_delta(derivation),
        "targets_sum_to_one": assumes_targets_sum_to_one(derivation),
        "mean": network.mean,
        "l2": l2,
        "description": repr(network),
        "rules": rules,
        "names": {
            "z": [str(_name("z", l)) for l in range(1, L + 1)],
            "a": [str(_name("a", l)) for l in range(0, L + 1)],
            "W": [str(_name("W", l)) for l in range(1, L + 1)],
        },
        "parameters": [name for entry in layers
                       for name in ([f"W{entry['index']}"] + ([f"b{entry['index']}"] if entry["bias"] else []))],
    }


def numpy_module(derivation, templates=None) -> str:
    """The source of a standalone NumPy module for the forward pass and every gradient.

    The module imports only NumPy. It defines ``SIZES``, ``PARAMETERS``,
    ``MEAN``, ``init_params(seed)``, ``forward(params, X)``,
    ``predict(params, X)``, ``cost(params, X, Y)`` and
    ``gradients(params, X, Y)`` (the last two take ``n``, and ``lam`` for a
    symbolic λ, as keyword arguments under L2). ``params`` maps ``"W1"``,
    ``"b1"``, ... to arrays of shape (m_l, m_{l-1}) and (m_l, 1); batches have
    one column per example. ``templates`` is a directory searched first.
    """
    from ..documents.render import environment, get_template

    context = module_context(derivation)
    return get_template(environment(templates=templates), TEMPLATE).render(**context)


__all__ = ["code", "module_context", "numpy_module"]
