"""Rendering a derivation: a Jinja2 environment whose filters call the one printer.

Templates hold all the prose; this module only prepares what they loop over
(rows of gradients, a summary by layer, the facts of a check) and turns
expressions into text through :mod:`symbackprop.printing`. Rendering returns a
string: writing files is the command line's job.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import jinja2

from . import printing
from .errors import SpecError

#: networks with more parameters than this are summarised by layer, not parameter by parameter
DETAIL_LIMIT = 64


def template_dirs(extra: str | Path | None = None) -> list[Path]:
    """Where templates are looked up: a user's directory first, then the shipped set."""
    here = Path(__file__).resolve().parent
    dirs = [Path(extra)] if extra else []
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            dirs.append(candidate)
            break
    return dirs


def environment(notation: str = "nielsen", sizes=None, templates: str | Path | None = None) -> jinja2.Environment:
    """A Jinja2 environment with the ``text`` and ``latex`` filters in the given notation."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs(templates)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["text"] = partial(printing.text, notation=notation, sizes=sizes)
    env.filters["latex"] = partial(printing.latex, notation=notation, sizes=sizes)
    env.filters["layer"] = partial(printing.layer_number, notation_name=notation)
    return env


def _template(env: jinja2.Environment, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound:
        searched = ", ".join(str(p) for p in env.loader.searchpath)
        raise SpecError(f"template {name!r} not found; looked in: {searched}") from None


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
    """What the templates see."""
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
            for (l, j) in sorted(derivation.deltas)
        ] if detailed else [],
        "layers": layer_summary(derivation),
    }


def render_text(derivation, report=None, notation: str = "nielsen", templates=None) -> str:
    """The terminal report of a derivation (and of its check, when given)."""
    env = environment(notation, derivation.network.sizes, templates)
    return _template(env, "en/derive.txt.j2").render(context(derivation, report))


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
