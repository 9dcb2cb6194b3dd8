#!/usr/bin/env bash
# A g++ front for building mmcv's ops with a precompiled header (scripts/setup.sh sets it as CXX).
#
# Every one of mmcv 2.0.1's 77 CPU op sources includes "pytorch_cpp_helper.hpp", which pulls in
# <torch/types.h>: parsing it is ~80 % of each file's compile time. The first compile that finds no
# precompiled header builds `pytorch_cpp_helper.hpp.gch` beside the header with its own arguments, so the
# flags match by construction, and every compile gets `-include pytorch_cpp_helper.hpp`: g++ then reads
# the precompiled header first, and the file's own `#include` of it is a no-op (include guard). 63 files
# include it first anyway; for the other 14 it now comes before their first header (<ATen/ATen.h>,
# <iostream>, ...), which only declares earlier what they declare anyway. Compiles that start while the
# header is being built parse it as text instead of waiting.
#
#   PCH_REAL_CXX   the compiler to run (default g++)
#   PCH_HEADER     the header to precompile (absolute path)
set -uo pipefail
REAL="${PCH_REAL_CXX:-g++}"
HEADER="${PCH_HEADER:-}"

is_compile=0
for arg in "$@"; do [ "$arg" = -c ] && is_compile=1; done

if [ -n "$HEADER" ] && [ "$is_compile" = 1 ] && [ ! -e "$HEADER.gch" ]; then
  (
    flock -n 9 || exit 0  # another compile is building it
    [ -e "$HEADER.gch" ] && exit 0
    # the same arguments, less the source, the object and the dependency file
    args=()
    skip=0
    for arg in "$@"; do
      if [ "$skip" = 1 ]; then skip=0; continue; fi
      case "$arg" in
        -o | -MF) skip=1 ;;
        -c | -MMD | *.cpp | *.cc | *.cxx) ;;
        *) args+=("$arg") ;;
      esac
    done
    "$REAL" "${args[@]}" -x c++-header "$HEADER" -o "$HEADER.gch.part" && mv "$HEADER.gch.part" "$HEADER.gch"
  ) 9>"$HEADER.lock"
fi
if [ -n "$HEADER" ] && [ "$is_compile" = 1 ]; then
  exec "$REAL" -include "$HEADER" "$@"
fi
exec "$REAL" "$@"
