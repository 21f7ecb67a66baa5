#!/usr/bin/env bash
# Builds bench-sandbox (release) and runs it: the sandbox company seeded at a
# large company's size (default 100,000 customers + 900,000 invoices), its
# seeding time and RSS, and the latency of `query` pages listing it by key.
# Extra arguments go to bench-sandbox (see --help; --smoke for a small run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/common.sh
isync_install_deps
isync_build build-bench -DCMAKE_BUILD_TYPE=Release -- bench-sandbox
exec build-bench/bench/sandbox/bench-sandbox "$@"
