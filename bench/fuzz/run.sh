#!/usr/bin/env bash
# Manual fuzzing with libFuzzer (never in CI; CI replays the corpora, see
# README.md "Fuzzing"). Builds the fuzz targets with clang and
# -fsanitize=fuzzer,address,undefined into build-fuzz/ and runs them.
#
#   bench/fuzz/run.sh [SECONDS] [TARGET...]  fuzz each TARGET (default: all)
#                                            for SECONDS (default 300)
#   bench/fuzz/run.sh merge [TARGET...]      minimise fuzz/<t>/corpus plus
#                                            what runs found into fuzz/<t>/corpus
#
# A run starts from fuzz/<t>/corpus and writes new inputs to
# build-fuzz/corpus/<t>/ (the repository's corpus changes only by merge), and
# findings (crash-*, leak-*, timeout-*, oom-*) to build-fuzz/artifacts/<t>/
# (kept across runs; each run counts its own).
# It prints per target: execs, exec/s, cov and ft (libFuzzer's final
# figures) and the findings. FUZZ_JOBS=2 runs two targets at once (default 1).
# Exits non-zero when anything was found.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/common.sh

ALL_TARGETS=(smart_event stripe http_util intacct_response envelope sandbox_gateway sandbox_control)
BUILD=build-fuzz
ROOT=$(pwd)

seconds=300
mode=run
if (($#)) && [[ $1 == merge ]]; then
  mode=merge
  shift
elif (($#)) && [[ $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [[ -f fuzz/$t/target.cpp ]] || { echo "unknown target: $t (known: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

# The build's packages, and this script's own tools (neither README command
# installs them).
isync_install "${ISYNC_PACKAGES[@]}" clang libclang-rt-14-dev

# UBSan reports halt (no recovery), so any report is a finding. The ignore
# list hides one RapidJSON 1.1.0 report that clang's UBSan makes on every
# parse (Tencent/rapidjson#1724; see the list). Not -Werror: clang warns
# where GCC does not, and this build finds bugs, it does not gate them.
SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
IGNORELIST="-fsanitize-ignorelist=$ROOT/fuzz/ubsan-ignorelist.txt"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

probe() {
  # The list must hide RapidJSON's stack.h report and nothing else:
  # fuzz/ignorelist_probe.cpp explains the two expected reports.
  mkdir -p "$BUILD"
  local out
  clang++ -std=c++20 -O1 -g $SANITIZE fuzz/ignorelist_probe.cpp -o "$BUILD/probe-without-list"
  clang++ -std=c++20 -O1 -g $SANITIZE "$IGNORELIST" fuzz/ignorelist_probe.cpp \
    -o "$BUILD/probe-with-list"
  out=$("$BUILD/probe-without-list" 2>&1 || true)
  if ! grep -q 'rapidjson/internal/stack.h.*null pointer' <<<"$out"; then
    echo "ignore list probe: without the list UBSan should report stack.h first; got:" >&2
    echo "$out" >&2
    exit 1
  fi
  out=$("$BUILD/probe-with-list" 2>&1 || true)
  if ! grep -q 'passing zero to clz' <<<"$out"; then
    echo "ignore list probe: with the list UBSan must still report clz(0); got:" >&2
    echo "$out" >&2
    exit 1
  fi
  isync_log "ignore list probe: hides stack.h (Tencent/rapidjson#1724), still reports clz(0)"
}

build() {
  local names=()
  for t in "${targets[@]}"; do names+=("fuzz_$t"); done
  isync_log "configuring $BUILD (clang, libFuzzer, ASan+UBSan)"
  # RelWithDebInfo flags replaced: -O1 as libFuzzer suggests, asserts kept on.
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DISYNC_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DCMAKE_CXX_FLAGS="$SANITIZE $IGNORELIST -fsanitize=fuzzer-no-link -Wno-ambiguous-reversed-operator" \
    >/dev/null
  isync_log "building ${names[*]}"
  cmake --build "$BUILD" -j 2 --target "${names[@]}"
}

# fuzz_one <target>: one run; prints its line of figures.
fuzz_one() {
  local t=$1 corpus="$BUILD/corpus/$1" artifacts="$BUILD/artifacts/$1" log="$BUILD/logs/$1.log"
  mkdir -p "$corpus" "$artifacts" "$BUILD/logs"
  # Findings of earlier runs stay; only this run's are counted.
  touch "$BUILD/logs/$t.start"
  "$BUILD/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "fuzz/$t/corpus" >"$log" 2>&1 ||
    true
  local execs rate cov ft findings
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  findings=$(find "$artifacts" -type f -newer "$BUILD/logs/$t.start" \( -name 'crash-*' \
    -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  printf '%-18s execs %10s  exec/s %7s  cov %6s  ft %7s  findings %s\n' "$t" "${execs:-?}" \
    "${rate:-?}" "${cov:-?}" "${ft:-?}" "$findings"
  ((findings == 0))
}

merge_one() {
  local t=$1 out="$BUILD/merge/$1"
  rm -rf "$out"
  mkdir -p "$out" "$BUILD/corpus/$t"
  # Edges only (-use_counters=0): the smallest set that reaches every edge,
  # so the replay stays quick; runs keep their fuller corpus in $BUILD.
  "$BUILD/fuzz/fuzz_$t" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 "$out" \
    "fuzz/$t/corpus" "$BUILD/corpus/$t" >"$BUILD/merge/$t.log" 2>&1
  find "fuzz/$t/corpus" -type f -delete
  cp "$out"/* "fuzz/$t/corpus/"
  printf '%-18s %4s files, %7s bytes\n' "$t" "$(find "fuzz/$t/corpus" -type f | wc -l)" \
    "$(cat "fuzz/$t/corpus"/* | wc -c)"
}

probe
build
if [[ $mode == merge ]]; then
  for t in "${targets[@]}"; do merge_one "$t"; done
  exit 0
fi

isync_log "fuzzing ${targets[*]} for ${seconds}s each (FUZZ_JOBS=${FUZZ_JOBS:-1})"
status=0
jobs_max=${FUZZ_JOBS:-1}
mkdir -p "$BUILD/logs"
results=()
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs_max)); do wait -n || status=1; done
  fuzz_one "$t" >"$BUILD/logs/$t.line" &
done
while (($(jobs -rp | wc -l) > 0)); do wait -n || status=1; done
wait || status=1
for t in "${targets[@]}"; do results+=("$(cat "$BUILD/logs/$t.line")"); done
printf '%s\n' "${results[@]}"
echo "logs: $BUILD/logs/<target>.log, findings: $BUILD/artifacts/<target>/"
exit "$status"
