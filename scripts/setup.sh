#!/usr/bin/env bash
# One idempotent set-up step: .venv/ with torch, mmcv (built with ops, cached),
# the OpenMMLab hosts, open_clip and icar_mm itself (editable).
#
#   scripts/setup.sh            # or: make setup
#
# Environment knobs:
#   PYTHON=python3.11           interpreter used to create the venv
#   ICAR_MM_CACHE=~/.cache/icar_mm   where the built mmcv wheel is kept
#   MAX_JOBS=2                  parallel compile jobs for mmcv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
CACHE="${ICAR_MM_CACHE:-$HOME/.cache/icar_mm}"
MMCV_VERSION=2.0.1
TORCH_VERSION=2.14.1

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# --- fail early on what cannot work -------------------------------------------
command -v "$PYTHON" >/dev/null || die "'$PYTHON' not found. Install Python 3.9-3.12 or set PYTHON=/path/to/python3.11."
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
case "$PYVER" in
  3.9|3.10|3.11|3.12) ;;
  *) die "Python $PYVER found at $(command -v "$PYTHON"); torch $TORCH_VERSION and mmcv $MMCV_VERSION need Python 3.9-3.12 (3.11 is tested). Set PYTHON=python3.11." ;;
esac
CXX="${CXX:-g++}"
command -v "$CXX" >/dev/null || die "no C++ compiler ('$CXX'); mmcv's ops are compiled from source. Install g++ >= 10 (Debian/Ubuntu: apt install g++) or set CXX."
echo 'int main(){ return __cplusplus >= 202002L ? 0 : 1; }' > /tmp/icar_mm_cxx20.cc
"$CXX" -std=c++20 /tmp/icar_mm_cxx20.cc -o /tmp/icar_mm_cxx20 2>/dev/null && /tmp/icar_mm_cxx20 \
  || die "'$CXX' cannot compile C++20, which torch $TORCH_VERSION headers need. Install g++ >= 10 or clang >= 10 and set CXX."
rm -f /tmp/icar_mm_cxx20 /tmp/icar_mm_cxx20.cc

# --- virtual environment ------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment in .venv/ (Python $PYVER)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# pip, minus the noise of index folders that lack a package
pip_() { "$PY" -m pip "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }
# quiet installs; pip compiles their bytecode (needed: where PYTHONDONTWRITEBYTECODE is set, Python
# would otherwise recompile torch's modules in every process)
pip_install() { pip_ install -q "$@"; }

say "installing build tools and torch $TORCH_VERSION (skipped when present)"
pip_install -r requirements/build.txt

# --- mmcv with compiled ops, built once and cached -----------------------------
# CUDA ops only where both a CUDA toolkit and a GPU are present.
if command -v nvcc >/dev/null && "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  FLAVOUR="cu$("$PY" -c 'import torch; print((torch.version.cuda or "").replace(".", ""))')"
  export FORCE_CUDA=1
else
  FLAVOUR=cpu
  export FORCE_CUDA=0
fi
KEY="mmcv${MMCV_VERSION}-torch${TORCH_VERSION}-py${PYVER}-${FLAVOUR}"
WHEEL_DIR="$CACHE/wheels/$KEY"

if "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
  say "mmcv $MMCV_VERSION with ops already installed"
else
  if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    say "building mmcv $MMCV_VERSION with $FLAVOUR ops from source: this takes ~8 minutes on 2 cores (once; cached in $WHEEL_DIR)"
    BUILD="$(mktemp -d)"
    trap 'rm -rf "$BUILD"' EXIT
    # pip runs mmcv's setup.py already while downloading, hence no build isolation.
    pip_ download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV_VERSION"
    # torch >= 2.10 headers need C++20; mmcv hard-codes c++14/17.
    sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$SRC/setup.py"
    # with g++, the ops share one precompiled header (scripts/pch_cxx.sh): ~3x faster, same code
    if "$CXX" -v 2>&1 | grep -q '^gcc version'; then
      export PCH_REAL_CXX="$CXX" PCH_HEADER="$SRC/mmcv/ops/csrc/common/pytorch_cpp_helper.hpp" PCH_AS_IS=pybind.cpp
      export CXX="$ROOT/scripts/pch_cxx.sh"
    fi
    # meanwhile the rest of the stack installs: pure Python, none of it read by the build (mmcv left out)
    grep -v '^mmcv' requirements/runtime.txt > "$BUILD/runtime-but-mmcv.txt"
    pip_install -r "$BUILD/runtime-but-mmcv.txt" -r requirements/tests.txt > "$BUILD/stack.log" 2>&1 &
    STACK=$!
    STARTED=$SECONDS
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" pip_ wheel -q --no-build-isolation --no-deps "$SRC" -w "$BUILD/dist"
    say "mmcv built in $(((SECONDS - STARTED) / 60)) min $(((SECONDS - STARTED) % 60)) s"
    wait "$STACK" || { cat "$BUILD/stack.log" >&2; die "installing the hosts and tools beside the mmcv build failed (above)"; }
    mkdir -p "$WHEEL_DIR"
    cp "$BUILD"/dist/mmcv-*.whl "$WHEEL_DIR/"
  else
    say "reusing cached mmcv wheel from $WHEEL_DIR"
  fi
  pip_install --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
  # mmcv's own light dependencies (mmengine pinned here so pip sees mmcv's needs met)
  pip_install addict packaging pyyaml yapf opencv-python Pillow "$(grep '^mmengine' requirements/runtime.txt | sed 's/ *#.*//')"
fi

# --- hosts, open_clip, icar_mm --------------------------------------------------
say "installing mmengine, mmdet, mmseg, mmaction2, open_clip and icar_mm (editable)"
pip_install -r requirements/runtime.txt -r requirements/tests.txt
pip_install --no-deps --no-build-isolation -e .
# the hosts' own tools parse configs before anything can import icar_mm: mend mmaction2 1.1.0's
# malformed metafile in place, so its tools read `mmaction::` bases (icar_mm/compat.py)
"$PY" -m icar_mm.repair_hosts | sed 's/^/[setup] /'

"$PY" - <<'EOF'
import mmcv, mmcv.ops, mmdet, mmseg, mmaction, open_clip, torch, icar_mm  # noqa: F401
print(f"[setup] ok: torch {torch.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, "
      f"mmseg {mmseg.__version__}, mmaction {mmaction.__version__}, open_clip {open_clip.__version__}, "
      f"icar_mm {icar_mm.__version__}")
EOF
say "set up in $((SECONDS / 60)) min $((SECONDS % 60)) s"
