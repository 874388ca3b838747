"""Scenario configuration: the keys of a scenario YAML, validated with pydantic.

Every section forbids unknown keys, so a typo is an error naming the key,
not a silently ignored setting. ``faults``, ``checkpoint`` and ``run`` are
validated by the reliability model's own configs.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    # assignments after loading are validated too (``scn.parallelism.tp = 0`` is an error)
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ClusterConfig(_Section):
    gpu: str = Field("a100-80gb", description="GPU preset: a100-40gb, a100-80gb, h100-sxm, "
                     "h200-sxm, b200")
    gpus: int | None = Field(None, gt=0, description="GPUs in the job (default: tp*pp*dp*cp)")
    gpus_per_node: int | None = Field(None, gt=0, description="default: the GPU's node preset")
    fabric: str | dict[str, Any] | None = Field(
        None, description="fabric preset name or overrides (nodes_per_leaf, spines, "
        "oversubscription, ...); default: the GPU's fabric")


class ParallelismConfig(_Section):
    tp: int = Field(1, gt=0, description="tensor-parallel size")
    pp: int = Field(1, gt=0, description="pipeline-parallel size (stages)")
    dp: int | None = Field(None, gt=0, description="data-parallel size (default: the rest)")
    vpp: int = Field(1, gt=0, description="virtual pipeline stages per device (interleaved)")
    cp: int = Field(1, gt=0, description="context-parallel size (ring attention)")
    ep: int = Field(1, gt=0, description="expert-parallel size (MoE)")
    sequence_parallel: bool = Field(False, description="Megatron sequence parallelism")
    zero: Literal[0, 1, 2, 3] = Field(0, description="ZeRO stage (3 = FSDP)")
    schedule: Literal["gpipe", "1f1b", "interleaved", "zero-bubble"] = "1f1b"
    recompute: Literal["none", "selective", "full"] = "none"
    placement_order: str = Field("tp,cp,dp,pp", description="rank order, innermost first")
    expert_imbalance: float = Field(1.0, ge=1.0, description="max/mean tokens per expert")
    overlap_grad_reduce: bool = Field(True, description="reduce gradient buckets during the "
                                      "backward pass (false: after it)")
    overlap_param_gather: bool = Field(False, description="ZeRO 1/2: all-gather updated "
                                       "parameters under the next forward (Megatron-Core)")
    tp_comm_overlap: bool = Field(False, description="pipeline sequence-parallel collectives "
                                  "with their GEMMs (TE userbuffers)")
    etp: int | None = Field(None, gt=0, description="expert tensor parallelism (MoE parallel "
                            "folding: experts over ep x etp of the tp*cp*dp ranks); "
                            "default: experts split by tp, ep inside dp*cp")


class TrainingConfig(_Section):
    global_batch: int = Field(..., gt=0, description="sequences per step")
    micro_batch: int = Field(1, gt=0, description="sequences per micro-batch")
    dtype: Literal["bf16", "fp16", "fp8", "mxfp8", "nvfp4"] = Field(
        "bf16", description="GEMM precision (fp8, mxfp8, nvfp4 only where the GPU has them)")
    grad_dtype: Literal["bf16", "fp16", "fp32"] | None = Field(
        None, description="gradient reduction dtype (default: dtype)")
    seq_len: int | None = Field(None, gt=0, description="default: the model's")
    tokens: float | None = Field(None, gt=0, description="tokens to train (time-to-train)")
    flash_attention: bool = Field(True, description="fused attention (FlashAttention); false "
                                  "materialises the score matrix, as Megatron-LM did in 2021-22")
    optimizer_dtype: Literal["fp32", "bf16"] = Field(
        "fp32", description="Adam state (moments and the optimizer's copy of the weights): "
        "fp32, or bf16 as NeMo's distributed_fused_adam with optim.dtype bf16")


class StragglerConfig(_Section):
    kind: Literal["slow_gpu", "jitter", "slow_node_episode", "slow_link", "input_imbalance"]
    gpu: int | None = Field(None, ge=0, description="GPU index (slow_gpu)")
    node: int | None = Field(None, ge=0, description="node index (episodes, slow links)")
    factor: float = Field(1.0, gt=0, description="speed factor (<1 slower) or bandwidth factor")
    nic: int | None = Field(None, ge=0, description="NIC index on the node (slow_link; "
                            "default: every NIC of the node)")
    sigma: float = Field(0.0, ge=0, description="lognormal sigma of per-rank jitter")
    fraction: float | None = Field(None, ge=0, le=1, description="share of ranks (jitter; "
                                   "default all), of the time (slow_node_episode) or of the "
                                   "data-parallel replicas (input_imbalance)")


class SimConfig(_Section):
    fold: bool = Field(True, description="simulate one representative per rank class")
    seed: int = Field(0, description="seed of every random draw")


class Scenario(_Section):
    name: str = "scenario"
    description: str = ""
    model: str | dict[str, Any] | None = Field(None, description="preset name, {preset: NAME}, "
                                                "or inline architecture")
    trace: str | None = Field(None, description="trace JSON to replay instead of a model")
    cluster: ClusterConfig = ClusterConfig()
    parallelism: ParallelismConfig = ParallelismConfig()
    training: TrainingConfig | None = None
    stragglers: list[StragglerConfig] = []
    faults: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    sim: SimConfig = SimConfig()

    @model_validator(mode="after")
    def _model_or_trace(self):
        if (self.model is None) == (self.trace is None):
            raise ValueError("give exactly one of 'model' or 'trace'")
        if self.model is not None and self.training is None:
            raise ValueError("'training' (global_batch, micro_batch) is needed with a model")
        return self
