"""The items one rank executes for one micro-batch of one layer.

This is the interface between the model math (``workloads.models``) and the
trace generator (``workloads.generate``). Every figure is for ONE micro-batch on
ONE rank, after tensor/context/expert-parallel splitting. Units: FLOPs (floating
point operations, a multiply-add counts 2) and bytes.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ComputeItem:
    name: str          # e.g. "qkv", "attn", "fc1", "ln1", "logits"
    flops: float       # FLOPs of this op for ONE micro-batch on ONE rank (after TP/CP/EP splitting)
    bytes: float       # HBM bytes read+written
    category: str      # "gemm" | "gemm_fp8" | ... | "attention" | "elementwise" | "norm" | "embedding" | "optimizer" | "loss"
    dims: tuple[float, ...] | None = None   # GEMMs: (m, n, k[, groups]) output rows, cols, reduction


@dataclass(frozen=True, slots=True)
class CommItem:
    name: str          # e.g. "tp_ar1", "sp_ag1", "ep_dispatch", "cp_kv"
    kind: str          # "all_reduce" | "all_gather" | "reduce_scatter" | "all_to_all" | "sendrecv_ring"
    group: str         # communicator family: "tp" | "cp" | "ep" | "dp" | "edp" (expert data parallel) | "pp"
    bytes: float       # trace-format meaning: full buffer for all_reduce/reduce_scatter, gathered output for all_gather, whole send buffer for all_to_all, per-step message for sendrecv_ring
    overlap_with: str | None = None   # name of a ComputeItem this comm may overlap with (e.g. ring-attention KV exchange overlaps "attn"); None = on the critical path


@dataclass(frozen=True, slots=True)
class HostItem:
    name: str          # e.g. "moe_sync"
    join: str          # the ComputeItem that waits for the host to finish this
    units: float = 1.0            # work units to issue (MoE: local experts); length = units x rate
    category: str = "host_sync"   # the compute model's category for its rate


Item = ComputeItem | CommItem | HostItem


@dataclass(frozen=True)
class Shape:       # what one rank processes per micro-batch
    micro_batch: int
    seq_len: int
    tp: int = 1
    cp: int = 1
    ep: int = 1
    sequence_parallel: bool = False
    dtype_bytes: int = 2
    recompute: str = "none"    # none | selective | full
    flash_attention: bool = True   # False: scores materialised in HBM (unfused kernels)
    precision: str = "bf16"        # GEMM precision: bf16 | fp16 | fp8 | mxfp8 | nvfp4
    tp_comm_overlap: bool = False  # sequence-parallel collectives pipelined with their GEMMs
    etp: int | None = None         # expert tensor parallelism (MoE parallel folding); None = tp
    moe_sync_free: bool = False    # dropless MoE without the host synchronisation (see layer.py)
