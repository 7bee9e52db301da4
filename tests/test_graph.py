"""Computational graphs: reading, the two modes, paths, the independent check, rendering and the CLI."""

import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest
import sympy as sp

from symbackprop.documents import printing
from symbackprop.cli import main
from symbackprop.errors import SpecError
from symbackprop.claims.reading import MAX_DIGITS, FormulaError, syntax_error
from symbackprop.graph.analysis import (
    MAX_DEPTH,
    MAX_MAGNITUDE,
    PATH_LIST_LIMIT,
    Sigmoid,
    analyse,
    check,
    evaluate,
    forward_mode,
    graph_of,
    layout,
    parse_graph,
    parse_point,
    path_counts,
    path_sums,
    reverse_mode,
    symbolic_gradient,
)
from symbackprop.graph.document import render_graph

SEED = "(a+b)*(b+1)"
AT = {"a": 2, "b": 1}


@pytest.fixture(scope="module")
def seed():
    graph = parse_graph(SEED)
    return graph, evaluate(graph, AT)


# ---------------------------------------------------------------- the graph of seed 003


def test_seed_graph_has_one_node_per_distinct_subexpression(seed):
    graph, _ = seed
    assert [(n.name, n.op, n.level) for n in graph.nodes] == [
        ("a", "input", 0), ("b", "input", 0), ("c", "add", 1), ("d", "add", 1), ("e", "mul", 2)]
    a, b, c, d, e = (n.symbol for n in graph.nodes)
    assert graph.node("c").expression == a + b
    assert graph.node("d").expression == b + 1
    assert graph.output.expression == (a + b) * (b + 1)
    # b is shared: one node with two edges leaving it
    assert [(graph.nodes[x.source].name, graph.nodes[x.target].name, x.partial) for x in graph.edges] == [
        ("a", "c", 1), ("b", "c", 1), ("b", "d", 1), ("c", "e", d), ("d", "e", c)]


def test_seed_values_and_local_derivatives_are_exact(seed):
    _, point = seed
    assert point.values == (2, 1, 3, 2, 6)
    assert point.partials == (1, 1, 1, 2, 3)
    assert all(isinstance(v, sp.Integer) for v in point.values + point.partials)


def test_forward_mode_one_input_at_a_time(seed):
    graph, point = seed
    from_a = forward_mode(point, "a")
    from_b = forward_mode(point, "b")
    assert [s.total for s in from_a.steps] == [1, 0, 1, 0, 2]
    assert [s.total for s in from_b.steps] == [0, 1, 1, 1, 5]
    # ∂e/∂b in forward mode: d·∂c/∂b + c·∂d/∂b = 2·1 + 3·1
    last = from_b.steps[-1]
    assert [(t.local, t.carried) for t in last.terms] == [(2, 1), (3, 1)]
    # d does not depend on a: no work there
    assert from_a.steps[3].reached is False and from_a.steps[3].terms == ()
    assert from_a.edges_visited == 2 and from_b.edges_visited == 4


def test_reverse_mode_all_inputs_at_once(seed):
    graph, point = seed
    sweep = reverse_mode(point)
    assert [(graph.nodes[s.node].name, s.total) for s in sweep.steps] == [
        ("e", 1), ("d", 3), ("c", 2), ("b", 5), ("a", 2)]
    b = sweep.steps[3]
    # b collects 2·1 from c and 3·1 from d
    assert [(graph.nodes[graph.edges[t.edge].target].name, t.carried, t.local) for t in b.terms] == [
        ("c", 2, 1), ("d", 3, 1)]
    assert sweep.edges_visited == len(graph.edges) == 5


def test_path_sums_of_the_seed(seed):
    graph, point = seed
    a_paths, b_paths = path_sums(point)
    assert (a_paths.count, a_paths.total) == (1, 2)
    names = lambda path: "".join(graph.nodes[i].name for i in path.nodes)  # noqa: E731
    assert [(names(p), p.factors, p.product) for p in b_paths.paths] == [("bce", (1, 2), 2), ("bde", (1, 3), 3)]
    assert b_paths.total == 5


def test_nine_paths_merge_into_six_edges():
    # seed 003: three edges from X to Y and three from Y to Z
    graph = parse_graph("(x*x*x)*(x*x*x)*(x*x*x)")
    assert [n.name for n in graph.nodes] == ["x", "a", "b"]
    assert [(e.source, e.target) for e in graph.edges] == [(0, 1)] * 3 + [(1, 2)] * 3
    counts = path_counts(graph)
    assert (counts.paths, counts.edges) == (9, 6)
    assert counts.inputs[0].visits == 18  # every path has two edges
    point = evaluate(graph, {"x": sp.Rational(1, 2)})
    (sums,) = path_sums(point)
    assert sums.count == 9 and sums.total == sp.Rational(9, 256)  # 9 x^8
    assert forward_mode(point, "x").edges_visited == 6


def test_paths_counted_without_listing_when_there_are_many():
    # a chain of k doublings has 2^k paths
    text = "x"
    for _ in range(7):
        text = f"({text})*({text})"
    graph = parse_graph(text)
    counts = path_counts(graph)
    assert counts.paths == 2 ** 7 and counts.edges == 14
    (sums,) = path_sums(evaluate(graph, {"x": 1}))
    assert sums.count == 128 > PATH_LIST_LIMIT and sums.paths == () and sums.total is None


# ---------------------------------------------------------------- the independent oracle


EXPRESSIONS = [
    SEED,
    "x*x*x - 2*x/y + 1",
    "sigma(w*x + b)",
    "exp(-x^2)/2 + log(x)*sin(x) - cos(x)^2",
    "tanh(a*b) + tan(a) + sqrt(b) + 2^a + a^b + 3/a",
    "-(a - b)*-c",
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_every_derivative_equals_sympy_diff(text):
    graph = parse_graph(text)
    names = [n.name for n in graph.inputs]
    point = {name: sp.Rational(k + 2, 3) for k, name in enumerate(names)}
    analysis = analyse(graph, point)
    assert analysis.check.ok, analysis.check
    # and directly, without the checker
    composed = graph.expression.replace(Sigmoid, lambda u: 1 / (1 + sp.exp(-u)))
    symbolic = symbolic_gradient(graph)
    at = {sp.Symbol(n): v for n, v in point.items()}
    for node in graph.inputs:
        truth = sp.diff(composed, node.symbol)
        mine = symbolic[node.name].replace(Sigmoid, lambda u: 1 / (1 + sp.exp(-u)))
        assert sp.simplify(mine - truth) == 0
        value = analysis.reverse.total(node.index)
        assert sp.N(value - truth.xreplace(at), 30) == 0 or abs(sp.N(value - truth.xreplace(at), 30)) < 1e-25


def test_checker_catches_a_planted_wrong_local_derivative(seed):
    graph, _ = seed
    assert check(graph, evaluate(graph, AT)).ok
    # plant a mistake: claim ∂e/∂d = c + 1 instead of c
    wrong = tuple(replace(e, partial=e.partial + 1) if e.index == 4 else e for e in graph.edges)
    planted = replace(graph, edges=wrong)
    result = check(planted, evaluate(planted, AT))
    assert not result.ok
    failed = {(f.kind, f.input) for f in result.facts if not f.ok}
    # d depends on b only, so only ∂e/∂b is wrong, both symbolically and at the point
    assert failed == {("symbolic", "b"), ("point", "b")}
    point_b = next(f for f in result.facts if f.kind == "point" and f.input == "b")
    # forward sweep, reverse sweep and path sum all give 2·1 + (3 + 1)·1 = 6 where sympy.diff gives 5
    assert point_b.oracle == 5 and point_b.graph == (6, 6, 6)


def test_checker_catches_a_wrong_rule_for_a_function():
    graph = parse_graph("sin(x)*x")
    sin_edge = next(e for e in graph.edges if graph.nodes[e.target].op == "sin")
    planted = replace(graph, edges=tuple(replace(e, partial=-e.partial) if e is sin_edge else e
                                         for e in graph.edges))
    result = check(planted, evaluate(planted, {"x": 1}))
    assert not result.ok
    assert all(not f.ok for f in result.facts)


# ---------------------------------------------------------------- reading text and SymPy


def test_chains_are_one_node_and_brackets_are_nodes():
    assert [n.op for n in parse_graph("a + b - c").nodes] == ["input", "input", "input", "add"]
    assert parse_graph("a + b - c").output.params == (0, (1, 1, -1))
    assert [n.op for n in parse_graph("a + (b + c)").nodes][-2:] == ["add", "add"]
    assert parse_graph("x*y*z").output.operands == (0, 1, 2)


def test_constants_fold_into_operations():
    graph = parse_graph("2*x*3 + 1 - 0.5")
    assert [n.op for n in graph.nodes] == ["input", "mul", "add"]
    assert graph.nodes[1].params == (6,)
    assert graph.output.params == (sp.Rational(1, 2), (1,))
    assert graph.expression == 6 * sp.Symbol("x") + sp.Rational(1, 2)


def test_formula_is_printed_as_written():
    assert printing.latex(parse_graph(SEED).formula) == r"\left(a + b\right) \left(b + 1\right)"
    assert printing.text(parse_graph("x - 2*y + 1").formula) == "x - 2·y + 1"
    assert printing.latex(parse_graph("sigma(w*x + b)").formula) == r"\sigma\left(w x + b\right)"


#: once read by evaluating every node with SymPy, whose reasoning about tanh and tan of the long argument
#: (whether it is real, finite, a multiple of pi) took millions of steps
NESTED = "tan(tanh(((tanh(tanh(sqrt((tanh((log((x)*(z)))^2))+(1/3)))))-(sin(sigma(2))))^3))"


def test_reading_asks_sympy_few_questions(monkeypatch):
    # SymPy's arithmetic is evaluated, every function is kept as written: reading asks SymPy a few
    # hundred questions (about symbols and constants), never about a function of a long argument
    assumptions = sys.modules["sympy.core.assumptions"]
    asked, ask = [], assumptions._ask
    monkeypatch.setattr(assumptions, "_ask", lambda fact, obj: asked.append(fact) or ask(fact, obj))
    graph = parse_graph(NESTED)
    assert len(asked) < 2000
    x, z = sp.symbols("x z")
    assert graph.node("a").expression == x * z
    assert graph.expression.func is sp.tan and graph.expression.args[0].func is sp.tanh
    assert parse_graph("exp(log(x))").expression == sp.exp(sp.log(x, evaluate=False), evaluate=False)
    assert parse_graph("x*x*x + tanh(x)*tanh(x)").expression == x ** 3 + sp.tanh(x) ** 2
    analysis = analyse(NESTED, {"x": sp.Rational(1, 2), "z": sp.Rational(3, 4)})
    assert not analysis.check.failed


def test_sympy_expression_becomes_a_graph():
    x, y = sp.symbols("x y")
    graph = graph_of(sp.exp(-x ** 2) * sp.sin(x * y) - x / y)
    assert graph.expression == sp.exp(-x ** 2) * sp.sin(x * y) - x / y
    assert {n.op for n in graph.nodes} >= {"exp", "sin", "pow", "mul", "add"}
    assert check(graph, evaluate(graph, {"x": 1, "y": 2})).ok
    shared = graph_of((x + y) * (y + 1))
    assert [n.op for n in shared.nodes].count("add") == 2 and len(shared.inputs) == 2


def test_unknown_sympy_function_is_refused():
    x = sp.Symbol("x")
    with pytest.raises(SpecError, match="no rule for Abs"):
        graph_of(sp.Abs(x) + x)


def test_syntax_errors_share_the_formula_formatter():
    from lark.exceptions import UnexpectedInput

    from symbackprop.graph import analysis as graph_module

    for text in ("2x + 1", "x $ 2", "(a+b"):
        try:
            graph_module._parser().parse(text)
        except UnexpectedInput as error:
            shared = syntax_error(text, error, "expression",
                                  lambda names, at, text=text: graph_module._expected(names, text, at),
                                  graph_module._CHARACTERS)
        with pytest.raises(FormulaError) as caught:
            parse_graph(text)
        assert str(caught.value) == str(shared) and caught.value.position == shared.position
        assert str(shared).splitlines()[-1].strip() == "^"


@pytest.mark.parametrize("text, message, column", [
    ("(a+b)*(b+", "expected an operand", 10),
    ("2x + 1", "expected '+', '-', '*', '/', '^' or the end of the expression; found 'x'", 2),
    ("(a+b", "expected ')'", 5),
    ("a + b)", "found ')'", 6),
    ("foo(x)", "unknown function 'foo'", 1),
    ("exp + 1", "exp is a function", 1),
    ("x^100", "exponent 100 is too large", 2),
    ("x / 0", "division by zero", 3),
    ("x $ 2", "the character '$'", 3),
    ("2 + 3", "has no variable", None),
    ("log(0) + x", "not a finite real number", 1),
])
def test_bad_text_names_position_and_expectation(text, message, column):
    with pytest.raises(FormulaError) as caught:
        parse_graph(text)
    assert message in str(caught.value)
    if column is not None:
        assert caught.value.position == column - 1
        assert str(caught.value).endswith("\n  " + text + "\n  " + " " * (column - 1) + "^")


def test_hostile_text_is_refused_before_work():
    with pytest.raises(FormulaError, match="characters"):
        parse_graph("x+" * 3000 + "x")
    with pytest.raises(FormulaError, match="nested more than"):
        parse_graph("(" * 50 + "x" + ")" * 50)
    with pytest.raises(FormulaError, match=f"more than {MAX_DEPTH} deep"):
        parse_graph("x" + "^x" * 150)
    with pytest.raises(FormulaError, match="digits"):
        parse_graph("x + " + "9" * 400)
    with pytest.raises(FormulaError, match="too large"):
        parse_graph("x * 2^2^2^2^2")


def test_text_is_never_evaluated(monkeypatch):
    import builtins

    import sympy.parsing.sympy_parser as sympy_parser

    def refuse(*args, **kwargs):
        raise AssertionError("user text was evaluated")

    real_sympify = sp.sympify

    def sympify_non_text(value, *args, **kwargs):
        if isinstance(value, str):
            raise AssertionError(f"sympify was given text: {value!r}")
        return real_sympify(value, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    monkeypatch.setattr(sympy_parser, "parse_expr", refuse)
    monkeypatch.setattr(sp, "sympify", sympify_non_text)
    graph = parse_graph("exp(x) * y + 1/2")
    assert graph.expression == sp.exp(sp.Symbol("x")) * sp.Symbol("y") + sp.Rational(1, 2)
    with pytest.raises(FormulaError):
        parse_graph("__import__('os').system('true')")


# ---------------------------------------------------------------- points


def test_parse_point_reads_exact_numbers():
    assert parse_point("a=2, b=-0.5,c=1/3, d=1e-2") == {
        "a": 2, "b": sp.Rational(-1, 2), "c": sp.Rational(1, 3), "d": sp.Rational(1, 100)}


@pytest.mark.parametrize("text, message", [
    ("a=x", "the value of a is 'x', not a number"),
    ("a", "'a' is not a value; expected name=number"),
    ("a=1,a=2", "a is given twice"),
    ("a=1/0", "division by zero"),
    ("", "no values given"),
])
def test_bad_points(text, message):
    with pytest.raises(SpecError, match=message):
        parse_point(text)


@pytest.mark.parametrize("value, digits", [
    ("1e299", None), ("-1e-299", None), ("1e300", "301"), ("1e-300", "301"), ("1e400", "more than 300"),
    ("1e9999", "more than 300"), ("1" * 5000, "more than 300"), (10 ** 400, "401"),
], ids=["1e299", "-1e-299", "1e300", "1e-300", "1e400", "1e9999", "5000 ones", "int 10^400"])
def test_exact_values_are_bounded_in_digits(value, digits):
    # 5000 digits of text would even overflow Python's int() (limit 4300)
    if digits is None:
        assert abs(parse_point(f"a={value}")["a"]) in (sp.Integer(10) ** 299, sp.Rational(1, 10 ** 299))
        return
    with pytest.raises(SpecError, match=f"an exact number of {digits} digits; expected at most {MAX_DIGITS}"):
        parse_point(f"a={value}") if isinstance(value, str) else evaluate(parse_graph("a+1"), {"a": value})


def test_a_value_too_large_is_refused_at_its_node():
    # exp(exp(10)) ≈ 10^9565: refused there, before exp of it (whose decimal expansion never ends) is needed
    with pytest.raises(SpecError) as caught:
        evaluate(parse_graph("exp(exp(exp(a)))"), {"a": 10})
    assert str(caught.value) == ("node c = exp(b) at a = 10 is about 10^9565 in size; expected at most "
                                 f"10^{MAX_DIGITS} (choose smaller values or a smaller expression)")
    assert evaluate(parse_graph("exp(exp(a))"), {"a": 5}).values[-1] == sp.exp(sp.exp(5))  # ≈ 10^64
    # 2^(10^299) is refused from its estimate, before SymPy would compute the integer exactly
    with pytest.raises(SpecError, match=r"node b = 2\^a at a = 1000.*about 10\^\(3.01e\+298\)"):
        evaluate(parse_graph("2^a"), {"a": 10 ** 299})
    # a small value whose exact form is too long: (1/3)^8000
    with pytest.raises(SpecError, match="node d = c²⁰ at a = 1/3 is an exact number with 3817 digits"):
        evaluate(parse_graph("((a^20)^20)^20"), {"a": sp.Rational(1, 3)})
    # an edge: d(x^-2)/dx = -2 x^-3 is 2·10^300 at x = 10^-100, where x^-2 is only 10^200
    with pytest.raises(SpecError, match="derivative of a with respect to x at x = 1/1000.* 10\\^300 in size"):
        evaluate(parse_graph("x^-2"), {"x": sp.Rational(1, 10 ** 100)})
    assert MAX_MAGNITUDE == 10 ** MAX_DIGITS


def test_a_derivative_too_large_is_refused_in_the_sweep():
    # every node and edge is bounded (|sin| ≤ 1, each edge ≈ 10^250), their product along the chain is not
    big = "9" * 250
    point = evaluate(parse_graph(f"sin({big}*sin({big}*sin(a)))"), {"a": 1})
    with pytest.raises(SpecError, match="∂e/∂a at a = 1 is an exact number with 500 digits"):
        forward_mode(point, "a")
    with pytest.raises(SpecError, match="∂f/∂b at a = 1 is an exact number with 500 digits"):
        reverse_mode(point)
    with pytest.raises(SpecError, match="the product along the path a → b → c → d → e → f at a = 1"):
        path_sums(point)


def test_point_must_match_the_variables(seed):
    graph, _ = seed
    with pytest.raises(SpecError) as caught:
        evaluate(graph, {"a": 1, "z": 3})
    assert caught.value.problems == (
        "z is not a variable of (a+b)*(b+1); its variables are a, b",
        "no value for b; expected a value for every variable (a, b), such as --at a=1,b=1",
    )
    with pytest.raises(SpecError, match="log"):
        evaluate(parse_graph("log(x)"), {"x": 0})
    with pytest.raises(SpecError, match="derivative of a with respect to x is undefined"):
        evaluate(parse_graph("sqrt(x)"), {"x": 0})


# ---------------------------------------------------------------- drawing and documents


def test_layout_by_level_with_values_and_derivatives(seed):
    _, point = seed
    drawing = layout(point, printing.latex, printing.text)
    xs = {n.text: n.x for n in drawing.nodes}
    assert xs["a"] == xs["b"] < xs["c"] == xs["d"] < xs["e"]
    assert [n.value_text for n in drawing.nodes] == ["2", "1", "3", "2", "6"]
    assert [e.text for e in drawing.edges] == ["1", "1", "1", "d = 2", "c = 3"]
    for item in drawing.nodes:
        assert 0 < item.x < drawing.width and 0 < item.value_y < drawing.height
    for edge in drawing.edges:
        assert 0 < edge.label_x < drawing.width and 0 < edge.label_y < drawing.height


def test_parallel_edges_are_bent_apart():
    graph = parse_graph("(x*x*x)*(x*x*x)*(x*x*x)")
    drawing = layout(evaluate(graph, {"x": 2}), printing.latex, printing.text)
    assert [e.bend for e in drawing.edges[:3]] == [-24.0, 0.0, 24.0]
    assert len({(e.label_x, e.label_y) for e in drawing.edges}) == 6


def test_markdown_document_shows_both_modes_and_the_paths(seed):
    analysis = analyse(SEED, AT)
    doc = render_graph(analysis, "md", figure="graph.svg")
    text = doc.text
    assert r"e = \left(a + b\right) \left(b + 1\right)" in text
    assert r"$b \to c \to e$: $1 \cdot 2 = 2$" in text and r"$b \to d \to e$: $1 \cdot 3 = 3$" in text
    assert r"\frac{\partial e}{\partial b} &= 1 \cdot 2 + 1 \cdot 3 \\" in text
    # forward from b and the reverse sweep both reach 5 at b
    # in the tables, running text: derivatives written ∂e/∂b, which do not spread the lines
    assert r"$\partial e / \partial b = d \partial c / \partial b + c \partial d / \partial b " \
           r"= 2 \cdot 1 + 3 \cdot 1 = 5$" in text
    assert r"$\partial e / \partial b = \partial e / \partial c \cdot 1 + " \
           r"\partial e / \partial d \cdot 1 = 2 \cdot 1 + 3 \cdot 1 = 5$" in text
    assert "![" in text and "(graph.svg)" in text
    svg = ET.fromstring(doc.attachments["graph.svg"].split("\n", 1)[1])
    assert len(svg.findall(".//{http://www.w3.org/2000/svg}path")) == 1 + 5  # the arrow head and 5 edges
    assert render_graph(analysis, "md", figure="graph.svg").text == text  # deterministic


def test_modes_can_be_chosen():
    forward = render_graph(analyse(SEED, AT, "forward"), "md").text
    reverse = render_graph(analyse(SEED, AT, "reverse"), "md").text
    assert "## Forward mode" in forward and "## Reverse mode" not in forward
    assert "## Reverse mode" in reverse and "## Forward mode" not in reverse
    with pytest.raises(SpecError, match="unknown mode 'sideways'"):
        analyse(SEED, AT, "sideways")


def test_latex_and_chinese_documents():
    analysis = analyse(SEED, AT)
    tex = render_graph(analysis, "tex").text
    assert tex.startswith("\\documentclass") and "\\begin{tikzpicture}" in tex and tex.rstrip().endswith(
        "\\end{document}")
    zh = render_graph(analysis, "md", "zh").text
    assert "前向模式" in zh and "反向模式" in zh and "Forward" not in zh
    assert "作为输入变量的函数" in zh and "作为输入的函数" not in zh
    assert "ctexart" in render_graph(analysis, "tex", "zh").text
    text = render_graph(analysis, "text").text
    assert "∂e/∂b = ∂e/∂c·1 + ∂e/∂d·1 = 2·1 + 3·1 = 5" in text


def test_render_graph_refuses_unknown_choices():
    analysis = analyse(SEED, AT)
    for args, message in ((("pdf",), "unknown format 'pdf'"), (("md", "fr"), "unknown language 'fr'"),
                          (("md", "en", "obsidian"), "unknown flavor 'obsidian'")):
        with pytest.raises(SpecError, match=message):
            render_graph(analysis, *args)


def test_json_document(seed):
    data = json.loads(render_graph(analyse(SEED, AT), "json").text)
    assert data["reverse"]["gradient"] == {"a": "2", "b": "5"}
    assert [p["nodes"] for p in data["paths"][1]["paths"]] == [["b", "c", "e"], ["b", "d", "e"]]
    assert data["counts"]["edges_reverse_sweep"] == 5 and data["check"]["ok"] is True


# ---------------------------------------------------------------- command line


def test_cli_prints_both_modes(capsys):
    assert main(["graph", SEED, "--at", "a=2,b=1"]) == 0
    out = capsys.readouterr().out
    assert "∂e/∂a = d·∂c/∂a = 2·1 = 2" in out and "∂e/∂b = 1·2 + 1·3 = 5" in out


def test_cli_writes_markdown_and_svg(tmp_path, capsys):
    target = tmp_path / "graph.md"
    assert main(["graph", SEED, "--at", "a=2,b=1", "--format", "md", "--lang", "zh", "-o", str(target)]) == 0
    assert "反向模式" in target.read_text(encoding="utf-8")
    assert (tmp_path / "graph.svg").read_text(encoding="utf-8").startswith("<?xml")


@pytest.mark.parametrize("argv", [
    ["graph", SEED, "--at", "a=2,b=1", "--format", "md"],
    ["derive", "--layers", "2,1", "--format", "md", "--method", "none"],
    ["diffusion", "--depth", "1", "--width", "2", "--draws", "1", "--activation", "relu", "--format", "md"],
])
def test_markdown_output_named_like_its_figure_is_refused(tmp_path, capsys, argv):
    # the figure beside x.svg is x.svg: writing both would leave the Markdown in place of the drawing
    target = tmp_path / "x.svg"
    assert main([*argv, "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symbackprop: error: the output") and "also the name of the figure" in err
    assert "x.md" in err and list(tmp_path.iterdir()) == []


def test_cli_refuses_a_value_too_large_in_one_line(capsys):
    assert main(["graph", "exp(exp(exp(a)))", "--at", "a=10", "--format", "md"]) == 2
    err = capsys.readouterr().err
    assert err == (f"symbackprop: error: node c = exp(b) at a = 10 is about 10^9565 in size; expected at most "
                   f"10^{MAX_DIGITS} (choose smaller values or a smaller expression)\n")


@pytest.mark.parametrize("argv, message", [
    (["(a+b)*(b+", "--at", "a=1,b=1"], "expected an operand"),
    (["(a+b)*(b+1)", "--at", "a=1e400,b=1"], "the value of a is '1e400', an exact number of more than 300"),
    (["(a+b)*(b+1)", "--at", "a=1,b=1,z=2"], "z is not a variable"),
    (["(a+b)*(b+1)", "--at", "a=1"], "no value for b"),
    (["(a+b)*(b+1)", "--at", "a=one,b=1"], "the value of a is 'one', not a number"),
    (["(a+b)*(b+1)", "--at", "a=1,b=1", "--mode", "sideways"], "unknown mode 'sideways'"),
    (["(a+b)*(b+1)", "--at", "a=1,b=1", "--format", "pdf"], "unknown format 'pdf'"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, message):
    target = tmp_path / "out.md"
    assert main(["graph", *argv, "--format" if "--format" not in argv else "--lang",
                 "md" if "--format" not in argv else "en", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.startswith("symbackprop: error: ")
    assert list(tmp_path.iterdir()) == []
