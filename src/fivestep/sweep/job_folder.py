"""`member_job`: a member trial's job folder, as Hydra's `run_job` makes it, in a
fraction of its time.

The members path of the Optuna sweeper (`hydra.sweeper.members=true`) needs from each
trial's job only its folder, its `.hydra/` files, its config with the job's paths
resolved, and a `JobReturn`: the trial then trains beside the others. Hydra's
`hydra.core.utils.run_job` does that with four copies of the whole config (two
`HydraConfig.set_config`, the task's and the Hydra node's `deepcopy`), about 40 ms a
trial on the 2-core machine: a quarter of a member trial of `two_layer`. `member_job`
makes one copy of the Hydra node (`HydraConfig.set_config`, which the job's
`${hydra:...}` interpolations need) and one of the task's keys, and writes the same
three files with `OmegaConf.to_yaml`, as `run_job` does; it calls the Hydra callbacks'
`on_job_start` and `on_job_end` around the task, with `hydra.job.env_set` applied.

A job with `hydra.job.chdir=true` or `hydra.output_subdir=null` goes to Hydra's own
`run_job` (the task then runs inside the job's folder or writes no `.hydra/`: rare
for a sweep, and not worth a second path). `tests/sweep/test_job_folder.py` checks that
both make the same files and configs; if a Hydra release changes `run_job`, it fails by
name.
"""

import logging
import os
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, env_override, run_job
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf, open_dict, read_write


def member_job(hydra_context: HydraContext, config: DictConfig,
               task: Callable[[DictConfig], None]) -> JobReturn:
    """The job of one sweep trial (`config`: its composed config with its `hydra` node):
    its folder `hydra.sweep.dir/hydra.sweep.subdir` with `.hydra/config.yaml`,
    `hydra.yaml` and `overrides.yaml`, then `task(job's config)`. Returns Hydra's record
    of the job, with `status` COMPLETED (or FAILED with the task's exception)."""
    if config.hydra.job.get("chdir") or config.hydra.output_subdir is None:
        return run_job(hydra_context=hydra_context, task_function=task, config=config,
                       job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir",
                       configure_logging=False)
    callbacks = hydra_context.callbacks
    before = HydraConfig.instance().cfg
    output_dir = os.path.abspath(
        os.path.join(str(config.hydra.sweep.dir), str(config.hydra.sweep.subdir)))
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = output_dir
    HydraConfig.instance().set_config(config)  # the job's `${hydra:...}` resolve to its own
    try:
        job = JobReturn()
        job.cfg = OmegaConf.masked_copy(config, [str(k) for k in config if k != "hydra"])
        OmegaConf.set_struct(job.cfg, OmegaConf.is_struct(config))
        job.hydra_cfg = HydraConfig.instance().cfg  # this job's own copy (set_config's)
        job.overrides = list(OmegaConf.to_container(config.hydra.overrides.task))
        job.working_dir = os.getcwd()
        hydra_output = Path(output_dir) / str(config.hydra.output_subdir)
        hydra_output.mkdir(parents=True, exist_ok=True)
        for node, name in ((job.cfg, "config.yaml"), (job.hydra_cfg, "hydra.yaml"),
                           (config.hydra.overrides.task, "overrides.yaml")):
            (hydra_output / name).write_text(OmegaConf.to_yaml(node), encoding="utf-8")
        with env_override(job.hydra_cfg.hydra.job.env_set):
            callbacks.on_job_start(config=config, task_function=task)
            try:
                job.return_value = task(job.cfg)
                job.status = JobStatus.COMPLETED
            except Exception as error:
                job.return_value, job.status = error, JobStatus.FAILED
        job.task_name = JobRuntime.instance().get("name")
        for handler in logging.getLogger().handlers:
            handler.flush()
        callbacks.on_job_end(config=config, job_return=job)
        return job
    finally:
        HydraConfig.instance().cfg = before
