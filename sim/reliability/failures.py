"""Failure sources and the merged stream of failure arrivals.

Every cause (a :class:`FailureSource`) is a set of ``units`` identical units,
each failing as a renewal process: a failed unit is replaced by a new one, so
the times between its failures are i.i.d. (exponential, or Weibull with shape
k and scale lambda chosen so that the mean lambda*Gamma(1 + 1/k) equals
1/rate). The job sees the superposition of all units of all causes.

* Exponential units: the superposition is a Poisson process with rate
  ``units * rate``; arrivals in a block [T0, T1) are a Poisson count of
  uniform, sorted times (the order-statistics property of Poisson processes).
* Weibull units: every unit's next failure time is tracked. The cluster is
  taken to have been running for a long time before the job starts, so each
  unit's first failure is drawn from the stationary (equilibrium) residual
  life: pick the interval covering time 0 length-biased, L = lambda * G^(1/k)
  with G ~ Gamma(1 + 1/k) (if X is Weibull, (X/lambda)^k is Exp(1), and
  length-biasing an Exp(1) variable in X gives Gamma(1 + 1/k)), then a uniform
  point in it. The superposition then has the constant mean rate
  units * rate from time 0 on (Cox, "Renewal Theory", 1962, ch. 5).

Arrivals are wall-clock events of the hardware and happen whatever the job is
doing; the engine decides which of them strike the job. Each arrival carries
two uniforms in [0, 1): ``u_keep`` (the engine thins arrivals of causes that
scale with the job when it runs on fewer GPUs) and ``u_node`` (which node was
hit, for in-memory checkpoint replicas).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from workloads.errors import InputError

from .config import FaultConfig

_DATA = Path(__file__).resolve().parent.parent / "data" / "llama3_interruptions.yaml"


@dataclass(frozen=True)
class FailureSource:
    """One failure cause after scaling to the job.

    ``rate_per_s_per_unit``: failures per second of one unit; ``units``: how
    many; ``weibull_shape``: 1.0 for exponential; ``repair_s``: time to repair
    a node this cause takes out (None: no repair time configured);
    ``scales_with_job``: the units are the job's GPUs or nodes, so a job shrunk
    to a fraction of its GPUs sees that fraction of these failures.
    """

    name: str
    units: int
    rate_per_s_per_unit: float
    distribution: str
    weibull_shape: float
    blast: str
    repair_s: float | None
    scales_with_job: bool

    @property
    def rate_per_s(self) -> float:
        """Failures per second of all units together (the long-run rate)."""
        return self.units * self.rate_per_s_per_unit


def _unit_count(units, gpus: int, nodes: int) -> tuple[int, bool]:
    if units == "gpu":
        return gpus, True
    if units == "node":
        return nodes, True
    if units == "job":
        return 1, False
    return int(units), False


def load_llama3_counts() -> dict:
    """The Llama 3 interruption counts shipped in ``sim/data`` (with their source)."""
    with open(_DATA, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def resolve_sources(faults: FaultConfig, gpus: int, gpus_per_node: int,
                    *, file: str | None = None) -> list[FailureSource]:
    """Turn the ``faults`` section into failure sources for a job of ``gpus`` GPUs.

    ``preset: llama3-54day`` divides each cause's count by the exposure of
    the 54-day window (GPU-hours, node-hours or job-hours of 16,384 GPUs on
    2,048 nodes, per ``sim/data/llama3_interruptions.yaml``), so a job of the
    same size sees 419 failures in 54 days on average.
    """
    nodes = gpus // gpus_per_node
    spare_repair_s = faults.spares.repair_h * 3600.0 if faults.spares else None
    shape = faults.weibull_shape if faults.distribution == "weibull" else 1.0
    out: list[FailureSource] = []
    if faults.job_mtbf_h is not None:
        out.append(FailureSource("job", 1, 1.0 / (faults.job_mtbf_h * 3600.0),
                                 faults.distribution, shape, faults.blast,
                                 spare_repair_s, faults.blast == "node"))
    elif faults.preset is not None:
        data = load_llama3_counts()
        hours = data["window_days"] * 24.0
        exposure = {"gpu": data["gpus"] * hours,
                    "node": data["gpus"] / data["gpus_per_node"] * hours,
                    "job": hours}
        for name, cause in data["causes"].items():
            n_units, scales = _unit_count(cause["unit"], gpus, nodes)
            rate = cause["count"] / exposure[cause["unit"]] / 3600.0
            out.append(FailureSource(name, n_units, rate, faults.distribution, shape,
                                     cause["blast"], spare_repair_s, scales))
    else:
        for name, comp in faults.components.items():
            n_units, scales = _unit_count(comp.units, gpus, nodes)
            rate_h = (comp.rate_per_unit_h if comp.rate_per_unit_h is not None
                      else 1.0 / comp.mtbf_h_per_unit)
            repair = comp.repair_h * 3600.0 if comp.repair_h else spare_repair_s
            k = comp.weibull_shape if comp.distribution == "weibull" else 1.0
            out.append(FailureSource(name, n_units, rate_h / 3600.0, comp.distribution,
                                     k, comp.blast, repair, scales))
    out = _scaled(out, faults, file)
    for src in out:
        if src.blast == "node" and src.repair_s is None:
            field = ("faults.components." + src.name + ".repair_h"
                     if faults.components else "faults.spares")
            raise InputError("a failure of this cause takes a node out of service but no "
                             "repair time is given (set faults.spares: {nodes, repair_h} "
                             "or the cause's repair_h); the job would wait forever",
                             file=file, field=field, value=None)
    return out


def _scaled(sources: list[FailureSource], faults: FaultConfig,
            file: str | None) -> list[FailureSource]:
    per_cause = dict(faults.scale or {})
    names = [s.name for s in sources]
    for name, factor in per_cause.items():
        if name not in names:
            raise InputError(f"unknown failure cause (known: {', '.join(names)})",
                             file=file, field=f"faults.scale.{name}", value=factor)
    out = []
    for s in sources:
        factor = faults.rate_scale * per_cause.get(s.name, 1.0)
        if factor > 0:
            out.append(replace(s, rate_per_s_per_unit=s.rate_per_s_per_unit * factor))
    return out


class FailureStream:
    """Failure arrivals of all sources for one replica, drawn block by block.

    ``next_block()`` returns the arrivals in the next ``block_s`` seconds as
    Python lists ``(times_s, source_index, u_keep, u_node)``, sorted by time.
    """

    def __init__(self, sources: list[FailureSource], rng: np.random.Generator,
                 block_s: float):
        self._sources = sources
        self._rng = rng
        self._block_s = block_s
        self._t0 = 0.0
        self._exp_idx = np.array([i for i, s in enumerate(sources)
                                  if s.distribution == "exponential"], dtype=np.int64)
        exp_rates = np.array([sources[i].rate_per_s for i in self._exp_idx])
        self._exp_rate = float(exp_rates.sum())
        self._exp_p = exp_rates / self._exp_rate if self._exp_rate > 0 else exp_rates
        self._weib = [i for i, s in enumerate(sources) if s.distribution != "exponential"]
        self._scale = {i: 1.0 / sources[i].rate_per_s_per_unit
                       / math.gamma(1.0 + 1.0 / sources[i].weibull_shape)
                       for i in self._weib}
        self._next = {i: self._residuals(i, sources[i].units) for i in self._weib}

    @property
    def block_s(self) -> float:
        """Length of the window each :meth:`next_block` call covers, seconds."""
        return self._block_s

    def _gaps(self, i: int, n: int) -> np.ndarray:
        return self._scale[i] * self._rng.weibull(self._sources[i].weibull_shape, n)

    def _residuals(self, i: int, n: int) -> np.ndarray:
        k = self._sources[i].weibull_shape
        covering = self._scale[i] * self._rng.gamma(1.0 + 1.0 / k, 1.0, n) ** (1.0 / k)
        return self._rng.random(n) * covering

    def _weibull_block(self, i: int, t1: float) -> np.ndarray:
        nxt = self._next[i]
        found = []
        due = np.flatnonzero(nxt < t1)
        while due.size:
            found.append(nxt[due].copy())
            nxt[due] += self._gaps(i, due.size)
            due = due[nxt[due] < t1]
        return np.concatenate(found) if found else np.empty(0)

    def next_block(self) -> tuple[list, list, list, list]:
        t0, t1 = self._t0, self._t0 + self._block_s
        self._t0 = t1
        rng = self._rng
        times, srcs = [], []
        if self._exp_rate > 0:
            n = rng.poisson(self._exp_rate * (t1 - t0))
            times.append(t0 + (t1 - t0) * rng.random(n))
            srcs.append(self._exp_idx[rng.choice(self._exp_idx.size, n, p=self._exp_p)]
                        if self._exp_idx.size > 1 else np.full(n, self._exp_idx[0]))
        for i in self._weib:
            arr = self._weibull_block(i, t1)
            times.append(arr)
            srcs.append(np.full(arr.size, i, dtype=np.int64))
        t = np.concatenate(times) if times else np.empty(0)
        s = np.concatenate(srcs) if srcs else np.empty(0, dtype=np.int64)
        order = np.argsort(t, kind="stable")
        u = rng.random((2, t.size))
        return t[order].tolist(), s[order].tolist(), u[0].tolist(), u[1].tolist()
