"""`fivestep.sweep.study` on a real journal file in a temporary sweep folder: the
default storage (and an SQLite file from before it, which goes on), creating and
reopening the study the sweeper config names (with its sampler and pruner), and a live
handle on a trial by its number from another study object, as a trial's worker process
gets it."""

import fcntl

import optuna
import pytest
from omegaconf import OmegaConf

from fivestep.sweep.study import (
    DB_NAME,
    JOURNAL_NAME,
    asking_alone,
    open_study,
    storage_of,
    storage_url,
    trial_by_number,
)

from ..conftest import CONFIGS

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sweeper_config(**overrides):
    """The fivestep sweeper's config (`configs/hydra/sweeper/optuna.yaml`) with its
    default pruner, as Hydra composes it."""
    cfg = OmegaConf.load(CONFIGS / "hydra/sweeper/optuna.yaml")
    cfg.pruner = OmegaConf.load(CONFIGS / "hydra/sweeper/pruner/median.yaml")
    cfg.study_name = "unit"
    del cfg["defaults"]
    return OmegaConf.merge(cfg, overrides)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """One sweep folder (one journal file) for the tests of this file, each with a study
    of its own name."""
    return tmp_path_factory.mktemp("sweep")


@pytest.fixture
def config(request):
    """The sweeper config with a study named after the test."""
    return lambda **overrides: sweeper_config(
        **{"study_name": request.node.name, **overrides}
    )


def test_the_default_storage_is_a_journal_file_in_the_sweep_folder(tmp_path):
    sweep = tmp_path / "sweeps" / "unit"
    url = storage_url(None, sweep)
    assert url == str(sweep.resolve() / JOURNAL_NAME)
    assert sweep.is_dir()  # made for the journal
    assert isinstance(storage_of(url), optuna.storages.JournalStorage)
    assert storage_url("postgresql://u@h/db", sweep) == "postgresql://u@h/db"
    assert storage_of("postgresql://u@h/db") == "postgresql://u@h/db"  # Optuna opens URLs
    with asking_alone(url, "unit"):  # held: another worker's lock waits (not Optuna's own)
        with open(f"{url}.ask.lock") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_a_sweep_folder_with_an_sqlite_study_from_before_goes_on_in_it(tmp_path):
    """A study stored before the journal was the default (`optuna.db` in the sweep
    folder) is resumed from that file, trials and all, not begun again in a journal."""
    sweep = tmp_path / "sweeps" / "unit"
    sweep.mkdir(parents=True)
    old = optuna.create_study(study_name="unit", storage=f"sqlite:///{sweep / DB_NAME}",
                              direction="maximize")
    old.tell(old.ask(), 0.5)
    url = storage_url(None, sweep)
    assert url == f"sqlite:///{sweep.resolve() / DB_NAME}"
    study = open_study(sweeper_config(), sweep)
    assert [t.value for t in study.get_trials()] == [0.5]
    assert not (sweep / JOURNAL_NAME).exists()
    with asking_alone(url, "unit"):  # the lock beside the database, as before
        with open(sweep / f"{DB_NAME}.lock") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_open_study_creates_it_with_the_configs_direction_sampler_and_pruner(
    config, sweep_dir
):
    study = open_study(config(), sweep_dir)
    assert (sweep_dir / JOURNAL_NAME).is_file()
    assert study.study_name == config().study_name  # the config's name
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert isinstance(study.sampler, optuna.samplers.TPESampler)
    assert isinstance(study.pruner, optuna.pruners.MedianPruner)
    assert study.study_name in optuna.get_all_study_names(storage_of(str(sweep_dir / JOURNAL_NAME)))

    minimize = open_study(config(study_name="other", direction="minimize", pruner=None),
                          sweep_dir)
    assert minimize.direction == optuna.study.StudyDirection.MINIMIZE
    assert isinstance(minimize.pruner, optuna.pruners.MedianPruner)  # Optuna's default


def test_opening_again_resumes_the_same_study(config, sweep_dir):
    study = open_study(config(), sweep_dir)
    study.tell(study.ask(), 0.5)
    study.tell(study.ask(), 0.75)
    again = open_study(config(), sweep_dir)  # the same command run again
    assert [t.value for t in again.get_trials()] == [0.5, 0.75]
    loaded = open_study(config(), sweep_dir, create=False)  # as a trial opens it
    assert loaded.best_value == 0.75
    assert isinstance(loaded.pruner, optuna.pruners.MedianPruner)  # rebuilt from the config


def test_loading_a_study_that_was_never_created_fails(config, sweep_dir):
    with pytest.raises(KeyError):
        open_study(config(study_name="never"), sweep_dir, create=False)


def test_trial_by_number_reports_into_the_stored_trial(config, sweep_dir):
    study = open_study(config(), sweep_dir)
    asked = [study.ask() for _ in range(2)]
    worker = open_study(config(), sweep_dir, create=False)  # another process's view
    trial = trial_by_number(worker, 1)
    assert isinstance(trial, optuna.Trial)
    assert trial.number == 1
    trial.report(0.25, step=0)
    trial.report(0.5, step=1)
    frozen = {t.number: t for t in study.get_trials()}
    assert frozen[1].intermediate_values == {0: 0.25, 1: 0.5}
    assert frozen[0].intermediate_values == {}
    assert [t.number for t in asked] == [0, 1]


def test_trial_by_number_of_a_missing_trial_names_it(config, sweep_dir):
    study = open_study(config(study_name="unit"), sweep_dir)
    study.ask()
    with pytest.raises(KeyError, match=r"study 'unit' has no trial number 7"):
        trial_by_number(study, 7)


def test_a_study_keeps_its_objective_and_direction(config, sweep_dir):
    """Re-running a sweep command with another optimized_metric (or direction) must not
    add its values to the stored study's: it is refused with the way out."""
    from fivestep.errors import UserError
    from fivestep.sweep.study import check_study_direction, check_study_objective

    url = storage_url(None, sweep_dir)
    study = open_study(config(), sweep_dir)
    check_study_objective(study, "val/acc_best", url)  # new: records it
    study.tell(study.ask(), 0.5)
    again = open_study(config(), sweep_dir)
    check_study_objective(again, "val/acc_best", url)  # the same: continues
    check_study_direction(again, "maximize", url)
    with pytest.raises(UserError) as err:
        check_study_objective(again, "val/mcc_best", url)
    assert str(err.value) == (
        f"study {study.study_name!r} in {url} optimizes val/acc_best (1 trials), but this "
        "sweep optimizes val/mcc_best; name a new study with hydra.sweeper.study_name=<name>, "
        "or set optimized_metric=val/acc_best to continue it"
    )
    with pytest.raises(UserError, match="was created to maximize its metric, but "
                                        "hydra.sweeper.direction=minimize"):
        check_study_direction(open_study(config(direction="minimize"), sweep_dir), "minimize", url)
