#!/usr/bin/env bash
# Serve the runs under logs/ (or $LOGDIR) with TensorBoard on this machine only.
#   make tensorboard                      -> http://127.0.0.1:6006/
#   PORT=6007 LOGDIR=/scratch/logs bash scripts/tensorboard.sh
# Reach it from another machine through an SSH tunnel: ssh -L 6006:127.0.0.1:6006 host
set -euo pipefail
cd "$(dirname "$0")/.."
LOGDIR="${LOGDIR:-logs}"
PORT="${PORT:-6006}"
HOST="${HOST:-127.0.0.1}"
TB=".venv/bin/tensorboard"
[ -x "$TB" ] || TB="tensorboard"
mkdir -p "$LOGDIR"
echo "TensorBoard: serving $LOGDIR at http://$HOST:$PORT/  (Ctrl+C to stop)"
exec "$TB" --logdir "$LOGDIR" --host "$HOST" --port "$PORT" --reload_interval 5
