"""NCCL's three wire protocols: LL, LL128 and Simple.

A protocol trades bandwidth for latency. LL ("low latency") sends 8-byte
words of 4 data bytes and a 4-byte flag, so the receiver polls the flag and
no separate synchronisation is needed: half the bandwidth, the least latency.
LL128 does the same with 128-byte lines carrying 120 data bytes (15/16 of
the bandwidth) and needs NVLink-class ordering. Simple sends plain data and
synchronises with fences and flags once per chunk: full bandwidth, the most
latency. (NCCL documentation and Hu et al., "Demystifying NCCL", 2025.)

Per protocol the model has: the fraction of link bandwidth that carries data,
a base latency paid once per collective (kernel launch and setup), an
overhead added to every latency step on top of the hop's path latency, one
for NVLink steps and one for network steps, and the chunk size a pipelined
algorithm moves per step. The base latencies and NVLink step overheads are
fitted to published small-message times (``sim/data/nccl_tests.yaml``, rows
marked ``fit``; ``benchmarks/calibrate_collectives.py --search``); the network
step overheads follow the order of NCCL's published tuning model (a few
microseconds per network step, more for Simple than for LL) as no multi-node
small-message data is in the file; the efficiencies are the protocols'
payload fractions.
"""
from __future__ import annotations

from dataclasses import dataclass

from workloads.errors import InputError


@dataclass(frozen=True)
class Protocol:
    name: str
    bw_efficiency: float          # data bytes / wire bytes
    base_latency_s: float         # once per collective
    intra_step_s: float           # added to every NVLink latency step
    inter_step_s: float           # added to every network latency step
    chunk_bytes: float            # bytes a pipelined algorithm moves per step
    min_chunk_bytes: float        # smallest chunk when a deep pipeline needs more chunks

    def step_overhead_s(self, intra: bool) -> float:
        return self.intra_step_s if intra else self.inter_step_s


KIB = 1024

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("ll", 0.5, 7.0e-6, 0.0, 1.0e-6, 64 * KIB, 8 * KIB),
    Protocol("ll128", 120 / 128, 7.0e-6, 0.3e-6, 2.0e-6, 256 * KIB, 32 * KIB),
    Protocol("simple", 1.0, 7.0e-6, 1.0e-6, 4.0e-6, 512 * KIB, 64 * KIB),
    # no protocol cost at all: for imported ASTRA-sim systems, whose collectives
    # pay only link latency and bandwidth
    Protocol("ideal", 1.0, 0.0, 0.0, 0.0, 512 * KIB, 64 * KIB),
)}


def protocol(name: str) -> Protocol:
    p = PROTOCOLS.get(name.lower())
    if p is None:
        raise InputError(f"unknown protocol (known: {', '.join(PROTOCOLS)})",
                         field="protocol", value=name)
    return p
