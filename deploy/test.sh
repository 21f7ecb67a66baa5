#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with -Werror into build/
# and runs the suite, then builds with ASan+UBSan into build-asan/ and runs it
# again without the browser test (label "browser": it tests the page, not the
# sanitized C++, and is only registered in the release tree). The browser
# test's `npm ci` is a CTest fixture of the release run (console_browser_npm_ci).
# After the release pass, the benchmarks' smoke runs (no thresholds: only a
# broken benchmark fails). Exits non-zero when anything fails.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source deploy/common.sh

start=$(date +%s)
isync_install_test_deps || exit 1

results=()
status=0

# run_suite <name> <dir> [cmake -D options...] [-- ctest options...]
run_suite() {
  local name=$1 dir=$2
  shift 2
  local opts=() ctest_opts=()
  while (($#)) && [[ $1 != -- ]]; do opts+=("$1"); shift; done
  if (($#)); then shift; ctest_opts=("$@"); fi
  if ! isync_build "$dir" "${opts[@]}" -DISYNC_WERROR=ON; then
    results+=("$name: BUILD FAILED")
    status=1
    return
  fi
  isync_log "testing $dir"
  if (cd "$dir" && ctest --output-on-failure -j 2 "${ctest_opts[@]}"); then
    results+=("$name: passed")
  else
    results+=("$name: TESTS FAILED")
    status=1
  fi
}

run_suite "release" build

# The benchmarks' smoke runs, from the release tree (never the sanitizer tree;
# they are not CTests): each at most ~30 s, no thresholds. Figures never fail
# this script; a benchmark that no longer works does (a smoke run exits
# non-zero only when a target cannot start or answers no 2xx, a Redis floor did
# not do the work it measures, or a run cannot finish).
# smoke <name> <command...>
smoke() {
  local name=$1
  shift
  isync_log "$name --smoke"
  if "$@" --smoke; then
    results+=("$name --smoke: ran")
  else
    results+=("$name --smoke: BROKEN")
    status=1
  fi
}
if [[ -x build/bench/ingest/bench-ingest ]]; then
  smoke bench/ingest ./bench/ingest/run.sh --build-dir build
  mkdir -p var/bench-apply-smoke var/bench-reconcile-smoke
  smoke bench/apply build/bench/apply/bench-apply --workdir var/bench-apply-smoke
  smoke bench/sandbox build/bench/sandbox/bench-sandbox
  smoke bench/reconcile build/bench/reconcile/bench-reconcile --workdir var/bench-reconcile-smoke
fi
run_suite "asan+ubsan" build-asan -DISYNC_SANITIZE=ON -- -LE browser

echo
for r in "${results[@]}"; do echo "  $r"; done
elapsed=$(($(date +%s) - start))
if ((status == 0)); then
  echo "ALL TESTS PASSED (release and asan+ubsan) in ${elapsed}s"
else
  echo "FAILED (see above) after ${elapsed}s"
fi
exit "$status"
