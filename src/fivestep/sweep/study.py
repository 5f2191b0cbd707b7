"""The Optuna study of a sweep, opened the same way by the sweeper and by its trials.

The sweeper process creates the study (or loads it: re-running the same command
resumes); a trial, which may run in another process (joblib, submitit) or on another
machine, reloads it from the same storage to report its per-epoch values.
"""

import fcntl
import logging
import random
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig
from sqlalchemy.exc import SQLAlchemyError

from fivestep.errors import UserError

DB_NAME = "optuna.db"  # a study begun before the journal became the default
JOURNAL_NAME = "optuna.journal"

log = logging.getLogger(__name__)


def storage_url(storage: str | None, sweep_dir: str | Path) -> str:
    """`storage`, or by default the journal file `optuna.journal` in the sweep folder
    (the folder made if missing); a sweep folder that holds an `optuna.db` (a study
    stored before the journal was the default) goes on in it."""
    if storage:
        return storage
    folder = Path(sweep_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / DB_NAME).is_file():
        return f"sqlite:///{folder / DB_NAME}"
    return str(folder / JOURNAL_NAME)


def is_journal(url: str) -> bool:
    """A storage named by a file path, not a URL: Optuna's journal file."""
    return "://" not in url


def storage_of(url: str) -> str | optuna.storages.BaseStorage:
    """What Optuna takes for `url`: the URL of a database, or the journal file's storage."""
    if not is_journal(url):
        return url
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    Path(url).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(url))


def open_study(sweeper: DictConfig, sweep_dir: str | Path, create: bool = True) -> optuna.Study:
    """The study named by the sweeper config (`hydra.sweeper`), created if `create`.

    Several workers may start at once on a new storage; creating it is retried.
    The pruner is rebuilt from the config because `trial.should_prune()` asks the
    pruner of the study object it belongs to, in whichever process reports.
    """
    common: dict[str, Any] = {
        "study_name": sweeper.study_name,
        "storage": storage_of(storage_url(sweeper.storage, sweep_dir)),
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


OBJECTIVE = "optimized_metric"  # the study's user attribute naming what its values are


def check_study_objective(study: optuna.Study, metric: str, url: str) -> None:
    """Record `metric` as the objective of a new study; refuse to continue a stored
    study that optimizes another metric (its trials' values would be mixed with ours).
    A study stored before objectives were recorded takes `metric`, with a warning."""
    stored = study.user_attrs.get(OBJECTIVE)
    if stored == metric:
        return
    trials = len(study.get_trials(deepcopy=False))
    if stored is None:
        if trials:
            log.warning("Study %r records no optimized_metric; its %d trials are taken to be "
                        "values of %s", study.study_name, trials, metric)
        study.set_user_attr(OBJECTIVE, metric)
        return
    raise UserError(
        f"study {study.study_name!r} in {url.split('@')[-1]} optimizes {stored} ({trials} "
        f"trials), but this sweep optimizes {metric}; name a new study with "
        f"hydra.sweeper.study_name=<name>, or set optimized_metric={stored} to continue it"
    )


def check_study_direction(study: optuna.Study, direction: str, url: str) -> None:
    """Refuse to continue a stored study whose direction is not `direction` (Optuna loads
    an existing study with its own direction and ignores the one asked)."""
    stored = study.direction.name.lower()
    if stored != str(direction).lower():
        raise UserError(
            f"study {study.study_name!r} in {url.split('@')[-1]} was created to {stored} its "
            f"metric, but hydra.sweeper.direction={direction}; name a new study with "
            f"hydra.sweeper.study_name=<name> (or set hydra.sweeper.direction={stored})"
        )


def trial_by_number(study: optuna.Study, number: int) -> optuna.Trial:
    """A live handle on trial `number` of `study` (e.g. reloaded in a worker process)."""
    for frozen in study.get_trials(deepcopy=False):
        if frozen.number == number:
            return optuna.Trial(study, frozen._trial_id)  # Optuna has no public lookup by number
    raise KeyError(f"study {study.study_name!r} has no trial number {number}")


@contextmanager
def asking_alone(url: str, study_name: str) -> Iterator[None]:
    """Hold a lock shared by every worker of study `study_name` in storage `url`.

    The sweeper counts the study's trials and asks new ones inside it, so two workers
    cannot both see "one trial left" and both ask one. Optuna has no such lock, so it
    is taken in the storage itself: a PostgreSQL advisory lock (keyed by the study
    name) on a connection of its own, or an exclusive `flock` on `<db>.lock` beside an
    SQLite file. Other storages are not locked (a warning says the study may then end
    up to `workers - 1` trials past `n_trials`).
    """
    key = zlib.crc32(f"fivestep-optuna:{study_name}".encode()) & 0x7FFFFFFF
    if url.startswith("postgresql"):
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        finally:
            engine.dispose()
    elif url.startswith("sqlite:///") or is_journal(url):
        # beside a journal: not `<journal>.lock`, the name of Optuna's own lock
        sqlite = url.startswith("sqlite:///")
        path = url.removeprefix("sqlite:///") + (".lock" if sqlite else ".ask.lock")
        with open(path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    else:
        log.warning("No lock for storage %s: workers may overshoot n_trials", url.split("@")[-1])
        yield

