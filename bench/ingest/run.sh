#!/usr/bin/env bash
# Builds intacct-sync and bench-ingest (release) and runs the ingest benchmark.
# Redis's data goes under var/bench/ on the ordinary disk, never tmpfs.
# Extra arguments go to bench-ingest (see --help).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/common.sh
isync_install_deps
isync_build build-bench -DCMAKE_BUILD_TYPE=Release -- intacct-sync bench-ingest
mkdir -p var/bench
exec build-bench/bench/ingest/bench-ingest --workdir var/bench "$@"
