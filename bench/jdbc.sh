#!/usr/bin/env bash
# Checks the PostgreSQL JDBC driver (Debian's libpostgresql-jdbc-java, which DBeaver and Metabase
# use) against `pophub serve` on a small generated city: connect with SCRAM, list tables and
# columns through DatabaseMetaData, run a prepared query with a parameter. Prints what each step
# gave, or the driver's error.
# Usage: bench/jdbc.sh [WORKDIR]   (PROFILE=dev for the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-${TMPDIR:-/tmp}/pophub-jdbc}
source bench/build.sh
jar=/usr/share/java/postgresql.jar
[ -f "$jar" ] || { apt-get update -qq && apt-get install -y -qq libpostgresql-jdbc-java > /dev/null; }
mkdir -p "$work"
if [ ! -f "$work/warehouse/_nights/log.json" ]; then
  "$bin" generate --persons 2000 --seed 7 --out "$work/city" > /dev/null
  "$bin" run pipelines/nightly.toml --data-root "$work/city" --warehouse "$work/warehouse" > /dev/null
fi
echo "jdbc analyst pass" | "$bin" user add jdbc --role analyst --warehouse "$work/warehouse" > /dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --warehouse "$work/warehouse" --listen "127.0.0.1:$port" 2> "$work/serve.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 600); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
javac -d "$work" bench/JdbcCheck.java
java -cp "$work:$jar" JdbcCheck "jdbc:postgresql://127.0.0.1:$port/pophub?sslmode=disable" jdbc "jdbc analyst pass"
