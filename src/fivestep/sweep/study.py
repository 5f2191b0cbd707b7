"""The Optuna study of a sweep, opened the same way by the sweeper and by its trials.

The sweeper process creates the study (or loads it: re-running the same command
resumes); a trial, which may run in another process (joblib, submitit) or on another
machine, reloads it from the same storage to report its per-epoch values.
"""

import random
import time
from pathlib import Path
from typing import Any

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig
from sqlalchemy.exc import SQLAlchemyError

DB_NAME = "optuna.db"


def storage_url(storage: str | None, sweep_dir: str | Path) -> str:
    """`storage`, or by default an SQLite file in the sweep folder (made if missing)."""
    if storage:
        return storage
    path = Path(sweep_dir).resolve() / DB_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def open_study(sweeper: DictConfig, sweep_dir: str | Path, create: bool = True) -> optuna.Study:
    """The study named by the sweeper config (`hydra.sweeper`), created if `create`.

    Several workers may start at once on a new storage; creating it is retried.
    The pruner is rebuilt from the config because `trial.should_prune()` asks the
    pruner of the study object it belongs to, in whichever process reports.
    """
    common: dict[str, Any] = {
        "study_name": sweeper.study_name,
        "storage": storage_url(sweeper.storage, sweep_dir),
        "pruner": instantiate(sweeper.pruner) if sweeper.get("pruner") else None,
    }
    if not create:
        return optuna.load_study(**common)
    for attempt in range(5):
        try:
            return optuna.create_study(
                **common,
                sampler=instantiate(sweeper.sampler) if sweeper.get("sampler") else None,
                direction=sweeper.direction,
                load_if_exists=True,
            )
        except SQLAlchemyError:  # workers started together race to create the tables
            if attempt == 4:
                raise
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


def trial_by_number(study: optuna.Study, number: int) -> optuna.Trial:
    """A live handle on trial `number` of `study` (e.g. reloaded in a worker process)."""
    for frozen in study.get_trials(deepcopy=False):
        if frozen.number == number:
            return optuna.Trial(study, frozen._trial_id)  # Optuna has no public lookup by number
    raise KeyError(f"study {study.study_name!r} has no trial number {number}")
