#!/usr/bin/env bash
# A g++ front for building mmcv's ops with a precompiled header (scripts/setup.sh sets it as CXX).
#
# Every one of mmcv 2.0.1's 77 CPU op sources includes "pytorch_cpp_helper.hpp", which pulls in
# <torch/types.h>: parsing it is ~80 % of each file's compile time. The first compile that finds no
# precompiled header builds `pytorch_cpp_helper.hpp.gch` beside the header with its own arguments, so the
# flags match by construction, and compiles get `-include pytorch_cpp_helper.hpp`: g++ then reads the
# precompiled header first, and the file's own `#include` of it is a no-op (include guard). 63 files
# include it first anyway; for 13 others it now comes before their first header (<ATen/ATen.h>,
# <iostream>, ...), and their machine code stays the same (checked function by function on the built
# library). The sources in PCH_AS_IS compile as they are: for pybind.cpp, which opens with
# <torch/extension.h>, the changed order changes gcc's inlining in its module init. Compiles that start
# while the header is being built parse it as text instead of waiting.
#
#   PCH_REAL_CXX   the compiler to run (default g++)
#   PCH_HEADER     the header to precompile (absolute path)
#   PCH_AS_IS      source file names compiled without the forced include
set -uo pipefail
REAL="${PCH_REAL_CXX:-g++}"
HEADER="${PCH_HEADER:-}"

is_compile=0
force=1
for arg in "$@"; do
  [ "$arg" = -c ] && is_compile=1
  for name in ${PCH_AS_IS:-}; do [ "$(basename -- "$arg")" = "$name" ] && force=0; done
done

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
if [ -n "$HEADER" ] && [ "$is_compile" = 1 ] && [ "$force" = 1 ]; then
  exec "$REAL" -include "$HEADER" "$@"
fi
exec "$REAL" "$@"
