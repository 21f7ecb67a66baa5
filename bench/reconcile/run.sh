#!/usr/bin/env bash
# Builds intacct-sync, intacct-sandbox and bench-reconcile (release) and runs
# the reconcile benchmark: a sandbox company of 1,000,000 customers and
# invoices by default, 1 % drifted, reconciled by the service (see the
# README's Daily reconciliation). Redis's data goes under var/bench-reconcile/
# on the ordinary disk. Extra arguments go to bench-reconcile (see --help;
# --smoke: 10,000 records, no thresholds).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/common.sh
isync_install_deps
isync_build build-bench -DCMAKE_BUILD_TYPE=Release -- intacct-sync intacct-sandbox bench-reconcile
mkdir -p var/bench-reconcile
exec build-bench/bench/reconcile/bench-reconcile --workdir var/bench-reconcile "$@"
