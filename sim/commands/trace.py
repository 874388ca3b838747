"""``clustersim run --chakra ...`` and ``clustersim trace convert ...``."""
from __future__ import annotations

from pathlib import Path


def add_chakra_arguments(run) -> None:
    g = run.add_argument_group("Chakra workloads (ASTRA-sim inputs)")
    g.add_argument("--chakra", metavar="PREFIX", default=None,
                   help="replay the Chakra ET files PREFIX.<rank>.et (needs --network)")
    g.add_argument("--network", metavar="NET.yml", default=None,
                   help="ASTRA-sim analytical network YAML")
    g.add_argument("--system", metavar="SYS.json", default=None, help="ASTRA-sim system JSON")
    g.add_argument("--comm-groups", metavar="FILE", default=None,
                   help="communicator groups JSON {group_id: [ranks]} (default: whole world)")
    g.add_argument("--chakra-deps", choices=["all", "data"], default="all",
                   help="all: data and control dependencies order nodes (control links "
                   "to enclosing parents excepted); data: control dependencies ignored, "
                   "as ASTRA-sim's feeder does")
    g.add_argument("--no-fold", action="store_true",
                   help="simulate every rank (default: one per rank class)")


def add_trace_parser(sub) -> None:
    t = sub.add_parser("trace", help="convert Chakra ET or PyTorch profiler traces to ours")
    tsub = t.add_subparsers(dest="trace_command", required=True)
    c = tsub.add_parser("convert", help="write a clustersim trace JSON")
    c.add_argument("format", choices=["chakra", "kineto"])
    c.add_argument("inputs", nargs="+",
                   help="chakra: PREFIX of PREFIX.<rank>.et; kineto: one JSON per rank, in rank order")
    c.add_argument("-o", "--out", required=True, help="output trace JSON")
    c.add_argument("--comm-groups", default=None, help="chakra: communicator groups JSON")
    c.add_argument("--world-size", type=int, default=None,
                   help="chakra: number of ranks (default: found on disk)")
    c.add_argument("--chakra-deps", choices=["all", "data"], default="all",
                   help="chakra: data: control dependencies ignored, as ASTRA-sim does")


def cmd_run_chakra(args) -> int:
    from sim.astra import run_chakra
    from sim.commands.output import print_json
    from sim.commands.run import _clear_outputs
    from sim.report import summary_text
    from sim.io import write_json
    from workloads.errors import InputError
    if args.scenario is not None or args.overrides:
        raise InputError("--chakra replaces the scenario: give no SCENARIO or --set",
                         field="--chakra", value=args.chakra)
    if args.network is None:
        raise InputError("--chakra needs --network NET.yml (ASTRA-sim network YAML)",
                         field="--network")
    _clear_outputs(args)
    trace, step, res = run_chakra(args.chakra, args.network, args.system, args.comm_groups,
                                  fold=not args.no_fold, deps=args.chakra_deps)
    if args.chrome_trace is not None:
        from sim.chrome_trace import chrome_events, write_chrome_trace
        write_chrome_trace(args.chrome_trace, chrome_events(step.spans, step.classes))
    if args.out is not None:
        write_json(Path(args.out) / "result.json", res)
    if args.json:
        print_json(res)
    else:
        print(summary_text(res))
        for note in res["astra"]["notes"]:
            print(f"note           {note}")
    return 0


def cmd_trace(args) -> int:
    if args.format == "chakra":
        from workloads.importers.chakra import load_chakra
        if len(args.inputs) != 1:
            from workloads.errors import InputError
            raise InputError("chakra takes one PREFIX", field="inputs", value=args.inputs)
        trace = load_chakra(args.inputs[0], args.world_size, args.comm_groups,
                            deps=args.chakra_deps)
    else:
        from workloads.importers.kineto import load_kineto
        trace = load_kineto(args.inputs)
    from sim.io import write_json
    write_json(args.out, trace.to_json())
    ops = sum(len(p.ops) for p in trace.programs)
    print(f"wrote {args.out}: {trace.world_size} ranks, {len(trace.programs)} programs, "
          f"{ops} ops")
    return 0
