"""Scenario configuration: every key of a scenario YAML, one typed schema.

Each section is a :class:`~workloads.schema.Section`: strict types, finite
numbers, unknown keys rejected with the nearest valid key. Choices come from
the registries (GPU and fabric presets, model presets, pipeline schedules,
straggler kinds, routing modes, dtypes), so extending one of them needs no
edit here. Adding a key is one line in its section.

Sections that depend on each other (the layout on the cluster and the
model, the checkpoint size on the model, the run's target on the training)
are checked by :meth:`Scenario.check`, which :func:`sim.scenario.load.parse_scenario`
calls before anything is simulated.
"""
from __future__ import annotations

from functools import cached_property
from typing import Annotated

from pydantic import Field, model_validator

from sim.reliability.config import CheckpointConfig, FaultConfig, RunConfig
from sim.scenario.cluster import ClusterConfig
from sim.stragglers.registry import StragglerList
from workloads.generate.layout import RECOMPUTE
from workloads.models.config import ModelConfig
from workloads.models.shape_check import DTYPES, PRECISIONS
from workloads.schema import Float, Section, at_most, one_of


def _schedules():
    from workloads.generate.schedules import SCHEDULES
    return SCHEDULES


Degree = Annotated[int, Field(gt=0)]
Dtype = Annotated[str, one_of(lambda: DTYPES, "dtype")]
Precision = Annotated[str, one_of(lambda: PRECISIONS, "precision")]
StateDtype = Annotated[str, one_of(lambda: ("fp32", "bf16"), "optimizer dtype")]


class ParallelismConfig(Section):
    """``parallelism``: the parallel layout (world size = tp * pp * cp * dp)."""

    moved = {"expert_imbalance": "use model.moe.imbalance (busiest expert-parallel rank's "
                                 "tokens / mean)"}

    tp: Degree = Field(1, description="tensor-parallel size")
    pp: Degree = Field(1, description="pipeline-parallel size (stages)")
    dp: Degree | None = Field(None, description="data-parallel size (default: the rest)")
    vpp: Degree = Field(1, description="virtual pipeline stages per device (interleaved)")
    cp: Degree = Field(1, description="context-parallel size (ring attention)")
    ep: Degree = Field(1, description="expert-parallel size (MoE)")
    sequence_parallel: bool = Field(False, description="Megatron sequence parallelism")
    zero: Annotated[int, Field(ge=0, le=3)] = Field(0, description="ZeRO stage (3 = FSDP)")
    schedule: Annotated[str, one_of(_schedules, "pipeline schedule")] = "1f1b"
    recompute: Annotated[str, one_of(lambda: RECOMPUTE, "recompute")] = "none"
    placement_order: str = Field("tp,cp,dp,pp", description="rank order, innermost first")
    overlap_grad_reduce: bool = Field(True, description="reduce gradient buckets during the "
                                      "backward pass (false: after it)")
    overlap_param_gather: bool = Field(False, description="ZeRO 1/2: all-gather updated "
                                       "parameters under the next forward (Megatron-Core)")
    tp_comm_overlap: bool = Field(False, description="pipeline sequence-parallel collectives "
                                  "with their GEMMs (TE userbuffers)")
    etp: Degree | None = Field(None, description="expert tensor parallelism (MoE parallel "
                               "folding: experts over ep x etp of the tp*cp*dp ranks); "
                               "default: experts split by tp, ep inside dp*cp")
    moe_sync_free: bool = Field(False, description="dropless MoE dispatch without the "
                                "host waiting for the routing counts (Megatron-Core full-"
                                "iteration CUDA graphs with moe_paged_stash); false: the "
                                "host synchronises once per MoE layer forward")
    account_for_embedding_in_pipeline_split: bool = Field(
        False, description="the embedding takes one layer's place in the first virtual "
        "pipeline stage (Megatron-Core)")
    account_for_loss_in_pipeline_split: bool = Field(
        False, description="the output layer and loss take one layer's place in the last "
        "virtual pipeline stage (Megatron-Core)")


class TrainingConfig(Section):
    """``training``: the batch of one optimizer step and the precision."""

    global_batch: Annotated[int, Field(gt=0), at_most(2**24, "sequences per step; the "
                                                      "micro-batch count drives the trace size")]
    micro_batch: Degree = Field(1, description="sequences per micro-batch")
    dtype: Precision = Field("bf16", description="GEMM precision (fp8, mxfp8, nvfp4 only "
                             "where the GPU has them)")
    grad_dtype: Dtype | None = Field(None, description="gradient reduction dtype (default: "
                                     "dtype)")
    seq_len: Annotated[int, Field(gt=0), at_most(2**22, "activation memory and attention "
                                                 "cost grow with it; published training "
                                                 "contexts reach about 1M tokens")] | None = \
        Field(None, description="default: the model's")
    tokens: Annotated[Float, Field(gt=0), at_most(1e16, "over 600 times Llama 3's 15.6T "
                                                  "tokens")] | None = \
        Field(None, description="tokens to train (time-to-train)")
    flash_attention: bool = Field(True, description="fused attention (FlashAttention); false "
                                  "materialises the score matrix, as Megatron-LM did in 2021-22")
    optimizer_dtype: StateDtype = Field(
        "fp32", description="Adam state (moments and the optimizer's copy of the weights): "
        "fp32, or bf16 as NeMo's distributed_fused_adam with optim.dtype bf16")
    fp8_params: bool = Field(False, description="fp8 / mxfp8: keep the layer weights only "
                             "as their FP8 copies (Megatron-Core --fp8-param-gather, as the "
                             "Megatron-Bridge FP8 and MXFP8 recipes do); no effect otherwise")


class SimConfig(Section):
    """``sim``: how the simulation runs."""

    fold: bool = Field(True, description="simulate one representative per rank class")
    seed: int = Field(0, ge=0, description="seed of every random draw")


class ScenarioCheckpoint(CheckpointConfig):
    """``checkpoint`` of a scenario: the size may come from the model."""

    needs_costs = False


class ScenarioRun(RunConfig):
    """``run`` of a scenario: the target may come from ``training.tokens``."""

    needs_horizon = False


class Scenario(Section):
    """A whole scenario file."""

    name: str = "scenario"
    description: str = ""
    model: ModelConfig | None = Field(None, description="preset name, {preset: NAME, ...}, "
                                      "or inline architecture")
    trace: str | None = Field(None, description="trace JSON to replay instead of a model")
    cluster: ClusterConfig = ClusterConfig()
    parallelism: ParallelismConfig = ParallelismConfig()
    training: TrainingConfig | None = None
    stragglers: StragglerList = []
    faults: FaultConfig | None = None
    checkpoint: ScenarioCheckpoint | None = None
    run: ScenarioRun | None = None
    sim: SimConfig = SimConfig()

    @model_validator(mode="after")
    def _model_or_trace(self):
        if (self.model is None) == (self.trace is None):
            raise ValueError("give exactly one of 'model' or 'trace'")
        if self.model is not None and self.training is None:
            raise ValueError("'training' (global_batch, micro_batch) is needed with a model")
        return self

    @cached_property
    def job(self):
        """The generated job (:class:`sim.scenario.workload.Job`), None for a trace."""
        from sim.scenario.workload import job_of
        return None if self.model is None else job_of(self)

    @cached_property
    def reliability(self):
        """Run-level inputs (:class:`sim.scenario.reliability.RunInputs`), None without faults."""
        from sim.scenario.reliability import run_inputs
        return run_inputs(self)

    def model_copy(self, *, update=None, deep: bool = False) -> "Scenario":
        """A copy (with ``update`` applied) whose job and run inputs are derived afresh."""
        copy = super().model_copy(update=update, deep=deep)
        for name in ("job", "reliability"):
            copy.__dict__.pop(name, None)
        return copy

    def check(self) -> "Scenario":
        """Cross-section checks (raise :class:`~workloads.errors.InputError`)."""
        _ = self.job, self.reliability
        return self
