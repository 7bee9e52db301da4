"""The command line: the only part of symbackprop that reads or writes files.

Exit status: 0 when every check holds, 1 when one fails, 2 for bad input
(the message names the offending value; no traceback, nothing written).

Each command imports the engine when it runs, so that ``--help`` and a mistyped
command answer without loading SymPy.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .choices import (DIFFUSION_ACTIVATIONS, FLAVORS, FORMATS, HEADING_LEVELS, LANGUAGES, MAX_TERMS, METHODS,
                      NOTATIONS)
from .collector import paused
from .errors import SpecError, unknown_name

DEFAULT_LAYERS = [2, 3, 2]
DEFAULT_NOTATION = "nielsen"


class _Parser(argparse.ArgumentParser):
    """A command's parser that takes its options and positional arguments in any order.

    ``check net.toml --layers 2,2,2 'CLAIM'`` reads as ``check net.toml 'CLAIM' --layers 2,2,2``:
    plain argparse would take the claim for an unrecognised argument once an option separates it
    from the optional SPEC before it. Commands with one positional argument parse as argparse does,
    which also names every missing required argument at once.

    For commands whose argument is a formula (``graph``, ``check``), an argument that starts with one
    ``-`` but does not begin any of the command's options is the formula, as in
    ``graph '-x*y' --at x=1,y=2``, not an unknown option.
    """

    _intermixing = False
    formula = False

    def _parse_optional(self, arg_string):
        if (self.formula and arg_string.startswith("-") and not arg_string.startswith("--") and len(arg_string) > 1
                and not any(option.startswith(arg_string[:2]) for option in self._option_string_actions)):
            return None
        return super()._parse_optional(arg_string)

    def parse_known_args(self, args=None, namespace=None):
        positionals = [action for action in self._actions if not action.option_strings]
        if self._intermixing or len(positionals) < 2:
            # parse_known_intermixed_args calls back here for each of its two passes
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


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

    def count(self, done: int, total: int):
        """Progress through ``total`` items, shown on a terminal at every tenth of the way."""
        if self.enabled and total and done % max(total // 10, 1) == 0:
            print(f" {done}/{total}", file=self.stream, end="", flush=True)

    def done(self):
        if self.enabled and self._started is not None:
            print(f" {time.perf_counter() - self._started:.1f} s", file=self.stream, flush=True)


def _umask() -> int:
    """The process's umask. It can only be read by setting it; this runs before any file is written."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def output_target(path) -> Path:
    """The file that writing ``path`` changes, checked before any work is done.

    A symbolic link leads to the file it names (the link itself stays a link); a
    directory, or a name in a directory that does not exist, is refused.
    """
    path = Path(path)
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise SpecError(f"cannot write {str(path)!r}: it is a directory; expected the name of a file")
    if not target.parent.is_dir():
        raise SpecError(f"cannot write {str(path)!r}: directory {str(target.parent)!r} does not exist")
    return target


def write_atomically(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` so that the path holds either the old file or the whole new one.

    A regular file (new or old) is replaced by renaming a finished temporary file onto
    it. Through a symbolic link the file it names is replaced and the link is kept. A
    target that is not a regular file (a device such as /dev/null, a named pipe) is
    written to in place: renaming onto it would replace the device node itself.
    """
    target = output_target(path)
    try:
        if target.exists() and not target.is_file():
            with open(target, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(content)
            return
        _replace(target, content)
    except OSError as error:
        raise SpecError(f"cannot write {str(path)!r}: {error.strerror or error}") from None


def _replace(target: Path, content: str) -> None:
    """Write a temporary file beside the regular file ``target`` and rename it onto it."""
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates the file private (0600); give it the mode a plain open() would,
        # or keep the mode of the file it replaces
        os.chmod(temporary, target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def read_text_file(path: str, what: str, formats: dict[str, str], expected: str) -> tuple[str, str]:
    """The text of a file the user named and its format, chosen by suffix from ``formats``.

    ``what`` names the file in messages ("spec file", "document"); ``expected`` says which suffixes do.
    """
    file = Path(path)
    fmt = formats.get(file.suffix.lower())
    if fmt is None:
        raise SpecError(f"{what} {path!r} has suffix {file.suffix!r}; expected {expected}")
    try:
        return file.read_text(encoding="utf-8"), fmt
    except FileNotFoundError:
        raise SpecError(f"{what} {path!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"cannot read {what} {path!r}: {error}") from None


def read_spec(path: str, first: int = 0):
    """A network from a spec file (.toml or .json); messages number the input layer ``first``."""
    from .model.spec import parse_spec

    text, fmt = read_text_file(path, "spec file", {".toml": "toml", ".json": "json"}, ".toml or .json")
    return parse_spec(text, fmt, source=path, first_layer=first)


def first_layer(notation_name) -> int:
    """The number the notation ``notation_name`` gives the input layer (Nielsen 1, Qiu 0).

    An unknown name (reported by the command's own check) falls back to the default notation.
    """
    from .documents.printing import NOTATIONS as notations

    return notations.get(notation_name, notations[DEFAULT_NOTATION]).layer_offset


def _spec_path(args) -> str | None:
    """The spec file of a command: the positional SPEC, or the older ``--spec SPEC`` of check and check-doc."""
    alias = getattr(args, "spec_option", None)
    if alias and args.spec and alias != args.spec:
        raise SpecError(f"two spec files, {args.spec!r} and --spec {alias!r}; expected one")
    return args.spec or alias


def network_from_args(args, first: int = 0):
    """The network of a command: a spec file, overridden by any flags given.

    ``first`` is the number messages give the input layer: the command's notation numbers the layers.
    """
    from .model.spec import network_from_mapping, parse_names, parse_sizes

    data = {}
    source = "command line"
    spec = _spec_path(args)
    if spec:
        network = read_spec(spec, first)
        _dense_only(network, spec)
        source = spec
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
    return network_from_mapping(data, source, first_layer=first)


def _all_at_once(*checks) -> list:
    """Run every check and return their results; one SpecError listing the problems of all of them.

    A command line with several mistakes gets them in one message, not one per attempt.
    """
    problems, results = [], []
    for check in checks:
        try:
            results.append(check())
        except SpecError as error:
            problems.extend(error.problems)
            results.append(None)
    if problems:
        raise SpecError(problems)
    return results


def _known_names(*choices, problems=()) -> None:
    """Each (what, value, valid names) checked before any work: one message for every unknown name
    (and the other ``problems`` found by the caller)."""
    problems = [*(unknown_name(what, value, valid) for what, value, valid in choices if value not in valid), *problems]
    if problems:
        raise SpecError(problems)


def _check_choices(args) -> None:
    """Unknown format, flavour, language or notation: one message listing the valid ones."""
    _known_names(("format", args.format, FORMATS), ("flavor", args.flavor, FLAVORS),
                 ("language", args.lang, LANGUAGES), ("notation", args.notation, NOTATIONS),
                 problems=[f"--templates {args.templates!r} is not a directory"]
                 if args.templates and not Path(args.templates).is_dir() else ())


def command_derive(args) -> int:
    from .proof.budget import require_documentable
    from .proof.chain import derive
    from .proof.equations import plan
    from .proof.report import render

    if args.json:
        args.format = "json"
    if args.general:
        return command_derive_general(args)
    layered = _layered_spec(args)
    if layered is not None:
        return command_derive_layered(args, layered)
    _, _, network = _all_at_once(lambda: _check_choices(args), lambda: _check_label_prefix_flag(args),
                                 lambda: network_from_args(args, first_layer(args.notation)))
    if args.format in ("md", "tex"):
        require_documentable(network)  # the terminal and JSON forms grow only linearly with the parameters
    if args.method != "none":
        plan(network, args.method)  # a check too large to run is refused before the derivation
    progress = Progress()
    progress.start(f"deriving {network.parameter_count} gradients")
    derivation = derive(network)
    progress.done()
    report = None
    if args.method != "none":
        progress.start(f"checking BP1-BP4 ({args.method})")
        report = derivation.check(args.method)
        progress.done()
    output = Path(args.output) if args.output else None
    figure = output.with_suffix(".svg").name if output is not None and args.format == "md" else None
    progress.start(f"writing {args.format}")
    document = render(derivation, args.format, args.lang, args.notation, args.flavor, standalone=args.standalone,
                      report=report, templates=args.templates, figure=figure,
                      label_prefix=_label_prefix(args, "bp-" + "-".join(map(str, network.sizes))),
                      heading_level=args.heading_level, front_matter=_front_matter(args))
    progress.done()
    _write_or_print(output, document)
    return 0 if report is None or report.ok else 1


# ---------------------------------------------------------------- derive, a network of [[layer]] entries


def _is_layered(network) -> bool:
    from .model.layers import LayeredNetwork

    return isinstance(network, LayeredNetwork)


def _dense_only(network, path: str) -> None:
    """Commands other than derive take dense networks only (``layers = [...]``)."""
    if _is_layered(network):
        raise SpecError(f"{path!r} lists its layers as [[layer]] entries; only `derive`, `check`, `check-doc`, "
                        f"`evaluate` and `codegen` read such a description so far; expected `layers = [...]` (dense "
                        f"layers) for this command")


def _layered_spec(args):
    """The spec file's network when it lists [[layer]] entries, else None.

    A spec file that cannot be read is left to ``network_from_args``, which reports it with the
    command line's other problems.
    """
    if not args.spec:
        return None
    try:
        network = read_spec(args.spec)
    except SpecError:
        return None
    return network if _is_layered(network) else None


def _layered_flag_problems(args) -> list:
    """The network flags given beside a description of [[layer]] entries, each a problem: the description
    holds every setting itself."""
    flags = [("--layers", args.layers), ("--activation", args.activation), ("--cost", args.cost),
             ("--bias/--no-bias", args.bias), ("--l2", args.l2), ("--mean", args.mean or None)]
    return [f"{flag} cannot be combined with a description of [[layer]] entries ({args.spec!r}); expected the "
            f"setting in the description itself" for flag, value in flags if value is not None]


def command_derive_layered(args, network) -> int:
    """``derive`` on a description with [[layer]] entries: the derivation, its check and a document."""
    from .documents.render import label_prefix_from

    from .proof.layered import derive_layered
    from .proof.layered_report import LAYERED_FORMATS, render_layered

    problems = _layered_flag_problems(args)
    if args.format in FORMATS and args.format not in LAYERED_FORMATS:  # an unknown one: _check_choices
        problems.append(f"--format {args.format} is not available for a description of [[layer]] entries; expected "
                        f"one of: {', '.join(LAYERED_FORMATS)}")
    if args.notation != "nielsen" and args.notation in NOTATIONS:
        problems.append(f"--notation {args.notation} is not available for a description of [[layer]] entries; "
                        f"it is written in one notation (layer l's values z^l, a^l, δ^l, kernels K^l)")
    if args.method not in ("auto", "none"):
        problems.append(f"--method {args.method} is not available for a description of [[layer]] entries; expected "
                        f"auto (every rule proven, every gradient compared numerically) or none")
    _all_at_once(lambda: _check_choices(args), lambda: _check_label_prefix_flag(args),
                 lambda: _known_names(problems=problems))
    progress = Progress()
    progress.start(f"deriving {network.parameter_count} gradients through {network.depth} layers")
    derivation = derive_layered(network)
    progress.done()
    report = None
    if args.method != "none":
        progress.start("checking every layer's rule")
        report = derivation.check()
        progress.done()
    output = Path(args.output) if args.output else None
    figure = output.with_suffix(".svg").name if output is not None and args.format == "md" else None
    document = render_layered(derivation, args.format, args.lang, args.flavor, standalone=args.standalone, figure=figure,
                              report=report, templates=args.templates,
                              label_prefix=_label_prefix(args, label_prefix_from("layers-" + network.name)))
    _write_or_print(args.output, document)
    return 0 if report is None or report.ok else 1


# ---------------------------------------------------------------- derive --general


def _general_arguments(args) -> dict:
    """The arguments of ``derive_general`` from the flags of ``derive --general``; every problem at once."""
    from .model.activations import VectorActivation, activation as lookup_activation
    from .model.costs import cost as lookup_cost

    problems = []
    if args.layers is not None:
        problems.append(f"--layers {args.layers!r} cannot be combined with --general: a general proof "
                        f"has symbolic layer sizes")
    if args.spec:  # derive takes no --spec alias
        problems.append(f"a spec file ({args.spec!r}) cannot be combined with --general: its layer sizes are "
                        f"concrete; give --cost, --activation and --l2 instead")
    options = {"cost": args.cost if args.cost is not None else "quadratic"}
    try:
        lookup_cost(options["cost"])
    except SpecError as error:
        problems.append(str(error))
    if args.activation is not None:
        names = [name.strip() for name in args.activation.split(",")]
        if names == ["softmax"]:
            names = ["generic", "softmax"]
        if len(names) == 1 or len(names) == 2 and names[1] == "softmax":
            options.update(activation=names[0], softmax=len(names) == 2)
            try:
                if isinstance(lookup_activation(names[0]), VectorActivation):
                    problems.append(f"--activation {args.activation!r}: {names[0]} is not element-wise; "
                                    f"it can only be the output layer, as in generic,softmax")
            except SpecError as error:
                problems.append(str(error))
        else:
            problems.append(f"--activation {args.activation!r}: a general proof takes one element-wise activation "
                            f"for every layer, optionally followed by softmax for the output layer "
                            f"(e.g. sigmoid, or tanh,softmax)")
    if args.mean:
        problems.append("--mean cannot be combined with --general: a general proof is for the cost of one "
                        "training example")
    if args.method != "auto":
        # the general proof has one method: every step re-verified symbolically by SymPy
        problems.append(f"--method {args.method!r} cannot be combined with --general: a general proof is "
                        f"always checked by re-verifying every step with SymPy; leave --method out")
    if args.bias is not None:
        flag = "--bias" if args.bias else "--no-bias"
        problems.append(f"{flag} cannot be combined with --general: a general proof gives every layer a bias")
    if args.l2 is not None:
        # λ stays symbolic: the proof holds for every strength, so a number would be silently dropped
        if args.l2.strip().lower() in ("lambda", "λ", "true"):
            options["l2"] = True
        else:
            problems.append(f"--l2 {args.l2!r} cannot be combined with --general: a general proof keeps λ "
                            f"symbolic; give --l2 lambda")
    if problems:
        raise SpecError(problems)
    return options


def command_derive_general(args) -> int:
    """``derive --general``: BP1-BP4 proven for every network; exit 1 when the proof does not re-verify."""
    from .documents.render import label_prefix_from

    from .proof.general import derive_general, general_notation
    from .proof.report import render_general

    # an unknown notation is reported once, by _check_choices
    _, _, options, _ = _all_at_once(lambda: _check_choices(args), lambda: _check_label_prefix_flag(args),
                                    lambda: _general_arguments(args),
                                    lambda: args.notation in NOTATIONS and general_notation(args.notation))
    progress = Progress()
    progress.start("proving BP1-BP4 for every network")
    general = derive_general(**options)
    progress.done()
    progress.start("re-verifying every step with SymPy")
    report = general.check()
    progress.done()
    document = render_general(general, args.format, args.lang, args.notation, args.flavor,
                              standalone=args.standalone, report=report, templates=args.templates,
                              label_prefix=_label_prefix(args, label_prefix_from(
                                  f"bp-general-{options.get('activation', 'generic')}-{options['cost']}")),
                              heading_level=args.heading_level)
    _write_or_print(args.output, document)
    return 0 if report.ok else 1


# ---------------------------------------------------------------- derive --label-prefix


def _check_label_prefix_flag(args) -> None:
    """--label-prefix, --heading-level (LaTeX) and --front-matter, --date (Markdown): refused for other formats,
    and checked before any work."""
    from .documents.render import check_label_prefix

    if args.label_prefix is not None:
        if args.format != "tex":
            raise SpecError(f"--label-prefix {args.label_prefix!r} applies to LaTeX only; expected --format tex "
                            f"(got --format {args.format})")
        check_label_prefix(args.label_prefix)
    _check_document_flags(args)


def _check_document_flags(args) -> None:
    """--heading-level only with LaTeX, --front-matter and --date only with Markdown (and --date only with
    --front-matter); a bad date is refused before any work."""
    general = getattr(args, "general", False)
    if args.heading_level != "section" and args.format != "tex":
        raise SpecError(f"--heading-level {args.heading_level} applies to LaTeX only; expected --format tex "
                        f"(got --format {args.format})")
    if (args.front_matter or args.date is not None) and (args.format != "md" or general):
        raise SpecError(f"--front-matter and --date apply to a Markdown document only; expected --format md "
                        f"(got --format {args.format}{' --general' if general else ''})")
    if args.date is not None and not args.front_matter:
        raise SpecError(f"--date {args.date!r} dates the front matter; expected --front-matter with it")
    _front_matter(args)


def _front_matter(args) -> dict | None:
    """--front-matter's options: the date from --date, else from SOURCE_DATE_EPOCH, else none (never the clock)."""
    from .documents.render import front_matter

    if not args.front_matter:
        return None
    date = args.date
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if date is None and epoch:
        if not epoch.isdigit():
            raise SpecError(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds; expected e.g. 1714521600")
        date = datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%d")
    return front_matter(date)


def _label_prefix(args, fallback: str) -> str:
    """The label prefix of a document: --label-prefix, else the -o file's stem, else ``fallback``."""
    from .documents.render import label_prefix_from

    if args.label_prefix is not None:
        return args.label_prefix
    if args.output:
        return label_prefix_from(Path(args.output).stem)
    return fallback


def command_examples(args) -> int:
    from .examples import gallery, missing_dependencies

    directory = Path(args.output)
    problems = missing_dependencies()
    if args.check and not directory.is_dir():
        problems.append(f"the gallery folder {str(directory)!r} does not exist; expected the repository's "
                        f"output folder (run from the repository's root, or give --output)")
    if problems:
        raise SpecError(problems)
    progress = Progress()
    progress.start("rendering the gallery")
    files = gallery()
    progress.done()
    if args.check:
        stale = []
        for name, content in files.items():
            path = directory / name
            if not path.is_file() or path.read_text(encoding="utf-8") != content:
                stale.append(name)
        extra = sorted(p.name for p in directory.glob("*") if p.is_file() and p.name not in files) \
            if directory.is_dir() else []
        for name in stale:
            print(f"stale: {directory / name}")
        for name in extra:
            print(f"not generated by symbackprop examples: {directory / name}")
        if stale or extra:
            print(f"{len(stale) + len(extra)} file(s) differ; run `symbackprop examples` to regenerate the gallery")
            return 1
        print(f"the gallery in {directory} is up to date ({len(files)} files)")
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        write_atomically(directory / name, content)
    print(f"wrote {len(files)} files to {directory}")
    return 0


def _add_network_flags(parser: argparse.ArgumentParser, spec_alias: bool = False) -> None:
    """SPEC, the spec file, is positional in every command; check and check-doc also accept the older ``--spec``."""
    group = parser.add_argument_group("network (flags override a spec file)")
    group.add_argument("spec", nargs="?", metavar="SPEC", help="a network spec file, .toml or .json (default: "
                       "the flags alone)")
    if spec_alias:
        group.add_argument("--spec", dest="spec_option", metavar="SPEC", help="the same as the positional SPEC")
    group.add_argument("--layers", help="layer sizes, input first (default 2,3,2)")
    group.add_argument("--activation", help="one activation, or one per layer after the input, separated by "
                       "commas: sigmoid, tanh, relu, leaky_relu[:slope], softplus, identity, softmax, generic "
                       "(default sigmoid; generic for derive --general)")
    group.add_argument("--cost", help="quadratic, binary_cross_entropy or cross_entropy (default quadratic)")
    group.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None,
                       help="give every layer a bias, or none with --no-bias (default: a bias on every layer)")
    group.add_argument("--l2", metavar="LAMBDA", help="add (λ/2n)Σw²: a number, or 'lambda' for a symbolic λ "
                       "(default: no regularisation)")
    group.add_argument("--mean", action="store_true", help="the cost is the mean over n training examples "
                       "(default: the cost of one example)")


def _add_claim_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("claims")
    group.add_argument("--notation", default="nielsen",
                       help=f"the notation of the claim: {', '.join(sorted(NOTATIONS))} (default nielsen)")
    group.add_argument("--syntax", default="auto", help="latex, text or auto (default auto: "
                       "whichever the claim reads as)")
    group.add_argument("--star", default="product",
                       help="what a written * means: product (like \\cdot, default) or hadamard (element-wise, "
                            "as when × is the matrix product)")
    group.add_argument("--points", type=int, default=3, help="random points of the numeric comparison (default 3)")
    group.add_argument("--max-terms", type=int, default=MAX_TERMS, metavar="N",
                       help="the most terms the exact comparison of one claim may expand to; past it the claim "
                            f"is undecided (exit 3) with its numeric evidence (default {MAX_TERMS})")
    group.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                       help="accepted from earlier releases, which bounded the proof by seconds, and ignored with a "
                            "note: no verdict depends on the clock (default: not given)")
    group.add_argument("--lang", default="en", help=f"language of the answer: {', '.join(LANGUAGES)} (default en)")
    group.add_argument("--json", action="store_true", help="print JSON, mistakes by name (default: text)")


def _claims_exit(results, strict: bool = False) -> int:
    """0 when every claim read is correct, 1 when one is incorrect, 3 when one is undecided; 2 when nothing
    could be checked (no evidence either way), or with ``strict`` when a display could not be read."""
    statuses = {r.status for r in results}
    if not statuses & {"correct", "incorrect", "undecided"}:
        return 2
    if strict and "unreadable" in statuses:
        return 2
    if "incorrect" in statuses:
        return 1
    if "undecided" in statuses:
        return 3
    return 0


def _check_claim_choices(args) -> None:
    from .claims.transform import STARS

    problems = []
    if args.notation not in NOTATIONS:
        problems.append(unknown_name("notation", args.notation, NOTATIONS))
    if args.syntax not in ("auto", "latex", "text"):
        problems.append(unknown_name("syntax", args.syntax, ("auto", "latex", "text")))
    if args.star not in STARS:
        problems.append(unknown_name("--star", args.star, STARS))
    if not 1 <= args.points <= 100:
        problems.append(f"--points {args.points} is out of range; expected 1..100")
    if not 1 <= args.max_terms <= 10**8:
        problems.append(f"--max-terms {args.max_terms} is out of range; expected 1..{10**8}")
    if args.lang not in LANGUAGES:
        problems.append(unknown_name("language", args.lang, LANGUAGES))
    if problems:
        raise SpecError(problems)
    if args.time_limit is not None:
        print("symbackprop: note: --time-limit has no effect: the exact comparison is bounded by --max-terms, "
              "never by the clock", file=sys.stderr)


def _layered_claims(args):
    """The spec file's network of [[layer]] entries for check and check-doc, or None; the options that do not
    apply to it are refused, all in one message."""
    try:
        spec = _spec_path(args)
    except SpecError:
        return None
    network = _layered_spec(argparse.Namespace(spec=spec))
    if network is None:
        return None
    flags = [("--layers", args.layers), ("--activation", args.activation), ("--cost", args.cost),
             ("--bias/--no-bias", args.bias), ("--l2", args.l2), ("--mean", args.mean or None)]
    problems = [f"{flag} cannot be combined with a description of [[layer]] entries ({spec!r}); expected the "
                f"setting in the description itself" for flag, value in flags if value is not None]
    if args.notation != "nielsen" and args.notation in NOTATIONS:
        problems.append(f"--notation {args.notation} is not available for a description of [[layer]] entries; "
                        f"its claims are written in one notation (layer l's values z^l, a^l, δ^l, kernels K^l)")
    if args.star != "product":
        problems.append(f"--star {args.star} is not available for a description of [[layer]] entries; expected "
                        "product (a claim about one entry has no element-wise products)")
    _all_at_once(lambda: _check_claim_choices(args), lambda: _known_names(problems=problems))
    return network


def _check_layered(args, network, text: str | None = None, fmt: str | None = None) -> int:
    """check or check-doc on a network of [[layer]] entries: each claim about one entry, decided."""
    from .claims.layered import check_layered_document, check_layered_formula
    from .claims.report import render_layered_verdicts
    from .proof.layered import derive_layered

    derivation = derive_layered(network)
    options = {"points": args.points, "max_terms": args.max_terms}
    if text is None:
        results = [check_layered_formula(args.claim, network, args.syntax, derivation=derivation, **options)]
    else:
        values = _worked_point(args, derivation, layered=True)
        if fmt == "json":
            return _check_output(args, text, network, derivation, values, layered=True)
        results = check_layered_document(text, fmt, network, derivation=derivation, values=values, **options)
    sys.stdout.write(render_layered_verdicts(results, "json" if args.json else "text", lang=args.lang))
    return _claims_exit(results, strict=getattr(args, "strict", False))


def command_check(args) -> int:
    from .claims.report import render_verdicts
    from .claims.verdicts import check_formula
    from .proof.chain import derive

    layered = _layered_claims(args)
    if layered is not None:
        return _check_layered(args, layered)
    _, network = _all_at_once(lambda: _check_claim_choices(args),
                              lambda: network_from_args(args, first_layer(args.notation)))
    derivation = derive(network)
    verdict = check_formula(args.claim, network, args.notation, args.syntax, derivation=derivation,
                            star=args.star, points=args.points, max_terms=args.max_terms)
    sys.stdout.write(render_verdicts(derivation, [verdict], args.notation, "json" if args.json else "text",
                                     lang=args.lang))
    return _claims_exit([verdict])


#: what one call of check-doc accepts: every claim is proven on its own (from a few hundredths of a
#: second to seconds each), so a larger document is checked in parts
MAX_DOCUMENT_CHARACTERS = 1_000_000
MAX_DOCUMENT_EQUATIONS = 1_000


def _document_size(path: str, text: str, fmt: str) -> None:
    """Refuse a document beyond what one check-doc call accepts, before any claim is read."""
    from .claims.extraction import extract_equations

    if len(text) > MAX_DOCUMENT_CHARACTERS:
        raise SpecError(f"document {path!r} has {len(text):,} characters; check-doc takes at most "
                        f"{MAX_DOCUMENT_CHARACTERS:,} in one call; expected a smaller document, or its parts "
                        f"checked one by one")
    count = sum(1 for _ in extract_equations(text, fmt)) if fmt != "json" else 0
    if count > MAX_DOCUMENT_EQUATIONS:
        raise SpecError(f"document {path!r} has {count:,} display equations; check-doc takes at most "
                        f"{MAX_DOCUMENT_EQUATIONS:,} in one call, because every claim among them is proven "
                        f"on its own; expected a smaller document, or its parts checked one by one")


#: what check-doc reads: a document, or a JSON output of derive or evaluate
DOCUMENT_SUFFIXES = {".md": "md", ".markdown": "md", ".tex": "tex", ".json": "json"}


def _check_output(args, text: str, network, derivation, values, layered: bool = False) -> int:
    """check-doc on a JSON output of derive or evaluate: every formula and number it states, decided."""
    from .claims.outputs import check_output
    from .claims.report import render_layered_verdicts, render_verdicts

    results = check_output(text, args.file, network, derivation, args.notation, values, layered=layered,
                           points=args.points, max_terms=args.max_terms)
    fmt = "json" if args.json else "text"
    if layered:
        sys.stdout.write(render_layered_verdicts(results, fmt, lang=args.lang))
    else:
        sys.stdout.write(render_verdicts(derivation, results, args.notation, fmt, lang=args.lang))
    return _claims_exit(results, strict=args.strict)


def _worked_point(args, derivation, layered: bool = False):
    """check-doc's --values, --lr and --digits: the point a worked example was computed at, or None."""
    from .claims.values import WorkedPoint
    from .model.activations import exact_number

    if getattr(args, "values", None) is None:
        if args.lr != "0.5" or args.digits != 6:
            raise SpecError("--lr and --digits describe the numbers of a worked example; expected them with "
                            "--values FILE.json")
        return None
    problems = [] if 1 <= args.digits <= 40 else [f"--digits {args.digits} is out of range; expected 1..40"]
    _, lr, data = _all_at_once(lambda: _known_names(problems=problems), lambda: exact_number(args.lr, "--lr"),
                               lambda: _read_values(args.values))
    if layered:
        from .numbers.layered import parse_layered_values
        from .proof.layered import LayeredPoint

        return WorkedPoint(LayeredPoint(*parse_layered_values(data, derivation)), lr, args.digits)
    from .numbers import parse_values
    from .proof.oracle import Point

    return WorkedPoint(Point(*parse_values(data, derivation)), lr, args.digits)


def command_check_doc(args) -> int:
    from .claims.report import render_verdicts
    from .claims.verdicts import check_document
    from .proof.chain import derive

    layered = _layered_claims(args)
    if layered is not None:
        text, fmt = read_text_file(args.file, "document", DOCUMENT_SUFFIXES, ".md, .tex or .json")
        _document_size(args.file, text, fmt)
        return _check_layered(args, layered, text, fmt)
    _, (text, fmt), network = _all_at_once(
        lambda: _check_claim_choices(args),
        lambda: read_text_file(args.file, "document", DOCUMENT_SUFFIXES, ".md, .tex or .json"),
        lambda: network_from_args(args, first_layer(args.notation)))
    _document_size(args.file, text, fmt)
    derivation = derive(network)
    values = _worked_point(args, derivation)
    if fmt == "json":
        return _check_output(args, text, network, derivation, values)
    progress = Progress()
    progress.start(f"checking the claims of {args.file}")
    results = check_document(text, fmt, network, args.notation, derivation=derivation, star=args.star,
                             points=args.points, max_terms=args.max_terms, progress=progress.count, values=values)
    progress.done()
    sys.stdout.write(render_verdicts(derivation, results, args.notation, "json" if args.json else "text",
                                     lang=args.lang))
    return _claims_exit(results, strict=args.strict)


# ---------------------------------------------------------------------- numbers, code export, gradient diffusion


def _read_values(path: str):
    """The JSON object of a values file; a syntax error names its line and column."""
    from .model.spec import load_json

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"values file {path!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"cannot read values file {path!r}: {error}") from None
    return load_json(text, f"values file {path!r}")


def _write_or_print(output, document) -> None:
    """A document (and its attachments, beside it) to ``output``, or its text to stdout.

    An attachment that would land on ``output`` itself (``--format md -o x.svg``) is
    refused before anything is written.
    """
    if output is None:
        sys.stdout.write(document.text)
        return
    output = Path(output)
    for path in [output, *(output.parent / name for name in document.attachments)]:
        output_target(path)
    for name in document.attachments:
        if (output.parent / name).resolve() == output.resolve():
            raise SpecError(f"the output {str(output)!r} is also the name of the figure written beside it; "
                            f"expected another name for the document, such as {str(output.with_suffix('.md'))!r}")
    for name, content in document.attachments.items():
        write_atomically(output.parent / name, content)
    write_atomically(output, document.text)


def command_evaluate(args) -> int:
    from .proof.chain import derive

    from .model.activations import exact_number
    from .numbers import DOCUMENT_PARAMETERS, parse_values, worked_example
    from .numbers import WORKED_FORMATS, render_worked

    layered = _layered_spec(args)
    if layered is not None:
        return command_evaluate_layered(args, layered)
    _, lr, data, network, _ = _all_at_once(
        lambda: _known_names(("format", args.format, WORKED_FORMATS), ("language", args.lang, LANGUAGES),
                             ("notation", args.notation, NOTATIONS), ("flavor", args.flavor, FLAVORS)),
        lambda: exact_number(args.lr, "--lr"),
        lambda: _read_values(args.values),
        lambda: network_from_args(args, first_layer(args.notation)), lambda: _check_document_flags(args))
    if args.format != "json" and network.parameter_count > DOCUMENT_PARAMETERS:
        raise SpecError(f"the network {'-'.join(map(str, network.sizes))} has {network.parameter_count} parameters; "
                        f"a worked example in {args.format} is written for at most {DOCUMENT_PARAMETERS} "
                        f"(a few lines each); use --format json for the numbers of a larger network")
    derivation = derive(network)
    params, x, y, l2 = parse_values(data, derivation)
    progress = Progress()
    progress.start(f"evaluating {network.parameter_count} gradients")
    example = worked_example(derivation, {**params, **l2}, x, y, lr=lr, digits=args.digits)
    document = render_worked(example, args.format, args.lang, args.notation, args.flavor,
                             heading_level=args.heading_level, front_matter=_front_matter(args))
    progress.done()
    _write_or_print(args.output, document)
    return 0


def command_evaluate_layered(args, network) -> int:
    """``evaluate`` on a description with [[layer]] entries: the derivation with the numbers of a values file."""
    from .model.activations import exact_number
    from .numbers import DOCUMENT_PARAMETERS
    from .numbers.layered import LAYERED_WORKED_FORMATS, layered_worked_example, parse_layered_values, render_layered_worked
    from .proof.layered import derive_layered

    problems = _layered_flag_problems(args)
    if args.notation != DEFAULT_NOTATION and args.notation in NOTATIONS:
        problems.append(f"--notation {args.notation} is not available for a description of [[layer]] entries; "
                        f"it is written in one notation (layer l's values z^l, a^l, δ^l, kernels K^l)")
    if args.heading_level != "section" or args.front_matter or args.date is not None:
        problems.append("--heading-level, --front-matter and --date are not available for a description of [[layer]] "
                        "entries; expected them with a network given by --layers or a spec without [[layer]] entries")
    if args.format != "json" and args.format in LAYERED_WORKED_FORMATS and network.parameter_count > DOCUMENT_PARAMETERS:
        problems.append(f"the network {network.name} has {network.parameter_count} parameters; a worked example in "
                        f"{args.format} is written for at most {DOCUMENT_PARAMETERS} (a few lines each); use "
                        f"--format json for the numbers of a larger network")
    _, lr, data = _all_at_once(
        lambda: _known_names(("format", args.format, LAYERED_WORKED_FORMATS), ("language", args.lang, LANGUAGES),
                             ("notation", args.notation, NOTATIONS), ("flavor", args.flavor, FLAVORS),
                             problems=problems),
        lambda: exact_number(args.lr, "--lr"),
        lambda: _read_values(args.values))
    derivation = derive_layered(network)
    params, x, y = parse_layered_values(data, derivation)
    example = layered_worked_example(derivation, params, x, y, lr=lr, digits=args.digits)
    _write_or_print(args.output, render_layered_worked(example, derivation, args.format, args.lang, args.flavor))
    return 0


def command_codegen(args) -> int:
    from .proof.chain import derive

    from .codegen import numpy_module
    from .documents.render import Document

    layered = _layered_spec(args)
    if layered is not None:
        from .codegen.layered import layered_module
        from .proof.layered import derive_layered

        _known_names(problems=_layered_flag_problems(args))
        _write_or_print(args.output, Document(layered_module(derive_layered(layered))))
        return 0
    network = network_from_args(args)
    _write_or_print(args.output, Document(numpy_module(derive(network))))
    return 0


def command_diffusion(args) -> int:
    from .diffusion import MissingDependency, bounds, check_measurement, measure, render_diffusion

    _all_at_once(lambda: _known_names(("format", args.format, ("md", "tex")), ("language", args.lang, LANGUAGES),
                                      ("notation", args.notation, NOTATIONS)),
                 lambda: check_measurement(args.depth, args.width, args.activation, args.draws, args.seed),
                 lambda: _check_document_flags(args))
    progress = Progress()
    progress.start("measuring gradients")
    try:
        measurement = measure(args.depth, args.width, args.activation, args.draws, args.seed)
    except MissingDependency as missing:
        raise SpecError(str(missing)) from None
    progress.done()
    output = Path(args.output) if args.output else None
    figure = output.with_suffix(".svg").name if output is not None and args.format == "md" else None
    document = render_diffusion(measurement, bounds(measurement.activations), args.format, args.lang, figure,
                                notation=args.notation, heading_level=args.heading_level,
                                front_matter=_front_matter(args))
    _write_or_print(output, document)
    return 0


def _add_document_flags(parser) -> None:
    """--heading-level (LaTeX), --front-matter and --date (Markdown): the same for every command that writes a document."""
    parser.add_argument("--heading-level", choices=HEADING_LEVELS, default="section",
                        help="LaTeX: what the document's sections become, so that a fragment fits under a lecture's "
                             "own headings (default section)")
    parser.add_argument("--front-matter", action="store_true",
                        help="Markdown: start with front matter for Hexo, Jekyll or Hugo (title, date, mathjax: true) "
                             "instead of the title heading (default: no front matter, a title heading)")
    parser.add_argument("--date", metavar="YYYY-MM-DD",
                        help="the front matter's date (default: from SOURCE_DATE_EPOCH when set, else no date; "
                             "never the clock, so that output is reproducible)")


def _add_evaluate_command(commands) -> None:
    parser = commands.add_parser("evaluate", help="a worked example: the derivation with numbers, and one "
                                                  "step of gradient descent")
    _add_network_flags(parser)
    parser.add_argument("--values", required=True, metavar="FILE.json",
                        help='every parameter by its key ("w,l,j,k", "b,l,j"), with "x" and "y" lists '
                             '(and "lambda", "n" under L2)')
    parser.add_argument("--lr", default="0.5", help="the learning rate η (default 0.5)")
    parser.add_argument("--digits", type=int, default=6, help="significant digits shown (default 6; "
                                                              "the computation does not round)")
    parser.add_argument("--format", default="text", help="text (default), md, tex or json")
    parser.add_argument("--lang", default="en", help=f"document language: {', '.join(LANGUAGES)} (default en)")
    parser.add_argument("--notation", default="nielsen",
                        help=f"how quantities are written: {', '.join(sorted(NOTATIONS))} (default nielsen)")
    parser.add_argument("--flavor", default="github",
                        help=f"Markdown math flavour: {', '.join(FLAVORS)} (default github)")
    parser.add_argument("-o", "--output", help="write to this file (atomically) instead of stdout")
    _add_document_flags(parser)
    parser.set_defaults(handler=command_evaluate)


def _add_codegen_command(commands) -> None:
    parser = commands.add_parser("codegen", help="a standalone NumPy module: the forward pass and every "
                                                 "gradient, batched")
    _add_network_flags(parser)
    parser.add_argument("-o", "--output", metavar="FILE.py", help="write the module to this file (atomically) "
                                                                  "instead of stdout")
    parser.set_defaults(handler=command_codegen)


def _add_diffusion_command(commands) -> None:
    parser = commands.add_parser("diffusion", help="why gradients vanish: the bound on σ' and the gradient "
                                                   "norm per layer of a deep network, measured")
    parser.add_argument("--depth", type=int, default=10, help="hidden layers (default 10)")
    parser.add_argument("--width", type=int, default=30, help="neurons per layer (default 30)")
    parser.add_argument("--activation", default=",".join(DIFFUSION_ACTIVATIONS),
                        help=f"activations to compare, separated by commas (default {','.join(DIFFUSION_ACTIVATIONS)})")
    parser.add_argument("--draws", type=int, default=5, help="random initialisations averaged (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="the random seed (default 0)")
    parser.add_argument("--format", default="md", help="md (default) or tex")
    parser.add_argument("--lang", default="en", help=f"document language: {', '.join(LANGUAGES)} (default en)")
    parser.add_argument("--notation", default="nielsen",
                        help=f"how layers are numbered: {', '.join(sorted(NOTATIONS))} (default nielsen)")
    parser.add_argument("-o", "--output", help="write to this file (atomically) instead of stdout; Markdown "
                                               "gets its plot as an SVG file beside it")
    _add_document_flags(parser)
    parser.set_defaults(handler=command_diffusion)


# ---------------------------------------------------------------------- computational graphs


def command_graph(args) -> int:
    from .graph.analysis import MODES, analyse, graph_of, parse_point
    from .graph.document import GRAPH_FORMATS, render_graph

    _, graph, point, _ = _all_at_once(
        lambda: _known_names(("mode", args.mode, MODES), ("format", args.format, GRAPH_FORMATS),
                             ("language", args.lang, LANGUAGES), ("flavor", args.flavor, FLAVORS)),
        lambda: graph_of(args.expression), lambda: parse_point(args.at), lambda: _check_document_flags(args))
    analysis = analyse(graph, point, args.mode)
    output = Path(args.output) if args.output else None
    figure = output.with_suffix(".svg").name if output is not None and args.format == "md" else None
    document = render_graph(analysis, args.format, args.lang, args.flavor, figure=figure,
                            heading_level=args.heading_level, front_matter=_front_matter(args))
    _write_or_print(output, document)
    return 1 if analysis.check.failed else 0


def _add_graph_command(commands) -> None:
    parser = commands.add_parser("graph", help="an expression as a computational graph, differentiated in "
                                               "forward and reverse mode at a point")
    parser.add_argument("expression", help="arithmetic on variables, e.g. '(a+b)*(b+1)'; + - * / ^ (or **), "
                                           "exp, log, sin, cos, tan, tanh, sigma, sqrt; it may start with a "
                                           "minus sign ('-x*y')")
    parser.add_argument("--at", required=True, metavar="NAME=NUMBER,...",
                        help="the value of every variable, e.g. a=2,b=1 (integers, decimals or fractions)")
    parser.add_argument("--mode", default="both", help="forward, reverse or both (default both)")
    parser.add_argument("--format", default="text", help="text (default), md, tex or json")
    parser.add_argument("--lang", default="en", help=f"document language: {', '.join(LANGUAGES)} (default en)")
    parser.add_argument("--flavor", default="github",
                        help=f"Markdown math flavour: {', '.join(FLAVORS)} (default github)")
    parser.add_argument("-o", "--output", help="write to this file (atomically) instead of stdout; Markdown "
                                               "gets the drawing as an SVG file beside it")
    _add_document_flags(parser)
    parser.set_defaults(handler=command_graph)
    parser.formula = True


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="symbackprop",
        description="Derive backpropagation symbolically, prove BP1-BP4 and write the derivation out.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    derive_parser = commands.add_parser("derive", help="every gradient of a network, and the check of BP1-BP4")
    _add_network_flags(derive_parser)
    derive_parser.add_argument("--method", choices=[*METHODS, "none"], default="auto",
                               help="how to check BP1-BP4 (default auto: exact for small networks, "
                                    "inductive otherwise, plus a numeric cross-check)")
    out = derive_parser.add_argument_group("output")
    out.add_argument("--format", default="text", help=f"one of {', '.join(FORMATS)} (default text)")
    out.add_argument("--json", action="store_true", help="the same as --format json (default: off)")
    out.add_argument("--lang", default="en", help=f"document language: {', '.join(LANGUAGES)} (default en)")
    out.add_argument("--notation", default="nielsen",
                     help=f"how quantities are written: {', '.join(sorted(NOTATIONS))} (default nielsen)")
    out.add_argument("--flavor", default="github",
                     help=f"Markdown math flavour: {', '.join(FLAVORS)} (default github)")
    layout = out.add_mutually_exclusive_group()
    layout.add_argument("--standalone", dest="standalone", action="store_true", default=True,
                        help="LaTeX: a complete article (default)")
    layout.add_argument("--fragment", dest="standalone", action="store_false",
                        help="LaTeX: equations and text to \\input into lecture notes, no preamble "
                             "(default: --standalone)")
    out.add_argument("--templates", metavar="DIR", help="look for templates in DIR first (default: only the "
                                                         "templates shipped with symbackprop)")
    out.add_argument("-o", "--output", help="write to this file (atomically) instead of stdout; "
                                            "a Markdown document gets its drawing as an SVG file beside it")
    out.add_argument("--label-prefix", metavar="PREFIX",
                     help="LaTeX: start every \\label and \\eqref with PREFIX (eq:PREFIX:bp1), so that several "
                          "documents can be \\input together (default: the -o file's stem, else e.g. bp-2-3-2)")
    _add_document_flags(out)
    derive_parser.add_argument("--general", action="store_true",
                               help="prove BP1-BP4 for every network with this cost and activation "
                                    "(symbolic sizes, any depth) instead of deriving one network (default: "
                                    "derive the one network given)")
    derive_parser.set_defaults(handler=command_derive)

    check_parser = commands.add_parser("check", help="is a hand-derived formula right? (exit 0 correct, "
                                                     "1 incorrect, 3 undecided)")
    _add_network_flags(check_parser, spec_alias=True)
    check_parser.add_argument("claim", metavar="CLAIM", help="LHS = RHS, in LaTeX or plain text, e.g. "
                                            "'\\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \\sigma'(z^{3}_{1})'")
    _add_claim_flags(check_parser)
    check_parser.set_defaults(handler=command_check)
    check_parser.formula = True

    doc_parser = commands.add_parser("check-doc", help="check every display equation of a Markdown or LaTeX file "
                                                       "(exit 0 every claim read is correct, 1 one is incorrect, "
                                                       "2 nothing could be checked, 3 one is undecided)")
    _add_network_flags(doc_parser, spec_alias=True)
    doc_parser.add_argument("file", metavar="FILE", help="a .md or .tex document, or a .json output of derive or "
                                                          "evaluate")
    _add_claim_flags(doc_parser)
    doc_parser.add_argument("--strict", action="store_true",
                            help="exit 2 when any display that states a claim could not be read (by default such "
                                 "displays are listed in the report and the exit status follows the claims read)")
    worked = doc_parser.add_argument_group("the numbers of a worked example (evaluate)")
    worked.add_argument("--values", metavar="FILE.json",
                        help="the values file the worked example was computed from: every number the document states "
                             "is then checked at that point (default: numbers are skipped)")
    worked.add_argument("--lr", default="0.5", help="the learning rate η the example used, with --values (default 0.5)")
    worked.add_argument("--digits", type=int, default=6,
                        help="the significant digits the example shows, with --values (default 6)")
    doc_parser.set_defaults(handler=command_check_doc)

    _add_evaluate_command(commands)
    _add_codegen_command(commands)
    _add_diffusion_command(commands)
    _add_graph_command(commands)
    examples_parser = commands.add_parser("examples", help="regenerate the gallery of example derivations")
    examples_parser.add_argument("--check", action="store_true",
                                 help="change nothing; exit 1 if a file of the gallery would change "
                                      "(default: rewrite the gallery)")
    examples_parser.add_argument("--output", default="output", help="the gallery directory (default output)")
    examples_parser.set_defaults(handler=command_examples)
    return parser


@functools.lru_cache(maxsize=1)
def _main_parser() -> argparse.ArgumentParser:
    """The parser of :func:`main`, built once per process: parsing leaves it as it was, and a program that
    calls ``main`` many times (a test suite, a notebook) need not build its hundreds of options again."""
    return build_parser()


def main(argv=None) -> int:
    parser = _main_parser()
    args = parser.parse_args(argv)
    try:
        if args.command != "examples" and getattr(args, "output", None):
            output_target(args.output)  # a directory or a missing folder is refused before any work
        with paused():
            return args.handler(args)
    except SpecError as error:
        print(f"symbackprop: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symbackprop: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
