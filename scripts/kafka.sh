#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft) broker for tests and local distributed runs.
#
#   scripts/kafka.sh fetch            download the jars from Maven Central once (cached)
#   scripts/kafka.sh start [DIR]      format DIR (default .airdig-kafka) and start a broker on a free
#                                     127.0.0.1 port; prints "BOOTSTRAP=127.0.0.1:PORT" when it answers
#   scripts/kafka.sh stop [DIR]       stop the broker started in DIR
#   scripts/kafka.sh resume [DIR]     start the stopped broker of DIR again, same port and data
#   scripts/kafka.sh run [DIR]        start in the foreground until Ctrl-C
#
# Environment: AIRDIG_KAFKA_VERSION (default 4.1.1), AIRDIG_LOG4J_VERSION (default 2.24.3),
# AIRDIG_KAFKA_CACHE (default ~/.cache/airdig/kafka-<version>), AIRDIG_KAFKA_PORT (default: a free port).
set -euo pipefail

KAFKA_VERSION="${AIRDIG_KAFKA_VERSION:-4.1.1}"
LOG4J_VERSION="${AIRDIG_LOG4J_VERSION:-2.24.3}"
CACHE="${AIRDIG_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airdig/kafka-$KAFKA_VERSION}"
LIBS="$CACHE/libs"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "kafka.sh: $*" >&2; }

fetch() {
  if [ -f "$LIBS/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn is required to fetch the Kafka jars"; exit 1; }
  command -v java >/dev/null || { log "java (17+) is required to run the broker"; exit 1; }
  mkdir -p "$CACHE"
  cat > "$CACHE/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>airdig</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  rm -rf "$LIBS"
  mvn -q -B -f "$CACHE/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime >&2
  touch "$LIBS/.complete"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

write_config() {
  local dir="$1" port="$2" ctl="$3"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctl
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctl
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/logs
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
log.segment.bytes=67108864
PROPS
  cat > "$dir/log4j2.properties" <<L4J
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=FILE
appender.file.type=File
appender.file.name=FILE
appender.file.fileName=$dir/broker.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
L4J
}

# Waits until the broker answers an admin metadata call (describeCluster), or fails after 60 s.
wait_ready() {
  local dir="$1" port="$2" pid="$3"
  if java -cp "$LIBS/*" -Dlog4j2.configurationFile="$dir/log4j2.properties" \
       "$HERE/KafkaReady.java" "127.0.0.1:$port" 60000 >/dev/null 2>"$dir/ready.err"; then
    return 0
  fi
  log "broker did not answer on 127.0.0.1:$port within 60 s; last lines of its logs:"
  tail -n 20 "$dir/broker.log" "$dir/stdout.log" "$dir/ready.err" >&2 || true
  return 1
}

start() {
  local dir="${1:-.airdig-kafka}" fg="${2:-}"
  fetch
  mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    echo "BOOTSTRAP=$(cat "$dir/bootstrap")"; return 0
  fi
  local port="${AIRDIG_KAFKA_PORT:-$(free_port)}" ctl; ctl="$(free_port)"
  rm -rf "$dir/logs"; write_config "$dir" "$port" "$ctl"
  local cluster; cluster="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
  java -cp "$LIBS/*" -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    kafka.tools.StorageTool format -t "$cluster" -c "$dir/server.properties" >/dev/null
  local opts=(-Xms256m -Xmx1g -XX:+UseG1GC -Dlog4j2.configurationFile="$dir/log4j2.properties")
  if [ "$fg" = "fg" ]; then
    echo "BOOTSTRAP=127.0.0.1:$port"
    exec java "${opts[@]}" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties"
  fi
  nohup java "${opts[@]}" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$dir/pid"
  echo "127.0.0.1:$port" > "$dir/bootstrap"
  wait_ready "$dir" "$port" "$pid" || { kill "$pid" 2>/dev/null || true; rm -f "$dir/pid"; exit 1; }
  echo "BOOTSTRAP=127.0.0.1:$port"
}

# The broker of a started-then-stopped DIR again, on its port with its logs (fault tests stop one).
resume() {
  local dir="${1:-.airdig-kafka}"
  dir="$(cd "$dir" && pwd)"
  [ -f "$dir/server.properties" ] || { log "$dir holds no broker: use start"; exit 1; }
  local port; port="$(cut -d: -f2 "$dir/bootstrap")"
  nohup java -Xms256m -Xmx1g -XX:+UseG1GC -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >>"$dir/stdout.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$dir/pid"
  wait_ready "$dir" "$port" "$pid" || { kill "$pid" 2>/dev/null || true; rm -f "$dir/pid"; exit 1; }
  echo "BOOTSTRAP=127.0.0.1:$port"
}

stop() {
  local dir="${1:-.airdig-kafka}"
  [ -f "$dir/pid" ] || return 0
  local pid; pid="$(cat "$dir/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$dir/pid"
}

case "${1:-}" in
  fetch) fetch; echo "$LIBS" ;;
  start) start "${2:-}" ;;
  run) start "${2:-}" fg ;;
  stop) stop "${2:-}" ;;
  resume) resume "${2:-}" ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
