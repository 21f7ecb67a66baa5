#!/usr/bin/env bash
# Instructions Redis spends per applied event, under callgrind: the apply as
# production runs it (workers reading the stream, the batch script at the
# batch sizes a drain gives, its acks, the AOF with appendfsync always).
# A listener-only service queues events for a few seconds (wrk, unique
# form-encoded CUSTOMER events); the counters are zeroed; a service with
# workers drains the stream; instructions / events is the figure. Counts are
# repeatable on a busy machine, where timings are not. Redis runs some 50
# times slower under callgrind, so the calls' time budget is 10 s here: the
# batches are then as large as mirror.apply_batch and the waiting events
# allow, as in production, not cut short by the 1 ms budget.
# Usage: bench/apply/profile.sh <build dir> [apply_batch, default 64] [seconds of queueing, 5]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/common.sh
source bench/common/profile.sh
# Its own tools: neither README command installs them.
isync_install wrk valgrind python3
build=${1:?build dir}
batch=${2:-64}
secs=${3:-5}
work=var/profile-apply
rm -rf "$work" && mkdir -p "$work/redis"
rport=$(free_port)
rcli() { redis-cli -p "$rport" "$@"; }
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/redis" --save '' --appendonly yes \
  --appendfsync always --maxmemory-policy noeviction --daemonize no >"$work/redis.log" 2>&1 &
rpid=$!
spid=
trap 'kill $spid $rpid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  rcli ping >/dev/null 2>&1 && break
  sleep 0.3
done

# serve WORKERS: the service in the background (spid), once it answers.
serve() {
  local pport aport
  pport=$(free_port)
  aport=$(free_port)
  bench_service_toml "$work/service-w$1.toml" "$pport" "$aport" "$rport" "$1" "[mirror]
apply_batch = $batch
apply_call_budget = \"10s\""
  "$build/app/intacct-sync" serve --config "$work/service-w$1.toml" >"$work/service-w$1.log" 2>&1 &
  spid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$pport/healthz" >/dev/null 2>&1 && break
    sleep 0.3
  done
  url="http://127.0.0.1:$pport/v1/intacct/bench/events"
}
stop_service() {
  kill -INT "$spid"
  wait "$spid" 2>/dev/null || true
  spid=
}

stream='isync:{bench}:events'
serve 0
wrk -t1 -c8 -d"${secs}s" -s bench/ingest/post.lua "$url" >"$work/wrk.out" 2>&1
stop_service
events=$(rcli xlen "$stream")
[[ $events -gt 0 ]] || { echo "no events were queued; see $work/" >&2; exit 1; }

rcli config resetstat >/dev/null
callgrind_control -z "$rpid" >/dev/null
serve 4
for _ in $(seq 600); do
  [[ $(rcli xlen "$stream") -eq 0 ]] && break
  sleep 0.5
done
left=$(rcli xlen "$stream")
callgrind_control -d "$rpid" >/dev/null
stop_service
calls=$(rcli info commandstats | tr -d '\r' | awk -F'[=,:]' '/^cmdstat_evalsha:/ {print $3}')
rcli shutdown nosave >/dev/null 2>&1 || true
wait "$rpid" 2>/dev/null || true
trap - EXIT
[[ $left -eq 0 ]] || { echo "the workers left $left of $events events in the stream; see $work/" >&2; exit 1; }
dump=$(ls -t "$work"/callgrind.out* | grep -v '\.out$' | head -1)
ir=$(awk '/^summary:/ {print $2}' "$dump")
echo "apply: $events events in ${calls:-0} EVALSHA calls (mirror.apply_batch = $batch), $ir instructions in Redis, $((ir / events)) per event"
echo "profile: $dump"
echo "reproduce: bench/apply/profile.sh $build $batch $secs"
