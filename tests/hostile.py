"""Helpers for the hostile-input tests: run the command line in-process and check that a refusal
is clean (exit 2, one message, no traceback, nothing written or replaced) and happened before any
work began."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from symbackprop import cli
from symbackprop.proof import chain


def run_main(capsys, *argv):
    """(exit status, stdout, stderr) of the command line run in-process."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(directory: Path) -> dict:
    """Every entry of ``directory``: a link's target, a file's bytes, a directory's own snapshot."""
    found = {}
    for entry in sorted(Path(directory).iterdir()):
        if entry.is_symlink():
            found[entry.name] = ("link", os.readlink(entry))
        elif entry.is_dir():
            found[entry.name] = ("dir", snapshot(entry))
        else:
            found[entry.name] = ("file", entry.read_bytes())
    return found


def refused(capsys, directory: Path, argv, *fragments) -> str:
    """Run ``argv``: exit 2, one message on stderr holding every fragment, no traceback, nothing on
    stdout, and ``directory`` exactly as it was (nothing written, nothing replaced). The message."""
    before = snapshot(directory)
    code, out, err = run_main(capsys, *argv)
    assert code == 2, (out, err)
    assert err.startswith("symbackprop: error: ") and err.count("symbackprop: error:") == 1, err
    assert "Traceback" not in err and out == "", (out, err)
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert snapshot(directory) == before
    return err


@pytest.fixture
def no_derivation(monkeypatch):
    """Fail the test if a derivation starts: a refusal must come from counting, before the work."""

    def started(network):
        raise AssertionError(f"a derivation of {network!r} started; expected a refusal before any work")

    monkeypatch.setattr(chain, "forward", started)
