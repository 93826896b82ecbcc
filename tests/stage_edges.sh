#!/usr/bin/env bash
# The stages' dependencies are declared where they are used: every private header one folder of
# lib/ includes from another ("lower/kernel.h" in lib/codegen) is an edge that lib/CMakeLists.txt
# names (rnnc::lower among rnnc_codegen's deps), and no lowering or graph pass reaches into code
# generation. Usage: stage_edges.sh SOURCE_DIR
set -euo pipefail
lib="$1/lib"
status=0
for dir in "$lib"/*/; do
  stage=$(basename "$dir")
  # The deps of rnnc_add_library(<stage> ...): the call runs until the next blank line or call.
  deps=$(awk -v s="rnnc_add_library($stage" 'index($0, s) == 1 {on = 1} on && /^$/ {on = 0} on' "$lib/CMakeLists.txt" |
         grep -o 'rnnc::[a-z_]*' | sort -u || true)
  for used in $(grep -ho '#include "[a-z_]*/' "$dir"* | sed 's/#include "//; s#/##' | sort -u); do
    [[ "$used" == rnnc || "$used" == "$stage" ]] && continue
    [[ -d "$lib/$used" ]] || continue
    if ! grep -qx "rnnc::$used" <<<"$deps"; then
      echo "lib/$stage includes from lib/$used, but rnnc_$stage does not declare rnnc::$used"
      status=1
    fi
  done
done
if grep -rn 'codegen/' "$lib/passes" "$lib/lower"; then
  echo "lib/passes and lib/lower must not include code generation's headers"
  status=1
fi
# The run time stands alone, for an exported model to link without the compiler: it declares
# rnnc::core and nothing else, and of the public headers it includes only core's.
exec_deps=$(awk 'index($0, "rnnc_add_library(exec") == 1 {on = 1} on && /^$/ {on = 0} on' "$lib/CMakeLists.txt" |
            grep -o 'rnnc::[a-z_]*' | sort -u | tr '\n' ' ')
if [[ "$exec_deps" != "rnnc::core " ]]; then
  echo "rnnc_exec depends on $exec_deps; the run time may depend on rnnc::core only"
  status=1
fi
core_headers="dtype.h env_options.h error.h run_hooks.h shape.h tensor.h"
for h in $(grep -ho '#include "rnnc/[a-z_.]*"' "$lib/exec/"* | sed 's/#include "rnnc\///; s/"//' | sort -u); do
  if [[ " $core_headers " != *" $h "* ]]; then
    echo "lib/exec includes rnnc/$h, which is not one of core's public headers ($core_headers)"
    status=1
  fi
done
[[ $status == 0 ]] && echo "every edge between the stages is declared"
exit $status
