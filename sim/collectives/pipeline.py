"""Chunked pipelining of a collective phase.

NCCL moves a buffer in chunks: a chunk crosses the ``depth`` stages of a tree
or chain one after the other, and the next chunk follows one stage behind.
With C chunks of size s/C the last one arrives after (depth + C - 1) stage
times, so the bandwidth term of s bytes grows by the pipeline fill,
``1 + (depth - 1) / C`` (a ring has depth 1: its steps are already its
pipeline). Latency: chunks in flight share their latency steps, so a phase
pays its latency path once per *wave* of chunks; with ``active`` chunks in
flight at a time a phase of C chunks has ceil(C / active) waves.

This is the meaning of ASTRA-sim's ``preferred-dataset-splits`` (C) and
``active-chunks-per-dimension`` (active). By default every chunk is in flight
(one wave) and C follows NCCL: the protocol's chunk size, halved while the
pipeline has fewer than 8 chunks per stage, down to the protocol's minimum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sim.collectives.protocols import Protocol

CHUNKS_PER_STAGE = 8


@dataclass(frozen=True)
class Chunking:
    """Chunk count and chunks in flight; None = NCCL's defaults."""

    chunks: int | None = None
    active: int | None = None

    def __post_init__(self):
        for name in ("chunks", "active"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                from workloads.errors import InputError
                raise InputError("must be a positive integer", field=f"chunking.{name}",
                                 value=value)


DEFAULT = Chunking()


def chunk_count(nbytes: float, depth: int, proto: Protocol, chunking: Chunking) -> int:
    """Chunks a phase moving ``nbytes`` per flow is cut into."""
    if chunking.chunks is not None:
        return chunking.chunks
    if nbytes <= 0:
        return 1
    size = proto.chunk_bytes
    while nbytes / size < CHUNKS_PER_STAGE * depth and size / 2 >= proto.min_chunk_bytes:
        size /= 2
    return max(1, math.ceil(nbytes / size))


def fill_factor(depth: int, chunks: int) -> float:
    """Bandwidth-term multiplier of a ``depth``-stage pipeline of ``chunks`` chunks."""
    return 1.0 + (depth - 1) / chunks


def waves(chunks: int, chunking: Chunking) -> int:
    """How many times a phase pays its latency path."""
    active = chunking.active if chunking.active is not None else chunks
    return math.ceil(chunks / active)
