"""A computational graph's write-up: its document model (expressions, no words) and its rendering."""

from __future__ import annotations

import json

import sympy as sp

from ..documents import printing
from ..documents.render import (FLAVORS, LANGUAGES, Document, check_choice, check_heading_level, environment,
                                get_template, templates_found)
from ..model.symbols import Chain, Partial, WrittenProduct, written_product
from ..model.symbols import written_sum as plus
from .analysis import NodePath
from .analysis import layout as graph_layout


GRAPH_FORMATS = ("text", "md", "tex", "json")


def _graph_approx(value):
    """A decimal beside an exact value that is not rational (None for a rational)."""
    value = sp.sympify(value)
    return None if value.is_Rational else sp.Float(sp.N(value, 6), 6)


def _graph_model(analysis) -> dict:
    """What the graph templates show, as expressions: no words (see :mod:`symbackprop.graph`)."""
    graph, evaluation = analysis.graph, analysis.evaluation
    nodes, edges = graph.nodes, graph.edges
    output = graph.output
    symbol = lambda index: nodes[index].symbol  # noqa: E731

    def forward_rows(sweep):
        wrt = symbol(sweep.start)
        rows = []
        for step in sweep.steps:
            lhs = Partial(symbol(step.node), wrt)
            if step.seed is not None or not step.reached:
                rows.append({"node": symbol(step.node), "seed": step.seed, "reached": step.reached, "lhs": lhs,
                             "chain": sp.Eq(lhs, step.total, evaluate=False), "total": step.total, "terms": 0})
                continue
            shown = [edges[t.edge] for t in step.terms]
            links = [lhs,
                     plus([WrittenProduct(e.partial, Partial(symbol(e.source), wrt)) for e in shown]),
                     plus([WrittenProduct(t.local, t.carried) for t in step.terms]),
                     step.total]
            rows.append({"node": symbol(step.node), "seed": None, "reached": True, "lhs": lhs, "chain": Chain(*links),
                         "total": step.total, "terms": len(step.terms)})
        result = sweep.total(output.index)
        return {"wrt": wrt, "rows": rows, "value": result, "visited": sweep.edges_visited,
                "result": sp.Eq(Partial(output.symbol, wrt), result, evaluate=False)}

    def reverse_rows(sweep):
        top = symbol(sweep.start)
        rows = []
        for step in sweep.steps:
            lhs = Partial(top, symbol(step.node))
            if step.seed is not None:
                rows.append({"node": symbol(step.node), "seed": step.seed, "chain": sp.Eq(lhs, step.seed,
                                                                                           evaluate=False),
                             "total": step.total, "terms": 0, "input": False})
                continue
            shown = [edges[t.edge] for t in step.terms]
            links = [lhs,
                     plus([WrittenProduct(Partial(top, symbol(e.target)), e.partial) for e in shown]),
                     plus([WrittenProduct(t.carried, t.local) for t in step.terms]),
                     step.total]
            rows.append({"node": symbol(step.node), "seed": None, "chain": Chain(*links), "total": step.total,
                         "terms": len(step.terms), "input": nodes[step.node].op == "input"})
        return {"rows": rows, "visited": sweep.edges_visited,
                "gradient": [sp.Eq(Partial(top, n.symbol), sweep.total(n.index), evaluate=False)
                             for n in graph.inputs]}

    paths = []
    for path_sum in analysis.paths:
        start = graph.node(path_sum.input)
        lhs = Partial(output.symbol, start.symbol)
        written = [written_product(p.factors) if p.factors else p.product for p in path_sum.paths]
        listed = [{"path": NodePath(*(symbol(i) for i in p.nodes)),
                   "product": sp.Eq(shown, p.product, evaluate=False) if len(p.factors) > 1 else p.product}
                  for p, shown in zip(path_sum.paths, written)]
        total = None
        if path_sum.listed and path_sum.count:
            shown = plus(written)
            total = Chain(lhs, shown, path_sum.total) if shown != path_sum.total \
                else sp.Eq(lhs, path_sum.total, evaluate=False)
        paths.append({"input": start.symbol, "count": path_sum.count, "paths": listed, "total": total,
                      "listed": path_sum.listed})

    point = [sp.Eq(sp.Symbol(name), value, evaluate=False) for name, value in evaluation.point]
    facts = []
    for fact in analysis.check.facts:
        start = graph.node(fact.input)
        sources = [name for name, present in (("forward", analysis.forward), ("reverse", analysis.reverse),
                                               ("paths", analysis.paths[graph.inputs.index(start)].listed))
                   if present] if fact.kind == "point" else ["graph"]
        facts.append({"kind": fact.kind, "input": start.symbol, "ok": fact.ok, "method": fact.method,
                      "oracle": sp.Eq(Partial(output.symbol, start.symbol),
                                      fact.oracle if fact.shown is None else fact.shown, evaluate=False),
                      "found": fact.graph, "sources": sources})
    return {
        "graph": graph,
        "analysis": analysis,
        "output": output.symbol,
        "formula": sp.Eq(output.symbol, graph.formula, evaluate=False),
        "point": point,
        "inputs": [n.symbol for n in graph.inputs],
        "nodes": [{"symbol": n.symbol, "op": n.op, "level": n.level, "input": n.op == "input",
                   "definition": None if n.definition is None else sp.Eq(n.symbol, n.definition, evaluate=False),
                   "value": evaluation.values[n.index], "approx": _graph_approx(evaluation.values[n.index])}
                  for n in nodes],
        "edges": [{"path": NodePath(symbol(e.source), symbol(e.target)), "partial": e.partial,
                   "value": evaluation.partials[e.index], "approx": _graph_approx(evaluation.partials[e.index]),
                   "parallel": sum(1 for o in edges if (o.source, o.target) == (e.source, e.target)) > 1}
                  for e in edges],
        "forward": [forward_rows(s) for s in analysis.forward],
        "reverse": reverse_rows(analysis.reverse) if analysis.reverse is not None else None,
        "paths": paths,
        "counts": analysis.counts,
        "check": analysis.check,
        "facts": facts,
        "value": evaluation.values[output.index],
    }


def _str(expr) -> str:
    """SymPy's own text of ``expr``, terms as SymPy holds them: sorting the terms of a long exact value
    for printing would evaluate every one of them."""
    return sp.sstr(expr, order="none")


def render_graph_json(analysis) -> str:
    """A computational graph at a point, its sweeps, paths, counts and check, as JSON."""
    graph, evaluation = analysis.graph, analysis.evaluation
    name = lambda index: graph.nodes[index].name  # noqa: E731
    tex = printing.latex
    steps = lambda sweep: [  # noqa: E731
        {"node": name(s.node), "seed": None if s.seed is None else _str(s.seed), "reached": s.reached,
         "terms": [{"edge": t.edge, "local": _str(t.local), "carried": _str(t.carried), "product": _str(t.product)}
                   for t in s.terms],
         "total": _str(s.total)}
        for s in sweep.steps]
    data = {
        "expression": graph.source,
        "sympy": _str(graph.expression),
        "latex": tex(graph.formula),
        "point": {n: _str(v) for n, v in evaluation.point},
        "mode": analysis.mode,
        "nodes": [{"name": n.name, "op": n.op, "operands": [name(o) for o in n.operands], "level": n.level,
                   "definition": None if n.definition is None else printing.text(n.definition),
                   "latex": None if n.definition is None else tex(n.definition),
                   "expression": _str(n.expression), "value": _str(evaluation.values[n.index])}
                  for n in graph.nodes],
        "edges": [{"index": e.index, "source": name(e.source), "target": name(e.target), "slot": e.slot,
                   "partial": _str(e.partial), "latex": tex(e.partial), "value": _str(evaluation.partials[e.index])}
                  for e in graph.edges],
        "forward": [{"input": name(s.start), "steps": steps(s), "derivative": _str(s.total(graph.output.index)),
                     "edges_visited": s.edges_visited} for s in analysis.forward],
        "reverse": None if analysis.reverse is None else {
            "output": name(analysis.reverse.start), "steps": steps(analysis.reverse),
            "gradient": {n.name: _str(analysis.reverse.total(n.index)) for n in graph.inputs},
            "edges_visited": analysis.reverse.edges_visited},
        "paths": [{"input": p.input, "count": p.count, "listed": p.listed,
                   "paths": [{"nodes": [name(i) for i in q.nodes], "factors": [_str(f) for f in q.factors],
                              "product": _str(q.product)} for q in p.paths],
                   "sum": None if p.total is None else _str(p.total)} for p in analysis.paths],
        "counts": {"inputs": [{"input": c.input, "paths": c.paths, "edge_visits_one_by_one": c.visits,
                               "edges_forward_sweep": c.merged} for c in analysis.counts.inputs],
                   "paths": analysis.counts.paths, "edge_visits_one_by_one": analysis.counts.visits,
                   "edges_forward_sweeps": analysis.counts.forward, "edges_reverse_sweep": analysis.counts.edges},
        "check": {"ok": analysis.check.ok,
                  "facts": [{"kind": f.kind, "input": f.input, "graph": [_str(v) for v in f.graph],
                             "sympy_diff": _str(f.oracle), "ok": f.ok, "method": f.method}
                            for f in analysis.check.facts]},
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_graph(analysis, fmt: str = "md", lang: str = "en", flavor: str = "github", standalone: bool = True,
                 figure: str | None = None, templates=None, heading_level: str = "section",
                 front_matter: dict | None = None) -> Document:
    """The write-up of a computational graph (a :class:`symbackprop.graph.Analysis`) in ``fmt`` and ``lang``.

    ``heading_level`` and ``front_matter`` mean what they mean for a derivation
    (:func:`symbackprop.proof.report.render`).

    ``figure`` names the SVG drawing next to a Markdown document (``None`` leaves it
    out); LaTeX draws the graph with TikZ. ``standalone=False`` gives a LaTeX fragment.
    """
    check_choice("format", fmt, GRAPH_FORMATS)
    check_heading_level(heading_level)
    check_choice("language", lang, LANGUAGES)
    check_choice("flavor", flavor, FLAVORS)
    if fmt == "json":
        return Document(render_graph_json(analysis))
    env = environment(templates=templates, fmt=fmt, flavor=flavor)
    env.globals["approx"] = _graph_approx
    drawing = graph_layout(analysis.evaluation, printing.latex, printing.text)
    with templates_found(env):  # also a template included by another one
        text = get_template(env, f"{lang}/graph.{'txt' if fmt == 'text' else fmt}.j2").render(
            model=_graph_model(analysis), drawing=drawing, figure=figure if fmt == "md" else None,
            standalone=standalone, lang=lang, heading_level=heading_level,
            front_matter=front_matter if fmt == "md" else None)
        attachments = {}
        if fmt == "md" and figure:
            attachments[figure] = get_template(env, "drawing/graph.svg.j2").render(drawing=drawing)
    return Document(text, attachments)
