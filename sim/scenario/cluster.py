"""The scenario's ``cluster`` key: GPU, GPU count, node size and fabric, and the
cluster they resolve to (computed once per run).

``cluster.fabric`` is a fabric preset name or a mapping of typed overrides of
the GPU's fabric: ``preset``, ``nodes_per_leaf``, ``spines``,
``oversubscription``, ``nic_bw_gbps`` (Gb/s) or ``nic_bw_bytes_per_s``,
``nic_efficiency``, ``hop_latency_us`` or ``hop_latency_s``,
``link_efficiency``, ``routing`` (``spray`` or ``ecmp``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field, model_validator

import topologies
from topologies.digraph import DiGraph
from workloads.errors import InputError
from workloads.schema import Float, Section, at_most, field_error, one_of

MAX_GPUS = 2**20
MAX_GPUS_WHY = ("the topology graph holds every GPU, NIC and link; a million GPUs is beyond "
                "the largest clusters built")

Efficiency = Annotated[Float, Field(gt=0, le=1)]


def _routing_modes() -> tuple[str, ...]:
    from sim.network.routing import ROUTING
    return ROUTING


class FabricConfig(Section):
    """``cluster.fabric``: a preset and overrides of it (None: the preset's value)."""

    preset: Annotated[str, one_of(topologies.list_fabrics, "fabric preset")] | None = Field(
        None, description="fabric preset (default: the GPU's fabric)")
    nodes_per_leaf: int | None = Field(None, ge=1, description="nodes per leaf group")
    spines: int | None = Field(None, ge=1, description="spine switches")
    oversubscription: Float | None = Field(None, gt=0, description="leaf down/up bandwidth")
    nic_bw_gbps: Float | None = Field(None, gt=0, description="NIC-leaf link rate, Gb/s")
    nic_bw_bytes_per_s: Float | None = Field(None, gt=0, description="NIC-leaf link rate")
    nic_efficiency: Efficiency | None = None
    hop_latency_us: Float | None = Field(None, ge=0, description="per switch hop, us")
    hop_latency_s: Float | None = Field(None, ge=0, description="per switch hop, s")
    link_efficiency: Efficiency | None = Field(None, description="leaf-spine links")
    routing: Annotated[str, one_of(_routing_modes, "routing")] = Field(
        "spray", description="spray: adaptive routing over equal-cost paths; ecmp: "
        "hash-pinned paths")

    @model_validator(mode="before")
    @classmethod
    def _name(cls, data: Any) -> Any:
        if data is None:
            return {}
        return {"preset": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _units(self):
        for a, b in (("nic_bw_gbps", "nic_bw_bytes_per_s"), ("hop_latency_us", "hop_latency_s")):
            if getattr(self, a) is not None and getattr(self, b) is not None:
                raise field_error(b, getattr(self, b), f"given twice (also as {a})")
        return self

    def rail_args(self) -> dict[str, float]:
        """Keyword arguments of :func:`topologies.rail_optimized`, SI units."""
        out = {k: getattr(self, k) for k in ("nodes_per_leaf", "spines", "oversubscription",
                                             "nic_bw_bytes_per_s", "nic_efficiency",
                                             "hop_latency_s", "link_efficiency")}
        if self.nic_bw_gbps is not None:
            out["nic_bw_bytes_per_s"] = self.nic_bw_gbps * 1e9 / 8
        if self.hop_latency_us is not None:
            out["hop_latency_s"] = self.hop_latency_us * 1e-6
        return {k: v for k, v in out.items() if v is not None}


class ClusterConfig(Section):
    """``cluster``: what the job runs on."""

    gpu: Annotated[str, one_of(topologies.list_gpus, "GPU preset")] = Field(
        "a100-80gb", description="GPU preset; it picks the node and the fabric")
    gpus: Annotated[int, Field(gt=0), at_most(MAX_GPUS, MAX_GPUS_WHY)] | None = Field(
        None, description="GPUs in the job (default: tp*pp*cp*dp)")
    gpus_per_node: Annotated[int, Field(gt=0), at_most(4096, "no node or NVLink domain "
                                                       "is that large")] | None = Field(
        None, description="default: the GPU's node preset (an NVLink domain may be larger)")
    fabric: FabricConfig = Field(FabricConfig(), description="fabric preset name or overrides")
    software: str | None = Field(None, description="software release whose kernel "
                                 "efficiencies apply, one listed for the GPU in "
                                 "sim/data/compute.yaml (default: the latest calibrated)")

    @model_validator(mode="after")
    def _software(self):
        from sim.compute import check_software
        try:
            check_software(self.gpu, self.software)
        except InputError as e:
            raise field_error("software", self.software, e.message) from None
        return self


@dataclass
class ResolvedCluster:
    """The cluster of one run: every default filled in, the graph built on demand."""

    gpu: topologies.GpuSpec
    gpus: int
    gpus_per_node: int
    fabric: FabricConfig
    _graph: DiGraph | None = field(default=None, repr=False)

    @property
    def routing(self) -> str:
        return self.fabric.routing

    @property
    def nodes(self) -> int:
        return -(-self.gpus // self.gpus_per_node)

    def job_shape(self, gpus: int) -> tuple[int, int]:
        """(GPUs in whole nodes, GPUs per node) of a job of ``gpus`` GPUs on this cluster."""
        return whole_nodes(gpus, self.gpus_per_node)

    def graph(self) -> DiGraph:
        """The topology graph (built once)."""
        if self._graph is None:
            self._graph = topologies.build_cluster(
                self.gpu.name, self.gpus, gpus_per_node=self.gpus_per_node,
                fabric=self.fabric.preset, **self.fabric.rail_args())
        return self._graph


def resolve_cluster(cfg: ClusterConfig, needed_gpus: int) -> ResolvedCluster:
    """``cfg`` with its defaults filled in for a job on ``needed_gpus`` GPUs.

    The GPU count is ``cluster.gpus`` (default: what the job needs) rounded up
    to whole nodes; a job smaller than a node gets a node of its size.
    """
    gpus = cfg.gpus or needed_gpus
    if gpus < needed_gpus:
        raise InputError(f"the layout needs {needed_gpus} GPUs", field="cluster.gpus",
                         value=gpus)
    spec = topologies.gpu_spec(cfg.gpu)
    gpus, gpn = whole_nodes(gpus, cfg.gpus_per_node
                            or topologies.node_spec(spec.node).gpus_per_node)
    return ResolvedCluster(spec, gpus, gpn, cfg.fabric)


def whole_nodes(gpus: int, gpus_per_node: int) -> tuple[int, int]:
    """(GPUs rounded up to whole nodes, GPUs per node); a job smaller than a node
    gets a node of its size."""
    gpn = min(gpus_per_node, gpus)
    return -(-gpus // gpn) * gpn, gpn
