"""Scale of the step-level engine: wall time, events and peak memory per case.

Cases (each in a fresh Python process, so peak RSS is the case's own):

* ``gpt3-175b``: GPT-3 175B, one step on 1,024 / 4,096 / 12,288 A100 80GB
  (the default scenario: TP8 PP8, 1F1B, global batch 1,536 sequences, so
  DP 16 / 64 / 192 runs 96 / 24 / 8 micro-batches per pipeline);
* ``gpt3-175b-gb128``: the same on 1,024 GPUs with a global batch of 128
  (8 micro-batches per pipeline), small enough to run unfolded;
* ``llama3-405b``: the ``llama3-405b-16k`` preset, one step on 16,384 H100;
* ``toy-dp``: a data-parallel job on 1,024 GPUs (128 nodes of 8 on
  :func:`topologies.two_level` with 400 GB/s in-node and 50 GB/s per GPU
  across nodes): 2 iterations x 8 layers of 100 us forward and 200 us
  backward, a 16 MiB gradient all-reduce per layer issued on the comm stream
  after that layer's backward, the next iteration waiting for all of them
  (the optimizer step). Its step time is compared with a closed form.

Every job runs folded (one representative per rank class) and, where it fits
in the time limit, unfolded (every rank), side by side in the same run. An
unfolded case whose estimated cost exceeds the limit is skipped (see
:func:`estimate_unfolded_s`); one that reaches the limit is stopped there.

    python benchmarks/bench_scale.py            # the full table (minutes)
    python benchmarks/bench_scale.py --quick    # small variants (seconds)

Columns: case, GPUs, fold, simulated step time (s), wall time of the whole
case (trace generation + simulation, s), wall time of the simulation alone
(s), processed simulation events, rank classes simulated, peak RSS (MB).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MIB = 2**20
TOY = dict(iterations=2, layers=8, fwd_s=100e-6, bwd_s=200e-6, grad_bytes=16 * MIB,
           intra_bw_bytes_per_s=400e9, inter_bw_bytes_per_s=50e9)

COLUMNS = ("case", "gpus", "fold", "step_time_s", "wall_s", "sim_wall_s", "events",
           "rank_classes", "peak_rss_mb")


# ---------------------------------------------------------------------------
# What a child process runs
# ---------------------------------------------------------------------------

def toy_trace(nodes: int, gpus_per_node: int, iterations: int, layers: int, fwd_s: float,
              bwd_s: float, grad_bytes: float, **_):
    """The data-parallel toy job: one program shared by every rank."""
    from workloads.trace import Op, Program, Trace, validate
    n = nodes * gpus_per_node
    ops: list[Op] = []
    last_ar = None
    for it in range(iterations):
        for layer in range(layers):
            deps = (last_ar,) if layer == 0 and last_ar else ()
            ops.append(Op(id=f"i{it}.f{layer}", kind="compute", stream="compute",
                          duration_s=fwd_s, deps=deps))
        for layer in reversed(range(layers)):
            ops.append(Op(id=f"i{it}.b{layer}", kind="compute", stream="compute",
                          duration_s=bwd_s))
            last_ar = f"i{it}.ar{layer}"
            ops.append(Op(id=last_ar, kind="all_reduce", stream="comm", bytes=grad_bytes,
                          group="dp", deps=(f"i{it}.b{layer}",), algorithm="ring/simple"))
    trace = Trace(world_size=n, programs=[Program(ranks=list(range(n)), ops=ops)],
                  groups={"dp": [list(range(n))]}, name=f"toy-dp-{n}")
    validate(trace)
    return trace


def toy_closed_form_s(nodes: int, gpus_per_node: int, iterations: int, layers: int,
                      fwd_s: float, bwd_s: float, grad_bytes: float,
                      inter_bw_bytes_per_s: float, inter_latency_s: float = 5e-7,
                      intra_latency_s: float = 5e-7, **_) -> dict:
    """Step time of the toy job with no contention but its own.

    Ring all-reduce over n GPUs in k = gpus_per_node channel rings (one per
    NIC), each carrying 1/k of the buffer: 2(n-1)/n * S/k bytes per NIC at the
    inter-node rate, plus 2(n-1) steps at the mean latency of the ring's hops
    (n - nodes 2-hop NVLink hops, ``nodes`` 4-hop cross-node paths, each with
    the Simple protocol's per-step overhead) and the protocol's base latency
    (Patarasuk and Yuan, J. Parallel Distrib. Comput. 69(2), 2009, for the
    ring's bandwidth term). Per iteration the all-reduces run one after the
    other on the comm stream, the one of layer k (k-th backward) starting
    after that backward: T_iter = F + max_k (k * B + (L - k + 1) * T_ar).
    """
    from sim.collectives import PROTOCOLS
    simple = PROTOCOLS["simple"]
    n, k = nodes * gpus_per_node, gpus_per_node
    bw_s = 2 * (n - 1) / n * grad_bytes / k / inter_bw_bytes_per_s
    step_s = ((n - nodes) * (2 * intra_latency_s + simple.intra_step_s)
              + nodes * (4 * inter_latency_s + simple.inter_step_s)) / n
    lat_s = 2 * (n - 1) * step_s + simple.base_latency_s
    t_ar = bw_s + lat_s
    t_iter = layers * fwd_s + max(j * bwd_s + (layers - j + 1) * t_ar
                                  for j in range(1, layers + 1))
    return {"allreduce_s": t_ar, "allreduce_bw_s": bw_s, "allreduce_latency_s": lat_s,
            "step_s": iterations * t_iter}


def run_toy(nodes: int, gpus_per_node: int, fold: bool) -> dict:
    import topologies
    from sim.compute import compute_model
    from sim.simulate import simulate_trace
    t0 = time.perf_counter()
    graph = topologies.two_level(nodes, gpus_per_node, TOY["intra_bw_bytes_per_s"],
                                 TOY["inter_bw_bytes_per_s"])
    trace = toy_trace(nodes, gpus_per_node, **TOY)
    spec = topologies.gpu_spec("a100-80gb")
    compute = compute_model("a100-80gb", spec.peak_dense_flops, spec.hbm_bw_bytes_per_s)
    step = simulate_trace(trace, graph, compute, fold=fold)
    closed = toy_closed_form_s(nodes, gpus_per_node, **TOY)
    return {"step_time_s": step.makespan_s, "wall_s": time.perf_counter() - t0,
            "sim_wall_s": step.wall_s, "events": step.events,
            "rank_classes": len(step.classes), "closed_form": closed}


def run_scenario_case(spec: str | None, overrides: list[str], fold: bool) -> dict:
    from sim.scenario.load import load_scenario
    from sim.scenario.execute import run_scenario
    scn, _, folder = load_scenario(spec, list(overrides) + [f"sim.fold={str(fold).lower()}"])
    res = run_scenario(scn, folder).result
    s = res["sim"]
    return {"step_time_s": res["step_time_s"], "wall_s": s["wall_s"],
            "sim_wall_s": s["step_wall_s"], "events": s["events"],
            "rank_classes": s["rank_classes"]}


def child_main(case: dict) -> dict:
    """Run one case in this process and add its peak RSS (MB)."""
    if case["job"] == "toy":
        out = run_toy(case["nodes"], case["gpus_per_node"], case["fold"])
    else:
        out = run_scenario_case(case.get("spec"), case.get("overrides", []), case["fold"])
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# ---------------------------------------------------------------------------
# The parent: one subprocess per case
# ---------------------------------------------------------------------------

def run_case(case: dict, limit_s: float) -> dict:
    """Run ``case`` in a fresh interpreter; ``{"error": ...}`` on failure or timeout."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(case)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s,
                              cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"error": f"time limit ({limit_s:.0f} s)"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"failed: {tail}"}
    return json.loads(lines[-1])


def gpt3(gpus: int) -> dict:
    return {"name": "gpt3-175b", "job": "scenario", "spec": None, "gpus": gpus,
            "overrides": [f"cluster.gpus={gpus}", f"parallelism.dp={gpus // 64}"]}


def cases(quick: bool) -> list[dict]:
    """Jobs in table order; each runs folded, then unfolded (if it fits)."""
    if quick:
        small_gpt3 = gpt3(64)
        small_gpt3["overrides"] += ["training.global_batch=8"]
        return [dict(small_gpt3, name="gpt3-175b-small"),
                {"name": "toy-dp", "job": "toy", "nodes": 2, "gpus_per_node": 8, "gpus": 16}]
    short = gpt3(1024)
    short["overrides"] += ["training.global_batch=128"]
    return [dict(short, name="gpt3-175b-gb128"), gpt3(1024), gpt3(4096), gpt3(12288),
            {"name": "llama3-405b", "job": "scenario", "spec": "llama3-405b-16k",
             "overrides": [], "gpus": 16384},
            {"name": "toy-dp", "job": "toy", "nodes": 128, "gpus_per_node": 8, "gpus": 1024}]


def fmt_row(row: dict) -> str:
    if "error" in row:
        return (f"{row['case']:<16} {row['gpus']:>6} {row['fold']!s:>5}  "
                f"{row['error']}")
    return (f"{row['case']:<16} {row['gpus']:>6} {row['fold']!s:>5} {row['step_time_s']:>11.4f} "
            f"{row['wall_s']:>8.2f} {row['sim_wall_s']:>8.2f} {row['events']:>9d} "
            f"{row['rank_classes']:>7d} {row['peak_rss_mb']:>8.0f}")


HEADER = (f"{'case':<16} {'GPUs':>6} {'fold':>5} {'step_s':>11} {'wall_s':>8} "
          f"{'sim_s':>8} {'events':>9} {'classes':>7} {'rss_MB':>8}")


def estimate_unfolded_s(job: dict, folded: dict, seen: list[tuple]) -> float | None:
    """Estimated wall time of ``job`` unfolded, from earlier unfolded runs.

    ``seen`` holds (job kind, GPUs, unfolded wall s, folded wall s) of earlier
    pairs (the unfolded wall is a lower bound when that run hit the limit).
    The estimate scales the unfolded/folded ratio of the largest earlier pair
    of the same kind linearly with GPUs (ranks per class grow with GPUs) and
    applies it to this job's folded wall time.
    """
    same = [p for p in seen if p[0] == job["job"]]
    if not same or "wall_s" not in folded:
        return None
    _, gpus, u_wall, f_wall = max(same, key=lambda p: p[1])
    return folded["wall_s"] * (u_wall / f_wall) * job["gpus"] / gpus


def run_all(jobs: list[dict], limit_s: float, unfolded: bool = True,
            echo=print) -> list[dict]:
    """Folded and unfolded rows of every job, printed as they finish."""
    rows: list[dict] = []
    seen: list[tuple] = []
    echo(HEADER)
    for job in jobs:
        base = {"case": job["name"], "gpus": job["gpus"]}
        folded = dict(base, fold=True, **run_case(dict(job, fold=True), limit_s))
        rows.append(folded)
        echo(fmt_row(folded))
        if not unfolded:
            continue
        row = dict(base, fold=False)
        est = estimate_unfolded_s(job, folded, seen)
        if est is not None and est > limit_s:
            row["error"] = f"skipped (est. > {est:.0f} s)"
        else:
            row.update(run_case(dict(job, fold=False), limit_s))
            if row.get("error", "").startswith("time limit"):
                row["error"] = f"skipped (est. > {limit_s:.0f} s: stopped at the time limit)"
                if "wall_s" in folded:
                    seen.append((job["job"], job["gpus"], limit_s, folded["wall_s"]))
            elif "error" not in row and "error" not in folded:
                seen.append((job["job"], job["gpus"], row["wall_s"], folded["wall_s"]))
        rows.append(row)
        echo(fmt_row(row))
    return rows


def notes(rows: list[dict]) -> list[str]:
    """Folded/unfolded wall-time ratios and the toy job against its closed form."""
    out = []
    by = {(r["case"], r["gpus"], r["fold"]): r for r in rows}
    for (case, gpus, fold), r in by.items():
        u = by.get((case, gpus, False))
        if fold and u and "error" not in r and "error" not in u:
            out.append(f"{case} on {gpus} GPUs: unfolded / folded wall = "
                       f"{u['wall_s'] / r['wall_s']:.1f}x (simulation alone "
                       f"{u['sim_wall_s'] / r['sim_wall_s']:.1f}x); step time "
                       f"{r['step_time_s']:.6f} s folded vs {u['step_time_s']:.6f} s unfolded")
        elif fold and u and "error" not in r:
            out.append(f"{case} on {gpus} GPUs: unfolded run {u['error']}")
        cf = r.get("closed_form")
        if fold and cf:
            out.append(f"{case} on {gpus} GPUs: step {r['step_time_s'] * 1e3:.3f} ms vs closed "
                       f"form {cf['step_s'] * 1e3:.3f} ms (all-reduce {cf['allreduce_s'] * 1e6:.1f} "
                       f"us = {cf['allreduce_bw_s'] * 1e6:.1f} us bandwidth + "
                       f"{cf['allreduce_latency_s'] * 1e6:.1f} us latency)")
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small variants only (seconds)")
    ap.add_argument("--limit-s", type=float, default=300.0,
                    help="time limit of one case in seconds (default 300)")
    ap.add_argument("--no-unfolded", action="store_true", help="folded runs only")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child_main(json.loads(args.child))))
        return []
    if args.limit_s <= 0:
        ap.error(f"--limit-s must be positive, got {args.limit_s}")
    rows = run_all(cases(args.quick), args.limit_s, unfolded=not args.no_unfolded)
    for line in notes(rows):
        print("note: " + line)
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
