"""One collective on an idle topology, like nccl-tests: time, algbw, busbw, and the tuner's view."""
from __future__ import annotations

import simpy

from sim.collectives import pipeline
from sim.collectives.base import TopologyView, bus_factor
from sim.collectives.planner import CollectivePlanner
from sim.collectives.registry import request_string
from sim.network.flows import FlowNetwork
from sim.network.routing import Router


def _planner(graph, chunking: pipeline.Chunking | None
             ) -> tuple[simpy.Environment, CollectivePlanner]:
    env = simpy.Environment()
    net = FlowNetwork(env, Router(graph))
    return env, CollectivePlanner(net, TopologyView(graph), chunking)


def time_collective(graph, op: str, nbytes: float, gpus: list[int],
                    algorithm: str | None = None, protocol: str | None = None,
                    chunking: pipeline.Chunking | None = None) -> tuple[float, str]:
    """Seconds one collective takes on an idle ``graph`` (simulated), and the algorithm used."""
    t, algo, _ = simulate_collective(graph, op, nbytes, gpus, algorithm, protocol, chunking)
    return t, algo


def simulate_collective(graph, op: str, nbytes: float, gpus: list[int],
                        algorithm: str | None = None, protocol: str | None = None,
                        chunking: pipeline.Chunking | None = None
                        ) -> tuple[float, str, str]:
    """(seconds, algorithm, protocol) of one collective simulated on an idle ``graph``."""
    env, planner = _planner(graph, chunking)
    request = request_string(algorithm, protocol)
    algo, proto = planner.choice(op, nbytes, [gpus], request)
    env.process(planner.run(op, nbytes, [gpus], f"{algo}/{proto}"))
    env.run()
    return env.now, algo, proto


def explain(graph, op: str, nbytes: float, gpus: list[int], algorithm: str | None = None,
            protocol: str | None = None, chunking: pipeline.Chunking | None = None
            ) -> list[dict]:
    """The tuner's candidates, fastest first: algorithm, protocol, predicted times (s),
    and the channels and threads per channel NCCL would launch."""
    _, planner = _planner(graph, chunking)
    tuner = planner.tuner
    cands = tuner.candidates(op, nbytes, gpus, request_string(algorithm, protocol))
    out = []
    for c in cands:
        lc = tuner.launch(c.algorithm, c.protocol, nbytes, gpus)
        out.append({"algorithm": c.algorithm, "protocol": c.protocol, "predicted_s": c.time_s,
                    "latency_s": c.latency_s, "bandwidth_s": c.bandwidth_s,
                    "channels": lc.channels, "threads": lc.threads})
    return out


def collective_report(graph, op: str, nbytes: float, n: int, algorithm: str | None = None,
                      protocol: str | None = None,
                      chunking: pipeline.Chunking | None = None) -> dict:
    """nccl-tests-like figures of one simulated collective on GPUs 0..n-1."""
    t, used, proto = simulate_collective(graph, op, nbytes, list(range(n)), algorithm,
                                         protocol, chunking)
    algbw = nbytes / t if t > 0 else float("inf")
    return {"op": op, "bytes": nbytes, "gpus": n, "algorithm": used, "protocol": proto,
            "topology": graph.graph.get("name", "?"), "time_s": t,
            "algbw_gb_s": algbw / 1e9, "busbw_gb_s": algbw * bus_factor(op, n) / 1e9}
