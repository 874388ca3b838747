"""The ``clustersim`` command line.

    clustersim run [SCENARIO] [--set KEY=VALUE ...] [--seed N] [--json] [--out DIR]
                   [--chrome-trace FILE]
    clustersim collective --op OP --bytes N --gpus N [--topology ring|switch|PRESET]
                   [--link-bw GBPS --latency-us US] [--algorithm NAME] [--json]
    clustersim validate [--json]
    clustersim sweep SWEEP.yaml [--workers N] [--scheduler ADDRESS] [--out DIR]

Bad input exits with status 2 and one line naming the file, field and value.
"""
from __future__ import annotations

import argparse
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
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="simulate a scenario (YAML file or preset) or a trace file")
    r.add_argument("scenario", nargs="?", default=None,
                   help="scenario YAML, preset name, or trace JSON (default: the built-in default)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key, e.g. --set parallelism.tp=4")
    r.add_argument("--seed", type=int, default=None, help="seed for every random draw")
    r.add_argument("--json", action="store_true", help="print exactly one JSON object")
    r.add_argument("--out", default=None, metavar="DIR", help="write result.json (and figures) here")
    r.add_argument("--chrome-trace", default=None, metavar="FILE",
                   help="write a Chrome/Perfetto trace of the step (and of the run timeline)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    c = sub.add_parser("collective", help="time one collective, like nccl-tests")
    c.add_argument("--op", required=True, choices=["all_reduce", "all_gather",
                   "reduce_scatter", "all_to_all", "broadcast", "reduce"])
    c.add_argument("--bytes", required=True, type=_size, help="buffer size in bytes (e.g. 1G)")
    c.add_argument("--gpus", required=True, type=int, help="number of GPUs in the group")
    c.add_argument("--topology", default="switch",
                   help="ring, switch, or a GPU/node preset (a100-80gb, h100-sxm, dgx-a100, ...)")
    c.add_argument("--link-bw", type=float, default=50.0,
                   help="link bandwidth per direction in GB/s (ring/switch)")
    c.add_argument("--latency-us", type=float, default=1.0, help="per-hop latency in us (ring/switch)")
    c.add_argument("--algorithm", default=None, help="ring, tree, hierarchical, direct (default: auto)")
    c.add_argument("--json", action="store_true", help="print one JSON object")

    v = sub.add_parser("validate", help="published measurements vs prediction, with MAPE")
    v.add_argument("--json", action="store_true")

    s = sub.add_parser("sweep", help="run a grid of scenarios (processes or a dask cluster)")
    from sim.commands.sweep import add_sweep_arguments
    add_sweep_arguments(s)
    return p


def _size(text: str) -> float:
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    t = text.strip().lower().rstrip("b")
    try:
        if t and t[-1] in units:
            return float(t[:-1]) * units[t[-1]]
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            from sim.commands.run import cmd_run
            return cmd_run(args)
        if args.command == "collective":
            from sim.commands.collective import cmd_collective
            return cmd_collective(args)
        if args.command == "validate":
            from sim.commands.validate import cmd_validate
            return cmd_validate(args)
        from sim.commands.sweep import cmd_sweep
        return cmd_sweep(args)
    except (InputError, TopologyError) as e:
        print(f"clustersim: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("clustersim: interrupted", file=sys.stderr)
        return 130


def print_json(obj: dict) -> None:
    from sim.io import dumps_json
    sys.stdout.write(dumps_json(obj, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
