"""``clustersim collective``: time one collective on an idle topology, like nccl-tests."""
from __future__ import annotations

import simpy

import topologies
from sim.collectives import ALGORITHMS, TopologyView, bus_factor, choose, run_collective
from sim.network.flows import FlowNetwork
from sim.network.routing import Router
from workloads.errors import InputError


def collective_topology(name: str, gpus: int, link_bw_gb_s: float, latency_us: float):
    """The graph named by ``--topology``: ring, switch, or a GPU / node preset."""
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


def time_collective(graph, op: str, nbytes: float, gpus: list[int],
                    algorithm: str | None = None) -> tuple[float, str]:
    """Seconds one collective takes on an idle ``graph``, and the algorithm used."""
    env = simpy.Environment()
    net = FlowNetwork(env, Router(graph))
    topo = TopologyView(graph)
    algo = choose(op, nbytes, gpus, topo, algorithm)
    env.process(run_collective(net, topo, op, nbytes, [gpus], algo.name))
    env.run()
    return env.now, algo.name


def collective_report(graph, op: str, nbytes: float, n: int,
                      algorithm: str | None = None) -> dict:
    t, used = time_collective(graph, op, nbytes, list(range(n)), algorithm)
    algbw = nbytes / t if t > 0 else float("inf")
    return {"op": op, "bytes": nbytes, "gpus": n, "algorithm": used,
            "topology": graph.graph.get("name", "?"), "time_s": t,
            "algbw_gb_s": algbw / 1e9, "busbw_gb_s": algbw * bus_factor(op, n) / 1e9}


def cmd_collective(args) -> int:
    from sim.cli import print_json
    if args.algorithm and args.algorithm not in ALGORITHMS and args.algorithm != "auto":
        raise InputError(f"unknown algorithm (known: {', '.join(ALGORITHMS)})",
                         field="--algorithm", value=args.algorithm)
    if args.bytes <= 0:
        raise InputError("bytes must be positive", field="--bytes", value=args.bytes)
    graph = collective_topology(args.topology, args.gpus, args.link_bw, args.latency_us)
    rep = collective_report(graph, args.op, args.bytes, args.gpus, args.algorithm)
    if args.json:
        print_json(rep)
    else:
        print(f"{rep['op']} {rep['bytes']:.0f} B on {rep['gpus']} GPUs ({rep['topology']}, "
              f"{rep['algorithm']}): time {rep['time_s'] * 1e6:.1f} us, "
              f"algbw {rep['algbw_gb_s']:.2f} GB/s, busbw {rep['busbw_gb_s']:.2f} GB/s")
    return 0
