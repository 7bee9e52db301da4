"""A derivation as the terminal report, JSON, or a Markdown or LaTeX document.

The document's content comes from :mod:`symbackprop.proof.document` (expressions, no words); the
words come from the templates, through :mod:`symbackprop.documents.render`.
"""

from __future__ import annotations

import json
from functools import partial

import sympy as sp

from ..collector import without_cycle_collection
from ..documents import printing
from ..documents.drawing import layout
from ..documents.render import (FLAVORS, FORMATS, LANGUAGES, Document, check_choice, check_heading_level,
                                check_label_prefix, environment, get_template, templates_found)
from ..model.activations import VectorActivation
from ..model.symbols import Aligned, Partial
from .document import document_model, general_model

DETAIL_LIMIT = 64

# -------------------------------------------------------------------- terminal


def layer_summary(derivation) -> list[dict]:
    """Per layer: parameter counts and the closed forms of its first neuron, as a pattern."""
    network, fw = derivation.network, derivation.forward
    rows = []
    for layer in network.layers:
        l = layer.index
        rows.append({
            "layer": l,
            "size": layer.size,
            "fan_in": network.sizes[l - 1],
            "activation": layer.activation.label,
            "bias": layer.bias,
            "weights": layer.size * network.sizes[l - 1],
            "biases": layer.size if layer.bias else 0,
            "delta_symbol": fw.q("delta", l, 1),
            "delta": derivation.delta(l, 1),
            "weight_symbol": fw.q("w", l, 1, 1),
            "weight_gradient": derivation.gradient(("w", l, 1, 1)),
        })
    return rows


def context(derivation, report=None) -> dict:
    """What the terminal template sees."""
    network = derivation.network
    detailed = network.parameter_count <= DETAIL_LIMIT
    return {
        "network": network,
        "derivation": derivation,
        "report": report,
        "detailed": detailed,
        "detail_limit": DETAIL_LIMIT,
        "cost_symbol": derivation.forward.cost_symbol,
        "gradients": [(derivation.symbol(key), derivation.gradient(key)) for key in derivation.params] if detailed else [],
        "deltas": [
            (derivation.forward.q("delta", l, j), derivation.delta(l, j))
            for (l, j) in sorted(derivation.deltas, key=lambda key: (-key[0], key[1]))
        ] if detailed else [],
        "layers": layer_summary(derivation),
    }


def render_text(derivation, report=None, notation: str = "nielsen", templates=None, lang: str = "en") -> str:
    """The terminal report of a derivation (and of its check, when given)."""
    env = environment(notation, derivation.network.sizes, templates, activation=shared_activation(derivation.network))
    return get_template(env, f"{lang}/derive.txt.j2").render(context(derivation, report))


def render_json(derivation, report=None, notation: str = "nielsen") -> str:
    """Every gradient (SymPy, text, LaTeX) and the check report, as JSON."""
    sizes = derivation.network.sizes
    show = partial(printing.text, notation=notation, sizes=sizes)
    tex = partial(printing.latex, notation=notation, sizes=sizes)
    network = derivation.network
    data = {
        "network": {
            "layers": list(network.sizes),
            "activation": [layer.activation.label for layer in network.layers],
            "bias": [layer.bias for layer in network.layers],
            "cost": network.cost.name,
            "l2": None if network.l2 is None else str(network.l2),
            "mean": network.mean,
            "parameters": network.parameter_count,
        },
        "notation": notation,
        "gradients": [
            {
                "key": list(key),
                "sympy": str(derivation.gradient(key)),
                "text": show(derivation.gradient(key)),
                "latex": tex(derivation.gradient(key)),
            }
            for key in derivation.params
        ],
        "deltas": [
            {"layer": l, "neuron": j, "sympy": str(derivation.delta(l, j)), "latex": tex(derivation.delta(l, j))}
            for (l, j) in sorted(derivation.deltas)
        ],
    }
    if report is not None:
        data["check"] = {
            "ok": report.ok,
            "method": report.method,
            "facts": [
                {"equation": f.equation, "layer": f.layer, "method": f.method, "ok": f.ok, "detail": f.detail}
                for f in report.facts
            ],
        }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@without_cycle_collection
def render(derivation, fmt: str = "md", lang: str = "en", notation: str = "nielsen", flavor: str = "github",
           standalone: bool = True, report=None, templates=None, figure: str | None = None,
           example: str | None = None, general=None, general_report=None,
           label_prefix: str | None = None, heading_level: str = "section",
           front_matter: dict | None = None) -> Document:
    """A derivation document in ``fmt`` (md, tex, text or json) and language ``lang``.

    ``general`` (a :class:`~symbackprop.general.GeneralDerivation`) adds a
    Markdown or LaTeX section that proves BP1–BP4 for every network like this one
    (``general_report``: its check, computed when not given).

    ``figure`` names the SVG drawn next to a Markdown document (``None`` leaves
    the drawing out of Markdown; LaTeX always draws it with TikZ).
    ``standalone=False`` gives a LaTeX fragment to ``\\input``. ``label_prefix``
    starts every LaTeX \\label and \\eqref (``eq:PREFIX:bp1``; default: the
    gallery's ``example`` key, else none), so that documents with different
    prefixes can be \\input into one set of notes. ``heading_level`` (chapter,
    section or subsection) is what the LaTeX document's sections become;
    ``front_matter`` (see :func:`~symbackprop.documents.render.front_matter`)
    starts a Markdown document with the front matter of a static-site post
    (title, date, math switch) instead of its title heading.
    """
    check_heading_level(heading_level)
    check_choice("format", fmt, FORMATS)
    check_choice("language", lang, LANGUAGES)
    check_choice("notation", notation, printing.NOTATIONS)
    check_choice("flavor", flavor, FLAVORS)
    label_prefix = check_label_prefix(example if label_prefix is None else label_prefix)
    if fmt == "json":
        return Document(render_json(derivation, report, notation))
    if fmt == "text":
        return Document(render_text(derivation, report, notation, templates, lang))
    network = derivation.network
    model = document_model(derivation, report, notation)
    proof = _general_model(general, notation, general_report)
    drawing = layout(network, notation=notation)
    env = environment(notation, network.sizes, templates, fmt, flavor, shared_activation(network))
    with templates_found(env):  # also a template included by another one
        page = get_template(env, f"{lang}/document.{fmt}.j2").render(
            model=model, drawing=drawing, standalone=standalone, figure=figure, example=example, lang=lang,
            general=proof, label_prefix=label_prefix, heading_level=heading_level,
            front_matter=front_matter if fmt == "md" else None)
        attachments = {}
        if fmt == "md" and figure:
            attachments[figure] = get_template(env, "drawing/network.svg.j2").render(drawing=drawing)
    return Document(page, attachments)


def shared_activation(network) -> str | None:
    """The label of the activation every layer of ``network`` applies neuron by neuron, else None."""
    labels = {layer.activation.label for layer in network.layers}
    if len(labels) != 1 or isinstance(network.layers[0].activation, VectorActivation):
        return None
    return labels.pop()


def render_latex_summary(derivation, notation: str = "nielsen") -> str:
    """Every gradient (or, for a large network, each layer's pattern) in one display."""
    cost = derivation.forward.cost_symbol
    info = context(derivation)
    if info["detailed"]:
        rows = [sp.Eq(Partial(cost, symbol), value, evaluate=False) for symbol, value in info["gradients"]]
    else:
        rows = []
        for row in reversed(info["layers"]):
            rows.append(sp.Eq(row["delta_symbol"], row["delta"], evaluate=False))
            rows.append(sp.Eq(Partial(cost, row["weight_symbol"]), row["weight_gradient"], evaluate=False))
    env = environment(notation, derivation.network.sizes, fmt="tex")
    return get_template(env, "formats/summary.tex.j2").render(equations=Aligned(*rows))


# -------------------------------------------------------------------- general proofs


def _general_model(general, notation: str, report=None):
    """The layout of a general proof (None when there is none); the notation must be able to write it."""
    if general is None:
        return None
    return general_model(general, notation, report)


def render_general_json(model) -> str:
    """A general proof as JSON: every statement, step and matrix form (SymPy, text, LaTeX) and the check."""
    notation = model.notation

    def forms(expr, shapes=False):
        return {"sympy": str(expr), "text": printing.text(expr, notation=notation, shapes=shapes),
                "latex": printing.latex(expr, notation=notation, shapes=shapes)}

    def steps(shown):
        return [{"rule": s.rule, "before": forms(s.rewrite.args[0]), "after": forms(s.rewrite.args[1]),
                 "reason": None if s.reason is None else forms(s.reason)} for s in shown]

    def fact(f):
        return None if f is None else {"ok": f.ok, "method": f.method, "detail": f.detail,
                                       "evidence": dict(f.evidence)}

    d, report = model.derivation, model.report
    data = {
        "general": {"cost": d.cost, "activation": d.activation, "softmax": d.softmax, "l2": d.l2},
        "notation": notation,
        "forward": [forms(eq.expr) for eq in model.forward],
        "equations": [
            {
                "name": e.name,
                "layers": forms(e.layers),
                "indices": [forms(x) for x in e.indices],
                "statement": forms(e.statement.expr),
                "proof": steps(e.steps),
                "matrix": forms(e.matrix.expr, shapes=True) if e.matrix else None,
                "dimensions": [{"factor": forms(m), "shape": forms(s)} for m, s in e.dimensions],
                "matrix_proof": steps(e.matrix_steps),
                "check": fact(e.fact),
            }
            for e in model.equations
        ],
        "induction": {
            "claim": forms(model.claim), "base": forms(model.base), "hypothesis": forms(model.hypothesis),
            "step": forms(model.derivation.induction.step_goal),
            "step_layers": forms(model.step_layers), "layers": forms(model.layers),
            "check": fact(model.induction_fact),
        },
        "assumptions": [forms(a) for a in model.assumptions],
        "check": {"ok": report.ok, "method": report.method},
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_general(general, fmt: str = "md", lang: str = "en", notation: str = "nielsen", flavor: str = "github",
                   standalone: bool = True, report=None, templates=None, label_prefix: str | None = None,
                   heading_level: str = "section") -> Document:
    """The proof of BP1–BP4 for every network (a :class:`~symbackprop.general.GeneralDerivation`).

    ``fmt`` is md, tex (a standalone article, or a fragment with
    ``standalone=False``), text (the terminal) or json; ``report`` is the
    derivation's check, computed when not given. The notation must be one of
    :data:`~symbackprop.general.GENERAL_NOTATIONS`. ``label_prefix`` starts
    every LaTeX label, as in :func:`render`.
    """
    label_prefix = check_label_prefix(label_prefix)
    check_heading_level(heading_level)
    check_choice("format", fmt, FORMATS)
    check_choice("language", lang, LANGUAGES)
    check_choice("notation", notation, printing.NOTATIONS)
    check_choice("flavor", flavor, FLAVORS)
    model = _general_model(general, notation, report)
    if fmt == "json":
        return Document(render_general_json(model))
    env = environment(notation, None, templates, fmt, flavor, general.activation)
    suffix = {"md": "md", "tex": "tex", "text": "txt"}[fmt]
    with templates_found(env):  # also a template included by another one
        page = get_template(env, f"{lang}/general.{suffix}.j2").render(general=model, standalone=standalone, lang=lang,
                                                                     label_prefix=label_prefix,
                                                                     heading_level=heading_level)
    return Document(page)
