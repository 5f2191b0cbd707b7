"""`fivestep.errors.run`, what every entry point runs its verb through: a `UserError`
becomes one `error:` line on stderr and exit status 2, and the run folder Hydra made
for it goes away when it holds nothing but Hydra's own files."""

import copy
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import read_write

from fivestep.errors import UserError, run

from .conftest import compose_config


@pytest.fixture(scope="module")
def composed(tmp_path_factory: pytest.TempPathFactory):
    """The real run config, composed once for this file."""
    cfg = compose_config(["experiment=two_layer"], tmp_path_factory.mktemp("composed"))
    GlobalHydra.instance().clear()
    return cfg


@pytest.fixture
def run_folder(composed, tmp_path: Path):
    """The composed run writing into `tmp_path/run`, registered as Hydra's current run
    (as `hydra.main` does), with the files Hydra writes at the start of a job."""
    folder = tmp_path / "run"
    cfg = copy.deepcopy(composed)
    with read_write(cfg.hydra):  # Hydra marks its node read-only
        cfg.hydra.runtime.output_dir = str(folder)
    cfg.paths.output_dir = str(folder)
    HydraConfig.instance().set_config(cfg)
    (folder / ".hydra").mkdir(parents=True)
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (folder / ".hydra" / name).write_text("{}\n")
    (folder / "train.log").write_text("[INFO] starting\n")
    return cfg, folder


def fails_with(error: Exception):
    def task(cfg):
        raise error

    return task


def test_a_user_error_is_one_line_and_exit_2(run_folder, capsys):
    cfg, _ = run_folder
    error = UserError("data.target='label' is not a column; pick one of [a, b]\n  details")
    with pytest.raises(SystemExit) as exit_:
        run(fails_with(error), cfg)
    assert exit_.value.code == 2
    assert exit_.value.__cause__ is None and exit_.value.__suppress_context__  # no traceback
    out, err = capsys.readouterr()
    assert err == "error: data.target='label' is not a column; pick one of [a, b]\n"
    assert out == ""


def test_a_run_folder_with_only_hydras_files_is_removed(run_folder):
    cfg, folder = run_folder
    with pytest.raises(SystemExit):
        run(fails_with(UserError("bad")), cfg)
    assert not folder.exists()
    assert folder.parent.is_dir()  # only the run's own folder


def test_a_run_folder_with_other_files_is_kept(run_folder):
    cfg, folder = run_folder
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    with pytest.raises(SystemExit):
        run(fails_with(UserError("bad")), cfg)
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert (folder / "checkpoints" / "last.ckpt").read_bytes() == b"weights"


def test_an_instantiation_error_also_exits_2(run_folder, capsys):
    cfg, folder = run_folder
    error = InstantiationException("Error locating target 'nowhere.Thing'")
    with pytest.raises(SystemExit) as exit_:
        run(fails_with(error), cfg)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: Error locating target 'nowhere.Thing'\n"
    assert not folder.exists()


def test_other_errors_propagate_and_leave_the_folder(run_folder, capsys):
    cfg, folder = run_folder
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        run(lambda c: 1 / 0, cfg)
    assert (folder / "train.log").is_file()
    assert capsys.readouterr().err == ""


def test_a_task_that_succeeds_returns_its_value(run_folder, capsys):
    cfg, folder = run_folder
    assert run(lambda c: {"val/acc_best": 0.9, "seed": c.seed}, cfg) == {
        "val/acc_best": 0.9, "seed": 0
    }
    assert (folder / ".hydra" / "config.yaml").is_file()
    assert capsys.readouterr().err == ""
