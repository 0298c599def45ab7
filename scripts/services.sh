#!/usr/bin/env bash
# Real services for flowmark's integration tests and benchmarks: the one place where they are
# installed, started and stopped. No Docker: everything comes from Debian's packages or Maven Central.
#
# Two ways to use it:
#
#   1. Sourced (this is what .ci/run does):
#        source scripts/services.sh
#        trap services_stop_all EXIT
#        services_start postgres            # each name runs service_<name>
#      Each service_<name> installs what is missing, starts the service on 127.0.0.1, and exports
#      the environment variables that tests read (see the table below).
#
#   2. Run as a command (for a developer):
#        scripts/services.sh postgres -- npm test   # start, run the command with the env, stop
#        scripts/services.sh postgres               # start, print `export …` lines, leave running
#        scripts/services.sh stop                   # stop what the previous form left running
#
# Services and what they export:
#   postgres    FLOWMARK_TEST_PG_URL   postgres://postgres@127.0.0.1:<port>/flowmark_test
#               FLOWMARK_TEST_PG_CTL   a pg_ctl for that server (`$FLOWMARK_TEST_PG_CTL stop -m immediate`,
#                                      `$FLOWMARK_TEST_PG_CTL start`), for outage tests
#   kafka       FLOWMARK_TEST_KAFKA    127.0.0.1:<port>, a throwaway single-node KRaft broker (scripts/kafka.sh:
#                                      Kafka 4.x from Maven Central on Java 17; topics are not auto-created)
#   prometheus  FLOWMARK_TEST_PROMTOOL   promtool (Debian's `prometheus`), for `check rules`/`check config`
#               FLOWMARK_TEST_PROMETHEUS the prometheus server binary; nothing is started here: each test
#                                        runs its own server (own config, free port, temp dir) and stops it
#                                        (test/observability/prometheus-server.ts)
#   chromium    FLOWMARK_TEST_CHROMIUM /usr/bin/chromium (Debian's `chromium`), for playwright-core browser tests
#   flink       FLOWMARK_TEST_FLINK    http://127.0.0.1:<port>, the REST API of a local Apache Flink 1.20.3 cluster
#                                      (scripts/flink.sh: PyPI + Maven Central, Java 17; 1 slot, parallelism 1)
#               FLOWMARK_TEST_FLINK_HOME  its FLINK_HOME (bin/sql-client.sh)
#               FLOWMARK_TEST_FLINK_CONF  its FLINK_CONF_DIR, which points the client at the cluster
#               FLOWMARK_TEST_FLINK_GATEWAY  http://127.0.0.1:<port>, its SQL Gateway (flowmark flink deploy)
#
# A variable that is already set is respected: the service is not started again, so a developer
# can point the tests at a server of their own.
#
# To add a service: write service_<name> below (install, start, export, services_on_stop), and add
# <name> to FLOWMARK_SERVICES in .ci/run.

# State of started services lives here, so that `scripts/services.sh stop` can find it later.
FLOWMARK_SERVICES_DIR="${FLOWMARK_SERVICES_DIR:-${TMPDIR:-/tmp}/flowmark-services}"
# Commands that stop what was started, newest first (also written to $FLOWMARK_SERVICES_DIR/stop.sh).
_FM_STOP_COMMANDS=()
_FM_APT_UPDATED=0

services_log() { printf '[services] %s\n' "$*" >&2; }
services_die() {
  services_log "ERROR: $*"
  return 1
}

# Registers a shell command that stops something just started.
services_on_stop() {
  _FM_STOP_COMMANDS=("$1" "${_FM_STOP_COMMANDS[@]}")
  mkdir -p "$FLOWMARK_SERVICES_DIR"
  {
    printf '%s\n' "$1"
    if [ -f "$FLOWMARK_SERVICES_DIR/stop.sh" ]; then cat "$FLOWMARK_SERVICES_DIR/stop.sh"; fi
  } >"$FLOWMARK_SERVICES_DIR/stop.sh.new"
  mv "$FLOWMARK_SERVICES_DIR/stop.sh.new" "$FLOWMARK_SERVICES_DIR/stop.sh"
}

# Stops every service started by this shell, newest first. Safe to call twice (trap + explicit).
services_stop_all() {
  local cmd
  for cmd in "${_FM_STOP_COMMANDS[@]}"; do
    services_log "stopping: $cmd"
    bash -c "$cmd" || services_log "(stop command failed: $cmd)"
  done
  _FM_STOP_COMMANDS=()
  rm -f "$FLOWMARK_SERVICES_DIR/stop.sh"
}

# apt-get install, with one `apt-get update` first per run. Needs root.
services_apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    services_die "need to install Debian packages ($*) but not running as root: install them (sudo apt-get install $*) and run again"
    return 1
  fi
  if [ "$_FM_APT_UPDATED" -eq 0 ]; then
    services_log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _FM_APT_UPDATED=1
  fi
  services_log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# A TCP port that is free on 127.0.0.1 right now (asked of the kernel through Node).
services_free_port() {
  node -e "const s=require('node:net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# Runs a command as `user` (root cannot run initdb/pg_ctl); as ourselves when we are not root.
_services_as() {
  local user="$1"
  shift
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

# ---- PostgreSQL (Debian's `postgresql` package) -------------------------------------------------

# The bin directory of the newest installed PostgreSQL: $FLOWMARK_PG_BIN, Debian's
# /usr/lib/postgresql/<version>/bin, or wherever pg_ctl is on PATH.
_services_pg_bin() {
  if [ -n "${FLOWMARK_PG_BIN:-}" ]; then
    echo "$FLOWMARK_PG_BIN"
    return
  fi
  local d
  d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/pg_ctl" ]; then
    echo "$d"
  elif command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
  fi
}

# Starts a throwaway PostgreSQL server (trust auth, 127.0.0.1, a free port, data in a temp dir)
# and exports FLOWMARK_TEST_PG_URL and FLOWMARK_TEST_PG_CTL.
service_postgres() {
  if [ -n "${FLOWMARK_TEST_PG_URL:-}" ]; then
    services_log "postgres: using FLOWMARK_TEST_PG_URL from the environment"
    return 0
  fi
  local bin
  bin=$(_services_pg_bin)
  if [ -z "$bin" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      services_die "postgres: PostgreSQL is not installed; install it (sudo apt-get install postgresql) or set FLOWMARK_TEST_PG_URL"
      return 1
    fi
    # Debian's postinst would create and start a system cluster on 5432; tests want their own.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/flowmark-no-main-cluster.conf
    services_apt_install postgresql || return 1
    bin=$(_services_pg_bin)
    [ -n "$bin" ] || {
      services_die "postgres: installed the postgresql package but found no pg_ctl under /usr/lib/postgresql"
      return 1
    }
  fi
  local user
  user=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    user=postgres
    id postgres >/dev/null 2>&1 || {
      services_die "postgres: running as root and there is no 'postgres' user to run the server as"
      return 1
    }
  fi

  mkdir -p "$FLOWMARK_SERVICES_DIR"
  local dir
  dir=$(mktemp -d "$FLOWMARK_SERVICES_DIR/postgres.XXXXXX")
  chmod 755 "$dir"
  if [ "$user" != "$(id -un)" ]; then
    chown "$user" "$dir"
    chmod go+x "$FLOWMARK_SERVICES_DIR" # the server's user must reach its directory
  fi
  # A wrapper around pg_ctl for this server, usable by tests whether or not they run as root:
  # `$FLOWMARK_TEST_PG_CTL stop -m immediate`, `$FLOWMARK_TEST_PG_CTL start`, `… status`.
  local ctl="$dir/pg_ctl" as_user=""
  [ "$(id -u)" -eq 0 ] && as_user="runuser -u $user -- "
  printf '#!/bin/bash\nexec %s%q -D %q -l %q -w "$@"\n' "$as_user" "$bin/pg_ctl" "$dir/data" "$dir/server.log" >"$ctl"
  chmod 755 "$ctl"
  local stop_cmd
  printf -v stop_cmd '{ %q stop -m fast || %q stop -m immediate; } >/dev/null 2>&1; rm -rf %q' "$ctl" "$ctl" "$dir"
  services_on_stop "$stop_cmd" # registered before the start, so a failed start is cleaned up too

  services_log "postgres: initdb in $dir/data ($("$bin/postgres" --version))"
  _services_as "$user" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    services_die "postgres: initdb failed (log above)"
    return 1
  }

  # Our settings live in flowmark.conf, included by postgresql.conf, so that a plain
  # `pg_ctl start` (FLOWMARK_TEST_PG_CTL) restarts the server exactly as it was.
  echo "include = 'flowmark.conf'" >>"$dir/data/postgresql.conf"
  # The port is chosen free, then taken by the server; retry in the unlikely case of a race.
  local port attempt started=0
  for attempt in 1 2 3 4 5; do
    port=$(services_free_port)
    {
      echo "# flowmark test server (scripts/services.sh)"
      echo "listen_addresses = '127.0.0.1'"
      echo "port = $port"
      echo "unix_socket_directories = '$dir'"
      echo "max_connections = 200"
      # Extra settings, e.g. FLOWMARK_PG_CONF="fsync = off" for a faster, less durable server.
      if [ -n "${FLOWMARK_PG_CONF:-}" ]; then printf '%s\n' "$FLOWMARK_PG_CONF"; fi
    } >"$dir/data/flowmark.conf"
    [ "$user" = "$(id -un)" ] || chown "$user" "$dir/data/flowmark.conf"
    if _services_as "$user" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
      started=1
      break
    fi
    services_log "postgres: start on port $port failed (attempt $attempt), retrying"
  done

  if [ "$started" -ne 1 ]; then
    tail -n 30 "$dir/server.log" >&2 || true
    services_die "postgres: the server did not start (log above: $dir/server.log)"
    return 1
  fi

  "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres flowmark_test || {
    services_die "postgres: createdb flowmark_test failed"
    return 1
  }
  export FLOWMARK_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/flowmark_test"
  export FLOWMARK_TEST_PG_CTL="$ctl"
  services_log "postgres: ready at $FLOWMARK_TEST_PG_URL"
}

# ---- Apache Kafka (jars from Maven Central, run by scripts/kafka.sh) ------------------------------

# Starts a throwaway Kafka broker (one combined broker+controller, KRaft) with scripts/kafka.sh on
# a free port of 127.0.0.1, state in a temp dir, and exports FLOWMARK_TEST_KAFKA (host:port).
# Installs Debian's Java 17 and Maven when missing (as root); the jars are cached outside the clone
# (FLOWMARK_KAFKA_CACHE, default ~/.cache/flowmark-kafka), so later runs need no network.
service_kafka() {
  if [ -n "${FLOWMARK_TEST_KAFKA:-}" ]; then
    services_log "kafka: using FLOWMARK_TEST_KAFKA from the environment"
    return 0
  fi
  local script
  script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kafka.sh"
  if [ "$(id -u)" -eq 0 ]; then
    local pkgs=()
    if ! command -v java >/dev/null 2>&1 || ! java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; then
      pkgs+=(openjdk-17-jre-headless)
    fi
    command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
    if [ "${#pkgs[@]}" -gt 0 ]; then services_apt_install "${pkgs[@]}" || return 1; fi
  fi # not root: scripts/kafka.sh says what is missing, if anything

  mkdir -p "$FLOWMARK_SERVICES_DIR"
  local dir
  dir=$(mktemp -d "$FLOWMARK_SERVICES_DIR/kafka.XXXXXX")
  local stop_cmd
  printf -v stop_cmd 'FLOWMARK_KAFKA_DIR=%q bash %q stop >/dev/null 2>&1; rm -rf %q' "$dir" "$script" "$dir"
  services_on_stop "$stop_cmd" # registered before the start, so a failed start is cleaned up too

  # Two ports chosen free, then taken by the broker; retry in the unlikely case of a race.
  local port cport addr="" attempt
  for attempt in 1 2 3; do
    port=$(services_free_port)
    cport=$(services_free_port)
    [ "$cport" != "$port" ] || continue
    if addr=$(KAFKA_PORT="$port" KAFKA_CONTROLLER_PORT="$cport" FLOWMARK_KAFKA_DIR="$dir" bash "$script" start); then
      break
    fi
    addr=""
    services_log "kafka: start on port $port failed (attempt $attempt), retrying"
  done
  [ -n "$addr" ] || {
    services_die "kafka: the broker did not start (see the output above and $dir/kafka.log)"
    return 1
  }
  export FLOWMARK_TEST_KAFKA="$addr"
  services_log "kafka: ready at $FLOWMARK_TEST_KAFKA (log $dir/kafka.log)"
}

# ---- Prometheus (Debian's `prometheus` package) --------------------------------------------------

# Finds promtool and prometheus (installing Debian's package when one
# is missing) and exports FLOWMARK_TEST_PROMTOOL and FLOWMARK_TEST_PROMETHEUS. Starts nothing: the
# tests start their own server with their own config on a free port, in a temp dir, and stop it.
service_prometheus() {
  if [ -n "${FLOWMARK_TEST_PROMTOOL:-}" ] && [ -n "${FLOWMARK_TEST_PROMETHEUS:-}" ]; then
    services_log "prometheus: using FLOWMARK_TEST_PROMTOOL and FLOWMARK_TEST_PROMETHEUS from the environment"
    return 0
  fi
  if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      services_die "prometheus: promtool/prometheus not found; install them (sudo apt-get install prometheus) or set FLOWMARK_TEST_PROMTOOL and FLOWMARK_TEST_PROMETHEUS"
      return 1
    fi
    # Debian's postinst would start a system Prometheus on :9090; the tests want none. A
    # policy-rc.d answering 101 forbids starting services during the install.
    local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      made_policy=1
    fi
    services_apt_install prometheus || rc=$?
    if [ "$made_policy" -eq 1 ]; then rm -f "$policy"; fi
    [ "$rc" -eq 0 ] || return 1
  fi
  local promtool prometheus
  promtool=$(command -v promtool) && prometheus=$(command -v prometheus) || {
    services_die "prometheus: installed the prometheus package but found no promtool or prometheus on PATH"
    return 1
  }
  export FLOWMARK_TEST_PROMTOOL="$promtool"
  export FLOWMARK_TEST_PROMETHEUS="$prometheus"
  services_log "prometheus: $("$prometheus" --version 2>&1 | head -n 1) at $prometheus, promtool at $promtool"
}

# Debian's `chromium` package, driven by playwright-core in the dashboard's browser tests
# (test/server/dashboard-browser.test.ts); exports FLOWMARK_TEST_CHROMIUM, the browser's path.
# Nothing is started: each test launches its own headless browser.
service_chromium() {
  if [ -n "${FLOWMARK_TEST_CHROMIUM:-}" ]; then
    services_log "chromium: using FLOWMARK_TEST_CHROMIUM from the environment"
    return 0
  fi
  local bin
  bin=$(command -v chromium || true)
  if [ -z "$bin" ]; then
    services_apt_install chromium || return 1
    bin=$(command -v chromium || true)
    [ -n "$bin" ] || {
      services_die "chromium: installed the chromium package but found no chromium on PATH"
      return 1
    }
  fi
  export FLOWMARK_TEST_CHROMIUM="$bin"
  services_log "chromium: $("$bin" --version 2>/dev/null || echo "$bin") at $FLOWMARK_TEST_CHROMIUM"
}

# ---- Apache Flink (scripts/flink.sh: Flink 1.20.3 from PyPI, connectors from Maven Central) -------

# Starts a local Flink cluster (one JobManager, one TaskManager with one slot, 127.0.0.1, free
# ports) with a SQL Gateway, and exports FLOWMARK_TEST_FLINK (its REST URL), FLOWMARK_TEST_FLINK_HOME
# (FLINK_HOME: bin/sql-client.sh), FLOWMARK_TEST_FLINK_CONF (the cluster's FLINK_CONF_DIR, for the
# client) and FLOWMARK_TEST_FLINK_GATEWAY (the gateway's REST URL).
service_flink() {
  if [ -n "${FLOWMARK_TEST_FLINK:-}" ]; then
    services_log "flink: using FLOWMARK_TEST_FLINK from the environment"
    return 0
  fi
  local script
  script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/flink.sh"
  if [ "$(id -u)" -eq 0 ]; then
    local pkgs=()
    if ! command -v java >/dev/null 2>&1 || ! java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; then
      pkgs+=(openjdk-17-jre-headless)
    fi
    command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
    command -v curl >/dev/null 2>&1 || pkgs+=(curl)
    # Debian's python3 makes a venv only with python3-venv (ensurepip).
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || pkgs+=(python3-venv)
    if [ "${#pkgs[@]}" -gt 0 ]; then services_apt_install "${pkgs[@]}" || return 1; fi
  fi # not root: scripts/flink.sh says what is missing, if anything

  mkdir -p "$FLOWMARK_SERVICES_DIR"
  local dir
  dir=$(mktemp -d "$FLOWMARK_SERVICES_DIR/flink.XXXXXX")
  local stop_cmd
  printf -v stop_cmd 'FLOWMARK_FLINK_DIR=%q bash %q stop >/dev/null 2>&1; rm -rf %q' "$dir" "$script" "$dir"
  services_on_stop "$stop_cmd" # registered before the start, so a failed start is cleaned up too
  local url
  url=$(FLOWMARK_FLINK_DIR="$dir" bash "$script" start) || {
    services_die "flink: the cluster did not start (see the output above and $dir/log)"
    return 1
  }
  export FLOWMARK_TEST_FLINK="$url"
  FLOWMARK_TEST_FLINK_HOME=$(FLOWMARK_FLINK_DIR="$dir" bash "$script" home)
  export FLOWMARK_TEST_FLINK_HOME
  export FLOWMARK_TEST_FLINK_CONF="$dir/conf"
  FLOWMARK_TEST_FLINK_GATEWAY=$(FLOWMARK_FLINK_DIR="$dir" bash "$script" gateway)
  export FLOWMARK_TEST_FLINK_GATEWAY
  services_log "flink: ready at $FLOWMARK_TEST_FLINK (FLINK_HOME $FLOWMARK_TEST_FLINK_HOME, logs $dir/log)"
}

# ---- entry points --------------------------------------------------------------------------------

# Starts the named services in order: services_start postgres kafka …
services_start() {
  local name
  for name in "$@"; do
    if ! declare -F "service_$name" >/dev/null; then
      services_die "unknown service '$name' (known: postgres kafka prometheus chromium flink)"
      return 1
    fi
    "service_$name" || return 1
  done
}

_services_usage() {
  cat <<'EOF'
usage: scripts/services.sh SERVICE… [-- COMMAND…]   start services (postgres kafka prometheus chromium flink);
                                                    with a command: run it with their env, then stop them;
                                                    without: print `export …` lines and leave them running
       scripts/services.sh stop                     stop services left running by the form above
EOF
}

_services_main() {
  set -euo pipefail
  case "${1:-}" in
  "" | -h | --help)
    _services_usage
    return 0
    ;;
  stop)
    if [ -f "$FLOWMARK_SERVICES_DIR/stop.sh" ]; then
      bash "$FLOWMARK_SERVICES_DIR/stop.sh"
      rm -f "$FLOWMARK_SERVICES_DIR/stop.sh"
      services_log "stopped"
    else
      services_log "nothing to stop ($FLOWMARK_SERVICES_DIR/stop.sh does not exist)"
    fi
    return 0
    ;;
  esac
  local names=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    names+=("$1")
    shift
  done
  if [ $# -gt 0 ]; then
    shift
    [ $# -gt 0 ] || {
      _services_usage >&2
      return 2
    }
    trap services_stop_all EXIT
    services_start "${names[@]}"
    "$@"
  else
    # Leave the services running: forget the stop commands here, keep them in stop.sh.
    if ! services_start "${names[@]}"; then
      services_stop_all
      return 1
    fi
    _FM_STOP_COMMANDS=()
    env | grep '^FLOWMARK_TEST_' | sed "s/^\([^=]*\)=\(.*\)$/export \1='\2'/" || true
    services_log "left running; stop them with: scripts/services.sh stop"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  _services_main "$@"
fi
