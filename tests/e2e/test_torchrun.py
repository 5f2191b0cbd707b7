"""Multi-node DDP without a scheduler: two `torchrun` "nodes" of one process each on
127.0.0.1, as one would start them on two machines."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ..conftest import ROOT
from ..watchdog import abort_session, no_core_files, stop_with_stacks, watched_env

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_nodes(tmp_path: Path, tag: str, *overrides: str) -> list[str]:
    """Start node 0 and node 1 together; return each node's output once both have ended."""
    port = _free_port()
    procs, outs = [], []
    for rank in (0, 1):
        out = open(tmp_path / f"{tag}_node{rank}.out", "w")
        outs.append(out)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
             f"--node-rank={rank}", "--master-addr=127.0.0.1", f"--master-port={port}",
             "train.py", "experiment=two_layer", "trainer=ddp", "trainer.accelerator=cpu",
             "trainer.devices=1", "trainer.num_nodes=2", "data.batch_size=8",
             "callbacks.progress_bar.refresh_rate=0", f"paths.log_dir={tmp_path / 'logs'}",
             *overrides],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env=watched_env(), preexec_fn=no_core_files,
        ))
    for rank, (proc, out) in enumerate(zip(procs, outs, strict=True)):
        try:
            code = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            for other in procs:  # both nodes' processes, with their stacks
                abort_session(other.pid)
            for o in outs:
                o.close()
            output = "".join(Path(o.name).read_text() for o in outs)
            stop_with_stacks(proc, f"torchrun node {rank}", output)
        out.close()
        assert code == 0, Path(out.name).read_text()[-3000:]
    return [Path(out.name).read_text() for out in outs]


def test_two_torchrun_nodes_train_one_run_and_both_resume_from_last(tmp_path):
    runs = tmp_path / "logs" / "train" / "runs"
    # every node gets the same run folder (on a cluster: a path on the shared file system)
    first = _two_nodes(tmp_path, "first", "trainer.max_epochs=3", f"hydra.run.dir={runs / 'a'}")
    for rank, out in enumerate(first):
        assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in out
    assert [p.name for p in runs.iterdir()] == ["a"]  # one run folder
    ckpts = sorted(p.name for p in (runs / "a" / "checkpoints").iterdir())
    assert len(ckpts) == 2 and "last.ckpt" in ckpts  # one set: the best and the last
    events = list((runs / "a" / "tensorboard").glob("events.out.tfevents.*"))
    assert events and len({e.name.split(".")[-2] for e in events}) == 1  # by one process
    last = runs / "a" / "checkpoints" / "last.ckpt"
    before = torch.load(last, weights_only=True)
    assert before["epoch"] == 2

    # resume on both nodes with ckpt_path=last: both find the same file and go on in place
    second = _two_nodes(
        tmp_path, "second", "trainer.max_epochs=5", "ckpt_path=last", f"hydra.run.dir={runs / 'b'}"
    )
    for out in second:
        assert f"ckpt_path=last -> {last}" in out
    after = torch.load(last, weights_only=True)
    assert after["epoch"] == 4
    steps_per_epoch = before["global_step"] // 3
    assert after["global_step"] == 5 * steps_per_epoch
    assert not (runs / "b" / "checkpoints").exists()  # nothing written in the new folder
