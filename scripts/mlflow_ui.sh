#!/usr/bin/env bash
# Serve the MLflow UI for the local store under logs/ on this machine only.
#   make mlflow                           -> http://127.0.0.1:5000/
#   PORT=5001 LOGDIR=/scratch/logs bash scripts/mlflow_ui.sh
# The store is what `logger=mlflow` writes by default: $LOGDIR/mlflow/mlflow.db (SQLite)
# and $LOGDIR/mlflow/artifacts/. From another machine: ssh -L 5000:127.0.0.1:5000 host
set -euo pipefail
cd "$(dirname "$0")/.."
LOGDIR="${LOGDIR:-logs}"
PORT="${PORT:-5000}"
HOST="${HOST:-127.0.0.1}"
MLFLOW=".venv/bin/mlflow"
[ -x "$MLFLOW" ] || MLFLOW="mlflow"
mkdir -p "$LOGDIR/mlflow/artifacts"
# no background job runner (MLflow's GenAI jobs): the server is one process tree that stops on Ctrl+C
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
echo "MLflow: serving $LOGDIR/mlflow at http://$HOST:$PORT/  (Ctrl+C to stop)"
exec "$MLFLOW" server --backend-store-uri "sqlite:///$LOGDIR/mlflow/mlflow.db" \
  --default-artifact-root "$LOGDIR/mlflow/artifacts" --host "$HOST" --port "$PORT" --workers 1
