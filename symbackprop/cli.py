"""The command line: the only part of symbackprop that reads or writes files.

Exit status: 0 when every check holds, 1 when one fails, 2 for bad input
(the message names the offending value; no traceback, nothing written).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from . import __version__
from .chain import derive
from .equations import METHODS
from .errors import SpecError
from .printing import NOTATIONS
from .render import render_json, render_text
from .spec import network_from_mapping, parse_names, parse_sizes, parse_spec

DEFAULT_LAYERS = [2, 3, 2]


class Progress:
    """Stage messages on stderr, shown only when stderr is a terminal."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._started = None

    def start(self, message: str):
        self._started = time.perf_counter()
        if self.enabled:
            print(f"symbackprop: {message} ...", file=self.stream, end="", flush=True)

    def done(self):
        if self.enabled and self._started is not None:
            print(f" {time.perf_counter() - self._started:.1f} s", file=self.stream, flush=True)


def write_atomically(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` so that the path holds either the old file or the whole new one."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise SpecError(f"cannot write {str(path)!r}: directory {str(directory)!r} does not exist")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def read_spec(path: str):
    """A network from a spec file (.toml or .json)."""
    file = Path(path)
    fmt = {".toml": "toml", ".json": "json"}.get(file.suffix.lower())
    if fmt is None:
        raise SpecError(f"spec file {path!r} has suffix {file.suffix!r}; expected .toml or .json")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"spec file {path!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"cannot read spec file {path!r}: {error}") from None
    return parse_spec(text, fmt, source=path)


def network_from_args(args):
    """The network of a command: a spec file, overridden by any flags given."""
    data = {}
    source = "command line"
    if args.spec:
        network = read_spec(args.spec)
        source = args.spec
        data = {
            "layers": list(network.sizes),
            "activation": [layer.activation for layer in network.layers],
            "cost": network.cost,
            "bias": [layer.bias for layer in network.layers],
            "l2": network.l2,
            "mean": network.mean,
        }
    if args.layers is not None:
        data["layers"] = parse_sizes(args.layers)
        if "activation" in data and isinstance(data["activation"], list):
            data["activation"] = data["activation"][0] if len(set(map(id, data["activation"]))) == 1 else data["activation"]
        if isinstance(data.get("bias"), list):
            data["bias"] = data["bias"][0] if len(set(data["bias"])) == 1 else data["bias"]
    data.setdefault("layers", DEFAULT_LAYERS)
    if args.activation is not None:
        data["activation"] = parse_names(args.activation)
    if args.cost is not None:
        data["cost"] = args.cost
    if args.bias is not None:
        data["bias"] = args.bias
    if args.l2 is not None:
        data["l2"] = True if args.l2.strip().lower() in ("lambda", "λ") else args.l2.strip()
    if args.mean:
        data["mean"] = True
    return network_from_mapping(data, source)


def command_derive(args) -> int:
    network = network_from_args(args)
    progress = Progress()
    progress.start(f"deriving {network.parameter_count} gradients")
    derivation = derive(network)
    progress.done()
    report = None
    if args.method != "none":
        progress.start(f"checking BP1-BP4 ({args.method})")
        report = derivation.check(args.method)
        progress.done()
    if args.json:
        output = render_json(derivation, report, notation=args.notation)
    else:
        output = render_text(derivation, report, notation=args.notation)
    if args.output:
        write_atomically(Path(args.output), output)
    else:
        sys.stdout.write(output)
    return 0 if report is None or report.ok else 1


def _add_network_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network (flags override a spec file)")
    group.add_argument("spec", nargs="?", help="a network spec file, .toml or .json")
    group.add_argument("--layers", help="layer sizes, input first, e.g. 2,3,2 (default 2,3,2)")
    group.add_argument("--activation", help="one activation, or one per layer separated by commas "
                       "(sigmoid, tanh, relu, leaky_relu[:slope], softplus, identity, softmax, generic)")
    group.add_argument("--cost", help="quadratic, binary_cross_entropy or cross_entropy")
    group.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None,
                       help="give every layer a bias (default) or none (--no-bias)")
    group.add_argument("--l2", metavar="LAMBDA", help="add (λ/2n)Σw²: a number, or 'lambda' for a symbolic λ")
    group.add_argument("--mean", action="store_true", help="the cost is the mean over n training examples")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symbackprop",
        description="Derive backpropagation symbolically, prove BP1-BP4 and write the derivation out.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    derive_parser = commands.add_parser("derive", help="every gradient of a network, and the check of BP1-BP4")
    _add_network_flags(derive_parser)
    derive_parser.add_argument("--method", choices=[*METHODS, "none"], default="auto",
                               help="how to check BP1-BP4 (default auto: exact for small networks, "
                                    "inductive otherwise, plus a numeric cross-check)")
    derive_parser.add_argument("--notation", choices=sorted(NOTATIONS), default="nielsen",
                               help="how quantities are written (default nielsen)")
    derive_parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    derive_parser.add_argument("-o", "--output", help="write to this file (atomically) instead of stdout")
    derive_parser.set_defaults(handler=command_derive)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SpecError as error:
        print(f"symbackprop: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symbackprop: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
