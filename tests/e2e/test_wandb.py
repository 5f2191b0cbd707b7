"""`logger=wandb`: a run logs to Weights & Biases offline, into the run folder, and the
offline run file holds the config, one history row per logged step and the test metrics
(read back here record by record, as `wandb sync` would upload them)."""

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..cli import run_cli


def wandb_records(path: Path) -> Iterator:
    """The protobuf records of an offline run's `run-<id>.wandb`: a LevelDB-style log of
    32 KiB blocks, each record split into chunks with a 7-byte header (CRC, length,
    kind: 1 whole, 2 first, 3 middle, 4 last), after a 7-byte file header."""
    from wandb.proto import wandb_internal_pb2  # the tracking extra: imported by its test only

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        room = block - pos % block
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if room < 7 or (kind == 0 and length == 0):  # the rest of a block: padding
            pos += room
            continue
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


@pytest.mark.slow  # W&B starts a service process of its own: seconds
def test_wandb_logs_offline_into_the_run_folder(tmp_path):
    proc = run_cli("train.py", "experiment=two_layer", "logger=wandb", "trainer.max_epochs=4",
                   f"paths.log_dir={tmp_path}", "hydra.run.dir=" + str(tmp_path / "run"),
                   timeout=900)  # W&B start-up on a busy machine
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, "one offline W&B run, inside the run folder"
    records = list(wandb_records(files[0]))
    kinds = [r.WhichOneof("record_type") for r in records]
    (run,) = [r.run for r in records if r.HasField("run")]
    assert run.project == "fivestep" and list(run.tags) == ["two_layer", "seed"]
    config = {i.key: json.loads(i.value_json) for r in records if r.HasField("config")
              for i in r.config.update}
    assert config["seed"] == 0 and config["trainer/max_epochs"] == 4
    history = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
               for r in records if r.HasField("history")]
    assert [h["epoch"] for h in history if "val/loss" in h] == [0, 1, 2, 3]
    assert "exit" in kinds  # the run was closed, not cut off
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    (test,) = [h for h in history if "test/acc" in h]
    for key in ("test/acc", "test/loss"):
        assert test[key] == pytest.approx(written[key], abs=1e-6)
