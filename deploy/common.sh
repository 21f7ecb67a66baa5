# Shared by run.sh and test.sh: install what is missing, then build.
# Sourced with the working directory at the repository root.

# Debian 12 packages, in two lists (the README says what each is for).
# libboost-dev is Boost 1.74 there, so Boost 1.81 is named explicitly and
# libboost-dev is never installed.
#
# The service's list: what building and running the service and the demo
# needs. Both README commands install it.
ISYNC_PACKAGES=(cmake ninja-build g++ ccache pkg-config libboost1.81-dev libhiredis-dev
  rapidjson-dev libpugixml-dev doctest-dev libssl-dev libtomlplusplus-dev libcli11-dev
  libspdlog-dev libhowardhinnant-date-dev tzdata redis-server redis-tools
  openssl ca-certificates curl)
# The test list: what the test command (.ci/run) uses beyond the service's
# list, installed by it alone, never by ./deploy/run.sh. An entry
# "cmd:COMMAND=PACKAGE" is a command, checked with `command -v` (so one from
# another source counts: NodeSource's node >= 18 brings its own npm, and
# Debian's npm must not be installed beside it), installed from the Debian
# PACKAGE only when missing. The console's browser test (console_browser_test)
# drives Debian's chromium with playwright-core under node >= 18 (Debian 12's
# nodejs is 18), installed by `npm ci`.
ISYNC_TEST_PACKAGES=(chromium cmd:node=nodejs cmd:npm=npm)

isync_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

isync_as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# True when the Debian package is installed.
isync_have_package() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# True when command <name> is there; `node` counts only from version 18 on.
isync_have_command() {
  command -v "$1" >/dev/null 2>&1 || return 1
  if [[ $1 == node ]]; then
    local major
    major=$(node -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null)
    [[ $major =~ ^[0-9]+$ ]] && ((major >= 18))
  fi
}

# isync_install <entry...>: apt-get installs the entries that are missing.
isync_install() {
  local missing=() entry
  for entry in "$@"; do
    if [[ $entry == cmd:* ]]; then
      entry=${entry#cmd:}
      isync_have_command "${entry%%=*}" || missing+=("${entry#*=}")
    else
      isync_have_package "$entry" || missing+=("$entry")
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

isync_install_deps() { isync_install "${ISYNC_PACKAGES[@]}"; }
isync_install_test_deps() { isync_install "${ISYNC_PACKAGES[@]}" "${ISYNC_TEST_PACKAGES[@]}"; }

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
