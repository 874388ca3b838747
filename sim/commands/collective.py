"""``clustersim collective``: time one collective on an idle topology, like nccl-tests."""
from __future__ import annotations

from workloads.errors import InputError


def collective_topology(name: str, gpus: int, link_bw_gb_s: float, latency_us: float):
    """The graph named by ``--topology``: ring, switch, or a GPU / node preset."""
    import topologies
    if gpus < 2:
        raise InputError("a collective needs at least 2 GPUs", field="--gpus", value=gpus)
    if name in ("ring", "switch"):
        if link_bw_gb_s <= 0 or latency_us < 0:
            raise InputError("link bandwidth must be positive and latency non-negative",
                             field="--link-bw/--latency-us", value=(link_bw_gb_s, latency_us))
        build = topologies.ring if name == "ring" else topologies.single_switch
        return build(gpus, link_bw_gb_s * 1e9, latency_us * 1e-6)
    if name in topologies.list_nodes():
        node = topologies.node_spec(name)
        return topologies.build_cluster(node.gpu, _round_up(gpus, node.gpus_per_node))
    if name in topologies.list_gpus():
        return topologies.build_cluster(name, _round_up(gpus, topologies.node_spec(
            topologies.gpu_spec(name).node).gpus_per_node))
    raise InputError("unknown topology (ring, switch, or one of: "
                     f"{', '.join(topologies.list_gpus() + topologies.list_nodes())})",
                     field="--topology", value=name)


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def _check(args):
    from sim.collectives import ALGORITHMS, PROTOCOLS, Chunking
    algo = None if args.algorithm in (None, "auto") else args.algorithm.lower()
    proto = None if getattr(args, "protocol", None) in (None, "auto") else args.protocol.lower()
    if algo is not None and algo not in ALGORITHMS:
        raise InputError(f"unknown algorithm (known: {', '.join(ALGORITHMS)})",
                         field="--algorithm", value=args.algorithm)
    if proto is not None and proto not in PROTOCOLS:
        raise InputError(f"unknown protocol (known: {', '.join(PROTOCOLS)})",
                         field="--protocol", value=args.protocol)
    if args.bytes <= 0:
        raise InputError("bytes must be positive", field="--bytes", value=args.bytes)
    chunks = getattr(args, "chunks", None)
    if chunks is not None and chunks < 1:
        raise InputError("must be a positive integer", field="--chunks", value=chunks)
    return algo, proto, Chunking(chunks)


def cmd_collective(args) -> int:
    from sim.commands.output import print_json
    from sim.collectives.timing import collective_report, explain
    algo, proto, chunking = _check(args)
    graph = collective_topology(args.topology, args.gpus, args.link_bw, args.latency_us)
    rep = collective_report(graph, args.op, args.bytes, args.gpus, algo, proto, chunking)
    if getattr(args, "explain", False):
        rep["candidates"] = explain(graph, args.op, args.bytes, list(range(args.gpus)),
                                    algo, proto, chunking)
    if args.json:
        print_json(rep)
        return 0
    print(f"{rep['op']} {rep['bytes']:.0f} B on {rep['gpus']} GPUs ({rep['topology']}, "
          f"{rep['algorithm']}/{rep['protocol']}): time {rep['time_s'] * 1e6:.1f} us, "
          f"algbw {rep['algbw_gb_s']:.2f} GB/s, busbw {rep['busbw_gb_s']:.2f} GB/s")
    if "candidates" in rep:
        print(f"\n{'algorithm':<14}{'protocol':<10}{'predicted us':>14}{'latency us':>12}"
              f"{'bandwidth us':>14}{'channels':>10}{'threads':>9}")
        for c in rep["candidates"]:
            mark = "  <- chosen" if (c["algorithm"], c["protocol"]) == (
                rep["algorithm"], rep["protocol"]) else ""
            print(f"{c['algorithm']:<14}{c['protocol']:<10}{c['predicted_s'] * 1e6:>14.1f}"
                  f"{c['latency_s'] * 1e6:>12.1f}{c['bandwidth_s'] * 1e6:>14.1f}"
                  f"{c['channels']:>10}{c['threads']:>9}{mark}")
    return 0
