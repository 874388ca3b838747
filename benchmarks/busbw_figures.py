"""Bus bandwidth against message size: every algorithm, the tuner's choice, and published points.

For each system and GPU count, an all-reduce from 8 B to 2 GiB is simulated
on the idle preset cluster with every algorithm that can run it (each at the
protocol the tuner would give it) and with the tuner's own choice; the curves
are drawn with nccl-tests' bus bandwidth on a log size axis, the tuner's choice
marked, and the published measurements of ``sim/data/nccl_tests.yaml`` for the
same system and GPU count overlaid (times converted to busbw).

    python benchmarks/busbw_figures.py [--out benchmarks/figures] [--quick]

Writes ``busbw.csv`` and ``busbw_<system>_<gpus>.png/.pdf``. The simulation
writes the CSV; the figures are drawn from the CSV alone (``--plot-only``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYSTEMS = [("a100-80gb", 8), ("a100-80gb", 16), ("a100-80gb", 64),
           ("h100-sxm", 8), ("h100-sxm", 16), ("h100-sxm", 64), ("h200-sxm", 8), ("b200", 8),
           ("b200", 16), ("gb200", 72)]
SIZES = [8 * 4**i for i in range(16)]                  # 8 B .. 8 GiB
COLUMNS = ["system", "gpus", "bytes", "algorithm", "protocol", "time_s", "busbw_gb_s",
           "chosen"]
LABELS = {"ring": "ring", "tree": "double binary tree", "hierarchical": "hierarchical",
          "nvls": "NVLS", "nvls_tree": "NVLS + tree", "collnet": "CollNet (SHARP)"}
#: dashes tell apart curves that coincide (ring and hierarchical on one node)
DASHES = {"ring": "-", "tree": "-", "hierarchical": (0, (4, 2)), "nvls": "-",
          "nvls_tree": (0, (1, 1.5)), "collnet": (0, (6, 2, 1, 2))}


def simulate_rows(systems, sizes) -> list[dict]:
    import topologies
    from sim.collectives import ALGORITHMS, TopologyView
    from sim.collectives.base import bus_factor
    from sim.collectives.timing import explain, simulate_collective
    rows = []
    for system, n in systems:
        g = topologies.build_cluster(system, n)
        gpus = list(range(n))
        topo = TopologyView(g)
        algos = [a for a in ALGORITHMS.values()
                 if a.name != "astra" and a.supports("all_reduce", gpus, topo)]
        for size in sizes:
            _, chosen, chosen_proto = simulate_collective(g, "all_reduce", size, gpus)
            for a in algos:
                proto = explain(g, "all_reduce", size, gpus, a.name)[0]["protocol"]
                t, _, _ = simulate_collective(g, "all_reduce", size, gpus, a.name, proto)
                rows.append({"system": system, "gpus": n, "bytes": size, "algorithm": a.name,
                             "protocol": proto, "time_s": t,
                             "busbw_gb_s": size / t * bus_factor("all_reduce", n) / 1e9,
                             "chosen": a.name == chosen and proto == chosen_proto})
        print(f"  {system} x {n}: {len(sizes)} sizes, {len(algos)} algorithms", flush=True)
    return rows


def published(system: str, gpus: int) -> list[tuple[float, float, str]]:
    """(bytes, busbw GB/s, use) of the published all-reduce rows of one system and size."""
    import yaml
    data = yaml.safe_load((ROOT / "sim" / "data" / "nccl_tests.yaml").read_text())
    out = []
    for r in data["rows"]:
        if r["system"] != system or r["gpus"] != gpus or r["op"] != "all_reduce":
            continue
        bus = r.get("busbw_gb_s")
        if bus is None:
            bus = r["bytes"] / (r["time_us"] * 1e-6) * 2 * (gpus - 1) / gpus / 1e9
        out.append((r["bytes"], bus, r["use"]))
    return out


def _gpus_per_node(system: str) -> int:
    import topologies
    return topologies.node_spec(topologies.gpu_spec(system).node).gpus_per_node


def _size_label(b: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= scale:
            return f"{b / scale:g} {unit}"
    return f"{b:g} B"


def plot(rows: list[dict], out: Path) -> list[Path]:
    """One figure per system and GPU count (reads rows only)."""
    import matplotlib.ticker
    from sim.plots.style import PALETTE, figure, save
    paths = []
    for system, n in sorted({(r["system"], int(r["gpus"])) for r in rows}):
        sel = [r for r in rows if r["system"] == system and int(r["gpus"]) == n]
        fig, (ax,) = figure(1, width_in=5.2, height_in=3.4)
        algos = sorted({r["algorithm"] for r in sel}, key=list(LABELS).index)
        for i, algo in enumerate(algos):
            pts = sorted((float(r["bytes"]), float(r["busbw_gb_s"])) for r in sel
                         if r["algorithm"] == algo)
            ax.plot(*zip(*pts), color=PALETTE[i % len(PALETTE)], lw=1.4, ls=DASHES[algo],
                    label=f"{LABELS[algo]} (simulated)",
                    zorder=3 if DASHES[algo] == "-" else 4)     # dashes drawn over solids
        pick = sorted((float(r["bytes"]), float(r["busbw_gb_s"])) for r in sel
                      if str(r["chosen"]) in ("True", "true", "1"))
        ax.plot(*zip(*pick), ls="none", marker="o", ms=5, mfc="none", mec="black", mew=1.0,
                label="tuner's choice")
        for use, marker, name in (("fit", "^", "published (fitted on)"),
                                  ("check", "s", "published (held back)"),
                                  ("peak", "D", "published (peak, sets efficiencies)"),
                                  ("gap", "X", "published (not reproduced, see data)")):
            pub = [(b, bw) for b, bw, u in published(system, n) if u == use]
            if pub:
                ax.plot(*zip(*pub), ls="none", marker=marker, ms=6, color="#D55E00",
                        mec="black", mew=0.5, label=name)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=4 ** 2))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda b, _: _size_label(b)))
        ax.set_xlabel("all-reduce message size (bytes)")
        ax.set_ylabel("bus bandwidth (GB/s)")
        ax.set_ylim(bottom=0)
        gpn = _gpus_per_node(system)
        nodes = -(-n // gpn)
        unit = f"NVL{gpn} rack" if gpn > 8 else "node"
        ax.set_title(f"All-reduce bus bandwidth on {n} x {system.upper()} "
                     f"({nodes} {unit}{'s' if nodes > 1 else ''}): simulated lines, "
                     "published markers", fontsize=8)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=6.5, loc="upper left", frameon=False)
        paths += save(fig, out, f"busbw_{system}_{n}")
    return paths


def main(argv: list[str] | None = None) -> list[Path]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "figures"))
    ap.add_argument("--quick", action="store_true", help="two small systems, 6 sizes")
    ap.add_argument("--plot-only", action="store_true", help="redraw from busbw.csv")
    args = ap.parse_args(argv)
    from sim.io import ensure_dir
    from sim.plots.style import read_rows, write_rows
    out = ensure_dir(args.out)
    csv = out / "busbw.csv"
    if not args.plot_only:
        systems = [("a100-80gb", 16), ("h100-sxm", 8)] if args.quick else SYSTEMS
        sizes = SIZES[::3] if args.quick else SIZES
        write_rows(simulate_rows(systems, sizes), csv, COLUMNS)
    paths = plot(read_rows(csv), out)
    for p in paths:
        print(p)
    return paths


if __name__ == "__main__":
    main()
