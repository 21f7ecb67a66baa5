#!/usr/bin/env bash
# Runs the ingest benchmark (bench-ingest --help for its flags): builds
# intacct-sync, beast-noop and bench-ingest (release) into build-bench/, or
# uses an existing build with --build-dir DIR (first argument; nothing is
# built then). The node peer (bench/peers/node) is installed with `npm ci`
# into <build>/bench/peers/node/ (the source tree gets no node_modules) and
# measured when node >= 18 and npm are there; otherwise it is skipped with a
# line saying why (it is for information only). Redis's data goes under
# var/bench/ on the ordinary disk, never tmpfs.
#   ./bench/ingest/run.sh [--build-dir DIR] [--runs 3] [--smoke] [bench-ingest flags...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/common.sh
command_line="./bench/ingest/run.sh $*"
build=
if [[ ${1:-} == --build-dir ]]; then
  build=${2:?--build-dir needs a directory}
  shift 2
else
  isync_install_deps
  build=build-bench
  isync_build "$build" -DCMAKE_BUILD_TYPE=Release -- intacct-sync beast-noop bench-ingest
fi

peer_args=()
peer=$build/bench/peers/node
if isync_have_command node && command -v npm >/dev/null 2>&1; then
  mkdir -p "$peer"
  cp -p bench/peers/node/package.json bench/peers/node/package-lock.json bench/peers/node/server.js "$peer/"
  if [[ -f $peer/node_modules/.package-lock.json && $peer/node_modules/.package-lock.json -nt $peer/package-lock.json ]] ||
    (cd "$peer" && NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt} \
      npm ci --no-audit --no-fund --loglevel=error >&2); then
    peer_args=(--node-peer "$(cd "$peer" && pwd)")
  else
    echo "node peer: skipped (npm ci failed in $peer)" >&2
  fi
else
  echo "node peer: skipped (node >= 18 and npm are needed)" >&2
fi

mkdir -p var/bench
exec "$build/bench/ingest/bench-ingest" --workdir var/bench "${peer_args[@]}" \
  --command "$command_line" "$@"
