# Shared by run.sh and test.sh: install what is missing, then build.
# Sourced with the working directory at the repository root.

# Debian 12 packages. libboost-dev is Boost 1.74 there, so Boost 1.81 is named
# explicitly and libboost-dev is never installed.
ISYNC_PACKAGES=(cmake ninja-build g++ ccache pkg-config libboost1.81-dev libhiredis-dev
  rapidjson-dev libpugixml-dev doctest-dev libssl-dev libtomlplusplus-dev libcli11-dev
  libspdlog-dev libhowardhinnant-date-dev tzdata redis-server redis-tools wrk clang-format)

isync_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

isync_as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

isync_install_deps() {
  local missing=() pkg
  for pkg in "${ISYNC_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  isync_log "installing: ${missing[*]}"
  isync_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  isync_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

# isync_build <dir> [cmake -D options...] -- [targets...]
isync_build() {
  local dir=$1
  shift
  local opts=() targets=()
  while (($#)) && [[ $1 != -- ]]; do opts+=("$1"); shift; done
  if (($#)); then shift; targets=("$@"); fi
  isync_log "configuring $dir ${opts[*]}"
  cmake -S . -B "$dir" -G Ninja "${opts[@]}" >/dev/null
  isync_log "building $dir ${targets[*]:-(all)}"
  if ((${#targets[@]})); then
    cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"
  else
    cmake --build "$dir" -j "$(nproc)"
  fi
}

# True when something accepts TCP connections on 127.0.0.1:<port>.
isync_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# First port from <start> upwards that nothing listens on.
isync_free_port_from() {
  local port=$1
  while isync_port_busy "$port"; do port=$((port + 1)); done
  echo "$port"
}
