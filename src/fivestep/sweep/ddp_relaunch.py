"""DDP inside a Hydra multirun: make ranks > 0 rerun this job, not the whole sweep.

Lightning's DDP strategy starts ranks 1..N-1 by running the script again with
`sys.argv[1:]` plus `hydra.run.dir=<HydraConfig.run.dir>`. In a multirun that is
`-m` and every sweep value: each extra rank would start a sweep of its own, in
`logs/<task>/runs/<timestamp>/` folders of its own. Before `fit`, this points both
at the current job instead, so an extra rank runs exactly this job's overrides as
a single run in this job's folder (without writing `.hydra/` there: Lightning adds
`hydra.output_subdir=null`).
"""

import sys

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict


def relaunch_ranks_as_this_job(world_size: int) -> None:
    """In a multirun job with `world_size > 1`, rewrite what Lightning relaunches."""
    if world_size < 2 or not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
