"""The ``clustersim`` command line.

    clustersim run [SCENARIO] [--set KEY=VALUE ...] [--seed N] [--json] [--out DIR]
                   [--chrome-trace FILE]
    clustersim collective --op OP --bytes N --gpus N [--topology ring|switch|PRESET]
                   [--link-bw GBPS --latency-us US] [--algorithm NAME] [--protocol NAME]
                   [--chunks N] [--explain] [--json]
    clustersim validate [--suite a100|modern] [--json]
    clustersim sweep SWEEP.yaml [--workers N] [--scheduler ADDRESS] [--out DIR] [--plot]
    clustersim run --chakra PREFIX --network NET.yml [--system SYS.json] [--comm-groups FILE]
    clustersim trace convert chakra|kineto INPUT... -o OUT.json
    clustersim plot RESULTS [--x KEY --y METRIC --hue KEY --facet KEY]

Bad input exits with status 2 and one line naming the file, field and value;
an internal error exits with status 3 and one line (the traceback with --debug);
a closed pipe (``| head``) ends quietly.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import signal
import sys

from topologies.errors import TopologyError
from workloads.errors import InputError


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one line (its default, made explicit)."""

    def error(self, message):
        self.exit(2, f"clustersim: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="clustersim", description="Simulate LLM training clusters: step time, "
                "MFU, tokens/s, goodput and time-to-train.")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an internal error")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="simulate a scenario (YAML file or preset) or a trace file")
    r.add_argument("scenario", nargs="?", default=None,
                   help="scenario YAML, preset name, or trace JSON (default: the built-in default)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key, e.g. --set parallelism.tp=4")
    r.add_argument("--seed", type=int, default=None, help="seed for every random draw")
    r.add_argument("--json", action="store_true", help="print exactly one JSON object")
    r.add_argument("--out", default=None, metavar="DIR",
                   help="write result.json (the --json object) and summary.txt "
                   "(the text summary) here; the folder is created")
    r.add_argument("--chrome-trace", default=None, metavar="FILE",
                   help="write a Chrome/Perfetto trace of the step (gzip if FILE ends in .gz; "
                   "the run timeline of a faults run goes to FILE's stem + .run.json)")
    r.add_argument("--trace-microbatches", default=None, metavar="A:B",
                   help="Chrome trace: keep micro-batches A to B only (ops of no "
                   "micro-batch are kept)")
    r.add_argument("--trace-classes", default=None, metavar="LIST",
                   help="Chrome trace: keep these rank classes only, e.g. 0,3:5")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    from sim.commands.trace import add_chakra_arguments, add_trace_parser
    add_chakra_arguments(r)

    c = sub.add_parser("collective", help="time one collective, like nccl-tests")
    c.add_argument("--op", required=True, choices=["all_reduce", "all_gather",
                   "reduce_scatter", "all_to_all", "broadcast", "reduce"])
    c.add_argument("--bytes", required=True, type=_size, help="buffer size in bytes (e.g. 1G)")
    c.add_argument("--gpus", required=True, type=_gpu_count,
                   help=f"number of GPUs in the group (2..{MAX_COLLECTIVE_GPUS})")
    c.add_argument("--topology", default="switch",
                   help="ring, switch, or a GPU/node preset (a100-80gb, h100-sxm, dgx-a100, ...)")
    c.add_argument("--link-bw", type=_positive, default=50.0,
                   help="link bandwidth per direction in GB/s (ring/switch)")
    c.add_argument("--latency-us", type=_nonnegative, default=1.0,
                   help="per-hop latency in us (ring/switch)")
    c.add_argument("--algorithm", default=None,
                   help="ring, tree, hierarchical, nvls, nvls_tree, collnet, direct, pxn "
                   "(default: auto, the tuner's choice)")
    c.add_argument("--protocol", default=None,
                   help="ll, ll128, simple (default: auto, the tuner's choice)")
    c.add_argument("--chunks", type=int, default=None,
                   help="pipeline chunks per phase (default: from the protocol's chunk size)")
    c.add_argument("--explain", action="store_true",
                   help="list every candidate algorithm/protocol with its predicted time")
    c.add_argument("--json", action="store_true", help="print one JSON object")

    v = sub.add_parser("validate", help="published measurements vs prediction, with MAPE")
    v.add_argument("--suite", default=None, help="one suite of sim/data/validation.yaml "
                   "(a100, modern); default: all")
    v.add_argument("--json", action="store_true")

    s = sub.add_parser("sweep", help="run a grid of scenarios (processes or a dask cluster)")
    from sim.commands.sweep import add_sweep_arguments
    add_sweep_arguments(s)
    add_trace_parser(sub)

    pl = sub.add_parser("plot", help="figure of a sweep's results (labels with units)")
    from sim.commands.plot import add_plot_arguments
    add_plot_arguments(pl)
    return p


MAX_COLLECTIVE_GPUS = 1 << 17     # the topology graph holds every GPU, NIC and link
MAX_COLLECTIVE_BYTES = 2**50      # 1 PiB per rank is far beyond any HBM


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text[:40]!r}")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text[:40]!r}")
    return value


def _nonnegative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text[:40]!r}")
    return value


def _size(text: str) -> float:
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    t = text.strip().lower().rstrip("b")
    scale = units.get(t[-1:], 1)
    try:
        value = _positive(t[:-1] if scale > 1 else t) * scale
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"not a positive finite size: {text[:40]!r}") from None
    if value > MAX_COLLECTIVE_BYTES:
        raise argparse.ArgumentTypeError(f"at most {MAX_COLLECTIVE_BYTES:.3g} bytes (1 PiB), "
                                         f"got {text[:40]!r}")
    return value


def _gpu_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
    if not 2 <= value <= MAX_COLLECTIVE_GPUS:
        raise argparse.ArgumentTypeError(
            f"must be 2..{MAX_COLLECTIVE_GPUS} (the topology graph holds every GPU), "
            f"got {text[:40]!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(signal, "SIGXFSZ"):          # a file-size limit: a clean write error, not a kill
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        return _dispatch(args)
    except (InputError, TopologyError) as e:
        return _fail(2, f"clustersim: error: {e}")
    except KeyboardInterrupt:
        return _fail(130, "clustersim: interrupted")
    except BrokenPipeError:                 # e.g. `clustersim run --json | head -c 10`
        _silence_stdout()
        return 0
    except OSError as e:
        if e.errno in _OUTPUT_ERRNOS:       # stdout itself failed (`--json > /dev/full`)
            _silence_stdout()
            return _fail(2, f"clustersim: error: cannot write output: {e.strerror}")
        return _internal(e, args)
    except Exception as e:                  # a bug: one line, traceback only with --debug
        return _internal(e, args)


# Files go through sim.io (whose errors name the file); these errors come from stdout.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO}


def _fail(code: int, line: str) -> int:
    print(" ".join(line.split()), file=sys.stderr)
    return code


def _internal(exc: BaseException, args) -> int:
    if getattr(args, "debug", False):
        import traceback
        traceback.print_exception(exc)
    where = "" if getattr(args, "debug", False) else " (run with --debug for the traceback)"
    detail = " ".join(str(exc).split())[:200]
    return _fail(3, f"clustersim: internal error: {type(exc).__name__}: {detail}{where}; "
                    "please report it with the command line and input files")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _dispatch(args) -> int:
    try:
        if args.command == "run" and args.chakra:
            from sim.commands.trace import cmd_run_chakra
            return cmd_run_chakra(args)
        if args.command == "trace":
            from sim.commands.trace import cmd_trace
            return cmd_trace(args)
        if args.command == "run":
            from sim.commands.run import cmd_run
            return cmd_run(args)
        if args.command == "collective":
            from sim.commands.collective import cmd_collective
            return cmd_collective(args)
        if args.command == "validate":
            from sim.commands.validate import cmd_validate
            return cmd_validate(args)
        if args.command == "plot":
            from sim.commands.plot import cmd_plot
            return cmd_plot(args)
        from sim.commands.sweep import cmd_sweep
        return cmd_sweep(args)
    finally:
        sys.stdout.flush()                  # write errors surface here, inside main()


def _exit_now(code: int) -> None:
    """End the process without freeing its objects one by one: a large run's
    heap (a 131,072-GPU topology is millions of dicts) takes the interpreter
    a second to tear down and the operating system none. Output is flushed
    first; ``run`` starts no worker processes or threads that need a clean
    shutdown."""
    for stream in (sys.stdout, sys.stderr):
        # main() has already reported any write error; one at exit cannot be
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def entry() -> None:
    """The ``clustersim`` command and ``python -m sim.cli``: run :func:`main`
    on the process's arguments and exit with its code; ``run`` ends without
    tearing its heap down (see :func:`_exit_now`), unless a profiler or tracer
    (cProfile, coverage) is attached and must write its report at exit."""
    code = main()
    if sys.argv[1:2] == ["run"] and sys.getprofile() is None and sys.gettrace() is None:
        _exit_now(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
