"""DDP inside a Hydra multirun: make ranks > 0 rerun this job, not the whole sweep.

Lightning's DDP strategy starts ranks 1..N-1 by running the script again with
`sys.argv[1:]` plus `hydra.run.dir=<HydraConfig.run.dir>`. In a multirun that is
`-m` and every sweep value: each extra rank would start a sweep of its own, in
`logs/<task>/runs/<timestamp>/` folders of its own. Before `fit`, this points both
at the current job instead, so an extra rank runs exactly this job's overrides as
a single run in this job's folder (without writing `.hydra/` there: Lightning adds
`hydra.output_subdir=null`).

A second DDP job in the same sweeper process would also find the first job's
process group and the variables Lightning's launcher set (`LOCAL_RANK` among them,
which tells Lightning the ranks already exist), so it would start no ranks and talk
to the finished ones. Those are cleared first.
"""

import os
import sys

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write

# set in the sweeper process by Lightning's subprocess launcher for its children
_LAUNCHER_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
_launched_in_this_process = False


def relaunch_ranks_as_this_job(world_size: int) -> None:
    """In a multirun job with `world_size > 1`, rewrite what Lightning relaunches."""
    global _launched_in_this_process
    if world_size < 2 or not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    if _launched_in_this_process:  # an earlier job's ranks have exited: start afresh
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for name in _LAUNCHER_ENV:
            os.environ.pop(name, None)
    _launched_in_this_process = True
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
