#!/usr/bin/env bash
# persist.sh: what persistence costs a `large` johnlocke with a million peers.
#
# 1. Flush: two runs on a fresh database. Each loads PEERS peers over
#    TORRENTS torrents as fast as the tracker answers (nothing is flushed
#    yet, so every one of those swarms is dirty), then announces at RATE a
#    second with other peers of the same torrents until MEASURE_UNTIL
#    seconds after the start. In the first run --flush-interval is an hour,
#    so nothing is written while it measures; in the second it is FLUSH_AT
#    seconds, so the flush of every dirty peer falls inside the measurement.
#    It prints both p99 latencies, their ratio and what the flush wrote.
# 2. Restart: the second server is stopped (its final flush writes the
#    rest) and started RESTARTS times on the same file. It times each start
#    from exec to the "johnlocke is serving" line (printing the best and the
#    worst), and checks each time through `johnlocke stats` (the admin
#    socket) that every peer the server held before it stopped is back.
#
# Knobs (environment variables, defaults in brackets):
#   PEERS          peers loaded [1000000]
#   TORRENTS       infohashes [100000]
#   RATE           announces per second while measuring p99 [40000]
#   FLUSH_AT       --flush-interval, seconds, of the flushing run [25]
#   MEASURE_UNTIL  seconds after the start when measuring ends [35]
#   RESTARTS       [3]
#   COLD           1 drops the page cache before each restart (root only) [0]
#   TRACKER_CPUS   taskset CPU list for the tracker [0]
#   LOADGEN_CPUS   taskset CPU list for the load generator [1]
#   JOHNLOCKE      a johnlocke binary to use instead of building this checkout
#   KEEP           1 keeps the work directory [0]
#
# Every process is bounded by timeout(1) and stopped by the trap.
set -euo pipefail

: "${PEERS:=1000000}"
: "${TORRENTS:=100000}"
: "${RATE:=40000}"
: "${FLUSH_AT:=25}"
: "${MEASURE_UNTIL:=35}"
: "${RESTARTS:=3}"
: "${COLD:=0}"
: "${TRACKER_CPUS:=0}"
: "${LOADGEN_CPUS:=1}"
: "${KEEP:=0}"

for v in PEERS TORRENTS RATE FLUSH_AT MEASURE_UNTIL RESTARTS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || {
		echo "persist.sh: $v must be a positive whole number" >&2
		exit 2
	}
done
((MEASURE_UNTIL > FLUSH_AT + 2)) || {
	echo "persist.sh: MEASURE_UNTIL must end a few seconds after FLUSH_AT" >&2
	exit 2
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/johnlocke-persist.XXXXXX")
pids=()

cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [[ $KEEP == 1 ]]; then
		echo "work directory kept: $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '== %s\n' "$*" >&2; }
die() {
	printf 'persist.sh: %s\n' "$*" >&2
	exit 1
}
now_ms() { date +%s%3N; }
# field KEY LINE prints KEY's value from a loadtest report line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

if [[ -n ${JOHNLOCKE:-} ]]; then
	cp -- "$JOHNLOCKE" "$tmp/johnlocke"
else
	say "building johnlocke"
	(cd "$root" && timeout 600 go build -o "$tmp/johnlocke" .) || die "go build failed"
fi
jl="$tmp/johnlocke"
cd "$tmp"

# The same infohashes for every load, so other peers join the same swarms.
awk -v n="$TORRENTS" 'BEGIN { srand(7); for (i = 0; i < n; i++) { h = ""; for (j = 0; j < 10; j++) h = h sprintf("%04x", int(rand() * 65536)); print h } }' >hashes.txt

port=$((20000 + RANDOM % 40000))

# start FLUSH_INTERVAL LOG: serve on db, pinned, in the background; sets
# server (the timeout wrapper's pid) and started (ms). Returns once the
# tracker logs that it serves.
start() {
	started=$(now_ms)
	timeout --kill-after=5 600 taskset -c "$TRACKER_CPUS" "$jl" serve -v --db db --mode large --locked=false --max-torrents-per-ip 0 --status '' \
		--http "127.0.0.1:$port" --udp "127.0.0.1:$port" --flush-interval "$1" >"$2" 2>&1 &
	server=$!
	pids+=("$server")
	local i
	for ((i = 0; i < 6000; i++)); do
		grep -q '"johnlocke is serving"' "$2" && return 0
		kill -0 "$server" 2>/dev/null || {
			cat "$2" >&2
			die "the tracker exited at start"
		}
		sleep 0.005
	done
	die "the tracker did not start within 30 s"
}

stop() {
	# The tracker itself, not its timeout(1) wrapper: timeout passes a
	# signal on to its child and to its process group, and a second
	# SIGTERM makes johnlocke exit without its final flush.
	pkill -TERM -P "$server"
	wait "$server" || die "the tracker exited with status $? (log: $1)"
	# Waited for: the trap must not signal a pid the system may reuse.
	pids=("${pids[@]/$server/}")
}

loadtest() { # ARGS...: one bounded run, pinned; prints its report line
	timeout --kill-after=5 600 taskset -c "$LOADGEN_CPUS" "$jl" loadtest --addr "127.0.0.1:$port" \
		--protocol udp --infohashes hashes.txt "$@" | tail -n 1
}

declare -A R
for run in still flushing; do
	rm -f db db.sock
	interval=1h
	[[ $run == flushing ]] && interval=${FLUSH_AT}s
	say "$run: loading $PEERS peers over $TORRENTS torrents (--flush-interval $interval)"
	start "$interval" "$run.log"
	line=$(loadtest --peers "$PEERS" --requests "$PEERS" --duration 300s)
	[[ $(field errors "$line") == 0 ]] || die "load errors: $line"
	elapsed=$((($(now_ms) - started) / 1000))
	((elapsed < FLUSH_AT - 2)) || die "loading took ${elapsed}s, too close to FLUSH_AT=$FLUSH_AT; raise FLUSH_AT and MEASURE_UNTIL"
	left=$((MEASURE_UNTIL - elapsed))
	say "$run: loaded in ${elapsed}s; $RATE announces/s for ${left}s"
	line=$(loadtest --peers 100000 --seed 2 --rate "$RATE" --duration "${left}s")
	[[ $(field errors "$line") == 0 ]] || die "errors while measuring: $line"
	R[$run]=$(field p99_us "$line")
	R[$run-rps]=$(field rps "$line")
	if [[ $run == still ]]; then
		grep -q '"flushed"' still.log && die "a flush ran in the run without one (see still.log)"
		stop still.log
	fi
done
flushed=$(grep '"flushed"' flushing.log | head -n 1)
[[ -n $flushed ]] || die "no flush in the flushing run (see flushing.log)"
# peers: seeders plus leechers, as `johnlocke stats` tells them (through the
# admin socket while a server runs).
peers() {
	local json
	json=$("$jl" stats --db db --json) || die "johnlocke stats failed"
	echo $(($(sed -n 's/.*"seeders": \([0-9]*\).*/\1/p' <<<"$json") + $(sed -n 's/.*"leechers": \([0-9]*\).*/\1/p' <<<"$json")))
}
want=$(peers)
stop flushing.log

say "restarting $RESTARTS times$([[ $COLD == 1 ]] && echo ", each with a cold page cache")"
best=999999 worst=0 back=""
for ((i = 0; i < RESTARTS; i++)); do
	if [[ $COLD == 1 ]]; then
		sync
		echo 3 >/proc/sys/vm/drop_caches || die "COLD=1 needs root (it writes /proc/sys/vm/drop_caches)"
	fi
	start 1h "restart$i.log"
	took=$(($(now_ms) - started))
	((took < best)) && best=$took
	((took > worst)) && worst=$took
	back=$(peers)
	((back == want)) || die "restart $i: $back of $want peers came back"
	stop "restart$i.log"
done

printf '\njohnlocke large mode with persisted peers, %s\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
printf 'host: %s %s, %s CPUs; tracker on CPU %s, load generator on CPU %s\n' "$(uname -sr)" "$(uname -m)" "$(nproc)" "$TRACKER_CPUS" "$LOADGEN_CPUS"
printf '%-44s %s\n' "peers loaded" "$PEERS over $TORRENTS torrents"
printf '%-44s %s\n' "database file" "$(du -h db | cut -f1)"
printf '%-44s %s\n' "the flush (-v log)" "$(sed -n 's/.*"torrents":\([0-9]*\),"swarm_bytes":\([0-9]*\),"transactions":\([0-9]*\),"took_ms":\([0-9.]*\).*/\1 torrents, \2 bytes of peers, \3 transactions, \4 ms/p' <<<"$flushed")"
printf '%-44s %s\n' "p99 us at $RATE/s, no flush" "${R[still]} (${R[still-rps]}/s)"
printf '%-44s %s\n' "p99 us at $RATE/s, flush inside the run" "${R[flushing]} (${R[flushing-rps]}/s)"
printf '%-44s %s\n' "p99 ratio (flush / no flush)" "$(awk -v a="${R[flushing]}" -v b="${R[still]}" 'BEGIN { printf "%.2f", a / b }')"
printf '%-44s %s\n' "restart until serving (exec to log line)" "best $((best)) ms, worst $((worst)) ms of $RESTARTS$([[ $COLD == 1 ]] && echo ", cold page cache")"
printf '%-44s %s\n' "peers back after each restart" "$back of $want (the load's $PEERS and the measuring run's)"
