"""Compute cost model: a roofline per op.

    time = max(flops / (peak * flop_eff), bytes / (hbm_bw * mem_eff)) + launch_overhead

``flop_eff`` and ``mem_eff`` are per op category (gemm, attention,
elementwise, ...) and per GPU type, stored as data in
``sim/data/compute.yaml``. An op with a recorded ``duration_s`` replays as is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml

from workloads.errors import InputError
from workloads.trace import Op


@dataclass(frozen=True)
class Efficiency:
    flop: float
    mem: float


@dataclass(frozen=True)
class ComputeModel:
    """Roofline durations for one GPU type."""

    peak_flops: float
    hbm_bw_bytes_per_s: float
    efficiency: dict[str, Efficiency] = field(default_factory=dict)
    launch_overhead_s: float = 0.0
    gpu: str = "custom"

    def __post_init__(self):
        if self.peak_flops <= 0 or self.hbm_bw_bytes_per_s <= 0:
            raise InputError("peak FLOP/s and HBM bandwidth must be positive", field="gpu",
                             value=self.gpu)
        if "default" not in self.efficiency:
            raise InputError("efficiency table needs a 'default' category", field="gpu",
                             value=self.gpu)

    def eff(self, category: str | None) -> Efficiency:
        return self.efficiency.get(category or "default", self.efficiency["default"])

    def duration_s(self, op: Op) -> float:
        if op.duration_s is not None:
            return op.duration_s
        return self.cost_s(op.flops, op.bytes, op.category)

    def cost_s(self, flops: float, nbytes: float, category: str | None = None) -> float:
        e = self.eff(category)
        return max(flops / (self.peak_flops * e.flop),
                   nbytes / (self.hbm_bw_bytes_per_s * e.mem)) + self.launch_overhead_s


@lru_cache(maxsize=None)
def _efficiency_table() -> dict:
    text = resources.files("sim").joinpath("data/compute.yaml").read_text()
    return yaml.safe_load(text)


def compute_model(gpu: str, peak_flops: float, hbm_bw_bytes_per_s: float) -> ComputeModel:
    """The calibrated roofline for GPU type ``gpu`` (efficiencies from data)."""
    table = _efficiency_table()
    entry = table["gpus"].get(gpu) or table["gpus"]["default"]
    effs = {cat: Efficiency(float(v["flop"]), float(v["mem"]))
            for cat, v in entry["categories"].items()}
    return ComputeModel(peak_flops=peak_flops, hbm_bw_bytes_per_s=hbm_bw_bytes_per_s,
                        efficiency=effs, launch_overhead_s=float(entry["launch_overhead_s"]),
                        gpu=gpu)
