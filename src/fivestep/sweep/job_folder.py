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
three files as `run_job` does (`OmegaConf.to_yaml`'s text, see `job_yaml`); it calls the
Hydra callbacks' `on_job_start` and `on_job_end` around the task, with
`hydra.job.env_set` applied.

`job_yaml` gives `OmegaConf.to_yaml(node)` byte for byte, dumping again only the parts
of the config that differ from the last job's: PyYAML writes a block mapping as its
keys one after another, each key's text independent of its siblings', so the text of
a key whose value is the same as the last job's (the same types, not just `==`) is
reused, and the parts that changed are dumped together, in one `OmegaConf.to_yaml`
cut apart at marker keys. The trials of a sweep differ in a few values (the learning
rate, the job's number and folder): writing the whole config again was 40% of a member
trial's job (the three files: 21 ms, 6 ms now).

A job with `hydra.job.chdir=true` or `hydra.output_subdir=null` goes to Hydra's own
`run_job` (the task then runs inside the job's folder or writes no `.hydra/`: rare
for a sweep, and not worth a second path). `tests/sweep/test_job_folder.py` checks that
both make the same files and configs; if a Hydra release changes `run_job`, it fails by
name.
"""

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
            (hydra_output / name).write_text(job_yaml(node, name), encoding="utf-8")
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


_SPLIT_DEPTH = 3  # mappings down to `a.b.c` are written key by key
_last: dict[tuple[str, tuple[Any, ...]], tuple[Any, str]] = {}  # (file, path): (value, text)
_CUT = "fivestep_cut_{}_"  # a key between the parts dumped together, where the text is cut


def job_yaml(node: DictConfig, name: str) -> str:
    """`OmegaConf.to_yaml(node)`, reusing the text of the parts of `node` whose values
    equal (strictly) those of the last node given under `name` (a file's name); the
    parts that changed are dumped together, in one `OmegaConf.to_yaml`."""
    container = OmegaConf.to_container(node, enum_to_str=True)
    if not isinstance(container, dict) or not container:
        return OmegaConf.to_yaml(node)
    parts: list[Any] = []  # text, or the `(path, value)` of a part to dump
    _walk(name, (), container, parts)
    changed = [part for part in parts if isinstance(part, tuple)]
    if changed:
        texts = _dump_together(changed)
        if texts is None:
            return OmegaConf.to_yaml(node)
        for (path, value), text in zip(changed, texts, strict=True):
            _last[(name, path)] = (value, text)
        dumped = iter(texts)
        parts = [part if isinstance(part, str) else next(dumped) for part in parts]
    return "".join(parts)


def _walk(name: str, path: tuple[Any, ...], mapping: dict[Any, Any], parts: list[Any]) -> None:
    """`parts` of `mapping` at `path`: the line of each key whose mapping is split further
    (a key PyYAML writes unquoted), the last text of each part unchanged, and the
    `(path, value)` of each part to dump (its text checked to begin with its key)."""
    for key, value in mapping.items():
        here = (*path, key)
        if isinstance(value, dict) and value and len(here) < _SPLIT_DEPTH and _plain_key(key):
            parts.append(f"{'  ' * len(path)}{key}:\n")
            _walk(name, here, value, parts)
            continue
        last = _last.get((name, here))
        parts.append(last[1] if last is not None and _same(last[0], value) else (here, value))


@functools.lru_cache(maxsize=4096)
def _plain_key(key: Any) -> bool:
    """PyYAML writes `key` as it is, unquoted (so its line is `key:`)."""
    return isinstance(key, str) and OmegaConf.to_yaml({key: 0}) == f"{key}: 0\n"


def _dump_together(changed: list[tuple[tuple[Any, ...], Any]]) -> list[str] | None:
    """The text of each `(path, value)` as it stands in the whole dump (its key's line
    and the lines below it), from one dump of all of them with a cut key just before
    and just after each; None if the text is not cut where expected."""
    sparse: dict[Any, Any] = {}
    for n, (path, value) in enumerate(changed):
        parent = sparse
        for key in path[:-1]:
            parent = parent.setdefault(key, {})
        parent[_CUT.format(2 * n)] = 0  # a cut line just before the part, and just after
        parent[path[-1]] = value
        parent[_CUT.format(2 * n + 1)] = 0
    lines = OmegaConf.to_yaml(OmegaConf.create(sparse)).splitlines(keepends=True)
    at = {line.strip(): i for i, line in enumerate(lines)
          if line.lstrip().startswith("fivestep_cut_")}
    texts = []
    for n, (path, _) in enumerate(changed):
        indent = "  " * (len(path) - 1)
        start, end = (at.get(f"{_CUT.format(2 * n + i)}: 0") for i in (0, 1))
        if (start is None or end is None or lines[start] != f"{indent}{_CUT.format(2 * n)}: 0\n"
                or lines[end] != f"{indent}{_CUT.format(2 * n + 1)}: 0\n"):
            return None
        text = "".join(lines[start + 1:end])
        if not text.startswith(f"{indent}{path[-1]}:"):
            return None
        texts.append(text)
    return texts


def _same(a: Any, b: Any) -> bool:
    """`a == b` where the YAML text would be the same: the same types all the way down,
    keys in the same order (1 == 1.0 == True and 0.0 == -0.0 in Python, not in YAML)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b)
    return bool(a == b)
