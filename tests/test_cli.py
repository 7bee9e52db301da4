"""The command line: output, exit status, bad input, atomic writing."""

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from symbackprop import cli
from symbackprop.model.activations import A, ACTIVATIONS, Activation, Z

ROOT = Path(__file__).resolve().parent.parent


def run_process(*args, cwd=None):
    """symbackprop in a new process, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "symbackprop", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def run(*args, cwd=None):
    """symbackprop's main() in this process, with its exit status and what it wrote to stdout and stderr.

    An exception it lets through fails the test (a user would see a traceback); the tests
    that need a real process (the entry point, output across processes) use run_process.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or os.getcwd()), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return subprocess.CompletedProcess(["symbackprop", *args], code, out.getvalue(), err.getvalue())


def test_default_derivation_prints_gradients_and_a_passing_check():
    result = run_process("derive")
    assert result.returncode == 0, result.stderr
    assert "∂C/∂w²₁₁ = " in result.stdout
    assert "Check of BP1–BP4 (auto): every fact holds" in result.stdout
    assert "Partial(" not in result.stdout and "delta[" not in result.stdout  # readable math, not SymPy's repr
    assert result.stderr == ""  # no progress when stderr is not a terminal


def test_flags_and_json():
    result = run("derive", "--layers", "2,2,2", "--activation", "sigmoid", "--cost", "quadratic", "--no-bias", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["network"]["layers"] == [2, 2, 2] and data["network"]["bias"] == [False, False]
    assert len(data["gradients"]) == 8
    assert data["check"]["ok"] is True
    assert {f["method"] for f in data["check"]["facts"]} == {"exact", "numeric"}
    first = data["gradients"][0]
    # in the order of the chain rule: the next layer's errors, the slope a(1 - a), then the input
    assert first["key"] == ["w", 1, 1, 1] and first["latex"].startswith(r"\left(\delta^{3}_{1}")
    assert first["latex"].endswith(r"a^{2}_{1} \left(1 - a^{2}_{1}\right) x_{1}")


def test_spec_files(tmp_path):
    toml = tmp_path / "net.toml"
    toml.write_text('layers = [2, 3, 2]\nactivation = ["tanh", "softmax"]\ncost = "cross_entropy"\n')
    result = run("derive", str(toml), "--method", "inductive")
    assert result.returncode == 0, result.stderr
    assert "activation softmax" in result.stdout
    js = tmp_path / "net.json"
    js.write_text(json.dumps({"layers": [2, 2], "cost": "binary_cross_entropy"}))
    assert run("derive", str(js), "--layers", "3,2", "--method", "none").returncode == 0


def test_large_networks_are_summarised_by_layer():
    result = run("derive", "--layers", "100,20,10", "--method", "none")
    assert result.returncode == 0
    assert "Gradients by layer" in result.stdout
    assert len(result.stdout.splitlines()) < 40


@pytest.mark.parametrize("args, needle", [
    (["--layers", "2,0,x"], "layer 3 has size 'x'"),  # Nielsen's numbering: the input is layer 1
    (["--activation", "swish"], "unknown activation 'swish'; expected one of:"),
    (["--cost", "hinge"], "unknown cost 'hinge'"),
    (["--layers", "2,2,2", "--activation", "softmax,sigmoid"], "softmax on layer 2"),
    (["--activation", "sigmoid,tanh,relu"], "has 3 entries; expected 2"),
    (["missing.toml"], "does not exist"),
    (["spec.yaml"], "expected .toml or .json"),
    (["--l2", "-1"], "negative"),
    (["--l2", "1/0"], "l2 strength '1/0' divides by zero"),
    (["--layers", "2,2,2", "--cost", "binary_cross_entropy", "--activation", "relu"],
     "cost binary_cross_entropy takes the logarithm of the output activation, which relu"),
    (["--layers", "2,2,2", "--cost", "cross_entropy", "--activation", "tanh"],
     "expected an output activation of: generic, sigmoid, softmax"),
])
def test_bad_input_exits_2_with_one_clear_message(args, needle, tmp_path):
    out = tmp_path / "out.txt"
    result = run("derive", *args, "-o", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not out.exists()


def test_bad_input_in_a_real_process_exits_2_without_a_traceback(tmp_path):
    out = tmp_path / "out.txt"
    result = run_process("derive", "--activation", "swish", "-o", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("symbackprop: error: ") and "unknown activation 'swish'" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == "" and not out.exists()


def test_malformed_spec_file_says_where(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text("layers = [2, 2]\ncost = \n")
    result = run("derive", str(spec))
    assert result.returncode == 2 and "invalid TOML" in result.stderr and "line" in result.stderr


def test_a_failing_check_exits_1(monkeypatch, capsys):
    wrong = Activation("sigmoid", 1 / (1 + sp.exp(-Z)), sp.exp(-Z) / (1 + sp.exp(-Z)) ** 2, A * (1 + A))
    monkeypatch.setitem(ACTIVATIONS, "sigmoid", wrong)
    assert cli.main(["derive", "--layers", "2,2,1", "--method", "inductive"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    # the report says which part failed: the planted identity, at BP1 and at BP2
    assert out.count("the identity σ' = a·(1 + a) FAILS") == 2, out
    assert "[FAIL] BP1 layer 3, inductive" in out and "[FAIL] BP2 layer 2, inductive" in out


def test_output_file_is_written_whole_and_replaced_atomically(tmp_path):
    out = tmp_path / "d.json"
    out.write_text("old")
    assert cli.main(["derive", "--layers", "2,2", "--json", "-o", str(out), "--method", "none"]) == 0
    assert json.loads(out.read_text())["network"]["layers"] == [2, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["d.json"]


def test_written_files_get_the_usual_mode(tmp_path):
    # a new file is readable as a plain open() would make it; a replaced file keeps its mode
    old_umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.md"
        cli.write_atomically(fresh, "x")
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.md"
        kept.write_text("old")
        kept.chmod(0o640)
        cli.write_atomically(kept, "new")
        assert kept.stat().st_mode & 0o777 == 0o640 and kept.read_text() == "new"
    finally:
        os.umask(old_umask)


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "d.txt"
    out.write_text("old")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cli.os, "replace", broken)
    with pytest.raises(cli.SpecError, match="cannot write .*d.txt.*: disk full"):
        cli.write_atomically(out, "new content")
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["d.txt"]


def test_output_is_deterministic():
    # two processes: each hashes strings with its own seed, so no set or dict order may leak into the output
    first = run_process("derive", "--layers", "2,3,2", "--activation", "tanh,sigmoid", "--json")
    second = run_process("derive", "--layers", "2,3,2", "--activation", "tanh,sigmoid", "--json")
    assert first.stdout == second.stdout and first.returncode == 0


def test_notations():
    result = run("derive", "--layers", "2,2,2", "--no-bias", "--notation", "ng", "--method", "none")
    assert "Θ⁽²⁾₁₁" in result.stdout
    result = run("derive", "--layers", "2,2,2", "--no-bias", "--notation", "nodes", "--method", "none")
    assert "∂C/∂w₃₅ = " in result.stdout


def test_console_script_entry_point_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'symbackprop = "symbackprop.cli:main"' in text


def test_a_learning_rate_that_divides_by_zero_is_refused(tmp_path):
    values = tmp_path / "values.json"
    params = {f"w,{l},{j},{k}": 0.1 * (j + k) for l in (1, 2) for j in (1, 2) for k in (1, 2)}
    params.update({f"b,{l},{j}": 0 for l in (1, 2) for j in (1, 2)})
    values.write_text(json.dumps({"x": [1, 2], "y": [0, 1], **params}))
    result = run("evaluate", "--layers", "2,2,2", "--values", str(values), "--lr", "1/0")
    assert result.returncode == 2
    assert "--lr '1/0' divides by zero" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- lecture notes and blog posts


def test_heading_level_lowers_a_fragment_under_a_lecture(capsys):
    assert cli.main(["derive", "--format", "tex", "--fragment", "--heading-level", "subsection"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\\subsection*{") and "\\subsection{The network}" in out
    assert "\\subsubsection{BP1: " in out and "\\section" not in out
    assert cli.main(["derive", "--format", "tex", "--fragment", "--heading-level", "chapter"]) == 0
    assert "\\chapter{The network}" in capsys.readouterr().out


def test_labels_match_the_printed_layer_of_their_heading(capsys):
    assert cli.main(["derive", "--format", "tex", "--fragment", "--label-prefix", "n"]) == 0
    out = capsys.readouterr().out
    assert "\\subsection{Layer 3}\\label{sec:n:layer-3}" in out and "layer-1}" not in out


def test_front_matter_replaces_the_title_heading(capsys, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert cli.main(["derive", "--format", "md", "--flavor", "hexo", "--front-matter", "--date", "2024-05-01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('---\ntitle: "Backpropagation for a 2-3-2 network"\ndate: 2024-05-01\nmathjax: true\n---\n')
    assert "\n# " not in out
    # no date given and none in the environment: no date line, never the clock
    assert cli.main(["derive", "--format", "md", "--front-matter"]) == 0
    assert "date:" not in capsys.readouterr().out
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1714521600")
    assert cli.main(["derive", "--format", "md", "--front-matter"]) == 0
    assert "\ndate: 2024-05-01\n" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--format", "md", "--heading-level", "chapter"], "--heading-level chapter applies to LaTeX only"),
    (["--format", "tex", "--front-matter"], "apply to a Markdown document only"),
    (["--format", "md", "--front-matter", "--date", "2024-13"], "'2024-13' is not a date"),
    (["--format", "md", "--date", "2024-05-01"], "expected --front-matter with it"),
])
def test_bad_layout_flags_are_refused(capsys, flags, message):
    assert cli.main(["derive", *flags]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


#: every other command that writes a document, with what it needs besides the layout flags
DOCUMENT_COMMANDS = {
    "graph": ["graph", "(a+b)*(b+1)", "--at", "a=2,b=1"],
    "diffusion": ["diffusion", "--depth", "2", "--width", "3", "--draws", "1"],
    "evaluate": ["evaluate", "--layers", "1,1", "--values", "VALUES"],
}


@pytest.mark.parametrize("command", DOCUMENT_COMMANDS)
def test_every_document_command_takes_the_layout_flags_of_derive(command, capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    values = tmp_path / "values.json"
    values.write_text('{"w,1,1,1": 0.5, "b,1,1": 0, "x": [1], "y": [0]}', encoding="utf-8")
    base = [str(values) if arg == "VALUES" else arg for arg in DOCUMENT_COMMANDS[command]]
    assert cli.main([*base, "--format", "md", "--front-matter", "--date", "2024-05-01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('---\ntitle: "') and "\ndate: 2024-05-01\nmathjax: true\n---\n" in out
    assert "\n# " not in out
    assert cli.main([*base, "--format", "tex", "--heading-level", "subsection"]) == 0
    out = capsys.readouterr().out
    assert "\\subsection*{" in out and "\\subsection{" in out and "\\section{" not in out
    assert cli.main([*base, "--format", "md", "--heading-level", "chapter"]) == 2
    assert "--heading-level chapter applies to LaTeX only" in capsys.readouterr().err
