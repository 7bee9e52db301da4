"""Malformed spec and values files: exit 2 with one message that says what is wrong, nothing written,
and no derivation started (the file is refused as it is read)."""

import json

import pytest

from hostile import no_derivation, refused  # noqa: F401 (a fixture)
from symbackprop.errors import SpecError
from symbackprop.model.spec import MAX_INTEGER_DIGITS, MAX_NESTING, load_json, parse_spec

HUGE = "1" * 5000
DEEP = "[" * 100_000 + "]" * 100_000


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, fragment", [
    ('{"x": [' + HUGE + '], "y": [0]}', f"a whole number with 5000 digits; expected at most {MAX_INTEGER_DIGITS}"),
    ('{"x": ' + DEEP + '}', "nested too deeply to read"),
    ('{"x": ' + "[" * 40 + "]" * 40 + '}', f"nested more than {MAX_NESTING} levels deep"),
    ('{"w,1,1,1": 0.1,\n "x": [1, 2,]}', "invalid JSON at line 2, column"),
    ("\udcff".encode("utf-8", "surrogatepass").decode("latin-1"), "invalid JSON"),
])
def test_values_files(capsys, tmp_path, no_derivation, text, fragment):
    values = write(tmp_path, "v.json", text)
    refused(capsys, tmp_path, ["evaluate", "--values", values], f"values file {str(values)!r}", fragment)


def test_values_file_in_another_encoding(capsys, tmp_path, no_derivation):
    values = tmp_path / "v.json"
    values.write_bytes(b'{"x": [1], "y": [\xff]}')
    refused(capsys, tmp_path, ["evaluate", "--values", values], "cannot read values file")


@pytest.mark.parametrize("name, text, fragment", [
    ("net.json", '{"layers": [' + HUGE + ', 2]}', "a whole number with 5000 digits"),
    ("net.json", '{"layers": ' + DEEP + '}', "nested too deeply to read"),
    ("net.json", '{"layers": [2, ' + "[" * 20 + "2" + "]" * 20 + ']}', f"more than {MAX_NESTING} levels"),
    ("net.toml", "layers = [" + HUGE + ", 2]", "a whole number with more than"),
    ("net.toml", "layers = " + DEEP, "nested too deeply to read"),
    ("net.toml", "layers = [2, 3\n", "invalid TOML"),
])
def test_spec_files(capsys, tmp_path, no_derivation, name, text, fragment):
    spec = write(tmp_path, name, text)
    for command in (["derive"], ["codegen"]):
        refused(capsys, tmp_path, [*command, spec], fragment)
    refused(capsys, tmp_path, ["check", "--spec", spec, r"\delta^{2}_{1} = 0"], fragment)


def test_the_messages_name_no_python_internals():
    with pytest.raises(SpecError) as error:
        parse_spec("layers = [" + HUGE + "]", "toml", "net.toml")
    assert "sys.set_int_max_str_digits" not in str(error.value)


def test_json_within_the_limits_reads_as_before():
    assert load_json('{"x": [[1, 2]], "n": ' + "9" * MAX_INTEGER_DIGITS + "}", "values")["n"] == int("9" * 300)
    assert load_json(json.dumps({"a": [[[[1]]]]}), "values") == {"a": [[[[1]]]]}


@pytest.mark.parametrize("argv, fragment", [
    (["derive", "--l2", "1e999999999"], "l2 strength '1e999999999' is too long or too large"),
    (["derive", "--activation", "leaky_relu:1e-999999999"], "leaky_relu slope '1e-999999999' is too long"),
    (["evaluate", "--values", "unused.json", "--lr", "1" * 400], "--lr '111"),
])
def test_number_text_that_would_take_forever_to_read_exactly(capsys, tmp_path, no_derivation, argv, fragment):
    # Fraction('1e999999999') would build a billion-digit integer before any check
    refused(capsys, tmp_path, argv, fragment)
