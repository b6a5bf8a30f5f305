#!/usr/bin/env bash
# flood.sh: one address floods an unlocked johnlocke (--locked=false) with
# invented infohashes while a second address registers a new torrent and
# keeps announcing it. It prints the second address's p99, how many
# torrents the flooder got, and the tracker's peak RSS.
#
# The flooder is `johnlocke loadtest --source 127.0.0.1` announcing
# TORRENTS invented infohashes for PEERS peers as fast as answered; the
# second is `--source 127.0.0.2` announcing one infohash of its own at
# RATE2 a second for DURATION seconds. Loopback only; every process is
# bounded by timeout(1) and stopped by the trap.
#
# Knobs (environment variables, defaults in brackets):
#   TORRENTS   flooder's infohashes [300000]
#   PEERS      flooder's peers [1000000]
#   DURATION   seconds [20]
#   RATE2      second address's announces per second [200]
#   SERVE_ARGS extra serve flags, e.g. "--max-torrents-per-ip 0" [none]
#   JOHNLOCKE  a johnlocke binary to use instead of building this checkout
set -euo pipefail

: "${TORRENTS:=300000}"
: "${PEERS:=1000000}"
: "${DURATION:=20}"
: "${RATE2:=200}"
: "${SERVE_ARGS:=}"

here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

bin=${JOHNLOCKE:-}
if [[ -z $bin ]]; then
	bin=$work/johnlocke
	(cd "$here" && go build -o "$bin" .)
fi

port=$((20000 + RANDOM % 20000))
db=$work/flood.db
# shellcheck disable=SC2086
timeout $((DURATION + 60)) "$bin" serve --db "$db" --http "" --udp "127.0.0.1:$port" --locked=false \
	--udp-sockets 1 $SERVE_ARGS >"$work/serve.log" 2>&1 &
serve=$!
pids+=("$serve")
for _ in $(seq 100); do grep -q "johnlocke is serving" "$work/serve.log" && break; sleep 0.1; done
grep -q "johnlocke is serving" "$work/serve.log" || { cat "$work/serve.log"; exit 1; }

timeout $((DURATION + 20)) "$bin" loadtest --protocol udp --addr "127.0.0.1:$port" --source 127.0.0.1 \
	--torrents "$TORRENTS" --peers "$PEERS" --concurrency 8 --duration "${DURATION}s" --seed 1 >"$work/flood.out" 2>&1 &
flood=$!
pids+=("$flood")
timeout $((DURATION + 20)) "$bin" loadtest --protocol udp --addr "127.0.0.1:$port" --source 127.0.0.2 \
	--torrents 1 --peers 100 --concurrency 1 --rate "$RATE2" --duration "${DURATION}s" --seed 2 >"$work/second.out" 2>&1 &
second=$!
pids+=("$second")
wait "$flood" "$second" || true

torrents=$("$bin" stats --db "$db" | awk '$1 == "torrents" {print $2}')
# $serve is timeout(1); the tracker logs its own pid.
tracker=$(grep -o '"pid":[0-9]*' "$work/serve.log" | head -n 1 | cut -d: -f2)
rss=$(awk '/VmHWM/ {print $2, $3}' "/proc/$tracker/status")
echo "== flooder (127.0.0.1)"; tail -n 1 "$work/flood.out"
echo "== second address (127.0.0.2)"; tail -n 1 "$work/second.out"
echo "torrents registered: $torrents (the second address's 1 included)"
echo "tracker peak RSS: $rss"
