"""Odd targets of -o: a directory, a missing folder, a symbolic link, a device, a full disk.

A directory or a missing folder is refused before any work; a link has the file it names replaced
(the link stays a link); a device or a named pipe is written through (a pipe stands for /dev/null
here, so that no mistake can replace a system device), never replaced by a regular file; a failed
run leaves the old file byte for byte.
"""

import os
import stat
import threading
from pathlib import Path

import pytest

from hostile import no_derivation, refused, run_main  # noqa: F401 (a fixture)
from symbackprop import cli


def test_a_directory_is_refused_before_any_work(capsys, tmp_path, no_derivation):
    (tmp_path / "out").mkdir()
    refused(capsys, tmp_path, ["derive", "-o", tmp_path / "out"], "it is a directory", "expected the name of a file")


def test_a_directory_is_refused_for_every_command_that_writes(capsys, tmp_path):
    (tmp_path / "out").mkdir()
    for argv in (["codegen"], ["graph", "(a+b)*(b+1)", "--at", "a=2,b=1"], ["diffusion", "--depth", "2"],
                 ["derive", "--format", "md"]):
        refused(capsys, tmp_path, [*argv, "-o", tmp_path / "out"], "it is a directory")


def test_a_missing_folder_is_refused(capsys, tmp_path, no_derivation):
    refused(capsys, tmp_path, ["derive", "-o", tmp_path / "nowhere" / "d.md"], "does not exist")


def test_a_markdown_figure_is_not_written_when_the_document_cannot_be(capsys, tmp_path):
    (tmp_path / "d.md").mkdir()
    refused(capsys, tmp_path, ["derive", "--format", "md", "--method", "none", "-o", tmp_path / "d.md"],
            "it is a directory")
    assert not (tmp_path / "d.svg").exists()


def test_a_link_keeps_being_a_link_and_its_target_is_replaced(capsys, tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old\n")
    link = tmp_path / "link.txt"
    link.symlink_to("real.txt")
    code, out, err = run_main(capsys, "derive", "--method", "none", "-o", link)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == "real.txt"
    assert target.read_text().startswith("Network 2-3-2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "real.txt"]


def test_a_dangling_link_creates_the_file_it_names(capsys, tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to("made.txt")
    code, _, err = run_main(capsys, "derive", "--method", "none", "-o", link)
    assert code == 0, err
    assert link.is_symlink() and (tmp_path / "made.txt").read_text().startswith("Network 2-3-2")


def test_a_failed_run_through_a_link_leaves_the_old_target(capsys, tmp_path):
    target = tmp_path / "real.txt"
    target.write_bytes(b"old bytes\r\n")
    (tmp_path / "link.txt").symlink_to("real.txt")
    refused(capsys, tmp_path, ["derive", "--layers", "2,0", "-o", tmp_path / "link.txt"], "layer 2 has size 0")
    assert target.read_bytes() == b"old bytes\r\n"


def _fifo_with_reader(path: Path) -> tuple[threading.Thread, list]:
    """A named pipe at ``path`` and a thread that reads everything written to it."""
    os.mkfifo(path)
    received = []

    def read():
        with open(path, "rb") as pipe:
            received.append(pipe.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, received


def test_a_device_or_pipe_is_written_through_not_replaced(capsys, tmp_path):
    # a named pipe stands for /dev/null: renaming a regular file onto it would replace the node
    pipe = tmp_path / "pipe"
    reader, received = _fifo_with_reader(pipe)
    code, out, err = run_main(capsys, "derive", "--method", "none", "-o", pipe)
    reader.join(timeout=60)
    assert code == 0 and out == "", err
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
    assert received and received[0].startswith(b"Network 2-3-2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_link_to_a_pipe_writes_through_it(capsys, tmp_path):
    reader, received = _fifo_with_reader(tmp_path / "pipe")
    link = tmp_path / "sink.py"
    link.symlink_to("pipe")
    code, _, err = run_main(capsys, "codegen", "-o", link)
    reader.join(timeout=60)
    assert code == 0, err
    assert link.is_symlink() and stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)
    assert received and b"def gradients(" in received[0]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_a_full_device_is_a_message_not_a_traceback(capsys, tmp_path):
    refused(capsys, tmp_path, ["derive", "--method", "none", "-o", "/dev/full"], "cannot write '/dev/full'",
            "No space left on device")


def test_a_directory_without_write_permission_is_a_message(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running with permission to write anywhere (root)")
        refused(capsys, tmp_path, ["derive", "--method", "none", "-o", locked / "d.txt"], "cannot write",
                "Permission denied")
    finally:
        locked.chmod(0o700)


def test_regular_files_are_still_replaced_atomically(tmp_path, monkeypatch):
    path = tmp_path / "kept.txt"
    path.write_bytes(b"old")

    def interrupted(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli.os, "replace", interrupted)
    with pytest.raises(cli.SpecError, match="No space left"):
        cli.write_atomically(path, "new")
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]


# ---------------------------------------------------------------- the gallery folder


@pytest.fixture
def no_gallery(monkeypatch):
    """Fail the test if the gallery starts rendering: what is missing is said at once."""
    def rendered():
        raise AssertionError("the gallery was rendered; expected the missing part named first")

    monkeypatch.setattr(cli, "gallery", rendered)


@pytest.mark.parametrize("missing, named", [
    (("numpy",), ["NumPy"]),
    (("matplotlib",), ["matplotlib"]),
    (("numpy", "matplotlib"), ["NumPy", "matplotlib"]),
])
@pytest.mark.parametrize("check", [True, False])
def test_the_gallery_names_what_is_not_installed(capsys, tmp_path, monkeypatch, no_gallery, missing, named, check):
    import sys

    for name in missing:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, name, None)  # `import name` fails, as when it is not installed
    (tmp_path / "output").mkdir()
    monkeypatch.chdir(tmp_path)
    err = refused(capsys, tmp_path, ["examples", *(["--check"] if check else [])], "pip install '.[test]'",
                  *(f"needs {n} for" for n in named))
    assert "stale" not in err


def test_checking_a_gallery_folder_that_does_not_exist(capsys, tmp_path, monkeypatch, no_gallery):
    monkeypatch.chdir(tmp_path)
    err = refused(capsys, tmp_path, ["examples", "--check"], "the gallery folder 'output' does not exist")
    assert "stale" not in err
