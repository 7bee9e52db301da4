"""The commands evaluate, codegen and diffusion: output, files, and bad input (exit 2, nothing written)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mpmath
import pytest
import sympy as sp

from symbackprop import Network, cli, derive
from symbackprop.diffusion import PLOT_HINT
from symbackprop.numbers import parse_key
from symbackprop.proof.oracle import CostOracle

ROOT = Path(__file__).resolve().parent.parent

#: a 2-2-2 sigmoid network with biases, at a point whose numbers are easy to check by hand
VALUES = {
    "w,1,1,1": 0.15, "w,1,1,2": 0.2, "w,1,2,1": 0.25, "w,1,2,2": 0.3, "b,1,1": 0.35, "b,1,2": 0.35,
    "w[2,1,1]": 0.4, "w[2,1,2]": 0.45, "w[2,2,1]": 0.5, "w[2,2,2]": 0.55, "b,2,1": 0.6, "b,2,2": 0.6,
    "x": [0.05, 0.1], "y": [0.01, 0.99],
}
NETWORK = ["--layers", "2,2,2", "--activation", "sigmoid", "--cost", "quadratic"]


def values_file(tmp_path, data=VALUES, name="values.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


def run_main(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fails_cleanly(capsys, tmp_path, argv, fragment):
    """Exit 2, one message on stderr naming the problem, no traceback, no file written."""
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run_main(capsys, *argv)
    assert code == 2, (out, err)
    assert err.startswith("symbackprop: error: ") and err.count("symbackprop: error:") == 1, err
    assert fragment in err, err
    assert "Traceback" not in err and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    return err


# ---------------------------------------------------------------------- evaluate


def test_evaluate_json_carries_exact_values_and_rounded_numbers(capsys, tmp_path):
    code, out, err = run_main(capsys, "evaluate", *NETWORK, "--values", values_file(tmp_path), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["network"]["layers"] == [2, 2, 2] and data["digits"] == 6
    assert data["lr"] == {"value": "0.5", "rounded": 0.5, "exact": "1/2"}
    # the first layer's weighted input is exact: 0.15·0.05 + 0.2·0.1 + 0.35 = 3775/10000
    assert data["layers"][0]["z"][0]["exact"] == "151/400"
    gradients = {g["key"]: g for g in data["gradients"]}
    # every gradient agrees with the finite-difference oracle at 40 digits (the full string, not the rounded one)
    network = Network([2, 2, 2], activation="sigmoid", cost="quadratic")
    derivation = derive(network)
    params = {parse_key(k): sp.Rational(str(v)) for k, v in VALUES.items() if k not in ("x", "y")}
    x = [sp.Rational(str(v)) for v in VALUES["x"]]
    y = [sp.Rational(str(v)) for v in VALUES["y"]]
    assert set(params) == set(derivation.params) and len(gradients) == len(params)
    oracle = CostOracle(network)
    for key in derivation.params:
        entry = gradients[",".join(map(str, key))]
        expected = oracle.gradient(key, params, x, y)
        with mpmath.workdps(40):
            assert abs(mpmath.mpf(entry["gradient"]["exact"]) - expected) < mpmath.mpf("1e-30"), key
        assert entry["gradient"]["rounded"] == pytest.approx(float(expected), rel=1e-5)
        assert entry["gradient"]["rounded"] == float(entry["gradient"]["value"])
        # one step of gradient descent with η = 1/2
        updated = sp.Float(entry["updated"]["exact"], 40)
        assert abs(updated - (params[key] - sp.Rational(1, 2) * sp.Float(entry["gradient"]["exact"], 40))) < 1e-35
    # the chain rule's factors, named in the notation's text
    first = gradients["w,2,1,1"]
    assert [f["symbol"] for f in first["factors"]] == ["∂C/∂a³₁", "∂a³₁/∂z³₁", "∂z³₁/∂w³₁₁"]


def test_evaluate_text_digits_and_learning_rate(capsys, tmp_path):
    path = values_file(tmp_path)
    code, out, err = run_main(capsys, "evaluate", *NETWORK, "--values", path, "--digits", "4", "--lr", "1/10")
    assert code == 0, err
    assert "z²₁ = w²₁₁·x₁ + w²₁₂·x₂ + b²₁ = 0.15·0.05 + 0.2·0.1 + 0.35 = 0.3775" in out
    assert "C = (a³₁ - y₁)²/2 + (a³₂ - y₂)²/2 = 0.2984" in out  # 0.298371..., 4 digits
    assert "δ³₁ = ∂C/∂a³₁·∂a³₁/∂z³₁ = 0.7414·0.1868 = 0.1385" in out
    assert "η = 0.1" in out
    # w³₁₁ − η ∂C/∂w³₁₁ with η = 1/10: 0.4 − 0.1·0.082167 = 0.391783
    assert "w³₁₁ - η·∂C/∂w³₁₁ = 0.4 - 0.1·0.08217 = 0.3918" in out
    assert "4 significant digits" in out


@pytest.mark.parametrize("fmt, lang, marker", [
    ("md", "en", "## The backward pass"), ("tex", "en", "\\documentclass"), ("md", "zh", "## 反向传播"),
    ("tex", "zh", "ctexart"),
])
def test_evaluate_writes_documents(capsys, tmp_path, fmt, lang, marker):
    target = tmp_path / f"worked.{fmt}"
    code, out, err = run_main(capsys, "evaluate", *NETWORK, "--values", values_file(tmp_path), "--format", fmt,
                              "--lang", lang, "-o", str(target))
    assert code == 0 and out == "", err
    text = target.read_text(encoding="utf-8")
    assert marker in text
    assert "0.3775" in text and "0.298371" in text  # z²₁ and the cost, 6 digits


def test_evaluate_spec_file_and_flags_override_it(capsys, tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text('layers = [2, 2, 2]\nactivation = "tanh"\ncost = "quadratic"\n', encoding="utf-8")
    path = values_file(tmp_path)
    code, tanh, _ = run_main(capsys, "evaluate", str(spec), "--values", path, "--format", "json")
    code2, sigmoid, _ = run_main(capsys, "evaluate", str(spec), "--activation", "sigmoid", "--values", path,
                                 "--format", "json")
    assert code == code2 == 0
    assert json.loads(tanh)["network"]["activation"] == ["tanh", "tanh"]
    assert json.loads(sigmoid)["network"]["activation"] == ["sigmoid", "sigmoid"]
    assert json.loads(tanh)["cost"] != json.loads(sigmoid)["cost"]


def test_evaluate_is_deterministic(capsys, tmp_path):
    path = values_file(tmp_path)
    first = run_main(capsys, "evaluate", *NETWORK, "--values", path, "--format", "md")[1]
    second = run_main(capsys, "evaluate", *NETWORK, "--values", path, "--format", "md")[1]
    assert first == second


def _without(key):
    return {k: v for k, v in VALUES.items() if k != key}


@pytest.mark.parametrize("data, fragment", [
    (_without("b,2,2"), "no value for 1 parameter(s): b,2,2"),
    ({**VALUES, "w,3,1,1": 0.1}, "unknown key(s) w,3,1,1"),
    ({**VALUES, "w,1,1,1": "0.15"}, "values['w,1,1,1'] is '0.15'; expected a number"),
    ({**VALUES, "x": [0.05]}, "x has 1 values; expected 2"),
    (_without("y"), "no 'y'; expected a list of 2 numbers"),
    ([1, 2], "the values are a list; expected an object"),
    ('{"w,1,1,1": 0.15,\n "x": [1, 2,]}', "invalid JSON at line 2, column 13: Expecting value"),
])
def test_evaluate_bad_values(capsys, tmp_path, data, fragment):
    path = values_file(tmp_path, data)
    out = tmp_path / "out.md"
    fails_cleanly(capsys, tmp_path, ["evaluate", *NETWORK, "--values", path, "--format", "md", "-o", str(out)],
                  fragment)


@pytest.mark.parametrize("extra, fragment", [
    (["--format", "pdf"], "unknown format 'pdf'"),
    (["--lang", "fr"], "unknown language 'fr'"),
    (["--lr", "fast"], "--lr 'fast' is not a number"),
    (["--lr", "-1"], "learning rate -1; expected a positive number"),
    (["--digits", "0"], "digits 0; expected a whole number of significant digits from 1 to 40"),
    (["--activation", "generic"], "a generic activation σ has no numeric values"),
])
def test_evaluate_bad_options(capsys, tmp_path, extra, fragment):
    path = values_file(tmp_path)
    fails_cleanly(capsys, tmp_path, ["evaluate", *NETWORK, "--values", path, *extra, "-o", str(tmp_path / "o.txt")],
                  fragment)


def test_an_unknown_key_is_answered_with_the_valid_keys_as_the_user_writes_them(capsys, tmp_path):
    err = fails_cleanly(capsys, tmp_path, ["evaluate", *NETWORK, "--values",
                                           values_file(tmp_path, {**VALUES, "w,3,1,1": 0.1})], "w,3,1,1")
    assert "Derivation.params" not in err
    assert "expected the parameters of this network: w,1,1,1 w,1,1,2 w,1,2,1 w,1,2,2 b,1,1 b,1,2 … b,2,1 b,2,2 " \
           "(12 keys)" in err


def test_a_document_for_a_large_network_is_refused_before_any_work(capsys, tmp_path, monkeypatch):
    from symbackprop.numbers import DOCUMENT_PARAMETERS

    class Derived(Exception):
        pass

    def derive(network):
        raise Derived(network.parameter_count)

    monkeypatch.setattr(cli, "derive", derive)
    values = values_file(tmp_path)
    for fmt in ("text", "md", "tex"):
        err = fails_cleanly(capsys, tmp_path, ["evaluate", "--layers", "784,30,10", "--values", values,
                                               "--format", fmt], "has 23860 parameters")
        assert f"at most {DOCUMENT_PARAMETERS}" in err and "use --format json" in err
    fails_cleanly(capsys, tmp_path, ["evaluate", "--layers", "1,67,1", "--values", values], "has 202 parameters")
    # JSON has no limit, and a network of exactly DOCUMENT_PARAMETERS parameters still gets its document
    for argv in (["--layers", "784,30,10", "--format", "json"], ["--layers", "1,100,1", "--no-bias"]):
        with pytest.raises(Derived):
            cli.main(["evaluate", *argv, "--values", values])
    assert DOCUMENT_PARAMETERS == 200


def test_evaluate_json_keeps_whole_numbers_whole(capsys, tmp_path):
    data = {"w,1,1,1": 1, "b,1,1": 0, "x": [2], "y": [0.5]}
    argv = ["evaluate", "--layers", "1,1", "--activation", "identity", "--values", values_file(tmp_path, data)]
    code, text, _ = run_main(capsys, *argv)
    assert code == 0 and "z²₁ = w²₁₁·x₁ + b²₁ = 1·2 + 0 = 2" in text
    code, out, _ = run_main(capsys, *argv, "--format", "json")
    data = json.loads(out)
    assert data["x"][0] == {"value": "2", "rounded": 2, "exact": "2"}
    assert data["layers"][0]["z"][0]["value"] == "2" and data["y"][0]["value"] == "0.5"


def test_evaluate_missing_values_file(capsys, tmp_path):
    fails_cleanly(capsys, tmp_path, ["evaluate", *NETWORK, "--values", str(tmp_path / "none.json")],
                  "does not exist")


# ---------------------------------------------------------------------- codegen


def test_codegen_writes_a_module_that_runs_without_symbackprop(capsys, tmp_path):
    pytest.importorskip("numpy")
    target = tmp_path / "xor_net.py"
    code, out, err = run_main(capsys, "codegen", "--layers", "2,2,1", "--activation", "sigmoid",
                              "--cost", "binary_cross_entropy", "--mean", "-o", str(target))
    assert code == 0 and out == "", err
    assert [p.name for p in tmp_path.iterdir()] == ["xor_net.py"]  # no temporary file left behind
    script = (
        "import sys\n"
        "sys.modules['symbackprop'] = None  # importing symbackprop would fail\n"
        "import numpy as np, xor_net\n"
        "X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=float); Y = np.array([[0, 1, 1, 0]], dtype=float)\n"
        "p = xor_net.init_params(seed=1); start = xor_net.cost(p, X, Y)\n"
        "for _ in range(3000):\n"
        "    g = xor_net.gradients(p, X, Y)\n"
        "    p = {k: p[k] - 2.0 * g[k] for k in xor_net.PARAMETERS}\n"
        "print(start, xor_net.cost(p, X, Y), (xor_net.predict(p, X) > 0.5).astype(int).tolist())\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    start, final, predictions = result.stdout.split(" ", 2)
    assert float(final) < float(start) / 2 and float(final) < 0.05
    assert predictions.strip() == "[[0, 1, 1, 0]]"


def test_codegen_prints_to_stdout_and_reads_spec_files(capsys, tmp_path):
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps({"layers": [3, 2], "activation": "tanh"}), encoding="utf-8")
    code, out, err = run_main(capsys, "codegen", str(spec))
    assert code == 0, err
    assert "SIZES = (3, 2)" in out or "SIZES = [3, 2]" in out
    assert "numpy.tanh" in out and "symbackprop" not in out.split('"""', 2)[2]
    compile(out, "generated.py", "exec")


def test_codegen_and_derive_write_through_the_one_writer(capsys, tmp_path, monkeypatch):
    written = []
    monkeypatch.setattr(cli, "_write_or_print", lambda output, document: written.append((output, document)))
    target = str(tmp_path / "network.py")
    assert run_main(capsys, "codegen", "--layers", "2,2", "-o", target)[0] == 0
    assert written[-1][0] == target and "def gradients(" in written[-1][1].text
    assert not written[-1][1].attachments and not (tmp_path / "network.py").exists()
    assert run_main(capsys, "codegen", "--layers", "2,2")[0] == 0 and written[-1][0] is None


def test_unknown_choices_of_every_command_go_through_one_check(capsys, monkeypatch):
    seen = []
    real = cli._known_names
    monkeypatch.setattr(cli, "_known_names", lambda *choices, **kw: (seen.append(choices), real(*choices, **kw)))
    code, _, err = run_main(capsys, "derive", "--format", "pdf", "--lang", "fr", "--templates", "/no/such/dir")
    assert code == 2 and seen and "unknown format 'pdf'" in err and "unknown language 'fr'" in err
    assert "--templates '/no/such/dir' is not a directory" in err


def test_codegen_bad_input(capsys, tmp_path):
    target = str(tmp_path / "net.py")
    fails_cleanly(capsys, tmp_path, ["codegen", "--layers", "2,2", "--activation", "generic", "-o", target],
                  "a generic activation σ has no code")
    fails_cleanly(capsys, tmp_path, ["codegen", "--layers", "2,2", "--activation", "swish", "-o", target],
                  "swish")
    fails_cleanly(capsys, tmp_path, ["codegen", "--layers", "2,2", "-o", str(tmp_path / "missing" / "net.py")],
                  "does not exist")


# ---------------------------------------------------------------------- diffusion


SMALL = ["diffusion", "--depth", "4", "--width", "6", "--draws", "2"]


def test_diffusion_markdown_writes_the_plot_beside_it(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "vanish.md"
    code, out, err = run_main(capsys, *SMALL, "-o", str(target))
    assert code == 0 and out == "", err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vanish.md", "vanish.svg"]
    text = target.read_text(encoding="utf-8")
    assert "](vanish.svg)" in text and PLOT_HINT not in text
    assert (tmp_path / "vanish.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert "4 hidden layers" in text
    for name in ("sigmoid", "tanh", "relu"):
        assert f"`{name}`" in text


def test_diffusion_latex_and_chinese(capsys, tmp_path):
    target = tmp_path / "vanish.tex"
    code, _, err = run_main(capsys, *SMALL, "--activation", "sigmoid,relu", "--format", "tex", "--lang", "zh",
                            "-o", str(target))
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["vanish.tex"]  # TikZ draws the plot: no attachment
    text = target.read_text(encoding="utf-8")
    assert "ctexart" in text and "\\begin{tikzpicture}" in text
    assert "{\\texttt{relu}}" in text and "{\\texttt{tanh}}" not in text


def test_diffusion_without_matplotlib_says_how_to_get_it(capsys, tmp_path, monkeypatch):
    for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    target = tmp_path / "vanish.md"
    code, _, err = run_main(capsys, *SMALL, "-o", str(target))
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["vanish.md"]  # no plot
    text = target.read_text(encoding="utf-8")
    assert f"`{PLOT_HINT}`" in text and ".svg)" not in text


def test_diffusion_without_numpy_exits_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)
    fails_cleanly(capsys, tmp_path, [*SMALL, "-o", str(tmp_path / "v.md")], "pip install numpy")


@pytest.mark.parametrize("lang, words", [
    ("en", "only when the document is written to a file with `-o`"),
    ("zh", "只有用 `-o` 把文档写入文件时才会生成"),
])
def test_diffusion_markdown_on_stdout_says_where_the_plot_would_be(capsys, tmp_path, monkeypatch, lang, words):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(capsys, *SMALL, "--lang", lang)
    assert code == 0, err
    assert words in out and ".svg)" not in out and list(tmp_path.iterdir()) == []
    target = tmp_path / "vanish.md"
    assert run_main(capsys, *SMALL, "--lang", lang, "-o", str(target))[0] == 0
    assert words not in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("extra, fragment", [
    (["--activation", "sigmoid,swish"], "unknown activation 'swish'"),
    (["--depth", "0"], "depth 0 is out of range"),
    (["--width", "5000"], "width 5000 is out of range"),
    (["--format", "text"], "unknown format 'text'"),
    (["--lang", "de"], "unknown language 'de'"),
])
def test_diffusion_bad_input(capsys, tmp_path, extra, fragment):
    fails_cleanly(capsys, tmp_path, [*SMALL, *extra, "-o", str(tmp_path / "v.md")], fragment)


def test_the_commands_run_as_a_user_runs_them(tmp_path):
    """One subprocess run: the entry point, exit status and stderr as a shell sees them."""
    path = values_file(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "symbackprop", "evaluate", *NETWORK, "--values", path,
                             "--lr", "abc"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "symbackprop: error: --lr 'abc' is not a number; expected e.g. 0.01 or 1/100\n"


@pytest.mark.parametrize("lang, words", [("en", "the binary cross-entropy"), ("zh", "代价函数为二元交叉熵")])
def test_terminal_text_names_the_cost_in_words(capsys, tmp_path, lang, words):
    path = values_file(tmp_path)
    code, out, err = run_main(capsys, "evaluate", "--layers", "2,2,2", "--activation", "sigmoid",
                              "--cost", "binary_cross_entropy", "--values", path, "--lang", lang)
    assert code == 0, err
    first = out.splitlines()[0]
    assert words in first and "binary_cross_entropy" not in first, first
