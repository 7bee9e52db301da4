"""Oversized requests: refused from a count of their work before any of it starts, with the limit,
the reason and what does fit; accepted requests stay within a counted bound."""

import json

import pytest
import sympy as sp

from hostile import no_derivation, refused, run_main  # noqa: F401 (a fixture)
from symbackprop import Network, derive
from symbackprop.cli import MAX_DOCUMENT_EQUATIONS
from symbackprop.errors import SpecError
from symbackprop.proof import budget
from symbackprop.proof.equations import EXACT_LIMIT, plan

WIDE = "100000,100000"
ENORMOUS = "1000000000000000000,2"
DEEP = ",".join(["2"] * 2000)


@pytest.mark.parametrize("layers", [WIDE, ENORMOUS, DEEP])
def test_derive_refuses_before_deriving(capsys, tmp_path, no_derivation, layers):
    err = refused(capsys, tmp_path, ["derive", "--layers", layers, "--format", "md", "-o", tmp_path / "d.md"],
                  f"its limit is {budget.DOCUMENT_WORK:,}")
    assert "work units" in err and "because" in err


@pytest.mark.parametrize("argv", [
    ["codegen", "--layers", WIDE],
    ["codegen", "--layers", ENORMOUS],
    ["check", "--layers", WIDE, r"\delta^{2}_{1} = a^{2}_{1} - y_{1}"],
    ["evaluate", "--layers", ENORMOUS, "--values", "v.json", "--format", "json"],
])
def test_every_command_refuses_an_enormous_network(capsys, tmp_path, no_derivation, argv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v.json").write_text('{"x": [1], "y": [1]}')
    refused(capsys, tmp_path, argv, f"a derivation takes at most {budget.MAX_PARAMETERS:,}")


@pytest.mark.parametrize("name, text", [
    ("net.toml", "layers = [100000, 100000]\n"),
    ("net.json", json.dumps({"layers": [10**18, 2]})),
])
def test_spec_files_are_counted_too(capsys, tmp_path, no_derivation, name, text):
    spec = tmp_path / name
    spec.write_text(text)
    refused(capsys, tmp_path, ["derive", spec], "parameters")
    refused(capsys, tmp_path, ["codegen", spec], f"at most {budget.MAX_PARAMETERS:,}")


def test_a_large_check_names_the_method_that_fits(capsys, tmp_path, no_derivation):
    # 2,000 layers of width 2 derive in named intermediates, but the numeric cross-check reruns the layers
    # after every one of their 4,000 weighted inputs (about 960 million units)
    err = refused(capsys, tmp_path, ["derive", "--layers", DEEP], "the numeric check of 2-2-2-…-2-2 (2,000 layers)",
                  f"its limit is {budget.NUMERIC_WORK:,}", "--method inductive")
    assert "40-digit" in err
    assert budget.numeric_work(Network([784, 300, 100, 10]), 3, 2) <= budget.NUMERIC_WORK


@pytest.mark.parametrize("layers", [WIDE, ENORMOUS])
def test_a_network_too_large_to_derive_is_refused_for_that_and_no_method_is_offered(capsys, tmp_path, no_derivation,
                                                                                     layers):
    err = refused(capsys, tmp_path, ["derive", "--layers", layers], f"a derivation takes at most {budget.MAX_PARAMETERS:,}")
    assert "--method" not in err


def test_exact_on_a_deep_network_is_refused_and_auto_does_not_choose_it(capsys, tmp_path, no_derivation):
    network = Network([2] * 40)
    assert network.parameter_count <= EXACT_LIMIT and budget.exact_work(network) > budget.EXACT_WORK
    refused(capsys, tmp_path, ["derive", "--layers", ",".join(["2"] * 40), "--method", "exact"],
            "--method exact on", f"its limit is {budget.EXACT_WORK:,}", "--method inductive")
    assert plan(network, "auto") == ("inductive", True)
    assert plan(Network([2, 3, 2]), "auto") == ("exact", True)


def test_the_api_refuses_the_same_way():
    with pytest.raises(SpecError, match="a derivation takes at most"):
        derive(Network([100_000, 100_000]))
    with pytest.raises(SpecError, match="--method exact on 2-2-2-…-2-2 \\(40 layers\\)"):
        derive(Network([2] * 40)).check("exact")


def test_what_fits_is_accepted(capsys):
    # the largest network the gallery's tests write in full, and a deep but narrow one by induction
    for sizes, method in (([784, 30, 10], "inductive"), ([2] * 60, "inductive")):
        network = Network(sizes)
        budget.require_documentable(network)
        plan(network, method)
    code, out, err = run_main(capsys, "derive", "--layers", ",".join(["2"] * 30), "--method", "inductive")
    assert code == 0, err


def test_check_doc_takes_a_bounded_document(capsys, tmp_path):
    claim = r"$$\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})$$"
    document = tmp_path / "many.md"
    document.write_text("\n\n".join([claim] * (MAX_DOCUMENT_EQUATIONS + 1)))
    refused(capsys, tmp_path, ["check-doc", document], f"{MAX_DOCUMENT_EQUATIONS + 1:,} display equations",
            f"at most {MAX_DOCUMENT_EQUATIONS:,}")
    document.write_text("x" * 1_000_001)
    refused(capsys, tmp_path, ["check-doc", document], "1,000,001 characters")


def _dag_nodes(expr) -> int:
    """The distinct subexpressions of ``expr``: its size as SymPy stores it, shared parts once."""
    seen, stack = set(), [expr]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.args)
    return len(seen)


@pytest.mark.parametrize("sizes, bound", [([2, 2, 2, 2], 400), ([2, 3, 3, 2], 600), ([1, 3, 4, 2, 3], 800)])
def test_composed_relu_gradients_stay_small(sizes, bound):
    # nested Piecewise folded its conditions into every combination of cases: 2.6 million
    # nodes for 1-3-4-2-3; with the Heaviside step the form grows with the network
    d = derive(Network(sizes, activation="relu"))
    for key in (("w", 1, 1, 1), d.params[-1]):
        form = d.gradient(key, form="composed")
        assert not form.has(sp.Piecewise)
        assert _dag_nodes(form) <= bound, _dag_nodes(form)


def test_composed_relu_gradient_has_the_value_of_the_piecewise_one():
    # on a 1-1-1 network the nested Piecewise is still small: both forms agree wherever they are defined
    d = derive(Network([1, 1, 1], activation="relu"))
    network_symbols = [d.symbol(k) for k in d.params] + list(d.inputs) + list(d.targets)
    piecewise = d.forward.a_definition(2, 1)
    stepped = d.gradient(("w", 1, 1, 1), form="composed")
    reference = sp.diff(d.network.cost.total([d.forward.composed(piecewise)], d.targets), d.symbol(("w", 1, 1, 1)))
    for values in ([1, 2, 3, 4, 5, 6, 7], [-1, 2, 3, -4, 5, 6, -7], [1, -2, 3, 4, 5, 6, 7]):
        point = dict(zip(network_symbols, map(sp.Integer, values)))
        assert stepped.xreplace(point) == reference.xreplace(point)


def test_a_layer_too_wide_is_refused_though_its_parameters_fit(capsys, tmp_path, no_derivation):
    # 1-100000 has 200,000 parameters, within the derivation's limit, but a layer of 100,000 neurons
    assert Network([1, 100_000]).parameter_count <= budget.MAX_PARAMETERS
    refused(capsys, tmp_path, ["derive", "--layers", "1,100000", "--method", "none"],
            f"a derivation takes at most {budget.MAX_WIDTH:,} in one layer")
