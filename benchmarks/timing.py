"""What every benchmark measures and prints: medians of several runs, wall clock and CPU time, the machine.

A run is timed twice: by the clock on the wall and by the CPU time it used (user + system; for a new
process, the CPU time of that process and of what it waited for). On a shared machine the wall clock
also counts the time the run waited for a core, so the CPU time is the steadier figure; on a quiet
machine the two agree for the single-threaded work measured here.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """The wall-clock and CPU seconds of each run of one measurement."""

    walls: tuple[float, ...]
    cpus: tuple[float, ...]

    @property
    def wall(self) -> float:
        """The median wall-clock seconds."""
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        """The median CPU seconds (user + system)."""
        return statistics.median(self.cpus)

    def runs(self) -> str:
        """Every run's wall-clock seconds, in the order they ran."""
        return ", ".join(f"{t:.2f}" for t in self.walls)

    def __str__(self) -> str:
        return f"{self.wall:.2f} s (CPU {self.cpu:.2f} s)"


def as_new_process() -> None:
    """Forget what this process computed, as a new process starts: SymPy's cache, every function of
    symbackprop that keeps its results (``functools`` caches: rules proven, output errors simplified, layer
    terms differentiated, quantities made, formulas parsed, grammars built, the general proofs' results),
    the formulas printed and the templates compiled. A run timed after it does not reuse an earlier run's
    work. The pairs of opaque functions (σ, σ') stay: expressions made at import hold them, and a new pair
    would be a different function."""
    from sympy.core.cache import clear_cache

    from symbackprop.documents import printing, render
    from symbackprop.model.activations import opaque_functions

    clear_cache()
    for name, module in list(sys.modules.items()):
        if name == "symbackprop" or name.startswith("symbackprop."):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)) and value is not opaque_functions \
                        and getattr(value, "__module__", None) == name:
                    value.cache_clear()
    printing._PRINTED.clear()
    render._COMPILED._code.clear()


def measure(function, repeat: int) -> Timing:
    """Run ``function()`` ``repeat`` times in this process; the wall-clock and CPU time of each run."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(tuple(walls), tuple(cpus))


def measure_process(command: list[str], repeat: int, cwd=None, check: bool = True) -> Timing:
    """Run ``command`` as a new process ``repeat`` times; its wall-clock and CPU time (user + system) each run.

    With ``check`` a run that exits with a status other than 0 raises, with the end of its output.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{(done.stdout + done.stderr)[-2000:]}")
    return Timing(tuple(walls), tuple(cpus))


def load() -> str:
    """The machine's load average over one minute (how busy the cores were while the figures were taken)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def machine(repeat: int) -> str:
    """One line naming what the figures depend on: cores, load, Python, SymPy, the number of runs."""
    import sympy

    return (f"{os.cpu_count()} cores, load average {load()}, {platform.machine()}, Python "
            f"{sys.version.split()[0]}, SymPy {sympy.__version__}; medians of {repeat} runs, "
            f"wall clock and CPU time (user + system)")
