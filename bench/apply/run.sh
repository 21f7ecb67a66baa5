#!/usr/bin/env bash
# Builds intacct-sync and bench-apply (release) and runs the apply benchmark:
# snapshot events queued through the accept path, drained by the workers,
# against Redis floors measured in the same run. Redis's data goes under
# var/bench-apply/ on the ordinary disk, never tmpfs. Extra arguments go to
# bench-apply (see --help).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/common.sh
isync_install_deps
isync_build build-bench -DCMAKE_BUILD_TYPE=Release -- intacct-sync bench-apply
mkdir -p var/bench-apply
exec build-bench/bench/apply/bench-apply --workdir var/bench-apply "$@"
