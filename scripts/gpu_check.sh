#!/usr/bin/env bash
# The GPU check: on a CUDA machine, from nothing, in about 8 minutes, one JSON report.
#
#   bash scripts/gpu_check.sh [report.json]     # default logs/gpu_check/report.json
#
# Steps (each one's failure is recorded in the report, and the next steps still run
# where they can): nvidia-smi; a fresh virtual environment with the CUDA build of
# torch (`make setup` picks it when nvidia-smi answers) and torch.cuda.is_available();
# experiment=two_layer and experiment=breast_cancer with trainer=gpu (bf16-mixed);
# breast_cancer with data.on_device=true; scripts/benchmark.py --device cuda --cases
# tabular; a resume from last.ckpt on the GPU; the export of a GPU-trained checkpoint.
# Every step has a time limit so that the whole fits 8 minutes (set-up included).
set -uo pipefail  # no -e: a failed step is recorded, not fatal

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
REPORT=${1:-$ROOT/logs/gpu_check/report.json}
WORK=${GPU_CHECK_DIR:-$ROOT/logs/gpu_check}
VENV=$WORK/venv
PY=$VENV/bin/python
SYSTEM_PYTHON=${PYTHON:-python3}
mkdir -p "$WORK" "$(dirname "$REPORT")"
STEPS=$WORK/steps.tsv
: >"$STEPS"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}

# The whole check stops starting steps after GPU_CHECK_BUDGET_S seconds (default 470),
# and each step's own limit is cut to what is left, so it ends within 8 minutes.
DEADLINE=$(( $(date +%s) + ${GPU_CHECK_BUDGET_S:-470} ))

# step NAME LIMIT_S COMMAND...: run it with a time limit, log to $WORK/NAME.log, and
# append "NAME<TAB>rc<TAB>seconds" to $STEPS.
step() {
  local name=$1 limit=$2 start end rc left
  shift 2
  left=$(( DEADLINE - $(date +%s) ))
  if [ "$left" -lt 5 ]; then
    skip "$name" "out of time: the check's budget is spent"
    return 124
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  echo "gpu_check: $name (limit ${limit}s)"
  start=$(date +%s.%N)
  timeout --kill-after=10 "$limit" "$@" >"$WORK/$name.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')" >>"$STEPS"
  echo "gpu_check: $name -> rc $rc"
  return "$rc"
}

skip() {  # skip NAME REASON
  printf '%s\tskipped\t0\n' "$1" >>"$STEPS"
  echo "$2" >"$WORK/$1.log"
  echo "gpu_check: $1 skipped: $2"
}

QUIET=(callbacks.progress_bar.refresh_rate=0 "paths.log_dir=$WORK/logs")
runs=$WORK/runs
rm -rf "$runs" "$WORK/logs"

step nvidia_smi 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv

# A fresh environment: the Makefile installs torch's CUDA build where nvidia-smi answers.
rm -rf "$VENV"
step setup 240 make setup VENV="$VENV" PYTHON="$SYSTEM_PYTHON"
setup_ok=$?

step cuda_available 30 "$PY" -c '
import json, torch
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
print(json.dumps({
    "torch": torch.__version__, "cuda": torch.version.cuda,
    "device": torch.cuda.get_device_name(0), "bf16": torch.cuda.is_bf16_supported(),
}))'
cuda_ok=$?

if [ "$setup_ok" -ne 0 ] || [ "$cuda_ok" -ne 0 ]; then
  for name in two_layer_gpu breast_cancer_gpu breast_cancer_on_device benchmark_cuda resume_gpu_epoch \
              resume_gpu export_gpu; do
    skip "$name" "no CUDA torch: setup rc $setup_ok, cuda_available rc $cuda_ok"
  done
else
  step two_layer_gpu 45 "$PY" train.py experiment=two_layer trainer=gpu \
    "hydra.run.dir=$runs/two_layer" "${QUIET[@]}"
  two_layer_ok=$?
  step breast_cancer_gpu 45 "$PY" train.py experiment=breast_cancer trainer=gpu \
    "hydra.run.dir=$runs/breast_cancer" "${QUIET[@]}"
  step breast_cancer_on_device 45 "$PY" train.py experiment=breast_cancer trainer=gpu \
    data.on_device=true "hydra.run.dir=$runs/on_device" "${QUIET[@]}"
  step benchmark_cuda 90 "$PY" scripts/benchmark.py --device cuda --cases tabular \
    --repeat 1 --out "$WORK/benchmark.json"
  last=$runs/two_layer/checkpoints/last.ckpt
  if [ "$two_layer_ok" -eq 0 ] && [ -f "$last" ]; then
    # 20 more epochs from the GPU run's last.ckpt, continuing in its folder
    step resume_gpu 45 "$PY" train.py experiment=two_layer trainer=gpu trainer.max_epochs=220 \
      "ckpt_path=$last" "hydra.run.dir=$runs/two_layer_resumed" "${QUIET[@]}"
    step resume_gpu_epoch 20 "$PY" -c "
import sys, torch
epoch = torch.load(sys.argv[1], map_location='cpu', weights_only=True)['epoch']
assert epoch == 219, f'last.ckpt is at epoch {epoch}, not 219'
print('epoch', epoch)" "$last"
    step export_gpu 45 "$PY" export.py "ckpt_path=$last" format=onnx \
      "output=$WORK/two_layer_gpu.onnx" overwrite=true
  else
    skip resume_gpu "the two_layer GPU run left no last.ckpt"
    skip resume_gpu_epoch "the two_layer GPU run left no last.ckpt"
    skip export_gpu "the two_layer GPU run left no last.ckpt"
  fi
fi

# The report: every step's exit code, time and last log lines; the metrics of each run.
"$SYSTEM_PYTHON" - "$STEPS" "$WORK" "$REPORT" <<'EOF'
import json, pathlib, platform, socket, sys, time

steps_file, work, report = map(pathlib.Path, sys.argv[1:])
steps = []
for line in steps_file.read_text().splitlines():
    name, rc, seconds = line.split("\t")
    log = work / f"{name}.log"
    tail = log.read_text(errors="replace").splitlines()[-15:] if log.is_file() else []
    steps.append({
        "step": name,
        "ok": rc == "0",
        "status": "skipped" if rc == "skipped" else ("ok" if rc == "0" else "failed"),
        "exit_code": None if rc == "skipped" else int(rc),
        "timed_out": rc in ("124", "137"),
        "seconds": float(seconds),
        "log": str(log),
        "log_tail": tail,
    })
runs = {}
for metrics in sorted((work / "runs").glob("*/metrics.json")):
    try:
        runs[metrics.parent.name] = json.loads(metrics.read_text())
    except ValueError as err:
        runs[metrics.parent.name] = {"error": str(err)}
benchmark = None
if (work / "benchmark.json").is_file():
    try:
        benchmark = json.loads((work / "benchmark.json").read_text())
    except ValueError as err:
        benchmark = {"error": str(err)}
result = {
    "host": socket.gethostname(),
    "platform": platform.platform(),
    "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "all_ok": all(s["ok"] for s in steps),
    "total_seconds": round(sum(s["seconds"] for s in steps), 1),
    "steps": steps,
    "runs": runs,
    "benchmark": benchmark,
}
report.write_text(json.dumps(result, indent=2))
print(f"gpu_check: report in {report}: all_ok={result['all_ok']}, "
      f"{result['total_seconds']} s in steps")
EOF
