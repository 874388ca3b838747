"""Make the Kineto (PyTorch profiler) fixture: a 2-process data-parallel job on CPU.

Two processes train a small MLP with DistributedDataParallel over gloo for a
few steps under ``torch.profiler``; each writes its Chrome trace as
``rank<r>.json`` next to this script. Run from the repository root:

    python tests/data/kineto/make_fixture.py

(torch is needed only to regenerate the files; the tests read the committed ones.)
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def worker(rank: int, world: int, port: int) -> None:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.profiler import ProfilerActivity, profile, schedule

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(),
                                torch.nn.Linear(512, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    # small buckets: one gradient all-reduce per layer group, overlapping backward
    ddp = DDP(model, bucket_cap_mb=0.25)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01)
    x = torch.randn(64, 256)
    y = torch.randint(0, 10, (64,))
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True,
                 schedule=schedule(wait=1, warmup=1, active=2)) as prof:
        for _ in range(4):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(ddp(x), y)
            loss.backward()
            opt.step()
            prof.step()
    out = HERE / f"rank{rank}.json"
    prof.export_chrome_trace(str(out))
    dist.destroy_process_group()
    # keep the committed file free of this machine's paths
    data = json.loads(out.read_text())
    data["traceName"] = out.name
    out.write_text(json.dumps(data))


def main() -> int:
    import torch.multiprocessing as mp
    port = 29500 + os.getpid() % 1000
    mp.spawn(worker, args=(2, port), nprocs=2, join=True)
    for r in range(2):
        print(f"wrote {HERE / f'rank{r}.json'} ({(HERE / f'rank{r}.json').stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
