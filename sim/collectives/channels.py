"""How many channels and threads NCCL launches for one collective, by size.

NCCL runs a collective as one CUDA block per *channel*; a block's threads
copy (and reduce) the data, so what one GPU can push is bounded by
channels x threads x the copy rate of one thread, whatever its links could
carry. For ring and tree NCCL starts from all the communicator's channels
and the protocol's maximum threads per block, then, while the buffer is
smaller than ``channels x threads x threshold`` bytes, drops one channel at
a time down to one, then halves the threads (while they are a multiple of
128). The per-thread thresholds are 8 bytes for LL and LL128 and 64 for
Simple; a ring's LL threshold is multiplied by the rank count. NVLS and
NVLS-tree always use the communicator's NVLS channels, CollNet its channels.
(NCCL's ``src/enqueue.cc``, ``topoGetAlgoInfo``/``getAlgoInfo``; thresholds
``NCCL_{LL,LL128,SIMPLE}_THREAD_THRESHOLD`` in ``src/include/comm.h``;
maximum threads ``NCCL_LL_MAX_NTHREADS`` 512, ``NCCL_LL128_MAX_NTHREADS``
640, ``NCCL_SIMPLE_MAX_NTHREADS`` 512, ``NCCL_MAX_NTHREADS`` 640 for NVLS.)

Channel counts: a communicator of NVSwitch GPUs opens up to NCCL's 32
channels (``MAXCHANNELS``) for ring and tree and 16 NVLS channels
(``NCCL_NVLS_NCHANNELS``' default); graph attributes ``nccl_channels`` and
``nccl_nvls_channels`` override them (``NCCL_MIN/MAX_NCHANNELS``).

What a GPU's channels can push bounds its collective traffic, with NCCL's
own figures (tuning model, ``src/graph/tuning.cc``): per channel at full
threads, LL128 36.7 GB/s on Hopper and 20 on Ampere (``perChMaxRingLL128Bws``),
Simple 38.7 and 24 (``perChMaxTreeBws``, one node); LL at most 87.7 GB/s per
GPU on one node and about 20-40 GB/s across nodes (``llMaxBws``, by host CPU),
whatever its channels. These are data bytes per second; fewer threads than the maximum
scale a channel's rate down in proportion. Blackwell GPUs take the Hopper
figures (NCCL's tables used here have none of their own); GPUs that are not
presets (toy topologies, imported networks) are not bounded. NVLS and CollNet
are not bounded this way (their rates are the switches'), nor all-to-all
(grouped point-to-point sends on their own channels).
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_CHANNELS = 32
NVLS_CHANNELS = 16
MAX_THREADS = {"ll": 512, "ll128": 640, "simple": 512}
NVLS_THREADS = 640
THREAD_THRESHOLD = {"ll": 8, "ll128": 8, "simple": 64}
_NVLS = ("nvls", "nvls_tree")
#: algorithms NCCL's per-channel rates are for (rings and trees); all-to-all
#: runs as grouped sends on NCCL's point-to-point channels, not bounded here
_BOUNDED = ("ring", "tree", "hierarchical")


#: per-channel data rates at full threads (bytes/s), by GPU generation
CHANNEL_BW = {"ampere": {"ll128": 20.0e9, "simple": 24.0e9},
              "hopper": {"ll128": 36.7e9, "simple": 38.7e9}}
#: LL's rate per GPU (bytes/s) on 1, 2 and more nodes. One node: by GPU
#: generation; several: by host CPU, AMD for DGX A100 (EPYC), Intel for DGX
#: H100 and later (Xeon)
LL_MAX_BW = {"ampere": (87.7e9, 22.5e9, 19.0e9), "hopper": (87.7e9, 39.0e9, 20.4e9)}


def generation(gpu: str | None) -> str | None:
    """NCCL's tuning generation of a GPU preset name (None: not an NVIDIA
    preset, e.g. the toy topologies, whose GPUs have no such bound)."""
    if not gpu:
        return None
    if gpu.startswith("a100"):
        return "ampere"
    return "hopper" if gpu.startswith(("h100", "h200", "b200", "gb200")) else None


@dataclass(frozen=True)
class Launch:
    """Channels and threads per channel of one collective, and the data rate
    (bytes/s) they bound one GPU's traffic to (None: no bound)."""

    channels: int
    threads: int
    gpu_bw_bytes_per_s: float | None = None


def gpu_bw_bytes_per_s(algorithm: str, protocol: str, channels: int, threads: int,
                       gpu: str | None, nodes: int) -> float | None:
    """The data rate NCCL's channels can push for one GPU (None: unbounded)."""
    if algorithm not in _BOUNDED or protocol not in MAX_THREADS:
        return None
    gen = generation(gpu)
    if gen is None:
        return None
    if protocol == "ll":
        return LL_MAX_BW[gen][min(nodes, 3) - 1]
    return channels * CHANNEL_BW[gen][protocol] * threads / MAX_THREADS[protocol]


def launch(algorithm: str, protocol: str, nbytes: float, nranks: int,
           max_channels: int = MAX_CHANNELS, nvls_channels: int = NVLS_CHANNELS) -> Launch:
    """NCCL's channels and threads for ``algorithm``/``protocol`` on a buffer of ``nbytes``."""
    if algorithm in _NVLS:
        return Launch(nvls_channels, NVLS_THREADS)
    if protocol not in MAX_THREADS:
        return Launch(max_channels, MAX_THREADS["simple"])
    nc, nt = max_channels, MAX_THREADS[protocol]
    if algorithm == "collnet":
        return Launch(nc, nt)
    threshold = THREAD_THRESHOLD[protocol] * (nranks if (algorithm, protocol) == ("ring", "ll")
                                              else 1)
    while nbytes < nc * nt * threshold:
        if nc >= 2:
            nc -= 1
        elif nt % 128 == 0:
            nt //= 2
        else:
            break
    return Launch(nc, nt)


def launch_on(graph_attrs: dict, algorithm: str, protocol: str, nbytes: float,
              nranks: int, nodes: int) -> Launch:
    """:func:`launch` with the channel counts of a topology graph's attributes
    (``nccl_channels``, ``nccl_nvls_channels``) and the data rate that bounds
    a GPU's traffic (:func:`gpu_bw_bytes_per_s`; graph attribute ``gpu``)."""
    lc = launch(algorithm, protocol, nbytes, nranks,
                int(graph_attrs.get("nccl_channels", MAX_CHANNELS)),
                int(graph_attrs.get("nccl_nvls_channels", NVLS_CHANNELS)))
    return Launch(lc.channels, lc.threads, gpu_bw_bytes_per_s(
        algorithm, protocol, lc.channels, lc.threads, graph_attrs.get("gpu"), nodes))
