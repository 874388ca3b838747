"""ASTRA-sim inputs: the system JSON, and replaying a Chakra workload on an ASTRA-sim network.

System JSON keys (ASTRA-sim's ``inputs/system`` format):

honoured
    ``all-reduce-implementation``, ``all-gather-implementation``,
    ``reduce-scatter-implementation``, ``all-to-all-implementation`` (one
    algorithm per network dimension: ``ring``, ``direct``, ``halvingDoubling``,
    ``doubleBinaryTree`` -- the last for all-reduce only; all-to-all runs as a
    flat direct exchange whatever the list says), ``collective-optimization``
    (``localBWAware`` or ``baseline``), ``preferred-dataset-splits`` (chunks
    per collective), ``active-chunks-per-dimension``, ``endpoint-delay`` (ns
    per received message; ASTRA-sim counts cycles of 1 ns), ``roofline-enabled``,
    ``peak-perf`` (TFLOP/s) and ``local-mem-bw`` (GB/s, GB = 2^30 bytes) for
    compute nodes costed by the roofline;
accepted, without effect on timing
    ``trace-enabled``, ``track-local-mem``, ``local-mem-trace-filename``,
    ``boost-mode`` (0 only), ``intra-dimension-scheduling`` (``FIFO``),
    ``inter-dimension-scheduling`` (``baseline``), ``scheduling-policy``
    (``FIFO``; ``LIFO`` runs as FIFO and is reported in the result's notes,
    since collectives of one communicator run in issue order here);
anything else
    an error (exit 2) naming the file and key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workloads.errors import InputError

GIB = 2**30
IMPL_KEYS = {"all-reduce-implementation": "all_reduce",
             "all-gather-implementation": "all_gather",
             "reduce-scatter-implementation": "reduce_scatter",
             "all-to-all-implementation": "all_to_all"}
ALLOWED_VALUES = {"boost-mode": (0,), "intra-dimension-scheduling": ("FIFO",),
                  "inter-dimension-scheduling": ("baseline",),
                  "scheduling-policy": ("FIFO", "LIFO"),
                  "collective-optimization": ("localBWAware", "baseline")}
NO_EFFECT = {"trace-enabled", "track-local-mem", "local-mem-trace-filename"}
NUMERIC = {"endpoint-delay", "preferred-dataset-splits", "active-chunks-per-dimension",
           "roofline-enabled", "peak-perf", "local-mem-bw"}


@dataclass
class AstraSystem:
    impl: dict[str, list[str]] = field(default_factory=dict)
    optimization: str = "localBWAware"
    splits: int = 1
    active_chunks: int = 1
    endpoint_delay_s: float = 0.0
    roofline: bool = False
    peak_flops: float | None = None
    mem_bw_bytes_per_s: float | None = None
    notes: list[str] = field(default_factory=list)

    def graph_config(self) -> dict:
        return {"impl": self.impl, "optimization": self.optimization, "splits": self.splits,
                "active_chunks": self.active_chunks}


def load_system(path: str | None, n_dims: int) -> AstraSystem:
    """Read and check an ASTRA-sim system JSON for a network of ``n_dims`` dimensions."""
    from sim.collectives.multidim import DIM_ALGORITHMS
    sysc = AstraSystem()
    if path is None:
        return sysc
    from workloads.readers import read_json
    data = read_json(path, "system file")
    if not isinstance(data, dict):
        raise InputError("a system file is a JSON object", file=path, field="(top)",
                         value=type(data).__name__)
    known = set(IMPL_KEYS) | set(ALLOWED_VALUES) | NO_EFFECT | NUMERIC
    for key, value in data.items():
        if key not in known:
            raise InputError(f"unknown or unsupported system key (supported: "
                             f"{', '.join(sorted(known))})", file=path, field=key, value=value)
        if key in ALLOWED_VALUES and value not in ALLOWED_VALUES[key]:
            raise InputError(f"unsupported value (supported: "
                             f"{', '.join(map(str, ALLOWED_VALUES[key]))})", file=path,
                             field=key, value=value)
        if key in NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float))
                               or value < 0):
            raise InputError("must be a non-negative number", file=path, field=key, value=value)
        if key in IMPL_KEYS:
            if isinstance(value, str):       # older form: "ring_direct"
                value = value.split("_")
            if not isinstance(value, list) or len(value) != n_dims:
                raise InputError(f"needs one algorithm per network dimension ({n_dims})",
                                 file=path, field=key, value=value)
            for d, algo in enumerate(value):
                if algo not in DIM_ALGORITHMS:
                    raise InputError(f"unsupported collective algorithm (supported: "
                                     f"{', '.join(DIM_ALGORITHMS)})", file=path,
                                     field=f"{key}[{d}]", value=algo)
                if algo == "doubleBinaryTree" and IMPL_KEYS[key] != "all_reduce":
                    raise InputError("doubleBinaryTree runs only all-reduce", file=path,
                                     field=f"{key}[{d}]", value=algo)
            sysc.impl[IMPL_KEYS[key]] = list(value)
    sysc.optimization = data.get("collective-optimization", "localBWAware")
    for key, attr in (("preferred-dataset-splits", "splits"),
                      ("active-chunks-per-dimension", "active_chunks")):
        if key in data:
            if not float(data[key]).is_integer() or data[key] < 1:
                raise InputError("must be an integer >= 1", file=path, field=key, value=data[key])
            setattr(sysc, attr, int(data[key]))
    sysc.endpoint_delay_s = float(data.get("endpoint-delay", 0)) * 1e-9
    sysc.roofline = bool(data.get("roofline-enabled", 0))
    if "peak-perf" in data:
        sysc.peak_flops = float(data["peak-perf"]) * 1e12
    if "local-mem-bw" in data:
        sysc.mem_bw_bytes_per_s = float(data["local-mem-bw"]) * GIB
    if data.get("scheduling-policy") == "LIFO":
        sysc.notes.append("scheduling-policy LIFO runs as FIFO: collectives of one "
                          "communicator run in issue order")
    return sysc


def compute_for(sysc: AstraSystem, trace, file: str | None = None):
    """The roofline of the system JSON; only needed when compute ops carry no duration."""
    from sim.compute import ComputeModel, Efficiency
    needs = next((o for p in trace.programs for o in p.ops
                  if o.is_compute and o.duration_s is None), None)
    if needs is not None and (sysc.peak_flops is None or sysc.mem_bw_bytes_per_s is None):
        raise InputError(f"compute node {needs.id} ({needs.layer!r}) has no duration and "
                         "needs a roofline: give peak-perf and local-mem-bw in the system "
                         "JSON (--system)", file=file, field="peak-perf")
    inf = float("inf")
    return ComputeModel(peak_flops=sysc.peak_flops or inf,
                        hbm_bw_bytes_per_s=sysc.mem_bw_bytes_per_s or inf,
                        efficiency={"default": Efficiency(1.0, 1.0)}, gpu="astra-sim")


def load_chakra_job(prefix: str, network: str, system: str | None = None,
                    comm_groups: str | None = None, deps: str = "all"):
    """(trace, graph, compute model, system) for a Chakra workload on an ASTRA-sim network."""
    from topologies.astra import load_astra_network
    from workloads.importers.chakra import load_chakra
    graph = load_astra_network(network)
    dims = graph.graph["astra_dims"]
    sysc = load_system(system, len(dims))
    if sysc.endpoint_delay_s:
        graph = load_astra_network(network, endpoint_delay_s=sysc.endpoint_delay_s)
    graph.graph["astra_system"] = sysc.graph_config()
    trace = load_chakra(prefix, graph.graph["num_gpus"], comm_groups, roofline=sysc.roofline,
                        dims=graph.graph["astra_dims"], deps=deps)
    for prog in trace.programs:
        for op in prog.ops:
            if op.is_collective:
                op.algorithm = "astra"
    return trace, graph, compute_for(sysc, trace, system), sysc


def run_chakra(prefix: str, network: str, system: str | None = None,
               comm_groups: str | None = None, fold: bool = True, deps: str = "all"):
    """Simulate a Chakra workload; returns (trace, step result, ``run --json`` dict)."""
    import time

    from sim.simulate import simulate_trace
    from sim.summary import step_summary
    t0 = time.perf_counter()
    trace, graph, compute, sysc = load_chakra_job(prefix, network, system, comm_groups, deps)
    try:
        step = simulate_trace(trace, graph, compute, fold=fold)
    except InputError as e:
        raise e.in_file(f"{prefix}.*.et") from None
    peak = sysc.peak_flops
    res = step_summary(trace, step, peak or float("inf"))
    if peak is None:
        res["mfu"] = res["hfu"] = res["tflops_per_gpu"] = None
    res["name"] = Path(prefix).name
    res["astra"] = {"network": network, "system": system, "dims": graph.graph["astra_dims"],
                    "topology": graph.graph["astra_topology"], **sysc.graph_config(),
                    "deps": deps,
                    "notes": sysc.notes}
    res["sim"] = {"wall_s": time.perf_counter() - t0, "step_wall_s": step.wall_s,
                  "events": step.events, "rank_classes": len(step.classes),
                  "flows": step.network.flows, "network_solves": step.network.solves,
                  "fold": fold}
    return trace, step, res
