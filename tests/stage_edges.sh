#!/usr/bin/env bash
# The stages' dependencies are declared where they are used: every private header one folder of
# lib/ includes from another ("lower/kernel.h" in lib/codegen) is an edge that lib/CMakeLists.txt
# names among that folder's deps; every public header a stage's files include (include/rnnc/ is
# one folder, but each of its headers belongs to a stage: the table below), and every header a
# stage's public headers include, is its own stage's or one its declared deps reach. No lowering
# or graph pass reaches into code generation. Usage: stage_edges.sh SOURCE_DIR
set -euo pipefail
# The stage of each public header ("-": programs only, no stage of lib/ may include it).
declare -A stage_of=(
  [dtype.h]=core [shape.h]=core [tensor.h]=core [error.h]=core [env_options.h]=core [run_hooks.h]=core
  [c_runtime.h]=exec
  [graph.h]=ir [ops.h]=ir [ops.def]=ir [function.h]=ir [tree.h]=ir [scan.h]=ir [printer.h]=ir
  [autodiff.h]=autodiff [interpreter.h]=interp [gradcheck.h]=check [passes.h]=passes
  [compile.h]=compile [tree_function.h]=compile [export.h]=compile [onnx.h]=onnx
  [nn.h]=nn [cells.h]=nn [char_rnn.h]=charlm [optim.h]=optim [data.h]=data [checkpoint.h]=io [report.h]=report
  [dist.h]=dist [train.h]=train [program.h]=program [cli.h]=program [rnnc.h]=-
)
root="$1"
lib="$root/lib"
status=0
# The text of a stage's rnnc_add_library call (or calls: dist has one per branch), on one line each.
call_of() {
  awk -v s="$1" '{ line = $0; sub(/^[ \t]+/, "", line) }
    !on && line ~ ("^rnnc_add_library\\(" s "([ \t]|$)") { on = 1; depth = 0; text = "" }
    on { text = text " " line; depth += gsub(/\(/, "(") - gsub(/\)/, ")"); if (depth <= 0) { on = 0; print text } }' \
    "$lib/CMakeLists.txt"
}
# The targets a stage names (public and private), one a line; public_deps_of: its PUBLIC_DEPS only.
deps_of() { call_of "$1" | grep -o 'rnnc::[a-z_]*' | sort -u || true; }
public_deps_of() {
  call_of "$1" | sed -n 's/.*PUBLIC_DEPS\(.*\)/\1/p' | sed 's/PRIVATE_DEPS.*//' | grep -o 'rnnc::[a-z_]*' | sort -u || true
}
# The deps each stage declares, and the stages those reach: its own deps, and theirs transitively
# through PUBLIC_DEPS (a private dep's headers are not its users' to include).
declare -A declared public reach
for dir in "$lib"/*/; do
  stage=$(basename "$dir")
  declared[$stage]=$(deps_of "$stage" | sed 's/rnnc:://' | tr '\n' ' ')
  public[$stage]=$(public_deps_of "$stage" | sed 's/rnnc:://' | tr '\n' ' ')
done
for stage in "${!declared[@]}"; do
  todo=" ${declared[$stage]}" seen=" "
  while [[ -n "${todo// /}" ]]; do
    set -- $todo
    next=$1
    shift
    todo=" $* "
    [[ "$seen" == *" $next "* ]] && continue
    seen+="$next "
    todo+="${public[$next]:-}"
  done
  reach[$stage]=$seen
done
for dir in "$lib"/*/; do
  stage=$(basename "$dir")
  deps=$(deps_of "$stage")
  for used in $(grep -ho '#include "[a-z_]*/' "$dir"* | sed 's/#include "//; s#/##' | sort -u); do
    [[ "$used" == rnnc || "$used" == "$stage" ]] && continue
    [[ -d "$lib/$used" ]] || continue
    if ! grep -qx "rnnc::$used" <<<"$deps"; then
      echo "lib/$stage includes from lib/$used, but rnnc_$stage does not declare rnnc::$used"
      status=1
    fi
  done
  # Public headers: those lib/<stage> includes, and those of <stage> itself include.
  own=""
  for h in "${!stage_of[@]}"; do [[ "${stage_of[$h]}" == "$stage" ]] && own+=" $root/include/rnnc/$h"; done
  for inc in $(grep -o '#include "rnnc/[a-z_.]*"' "$dir"* $own /dev/null | sed 's/"$//; s/#include "rnnc\//:/'); do
    file=${inc%%::*}; h=${inc##*:}
    used=${stage_of[$h]:-unknown}
    [[ "$used" == "$stage" ]] && continue
    if [[ "$used" == unknown || "$used" == - ]]; then
      echo "$file includes rnnc/$h, which has no stage in tests/stage_edges.sh's table (or is for programs only)"
      status=1
    elif [[ "${reach[$stage]}" != *" $used "* ]]; then
      echo "$file (stage $stage) includes rnnc/$h of stage $used, which rnnc_$stage's deps do not reach"
      status=1
    fi
  done
done
# Every public header has a stage.
for f in "$root"/include/rnnc/*; do
  [[ -n "${stage_of[$(basename "$f")]:-}" ]] || { echo "include/rnnc/$(basename "$f") has no stage in tests/stage_edges.sh"; status=1; }
done
if grep -rn 'codegen/' "$lib/passes" "$lib/lower"; then
  echo "lib/passes and lib/lower must not include code generation's headers"
  status=1
fi
# The run time stands alone, for an exported model to link without the compiler: it declares
# rnnc::core and nothing else, and of the public headers it includes only core's and its own.
exec_deps=$(deps_of exec | tr '\n' ' ')
if [[ "$exec_deps" != "rnnc::core " ]]; then
  echo "rnnc_exec depends on $exec_deps; the run time may depend on rnnc::core only"
  status=1
fi
allowed="dtype.h env_options.h error.h run_hooks.h shape.h tensor.h c_runtime.h"
for h in $(grep -ho '#include "rnnc/[a-z_.]*"' "$lib/exec/"* | sed 's/#include "rnnc\///; s/"//' | sort -u); do
  if [[ " $allowed " != *" $h "* ]]; then
    echo "lib/exec includes rnnc/$h, which is neither core's nor the run time's own ($allowed)"
    status=1
  fi
done
[[ $status == 0 ]] && echo "every edge between the stages is declared"
exit $status
