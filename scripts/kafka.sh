#!/usr/bin/env bash
# A real Apache Kafka broker for flowmark's tests and benchmarks, without Docker: the jars come
# from Maven Central (through the machine's Maven and scripts/kafka/pom.xml, which pins the
# version), the broker runs on the machine's Java 17+ as one combined broker+controller (KRaft,
# no ZooKeeper) on 127.0.0.1. scripts/services.sh (`service_kafka`) starts it for tests; run it
# by hand for a developer's broker.
#
# Usage:
#   scripts/kafka.sh start    fetch the jars if not cached, format storage, start the broker, wait
#                             until it answers a Kafka ApiVersions request, print its bootstrap
#                             address (127.0.0.1:<port>) on stdout. When a broker started by this
#                             script is already running in the state dir, say so and print its address.
#   scripts/kafka.sh stop     SIGTERM (clean shutdown), SIGKILL after $KAFKA_STOP_TIMEOUT seconds;
#                             then delete the broker's data (every instance is throwaway; the log stays).
#   scripts/kafka.sh status   print `running (pid …) at 127.0.0.1:<port>` (exit 0) or `stopped` (exit 3).
#   scripts/kafka.sh fetch    only fetch the jars into the cache (e.g. to warm a machine's cache).
#
#   addr=$(scripts/kafka.sh start) && … && scripts/kafka.sh stop
#   KAFKA_PORT=19092 scripts/kafka.sh start; KAFKA_PORT=19092 scripts/kafka.sh stop
#
# Environment (all optional):
#   KAFKA_PORT             client port on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port on 127.0.0.1 (default KAFKA_PORT+1)
#   FLOWMARK_KAFKA_DIR     state of one instance: server.properties, kafka.pid, kafka.log and data/
#                          (default ${TMPDIR:-/tmp}/flowmark-kafka-<KAFKA_PORT>). stop/status find the
#                          instance by this directory, so give them the same KAFKA_PORT or FLOWMARK_KAFKA_DIR.
#   FLOWMARK_KAFKA_CACHE   jar cache, one folder per Kafka version (default ~/.cache/flowmark-kafka);
#                          once filled, start needs no network. Maven's own ~/.m2 is used on the way.
#   FLOWMARK_KAFKA_PROPS   extra server.properties lines, appended (e.g. "log.segment.bytes=1048576")
#   FLOWMARK_KAFKA_KEEP_DATA=1  stop keeps data/ (a later start on the same dir reuses it)
#   KAFKA_HEAP_OPTS        JVM heap flags (default -Xmx512m: enough for tests on a 2-core machine)
#   KAFKA_JVM_OPTS         more JVM flags (default none)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer (default 90)
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM before SIGKILL (default 30)
#   JAVA_HOME              the Java to run (default: `java` on PATH); must be 17 or newer
#
# Needs: bash, Java 17+, Maven (first start of a version only), flock (util-linux). Runs fine as root.
set -euo pipefail

KAFKA_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kafka"
POM="$KAFKA_SCRIPT_DIR/pom.xml"
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1)
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
CACHE="${FLOWMARK_KAFKA_CACHE:-$HOME/.cache/flowmark-kafka}"
LIBS="$CACHE/$KAFKA_VERSION/libs"
STATE="${FLOWMARK_KAFKA_DIR:-${TMPDIR:-/tmp}/flowmark-kafka-$KAFKA_PORT}"
PID_FILE="$STATE/kafka.pid"
LOG_FILE="$STATE/kafka.log"

log() { printf '[kafka] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# The pid of the broker this script started in $STATE, if it is alive (and is still a Kafka
# broker: a pid file left by a crash must not name some later process).
running_pid() {
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid=$(cat "$PID_FILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

# The port an instance listens on (written at start; KAFKA_PORT when unknown).
state_port() { cat "$STATE/port" 2>/dev/null || echo "$KAFKA_PORT"; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when 127.0.0.1:$1 answers a Kafka ApiVersions v0 request with error code 0. The broker
# accepts connections before it serves requests, so an open port is not enough.
kafka_answers() {
  local reply
  reply=$(
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || exit 1
    # size 10 | api key 18 | version 0 | correlation id 1 | client id null (-1)
    printf '\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff' >&3
    timeout 5 head -c 10 <&3 | od -An -tx1 | tr -d ' \n'
  ) 2>/dev/null || return 1
  # size (4 bytes) | correlation id 1 | error code 0
  [ "${reply:8:12}" = "000000010000" ]
}

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME/bin/java"; else command -v java || true; fi
}

check_java() {
  local java version major
  java=$(java_bin)
  [ -n "$java" ] || die "no java on PATH (and no JAVA_HOME): install Java 17+ (sudo apt-get install openjdk-17-jre-headless)"
  version=$("$java" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n 1)
  major=${version%%.*}
  [ "$major" = 1 ] && major=$(echo "$version" | cut -d. -f2)
  [ "${major:-0}" -ge 17 ] 2>/dev/null || die "Kafka $KAFKA_VERSION needs Java 17+, but $java is '$version': set JAVA_HOME"
  JAVA="$java"
}

# Fills $LIBS with the broker's jars from Maven Central, once per version (and again if the pom
# changed). A lock keeps two concurrent starts from fetching into the same folder.
fetch_jars() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/$KAFKA_VERSION.lock"
  flock 9
  if [ -f "$LIBS/.complete" ] && cmp -s "$POM" "$LIBS/.complete"; then
    exec 9>&-
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "Kafka $KAFKA_VERSION is not in $CACHE and Maven is missing: install it (sudo apt-get install maven)"
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  local tmp="$CACHE/$KAFKA_VERSION/libs.tmp.$$" out
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! out=$(mvn -B -q -f "$POM" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1); then
    printf '%s\n' "$out" >&2
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed for Kafka $KAFKA_VERSION (output above)"
  fi
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || die "Maven copied no kafka_2.13-$KAFKA_VERSION.jar into $tmp"
  cp "$POM" "$tmp/.complete" # marks a finished fetch, and of which pom
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  log "cached $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1))"
  exec 9>&-
}

# A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, not starting with '-'.
cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [ "${id:0:1}" != "-" ] && { echo "$id"; return; }
  done
}

cmd_start() {
  local pid
  if pid=$(running_pid); then
    log "already running (pid $pid, started by this script in $STATE)"
    echo "127.0.0.1:$(state_port)"
    return 0
  fi
  check_java
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT on 127.0.0.1 is already in use (another broker?): set KAFKA_PORT"
  port_open "$KAFKA_CONTROLLER_PORT" && die "controller port $KAFKA_CONTROLLER_PORT on 127.0.0.1 is already in use: set KAFKA_CONTROLLER_PORT"
  fetch_jars

  mkdir -p "$STATE"
  local data="$STATE/data" props="$STATE/server.properties"
  sed -e "s|@PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" -e "s|@DATA_DIR@|$data|g" \
    "$KAFKA_SCRIPT_DIR/server.properties" >"$props"
  if [ -n "${FLOWMARK_KAFKA_PROPS:-}" ]; then printf '\n# FLOWMARK_KAFKA_PROPS\n%s\n' "$FLOWMARK_KAFKA_PROPS" >>"$props"; fi
  echo "$KAFKA_PORT" >"$STATE/port"

  local -a common=(-Djava.awt.headless=true "-Dlog4j2.configurationFile=$KAFKA_SCRIPT_DIR/log4j2.properties" -cp "$LIBS/*")

  if [ ! -f "$data/meta.properties" ]; then
    # Formatting is a JVM of its own; a small heap and C1 only make it start faster.
    if ! "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 "${common[@]}" kafka.tools.StorageTool format \
      -t "$(cluster_id)" -c "$props" --ignore-formatted >"$STATE/format.log" 2>&1; then
      cat "$STATE/format.log" >&2
      die "formatting storage in $data failed (output above)"
    fi
  fi

  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT, state $STATE)"
  local -a jvm
  # shellcheck disable=SC2206 # the *_OPTS variables are word lists, as in Kafka's own scripts
  jvm=(${KAFKA_HEAP_OPTS:--Xmx512m} ${KAFKA_JVM_OPTS:-} -XX:+ExitOnOutOfMemoryError "${common[@]}")
  : >"$LOG_FILE"
  rm -f "$PID_FILE"
  # setsid: the broker outlives this script and the caller's terminal; the inner shell writes its
  # own pid (the JVM's, after exec) so that it is exact.
  # shellcheck disable=SC2016 # $$ and "$@" belong to the inner shell
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" "$JAVA" "${jvm[@]}" kafka.Kafka "$props" \
    >>"$LOG_FILE" 2>&1 </dev/null &
  local started=$SECONDS timeout="${KAFKA_START_TIMEOUT:-90}"
  while :; do
    sleep 0.2
    if ! pid=$(running_pid); then
      [ -s "$PID_FILE" ] || continue # the child has not written its pid yet
      tail -n 40 "$LOG_FILE" >&2
      rm -f "$PID_FILE"
      die "the broker exited during startup (log above: $LOG_FILE)"
    fi
    kafka_answers "$KAFKA_PORT" && break
    if [ $((SECONDS - started)) -ge "$timeout" ]; then
      tail -n 40 "$LOG_FILE" >&2
      cmd_stop >/dev/null 2>&1 || true
      die "the broker did not answer on 127.0.0.1:$KAFKA_PORT within ${timeout}s (log above: $LOG_FILE)"
    fi
  done
  log "ready in $((SECONDS - started))s (pid $pid, log $LOG_FILE)"
  echo "127.0.0.1:$KAFKA_PORT"
}

cmd_stop() {
  local pid timeout="${KAFKA_STOP_TIMEOUT:-30}"
  if pid=$(running_pid); then
    log "stopping pid $pid (SIGTERM)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + timeout))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "still running after ${timeout}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    log "stopped"
  else
    log "not running (state dir $STATE)"
  fi
  rm -f "$PID_FILE"
  if [ "${FLOWMARK_KAFKA_KEEP_DATA:-0}" != 1 ]; then rm -rf "$STATE/data"; fi
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    echo "running (pid $pid) at 127.0.0.1:$(state_port)"
  else
    echo "stopped"
    return 3
  fi
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
fetch) fetch_jars && echo "$LIBS" ;;
*)
  echo "usage: scripts/kafka.sh start|stop|status|fetch   (see the comments at the top of this file)" >&2
  exit 2
  ;;
esac
