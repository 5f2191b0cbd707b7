"""`OptunaSweeper`: a Hydra sweeper on Optuna's ask-and-tell API.

`python train.py -m hparams_search=two_layer_optuna` asks the study for a batch of
trials, launches them as Hydra jobs (with any launcher: basic, joblib, submitit),
and tells the study how each ended:

- COMPLETE with the job's return value (the `optimized_metric`);
- PRUNED when the job raised `optuna.TrialPruned` (see `fivestep.sweep.pruning`);
- FAIL when the job raised anything else or returned None/NaN. The sweep goes on,
  and stops with an error only once failures exceed `max_failure_rate * n_trials`.

The study lives in `storage` (default: the journal file `optuna.journal` in the sweep
folder), so
re-running the same command continues it: finished trials are kept, not re-run,
and `n_trials` counts the trials of the whole study. Several sweepers (processes,
machines) may share one study through the same storage. Each trial's job folder is
named by its trial number. At the end `best.yaml` in the sweep folder holds the best
value, parameters, run folder and checkpoint.

Hydra imports this module whenever it starts, so Optuna and fivestep.sweep are
imported only when a sweep actually runs.
"""

import contextlib
import gc
import io
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)


class OptunaSweeper(Sweeper):
    """Search `params` with Optuna; see the module docstring and configs/hydra/sweeper/optuna.yaml.

    Args:
        study_name: the study's name in the storage; the same name resumes it.
        storage: an SQLAlchemy URL (`sqlite:///path.db`, `postgresql://...`) or the
            path of an Optuna journal file; `None` = `<sweep dir>/optuna.journal` (or
            the `optuna.db` a sweep folder holds from before).
        direction: "maximize" or "minimize" the task's return value.
        n_trials: trials the study should hold when the sweep ends (finished or
            running, from every run and every worker of this study).
        n_jobs: trials asked and launched at once (match the launcher's parallelism).
        max_failure_rate: the sweep fails once failed trials exceed this share of
            `n_trials`; 0 = the first failure stops it.
        sampler, pruner: configs of an Optuna sampler and pruner (`_target_`).
        params: the search space, `{key: "interval(0.001, 0.1)", ...}` (see
            `fivestep.sweep.space`); command-line overrides are added to it.
        members: train each batch of `n_jobs` trials as the members of one run in this
            process (`fivestep.sweep.members`) instead of launching one job per trial;
            each trial still gets its own folder, `metrics.json` and best checkpoint.
        report_epochs: `auto`, true or false: whether trials report `optimized_metric`
            to the study after every epoch (read by each job from the config:
            `fivestep.sweep.pruning.reports_epochs`); auto = when the pruner can prune.
    """

    def __init__(
        self,
        study_name: str,
        storage: str | None = None,
        direction: str = "maximize",
        n_trials: int = 20,
        n_jobs: int = 1,
        max_failure_rate: float = 0.0,
        sampler: DictConfig | None = None,
        pruner: DictConfig | None = None,
        params: DictConfig | None = None,
        members: bool = False,
        report_epochs: bool | str = "auto",
    ) -> None:
        # study_name, storage, direction, sampler and pruner are read from the config by
        # `open_study`, exactly as each trial's job reads them to report its epochs.
        self.n_trials, self.n_jobs = n_trials, max(1, n_jobs)
        self.max_failure_rate = max_failure_rate
        self.params = dict(params or {})
        self.members = members
        self.launcher: Any = None
        self.config: DictConfig | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:

        from fivestep.sweep.space import search_space
        from fivestep.sweep.study import (
            check_study_direction,
            check_study_objective,
            open_study,
            storage_url,
        )

        assert self.config is not None
        sweeper = self.config.hydra.sweeper
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        if not self.config.get("optimized_metric"):
            _refuse("optimized_metric is not set; set e.g. optimized_metric=val/acc_best")
        with _as_error_line():  # a typo in optimized_metric stops before the first trial
            from fivestep.models.metrics import check_objective, names_from_config

            check_objective(self.config.optimized_metric, names_from_config(self.config.model),
                            "this sweep's runs")

        lines = [f"{key}={value}" for key, value in self.params.items()] + list(arguments)
        space, fixed = search_space(lines)
        study = open_study(sweeper, sweep_dir)
        url = storage_url(sweeper.storage, sweep_dir)
        with _as_error_line():  # another objective than the stored study's: not mixed in
            check_study_direction(study, sweeper.direction, url)
            check_study_objective(study, self.config.optimized_metric, url)
        log.info(
            "Study %r (%s): %s %s over %s", study.study_name, url, sweeper.direction,
            self.config.optimized_metric, ", ".join(space) or "nothing",
        )
        with _ctrl_c_remembered() as interrupted:
            self._search(study, url, space, fixed, sweep_dir, interrupted)
            _wait_for_other_workers(study, interrupted)
        _write_best(study, sweep_dir, self.config.optimized_metric)

    def _search(
        self, study: Any, url: str, space: dict[str, Any], fixed: list[str], sweep_dir: Path,
        interrupted: "CtrlC",
    ) -> None:
        """Ask, launch and tell batches of trials until the study holds `n_trials`."""
        from optuna.trial import TrialState

        from fivestep.sweep.space import as_override
        from fivestep.sweep.study import asking_alone

        allowed_failures = math.floor(self.max_failure_rate * self.n_trials)
        counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
        pending: list[Any] = []  # asked, not yet told
        try:
            while True:
                if interrupted.is_set():  # a Ctrl-C that Python swallowed during a trial
                    raise KeyboardInterrupt
                # Count and ask under a lock that every worker of this study takes: counting
                # alone leaves a window in which two workers both see one trial left and
                # both ask one (the study overshoots n_trials by up to workers - 1).
                # A Ctrl-C while asking is held until `pending` holds every trial asked
                # (`study.ask` stores a RUNNING trial before it returns it), so the except
                # below marks each of them failed: none is left RUNNING in the study.
                with interrupted.held(), asking_alone(url, study.study_name):
                    left = self.n_trials - len(study.get_trials(deepcopy=False, states=counted))
                    pending = [study.ask(space) for _ in range(min(self.n_jobs, max(left, 0)))]
                if not pending:
                    break
                for group in _consecutive(pending):
                    batch = [fixed + [as_override(*kv) for kv in t.params.items()] for t in group]
                    # job number = trial number: folder <sweep>/<trial>; the job finds its trial
                    if self.members:  # composes every trial's config itself, checking it
                        returns = self._launch_as_members(batch, group)
                    else:
                        if len(batch) > 1:  # a batch of one is composed by the launcher next
                            self.validate_batch_is_legal(batch)
                        returns = self.launcher.launch(batch, initial_job_idx=group[0].number)
                    for trial, ret in zip(group, returns, strict=True):
                        _tell(study, trial, ret)
                failed = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
                if failed > allowed_failures:
                    _refuse(
                        f"{failed} of {self.n_trials} trials failed, more than max_failure_rate="
                        f"{self.max_failure_rate} allows; see the failed jobs' logs in {sweep_dir}"
                    )
        except BaseException:  # Ctrl-C, a launcher crash, too many failures: none left RUNNING
            for trial in pending:
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise


    def _launch_as_members(self, batch: list[list[str]], trials: list[Any]) -> list[JobReturn]:
        """The batch's trials trained as members of one run; see `_members_of_batch`.

        The objects alive before the batch (the imported libraries, the sweep's config:
        about half a million) are frozen out of the garbage collector's full passes for
        its duration: the batch's configs and `System`s allocate enough to set off
        several, each walking every object. A 66-member batch spent ~9 ms a trial there.
        (No `gc.collect()` first: a full pass per batch would cost small batches more
        than it saves; garbage frozen with the rest is collected after the batch. After it,
        every object is in the collector's care again, those `fivestep.startup` froze
        when the libraries loaded too.)"""
        gc.freeze()
        try:
            return self._members_of_batch(batch, trials)
        finally:
            gc.unfreeze()

    def _members_of_batch(self, batch: list[list[str]], trials: list[Any]) -> list[JobReturn]:
        """The batch's trials trained as members of one run (`fivestep.sweep.members`).

        Each trial's job folder and `.hydra/` files are made as Hydra's `run_job` makes
        them (`fivestep.sweep.job_folder.member_job`), with a task that only takes the
        job's config (its paths resolved in the job's Hydra context); then all train
        together, and each job's return is its own result.
        """
        import optuna

        from fivestep.errors import UserError
        from fivestep.monitoring.finite_guard import NonFiniteTraining
        from fivestep.sweep.configs import trial_configs
        from fivestep.sweep.job_folder import member_job
        from fivestep.sweep.members import shared_runs, train_trials
        from fivestep.sweep.pruning import reports_epochs

        assert self.config is not None
        taken: list[DictConfig] = []

        def take(cfg: DictConfig) -> None:
            # the job hands the task its own copy of the job's config (the job's return
            # keeps it); resolved here, in the job's Hydra context:
            # ${hydra:runtime.output_dir} is this job's folder
            OmegaConf.resolve(cfg)
            taken.append(cfg)

        jobs = []
        # one config at a time, often one object with each trial's values in turn: the
        # job folder copies what the job keeps before the next trial's values are set
        configs = trial_configs(self.hydra_context.config_loader, self.config, batch)
        for number, config in zip((t.number for t in trials), configs, strict=True):
            with read_write(config.hydra), open_dict(config):
                config.hydra.job.id = f"{config.hydra.job.name}_{number}"
                config.hydra.job.num = number
            jobs.append(member_job(self.hydra_context, config, take))
        results: list[dict[str, Any]] = [{}] * len(taken)
        reports = reports_epochs(self.config.hydra.sweeper)
        for run in shared_runs(taken):
            log.info("Trials %s train as members of one run", [trials[k].number for k in run])
            try:
                done = train_trials([taken[k] for k in run],
                                    [trials[k] for k in run] if reports else None, copy=False)
            except UserError as error:  # members that cannot share a run: these trials fail
                done = [{"status": "error", "why": str(error)} for _ in run]
                log.error("%s", error)
            for k, result in zip(run, done, strict=True):
                results[k] = result
        metric = self.config.optimized_metric
        for job, result in zip(jobs, results, strict=True):
            if result["status"] == "complete":
                job.status, job.return_value = JobStatus.COMPLETED, result["metrics"].get(metric)
            elif result["status"] == "pruned":
                job.status, job.return_value = JobStatus.FAILED, optuna.TrialPruned(result["why"])
            else:
                kind = NonFiniteTraining if result["status"] == "failed" else UserError
                job.status, job.return_value = JobStatus.FAILED, kind(result["why"])
        return jobs


def _wait_for_other_workers(
    study: Any, interrupted: threading.Event, timeout_s: float = 3600, every_s: float = 1.0
) -> None:
    """Wait while other workers of the study still run trials (at most `timeout_s`).

    A worker stops asking once the study holds `n_trials`, usually while another
    worker's last trial still runs. Waiting for it means every worker writes the same,
    final `best.yaml` and summary table; a worker that died leaving a trial RUNNING
    only delays this one by `timeout_s`.
    """
    from optuna.trial import TrialState

    deadline = time.monotonic() + timeout_s
    announced = False
    while (running := study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))):
        if interrupted.is_set() or time.monotonic() > deadline:
            log.warning("Not waiting any longer for trials %s", [t.number for t in running])
            return
        if not announced:
            log.info("Waiting for trials %s of other workers", [t.number for t in running])
            announced = True
        time.sleep(every_s)


class CtrlC(threading.Event):
    """Set by a Ctrl-C (SIGINT) during a sweep. Inside `held()`, a Ctrl-C is only
    remembered, and raised as `KeyboardInterrupt` when the block ends."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = False

    @contextmanager
    def held(self) -> Iterator[None]:
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.is_set():
            raise KeyboardInterrupt


@contextmanager
def _ctrl_c_remembered() -> Iterator[CtrlC]:
    """Remember a Ctrl-C (SIGINT) for the sweep loop to act on between trials.

    Python drops an exception raised inside a weakref callback or `__del__`
    ("Exception ignored in ..."), so a Ctrl-C that lands there during a trial would be
    lost and the sweep would run on. The handler still raises `KeyboardInterrupt` at
    once as usual, and also sets the event that the loop checks before each batch.
    """
    interrupted = CtrlC()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted  # signal handlers can only be set from the main thread
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted.set()
        if not interrupted.holding:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def _consecutive(trials: list[Any]) -> list[list[Any]]:
    """Split trials into runs of consecutive numbers (other workers may take numbers between)."""
    groups: list[list[Any]] = []
    for trial in trials:
        if groups and trial.number == groups[-1][-1].number + 1:
            groups[-1].append(trial)
        else:
            groups.append([trial])
    return groups


def _refuse(message: str) -> None:
    """Stop the sweep with one `error:` line and status 2 (Hydra would print a traceback
    for an exception leaving the sweeper)."""
    import sys

    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


@contextmanager
def _as_error_line() -> Iterator[None]:
    """A `UserError` raised inside becomes `_refuse`'s one line."""
    from fivestep.errors import UserError

    try:
        yield
    except UserError as err:
        _refuse(str(err))


def _tell(study: Any, trial: Any, ret: JobReturn) -> None:
    """Record how one job ended: COMPLETE with its value, PRUNED, or FAIL."""
    import optuna
    from optuna.trial import TrialState

    if ret.hydra_cfg is not None:
        trial.set_user_attr("run_dir", str(ret.hydra_cfg.hydra.runtime.output_dir))
    if ret.status == JobStatus.FAILED:
        error = _job_error(ret)
        if isinstance(error, optuna.TrialPruned):
            log.info("Trial %d pruned: %s", trial.number, error)
            study.tell(trial, state=TrialState.PRUNED)
            return
        log.error("Trial %d failed: %s: %s", trial.number, type(error).__name__, error)
        study.tell(trial, state=TrialState.FAIL)
        return
    value = ret.return_value if ret.status == JobStatus.COMPLETED else None
    if not isinstance(value, int | float) or not math.isfinite(value):
        log.error("Trial %d returned %r, not a finite number: marked failed", trial.number, value)
        study.tell(trial, state=TrialState.FAIL)
        return
    log.info("Trial %d: %s with %s", trial.number, value, trial.params)
    study.tell(trial, float(value))


def _job_error(ret: JobReturn) -> BaseException:
    """The exception a failed job raised: Hydra's `JobReturn.return_value` re-raises it
    (and prints "Error executing job ..." to stderr, silenced here: a pruned trial is
    no error, and a failed one is logged by `_tell`)."""
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            _ = ret.return_value
        except Exception as raised:
            return raised
    return RuntimeError(f"job {ret.overrides} failed without an exception")


def _write_best(study: Any, sweep_dir: Path, metric: str) -> None:
    """`best.yaml` in the sweep folder: value, parameters, run folder, checkpoint."""
    from optuna.trial import TrialState

    states = [t.state for t in study.get_trials(deepcopy=False)]
    counts = {s.name.lower(): states.count(s) for s in TrialState if states.count(s)}
    log.info("Study %r: %s", study.study_name, counts)
    if TrialState.COMPLETE not in states:
        log.warning("No trial completed: no best.yaml written.")
        return
    best = study.best_trial
    run_dir = best.user_attrs.get("run_dir")
    checkpoint = None
    if run_dir and (Path(run_dir) / "metrics.json").is_file():
        checkpoint = json.loads((Path(run_dir) / "metrics.json").read_text()).get("best_checkpoint")
    summary = {
        "study_name": study.study_name,
        "metric": metric,
        "direction": study.direction.name.lower(),
        "best_value": best.value,
        "best_trial": best.number,
        "best_params": best.params,
        "run_dir": run_dir,
        "checkpoint": checkpoint,
        "trials": counts,
    }
    OmegaConf.save(OmegaConf.create(summary), sweep_dir / "best.yaml")
    log.info("Best trial %d: %s=%s with %s", best.number, metric, best.value, best.params)
    log.info("Best checkpoint: %s (written to %s)", checkpoint, sweep_dir / "best.yaml")
