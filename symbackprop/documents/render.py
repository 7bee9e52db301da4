"""Rendering a derivation: a Jinja2 environment whose filters call the one printer.

Templates hold all the prose, one set per language (``templates/en``,
``templates/zh``); ``templates/formats`` says how a format sets a heading, a
formula or a table. This module only prepares what templates loop over (see
:mod:`symbackprop.document`) and turns expressions into LaTeX or text through
:mod:`symbackprop.printing`. Rendering returns strings: writing files is the
command line's job.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import jinja2
import sympy as sp

from . import printing
from ..choices import FORMATS, LANGUAGES
from ..errors import SpecError, unknown_name
from ..model.symbols import Aligned, Chain, Partial

#: the terminal report lists every parameter up to this many parameters, else summarises by layer
DETAIL_LIMIT = 64



@dataclass(frozen=True)
class Flavor:
    """How a Markdown dialect delimits math, and whether its Markdown pass sees the math."""

    name: str
    inline: tuple[str, str]
    display: tuple[str, str]
    #: the Markdown renderer runs before the math renderer, so Markdown-active characters are escaped
    escape: bool = False


FLAVORS = {
    "github": Flavor("github", ("$", "$"), ("$$", "$$")),
    "katex": Flavor("katex", ("$", "$"), ("$$", "$$")),
    "mathjax": Flavor("mathjax", ("\\\\(", "\\\\)"), ("\\\\[", "\\\\]"), escape=True),
    "hexo": Flavor("hexo", ("$", "$"), ("$$", "$$"), escape=True),
    "kramdown": Flavor("kramdown", ("$$", "$$"), ("$$", "$$")),
}


def escape_markdown_math(tex: str) -> str:
    """Math that survives a Markdown pass (marked, CommonMark) unchanged.

    A backslash before punctuation would be read as an escape (``\\{`` would
    lose its backslash) and a backslash at the end of a line as a hard line
    break, so every backslash that does not start a command name is doubled;
    ``_`` and ``*`` pairs would become emphasis and ``[…]`` a link, so they are
    escaped too. The Markdown pass then gives back the original math.
    """
    out = []
    for index, char in enumerate(tex):
        following = tex[index + 1] if index + 1 < len(tex) else ""
        if char == "\\" and not (following.isascii() and following.isalpha()):
            out.append("\\\\")
        elif char in "_*[]" and (index == 0 or tex[index - 1] != "\\"):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


_TEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_MD_SPECIALS = set("\\`*_{}[]<>#|")


#: characters of diagnostic messages that a pdflatex document cannot take as text
_TEX_SYMBOLS = {"σ": r"$\sigma$", "δ": r"$\delta$", "θ": r"$\theta$", "λ": r"$\lambda$", "∂": r"$\partial$",
                "Σ": r"$\Sigma$", "×": r"$\times$", "≤": r"$\le$", "⊙": r"$\odot$", "²": r"$^2$", "′": "'",
                "−": "-", "∇": r"$\nabla$"}


def escape_tex_text(value) -> str:
    """Plain text (a name, a message) made safe inside LaTeX prose."""
    return "".join(_TEX_SPECIALS.get(c) or _TEX_SYMBOLS.get(c, c) for c in str(value))


class MarkdownProse(str):
    """Text escaped for Markdown prose that remembers its unescaped form, ``plain``: inside a code
    span Markdown shows backslashes literally, so the ``code`` macro of ``formats/md.j2`` uses that."""

    __slots__ = ("plain",)

    def __new__(cls, escaped: str, plain: str):
        text = super().__new__(cls, escaped)
        text.plain = plain
        return text


def escape_md_text(value) -> str:
    """Plain text made safe inside Markdown prose (its ``plain`` attribute keeps the text as given)."""
    plain = str(value)
    return MarkdownProse("".join("\\" + c if c in _MD_SPECIALS else c for c in plain), plain)


def template_dirs(extra: str | Path | None = None) -> list[Path]:
    """Where templates are looked up: a user's directory first, then the shipped set."""
    package = Path(__file__).resolve().parents[1]  # symbackprop/
    dirs = [Path(extra)] if extra else []
    for candidate in (package / "templates", package.parent / "templates"):
        if candidate.is_dir():
            dirs.append(candidate)
            break
    return dirs


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates, shared by every environment this process makes.

    Environments differ only in what their filters print (notation, sizes, format,
    flavour), and those filters look the setting up when a document renders, never
    when a template compiles (see :func:`environment`); so a template compiled once
    serves them all. An entry is used only while the template's source is unchanged.
    """

    def __init__(self):
        self._code: dict = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        entry = self._code.get(bucket.key)
        if entry is not None and entry[0] == bucket.checksum:
            bucket.code = entry[1]

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = (bucket.checksum, bucket.code)


_COMPILED = _CompiledTemplates()


def _setting(name: str):
    """The filter ``name`` of the environment a template renders in.

    A filter that needs the context is never applied while a template compiles
    (Jinja2 folds constant expressions with ordinary filters), so what a compiled
    template prints depends only on the environment it renders in.
    """

    @jinja2.pass_context
    def apply(context, value, *args, **kwargs):
        return context.environment.printing_filters[name](value, *args, **kwargs)

    return apply


def environment(notation: str = "nielsen", sizes=None, templates: str | Path | None = None,
                fmt: str = "text", flavor: str = "github") -> jinja2.Environment:
    """A Jinja2 environment whose filters print in the given notation, format and flavour."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs(templates)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        extensions=["jinja2.ext.do"],
        bytecode_cache=_COMPILED,
    )
    style = FLAVORS[flavor]
    env.printing_filters = {
        "text": partial(printing.text, notation=notation, sizes=sizes),
        "latex": partial(printing.latex, notation=notation, sizes=sizes),
        "layer": partial(printing.layer_number, notation_name=notation),
        "mathmd": escape_markdown_math if style.escape else (lambda tex: tex),
        "prose": escape_tex_text if fmt == "tex" else escape_md_text if fmt == "md" else str,
    }
    env.filters.update({name: _setting(name) for name in env.printing_filters})
    env.filters["chain"] = lambda links: Chain(*links)
    env.globals["flavor"] = style
    env.globals["fmt"] = fmt
    return env


@contextmanager
def _templates_found(env: jinja2.Environment):
    """A broken template as one clear error: one missing from the search path (also one included by
    another), a syntax error (with the template and line), or an undefined name used while rendering
    (with the template and line where the traceback shows them)."""
    try:
        yield
    except jinja2.TemplateNotFound as missing:
        searched = ", ".join(str(p) for p in env.loader.searchpath)
        raise SpecError(f"template {missing.name!r} not found; looked in: {searched}") from None
    except jinja2.TemplateSyntaxError as error:
        where = error.filename or error.name or "a template"
        raise SpecError(f"template {where}, line {error.lineno}: {error.message}; expected valid Jinja2 syntax") from None
    except jinja2.UndefinedError as error:
        where = _template_frame(error.__traceback__)
        raise SpecError(f"template {where}: {error.message}; expected only the names the renderer passes") from None


def _template_frame(trace) -> str:
    """'FILE, line N' of the innermost template frame in a traceback (Jinja2 names its frames after
    the template file), or 'unknown' if none is found."""
    found = "unknown"
    while trace is not None:
        code = trace.tb_frame.f_code
        if code.co_filename.endswith(".j2"):
            found = f"{code.co_filename}, line {trace.tb_lineno}"
        trace = trace.tb_next
    return found


def _template(env: jinja2.Environment, name: str) -> jinja2.Template:
    with _templates_found(env):
        return env.get_template(name)


def _check_choice(what: str, value: str, valid) -> None:
    if value not in valid:
        raise SpecError(unknown_name(what, value, valid))


# -------------------------------------------------------------------- LaTeX label prefixes
#: a prefix of every \label and \eqref of a LaTeX document (eq:PREFIX:bp1): letters, digits, - . _
LABEL_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_label_prefix(prefix) -> str | None:
    """``prefix`` when it can start a LaTeX label; None stays None (labels without a prefix)."""
    if prefix is None or isinstance(prefix, str) and LABEL_PREFIX.fullmatch(prefix):
        return prefix
    raise SpecError(f"label prefix {prefix!r} cannot prefix a LaTeX label; expected letters, digits, '-', '.' "
                    f"or '_', starting with a letter or digit, e.g. bp-2-3-2")


def label_prefix_from(text: str) -> str:
    """A label prefix made from any text (a file name's stem): every other character becomes '-'."""
    prefix = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return prefix or "doc"


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
    env = environment(notation, derivation.network.sizes, templates)
    return _template(env, f"{lang}/derive.txt.j2").render(context(derivation, report))


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


# -------------------------------------------------------------------- documents


@dataclass(frozen=True)
class Document:
    """A rendered document and the files that go next to it (name → content)."""

    text: str
    attachments: dict = field(default_factory=dict)


def render(derivation, fmt: str = "md", lang: str = "en", notation: str = "nielsen", flavor: str = "github",
           standalone: bool = True, report=None, templates=None, figure: str | None = None,
           example: str | None = None, general=None, general_report=None,
           label_prefix: str | None = None) -> Document:
    """A derivation document in ``fmt`` (md, tex, text or json) and language ``lang``.

    ``general`` (a :class:`~symbackprop.general.GeneralDerivation`) adds a
    Markdown or LaTeX section that proves BP1–BP4 for every network like this one
    (``general_report``: its check, computed when not given).

    ``figure`` names the SVG drawn next to a Markdown document (``None`` leaves
    the drawing out of Markdown; LaTeX always draws it with TikZ).
    ``standalone=False`` gives a LaTeX fragment to ``\\input``. ``label_prefix``
    starts every LaTeX \\label and \\eqref (``eq:PREFIX:bp1``; default: the
    gallery's ``example`` key, else none), so that documents with different
    prefixes can be \\input into one set of notes.
    """
    _check_choice("format", fmt, FORMATS)
    _check_choice("language", lang, LANGUAGES)
    _check_choice("notation", notation, printing.NOTATIONS)
    _check_choice("flavor", flavor, FLAVORS)
    label_prefix = check_label_prefix(example if label_prefix is None else label_prefix)
    if fmt == "json":
        return Document(render_json(derivation, report, notation))
    if fmt == "text":
        return Document(render_text(derivation, report, notation, templates, lang))
    from ..proof.document import document_model
    from .drawing import layout

    network = derivation.network
    model = document_model(derivation, report, notation)
    proof = _general_model(general, notation, general_report)
    drawing = layout(network, notation=notation)
    env = environment(notation, network.sizes, templates, fmt, flavor)
    with _templates_found(env):  # also a template included by another one
        page = _template(env, f"{lang}/document.{fmt}.j2").render(
            model=model, drawing=drawing, standalone=standalone, figure=figure, example=example, lang=lang,
            general=proof, label_prefix=label_prefix)
        attachments = {}
        if fmt == "md" and figure:
            attachments[figure] = _template(env, "drawing/network.svg.j2").render(drawing=drawing)
    return Document(page, attachments)


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
    return _template(env, "formats/summary.tex.j2").render(equations=Aligned(*rows))


def render_gallery_readme(examples, manifest) -> str:
    """The index of the gallery in ``output/``."""
    env = environment()
    return _template(env, "gallery/README.md.j2").render(examples=examples, manifest=manifest)


# -------------------------------------------------------------------- computational graphs


GRAPH_FORMATS = ("text", "md", "tex", "json")


def _graph_approx(value):
    """A decimal beside an exact value that is not rational (None for a rational)."""
    value = sp.sympify(value)
    return None if value.is_Rational else sp.Float(sp.N(value, 6), 6)


def _graph_model(analysis) -> dict:
    """What the graph templates show, as expressions: no words (see :mod:`symbackprop.graph`)."""
    from ..graph.analysis import NodePath
    from ..model.symbols import WrittenProduct, written_product
    from ..model.symbols import written_sum as plus

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
                      "oracle": sp.Eq(Partial(output.symbol, start.symbol), fact.oracle, evaluate=False),
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


def render_graph_json(analysis) -> str:
    """A computational graph at a point, its sweeps, paths, counts and check, as JSON."""
    graph, evaluation = analysis.graph, analysis.evaluation
    name = lambda index: graph.nodes[index].name  # noqa: E731
    tex = printing.latex
    steps = lambda sweep: [  # noqa: E731
        {"node": name(s.node), "seed": None if s.seed is None else str(s.seed), "reached": s.reached,
         "terms": [{"edge": t.edge, "local": str(t.local), "carried": str(t.carried), "product": str(t.product)}
                   for t in s.terms],
         "total": str(s.total)}
        for s in sweep.steps]
    data = {
        "expression": graph.source,
        "sympy": str(graph.expression),
        "latex": tex(graph.formula),
        "point": {n: str(v) for n, v in evaluation.point},
        "mode": analysis.mode,
        "nodes": [{"name": n.name, "op": n.op, "operands": [name(o) for o in n.operands], "level": n.level,
                   "definition": None if n.definition is None else printing.text(n.definition),
                   "latex": None if n.definition is None else tex(n.definition),
                   "expression": str(n.expression), "value": str(evaluation.values[n.index])}
                  for n in graph.nodes],
        "edges": [{"index": e.index, "source": name(e.source), "target": name(e.target), "slot": e.slot,
                   "partial": str(e.partial), "latex": tex(e.partial), "value": str(evaluation.partials[e.index])}
                  for e in graph.edges],
        "forward": [{"input": name(s.start), "steps": steps(s), "derivative": str(s.total(graph.output.index)),
                     "edges_visited": s.edges_visited} for s in analysis.forward],
        "reverse": None if analysis.reverse is None else {
            "output": name(analysis.reverse.start), "steps": steps(analysis.reverse),
            "gradient": {n.name: str(analysis.reverse.total(n.index)) for n in graph.inputs},
            "edges_visited": analysis.reverse.edges_visited},
        "paths": [{"input": p.input, "count": p.count, "listed": p.listed,
                   "paths": [{"nodes": [name(i) for i in q.nodes], "factors": [str(f) for f in q.factors],
                              "product": str(q.product)} for q in p.paths],
                   "sum": None if p.total is None else str(p.total)} for p in analysis.paths],
        "counts": {"inputs": [{"input": c.input, "paths": c.paths, "edge_visits_one_by_one": c.visits,
                               "edges_forward_sweep": c.merged} for c in analysis.counts.inputs],
                   "paths": analysis.counts.paths, "edge_visits_one_by_one": analysis.counts.visits,
                   "edges_forward_sweeps": analysis.counts.forward, "edges_reverse_sweep": analysis.counts.edges},
        "check": {"ok": analysis.check.ok,
                  "facts": [{"kind": f.kind, "input": f.input, "graph": [str(v) for v in f.graph],
                             "sympy_diff": str(f.oracle), "ok": f.ok, "method": f.method}
                            for f in analysis.check.facts]},
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_graph(analysis, fmt: str = "md", lang: str = "en", flavor: str = "github", standalone: bool = True,
                 figure: str | None = None, templates=None) -> Document:
    """The write-up of a computational graph (a :class:`symbackprop.graph.Analysis`) in ``fmt`` and ``lang``.

    ``figure`` names the SVG drawing next to a Markdown document (``None`` leaves it
    out); LaTeX draws the graph with TikZ. ``standalone=False`` gives a LaTeX fragment.
    """
    from ..graph.analysis import layout as graph_layout

    _check_choice("format", fmt, GRAPH_FORMATS)
    _check_choice("language", lang, LANGUAGES)
    _check_choice("flavor", flavor, FLAVORS)
    if fmt == "json":
        return Document(render_graph_json(analysis))
    env = environment(templates=templates, fmt=fmt, flavor=flavor)
    env.globals["approx"] = _graph_approx
    drawing = graph_layout(analysis.evaluation, printing.latex, printing.text)
    with _templates_found(env):  # also a template included by another one
        text = _template(env, f"{lang}/graph.{'txt' if fmt == 'text' else fmt}.j2").render(
            model=_graph_model(analysis), drawing=drawing, figure=figure if fmt == "md" else None,
            standalone=standalone, lang=lang)
        attachments = {}
        if fmt == "md" and figure:
            attachments[figure] = _template(env, "drawing/graph.svg.j2").render(drawing=drawing)
    return Document(text, attachments)


# -------------------------------------------------------------------- claims


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
    from ..model.symbols import Quantity

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


def _verdict_json(derivation, r, notation: str) -> dict:
    from ..claims.verdicts import corrected_form

    entry = {"status": r.status, "line": r.line}
    if r.status in ("unreadable", "skipped"):
        entry.update(text=r.text, message=getattr(r, "message", None))
        return entry
    entry.update(text=r.claim.text, method=r.method, points=r.points, diagnosis=list(r.diagnosis),
                 reason=r.reason,
                 correct=printing.latex(corrected_form(derivation, r.claim.target), notation=notation,
                                        sizes=derivation.network.sizes))
    if r.time_limit is not None:
        entry["time_limit"] = r.time_limit
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
    from ..claims.verdicts import corrected_form

    _check_choice("format", fmt, ("text", "json"))
    _check_choice("language", lang, LANGUAGES)
    show = partial(printing.text, notation=notation, sizes=derivation.network.sizes)
    summary = {status: sum(1 for r in results if r.status == status)
               for status in ("correct", "incorrect", "undecided", "unreadable", "skipped")}
    if fmt == "json":
        data = {"summary": summary, "results": [_verdict_json(derivation, r, notation) for r in results]}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    env = environment(notation, derivation.network.sizes, templates)
    return _template(env, f"{lang}/check.txt.j2").render(
        results=results, summary=summary,
        corrected=lambda v: corrected_form(derivation, v.claim.target),
        counterexample=lambda v: _counterexample(derivation, v, show),
        mismatches=lambda v: [_mismatch(m) for m in v.mismatches],
        shape=lambda v: "×".join(map(str, v.shape)),
        truth_shape=lambda v: "×".join(map(str, v.truth.shape if isinstance(v.truth, sp.MatrixBase) else (1, 1))))


# -------------------------------------------------------------------- worked numeric example


def _worked_links(value, arithmetic=None, shown=None) -> Chain:
    """symbol = each form = the arithmetic with rounded numbers = the rounded value.

    A form that is a number is left out: the value at the end of the chain shows it.
    """
    forms = [form for form in value.forms if not sp.sympify(form).is_Number]
    return Chain(value.symbol, *forms, *([arithmetic] if arithmetic is not None else []), shown(value.value))


def worked_context(example, notation: str = "nielsen") -> dict:
    """What the worked-example templates loop over: every number of the example as a chain of equalities.

    Forward pass: z = its definition = the sum with numbers = value, and
    a = its definition = value. Backward pass, one entry per neuron from the
    output layer back: the chain rule's factors before ∂z/∂θ, each with its
    forms and value (for ∂C/∂a of a hidden neuron, and ∂C/∂z under softmax,
    the sum over the next layer with numbers), δ as their product, then per
    parameter of the neuron ∂z/∂θ, the gradient as the product of its factors
    with numbers (plus (λ/n) w under L2) and the step θ − η ∂C/∂θ. Numbers are
    rounded to ``example.digits`` for display only.
    """
    from ..numbers import ETA
    from ..model.symbols import written_difference, written_product, written_sum

    def product(*factors):  # the chain rule's factors, then their values, joined by dots
        return written_product(factors, dotted=True)
    from ..proof.oracle import DIGITS
    from ..model.symbols import COST

    n = example.rounded
    network = example.network
    values = {g.key: g.parameter.value for g in example.gradients}
    layers = []
    previous = example.x
    for layer in example.layers:
        l = layer.index
        fan_in = network.sizes[l - 1]
        rows = []
        for j, (z, a) in enumerate(zip(layer.z, layer.a), start=1):
            terms = []
            for k in range(1, fan_in + 1):
                weight, source = n(values[("w", l, j, k)]), n(previous[k - 1].value)
                terms.append(product(weight, source) if l == 1 else product(source, weight))
            if network.layer(l).bias:
                terms.append(n(values[("b", l, j)]))
            rows.append({"z": _worked_links(z, written_sum(terms), n), "a": _worked_links(a, None, n)})
        layers.append({"index": l, "activation": layer.activation, "size": len(layer.z),
                       "neurons": rows, "a": [Chain(v.symbol, n(v.value)) for v in layer.a]})
        previous = layer.a

    neurons, order = {}, []
    for g in example.gradients:
        l, j = g.key[1], g.key[2]
        if (l, j) not in neurons:
            head = g.factors[:-1]
            factors = []
            for index, factor in enumerate(head):
                arithmetic = None
                if index == 0 and g.terms:
                    arithmetic = written_sum([product(n(left.value), n(right.value)) for left, right in g.terms])
                factors.append(_worked_links(factor, arithmetic, n))
            delta_symbol = g.delta.forms[0]
            if len(head) > 1:
                delta = Chain(delta_symbol, product(*[f.symbol for f in head]),
                              product(*[n(f.value) for f in head]), n(g.delta.value))
            else:
                delta = Chain(delta_symbol, head[0].symbol, n(g.delta.value))
            neurons[(l, j)] = {"layer": l, "neuron": j, "softmax": len(head) == 1, "factors": factors,
                               "delta": delta, "delta_symbol": delta_symbol, "parameters": []}
            order.append((l, j))
        theta = g.parameter.symbol
        dz = g.factors[-1]
        symbolic = product(*[f.symbol for f in g.factors])
        numeric = product(*[n(f.value) for f in g.factors])
        regularisation = None
        if g.regularisation is not None:
            reg = g.regularisation
            regularisation = Chain(reg.symbol, n(reg.value))
            symbolic, numeric = written_sum([symbolic, reg.symbol]), written_sum([numeric, n(reg.value)])
        gradient = Partial(COST, theta)
        neurons[(l, j)]["parameters"].append({
            "key": g.key,
            "symbol": theta,
            "link": _worked_links(dz, None, n),
            "regularisation": regularisation,
            "gradient": Chain(gradient, symbolic, numeric, n(g.gradient.value)),
            "descent": Chain(written_difference(theta, sp.Mul(ETA, gradient)),
                            written_difference(n(g.parameter.value), product(n(example.lr), n(g.gradient.value))),
                            n(g.updated.value)),
            "before": n(g.parameter.value),
            "partial": gradient,
            "value": n(g.gradient.value),
            "after": n(g.updated.value),
        })
    backward = [neurons[key] for key in sorted(order, key=lambda key: (-key[0], key[1]))]
    return {
        "example": example,
        "network": network,
        "digits": example.digits,
        "precision": DIGITS,
        "lr": Chain(ETA, n(example.lr)),
        "eta": ETA,
        "inputs": [Chain(v.symbol, n(v.value)) for v in example.x],
        "targets": [Chain(v.symbol, n(v.value)) for v in example.y],
        "l2": [Chain(v.symbol, n(v.value)) for v in example.l2],
        "parameters": [Chain(g.parameter.symbol, n(g.parameter.value)) for g in example.gradients],
        "layers": layers,
        "cost": _worked_links(example.cost, None, n),
        "backward": backward,
        "summary": [p for g in example.gradients for p in neurons[g.key[1], g.key[2]]["parameters"] if p["key"] == g.key],
    }


WORKED_FORMATS = ("text", "md", "tex", "json")


def render_worked(example, fmt: str = "md", lang: str = "en", notation: str = "nielsen", flavor: str = "github",
                  standalone: bool = True, templates=None) -> Document:
    """A worked numeric example (:func:`symbackprop.numbers.worked_example`) as a document.

    ``fmt`` is ``text`` (the terminal), ``md``, ``tex`` (``standalone=False``
    gives a fragment to ``\\input``) or ``json``: the network, then
    :meth:`~symbackprop.numbers.WorkedExample.as_data` (each number as
    rounded text, a rounded JSON number and its full value).
    """
    _check_choice("format", fmt, WORKED_FORMATS)
    _check_choice("language", lang, LANGUAGES)
    _check_choice("notation", notation, printing.NOTATIONS)
    _check_choice("flavor", flavor, FLAVORS)
    network = example.network
    if fmt == "json":
        data = {
            "network": {"layers": list(network.sizes),
                        "activation": [layer.activation.label for layer in network.layers],
                        "bias": [layer.bias for layer in network.layers], "cost": network.cost.name,
                        "l2": None if network.l2 is None else str(network.l2), "mean": network.mean},
            "notation": notation,
            **example.as_data(notation),
        }
        return Document(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    env = environment(notation, network.sizes, templates, fmt, flavor)
    suffix = "txt" if fmt == "text" else fmt
    text = _template(env, f"{lang}/worked.{suffix}.j2").render(standalone=standalone, lang=lang,
                                                             **worked_context(example, notation))
    return Document(text)


# -------------------------------------------------------------------- general proofs


def _general_model(general, notation: str, report=None):
    """The layout of a general proof (None when there is none); the notation must be able to write it."""
    if general is None:
        return None
    from ..proof.document import general_model

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
                "matrix": forms(e.matrix.expr, shapes=True),
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
                   standalone: bool = True, report=None, templates=None, label_prefix: str | None = None) -> Document:
    """The proof of BP1–BP4 for every network (a :class:`~symbackprop.general.GeneralDerivation`).

    ``fmt`` is md, tex (a standalone article, or a fragment with
    ``standalone=False``), text (the terminal) or json; ``report`` is the
    derivation's check, computed when not given. The notation must be one of
    :data:`~symbackprop.general.GENERAL_NOTATIONS`. ``label_prefix`` starts
    every LaTeX label, as in :func:`render`.
    """
    label_prefix = check_label_prefix(label_prefix)
    _check_choice("format", fmt, FORMATS)
    _check_choice("language", lang, LANGUAGES)
    _check_choice("notation", notation, printing.NOTATIONS)
    _check_choice("flavor", flavor, FLAVORS)
    model = _general_model(general, notation, report)
    if fmt == "json":
        return Document(render_general_json(model))
    env = environment(notation, None, templates, fmt, flavor)
    suffix = {"md": "md", "tex": "tex", "text": "txt"}[fmt]
    with _templates_found(env):  # also a template included by another one
        page = _template(env, f"{lang}/general.{suffix}.j2").render(general=model, standalone=standalone, lang=lang,
                                                                     label_prefix=label_prefix)
    return Document(page)
