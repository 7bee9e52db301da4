"""Startup: the command line and the package load the engine only when a command needs it."""

import subprocess
import sys

import symbackprop
from symbackprop import choices
from symbackprop.documents import printing, render
from symbackprop.proof import equations

HEAVY = ("sympy", "mpmath", "jinja2", "lark", "numpy", "matplotlib")


def loaded_after(code: str) -> list[str]:
    """The heavy libraries a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_help_and_the_parser_load_no_heavy_library():
    # symbackprop --help, then every subcommand's --help, the subcommands read from the parser itself
    code = ("import argparse, contextlib, io, symbackprop, symbackprop.cli as cli\n"
            "parser = cli.build_parser()\n"
            "commands, = (a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))\n"
            "assert {'derive', 'check', 'check-doc', 'examples'} <= set(commands)\n"
            "for argv in [['--help']] + [[command, '--help'] for command in commands]:\n"
            "    with contextlib.redirect_stdout(io.StringIO()) as shown:\n"
            "        try:\n"
            "            cli.main(argv)\n"
            "        except SystemExit as exit:\n"
            "            assert exit.code == 0, argv\n"
            "    assert 'usage:' in shown.getvalue(), argv")
    assert loaded_after(code) == []


def test_a_mistyped_command_line_is_refused_before_the_engine_loads():
    code = ("import contextlib, io, symbackprop.cli as cli\n"
            "for argv in (['derve'], ['derive', '--method', 'guess']):\n"
            "    with contextlib.redirect_stderr(io.StringIO()) as shown:\n"
            "        try:\n"
            "            cli.main(argv)\n"
            "        except SystemExit as exit:\n"
            "            assert exit.code == 2\n"
            "    assert 'invalid choice' in shown.getvalue()")
    assert loaded_after(code) == []


def test_the_package_api_loads_on_first_use():
    assert loaded_after("import symbackprop") == []
    assert "sympy" in loaded_after("import symbackprop\nsymbackprop.Network")
    for name in symbackprop.__all__:
        assert getattr(symbackprop, name).__name__ == name


def test_the_command_line_choices_are_the_implemented_ones():
    assert equations.METHODS == choices.METHODS
    assert (render.FORMATS, render.LANGUAGES) == (choices.FORMATS, choices.LANGUAGES)
    assert tuple(render.FLAVORS) == choices.FLAVORS
    assert tuple(printing.NOTATIONS) == choices.NOTATIONS
