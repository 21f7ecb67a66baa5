#!/usr/bin/env bash
# Runs intacct-sync locally: installs what is missing, builds, starts a local
# redis-server with AOF (appendfsync always, noeviction, data under var/redis)
# and the Intacct sandbox with a demo company (500 customers, 2,000 invoices;
# kept in var/sandbox.json), writes a demo config (tenant "demo", wired to the
# sandbox both ways, taking Stripe payments signed with a random secret kept in
# var/demo-stripe-secret) and runs the service in the foreground.
#   ./deploy/run.sh             start (Ctrl-C stops the service and the
#                               sandbox; Redis keeps running)
#   ./deploy/run.sh --no-build  start with the binaries already built
#   ./deploy/run.sh stop        stop the local Redis
# Environment:
#   ISYNC_VAR_DIR    data, tokens, logs and the demo config (default var/)
#   ISYNC_BUILD_DIR  the build directory, also in the printed commands
#                    (default build/)
#   ISYNC_PORT_BASE  when set, ports are taken from it upwards (service
#                    public, admin, sandbox gateway, control, then Redis)
#                    instead of 8080, 8090 and 6379
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source deploy/common.sh

VAR=${ISYNC_VAR_DIR:-var}
VAR=${VAR%/}
BUILD=${ISYNC_BUILD_DIR:-build}
BUILD=${BUILD%/}
PORT_BASE=${ISYNC_PORT_BASE:-}
if [[ -n $PORT_BASE && ! $PORT_BASE =~ ^[0-9]+$ ]]; then
  echo "ISYNC_PORT_BASE must be a port number, not \"$PORT_BASE\"" >&2
  exit 2
fi
mkdir -p "$VAR"
# Absolute, for the config and the daemons (they do not run from here).
VAR_ABS=$(cd "$VAR" && pwd)
REDIS_PID=$VAR/redis.pid
REDIS_PORT_FILE=$VAR/redis.port

# First free port from <default>, or from ISYNC_PORT_BASE + <offset>.
pick_port() {
  local default=$1 offset=$2
  if [[ -n $PORT_BASE ]]; then
    isync_free_port_from $((PORT_BASE + offset))
  else
    isync_free_port_from "$default"
  fi
}

redis_ours_running() {
  [[ -f $REDIS_PID && -f $REDIS_PORT_FILE ]] || return 1
  local pid
  pid=$(cat "$REDIS_PID")
  kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/comm" 2>/dev/null
}

stop_redis() {
  if redis_ours_running; then
    local pid
    pid=$(cat "$REDIS_PID")
    isync_log "stopping the local redis-server (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  else
    isync_log "the local redis-server is not running"
  fi
}

start_redis() {
  mkdir -p "$VAR/redis"
  if redis_ours_running; then
    REDIS_PORT=$(cat "$REDIS_PORT_FILE")
    isync_log "local redis-server already running on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  REDIS_PORT=$(pick_port 6379 4)
  isync_log "starting redis-server on 127.0.0.1:$REDIS_PORT (AOF, appendfsync always, data in $VAR/redis)"
  redis-server deploy/redis.conf --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$VAR_ABS/redis" \
    --daemonize yes --pidfile "$VAR_ABS/redis.pid" --logfile "$VAR_ABS/redis.log"
  echo "$REDIS_PORT" >"$REDIS_PORT_FILE"
  for _ in $(seq 1 100); do
    if redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.1
  done
  echo "redis-server did not answer on port $REDIS_PORT; see $VAR/redis.log" >&2
  exit 1
}

# A random token in <file> (mode 600), kept across runs.
ensure_token() {
  local file=$1
  if [[ ! -s $file ]]; then
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file")
  fi
  chmod 600 "$file"
}

# A random Stripe-style webhook signing secret (whsec_…) in <file>, kept
# across runs.
ensure_stripe_secret() {
  local file=$1
  if [[ ! -s $file ]]; then
    (umask 077 && printf 'whsec_%s' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$file")
  fi
  chmod 600 "$file"
}

write_demo_config() {
  ensure_token "$VAR/demo-token"
  ensure_stripe_secret "$VAR/demo-stripe-secret"
  ensure_token "$VAR/admin-token"
  ensure_token "$VAR/sandbox-sender-password"
  ensure_token "$VAR/sandbox-user-password"
  ensure_token "$VAR/demo-trigger-secret"
  PUBLIC_PORT=$(pick_port 8080 0)
  ADMIN_PORT=$(isync_free_port_from $((PUBLIC_PORT + 1)))
  GATEWAY_PORT=$(pick_port 8090 2)
  ((GATEWAY_PORT > ADMIN_PORT)) || GATEWAY_PORT=$(isync_free_port_from $((ADMIN_PORT + 1)))
  CONTROL_PORT=$(isync_free_port_from $((GATEWAY_PORT + 1)))
  cat >"$VAR/demo.toml" <<CONF
# Written by deploy/run.sh on each start; edit deploy/run.sh, not this file.
[server]
public_listen = "127.0.0.1:$PUBLIC_PORT"
admin_listen = "127.0.0.1:$ADMIN_PORT"

[redis]
url = "redis://127.0.0.1:$REDIS_PORT/0"

[admin]
token = "file:$VAR_ABS/admin-token"

# The local sandbox speaks Intacct's XML protocol; plain http is accepted only
# for a loopback gateway. For the real Intacct see the README.
[intacct]
endpoint = "http://127.0.0.1:$GATEWAY_PORT/ia/xml/xmlgw.phtml"
sender_id = "intacct-sync-demo"
sender_password = "file:$VAR_ABS/sandbox-sender-password"

[[tenant]]
id = "demo"
token = "file:$VAR_ABS/demo-token"
company_id = "DEMO-CO"
user_id = "ws_intacct_sync"
user_password = "file:$VAR_ABS/sandbox-user-password"
# Stripe payments (POST /v1/payments/demo/stripe) become ARPYMTs in the
# sandbox, deposited to its undeposited-funds account.
stripe_secrets = ["file:$VAR_ABS/demo-stripe-secret"]
undeposited_account = "1010"
# Platform Trigger webhooks (POST /v1/intacct/demo/triggers), signed by the
# sandbox with this OAuth client secret once switched on (ctl push triggers).
trigger_client_secrets = ["file:$VAR_ABS/demo-trigger-secret"]
trigger_client_id = "intacct-sync-demo.INTACCT.app.sage.com"
CONF
  # Where the sandbox posts its smart events: the token rides in the URL, as
  # Intacct's HTTP post action sends it. The file is the token's, mode 600.
  (umask 077 && printf 'http://127.0.0.1:%s/v1/intacct/demo/events?token=%s\n' \
    "$PUBLIC_PORT" "$(cat "$VAR/demo-token")" >"$VAR/sandbox-events-url")
}

SANDBOX_PID=

start_sandbox() {
  isync_log "starting intacct-sandbox (gateway 127.0.0.1:$GATEWAY_PORT, control 127.0.0.1:$CONTROL_PORT, company in $VAR/sandbox.json)"
  INTACCT_SANDBOX_SENDER_PASSWORD=$(cat "$VAR/sandbox-sender-password") \
  INTACCT_SANDBOX_USER_PASSWORD=$(cat "$VAR/sandbox-user-password") \
  INTACCT_SANDBOX_TRIGGER_SECRET=$(cat "$VAR/demo-trigger-secret") \
    "$BUILD/sandbox/intacct-sandbox" serve \
    --gateway-listen "127.0.0.1:$GATEWAY_PORT" --control-listen "127.0.0.1:$CONTROL_PORT" \
    --sender-id intacct-sync-demo --company-id DEMO-CO --user-id ws_intacct_sync \
    --demo-customers 500 --demo-invoices 2000 --seed 1 \
    --events-url-file "$VAR/sandbox-events-url" --state-file "$VAR/sandbox.json" \
    --push smart-events --triggers-url "http://127.0.0.1:$PUBLIC_PORT/v1/intacct/demo/triggers" \
    --trigger-client-id intacct-sync-demo.INTACCT.app.sage.com \
    2>>"$VAR/sandbox.log" &
  SANDBOX_PID=$!
  for _ in $(seq 1 100); do
    if isync_port_busy "$CONTROL_PORT"; then return 0; fi
    kill -0 "$SANDBOX_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "intacct-sandbox did not start; see $VAR/sandbox.log" >&2
  exit 1
}

stop_sandbox() {
  if [[ -n $SANDBOX_PID ]] && kill -0 "$SANDBOX_PID" 2>/dev/null; then
    kill -TERM "$SANDBOX_PID"
    wait "$SANDBOX_PID" 2>/dev/null || true
  fi
}

print_usage() {
  cat <<TXT

intacct-sync is starting (Redis: 127.0.0.1:$REDIS_PORT, data in $VAR/redis).

Send a smart event (the form-encoded body Intacct's HTTP post sends):

  curl -i -X POST "http://127.0.0.1:$PUBLIC_PORT/v1/intacct/demo/events" \\
    -H "Authorization: Bearer \$(cat $VAR/demo-token)" \\
    -H "Content-Type: application/x-www-form-urlencoded" \\
    --data-binary \$'object=ARINVOICE\naction=set\nrecordno=42\nwhenmodified=06/01/2024 10:00:00\nRECORDID=INV-0042\nSTATE=Posted\nTOTALDUE=125.00'

Read the mirror back (admin listener):

  curl -s -H "Authorization: Bearer \$(cat $VAR/admin-token)" \\
    "http://127.0.0.1:$ADMIN_PORT/v1/tenants/demo/invoices/42"

Change a record in the sandbox's demo company and watch it reach the mirror
(the sandbox posts a thin smart event; a worker reads the record back):

  $BUILD/sandbox/intacct-sandbox ctl --control http://127.0.0.1:$CONTROL_PORT \\
    set CUSTOMER 1 NAME="Renamed Customer"
  curl -s -H "Authorization: Bearer \$(cat $VAR/admin-token)" \\
    "http://127.0.0.1:$ADMIN_PORT/v1/tenants/demo/customers/1"

The sandbox posts smart events. Switch it to Intacct's signed Platform Trigger
webhooks (POST /v1/intacct/demo/triggers, HS256 with the secret in
$VAR/demo-trigger-secret), or to both at once (each change is queued once),
and back; "push bare" sends the token bare instead of in its envelope:

  $BUILD/sandbox/intacct-sandbox ctl --control http://127.0.0.1:$CONTROL_PORT push triggers
  $BUILD/sandbox/intacct-sandbox ctl --control http://127.0.0.1:$CONTROL_PORT push both
  $BUILD/sandbox/intacct-sandbox ctl --control http://127.0.0.1:$CONTROL_PORT push smart-events

Pay an invoice with a Stripe payment (signed like Stripe signs, with the
tenant's secret in $VAR/demo-stripe-secret):

  # 1. an open invoice of the demo company (STATE Posted, TOTALDUE 10.00 or more)
  OPEN=\$($BUILD/sandbox/intacct-sandbox ctl --control http://127.0.0.1:$CONTROL_PORT list ARINVOICE --limit 1000 \\
    | grep -o '"RECORDID":"[^"]*","RECORDNO":"[0-9]*","STATE":"Posted","TOTALDUE":"[1-9][0-9][0-9,]*[.][0-9]*"' | head -1)
  INVOICE=\$(echo "\$OPEN" | cut -d'"' -f4); N=\$(echo "\$OPEN" | cut -d'"' -f8); echo "\$OPEN"
  # 2. a payment_intent.succeeded event of 10.00 USD naming that invoice
  PI=pi_demo_\$(date +%s)
  NOW=\$(date +%s)
  BODY='{"id":"evt_'\$PI'","object":"event","type":"payment_intent.succeeded","created":'\$NOW',"livemode":false,"data":{"object":{"id":"'\$PI'","object":"payment_intent","amount":1000,"amount_received":1000,"currency":"usd","created":'\$NOW',"payment_method_types":["card"],"metadata":{"intacct_invoice":"'\$INVOICE'"}}}}'
  # 3. the signature: HMAC-SHA256 of "<t>.<body>" under the signing secret
  SIG=\$(printf '%s.%s' "\$NOW" "\$BODY" | openssl dgst -sha256 -hmac "\$(cat $VAR/demo-stripe-secret)" | sed 's/^.*= //')
  curl -i -X POST "http://127.0.0.1:$PUBLIC_PORT/v1/payments/demo/stripe" \\
    -H "Content-Type: application/json" -H "Stripe-Signature: t=\$NOW,v1=\$SIG" --data-binary "\$BODY"; echo
  # 4. a second later: the payment in the mirror, found by its DOCNUMBER (= the payment id)
  curl -s -H "Authorization: Bearer \$(cat $VAR/admin-token)" \\
    "http://127.0.0.1:$ADMIN_PORT/v1/tenants/demo/payments?by=id&id=\$PI"; echo
  # 5. the ARPYMT in the sandbox, and the invoice's new TOTALDUE
  RECORDNO=\$(curl -s -H "Authorization: Bearer \$(cat $VAR/admin-token)" \\
    "http://127.0.0.1:$ADMIN_PORT/v1/tenants/demo/payments?by=id&id=\$PI" | grep -o '"recordno":"[0-9]*"' | head -1 | cut -d'"' -f4)
  $BUILD/sandbox/intacct-sandbox ctl --control http://127.0.0.1:$CONTROL_PORT get ARPYMT \$RECORDNO
  $BUILD/sandbox/intacct-sandbox ctl --control http://127.0.0.1:$CONTROL_PORT get ARINVOICE \$N
  # 6. on-call status: queue, circuit, calls this month, unsettled payments
  $BUILD/app/intacct-sync status --config $VAR/demo.toml
  curl -s -H "Authorization: Bearer \$(cat $VAR/admin-token)" http://127.0.0.1:$ADMIN_PORT/v1/admin/status; echo

To see a payment listed as "unknown" by status, make the sandbox answer the
next write with a 524 and let it land 20 s later, then send another payment
(steps 1-3): status lists it until the read-back finds and adopts the ARPYMT
(about 30 s; isync_payment_readbacks_total in the metrics counts the tries).

  $BUILD/sandbox/intacct-sandbox ctl --control http://127.0.0.1:$CONTROL_PORT faults land_later=1 land_delay_ms=20000

Metrics: curl -s -H "Authorization: Bearer \$(cat $VAR/admin-token)" http://127.0.0.1:$ADMIN_PORT/metrics

Stop: Ctrl-C stops the service and the sandbox (Redis keeps running);
./deploy/run.sh stop stops Redis.

TXT
}

BUILD_FIRST=true
case ${1:-} in
  stop)
    stop_redis
    exit 0
    ;;
  --no-build) BUILD_FIRST=false ;;
  "") ;;
  *)
    echo "usage: deploy/run.sh [--no-build | stop]" >&2
    exit 2
    ;;
esac

isync_install_deps
if $BUILD_FIRST; then
  isync_build "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -- intacct-sync intacct-sandbox
fi
for binary in "$BUILD/app/intacct-sync" "$BUILD/sandbox/intacct-sandbox"; do
  [[ -x $binary ]] || { echo "$binary is missing: run without --no-build" >&2; exit 1; }
done
start_redis
write_demo_config
start_sandbox
trap stop_sandbox EXIT
print_usage
# In the foreground, not exec'd, so that the sandbox is stopped with it.
"$BUILD/app/intacct-sync" serve --config "$VAR/demo.toml" &
SERVICE_PID=$!
trap 'kill -TERM $SERVICE_PID 2>/dev/null || true' INT TERM
wait "$SERVICE_PID" || wait "$SERVICE_PID" || true
