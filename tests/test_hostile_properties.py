"""Every reader of user input, fed random bytes, random nesting and random sizes: the command ends
with a result or with exit 2 and one message, never with a traceback.

The runs are derandomized (the same examples every time) and small, so that the suite stays quick;
sizes are drawn either tiny (so an accepted network is derived at once) or far too large (so it is
refused from its count).
"""

import json
import random
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from symbackprop import cli

#: capsys is read (and so emptied) after every run, which makes it safe to share between examples
SHARED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
SETTINGS = settings(derandomize=True, max_examples=25, deadline=None, suppress_health_check=SHARED)


def outcome(capsys, argv, allowed=(0, 1, 2)) -> int:
    """The exit status of ``argv``, checked: one of ``allowed``, and a clean message on exit 2."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_status:  # argparse's own usage errors
        code = exit_status.code
    out, err = capsys.readouterr()
    assert code in allowed, (argv, code, out, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith(("symbackprop: error:", "usage:")), err
    return code


def in_file(name: str, content: bytes):
    """A temporary directory holding ``name`` with ``content``; the path is ``directory / name``."""
    directory = tempfile.TemporaryDirectory()
    path = Path(directory.name) / name
    path.write_bytes(content)
    return directory, path


#: JSON values nested at random, with numbers of every size
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=30,
)
#: a layer size: tiny, or beyond every limit (a billion billion included), or no positive integer at all
SIZE = st.integers(-2, 3) | st.integers(10**5, 10**20)


@SETTINGS
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".toml", ".json"]))
def test_spec_files_of_random_bytes(capsys, content, suffix):
    directory, path = in_file("net" + suffix, content)
    with directory:
        outcome(capsys, ["derive", path, "--method", "none", "--format", "json"])


@SETTINGS
@given(data=JSON, sizes=st.lists(SIZE, max_size=4), depth=st.integers(0, 3000))
def test_spec_files_of_random_structure(capsys, data, sizes, depth):
    for spec in ({"layers": sizes}, {"layers": sizes, "activation": data}, data,
                 {"layers": json.loads("[" * depth + "]" * depth) if 0 < depth < 500 else sizes}):
        directory, path = in_file("net.json", json.dumps(spec).encode())
        with directory:
            outcome(capsys, ["derive", path, "--method", "none", "--format", "json"])
    nested = ("[" * depth + "]" * depth).encode()
    directory, path = in_file("net.json", b'{"layers": ' + nested + b"}")
    with directory:
        assert outcome(capsys, ["derive", path]) == 2


@SETTINGS
@given(sizes=st.lists(SIZE, min_size=0, max_size=5),
       command=st.sampled_from([["derive", "--method", "none"], ["derive"], ["codegen"]]))
def test_random_layer_sizes_on_the_command_line(capsys, sizes, command):
    outcome(capsys, [*command, "--layers", ",".join(map(str, sizes)) or ","])


@SETTINGS
@given(content=st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()),
       depth=st.integers(0, 200_000))
def test_values_files(capsys, content, depth):
    for data in (content, b'{"x": ' + b"[" * depth + b"]" * depth + b', "y": [0]}'):
        directory, path = in_file("v.json", data)
        with directory:
            outcome(capsys, ["evaluate", "--layers", "1,1", "--values", path])


@SETTINGS
@given(values=st.dictionaries(st.sampled_from(["w,1,1,1", "b,1,1", "w[1,1,1]", "x", "y", "n", "lambda", "q"]),
                              JSON, max_size=6))
def test_values_of_random_shape(capsys, values):
    directory, path = in_file("v.json", json.dumps(values).encode())
    with directory:
        outcome(capsys, ["evaluate", "--layers", "1,1", "--values", path, "--format", "json"])


#: pieces of claims, put together at random
CLAIM_PIECES = st.sampled_from([
    r"\delta^{3}_{1}", r"\delta^{2}_{2}", "=", "(", ")", "{", "}", "a^{3}_{1}", "y_{1}", "z^{2}_{1}", "w^{3}_{12}",
    r"\sigma'", r"\log", r"\frac{1}{2}", "+", "-", r"\cdot", "^", "_", "0", "5", r"\frac{\partial C}{\partial b^{2}_{1}}",
    r"\sum_{k}", "x_{1}", "1e400", " ", "\\", "'", "C", "=",
])


@SETTINGS
@given(pieces=st.lists(CLAIM_PIECES, max_size=14), raw=st.text(max_size=40))
def test_random_claims(capsys, pieces, raw):
    for claim in ("".join(pieces), raw, r"\delta^{3}_{1} = " + "".join(pieces)):
        outcome(capsys, ["check", "--layers", "2,3,2", "--points", "2", claim], allowed=(0, 1, 2, 3))


@SETTINGS
@given(raw=st.text(max_size=60), at=st.text(max_size=20))
def test_random_graph_text(capsys, raw, at):
    outcome(capsys, ["graph", raw, "--at", "x=1,y=2"], allowed=(0, 2))
    outcome(capsys, ["graph", "x*y", "--at", at], allowed=(0, 2))


FUNCTIONS = ["exp", "log", "sin", "cos", "tan", "tanh", "sigma", "sqrt"]


def expression(rng: random.Random, nodes: int) -> str:
    """Arithmetic on x, y and z with ``nodes`` nodes (functions, operators, powers and leaves)."""
    if nodes <= 1:
        return rng.choice(["x", "y", "z", "2", "1/3"])
    kind = rng.random()
    if kind < 0.35:
        return f"{rng.choice(FUNCTIONS)}({expression(rng, nodes - 1)})"
    if kind < 0.45:
        return f"({expression(rng, nodes - 1)})^{rng.randint(2, 3)}"
    left = rng.randint(1, max(nodes - 2, 1))
    return f"({expression(rng, left)}){rng.choice('+-*/')}({expression(rng, max(nodes - 1 - left, 1))})"


#: the point every random expression is evaluated at: each of its variables gets one of these values
POINT = {"x": "1/3", "y": "2/7", "z": "3/5"}


@settings(derandomize=True, max_examples=6, deadline=None, suppress_health_check=SHARED)
@given(seed=st.integers(0, 10**9), nodes=st.integers(9, 32))
def test_random_expressions_are_right_or_refused(capsys, seed, nodes):
    # exit 1 would be a derivative that disagrees with sympy.diff: never a right answer. The
    # comparison's work is bounded by counts (terms, nodes, points, precisions), so every expression
    # of this size is answered: an exact or numeric agreement, or an honest "undecided"
    text = expression(random.Random(seed), nodes)
    at = ",".join(f"{name}={value}" for name, value in POINT.items() if re.search(rf"\b{name}\b", text))
    outcome(capsys, ["graph", text, "--at", at or "x=1", "--format", "json"], allowed=(0, 2))
