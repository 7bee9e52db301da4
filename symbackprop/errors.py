"""Errors raised at the boundary: one exception that carries every problem found."""

from __future__ import annotations


class SpecError(ValueError):
    """An invalid network description or request.

    ``problems`` lists every problem found, each quoting the offending value and
    what was expected; the message joins them, one per line.
    """

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


def unknown_name(what: str, name: object, valid) -> str:
    """The message for a failed registry lookup: the bad name and the valid ones."""
    return f"unknown {what} {name!r}; expected one of: {', '.join(sorted(valid))}"
