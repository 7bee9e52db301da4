"""One convention across the commands: SPEC positional, defaults in --help, every problem at once,
layers numbered as the chosen notation numbers them."""

import argparse
import json

import pytest

from symbackprop import cli
from symbackprop.documents.printing import NOTATIONS

CLAIM = r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})"


def run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text('layers = [2, 3, 2]\nactivation = "sigmoid"\ncost = "quadratic"\n')
    return path


@pytest.fixture
def values(tmp_path):
    path = tmp_path / "values.json"
    data = {f"w,{l},{j},{k}": 0.1 * (j + k) for l, (m, n) in enumerate([(2, 3), (3, 2)], start=1)
            for j in range(1, n + 1) for k in range(1, m + 1)}
    data.update({f"b,{l},{j}": 0.5 for l, n in ((1, 3), (2, 2)) for j in range(1, n + 1)})
    data.update(x=[1, 0], y=[0, 1])
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------- the spec file is positional everywhere


def test_every_command_with_a_network_takes_the_spec_file_first(capsys, spec, values, tmp_path):
    document = tmp_path / "notes.md"
    document.write_text(f"$$\n{CLAIM}\n$$\n")
    assert run(capsys, "derive", str(spec), "--method", "none", "--json")[0] == 0
    assert run(capsys, "check", str(spec), CLAIM)[0] == 0
    assert run(capsys, "check-doc", str(spec), str(document))[0] == 0
    assert run(capsys, "evaluate", str(spec), "--values", str(values), "--format", "json")[0] == 0
    code, out, _ = run(capsys, "codegen", str(spec))
    assert code == 0 and "def gradients(" in out


def test_the_spec_file_is_read_not_ignored(capsys, tmp_path):
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps({"layers": [2, 2], "cost": "binary_cross_entropy"}))
    code, out, _ = run(capsys, "check", str(spec), r"\delta^{2}_{1} = a^{2}_{1} - y_{1}", "--json")
    assert code == 0, out  # true for sigmoid with binary cross-entropy, false for the default quadratic cost
    assert run(capsys, "check", r"\delta^{2}_{1} = a^{2}_{1} - y_{1}", "--layers", "2,2")[0] == 1


def test_options_and_arguments_in_any_order(capsys, spec, tmp_path):
    document = tmp_path / "notes.md"
    document.write_text(f"$$\n{CLAIM}\n$$\n")
    for args in (["check", str(spec), "--notation", "nielsen", CLAIM],
                 ["check", "--notation", "nielsen", str(spec), CLAIM],
                 ["check", CLAIM, "--layers", "2,3,2"],
                 ["check-doc", str(spec), "--cost", "quadratic", str(document)],
                 ["check-doc", str(document), "--layers", "2,3,2"]):
        code, out, err = run(capsys, *args)
        assert code == 0, (args, out, err)


def test_the_older_spec_flag_still_works_and_two_spec_files_are_refused(capsys, spec, tmp_path):
    assert run(capsys, "check", "--spec", str(spec), CLAIM)[0] == 0
    other = tmp_path / "other.toml"
    other.write_text("layers = [2, 2]\n")
    code, out, err = run(capsys, "check", str(other), "--spec", str(spec), CLAIM)
    assert code == 2 and out == ""
    assert f"two spec files, {str(other)!r} and --spec {str(spec)!r}; expected one" in err


# ---------------------------------------------------------------- defaults in --help


def _subparsers(parser):
    action, = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("command", sorted(_subparsers(cli.build_parser())))
def test_help_states_the_default_of_every_option(command):
    parser = _subparsers(cli.build_parser())[command]
    silent = [action.option_strings for action in parser._actions
              if action.option_strings and action.required is False
              and not isinstance(action, argparse._HelpAction)
              and "default" not in (action.help or "") and "instead of stdout" not in (action.help or "")
              and "the same as" not in (action.help or "")]
    assert silent == [], f"{command}: options whose help does not say what happens without them"


def test_help_of_derive_names_the_default_activation_and_cost(capsys):
    with pytest.raises(SystemExit):
        cli.main(["derive", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default sigmoid;" in text and "(default quadratic)" in text and "(default 2,3,2)" in text


# ---------------------------------------------------------------- every problem at once


def test_derive_reports_every_problem_of_the_command_line_at_once(capsys, tmp_path):
    out_file = tmp_path / "d.md"
    code, out, err = run(capsys, "derive", "--layers", "2,x,2", "--activation", "foo", "--cost", "bar",
                         "--notation", "nope", "-o", str(out_file))
    assert code == 2 and out == "" and not out_file.exists()
    assert "4 problems" in err
    for needle in ("unknown notation 'nope'", "layer 2 has size 'x'", "unknown activation 'foo'",
                   "unknown cost 'bar'"):
        assert needle in err, needle
    assert "Traceback" not in err


def test_derive_general_reports_every_problem_at_once(capsys):
    code, _, err = run(capsys, "derive", "--general", "--cost", "bar", "--format", "docx", "--layers", "2,2")
    assert code == 2 and "3 problems" in err
    assert "unknown cost 'bar'" in err and "unknown format 'docx'" in err and "--layers '2,2'" in err


def test_check_reports_every_problem_at_once(capsys):
    code, _, err = run(capsys, "check", CLAIM, "--layers", "2,0,2", "--star", "cross", "--points", "0",
                       "--lang", "fr")
    assert code == 2 and "4 problems" in err
    assert "layer 2 has size 0" in err and "'cross'" in err and "--points 0" in err and "'fr'" in err


def test_check_doc_reports_a_missing_file_with_the_other_problems(capsys, tmp_path):
    code, _, err = run(capsys, "check-doc", str(tmp_path / "missing.md"), "--cost", "bar", "--syntax", "xml")
    assert code == 2 and "3 problems" in err
    assert "does not exist" in err and "unknown cost 'bar'" in err and "unknown syntax 'xml'" in err


def test_evaluate_reports_every_problem_at_once(capsys, tmp_path):
    code, _, err = run(capsys, "evaluate", "--values", str(tmp_path / "none.json"), "--lr", "fast",
                       "--format", "pdf", "--activation", "swish")
    assert code == 2 and "4 problems" in err
    assert "values file" in err and "--lr 'fast'" in err and "unknown format 'pdf'" in err
    assert "unknown activation 'swish'" in err


def test_graph_and_diffusion_report_every_problem_at_once(capsys):
    code, _, err = run(capsys, "graph", "(a+b", "--at", "a=x", "--mode", "sideways")
    assert code == 2 and "3 problems" in err and "unknown mode 'sideways'" in err
    code, _, err = run(capsys, "diffusion", "--depth", "0", "--activation", "swish", "--lang", "fr")
    assert code == 2 and "3 problems" in err
    assert "depth 0" in err and "'swish'" in err and "'fr'" in err


# ---------------------------------------------------------------- layers numbered as the notation numbers them


@pytest.mark.parametrize("notation", sorted(NOTATIONS))
def test_a_bad_size_names_its_layer_as_the_notation_numbers_it(capsys, notation):
    first = NOTATIONS[notation].layer_offset
    code, _, err = run(capsys, "derive", "--layers", "2,x,2", "--notation", notation)
    assert code == 2
    assert f"layer {first + 1} has size 'x'" in err  # the hidden layer: input + 1


def test_nielsen_calls_the_input_layer_1_and_qiu_calls_it_0(capsys, tmp_path):
    _, _, nielsen = run(capsys, "derive", "--layers", "x,2")
    _, _, qiu = run(capsys, "derive", "--layers", "x,2", "--notation", "qiu")
    assert "layer 1 has size 'x'" in nielsen and "layer 0 has size 'x'" in qiu
    # the documents agree: the output layer of a 2-2 network is layer 2 in Nielsen's, (1) in Qiu's
    derive = ("derive", "--layers", "2,2", "--method", "none", "--format", "tex", "--fragment")
    assert "a^{2}_{1}" in run(capsys, *derive)[1]
    assert "a^{(1)}_{1}" in run(capsys, *derive, "--notation", "qiu")[1]


def test_a_spec_file_and_check_number_layers_by_the_notation(capsys, tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text('layers = [2, 2, 2]\nactivation = ["softmax", "sigmoid"]\n')
    _, _, nielsen = run(capsys, "check", str(spec), CLAIM)
    _, _, qiu = run(capsys, "check", str(spec), CLAIM, "--notation", "qiu")
    assert "softmax on layer 2 mixes the neurons of a hidden layer; expected it on the output layer (3)" in nielsen
    assert "softmax on layer 1 mixes the neurons of a hidden layer; expected it on the output layer (2)" in qiu


def test_codegen_numbers_layers_as_its_module_does(capsys):
    # the generated module calls the input a0, so its messages count from 0
    _, _, err = run(capsys, "codegen", "--layers", "2,x,2")
    assert "layer 1 has size 'x'" in err


def test_missing_arguments_are_named_together(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["graph"])
    assert stop.value.code == 2
    assert "the following arguments are required: expression, --at" in capsys.readouterr().err


def test_a_layered_description_reports_its_refusals_with_the_other_problems(capsys, tmp_path):
    spec = tmp_path / "conv.toml"
    spec.write_text('input = [1, 3]\ncost = "quadratic"\n[[layer]]\ntype = "conv1d"\nchannels = 1\nkernel = 2\n'
                    '[[layer]]\ntype = "dense"\nsize = 1\n')
    code, out, err = run(capsys, "derive", str(spec), "--notation", "ng", "--lang", "fr", "--layers", "2,2")
    assert code == 2 and out == "" and "3 problems" in err
    assert "--notation ng is not available" in err and "unknown language 'fr'" in err and "--layers" in err
