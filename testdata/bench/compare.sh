#!/usr/bin/env bash
# compare.sh: johnlocke and opentracker side by side on loopback.
#
# Runs each tracker in turn, pinned to the same CPUs, under the same load
# from `johnlocke loadtest` (pinned to other CPUs): the same infohashes, the
# same simulated peers (same seed), the same durations. For each workload
# (torrents and peers), tracker and protocol it measures
#   - peak answers per second (as fast as the tracker answers), the
#     tracker's CPU use during that run, and the tracker's CPU time per
#     announce (utime+stime from /proc over the run, divided by the
#     answers: what the tracker costs per announce, whatever limited the
#     run),
#   - at a fixed everyday rate (FIXED_HTTP_RATE, FIXED_UDP_RATE), the same
#     for every tracker: CPU time per announce, p50 and p99 latency, in
#     ROUNDS rounds (below),
#   - optionally (HALF_PEAK=1) p99 at half of that tracker's own peak and at
#     opentracker's half peak,
# and, loading MEM_PEERS peers over MEM_TORRENTS torrents over UDP, the
# tracker's resident memory before and after (VmRSS, once it has settled) and so
# bytes per peer, and its peak (VmHWM).
# It prints a table with johnlocke/opentracker ratios.
#
# Rounds: on this kind of machine (a shared VM) one tracker's figures move
# by a third from one minute to the next, so one run a tracker, minutes
# from the other trackers' runs, can make either look better. The
# fixed-rate runs are therefore taken in rounds: in each round every
# tracker runs once, in turn, its runs a few seconds apart; the order
# rotates from round to round. A tracker's fixed-rate figure is its median
# over the rounds; its ratio to opentracker is the median of the ratios
# taken within each round, printed with their range ("0.52 0.47-0.61").
# Each fixed-rate run gets a fresh tracker, warmed by announcing every
# peer once over UDP (as the peak runs leave it) and left to settle, so
# that no tracker's leftover work (johnlocke's write-behind, its memory
# trim) falls into another's run.
#
# Protocols: "http" is one new TCP connection per announce (--no-keepalive),
# as clients on the internet announce (minutes apart, past any idle
# timeout; opentracker does not keep connections alive): the headline HTTP
# rows: each request says "Connection: close", as libtorrent's do.
# "http-clientcloses" is a new connection per announce too, but sent as
# keep-alive and closed by the client after the answer, as aria2's and
# other libcurl users' are. "http-keepalive" reuses each worker's
# connection, as a reverse proxy with upstream keep-alive does; johnlocke,
# whose default (--http-keepalive proxies) keeps only trusted proxies'
# connections, runs with --http-keepalive on for it, as it treats a
# proxy's. "udp" is BEP 15.
#
# Registration: opentracker (Debian's build is whitelist-only) gets the
# infohash list as its whitelist; johnlocke runs with --locked=false
# --max-torrents-per-ip 0 (a load run registers up to 100,000 torrents from
# a few loopback addresses, past the default per-address share), so
# the same infohashes register on their first announce. (Importing
# .torrent files would do the same slower; johnlocke's torrent records are
# therefore counted in its "after" memory, opentracker's whitelist in its
# "before".) johnlocke runs in `large` mode (persistence on, a fresh
# database per run) and again in `surge`.
#
# Floors: floor-kernel and floor-go (testdata/bench/floor) answer every
# announce with one fixed answer of 50 peers and do nothing else. Under
# the same load they show the least a server can spend per announce on
# this machine: floor-kernel blocks in accept4 and recvmmsg on threads of
# its own, as a C server would, so its cost is the kernel's; floor-go
# waits in Go's network poller, as johnlocke does. A tracker's distance
# from them is its own work. They run the udp, http and http-clientcloses
# rows only (they close every connection), and no memory run.
#
# Knobs (environment variables, defaults in brackets):
#   TRACKERS      trackers to run
#                 ["opentracker johnlocke-large johnlocke-surge floor-kernel floor-go"]
#   PROTOCOLS     ["udp http http-clientcloses http-keepalive"]
#   WORKLOADS     torrents:peers pairs for the throughput runs
#                 ["10000:200000 1000:100000"]
#   CONCURRENCY   load generator workers (UDP sockets, HTTP connections) [16]
#   FIXED_UDP_CONCURRENCY  UDP workers in the fixed-rate runs [16]: at
#                 40,000/s each of 16 workers sends one announce every
#                 400 us, on its own, as independent clients do. With
#                 fewer, each worker's interval falls under the load
#                 generator's 250 us and it sends its announces in groups
#                 of up to 8 (4 workers: 8 every 200 us), which the tracker
#                 then reads in batches that everyday traffic does not give
#                 it (johnlocke's CPU per announce looked half of
#                 opentracker's with 4 workers, 0.85 of it with 16)
#   UDP_PACED_CONCURRENCY  UDP workers in the half-peak runs [4]: at
#                 a fast tracker's half peak, 16 paced UDP workers' own
#                 scheduling set much of the p99 they report (0.65-0.73 ms
#                 against 0.28-0.31 ms with 4 workers, at 147,000/s against
#                 the same surge tracker)
#   FIXED_HTTP_RATE  announces/s of the fixed-rate HTTP runs [10000]
#   FIXED_UDP_RATE   announces/s of the fixed-rate UDP runs [40000]
#   DURATION      seconds per throughput or fixed-rate run [10]
#   REPEAT        peak runs per tracker and protocol; the best counts [2]
#   ROUNDS        rounds of fixed-rate runs (see Rounds) [3]
#   SETTLE        seconds between a fixed-rate run's warm-up and the run [7]
#   HALF_PEAK     1 adds the half-peak runs of earlier versions [0]
#   MEM_TORRENTS  infohashes for the memory run [100000]
#   MEM_PEERS     peers loaded in the memory run [1000000]
#   MEM_DURATION  upper bound in seconds on the memory run [180]
#   SKIP_MEMORY   1 skips the memory runs [0]
#   TRACKER_CPUS  taskset CPU list for the trackers [0]
#   LOADGEN_CPUS  taskset CPU list for the load generator [1]
#   SEED          workload seed (infohashes and peers) [1]
#   OPENTRACKER   opentracker binary [/usr/bin/opentracker]
#   JOHNLOCKE     a johnlocke binary to use instead of building this checkout
#   LOADGEN       load generator command [the johnlocke binary + " loadtest"]
#   KEEP          1 keeps the work directory (logs, lists) [0]
#
# With the defaults a run takes about an hour: per workload, tracker and
# protocol REPEAT+ROUNDS runs of DURATION (and a warm-up and SETTLE before
# each fixed-rate one), then the memory runs.
#
# Every run is bounded by timeout(1); the trap stops only the processes
# this script started and removes its work directory.
set -euo pipefail

: "${TRACKERS:=opentracker johnlocke-large johnlocke-surge floor-kernel floor-go}"
: "${PROTOCOLS:=udp http http-clientcloses http-keepalive}"
: "${WORKLOADS:=10000:200000 1000:100000}"
: "${CONCURRENCY:=16}"
: "${FIXED_UDP_CONCURRENCY:=16}"
: "${UDP_PACED_CONCURRENCY:=4}"
: "${FIXED_HTTP_RATE:=10000}"
: "${FIXED_UDP_RATE:=40000}"
: "${DURATION:=10}"
: "${REPEAT:=2}"
: "${ROUNDS:=3}"
: "${SETTLE:=7}"
: "${HALF_PEAK:=0}"
: "${MEM_TORRENTS:=100000}"
: "${MEM_PEERS:=1000000}"
: "${MEM_DURATION:=180}"
: "${SKIP_MEMORY:=0}"
: "${TRACKER_CPUS:=0}"
: "${LOADGEN_CPUS:=1}"
: "${SEED:=1}"
: "${OPENTRACKER:=/usr/bin/opentracker}"
: "${KEEP:=0}"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/johnlocke-compare.XXXXXX")
log="$tmp/compare.log"
pids=() # what this script started and has not stopped: timeout(1) wrappers, the build

# alive PID: the process runs (an exited child not yet waited for is a
# zombie, which kill -0 still finds).
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z ]]
}

cleanup() {
	local pid i
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for ((i = 0; i < 100; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	if [[ $KEEP == 1 ]]; then
		echo "work directory kept: $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# forget PID drops a process this script has waited for from pids, so the
# trap never signals a pid the system may have reused.
forget() {
	local keep=() p
	for p in "${pids[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	pids=("${keep[@]}")
}

say() { printf '== %s\n' "$*" >&2; }
die() {
	printf 'compare.sh: %s\n' "$*" >&2
	exit 1
}

for tool in taskset timeout awk pgrep getconf; do
	command -v "$tool" >/dev/null || die "needs $tool"
done
[[ " $TRACKERS " != *" opentracker "* || -x $OPENTRACKER ]] || die "no opentracker at $OPENTRACKER"
[[ $DURATION =~ ^[0-9]+$ && $MEM_DURATION =~ ^[0-9]+$ && $REPEAT =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ && $SETTLE =~ ^[0-9]+$ ]] ||
	die "DURATION, MEM_DURATION and SETTLE are whole seconds, REPEAT and ROUNDS counts"
[[ $FIXED_HTTP_RATE =~ ^[1-9][0-9]*$ && $FIXED_UDP_RATE =~ ^[1-9][0-9]*$ ]] || die "FIXED_HTTP_RATE and FIXED_UDP_RATE are rates per second"
for wl in $WORKLOADS; do
	[[ $wl =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || die "WORKLOADS: $wl is not torrents:peers"
done
for proto in $PROTOCOLS; do
	[[ $proto == udp || $proto == http || $proto == http-clientcloses || $proto == http-keepalive ]] || die "PROTOCOLS: unknown $proto"
done
clk_tck=$(getconf CLK_TCK)

# --- johnlocke and the load generator -------------------------------------------
if [[ -n ${JOHNLOCKE:-} ]]; then
	[[ -x $JOHNLOCKE ]] || die "JOHNLOCKE=$JOHNLOCKE is not an executable"
	cp -- "$JOHNLOCKE" "$tmp/johnlocke"
else
	say "building johnlocke"
	(cd "$root" && exec timeout 600 go build -o "$tmp/johnlocke" .) &
	build=$!
	pids+=("$build")
	wait "$build" || die "go build failed"
	forget "$build"
fi
if [[ " $TRACKERS " == *" floor-"* ]]; then
	command -v go >/dev/null || die "needs go to build the floor servers (or leave floor-* out of TRACKERS)"
	say "building the floor server"
	(cd "$root" && exec timeout 600 go build -o "$tmp/floor" ./testdata/bench/floor) &
	build=$!
	pids+=("$build")
	wait "$build" || die "go build of testdata/bench/floor failed"
	forget "$build"
fi
if [[ -n ${LOADGEN:-} ]]; then
	read -r -a loadgen <<<"$LOADGEN"
	if [[ ${loadgen[0]} == */* && ${loadgen[0]} != /* ]]; then
		loadgen[0]="$PWD/${loadgen[0]}"
	fi
else
	loadgen=("$tmp/johnlocke" loadtest)
fi
cd "$tmp" # nothing below writes elsewhere
# The help is read whole before it is looked at: with pipefail, grep -q
# leaving the pipe at the first match could fail the load generator with
# SIGPIPE, and with it the test.
has_requests=0
lg_help=$(timeout 10 "${loadgen[@]}" --help 2>&1 || true)
if [[ $lg_help == *--requests* ]]; then
	has_requests=1
fi

# --- infohashes -----------------------------------------------------------
# hashes N FILE writes N distinct 40-hex infohashes derived from SEED.
hashes() {
	awk -v n="$1" -v s="$SEED" 'BEGIN {
		srand(s)
		for (i = 0; i < n; i++) {
			h = ""
			for (j = 0; j < 10; j++) h = h sprintf("%04x", int(rand() * 65536))
			print h
		}
	}' >"$2"
	[[ $(sort -u "$2" | wc -l) -eq $1 ]] || die "duplicate infohashes in $2; change SEED"
}
for wl in $WORKLOADS; do
	[[ -e $tmp/hashes-${wl%%:*}.txt ]] || hashes "${wl%%:*}" "$tmp/hashes-${wl%%:*}.txt"
done
if [[ $SKIP_MEMORY != 1 ]]; then
	hashes "$MEM_TORRENTS" "$tmp/hashes-mem.txt"
fi

# --- helpers --------------------------------------------------------------
# free_port prints a port nothing on this host listens on (TCP or UDP).
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 40000))
		if ! command -v ss >/dev/null; then
			echo "$p"
			return
		fi
		if ! ss -Htuanl 2>/dev/null | awk '{print $5}' | grep -q ":$p\$"; then
			echo "$p"
			return
		fi
	done
	die "no free port"
}

# http_get PORT TARGET prints the raw HTTP/1.0 answer.
http_get() {
	timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$1" >&3 && cat <&3' "$1" "$2" 2>/dev/null || true
}

# start_tracker NAME PORT HASHES LIFE [JOHNLOCKE_ARGS...] starts a tracker
# pinned to TRACKER_CPUS, bounded to LIFE seconds, and waits until it
# answers an announce for the first infohash. Sets tracker_pid (the tracker
# itself, for /proc) and tracker_wrap (its timeout wrapper, to stop it).
start_tracker() {
	local name=$1 port=$2 list=$3 life=$4 dir="$tmp/$1-$2"
	shift 4
	mkdir -p "$dir"
	case $name in
	opentracker)
		# It chroots into -d and drops to -u, so the whitelist is named
		# relative to the directory and must be readable by nobody.
		chmod 755 "$dir"
		cp "$list" "$dir/whitelist"
		chmod 644 "$dir/whitelist"
		local args=(-i 127.0.0.1 -p "$port" -P "$port" -d "$dir" -w whitelist)
		if [[ $EUID -eq 0 ]]; then
			args+=(-u nobody)
		fi
		(cd "$dir" && exec timeout --kill-after=5 "$life" taskset -c "$TRACKER_CPUS" "$OPENTRACKER" "${args[@]}") \
			>"$dir/log" 2>&1 &
		;;
	johnlocke-*)
		(exec timeout --kill-after=5 "$life" taskset -c "$TRACKER_CPUS" "$tmp/johnlocke" serve \
			--db "$dir/johnlocke.db" --http "127.0.0.1:$port" --udp "127.0.0.1:$port" \
			--mode "${name#johnlocke-}" --locked=false --max-torrents-per-ip 0 --status '' "$@") >"$dir/log" 2>&1 &
		;;
	floor-kernel | floor-go)
		(exec timeout --kill-after=5 "$life" taskset -c "$TRACKER_CPUS" "$tmp/floor" -mode "${name#floor-}" \
			-http "127.0.0.1:$port" -udp "127.0.0.1:$port") >"$dir/log" 2>&1 &
		;;
	*) die "unknown tracker $name" ;;
	esac
	tracker_wrap=$!
	pids+=("$tracker_wrap")
	tracker_pid=
	local i first probe
	first=$(head -n 1 "$list" | sed 's/../%&/g')
	probe="/announce?info_hash=$first&peer_id=-JLPROBE-00000000000&port=9&uploaded=0&downloaded=0&left=0&event=stopped&numwant=0&compact=1"
	for ((i = 0; i < 100; i++)); do
		alive "$tracker_wrap" || {
			cat "$dir/log" >&2
			die "$name exited at start"
		}
		[[ -n $tracker_pid ]] || tracker_pid=$(pgrep -P "$tracker_wrap" | head -n 1 || true)
		if [[ -n $tracker_pid ]] && http_get "$port" "$probe" | grep -aq '^HTTP/1.. 200' &&
			! http_get "$port" "$probe" | grep -aq 'failure reason'; then
			return 0
		fi
		sleep 0.1
	done
	cat "$dir/log" >&2
	die "$name did not answer on port $port"
}

stop_tracker() {
	local i
	kill -TERM "$tracker_wrap" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		alive "$tracker_wrap" || break
		sleep 0.1
	done
	if alive "$tracker_wrap"; then
		kill -KILL "$tracker_wrap" 2>/dev/null || true
	fi
	wait "$tracker_wrap" 2>/dev/null || true
	forget "$tracker_wrap"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# settled_rss_kib PID: the resident set once it has stopped moving (the same
# for 4 s, sampled every half second, at most 30 s). A tracker may still be
# writing the last changes or handing freed memory back when its load ends
# (johnlocke writes the last announces' counters within --flush-interval,
# 5 s, and then gives the flush's memory back); what an operator's server
# holds is the figure after that.
settled_rss_kib() {
	local pid=$1 i same=0 last=-1 now
	for ((i = 0; i < 60; i++)); do
		sleep 0.5
		now=$(rss_kib "$pid")
		if [[ $now == "$last" ]]; then
			same=$((same + 1))
			((same < 8)) || break
		else
			same=0 last=$now
		fi
	done
	echo "$now"
}

# loadtest SECONDS PROTO PORT ARGS... runs the load generator, bounded, and
# sets line to its last line (Report.Line). It runs in the background and
# is waited for, so that a signal reaches the trap at once.
loadtest() {
	local secs=$1 proto=$2 port=$3 out="$tmp/loadtest.out" lpid
	shift 3
	local wire=(--protocol "$proto")
	case $proto in
	http) wire=(--protocol http --no-keepalive) ;;
	http-clientcloses) wire=(--protocol http --client-closes) ;;
	http-keepalive) wire=(--protocol http) ;;
	esac
	timeout --kill-after=5 $((secs + 60)) taskset -c "$LOADGEN_CPUS" "${loadgen[@]}" \
		--addr "127.0.0.1:$port" "${wire[@]}" --concurrency "$CONCURRENCY" \
		--duration "${secs}s" --seed "$SEED" "$@" >"$out" 2>&1 &
	lpid=$!
	pids+=("$lpid")
	if ! wait "$lpid"; then
		cat "$out" >&2
		die "loadtest $proto against port $port failed"
	fi
	forget "$lpid"
	{
		echo "--- loadtest $proto $* against $port"
		cat "$out"
	} >>"$log"
	line=$(tail -n 1 "$out")
}

# field KEY LINE prints KEY's value from a Report.Line.
field() {
	awk -v k="$1" '{ for (i = 2; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) { print substr($i, n + 1); exit } } }' <<<"$2"
}

declare -A R # results: R[tracker,metric]

check_errors() { # NAME LINE
	local e
	e=$(field errors "$2")
	if [[ $e != 0 ]]; then
		say "warning: $1: $e errors (see $log): $2"
	fi
}

# --- throughput and latency -----------------------------------------------
# us_per TICKS ANSWERS: tracker CPU microseconds per answer.
us_per() {
	awk -v c="$1" -v h="$clk_tck" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", c / h * 1e6 / n; else print "-" }'
}
ratio() { # A B: A/B, or - when either is missing
	awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

# median V...: the middle value (the mean of the two middle ones when even).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# fixed_rounds: the fixed-rate runs of workload wl and protocol proto, in
# ROUNDS rounds (see Rounds at the top). Uses fixed, everyday, torrents,
# peers and hashes as the throughput loop set them.
fixed_rounds() {
	local ts=() t round i n k port metric vals ratios jl warm=()
	if ((has_requests)); then
		warm=(--requests "$peers")
	fi
	for t in $TRACKERS; do
		[[ $t != floor-* || $proto != http-keepalive ]] && ts+=("$t")
	done
	n=${#ts[@]}
	for ((round = 1; round <= ROUNDS; round++)); do
		for ((i = 0; i < n; i++)); do
			t=${ts[(i + round - 1) % n]}
			k="$t,$wl.$proto"
			port=$(free_port)
			say "$t $proto, $torrents torrents and $peers peers: round $round of $ROUNDS, ${fixed}/s for ${DURATION}s (port $port)"
			jl=()
			[[ $proto != http-keepalive ]] || jl=(--http-keepalive on)
			start_tracker "$t" "$port" "$hashes" $((2 * DURATION + SETTLE + 180)) "${jl[@]}"
			# Every peer announces once, as the peak runs leave a tracker;
			# then the tracker gets SETTLE seconds to do what follows a
			# burst (johnlocke writes it behind within --flush-interval,
			# 5 s, and then trims its memory), as one that has been
			# running would have done.
			loadtest "$DURATION" udp "$port" --peers "$peers" --infohashes "$hashes" "${warm[@]}"
			sleep "$SETTLE"
			c0=$(cpu_ticks "$tracker_pid")
			loadtest "$DURATION" "$proto" "$port" --peers "$peers" --infohashes "$hashes" --rate "$fixed" "${everyday[@]}"
			c1=$(cpu_ticks "$tracker_pid")
			check_errors "$t $proto fixed, round $round" "$line"
			R[$k.fixedrps.$round]=$(field rps "$line")
			R[$k.fixedusper.$round]=$(us_per $((c1 - c0)) "$(field responses "$line")")
			R[$k.p50fixed.$round]=$(field p50_us "$line")
			R[$k.p99fixed.$round]=$(field p99_us "$line")
			stop_tracker
		done
	done
	for t in "${ts[@]}"; do
		k="$t,$wl.$proto"
		for metric in fixedrps fixedusper p50fixed p99fixed; do
			vals=() ratios=()
			for ((round = 1; round <= ROUNDS; round++)); do
				vals+=("${R[$k.$metric.$round]}")
				if [[ -n ${R[opentracker,$wl.$proto.$metric.$round]:-} ]]; then
					ratios+=("$(ratio "${R[$k.$metric.$round]}" "${R[opentracker,$wl.$proto.$metric.$round]}")")
				fi
			done
			R[$k.$metric]=$(median "${vals[@]}")
			if ((${#ratios[@]} > 0)); then
				R[$k.$metric.ratio]="$(median "${ratios[@]}") $(printf '%s\n' "${ratios[@]}" | sort -g | sed -n '1p;$p' | paste -sd-)"
			fi
		done
	done
}

for wl in $WORKLOADS; do
	torrents=${wl%%:*} peers=${wl##*:} hashes="$tmp/hashes-${wl%%:*}.txt"
	for proto in $PROTOCOLS; do
		fixed=$FIXED_HTTP_RATE everyday=() paced=()
		if [[ $proto == udp ]]; then
			fixed=$FIXED_UDP_RATE everyday=(--concurrency "$FIXED_UDP_CONCURRENCY") paced=(--concurrency "$UDP_PACED_CONCURRENCY")
		fi
		for t in $TRACKERS; do
			[[ $t != floor-* || $proto != http-keepalive ]] || continue
			k="$t,$wl.$proto"
			port=$(free_port)
			say "$t $proto, $torrents torrents and $peers peers: best peak of $REPEAT runs of ${DURATION}s (port $port)"
			jl=()
			[[ $proto != http-keepalive ]] || jl=(--http-keepalive on)
			start_tracker "$t" "$port" "$hashes" $(((REPEAT + 4) * (DURATION + 60) + 60)) "${jl[@]}"
			best=0
			for ((rep = 1; rep <= REPEAT; rep++)); do
				c0=$(cpu_ticks "$tracker_pid")
				w0=$(date +%s.%N)
				loadtest "$DURATION" "$proto" "$port" --peers "$peers" --infohashes "$hashes"
				c1=$(cpu_ticks "$tracker_pid")
				w1=$(date +%s.%N)
				check_errors "$t $proto peak" "$line"
				rps=$(field rps "$line")
				((${rps%.*} > best)) || continue
				best=${rps%.*}
				R[$k.rps]=$rps
				R[$k.p99peak]=$(field p99_us "$line")
				R[$k.cpu]=$(awk -v c=$((c1 - c0)) -v h="$clk_tck" -v a="$w0" -v b="$w1" 'BEGIN { printf "%.0f", 100 * c / h / (b - a) }')
				R[$k.usper]=$(us_per $((c1 - c0)) "$(field responses "$line")")
			done
			half=$((best / 2))
			if [[ $HALF_PEAK == 1 ]] && ((half > 0)); then
				loadtest "$DURATION" "$proto" "$port" --peers "$peers" --infohashes "$hashes" --rate "$half" "${paced[@]}"
				check_errors "$t $proto half" "$line"
				R[$k.p99half]=$(field p99_us "$line")
				R[$k.halfrps]=$(field rps "$line")
				# The same absolute rate for every tracker: opentracker's
				# half peak (opentracker must come first in TRACKERS).
				common=${R[opentracker,$wl.$proto.halfrps]:-}
				common=${common%.*}
				if [[ $t == opentracker ]]; then
					R[$k.p99common]=${R[$k.p99half]:-}
				elif [[ -n $common ]]; then
					loadtest "$DURATION" "$proto" "$port" --peers "$peers" --infohashes "$hashes" --rate "$common" "${paced[@]}"
					check_errors "$t $proto common" "$line"
					R[$k.p99common]=$(field p99_us "$line")
				fi
			fi
			stop_tracker
		done
		fixed_rounds
	done
done

# --- memory -----------------------------------------------------------------
if [[ $SKIP_MEMORY != 1 ]]; then
	count=()
	if ((has_requests)); then
		count=(--requests "$MEM_PEERS")
	else
		say "the load generator has no --requests: loading for MEM_DURATION=${MEM_DURATION}s instead (peers churn a little)"
	fi
	for t in $TRACKERS; do
		[[ $t != floor-* ]] || continue
		port=$(free_port)
		say "$t memory: $MEM_PEERS peers over $MEM_TORRENTS torrents over UDP (port $port)"
		start_tracker "$t" "$port" "$tmp/hashes-mem.txt" $((MEM_DURATION + 240))
		sleep 1
		r0=$(rss_kib "$tracker_pid")
		loadtest "$MEM_DURATION" udp "$port" --peers "$MEM_PEERS" --infohashes "$tmp/hashes-mem.txt" "${count[@]}"
		check_errors "$t memory" "$line"
		r1=$(settled_rss_kib "$tracker_pid")
		R[$t,hwm]=$(hwm_kib "$tracker_pid")
		loaded=$(field responses "$line")
		if ((loaded > MEM_PEERS)); then
			loaded=$MEM_PEERS
		fi
		if ((loaded < MEM_PEERS)); then
			say "warning: $t: only $loaded of $MEM_PEERS peers announced; raise MEM_DURATION"
		fi
		R[$t,rss0]=$r0
		R[$t,rss1]=$r1
		R[$t,loaded]=$loaded
		R[$t,bpp]=$(awk -v a="$r0" -v b="$r1" -v n="$loaded" 'BEGIN { printf "%.1f", (n > 0 ? (b - a) * 1024 / n : 0) }')
		stop_tracker
	done
fi

# --- report -----------------------------------------------------------------
others=()
for t in $TRACKERS; do
	[[ $t == opentracker ]] || others+=("$t")
done

{
	echo
	echo "johnlocke vs opentracker on loopback, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "trackers on CPU $TRACKER_CPUS, load generator on CPU $LOADGEN_CPUS; $CONCURRENCY workers ($FIXED_UDP_CONCURRENCY in fixed-rate UDP runs, $UDP_PACED_CONCURRENCY in half-peak ones);" \
		"best of $REPEAT peak runs of ${DURATION}s; fixed rates ${FIXED_HTTP_RATE}/s HTTP, ${FIXED_UDP_RATE}/s UDP, median of $ROUNDS rounds; seed $SEED"
	echo "http: a new TCP connection per announce, asking to be closed (as libtorrent's); http-clientcloses: the same sent as keep-alive, closed by the client (as aria2's); http-keepalive: each worker's connection reused (as behind a reverse proxy; johnlocke with --http-keepalive on)"
	header=$(printf '%-48s' metric)
	for t in $TRACKERS; do
		header+=$(printf ' %16s' "$t")
	done
	if [[ " $TRACKERS " == *" opentracker "* ]]; then
		for t in "${others[@]}"; do
			header+=$(printf ' %16s' "${t#johnlocke-}/ot")
		done
	fi
	row() { # LABEL KEY
		local t out
		out=$(printf '%-48s' "$1")
		for t in $TRACKERS; do
			out+=$(printf ' %16s' "${R[$t,$2]:--}")
		done
		if [[ " $TRACKERS " == *" opentracker "* ]]; then
			for t in "${others[@]}"; do
				# A fixed-rate row carries the median of its rounds' ratios.
				out+=$(printf ' %16s' "${R[$t,$2.ratio]:-$(ratio "${R[$t,$2]:-}" "${R[opentracker,$2]:-}")}")
			done
		fi
		echo "$out"
	}
	for wl in $WORKLOADS; do
		echo
		echo "${wl%%:*} torrents, ${wl##*:} peers"
		echo "$header"
		for proto in $PROTOCOLS; do
			fixed=$FIXED_HTTP_RATE
			[[ $proto != udp ]] || fixed=$FIXED_UDP_RATE
			row "$proto peak answers/s" "$wl.$proto.rps"
			row "$proto tracker CPU % at peak" "$wl.$proto.cpu"
			row "$proto tracker CPU us/announce, peak" "$wl.$proto.usper"
			row "$proto p99 us at peak" "$wl.$proto.p99peak"
			row "$proto answers/s at ${fixed}/s" "$wl.$proto.fixedrps"
			row "$proto tracker CPU us/announce, ${fixed}/s" "$wl.$proto.fixedusper"
			row "$proto p50 us at ${fixed}/s" "$wl.$proto.p50fixed"
			row "$proto p99 us at ${fixed}/s" "$wl.$proto.p99fixed"
			if [[ $HALF_PEAK == 1 ]]; then
				row "$proto answers/s at half peak" "$wl.$proto.halfrps"
				row "$proto p99 us at half peak" "$wl.$proto.p99half"
				row "$proto p99 us at ot's half peak" "$wl.$proto.p99common"
			fi
		done
	done
	if [[ $SKIP_MEMORY != 1 ]]; then
		echo
		echo "memory: $MEM_PEERS peers over $MEM_TORRENTS torrents, over UDP"
		echo "$header"
		row "peers loaded (memory run)" loaded
		row "RSS KiB before" rss0
		row "RSS KiB after (settled)" rss1
		row "peak RSS KiB (VmHWM)" hwm
		row "bytes per peer" bpp
	fi
	echo
	echo "ratio = johnlocke / opentracker: higher is better for answers, lower for CPU us, p50, p99 and bytes."
	echo "Rows at a fixed rate: medians of $ROUNDS rounds; their ratio is the median of the ratios within each round, then their range."
	if [[ " $TRACKERS " == *" floor-"* ]]; then
		echo "floor-kernel and floor-go answer every announce with the same fixed answer and do nothing else: the least the kernel"
		echo "takes per announce, and the kernel with Go's network poller (testdata/bench/floor); floor/ot is that least against opentracker."
	fi
	echo "A tracker below ~90% CPU at peak was held back by the load generator or the machine;"
	echo "its CPU us per announce still compares the trackers' cost per announce."
} | tee -a "$log"
