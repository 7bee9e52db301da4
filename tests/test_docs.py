"""Every command and Python snippet of README.md and docs/*.md runs, with the exit status the page states.

How a page is read:

* A fenced block whose info string names a file after its language (```` ```toml net.toml ````) is that
  file: it is written, before anything runs, into a fresh directory for the page.
* In a ```` ```sh ```` block every line (continued by a trailing backslash) is a command. A command
  starting with ``symbackprop`` runs in-process through ``symbackprop.cli.main``, in the page's directory,
  in the order of the page, so a later command can read what an earlier one wrote. A trailing comment
  ``# exit N: why`` states an exit status other than 0 (an example that is wrong on purpose);
  ``# skip: why`` leaves the command out, and the reason is shown in the test report.
* Commands that are not symbackprop's are not run, each for a reason listed in ``NOT_RUN``: installing
  packages (the Quick start's ``pip install`` lines: the suite already runs in an environment that has
  them), running this very test suite, and the benchmarks (minutes each, and a measurement, not a
  test). Any other command fails the test, so a new kind of command cannot slip in unchecked.
* Each ```` ```python ```` block runs with ``exec`` in a fresh namespace, in the page's directory.

One test per page keeps the commands of a page in order (and on one worker under pytest-xdist).
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from symbackprop import cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT = 10 * 1024

#: commands shown on the pages but not run here, by how they start, and why
NOT_RUN = {
    "pip install": "installs packages: the suite already runs in an environment that has them",
    "python -m pytest": "runs the whole test suite, this test included",
    "python -m benchmarks.": "a benchmark runs for minutes and measures time; docs/benchmarks.md quotes its figures",
    "npm ci": "installs the pinned Node packages that the KaTeX tests use (tests/tooling.py)",
    "apt-get install": "installs the TeX Live packages that the LaTeX tests use (tests/tooling.py)",
}

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
MARK = re.compile(r"#\s*(exit|skip)\b\s*(\d*)\s*:\s*(\S.*)$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    name: str | None  # the file this block is, if its info string names one
    text: str


@dataclass(frozen=True)
class Command:
    line: int
    text: str
    exit: int = 0
    skip: str | None = None


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        info = match.group(1).split()
        language = info[0] if info else ""
        name = info[1] if len(info) > 1 else None
        found.append(Block(page, text.count("\n", 0, match.start()) + 1, language, name, match.group(2)))
    return found


def commands(block: Block) -> list[Command]:
    """The commands of a shell block, continuation lines joined, each with its stated exit status."""
    result, pending, start = [], "", 0
    for offset, raw in enumerate(block.text.splitlines(), start=block.line + 1):
        if not pending:
            start = offset
        if raw.rstrip().endswith("\\"):
            pending += raw.strip()[:-1].strip() + " "
            continue
        line = (pending + raw.strip()).strip()
        pending = ""
        if not line or line.startswith("#"):
            continue
        line, comment = _split_comment(line)
        mark = MARK.search(comment)
        if mark and mark.group(1) == "exit":
            result.append(Command(start, line, exit=int(mark.group(2))))
        elif mark:
            result.append(Command(start, line, skip=mark.group(3)))
        else:
            result.append(Command(start, line))
    return result


def _split_comment(line: str) -> tuple[str, str]:
    """The command and its trailing comment: the first ``#`` after a space and outside quotes."""
    for position in (m.start() for m in re.finditer(r"(?<=\s)#", line)):
        try:
            shlex.split(line[:position])
        except ValueError:  # inside a quoted string
            continue
        return line[:position].rstrip(), line[position:]
    return line, ""


def _not_run_reason(part: str) -> str | None:
    return next((why for prefix, why in NOT_RUN.items() if part.startswith(prefix)), None)


def run_page(page: Path, directory: Path, monkeypatch, capsys, root: Path = ROOT) -> tuple[list[str], list[str]]:
    """Run everything on ``page`` in ``directory``; the failures and the reasons for what was left out."""
    monkeypatch.chdir(directory)
    found = blocks(page)
    for block in found:
        if block.name:
            (directory / block.name).write_text(block.text, encoding="utf-8")
    failures, left_out = [], []
    where = page.relative_to(root)
    for block in found:
        if block.language == "sh":
            for command in commands(block):
                place = f"{where}:{command.line}: {command.text}"
                if command.skip:
                    left_out.append(f"{place} (skipped: {command.skip})")
                    continue
                for part in (p.strip() for p in command.text.split("&&")):
                    if not part.startswith("symbackprop "):
                        why = _not_run_reason(part)
                        if why is None:
                            failures.append(f"{place}: {part!r} is neither symbackprop nor listed in NOT_RUN")
                        else:
                            left_out.append(f"{where}:{command.line}: {part} (not run: {why})")
                        continue
                    code = cli.main(shlex.split(part)[1:])
                    out, err = capsys.readouterr()
                    if code != command.exit:
                        failures.append(f"{place}: exit {code}, the page says {command.exit}\n{err}{out[-2000:]}")
        elif block.language == "python":
            try:
                exec(compile(block.text, f"{where}:{block.line}", "exec"), {"__name__": "docs"})
            except Exception as error:  # noqa: BLE001 - reported with the snippet's place
                failures.append(f"{where}:{block.line}: the Python snippet raised {type(error).__name__}: {error}")
            capsys.readouterr()
    return failures, left_out


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_command_and_snippet_of_the_page_runs(page, tmp_path, monkeypatch, capsys):
    failures, left_out = run_page(page, tmp_path, monkeypatch, capsys)
    assert not failures, "\n\n".join(failures)
    for entry in left_out:
        print(entry)


# ---------------------------------------------------------------- the pages themselves


def test_the_readme_is_a_front_door_not_a_manual():
    assert len((ROOT / "README.md").read_bytes()) <= README_LIMIT


def test_the_quick_start_holds_the_line_ci_runs_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    line, = (l for l in ci.splitlines() if l.startswith("pip install") and "pytest" in l)
    quick_start = (ROOT / "README.md").read_text(encoding="utf-8").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert line in quick_start.splitlines()


def test_the_tour_shows_every_command():
    subparsers, = (a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    shown = {shlex.split(c.text)[1] for b in blocks(ROOT / "README.md") if b.language == "sh"
             for c in commands(b) if c.text.startswith("symbackprop ")}
    assert set(subparsers.choices) <= shown


def test_every_page_is_linked_from_the_readme_and_every_link_resolves():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in PAGES[1:]:
        assert f"(docs/{page.name})" in readme, f"README.md does not link {page.name}"
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links {target}, which does not exist"


def test_marks_are_read():
    # the marks that make an example wrong on purpose or left out are parsed, not ignored
    block = Block(ROOT, 1, "sh", None, 'symbackprop check "x = y"   # exit 1: wrong\n'
                                         'symbackprop examples \\\n  --check  # skip: slow\nnpm ci\n')
    assert commands(block) == [Command(2, 'symbackprop check "x = y"', exit=1),
                               Command(3, "symbackprop examples --check", skip="slow"),
                               Command(5, "npm ci")]


def test_a_wrong_exit_status_or_an_unlisted_command_fails_the_page(tmp_path, monkeypatch, capsys):
    page = tmp_path / "page.md"
    page.write_text("```sh\nsymbackprop derive --layers 2,x\nsymbackprop derive --layers 2,2 --method none"
                    "  # exit 2: not so\nrm -rf /nowhere\n```\n\n```python\nprint(values)\n```\n")
    failures, _ = run_page(page, tmp_path, monkeypatch, capsys, root=tmp_path)
    assert len(failures) == 4
    assert "exit 2, the page says 0" in failures[0] and "exit 0, the page says 2" in failures[1]
    assert "'rm -rf /nowhere' is neither symbackprop" in failures[2]
    assert "NameError: name 'values' is not defined" in failures[3]
