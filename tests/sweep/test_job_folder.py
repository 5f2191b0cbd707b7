"""`member_job` makes a trial's job as Hydra's `run_job` does: the same folder, the same
three `.hydra/` files byte for byte, the same config handed to the task (its
`${hydra:...}` paths resolved to the job's folder), the same record of the job, and the
Hydra callbacks called around the task. If a Hydra release changes `run_job`, this
fails by name."""

import copy
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobStatus, run_job
from hydra.types import HydraContext, RunMode
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from fivestep.sweep.configs import trial_configs
from fivestep.sweep.job_folder import job_yaml, member_job

ROOT = Path(__file__).resolve().parents[2]
FIXED = ["experiment=two_layer", "logger=[]"]


class Calls:
    """Stands in for Hydra's callbacks object: records what it is told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        self.seen.append(("start", config.hydra.job.num))

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        self.seen.append(("end", config.hydra.job.num))


@pytest.fixture
def jobs(tmp_path):
    """Two copies of trial 3's config (sweep dir under `tmp_path`), a context for each."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "configs")):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "train", ["hydra/sweeper=optuna", "hydra.sweeper.members=true", *FIXED,
                      f"hydra.sweep.dir={tmp_path}/sweep"], run_mode=RunMode.MULTIRUN)
        HydraConfig.instance().set_config(master)
        (config,) = trial_configs(loader, master, [FIXED + ["model.optimizer.lr=0.02"]])
        with open_dict(config):
            config.hydra.job.id, config.hydra.job.num = "train_3", 3
        yield [copy.deepcopy(config) for _ in range(2)], loader
    GlobalHydra.instance().clear()


def _run(maker, config, loader, folder):
    """One job with its sweep folder moved to `folder`; returns (job, task's config, calls)."""
    with read_write(config.hydra), open_dict(config):
        config.hydra.sweep.dir = str(folder)
    calls, taken = Calls(), []

    def task(cfg: DictConfig) -> str:
        OmegaConf.resolve(cfg)  # as the sweeper's task does, in the job's Hydra context
        taken.append(cfg)
        return "done"

    context = HydraContext(config_loader=loader, callbacks=calls)
    if maker is run_job:
        job = run_job(hydra_context=context, task_function=task, config=config,
                      job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir",
                      configure_logging=False)
    else:
        job = member_job(context, config, task)
    return job, taken[0], calls.seen


@pytest.mark.slow  # >0.5 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_member_job_makes_what_run_job_makes(jobs, tmp_path):
    (a, b), loader = jobs
    hydras, hydras_cfg, hydras_calls = _run(run_job, a, loader, tmp_path / "hydra")
    ours, our_cfg, our_calls = _run(member_job, b, loader, tmp_path / "ours")
    assert ours.status == hydras.status == JobStatus.COMPLETED
    assert ours.return_value == hydras.return_value == "done"
    assert our_calls == hydras_calls == [("start", 3), ("end", 3)]
    files = ("config.yaml", "hydra.yaml", "overrides.yaml")
    for name in files:
        theirs = (tmp_path / "hydra" / "3" / ".hydra" / name).read_text()
        mine = (tmp_path / "ours" / "3" / ".hydra" / name).read_text()
        # the only difference: the folder each was told to use
        assert mine == theirs.replace(str(tmp_path / "hydra"), str(tmp_path / "ours")), name
    assert "lr: 0.02" in (tmp_path / "ours" / "3" / ".hydra" / "config.yaml").read_text()
    assert our_cfg.paths.output_dir == str(tmp_path / "ours" / "3")
    assert hydras_cfg.paths.output_dir == str(tmp_path / "hydra" / "3")
    mine, theirs = (OmegaConf.to_container(c) for c in (our_cfg, hydras_cfg))
    assert mine == _moved(theirs, str(tmp_path / "hydra"), str(tmp_path / "ours"))
    assert OmegaConf.is_struct(our_cfg) == OmegaConf.is_struct(hydras_cfg)
    assert "hydra" not in our_cfg
    assert ours.overrides == hydras.overrides == ["experiment=two_layer", "logger=[]",
                                                  "model.optimizer.lr=0.02"]
    assert ours.hydra_cfg.hydra.runtime.output_dir == str(tmp_path / "ours" / "3")
    assert ours.working_dir == hydras.working_dir


@pytest.mark.slow  # >0.5 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_member_job_records_a_failing_task_and_restores_hydras_config(jobs, tmp_path):
    (config, _), loader = jobs
    before = HydraConfig.instance().cfg

    def task(cfg: DictConfig) -> None:
        raise ValueError("boom")

    job = member_job(HydraContext(config_loader=loader, callbacks=Calls()), config, task)
    assert job.status == JobStatus.FAILED
    with pytest.raises(ValueError, match="boom"):  # a failed job's return raises its error
        job.return_value  # noqa: B018
    assert HydraConfig.instance().cfg is before


def _moved(node, old: str, new: str):
    if isinstance(node, dict):
        return {k: _moved(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_moved(v, old, new) for v in node]
    return node.replace(old, new) if isinstance(node, str) else node


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_jobs_of_one_config_in_turn_each_make_what_run_job_makes(tmp_path):
    """The sweeper's members path: value-only trials come as one config object set to
    each trial's values in turn (`trial_configs`), each made a job before the next is
    set. Every job's files and task config equal `run_job`'s for that trial's own
    config, composed by Hydra."""
    GlobalHydra.instance().clear()
    lrs = (0.02, 0.3, 0.02)
    batch = [FIXED + [f"model.optimizer.lr={lr}"] for lr in lrs]
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "configs")):
        loader = GlobalHydra.instance().config_loader()
        outcomes = {}
        for side in ("hydra", "ours"):
            master = loader.load_configuration(
                "train", ["hydra/sweeper=optuna", "hydra.sweeper.members=true", *FIXED,
                          f"hydra.sweep.dir={tmp_path}/{side}"], run_mode=RunMode.MULTIRUN)
            HydraConfig.instance().set_config(master)
            configs = (trial_configs(loader, master, batch) if side == "ours"
                       else (loader.load_sweep_config(master, list(b)) for b in batch))
            outcomes[side] = []
            for number, config in enumerate(configs):
                with read_write(config.hydra), open_dict(config):
                    config.hydra.job.id, config.hydra.job.num = f"train_{number}", number
                outcomes[side].append(_run(run_job if side == "hydra" else member_job,
                                           config, loader, tmp_path / side))
    GlobalHydra.instance().clear()
    for number, lr in enumerate(lrs):
        (hydras, hydras_cfg, _), (ours, our_cfg, _) = (outcomes[s][number]
                                                       for s in ("hydra", "ours"))
        for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
            theirs = (tmp_path / "hydra" / str(number) / ".hydra" / name).read_text()
            mine = (tmp_path / "ours" / str(number) / ".hydra" / name).read_text()
            assert mine == theirs.replace(str(tmp_path / "hydra"), str(tmp_path / "ours")), name
        assert our_cfg.model.optimizer.lr == hydras_cfg.model.optimizer.lr == lr
        assert our_cfg.paths.output_dir == str(tmp_path / "ours" / str(number))
        assert ours.overrides == hydras.overrides == [*FIXED, f"model.optimizer.lr={lr}"]
        assert ours.hydra_cfg.hydra.runtime.output_dir == str(tmp_path / "ours" / str(number))
        assert ours.hydra_cfg.hydra.job.num == number


def test_job_yaml_is_to_yamls_text_as_values_change_in_turn():
    """`job_yaml` reuses the text of the keys whose values did not change since the last
    job: it must still be `OmegaConf.to_yaml`'s, byte for byte, when a value changes to
    one that is `==` but written otherwise (1, 1.0, True; 0.0, -0.0), to a string that
    needs quotes or wraps, a list, a mapping, an interpolation, and back."""
    cfg = OmegaConf.create({
        "seed": 0, "model": {"optimizer": {"lr": 0.1, "betas": [0.9, 0.99]}, "name": "mlp"},
        "hydra": {"job": {"num": 0}, "runtime": {"output_dir": "/a", "choices": {"m": "x"}}},
        "deep": {"a": {"b": {"c": {"d": 1}}}}, "empty": {}, "words": "w",
        "odd": {"yes": 1, "1": 2, "a b": 3, "x": 0},  # keys PyYAML quotes
        "no": {"x": {"y": 0}},  # and a top-level one, with a mapping
    })
    values = [0.1, 1, 1.0, True, -0.0, 0.0, "0.1", "yes", "a: b", "#x", "x " * 60, None,
              [1, 2], {}, {"k": 1}, "${seed}", "\u00e9t\u00e9", 0.1]
    for i, value in enumerate(values):
        cfg.model.optimizer.lr = value
        cfg.hydra.job.num = i
        cfg.hydra.runtime.output_dir = "/runs/" + "x" * (7 * i)
        cfg.deep.a.b.c.d = value
        cfg.words = value if i % 2 else "w"
        cfg.odd.x = value
        cfg.odd["yes"] = i
        cfg["no"].x.y = value
        assert job_yaml(cfg, "test.yaml") == OmegaConf.to_yaml(cfg), value
    assert job_yaml(OmegaConf.create({}), "empty.yaml") == OmegaConf.to_yaml({})
