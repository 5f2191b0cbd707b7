"""Config-only commands answer without importing torch (they are what users type first)."""

import subprocess
import sys

import pytest

from ..conftest import ROOT

PROBE = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('torch imported:', 'torch' in sys.modules))\n"
    "sys.argv = ['train.py', *sys.argv[1:]]\n"
    "runpy.run_path('train.py', run_name='__main__')\n"
)


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("args", [["--help"], ["experiment=two_layer", "--cfg", "job"]])
def test_config_only_commands_do_not_import_torch(args):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "torch imported: False" in proc.stdout
    expected = "Powered by Hydra" if args == ["--help"] else "max_epochs: 200"
    assert expected in proc.stdout
    if args == ["--help"]:  # opens with what the project is and the commands to start with
        assert proc.stdout.startswith("fivestep: the PyTorch fundamentals")
        for command in ("python train.py experiment=two_layer", "python eval.py ckpt_path=",
                        "python predict.py", "python export.py", "python train.py -m"):
            assert command in proc.stdout.split("== Config groups ==")[0]
