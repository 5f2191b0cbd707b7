"""The bad-input matrix, in process: every case goes through `fivestep.errors.run`, as the
shims call it, and must end with exit status 2, exactly one `error:` line on stderr
naming the thing (no traceback), no run output, and the user's files untouched.

Cases cover config values (types, ranges, choices, unknown keys, modes that would do
nothing), data files, checkpoints and predict inputs. The real command line is
checked on a few of them in tests/e2e/test_bad_input_matrix.py.
"""

import hashlib
import re
from pathlib import Path

import pytest

from fivestep.errors import check_command_line, run

from ..conftest import CONFIGS, compose_config

GOOD = "a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20))


def _table(tmp: Path, name: str, content: str | bytes | None) -> Path:
    path = tmp / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    return path


# name: (overrides on experiment=two_layer, expected message)
CONFIG = {
    "features-not-a-list": (
        ["data=tabular", "data.path={good}", "data.target=y", "data.features=abc"],
        r"^data\.features='abc' is not a list of strings or null \(an argument of "
        r"fivestep\.data\.tabular\.TabularDataModule\)"),
    "hidden-not-integers": (
        ["model/net=mlp", "model.net.hidden=[a,b]"],
        r"^model\.net\.hidden=\['a', 'b'\] is not a list of integers > 0: item 0 is 'a'"),
    "batch-size-zero": (["data.batch_size=0"],
                        r"^data\.batch_size=0 is not an integer > 0 or 'auto' or null"),
    "lr-negative": (["model.optimizer.lr=-1"],
                    r"^model\.optimizer\.lr=-1 is not a finite number > 0 .*torch\.optim\.SGD"),
    "lr-nan": (["model.optimizer.lr=nan"], r"^model\.optimizer\.lr=nan is not a finite number"),
    "val-fraction-above-one": (["data.val_fraction=1.5"],
                               r"^data\.val_fraction=1\.5 is not a number >= 0 and < 1"),
    "literal-choice": (
        ["data=tabular", "data.path={good}", "data.target=y", "data.missing=drop"],
        r"^data\.missing='drop' is not one of 'impute', 'reject'"),
    "epochs-not-a-number": (["trainer.max_epochs=abc"],
                            r"^trainer\.max_epochs='abc' is not -1 or an integer > 0 or null"),
    "epochs-zero": (["trainer.max_epochs=0"], r"^trainer\.max_epochs=0 is not"),
    "width-zero": (["model.net.hidden1=0"], r"^model\.net\.hidden1=0 is not an integer > 0"),
    "dropout-one": (["model/net=mlp", "model.net.dropout=1.0"],
                    r"^model\.net\.dropout=1\.0 is not a number >= 0 and < 1"),
    "scheduler-gamma-zero": (["model/scheduler=step", "model.scheduler.gamma=0"],
                             r"^model\.scheduler\.gamma=0 is not a finite number > 0"),
    "adam-betas-out-of-range": (
        ["model/optimizer=adam", "+model.optimizer.betas=[0.9,1.5]"],
        r"^model\.optimizer\.betas=\[0\.9, 1\.5\] is not a list of 2 numbers >= 0 and < 1"),
    "write-interval-negative": (
        ["callbacks=fast", "callbacks.model_checkpoint.write_interval_s=-1"],
        r"^callbacks\.model_checkpoint\.write_interval_s=-1 is not a finite number >= 0"),
    "seed-not-an-integer": (["seed=abc"], r"^seed='abc' is not an integer or null"),
    "unknown-argument": (["+model.net.hiden1=3"],
                         r"^model\.net\.hiden1 is not an argument of "
                         r"fivestep\.models\.nets\.TwoLayerNet \(its arguments: hidden1, "),
    "predict-key-given-to-train": (["+input=rows.csv"],
                                   r"^input is not a setting of train\.py \(it is read by "
                                   r"predict\.py\); remove it"),
    "nothing-to-run": (["train=false", "test=false"], r"^train=false test=false: nothing"),
    "missing-checkpoint-train-false": (["train=false", "ckpt_path={tmp}/gone.ckpt"],
                                       r"^ckpt_path='.*gone\.ckpt': no such file"),
    "missing-checkpoint-resume": (["ckpt_path={tmp}/gone.ckpt"],
                                  r"^ckpt_path='.*gone\.ckpt': no such file"),
    "sizes-that-do-not-fit": (["data.n_informative=9"],
                              r"^data: make_classification refuses .*n_informative=9"),
    "constructor-refuses": (["trainer.accelerator=tpu"],
                            r"^trainer: .* \(raised building lightning\.pytorch\.trainer"),
}

# name: (file name, content, extra overrides, expected message); data=tabular, target y
DATA = {
    "empty-file": ("t.csv", "", [], r"is empty"),
    "header-only": ("t.csv", "a,b,y\n", [], r"t\.csv"),
    "wrong-delimiter": ("t.csv", GOOD.replace(",", ";"), [],
                        r"data\.target='y' is not a column"),
    "a-directory": ("folder", None, [], r"folder"),
    "unsupported-format": ("t.xlsx", GOOD, [], r"t\.xlsx"),
    "binary-junk": ("t.parquet", b"\x00\x01\x02garbage\xff", [], r"cannot be read as parquet"),
    "text-in-a-numeric-column": ("t.csv", GOOD.replace("\n3,0,1", "\nthree,0,1"), [],
                                 r"column 'a'.*'three'"),
    "all-missing-column": ("t.csv", "a,b,y\n" + "".join(f"{i},,{i % 2}\n" for i in range(20)),
                           [], r"column 'b'.*(missing|empty)"),
    "infinite-column": ("t.csv", GOOD.replace("\n3,0,1", "\ninf,0,1"), [], r"column 'a'.*inf"),
}


def _digest(root: Path) -> dict[str, str]:
    """Every file under `root` and a hash of its bytes: what "untouched" compares."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def refused(task_name: str, overrides: list[str], tmp: Path, capsys) -> str:
    """Run `task_name` through `fivestep.errors.run` and check how it refused; return the
    one error line (without `error: `)."""
    from fivestep.evaluate import evaluate
    from fivestep.export import export
    from fivestep.predict import predict
    from fivestep.train import train

    task = {"train": train, "eval": evaluate, "predict": predict, "export": export}[task_name]
    out = tmp / "run"
    before = _digest(tmp)
    cfg = compose_config(overrides, out, config_name=task_name)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        run(task, cfg)
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in err and "HYDRA_FULL_ERROR" not in err
    assert not out.exists() or not any(out.iterdir()), sorted(out.rglob("*"))  # no run left
    assert _digest(tmp) == before  # nothing of the user's written or changed
    return errors[0].removeprefix("error: ")


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("case", CONFIG)
def test_config_value(case, tmp_path, capsys):
    overrides, pattern = CONFIG[case]
    good = _table(tmp_path, "good.csv", GOOD)
    overrides = [o.format(tmp=tmp_path, good=good) for o in overrides]
    line = refused("train", ["experiment=two_layer", *overrides], tmp_path, capsys)
    assert re.search(pattern, line), line


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("case", DATA)
def test_data_file(case, tmp_path, capsys):
    name, content, extra, pattern = DATA[case]
    path = _table(tmp_path, name, content)
    if content is None:
        path.mkdir()
    line = refused("train", ["data=tabular", f"data.path={path}", "data.target=y", *extra],
                   tmp_path, capsys)
    assert re.search(pattern, line), line


def _rows(tmp: Path, name: str, content: str | bytes | None) -> Path:
    path = _table(tmp, name, content)
    if content is None:
        path.mkdir()
    return path


ROWS = "a,b,color\n0.1,0.2,red\n-1.0,0.5,blue\n"

# name: (entry, overrides ({ckpt}: a trained table's last.ckpt, {tmp}: the test's folder),
#        files to lay out first {name: content}, expected message)
AFTER_TRAINING = {
    "eval-missing-checkpoint": ("eval", ["ckpt_path={tmp}/gone.ckpt"], {},
                                r"^ckpt_path='.*gone\.ckpt': no such file"),
    "eval-junk-checkpoint": ("eval", ["ckpt_path={tmp}/junk.ckpt"],
                             {"junk.ckpt": b"\x00not a checkpoint\xff" * 10},
                             r"^checkpoint '.*junk\.ckpt' cannot be read"),
    "eval-text-file-checkpoint": ("eval", ["ckpt_path={tmp}/notes.ckpt"],
                                  {"notes.ckpt": "hello\n"}, r"^checkpoint '.*notes\.ckpt'"),
    "eval-no-checkpoint": ("eval", [], {}, r"^ckpt_path is required"),
    "eval-predict-key": ("eval", ["ckpt_path={ckpt}", "+overwrite=true"], {},
                         r"^overwrite is not a setting of eval\.py \(it is read by predict\.py, "
                         r"export\.py\)"),
    "export-unknown-format": ("export", ["ckpt_path={ckpt}", "format=tflite"], {},
                              r"^format='tflite' is not one of 'onnx', 'pt2', 'torchscript'"),
    "predict-chunk-size-zero": ("predict", ["ckpt_path={ckpt}", "input={tmp}/rows.csv",
                                            "chunk_size=0"], {"rows.csv": ROWS},
                                r"^chunk_size=0 is not an integer > 0"),
    "predict-missing-input": ("predict", ["ckpt_path={ckpt}", "input={tmp}/gone.csv"], {},
                              r"^input='.*gone\.csv': no such file"),
    "predict-input-directory": ("predict", ["ckpt_path={ckpt}", "input={tmp}/folder"],
                                {"folder": None}, r"^input='.*folder' is a directory"),
    "predict-unsupported-format": ("predict", ["ckpt_path={ckpt}", "input={tmp}/rows.xlsx"],
                                   {"rows.xlsx": ROWS}, r"unknown file type '\.xlsx'"),
    "predict-empty-input": ("predict", ["ckpt_path={ckpt}", "input={tmp}/rows.csv"],
                            {"rows.csv": ""}, r"is empty"),
    "predict-binary-junk": ("predict", ["ckpt_path={ckpt}", "input={tmp}/rows.parquet"],
                            {"rows.parquet": b"\x00\x01junk\xff"}, r"cannot be read as parquet"),
    "predict-missing-columns": ("predict", ["ckpt_path={ckpt}", "input={tmp}/rows.csv"],
                                {"rows.csv": "a,color\n1,red\n"},
                                r"lacks feature columns the model was trained on: b"),
    "predict-output-exists": ("predict", ["ckpt_path={ckpt}", "input={tmp}/rows.csv",
                                          "output={tmp}/out.csv"],
                              {"rows.csv": ROWS, "out.csv": "mine, keep me\n"},
                              r"^output='.*out\.csv' exists; .*overwrite=true"),
    "predict-output-not-csv": ("predict", ["ckpt_path={ckpt}", "input={tmp}/rows.csv",
                                           "output={tmp}/out.txt"], {"rows.csv": ROWS},
                               r"^output='.*out\.txt': predictions are written as CSV"),
    "predict-text-in-numeric-column": (
        "predict", ["ckpt_path={ckpt}", "input={tmp}/rows.csv"],
        {"rows.csv": "a,b,color\nzero,0.2,red\n"}, r"column 'a'"),
    "predict-all-missing-column": (
        "predict", ["ckpt_path={ckpt}", "input={tmp}/rows.csv"],
        {"rows.csv": "a,b,color\n,0.2,red\n,0.1,blue\n"}, r"column 'a'.*(missing|empty)"),
    "predict-infinite-value": ("predict", ["ckpt_path={ckpt}", "input={tmp}/rows.csv"],
                               {"rows.csv": "a,b,color\ninf,0.2,red\n"}, r"column 'a'.*inf"),
}


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("case", AFTER_TRAINING)
def test_checkpoint_and_predict_input(case, table_run, tmp_path, capsys):
    entry, overrides, files, pattern = AFTER_TRAINING[case]
    for name, content in files.items():
        _rows(tmp_path, name, content)
    ckpt = table_run / "checkpoints" / "last.ckpt"
    overrides = [o.format(tmp=tmp_path, ckpt=ckpt) for o in overrides]
    line = refused(entry, overrides, tmp_path, capsys)
    assert re.search(pattern, line), line


@pytest.mark.parametrize(
    ("entry", "argv", "said"),
    [
        ("train", ["experiment=two_layer", "input=rows.csv"],
         "input is not a setting of train.py (it is read by predict.py)"),
        ("train", ["max_epochs=3"], "max_epochs is not a setting of train.py"),
        ("predict", ["ckpt_path=x.ckpt", "format=onnx"],
         "format is not a setting of predict.py (it is read by export.py)"),
    ],
)
def test_a_key_the_command_does_not_read_stops_before_hydra(entry, argv, said, capsys):
    with pytest.raises(SystemExit) as stop:
        check_command_line(entry, CONFIGS, argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: {said}; remove it or correct its name"]


@pytest.mark.parametrize("argv", [
    ["experiment=two_layer", "model/optimizer=adam", "trainer.max_epochs=3", "hydra.verbose=true",
     "+input=x", "--cfg", "job", "-m", "paths.log_dir=logs", "callbacks=none", "seed=1"],
])
def test_known_keys_and_prefixed_ones_pass_to_hydra(argv):
    check_command_line("train", CONFIGS, argv)  # nothing raised


def _composition_error(overrides: list[str], tmp: Path) -> Exception:
    with pytest.raises(Exception) as raised:
        compose_config(overrides, tmp / "run")
    return raised.value


@pytest.mark.parametrize(("overrides", "said"), [
    (["experiment=two_layer", "trainer.max_epoch=3"],
     "Could not override 'trainer.max_epoch': Key 'max_epoch' is not in struct; "
     "To append to your config use +trainer.max_epoch=3"),
    (["experiment=two_layer", "callbacks=none", "callbacks.progress_bar.refresh_rate=0"],
     "Could not override 'callbacks.progress_bar.refresh_rate': Key 'progress_bar' is not "
     "in struct; To append to your config use +callbacks.progress_bar.refresh_rate=0"),
    (["model/optimizer=adamm"],
     "In 'model/system': Could not find 'model/optimizer/adamm'; Available options in "
     "'model/optimizer': adadelta, adagrad, adam, adamw, lbfgs, rmsprop, sgd, sparse_adam"),
    (["trainer.max_epochs=[1,"],
     "cannot parse the override 'trainer.max_epochs=[1,': no viable alternative at input "
     "'[1,'; See https://hydra.cc/docs/1.2/advanced/override_grammar/basic for details"),
])
def test_what_hydra_cannot_compose_is_said_in_one_line(overrides, said, tmp_path):
    from fivestep.errors import _composition_line

    line = _composition_line(_composition_error(overrides, tmp_path))
    assert line == said


def test_composition_errors_stop_with_one_line_and_status_2(tmp_path, capsys, monkeypatch):
    import os

    from fivestep.errors import composition_errors_as_one_line

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    err = _composition_error(["trainer.max_epoch=3"], tmp_path)
    seen = []
    with pytest.raises(SystemExit) as stop, composition_errors_as_one_line():
        seen.append(os.environ.get("HYDRA_FULL_ERROR"))  # Hydra raises, not reports
        raise err
    assert stop.value.code == 2 and seen == ["1"]
    assert capsys.readouterr().err.splitlines() == [
        "error: Could not override 'trainer.max_epoch': Key 'max_epoch' is not in struct; "
        "To append to your config use +trainer.max_epoch=3"]
    assert "HYDRA_FULL_ERROR" not in os.environ  # taken back off
    # a task's own errors, once it has started (`run`), are not turned into this line
    with pytest.raises(ValueError, match="a bug"), composition_errors_as_one_line():
        raise ValueError("a bug")
    # a user who asked for Hydra's full traces gets them
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(type(err)), composition_errors_as_one_line():
        raise err
    assert os.environ["HYDRA_FULL_ERROR"] == "1"
