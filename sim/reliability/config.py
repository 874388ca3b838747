"""Scenario sections of the run-level model: ``faults``, ``checkpoint``, ``run``.

All times are in seconds unless the name says hours (``_h``) or days; sizes in
bytes, bandwidths in bytes per second. Each class validates its own fields and
does nothing else; :func:`parse_section` turns a plain mapping (from YAML) into
a model and reports mistakes as :class:`workloads.errors.InputError` naming the
file, the dotted field and the offending value.
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Mapping, Type, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from workloads.errors import InputError
from workloads.schema import Float, Section, at_most, pydantic_error

Distribution = Literal["exponential", "weibull"]
Blast = Literal["node", "job"]

#: shortest mean time between failures, hours: below it failures come faster than
#: detection and restart, the job makes no progress and the simulation would not end
MIN_MTBF_H = 0.1
_MTBF_WHY = "the job would fail faster than it detects and restarts"
Rate = Annotated[Float, Field(gt=0), at_most(1 / MIN_MTBF_H, _MTBF_WHY)]
Mtbf = Annotated[Float, Field(ge=MIN_MTBF_H)]
Days = Annotated[Float, Field(gt=0), at_most(3650, "ten years of wall-clock time; the cost of "
                                             "a replica grows with the horizon")]
Tokens = Annotated[Float, Field(gt=0), at_most(1e16, "over 600 times Llama 3's 15.6T tokens")]
Replicas = Annotated[int, Field(ge=1), at_most(100_000, "Monte Carlo cost grows with the "
                                              "replicas; 1,000 give percent-level intervals")]


class ComponentConfig(Section):
    """One failure cause, e.g. ``gpu: {mtbf_h_per_unit: 50000, units: gpu}``."""

    rate_per_unit_h: Rate | None = Field(
        None, description="Failures per unit per hour (give this or mtbf_h_per_unit).")
    mtbf_h_per_unit: Mtbf | None = Field(
        None, description="Mean time between failures of one unit, hours.")
    units: Literal["gpu", "node", "job"] | int = Field(
        "gpu", description="What fails: every GPU, every node, the job as a whole, "
                           "or a fixed count of units (e.g. 64 switches).")
    distribution: Distribution = Field(
        "exponential", description="Time between failures of one unit.")
    weibull_shape: Float | None = Field(
        None, gt=0, description="Weibull shape k (k < 1: infant mortality, k = 1: exponential).")
    blast: Blast = Field(
        "node", description="node: one node leaves service until replaced or repaired; "
                            "job: the job crashes and restarts, no hardware is lost.")
    repair_h: Float | None = Field(
        None, gt=0, description="Hours to repair a node lost to this cause "
                                "(default: spares.repair_h).")

    @model_validator(mode="after")
    def _check(self) -> "ComponentConfig":
        if (self.rate_per_unit_h is None) == (self.mtbf_h_per_unit is None):
            raise ValueError("give exactly one of rate_per_unit_h and mtbf_h_per_unit")
        if isinstance(self.units, int) and self.units < 1:
            raise ValueError("units must be gpu, node, job or a positive count")
        if self.distribution == "weibull" and self.weibull_shape is None:
            raise ValueError("distribution weibull needs weibull_shape")
        return self


class SparesConfig(Section):
    """Hot spare nodes standing by; a repaired node returns to the pool."""

    nodes: int = Field(..., ge=0, description="Spare nodes available at the start.")
    repair_h: Float = Field(..., gt=0, description="Hours to repair a failed node.")


class FaultConfig(Section):
    """Scenario key ``faults``: what fails, how often, and how the job recovers.

    Exactly one of ``job_mtbf_h``, ``preset`` or ``components`` says what fails.
    Defaults for recovery are assumptions, not measurements: ``detection_s``
    300 (collective watchdogs and health checks fire after minutes) and
    ``restart_s`` 600 (rescheduling, process start and communicator set-up of
    a large job take minutes).
    """

    job_mtbf_h: Mtbf | None = Field(
        None, description="Mean time between failures of the whole job, hours.")
    preset: Literal["llama3-54day"] | None = Field(
        None, description="Per-cause rates from Llama 3's 54-day interruption counts, "
                          "scaled to this job's GPU count.")
    components: dict[str, ComponentConfig] | None = Field(
        None, description="Failure causes by name.")
    distribution: Distribution = Field(
        "exponential", description="For job_mtbf_h and preset: time between failures.")
    weibull_shape: Float | None = Field(
        None, gt=0, description="For job_mtbf_h and preset with distribution weibull.")
    blast: Blast = Field(
        "job", description="For job_mtbf_h: what a failure takes out (see components).")
    detection_s: Float = Field(
        300.0, ge=0, description="Time from a failure until the job notices it.")
    restart_s: Float = Field(
        600.0, ge=0, description="Rescheduling, process start and communicator set-up.")
    restart_s_per_node: Float = Field(
        0.0, ge=0, description="Extra restart seconds per node of the job: rendezvous "
                               "and communicator set-up grow with the rank count "
                               "(see sim.reliability.costs.restart_time_s).")
    rate_scale: Float = Field(
        1.0, gt=0, description="Multiplies the failure rate of every cause (job_mtbf_h, "
                               "preset or components): 2 = twice as many failures.")
    scale: dict[str, Float] | None = Field(
        None, description="Per-cause rate multipliers on top of rate_scale, by cause "
                          "name (preset: sim/data/llama3_interruptions.yaml; job_mtbf_h: "
                          "job), e.g. {faulty_gpu: 2.0}.")
    restart_can_fail: bool = Field(
        True, description="Failures may strike during restart (then it starts over).")
    spares: SparesConfig | None = Field(
        None, description="Hot spare pool; none: a lost node must be repaired first.")
    elastic: bool = Field(
        False, description="Without a spare, continue with fewer data-parallel replicas "
                           "and grow back when nodes are repaired.")
    elastic_unit_gpus: int | None = Field(
        None, ge=1, description="GPUs of one data-parallel replica (tp*pp*cp); losing a "
                                "node removes the replica it belongs to. Default: one node.")

    @model_validator(mode="after")
    def _check(self) -> "FaultConfig":
        given = [k for k in ("job_mtbf_h", "preset", "components")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            hint = ""
            if "preset" in given and len(given) > 1:
                hint = ("; to scale the preset keep it and set faults.rate_scale "
                        "(e.g. --set faults.rate_scale=2), or drop its per-cause "
                        "model with faults.preset=null")
            raise ValueError("give exactly one of job_mtbf_h, preset, components "
                             f"(got {given or 'none'}){hint}")
        for name, factor in (self.scale or {}).items():
            if not factor >= 0 or factor == float("inf"):
                raise ValueError(f"scale.{name} must be a finite number >= 0, got {factor}")
        if self.components is not None and not self.components:
            raise ValueError("components is empty")
        if self.distribution == "weibull" and self.weibull_shape is None:
            raise ValueError("distribution weibull needs weibull_shape")
        return self


class CheckpointConfig(Section):
    """Scenario key ``checkpoint``: how and how often the job saves its state.

    Costs come either directly (``stall_s``, ``persist_s``, ``restore_s``,
    ``memory_restore_s``) or from ``size_bytes`` and bandwidths; a direct
    figure wins. See :mod:`sim.reliability.costs` for the formulas.
    """

    #: False where the size may still come from the model (the scenario's section)
    needs_costs: ClassVar[bool] = True

    mode: Literal["sync", "async", "in-memory"] = Field(
        "sync", description="sync: training stops while writing to storage; async: "
                            "stops only to copy to host memory, then persists in the "
                            "background; in-memory: copies to peers' CPU memory.")
    interval_s: Float | Literal["auto"] = Field(
        "auto", description="Training time between checkpoints, or auto (Daly 2006 optimum).")
    stall_s: Float | None = Field(
        None, ge=0, description="Time training stops per checkpoint.")
    persist_s: Float | None = Field(
        None, ge=0, description="async / in-memory: background write to storage.")
    restore_s: Float | None = Field(
        None, ge=0, description="Time to load a checkpoint from storage on restart "
                                "(default with stall_s: 0, i.e. folded into restart_s).")
    memory_restore_s: Float | None = Field(
        None, ge=0, description="in-memory: time to load from peers' memory.")
    size_bytes: Float | None = Field(None, gt=0, description="Checkpoint size, bytes.")
    save_bytes_per_s: Float | None = Field(
        None, gt=0, description="Aggregate write bandwidth to storage.")
    load_bytes_per_s: Float | None = Field(
        None, gt=0, description="Aggregate read bandwidth from storage.")
    host_copy_bytes_per_s_per_node: Float = Field(
        1.0e11, gt=0, description="GPU-to-host copy bandwidth per node (async snapshot); "
                                  "default: 8 GPUs at 12.5 GB/s, below PCIe Gen4 x16.")
    peer_copy_bytes_per_s_per_node: Float = Field(
        1.0e11, gt=0, description="Node-to-peer-memory bandwidth (in-memory mode); "
                                  "default: a quarter of eight 400 Gb/s NICs.")
    persist_every: int = Field(
        10, ge=1, description="in-memory: every n-th checkpoint is also persisted.")
    in_memory_copies: int = Field(
        2, ge=2, description="in-memory: nodes holding each shard (itself and peers).")

    @model_validator(mode="after")
    def _check(self) -> "CheckpointConfig":
        if isinstance(self.interval_s, float) and self.interval_s <= 0:
            raise ValueError("interval_s must be positive or auto")
        if self.size_bytes is None:
            if self.stall_s is None and self.needs_costs:
                raise ValueError("give stall_s, or size_bytes with save_bytes_per_s "
                                 "and load_bytes_per_s")
        else:
            missing = [k for k in ("save_bytes_per_s", "load_bytes_per_s")
                       if getattr(self, k) is None]
            if missing:
                raise ValueError(f"size_bytes needs {' and '.join(missing)}")
        return self


class RunConfig(Section):
    """Scenario key ``run``: horizon and Monte Carlo count (the seed comes from outside)."""

    #: False where the target may still come from ``training.tokens`` (the scenario's)
    needs_horizon: ClassVar[bool] = True

    days: Days | None = Field(None, description="Wall-clock horizon, days.")
    tokens: Tokens | None = Field(None, description="Stop once this many tokens are trained.")
    replicas: Replicas = Field(100, description="Monte Carlo replicas.")

    @model_validator(mode="after")
    def _check(self) -> "RunConfig":
        if self.days is None and self.tokens is None and self.needs_horizon:
            raise ValueError("give days, tokens or both")
        return self


M = TypeVar("M", bound=BaseModel)


def parse_section(model: Type[M], data: Mapping | None, *, key: str,
                  file: str | None = None) -> M:
    """Validate ``data`` (the mapping under scenario key ``key``) as ``model``.

    Raises :class:`InputError` naming ``file``, the dotted field (``key.sub``)
    and the offending value.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InputError("must be a mapping", file=file, field=key, value=data)
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise pydantic_error(exc, file, prefix=key) from None
