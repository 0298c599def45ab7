#!/usr/bin/env bash
# A real Apache Flink 1.20 cluster for flowmark's tests, without Docker: Flink comes from PyPI
# (`apache-flink` and `apache-flink-libraries`, installed with pip --no-deps into a venv in a
# cache), the connector jars from Maven Central (scripts/flink/pom.xml, which pins the versions and
# says why). The cluster is one JobManager and one TaskManager (1 slot) on the machine's Java 17,
# bound to 127.0.0.1 on free ports. scripts/services.sh (`service_flink`) starts it for tests; run
# it by hand for a developer's cluster. Facts behind the choices: ../shared/notes/flink-from-pypi.md.
#
# Usage:
#   scripts/flink.sh start    install Flink and the jars if not cached, start the cluster, wait until
#                             its TaskManager offers a slot, start a SQL Gateway for it, print the
#                             cluster's REST URL (http://127.0.0.1:<port>) on stdout. When a cluster
#                             started by this script is already running in the state dir, say so and
#                             print its URL.
#   scripts/flink.sh gateway  print the SQL Gateway's REST URL (flowmark flink deploy --gateway …)
#   scripts/flink.sh stop     stop the gateway, the TaskManager and the JobManager (SIGKILL after
#                             $FLINK_STOP_TIMEOUT s)
#   scripts/flink.sh status   print `running at http://127.0.0.1:<port>` (exit 0) or `stopped` (exit 3)
#   scripts/flink.sh home     install if not cached, print FLINK_HOME (bin/sql-client.sh is there)
#   scripts/flink.sh conf     print the cluster's FLINK_CONF_DIR (give it to bin/sql-client.sh)
#
#   url=$(scripts/flink.sh start) &&
#     FLINK_CONF_DIR=$(scripts/flink.sh conf) "$(scripts/flink.sh home)/bin/sql-client.sh" -f job.sql &&
#     scripts/flink.sh stop
#
# Environment (all optional):
#   FLOWMARK_FLINK_DIR     state of one cluster: conf/, log/, pids and the REST port
#                          (default ${TMPDIR:-/tmp}/flowmark-flink); stop/status find the cluster by it
#   FLOWMARK_FLINK_CACHE   install cache, one folder per Flink version (default ~/.cache/flowmark-flink);
#                          once filled, start needs no network
#   FLINK_REST_PORT        the REST port (default: a free one)
#   FLINK_START_TIMEOUT    seconds to wait for a slot (default 120)
#   FLINK_STOP_TIMEOUT     seconds to wait for a clean stop before SIGKILL (default 30)
#   FLOWMARK_FLINK_PYTHON  the Python that makes the venv (default python3; 3.8–3.11 have wheels)
#   JAVA_HOME              the Java to run (default: `java` on PATH); must be 11 or newer (17 is tested)
#
# Needs: bash, Python 3 with venv, Java 11+, Maven (first start of a version only), flock, curl.
# The SQL Gateway's pid file is flink-<user>-sql-gateway.pid in the state dir, as the cluster's.
set -euo pipefail

FLINK_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/flink"
POM="$FLINK_SCRIPT_DIR/pom.xml"
FLINK_VERSION=$(sed -n 's:.*<flink.version>\(.*\)</flink.version>.*:\1:p' "$POM" | head -n 1)
CACHE="${FLOWMARK_FLINK_CACHE:-$HOME/.cache/flowmark-flink}"
INSTALL="$CACHE/$FLINK_VERSION"
STATE="${FLOWMARK_FLINK_DIR:-${TMPDIR:-/tmp}/flowmark-flink}"
CONF="$STATE/conf"

log() { printf '[flink] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# FLINK_HOME of the installed version: the pyflink package in the venv (it has bin/, conf/, lib/, opt/).
flink_home() { cat "$INSTALL/flink-home" 2>/dev/null; }

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME/bin/java"; else command -v java || true; fi
}

check_java() {
  local java version major
  java=$(java_bin)
  [ -n "$java" ] || die "no java on PATH (and no JAVA_HOME): install Java 17 (sudo apt-get install openjdk-17-jre-headless)"
  version=$("$java" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n 1)
  major=${version%%.*}
  [ "$major" = 1 ] && major=$(echo "$version" | cut -d. -f2)
  [ "${major:-0}" -ge 11 ] 2>/dev/null || die "Flink $FLINK_VERSION needs Java 11+, but $java is '$version': set JAVA_HOME"
}

# Installs Flink from PyPI and the jars from Maven Central into $INSTALL, once per version (and
# again if the pom changed). A lock keeps two concurrent starts from installing into one folder.
install() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/$FLINK_VERSION.lock"
  flock 9
  if [ -f "$INSTALL/.complete" ] && cmp -s "$POM" "$INSTALL/.complete" && [ -x "$(flink_home)/bin/flink" ]; then
    exec 9>&-
    return 0
  fi
  local python="${FLOWMARK_FLINK_PYTHON:-python3}"
  command -v "$python" >/dev/null 2>&1 || die "Flink $FLINK_VERSION is not in $CACHE and $python is missing: install Python 3 (sudo apt-get install python3-venv)"
  command -v mvn >/dev/null 2>&1 || die "Flink $FLINK_VERSION is not in $CACHE and Maven is missing: install it (sudo apt-get install maven)"
  local tmp="$INSTALL.tmp.$$" out
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "installing Flink $FLINK_VERSION from PyPI into $INSTALL (about 240 MB)"
  "$python" -m venv "$tmp/venv" || die "could not make a venv with $python (Debian: sudo apt-get install python3-venv)"
  # --no-deps: the Python API's own dependencies (numpy, pandas, …) are not needed to run SQL.
  if ! out=$("$tmp/venv/bin/pip" install -q --no-deps "apache-flink-libraries==$FLINK_VERSION" "apache-flink==$FLINK_VERSION" 2>&1); then
    printf '%s\n' "$out" >&2
    rm -rf "$tmp"
    die "pip install apache-flink==$FLINK_VERSION failed (output above)"
  fi
  local home
  home=$(find "$tmp/venv" -path '*/site-packages/pyflink' -type d | head -n 1)
  [ -n "$home" ] && [ -f "$home/bin/flink" ] || die "the pip install has no pyflink/bin/flink under $tmp/venv"
  chmod +x "$home"/bin/*
  log "fetching the connector jars from Maven Central (scripts/flink/pom.xml)"
  if ! out=$(mvn -B -q -f "$POM" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/jars" 2>&1); then
    printf '%s\n' "$out" >&2
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed for $POM (output above)"
  fi
  # The gateway goes to opt/ (sql-client.sh looks for it there); the connectors and their
  # closure to lib/, which every JVM of the cluster and the client put on their classpath.
  mv "$tmp"/jars/flink-sql-gateway-*.jar "$home/opt/"
  mv "$tmp"/jars/*.jar "$home/lib/"
  rmdir "$tmp/jars"
  cp "$POM" "$tmp/.complete" # marks a finished install, and of which pom
  rm -rf "$INSTALL"
  mv "$tmp" "$INSTALL"
  # The venv moved: FLINK_HOME is recorded after the move (its scripts use no absolute paths).
  echo "${home/#$tmp/$INSTALL}" >"$INSTALL/flink-home"
  log "installed: FLINK_HOME=$(flink_home) ($(du -sh "$INSTALL" | cut -f1))"
  exec 9>&-
}

free_port() {
  node -e "const s=require('node:net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})" 2>/dev/null ||
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

rest_port() { cat "$STATE/rest-port" 2>/dev/null; }

# The pids of this cluster's JVMs: Flink's scripts keep them in FLINK_PID_DIR (= $STATE).
cluster_pids() {
  local f pid
  for f in "$STATE"/flink-*.pid; do
    [ -f "$f" ] || continue
    while read -r pid; do
      [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
    done <"$f"
  done
}

# True when the REST API of the cluster answers and a TaskManager offers at least one slot.
has_slot() {
  local body
  body=$(curl -sf --max-time 3 "http://127.0.0.1:$1/overview" 2>/dev/null) || return 1
  [[ "$body" =~ \"slots-total\":([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]
}

# Runs one of Flink's daemon scripts with this cluster's configuration, logs and pid files.
flink_daemon() {
  local script="$1"
  shift
  FLINK_CONF_DIR="$CONF" FLINK_LOG_DIR="$STATE/log" FLINK_PID_DIR="$STATE" "$(flink_home)/bin/$script" "$@"
}

# True while the SQL Gateway this script started is alive.
gateway_alive() {
  local f pid
  for f in "$STATE"/flink-*-sql-gateway.pid; do
    [ -f "$f" ] || continue
    while read -r pid; do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && return 0; done <"$f"
  done
  return 1
}

cmd_start() {
  local port
  if [ -n "$(cluster_pids)" ] && port=$(rest_port) && has_slot "$port"; then
    log "already running (started by this script in $STATE)"
    echo "http://127.0.0.1:$port"
    return 0
  fi
  check_java
  install
  local home
  home=$(flink_home)
  mkdir -p "$CONF" "$STATE/log"
  cp "$home"/conf/log4j*.properties "$CONF/"
  port="${FLINK_REST_PORT:-$(free_port)}"
  # Everything on 127.0.0.1 and on free ports, so that a second cluster (another worktree, a CI
  # run) cannot collide; the heap sizes are the smallest that ran the attribution job here.
  cat >"$CONF/config.yaml" <<EOF
# written by scripts/flink.sh
jobmanager:
  bind-host: 127.0.0.1
  rpc:
    address: 127.0.0.1
    port: $(free_port)
  memory:
    process:
      size: 1024m
taskmanager:
  bind-host: 127.0.0.1
  host: 127.0.0.1
  rpc:
    port: 0
  data:
    port: 0
  numberOfTaskSlots: 1
  memory:
    process:
      size: 2560m
blob:
  server:
    port: "0"
rest:
  address: 127.0.0.1
  bind-address: 127.0.0.1
  port: $port
parallelism:
  default: 1
env:
  java:
    opts:
      all: -Duser.timezone=UTC --add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.text=ALL-UNNAMED --add-opens=java.base/java.time=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
EOF
  echo "$port" >"$STATE/rest-port"
  log "starting Flink $FLINK_VERSION on 127.0.0.1 (REST :$port, state $STATE)"
  flink_daemon jobmanager.sh start >"$STATE/log/start.out" 2>&1 || {
    cat "$STATE/log/start.out" >&2
    die "bin/jobmanager.sh start failed (output above)"
  }
  flink_daemon taskmanager.sh start >>"$STATE/log/start.out" 2>&1 || {
    cat "$STATE/log/start.out" >&2
    cmd_stop >/dev/null 2>&1 || true
    die "bin/taskmanager.sh start failed (output above)"
  }
  local started=$SECONDS timeout="${FLINK_START_TIMEOUT:-120}"
  until has_slot "$port"; do
    sleep 0.5
    if [ -z "$(cluster_pids)" ] || [ $((SECONDS - started)) -ge "$timeout" ]; then
      tail -n 30 "$STATE"/log/*.log >&2 || true
      cmd_stop >/dev/null 2>&1 || true
      die "the cluster offered no slot on 127.0.0.1:$port within ${timeout}s, or a JVM exited (logs above: $STATE/log)"
    fi
  done
  # The SQL Gateway (flowmark flink deploy/status): a JVM of its own, talking to this cluster.
  local gport
  gport=$(free_port)
  echo "$gport" >"$STATE/gateway-port"
  flink_daemon sql-gateway.sh start -Dsql-gateway.endpoint.rest.address=127.0.0.1 \
    -Dsql-gateway.endpoint.rest.bind-address=127.0.0.1 -Dsql-gateway.endpoint.rest.port="$gport" \
    >>"$STATE/log/start.out" 2>&1 || {
    cat "$STATE/log/start.out" >&2
    cmd_stop >/dev/null 2>&1 || true
    die "bin/sql-gateway.sh start failed (output above)"
  }
  until curl -sf --max-time 3 "http://127.0.0.1:$gport/v1/info" >/dev/null 2>&1; do
    sleep 0.5
    if ! gateway_alive || [ $((SECONDS - started)) -ge "$timeout" ]; then
      tail -n 30 "$STATE"/log/*gateway*.log >&2 || true
      cmd_stop >/dev/null 2>&1 || true
      die "the SQL Gateway exited, or did not answer on 127.0.0.1:$gport within ${timeout}s (logs above: $STATE/log)"
    fi
  done
  log "ready in $((SECONDS - started))s: REST http://127.0.0.1:$port, SQL Gateway http://127.0.0.1:$gport (logs $STATE/log)"
  echo "http://127.0.0.1:$port"
}

cmd_stop() {
  if [ -z "$(cluster_pids)" ]; then
    log "not running (state dir $STATE)"
    return 0
  fi
  flink_daemon sql-gateway.sh stop >/dev/null 2>&1 || true
  flink_daemon taskmanager.sh stop >/dev/null 2>&1 || true
  flink_daemon jobmanager.sh stop >/dev/null 2>&1 || true
  local deadline=$((SECONDS + ${FLINK_STOP_TIMEOUT:-30})) pid
  while [ -n "$(cluster_pids)" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  for pid in $(cluster_pids); do
    log "pid $pid still running after ${FLINK_STOP_TIMEOUT:-30}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$STATE"/flink-*.pid
  log "stopped"
}

cmd_status() {
  local port
  if [ -n "$(cluster_pids)" ] && port=$(rest_port) && has_slot "$port"; then
    echo "running at http://127.0.0.1:$port"
  else
    echo "stopped"
    return 3
  fi
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
home) install && flink_home ;;
conf) echo "$CONF" ;;
gateway) echo "http://127.0.0.1:$(cat "$STATE/gateway-port" 2>/dev/null || die "no cluster started in $STATE")" ;;
*)
  echo "usage: scripts/flink.sh start|stop|status|home|conf|gateway   (see the comments at the top of this file)" >&2
  exit 2
  ;;
esac
