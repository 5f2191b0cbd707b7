"""scripts/setup_torch.py: when `make setup` (re)installs torch, and what it says otherwise."""

import importlib.util
import json
import subprocess
import sys

import pytest

from ..conftest import ROOT

SCRIPT = ROOT / "scripts" / "setup_torch.py"
spec = importlib.util.spec_from_file_location("setup_torch", SCRIPT)
setup_torch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(setup_torch)

CPU = {"version": "2.13.0", "index": "", "device": "cpu"}


@pytest.mark.parametrize(
    ("have", "record", "wanted", "installs"),
    [
        (None, None, CPU, "torch is not installed"),
        ("2.12.0+cpu", CPU, CPU, "TORCH_VERSION=2.13.0 asked for"),  # make setup TORCH_VERSION=
        ("2.13.0+cpu", None, {**CPU, "device": "cuda"}, "is a CPU build, and a GPU answers"),
        ("2.13.0+cpu", CPU, {**CPU, "index": "https://example.invalid/cu126"}, "now asked for"),
        ("2.13.0+cpu", CPU, CPU, None),
        ("2.13.0+cpu", None, CPU, None),  # a venv from before the record: checked, not replaced
        ("2.13.0", None, {**CPU, "device": "cuda"}, None),
    ],
)
def test_torch_is_reinstalled_only_when_the_request_differs(have, record, wanted, installs):
    reason = setup_torch.reason_to_install(have, record, wanted)
    assert (reason is None) == (installs is None)
    if installs:
        assert installs in reason


def fake_venv(tmp_path, record=None):
    """A venv-shaped folder whose bin/python is this interpreter (torch 2.13.0 installed)."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "bin").mkdir()
    python = tmp_path / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    if record is not None:
        (tmp_path / ".torch").write_text(json.dumps(record))
    return python


def run_setup(python, *args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(python), "--version", "2.13.0", "--device", "cpu",
         *args], capture_output=True, text=True, timeout=120,
    )


def test_an_installed_torch_as_asked_is_kept_and_said_so(tmp_path):
    import torch

    if torch.__version__.split("+")[0] != "2.13.0":
        pytest.fail(f"this test expects the Makefile's torch 2.13.0, not {torch.__version__}")
    proc = run_setup(fake_venv(tmp_path, CPU))
    assert proc.returncode == 0, proc.stderr
    assert "setup: device cpu (TORCH_DEVICE=cpu)" in proc.stdout
    assert "already installed as asked (TORCH_VERSION=2.13.0); kept" in proc.stdout
    assert "pip" not in proc.stdout  # nothing installed


@pytest.mark.slow  # a whole setup process
def test_cuda_asked_without_a_usable_gpu_stops_with_the_cause_and_the_fix(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.fail("this test expects no usable GPU (the default suite is CPU-only)")
    gpu = {"driver": "470.57", "cuda": "11.4", "name": "Tesla K80"}
    with pytest.raises(SystemExit) as stop:
        setup_torch.check(str(fake_venv(tmp_path)), "cuda", gpu, "2.13.0")
    assert stop.value.code == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot use the GPU" in errors[0] and "driver 470.57" in errors[0]
    assert "fix:" in err and "TORCH_INDEX=" in err and "make setup TORCH_DEVICE=cpu" in err
