"""Install the PyTorch build `make setup` asks for into a venv, and check it serves the device.

Run by the Makefile with the interpreter that made the venv (stdlib only):

    python scripts/setup_torch.py VENV_PYTHON --version 2.13.0 [--index URL] [--device auto]
        [--constraints constraints.txt]

What it decides, and says on one `setup:` line each:

- the device: `cuda` where `nvidia-smi` answers (`--device auto`), else `cpu`; `--device cpu`
  or `--device cuda` force one;
- whether to install: when torch is missing, when its version differs from `--version`, or
  when the build last installed here (recorded in `<venv>/.torch`) was asked for with another
  index or device; otherwise it keeps the installed one;
- where from: `--index` when given (`pip --index-url`); otherwise the user's own pip
  configuration (PIP_INDEX_URL, pip.conf) untouched. For the CPU on Linux it asks for the
  `+cpu` build first (a local wheel, or an index that has it); when that fails, pip's own
  message is shown and it says so before adding PyTorch's CPU index (`--extra-index-url`:
  the user's index stays);
- the check afterwards: `import torch`, and for `cuda` `torch.cuda.is_available()`. When
  that fails it stops (exit 1) with the cause and the fix.
"""

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYTORCH_INDEX = "https://download.pytorch.org/whl/"  # + cu126, cu128, ... per CUDA release


def say(message: str) -> None:
    print(f"setup: {message}", flush=True)


def fail(message: str, fix: str) -> None:
    print(f"error: {message}\n  fix: {fix}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def nvidia_smi() -> dict[str, str] | None:
    """The driver version, the newest CUDA it runs and the GPU's name; None if no GPU answers."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        head = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=60)
        query = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version,name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    cuda = re.search(r"CUDA Version:\s*([0-9.]+)", head.stdout)
    driver, _, name = (query.stdout.strip().splitlines() or [""])[0].partition(",")
    return {"driver": driver.strip() or "?", "cuda": cuda.group(1) if cuda else "?",
            "name": name.strip() or "a GPU"}


def installed(python: str) -> str | None:
    """The installed torch's version (e.g. `2.13.0+cpu`), read from its metadata (fast)."""
    code = "import importlib.metadata as m; print(m.version('torch'))"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def pip(python: str, *args: str) -> bool:
    """Run `pip install ARGS` with its output shown; True when it succeeded."""
    command = [python, "-m", "pip", "install", *args]
    print("+ " + " ".join(command), flush=True)
    return subprocess.run(command).returncode == 0


def install(python: str, version: str, device: str, index: str | None, extra: list[str]) -> None:
    spec = f"torch=={version}"
    if index:
        say(f"installing {spec} from TORCH_INDEX={index} (instead of your configured index)")
        if not pip(python, spec, "--index-url", index, *extra):
            fail(f"pip could not install {spec} from {index} (its message is above)",
                 "check TORCH_VERSION and TORCH_INDEX, e.g. "
                 f"make setup TORCH_VERSION=2.13.0 TORCH_INDEX={PYTORCH_INDEX}cu126")
        return
    if device == "cuda" or platform.system() != "Linux":
        # PyPI's Linux torch is a CUDA build; on macOS and Windows it is the CPU/MPS build
        say(f"installing {spec} from your configured package index")
        if not pip(python, spec, *extra):
            fail(f"pip could not install {spec} (its message is above)",
                 "pick a release your index has: make setup TORCH_VERSION=<version>, "
                 "or name an index: TORCH_INDEX=<url>")
        return
    say(f"installing {spec}+cpu (the CPU build) from your configured package index")
    if pip(python, f"{spec}+cpu", *extra):
        return
    say(f"{spec}+cpu is not on your configured index (pip's message above); trying "
        f"PyTorch's CPU index {PYTORCH_CPU_INDEX} beside it (your index stays; "
        "TORCH_INDEX=<url> picks another)")
    if not pip(python, f"{spec}+cpu", "--extra-index-url", PYTORCH_CPU_INDEX, *extra):
        fail(f"pip could not install {spec}+cpu, from your index nor from {PYTORCH_CPU_INDEX} "
             "(its messages are above)",
             "pick another release or index: make setup TORCH_VERSION=<version> "
             "TORCH_INDEX=<url>")


def check(python: str, device: str, gpu: dict[str, str] | None, version: str) -> str:
    """Import torch; for `cuda`, require a usable GPU. Returns what torch reports."""
    code = (
        "import json, torch; print(json.dumps({'version': torch.__version__, "
        "'cuda': torch.version.cuda, 'available': torch.cuda.is_available()}))"
    )
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        fail("torch is installed but does not import (the error is above)",
             f"reinstall it: rm -rf {Path(python).parent.parent} && make setup")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    if device == "cuda" and not info["available"]:
        built = f"a CUDA {info['cuda']} build" if info["cuda"] else "a CPU-only build"
        if gpu is None:
            fail(f"TORCH_DEVICE=cuda, but no GPU answers nvidia-smi (torch {info['version']} "
                 f"is {built})",
                 "install the NVIDIA driver so that nvidia-smi answers, or set up for the "
                 "CPU: make setup TORCH_DEVICE=cpu")
        where = (f"nvidia-smi sees {gpu['name']} with driver {gpu['driver']} (CUDA up to "
                 f"{gpu['cuda']})")
        cause = ("the driver is older than that build needs" if info["cuda"]
                 else "this build has no CUDA")
        fail(f"torch {info['version']} is {built} and cannot use the GPU: {where}; {cause}",
             f"install a build for this driver, e.g. make setup TORCH_VERSION={version} "
             f"TORCH_INDEX={PYTORCH_INDEX}cu126 (pytorch.org lists the builds per CUDA "
             "release), or update the NVIDIA driver; or set up for the CPU: "
             "make setup TORCH_DEVICE=cpu")
    return f"torch {info['version']}" + (f", CUDA {info['cuda']}" if info["cuda"] else "")


def reason_to_install(have: str | None, record: dict | None, wanted: dict) -> str | None:
    """Why torch must be (re)installed, or None to keep the installed `have`.

    `record`: what the last set-up of this venv asked for (None: not known);
    `wanted`: `{"version", "index", "device"}` asked for now.
    """
    if have is None:
        return "torch is not installed"
    if have.split("+")[0] != wanted["version"]:
        return f"torch {have} is installed, TORCH_VERSION={wanted['version']} asked for"
    if wanted["device"] == "cuda" and have.endswith("+cpu"):
        return f"torch {have} is a CPU build, and a GPU answers nvidia-smi"
    if record is not None and record != wanted:
        return f"torch {have} was installed for {record}, now asked for {wanted}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("python", help="the venv's python")
    parser.add_argument("--version", required=True)
    parser.add_argument("--index", default="")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--constraints", default="")
    args = parser.parse_args()

    gpu = nvidia_smi()
    device = args.device if args.device != "auto" else ("cuda" if gpu else "cpu")
    why = {"cuda": "TORCH_DEVICE=cuda", "cpu": "TORCH_DEVICE=cpu"}[device] if (
        args.device != "auto") else (
        f"nvidia-smi: {gpu['name']}, driver {gpu['driver']}" if gpu else "no nvidia-smi answers")
    say(f"device {device} ({why})")

    # the venv's folder (not resolve(): bin/python is a link out of the venv)
    record_file = Path(args.python).absolute().parent.parent / ".torch"
    wanted = {"version": args.version, "index": args.index, "device": device}
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        record = None
    have = installed(args.python)
    reason = reason_to_install(have, record, wanted)
    if reason is None and record == wanted:
        say(f"torch {have} already installed as asked (TORCH_VERSION={args.version}); kept")
        return
    if reason:
        say(f"{reason}: installing")
        if have and have.split("+")[0] == args.version:  # another build: pip would keep it
            print(f"+ {args.python} -m pip uninstall -y torch", flush=True)
            subprocess.run([args.python, "-m", "pip", "uninstall", "-y", "torch"], check=True)
        # the lock fixes torch's own dependencies too, except from a named index (which
        # may not carry the locked releases)
        extra = ["-c", args.constraints] if args.constraints and not args.index else []
        install(args.python, args.version, device, args.index or None, extra)
    else:
        say(f"torch {have} already installed (TORCH_VERSION={args.version}); checking it")
    say(check(args.python, device, gpu, args.version) + f" serves {device}")
    record_file.write_text(json.dumps(wanted) + "\n")


if __name__ == "__main__":
    main()
