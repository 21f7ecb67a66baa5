# Sourced by the callgrind profile scripts (bench/ingest/profile.sh,
# bench/apply/profile.sh): a free loopback port, and the bench service's
# configuration (tenant "bench", its token from BENCH_TENANT_TOKEN, which this
# file sets).

export BENCH_TENANT_TOKEN=bench-token-0123456789abcdef

free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# bench_service_toml FILE PUBLIC_PORT ADMIN_PORT REDIS_PORT WORKERS [TOML]:
# writes the service's configuration to FILE; TOML (e.g. a [mirror] section)
# goes after [queue].
bench_service_toml() {
  cat >"$1" <<TOML
[server]
public_listen = "127.0.0.1:$2"
admin_listen = "127.0.0.1:$3"
noop_route = true
[redis]
url = "redis://127.0.0.1:$4/0"
[queue]
workers = $5
${6:-}
[log]
level = "warn"
[[tenant]]
id = "bench"
token = "env:BENCH_TENANT_TOKEN"
TOML
}
