"""The Dockerfile of docs/serving.md: its settings checked on every run (no Docker needed),
and built where a Docker engine answers."""

import json
import re
import shutil
import subprocess

import pytest

from fivestep.config.checks import check_entry

from ..conftest import ROOT, compose_config

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> dict[str, list[str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.setdefault(word.upper(), []).append(rest.strip())
    return found


def test_the_dockerfile_serves_on_its_exposed_port_with_a_valid_config(tmp_path):
    steps = _instructions()
    entry = json.loads(steps["ENTRYPOINT"][0])
    assert entry[:2] == [".venv/bin/python", "serve.py"]
    overrides = entry[2:]
    assert "host=0.0.0.0" in overrides  # reachable from outside the container: token required
    port = next(o.split("=")[1] for o in overrides if o.startswith("port="))
    assert steps["EXPOSE"] == [port]
    assert f"127.0.0.1:{port}/health" in steps["HEALTHCHECK"][0]
    # the entry point's settings are settings of serve.py, with values it accepts
    cfg = compose_config([*overrides, "ckpt_path=model.ckpt"], tmp_path, "serve")
    check_entry(cfg)
    assert (cfg.host, cfg.port) == ("0.0.0.0", int(port))
    # it installs the serve extra (and onnxruntime) at the pinned versions, as make setup does
    setup = next(r for r in steps["RUN"] if "make setup" in r)
    extras = re.search(r"EXTRAS=(\S+)", setup).group(1).split(",")
    assert {"serve", "export"} <= set(extras)
    assert "TORCH_DEVICE=cpu" in setup
    # python as pyproject's requires-python, every file it copies exists, never as root
    assert re.match(r"python:3\.11\b", steps["FROM"][0])
    for copy in steps["COPY"]:
        for source in copy.split()[:-1]:
            assert (ROOT / source).exists(), source
    assert steps["USER"] == ["serve"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "logs", ".git"} <= set(ignored)


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _docker_answers(), reason="`docker info` fails: no Docker engine here")
def test_the_dockerfile_builds():
    run = subprocess.run(["docker", "build", "-q", "-t", "fivestep-serve-test", "."],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    version = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", ".venv/bin/python", "fivestep-serve-test",
         "-c", "import fastapi, uvicorn, onnxruntime, fivestep.serve; print('ok')"],
        capture_output=True, text=True, timeout=300)
    assert version.stdout.strip() == "ok", version.stderr[-2000:]
