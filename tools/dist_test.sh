#!/usr/bin/env bash
# Multi-process testing with torchrun:  tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args]
set -euo pipefail
CONFIG=$1; CHECKPOINT=$2; NPROC=$3; shift 3
DIR="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-$( [ -x "$DIR/../.venv/bin/python" ] && echo "$DIR/../.venv/bin/python" || echo python)}"
exec "$PY" -m torch.distributed.run --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29501}" --nproc_per_node="$NPROC" \
  "$DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
