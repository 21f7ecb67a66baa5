#!/usr/bin/env bash
# Builds intacct-sync, intacct-sandbox and bench-thin (release) and runs the
# thin-event benchmark: sandbox changes -> thin smart events (with
# redeliveries and late, out-of-order deliveries) -> reads from the sandbox's
# gateway -> the mirror. Redis's data goes under var/bench-thin/ on the
# ordinary disk. Extra arguments go to bench-thin (see --help).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/common.sh
isync_install_deps
isync_build build-bench -DCMAKE_BUILD_TYPE=Release -- intacct-sync intacct-sandbox bench-thin
mkdir -p var/bench-thin
exec build-bench/bench/thin/bench-thin --workdir var/bench-thin "$@"
