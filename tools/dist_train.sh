#!/usr/bin/env bash
# Multi-process training with torchrun:  tools/dist_train.sh CONFIG NPROC [train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT on every node.
set -euo pipefail
CONFIG=$1; NPROC=$2; shift 2
DIR="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-$( [ -x "$DIR/../.venv/bin/python" ] && echo "$DIR/../.venv/bin/python" || echo python)}"
exec "$PY" -m torch.distributed.run --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" --nproc_per_node="$NPROC" \
  "$DIR/train.py" "$CONFIG" --launcher pytorch "$@"
