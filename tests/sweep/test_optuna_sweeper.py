"""How the sweeper records each job's end in a real (in-memory) Optuna study."""

import math

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import TrialState

from hydra_plugins.fivestep_optuna.optuna_sweeper import _consecutive, _tell


def job(status, value):
    return JobReturn(status=status, _return_value=value)


@pytest.mark.parametrize(
    ("ret", "state", "value"),
    [
        (job(JobStatus.COMPLETED, 0.75), TrialState.COMPLETE, 0.75),
        (job(JobStatus.COMPLETED, math.nan), TrialState.FAIL, None),
        (job(JobStatus.COMPLETED, None), TrialState.FAIL, None),
        (job(JobStatus.FAILED, ValueError("Invalid learning rate")), TrialState.FAIL, None),
        (job(JobStatus.FAILED, optuna.TrialPruned("epoch 3")), TrialState.PRUNED, 0.5),
    ],
)
def test_a_job_ends_as_complete_failed_or_pruned(ret, state, value):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(0.01, 0.1)})
    trial.report(0.5, step=3)
    _tell(study, trial, ret)
    (frozen,) = study.get_trials()
    assert frozen.state == state
    assert frozen.value == value


def test_trials_are_launched_in_runs_of_consecutive_numbers():
    class T:
        def __init__(self, number):
            self.number = number

    groups = _consecutive([T(3), T(4), T(7), T(8), T(10)])
    assert [[t.number for t in g] for g in groups] == [[3, 4], [7, 8], [10]]


def test_a_ctrl_c_swallowed_during_a_trial_is_still_remembered():
    import os
    import signal

    from hydra_plugins.fivestep_optuna.optuna_sweeper import _ctrl_c_remembered

    before = signal.getsignal(signal.SIGINT)
    with _ctrl_c_remembered() as interrupted:
        try:  # as when the KeyboardInterrupt lands in a weakref callback and is dropped
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs before the next line
            raise AssertionError("SIGINT did not raise KeyboardInterrupt")
        except KeyboardInterrupt:
            pass
        assert interrupted.is_set()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_ctrl_c_while_asking_leaves_no_trial_running():
    """`study.ask` stores a RUNNING trial before it returns: a Ctrl-C landing inside it
    (CI caught one) would leave that trial RUNNING, outside the sweep's `pending`, for
    ever. While the sweep asks, the Ctrl-C is held and raised once every asked trial is
    in hand, so the sweep marks each of them failed, as `_search` does."""
    import os
    import signal

    from hydra_plugins.fivestep_optuna.optuna_sweeper import _ctrl_c_remembered

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    space = {"lr": optuna.distributions.FloatDistribution(0.01, 0.1)}

    def ask_and_be_interrupted():
        trial = study.ask(space)
        os.kill(os.getpid(), signal.SIGINT)  # lands before ask's caller holds the trial
        return trial

    pending = []
    with pytest.raises(KeyboardInterrupt), _ctrl_c_remembered() as interrupted:
        try:
            with interrupted.held():
                pending = [ask_and_be_interrupted() for _ in range(2)]
                assert interrupted.is_set()  # remembered, not raised yet
        except BaseException:
            for trial in pending:
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.FAIL]


def test_a_member_batch_runs_with_the_objects_before_it_frozen_and_thaws_after():
    """The garbage collector skips the objects alive before a member batch while it
    runs (`gc.freeze`), and they are back in its care after it, also when it fails."""
    import gc

    from hydra_plugins.fivestep_optuna.optuna_sweeper import OptunaSweeper

    class Batch:
        def _members_of_batch(self, batch, trials):
            self.frozen = gc.get_freeze_count()
            raise RuntimeError("a member run that fails")

    batch = Batch()
    before = gc.get_freeze_count()  # tests/conftest.py froze what collecting loaded
    try:
        with pytest.raises(RuntimeError, match="a member run that fails"):
            OptunaSweeper._launch_as_members(batch, [], [])
        assert batch.frozen > 100_000  # the libraries' objects, at least
        assert gc.get_freeze_count() == 0  # all of them, those frozen before too
    finally:
        if before:
            gc.freeze()
