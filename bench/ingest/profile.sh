#!/usr/bin/env bash
# Instructions per request of the ingest path, under callgrind: one io thread,
# no workers, wrk posting unique form-encoded events over 8 connections.
# Counters are zeroed after a warm-up, so start-up is not counted.
# Usage: bench/ingest/profile.sh <build dir> [route: intacct|noop] [seconds]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/common.sh
source bench/common/profile.sh
# Its own tools: neither README command installs them.
isync_install wrk valgrind python3
build=${1:?build dir}
route=${2:-intacct}
secs=${3:-15}
work=var/profile
rm -rf "$work" && mkdir -p "$work/redis"
rport=$(free_port); pport=$(free_port); aport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/redis" --save '' --appendonly yes \
  --appendfsync always --maxmemory-policy noeviction --daemonize no >"$work/redis.log" 2>&1 &
rpid=$!
bench_service_toml "$work/profile.toml" "$pport" "$aport" "$rport" 0
sleep 0.5
INTACCT_SYNC_SERVER_THREADS=1 INTACCT_SYNC_QUEUE_WORKERS=0 \
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  "$build/app/intacct-sync" serve --config "$work/profile.toml" >"$work/service.log" 2>&1 &
spid=$!
trap 'kill $spid $rpid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$pport/healthz" >/dev/null 2>&1 && break
  sleep 0.3
done
url="http://127.0.0.1:$pport/v1/$route/bench/events"
wrk -t1 -c8 -d3s -s bench/ingest/post.lua "$url" >/dev/null
callgrind_control -z "$spid" >/dev/null
out=$(wrk -t1 -c8 -d"${secs}s" -s bench/ingest/post.lua "$url" 2>"$work/wrk.err"); head -c 300 "$work/wrk.err" >&2
callgrind_control -d "$spid" >/dev/null
reqs=$(awk '/requests in/ {print $1}' <<<"$out")
non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
kill -INT "$spid"; wait "$spid" 2>/dev/null || true
kill "$rpid"; wait "$rpid" 2>/dev/null || true
trap - EXIT
dump=$(ls -t "$work"/callgrind.out* | grep -v '\.out$' | head -1)
ir=$(awk '/^summary:/ {print $2}' "$dump")
echo "route $route: $reqs requests (non-2xx: ${non2xx:-0}), $ir instructions, $((ir / reqs)) per request"
echo "profile: $dump"
