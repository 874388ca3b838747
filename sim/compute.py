"""Compute cost model: a roofline per op, with GEMM shape and precision.

    time = max(flops / (peak[precision] * flop_eff * shape_eff),
               bytes / (hbm_bw * mem_eff)) + launch_overhead

``flop_eff`` and ``mem_eff`` are per op category (gemm, attention,
elementwise, ...) and per GPU type, stored as data in
``sim/data/compute.yaml``; one set per GPU type and precision, never per
workload. An op with a recorded ``duration_s`` replays as is.

Precision: a category ``gemm_<p>`` (``gemm_fp8``, ``gemm_mxfp8``,
``gemm_nvfp4``) runs at the GPU's dense peak for precision ``<p>``
(``peak_flops_by_precision`` in ``topologies/hardware/gpus.yaml``) and uses
the efficiency of that category if the table has one, else the ``gemm``
efficiency. Every other category runs at the bf16/fp16 peak. A precision
the GPU lacks is an input error naming the GPU and ``training.dtype``.

Software release: kernels improve from one release of the training stack
to the next (cuBLAS, cuDNN attention, Transformer Engine), most on a new
GPU generation. ``compute.yaml`` holds the efficiencies of the latest
calibrated release per GPU type; an earlier release the GPU type has
measurements for is listed under ``software.<release>`` with the factor
its GEMM and attention kernels reach of those (``flop_scale``), and a
scenario selects it with ``cluster.software``.

Host issue: an op of category ``host_sync`` (the host issuing an MoE
block's kernels after the dropless dispatcher synchronised on its routing
counts; it runs on the ``host`` stream beside the GPU's work) lasts
``moe_host_issue_s`` of the GPU type's entry per work unit (``dims[0]``: the
local experts), whatever its FLOPs and bytes.

GEMM shape (``Op.dims`` = output rows ``m``, output columns ``n``,
reduction ``k`` [, ``groups`` of equal GEMMs in one grouped kernel]):
``shape_eff = tile_wave * k / (k + k_half)``:

* tile and wave quantisation: the kernel covers the output with
  ``tile_m x tile_n`` tiles, ``sms`` of them at a time; a partial tile or
  a partial last wave costs as much as a full one, so the useful fraction is
  ``m n g / (waves * sms * tile_m * tile_n)`` with
  ``waves = ceil(g ceil(m/tile_m) ceil(n/tile_n) / sms)`` (NVIDIA, "Matrix
  Multiplication Background User's Guide", tile and wave quantization);
* small-matrix falloff: a short reduction cannot hide the prologue and
  epilogue of each tile (loading the first operand stages, writing the
  output): ``k / (k + k_half)`` with ``k_half`` from compute.yaml.

The calibrated ``gemm`` efficiency is the fraction of peak a perfectly
shaped GEMM reaches; ``shape_eff`` only removes what a shape loses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml

from workloads.errors import InputError
from workloads.trace import Op

#: category of the host issuing work after a synchronisation (lasts
#: ``host_issue_s``; see ``workloads.models.layer._host_sync``)
HOST_SYNC = "host_sync"
#: training precisions whose GEMMs run on low-precision tensor cores
LOW_PRECISIONS = ("fp8", "mxfp8", "nvfp4")
PRECISIONS = ("bf16", "fp16") + LOW_PRECISIONS


@dataclass(frozen=True)
class Efficiency:
    flop: float
    mem: float


@dataclass(frozen=True)
class GemmTiling:
    """What a GEMM's shape costs on one GPU type (see the module doc)."""

    sms: int
    tile_m: int
    tile_n: int
    k_half: float = 0.0

    def efficiency(self, m: float, n: float, k: float, groups: float = 1.0) -> float:
        if m <= 0 or n <= 0 or k <= 0:
            return 1.0
        g = max(1.0, groups)
        tiles = g * math.ceil(m / self.tile_m) * math.ceil(n / self.tile_n)
        waves = math.ceil(tiles / self.sms)
        tile_wave = (m * n * g) / (waves * self.sms * self.tile_m * self.tile_n)
        return tile_wave * k / (k + self.k_half)


@dataclass(frozen=True)
class ComputeModel:
    """Roofline durations for one GPU type."""

    peak_flops: float
    hbm_bw_bytes_per_s: float
    efficiency: dict[str, Efficiency] = field(default_factory=dict)
    launch_overhead_s: float = 0.0
    gpu: str = "custom"
    peaks_by_precision: dict[str, float] = field(default_factory=dict)
    tiling: GemmTiling | None = None
    host_issue_s: float = 0.0

    def __post_init__(self):
        if self.peak_flops <= 0 or self.hbm_bw_bytes_per_s <= 0:
            raise InputError("peak FLOP/s and HBM bandwidth must be positive", field="gpu",
                             value=self.gpu)
        if "default" not in self.efficiency:
            raise InputError("efficiency table needs a 'default' category", field="gpu",
                             value=self.gpu)

    def eff(self, category: str | None) -> Efficiency:
        cat = category or "default"
        if cat in self.efficiency:
            return self.efficiency[cat]
        if cat.startswith("gemm_") and "gemm" in self.efficiency:
            return self.efficiency["gemm"]
        return self.efficiency["default"]

    def peak_for(self, category: str | None) -> float:
        """Dense peak FLOP/s of the tensor cores ``category`` runs on."""
        if not category or not category.startswith("gemm_"):
            return self.peak_flops
        precision = category[len("gemm_"):]
        peak = self.peaks_by_precision.get(precision)
        if peak is None:
            raise InputError(f"{self.gpu} has no {precision} tensor cores (it has: "
                             f"{', '.join(self.peaks_by_precision) or 'bf16'})",
                             field="training.dtype", value=precision)
        return peak

    def shape_efficiency(self, category: str | None, dims) -> float:
        if self.tiling is None or not dims or not (category or "").startswith("gemm"):
            return 1.0
        return self.tiling.efficiency(*dims)

    @staticmethod
    def duration_key(op: Op) -> tuple:
        """Everything of ``op`` its duration depends on: ops with equal keys
        last equally long on one model, so a memo of durations keys on this
        (and :meth:`duration_of` computes a duration from the key alone, so
        the two cannot drift apart)."""
        dims = getattr(op, "dims", None)
        if dims is not None and type(dims) is not tuple:
            dims = tuple(dims)
        return (op.duration_s, op.flops, op.bytes, op.category, dims)

    def duration_of(self, key: tuple) -> float:
        """The duration of an op whose :meth:`duration_key` is ``key``."""
        recorded, flops, nbytes, category, dims = key
        if recorded is not None:
            return recorded
        return self.cost_s(flops, nbytes, category, dims)

    def duration_s(self, op: Op) -> float:
        return self.duration_of(self.duration_key(op))

    def cost_s(self, flops: float, nbytes: float, category: str | None = None,
               dims=None) -> float:
        if category == HOST_SYNC:       # dims: (work units,)
            return self.host_issue_s * (float(dims[0]) if dims else 1.0)
        e = self.eff(category)
        flop_rate = self.peak_for(category) * e.flop * self.shape_efficiency(category, dims)
        return max(flops / flop_rate,
                   nbytes / (self.hbm_bw_bytes_per_s * e.mem)) + self.launch_overhead_s


@lru_cache(maxsize=None)
def _efficiency_table() -> dict:
    text = resources.files("sim").joinpath("data/compute.yaml").read_text()
    return yaml.safe_load(text)


def check_precision(gpu: str, precision: str, peaks: dict[str, float]) -> None:
    """InputError (exit 2) unless GPU type ``gpu`` has tensor cores for ``precision``."""
    if precision not in PRECISIONS:
        raise InputError(f"expected one of {', '.join(PRECISIONS)}", field="training.dtype",
                         value=precision)
    if precision in LOW_PRECISIONS and precision not in peaks:
        have = ", ".join(p for p in PRECISIONS if p in peaks) or "bf16, fp16"
        raise InputError(f"GPU {gpu} has no {precision} tensor cores (cluster.gpu = {gpu} "
                         f"supports {have})", field="training.dtype", value=precision)


def _entry(gpu: str) -> dict:
    table = _efficiency_table()
    return table["gpus"].get(gpu) or table["gpus"]["default"]


def software_releases(gpu: str) -> list[str]:
    """The earlier software releases calibrated for GPU type ``gpu``."""
    return sorted(_entry(gpu).get("software") or {})


def check_software(gpu: str, software: str | None) -> None:
    """InputError (exit 2) unless ``software`` is None or a release of ``gpu``."""
    if software is None or software in software_releases(gpu):
        return
    known = ", ".join(software_releases(gpu)) or "none besides the latest"
    raise InputError(f"no efficiencies of this software release for {gpu} (known: {known})",
                     field="cluster.software", value=software)


def compute_model(gpu: str, peak_flops: float, hbm_bw_bytes_per_s: float, *,
                  peaks_by_precision: dict[str, float] | None = None,
                  sms: int | None = None, gemm_tile=None,
                  precision: str = "bf16", software: str | None = None) -> ComputeModel:
    """The calibrated roofline for GPU type ``gpu`` (efficiencies from data).

    ``peaks_by_precision``, ``sms`` and ``gemm_tile`` come from the GPU preset
    (see :func:`compute_model_for`); ``precision`` picks the efficiency set
    (``compute.yaml`` may hold one per precision) and is checked against the
    GPU's tensor cores; ``software`` an earlier release (``cluster.software``).
    """
    peaks = dict(peaks_by_precision or {})
    check_precision(gpu, precision, peaks)
    check_software(gpu, software)
    entry = _entry(gpu)
    cats = dict(entry["categories"])
    cats.update((entry.get("precisions") or {}).get(precision, {}))
    scale = 1.0 if software is None else float(entry["software"][software]["flop_scale"])
    effs = {cat: Efficiency(float(v["flop"]) * (scale if cat.startswith("gemm")
                                                 or cat == "attention" else 1.0),
                            float(v["mem"])) for cat, v in cats.items()}
    tiling = None
    if sms and gemm_tile:
        tiling = GemmTiling(int(sms), int(gemm_tile[0]), int(gemm_tile[1]),
                            float(entry.get("gemm_k_half", 0.0)))
    return ComputeModel(peak_flops=peak_flops, hbm_bw_bytes_per_s=hbm_bw_bytes_per_s,
                        efficiency=effs, launch_overhead_s=float(entry["launch_overhead_s"]),
                        gpu=gpu, peaks_by_precision=peaks, tiling=tiling,
                        host_issue_s=float(entry.get("moe_host_issue_s", 0.0)))


def compute_model_for(gpu: str, precision: str = "bf16",
                      software: str | None = None) -> ComputeModel:
    """The compute model of GPU preset ``gpu`` (``topologies/hardware/gpus.yaml``)."""
    import topologies
    spec = topologies.gpu_spec(gpu)
    extra = spec.extra
    return compute_model(gpu, spec.peak_dense_flops, spec.hbm_bw_bytes_per_s,
                         peaks_by_precision=extra.get("peak_flops_by_precision"),
                         sms=extra.get("sms"), gemm_tile=extra.get("gemm_tile"),
                         precision=precision, software=software)
