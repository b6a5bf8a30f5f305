#!/usr/bin/env bash
# load.sh: the cost of cluster mode on one node's throughput (issue 13).
#
#   testdata/cluster/load.sh [--bin PATH/johnlocke] [--duration SECONDS] [--modes "off on"]
#
# For cluster mode off, then on, it starts node x (the one loaded) on
# 127.0.0.1 and, for "on", a second node y that x replicates to, both with
# their own database in a temporary directory; runs `johnlocke loadtest`
# against x over UDP, then over HTTP (keep-alive and one connection per
# announce), each for DURATION seconds (default 5); and prints for each run
# the answers per second, x's CPU time per announce (utime+stime from
# /proc/PID/stat over the run, divided by the answers), y's CPU time over
# the same run per announce made on x, and the changes x sent and y applied
# (from their /metrics); and y's CPU use while x is idle. Everything is on loopback and bounded by
# timeout(1); the trap stops only what the script started.
set -euo pipefail

BIN="" DURATION=5 MODES="off on"
while [ $# -gt 0 ]; do
	case $1 in
	--bin) BIN=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--modes) MODES=$2; shift ;;
	*) echo "load.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
if [ -z "$BIN" ]; then
	(cd "$(dirname "$0")/../.." && go build -o "$tmp/johnlocke" .)
	BIN=$tmp/johnlocke
fi
TICK=$(getconf CLK_TCK)

head -c 20000 /dev/urandom | od -An -tx1 -v | tr -d ' \n' | fold -w 40 | head -n 1000 >"$tmp/hashes"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/secret"
chmod 600 "$tmp/secret"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { awk -v k="$1=" '{for (i = 1; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1)}' <<<"$2"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { # metric STATUS_ADDR NAME: the value, 0 when absent
	curl -s "http://$1/metrics" | awk -v n="$2" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}

# start NAME ARGS...: serve in the background; sets PID, HTTP, UDP, STATUS.
# --http-keepalive on: the keep-alive row stands for a reverse proxy's
# connections, which a node behind one keeps (--trusted-proxy).
start() {
	local name=$1 log=$tmp/$1.log n line
	shift
	: >"$log"
	"$BIN" serve --db "$tmp/$name.db" --http 127.0.0.1:0 --udp 127.0.0.1:0 --status 127.0.0.1:0 \
		--locked=false --max-torrents-per-ip 0 --http-keepalive on --log-file "$log" "$@" &
	PID=$!
	pids+=("$PID")
	for ((n = 0; n < 200; n++)); do
		grep -q '"johnlocke is serving"' "$log" && break
		sleep 0.05
	done
	line=$(grep '"johnlocke is serving"' "$log" | tail -1) || { echo "$name did not start" >&2; tail -5 "$log" >&2; exit 1; }
	HTTP=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' <<<"$line")
	UDP=$(sed -n 's/.*"udp":"\([^"]*\)".*/\1/p' <<<"$line")
	STATUS=$(sed -n 's/.*"status":"\([^"]*\)".*/\1/p' <<<"$line")
}

printf '%-8s %-15s %12s %14s %14s %10s %10s\n' cluster protocol "answers/s" "x µs/announce" "y µs/announce" "x sent" "y applied"
for mode in $MODES; do
	rm -f "$tmp"/*.db
	ypid="" ystatus=""
	if [ "$mode" = on ]; then
		px=$(free_port) py=$(free_port)
		start y --node-name y --cluster-secret-file "$tmp/secret" --cluster-listen "127.0.0.1:$py" --cluster-peer "127.0.0.1:$px" &&
			ypid=$PID ystatus=$STATUS
		start x --node-name x --cluster-secret-file "$tmp/secret" --cluster-listen "127.0.0.1:$px" --cluster-peer "127.0.0.1:$py"
	else
		start x
	fi
	xpid=$PID xhttp=$HTTP xudp=$UDP xstatus=$STATUS
	if [ -n "$ypid" ]; then
		# y's own cost with nothing to apply (heartbeats, timers), to
		# take out of its figures below.
		y0=$(cpu_ticks "$ypid")
		sleep "$DURATION"
		echo "y idle: $(bc -l <<<"($(cpu_ticks "$ypid") - $y0) * 1000 / $TICK / $DURATION") ms of CPU per second"
	fi
	for proto in udp http-keepalive http; do
		wire=(--protocol udp --addr "$xudp")
		[ "$proto" = http-keepalive ] && wire=(--protocol http --addr "$xhttp")
		[ "$proto" = http ] && wire=(--protocol http --no-keepalive --addr "$xhttp")
		x0=$(cpu_ticks "$xpid") y0=0 s0=$(metric "$xstatus" johnlocke_cluster_changes_sent_total) a0=0
		[ -n "$ypid" ] && y0=$(cpu_ticks "$ypid") a0=$(metric "$ystatus" johnlocke_cluster_changes_applied_total)
		out=$(timeout --kill-after=5 $((DURATION + 30)) "$BIN" loadtest "${wire[@]}" --duration "${DURATION}s" \
			--concurrency 8 --torrents 1000 --peers 10000 --infohashes "$tmp/hashes" 2>&1 | tail -n 1)
		x1=$(cpu_ticks "$xpid") y1=0 s1=$(metric "$xstatus" johnlocke_cluster_changes_sent_total) a1=0
		[ -n "$ypid" ] && y1=$(cpu_ticks "$ypid") a1=$(metric "$ystatus" johnlocke_cluster_changes_applied_total)
		answers=$(field responses "$out") rate=$(field rps "$out")
		[ -n "$answers" ] && [ "$answers" -gt 0 ] || { echo "loadtest $proto: $out" >&2; exit 1; }
		printf '%-8s %-15s %12s %14.2f %14.2f %10.0f %10.0f\n' "$mode" "$proto" "$rate" \
			"$(bc -l <<<"($x1 - $x0) * 1000000 / $TICK / $answers")" \
			"$(bc -l <<<"($y1 - $y0) * 1000000 / $TICK / $answers")" \
			"$(bc -l <<<"$s1 - $s0")" "$(bc -l <<<"$a1 - $a0")"
	done
	for p in $xpid $ypid; do kill "$p"; wait "$p" 2>/dev/null || true; done
done
