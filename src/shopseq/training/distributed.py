"""Data-parallel training under `torchrun`: N processes, one gradient, gloo on CPU, NCCL on GPU.

`torchrun --nproc-per-node N` starts N copies of the `train` stage with RANK, WORLD_SIZE and
LOCAL_RANK set. Each copy builds the same model from the same seed, takes its share of every
batch, and the gradients are summed across processes (weighted by each share's size) before
every optimizer step, so all copies keep identical weights and one step equals a
single-process step on the whole batch, up to floating-point rounding. Rank 0 alone logs to
MLflow and writes the candidate. Outside torchrun every function here is a no-op.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TypeVar

import torch

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 outside torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def primary(self) -> bool:
        """Whether this process logs and writes (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world() -> World:
    """The world torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK)."""
    return World(
        rank=int(os.environ.get("RANK", "0")),
        size=int(os.environ.get("WORLD_SIZE", "1")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def torchrun_command(processes: int, cli_args: list[str]) -> list[str]:
    """The command that runs `shopseq <cli_args>` as `processes` torchrun processes on this machine."""
    import sys

    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
        "-m", "shopseq.cli", *cli_args,
    ]  # fmt: skip


def run_under_torchrun(processes: int, cli_args: list[str]) -> None:
    """Run `shopseq <cli_args>` under torchrun and wait; raise when any process failed.

    Raises:
        RuntimeError: torchrun exited non-zero (its output, above, names the failing rank).
    """
    import subprocess

    command = torchrun_command(processes, cli_args)
    log.info("train: %d data-parallel processes: %s", processes, " ".join(command))
    result = subprocess.run(command)
    if result.returncode != 0:
        raise RuntimeError(f"torchrun with {processes} processes exited with {result.returncode}; see the log above")


def init_process_group(device: torch.device) -> World:
    """Join torchrun's process group (NCCL for CUDA, gloo for CPU) when there is one; return the world.

    On CUDA each process takes the GPU of its LOCAL_RANK.
    """
    import torch.distributed as dist

    here = world()
    if not here.distributed or dist.is_initialized():
        return here
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(here.local_rank)
    dist.init_process_group(backend=backend)
    log.info("train: rank %d of %d (%s backend)", here.rank, here.size, backend)
    return here


def device_for(device: torch.device) -> torch.device:
    """The device of this process: its own GPU (cuda:LOCAL_RANK) under torchrun on CUDA."""
    here = world()
    if device.type == "cuda" and here.distributed:
        return torch.device("cuda", here.local_rank)
    return device


def active() -> bool:
    """Whether gradients are being shared with other processes now."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def shard(batch: list[int]) -> list[int]:
    """This process's share of one batch: every WORLD_SIZE-th window from its rank on.

    Empty for every process when the batch has fewer windows than there are processes, so all
    of them skip it alike (each step's collectives need every process).
    """
    if not active():
        return batch
    import torch.distributed as dist

    if len(batch) < dist.get_world_size():
        return []
    return batch[dist.get_rank() :: dist.get_world_size()]


def broadcast_parameters(model: torch.nn.Module) -> None:
    """Copy rank 0's initial weights to every process (they start equal by seed; this makes sure)."""
    if not active():
        return
    import torch.distributed as dist

    for tensor in model.state_dict().values():
        dist.broadcast(tensor, src=0)


def share_gradients(model: torch.nn.Module, share: float) -> None:
    """Sum `share` x each process's gradient across processes (share: its part of the batch).

    With each process's loss a mean over its own windows, the sum equals the gradient of the
    mean over the whole batch, which is what a single process computes.
    """
    if not active():
        return
    import torch.distributed as dist

    for parameter in model.parameters():
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)  # every rank must join every all-reduce
        sparse = parameter.grad.is_sparse  # the sampled loss's item table (train.loss: sampled)
        grad = parameter.grad.to_dense() if sparse else parameter.grad
        grad.mul_(share)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        parameter.grad = grad.to_sparse() if sparse else grad


def from_primary(value: T) -> T:
    """Rank 0's `value` on every process (hyperparameters, pruning decisions); `value` itself alone."""
    if not active():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_across(value: float, device: torch.device) -> float:
    """The sum of `value` over all processes (a loss total for the epoch's log line)."""
    if not active():
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor.item())
