#!/usr/bin/env bash
# quickstart.sh: run the README's Quick start as written, in order, on a
# fresh copy of this checkout (its tracked files, as a clone would have
# them), and fail if any command fails.
#
#   bash testdata/quickstart.sh
#
# It takes the ```sh blocks under "## Quick start" in README.md and runs
# their lines one by one in the copy. A line that starts a server
# (`go run . serve ...` or `./johnlocke serve ...`) runs in the background,
# in its own process group, until it logs "johnlocke is serving"; the next
# server line, and the end of the script, stop it with SIGINT to the group,
# as Ctrl-C does, and it must stop cleanly: exit 0, or, under `go run`
# (which exits 1 whenever it was interrupted, whatever its child did), log
# no error. Every wait is bounded (QS_TIMEOUT seconds,
# default 300, enough for `go run` to compile on a slow machine).
#
# The Quick start uses the default port 6969. Run as root, the script puts
# itself in a new network namespace (unshare -n) so that port is its own
# and nothing leaves loopback; otherwise 6969 must be free.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TIMEOUT=${QS_TIMEOUT:-300}
export PATH="/usr/local/go/bin:$PATH"

if [ "$(id -u)" = 0 ] && [ -z "${JL_QS_NETNS:-}" ] && command -v unshare >/dev/null &&
  unshare -n true 2>/dev/null; then
  exec unshare -n env JL_QS_NETNS=1 bash "$0" "$@"
fi
if [ -n "${JL_QS_NETNS:-}" ]; then
  ip link set lo up
  # No network in here: modules come from the module cache or not at all.
  export GOPROXY=off GOTOOLCHAIN=local
fi

WORK=$(mktemp -d)
SERVER_PID="" SERVER_CMD=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -KILL -- "-$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A fresh clone: the tracked files of this checkout, as they are on disk.
git -C "$ROOT" ls-files -z | (cd "$ROOT" && tar --null -T - -cf -) | tar -xf - -C "$WORK"
mkdir -p "$WORK/.qs"

# The Quick start's command lines, one a line, continuation lines joined.
awk '
  /^## / { in_qs = ($0 == "## Quick start") ; next }
  in_qs && /^```sh$/ { in_block = 1; next }
  in_qs && in_block && /^```$/ { in_block = 0; next }
  in_qs && in_block {
    line = line $0
    if (line ~ /\\$/) { sub(/\\$/, "", line); next }
    if (line !~ /^[[:space:]]*(#|$)/) print line
    line = ""
  }
' "$ROOT/README.md" >"$WORK/.qs/commands"
if [ ! -s "$WORK/.qs/commands" ]; then
  echo "quickstart: no \`\`\`sh blocks under \"## Quick start\" in README.md" >&2
  exit 1
fi

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -INT -- "-$SERVER_PID" 2>/dev/null || true
  local status=0 waited=0
  # wait has no timeout: give the server TIMEOUT seconds, then kill it.
  while kill -0 "$SERVER_PID" 2>/dev/null && [ "$waited" -lt $((TIMEOUT * 10)) ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" || status=$?
  SERVER_PID=""
  if [ "$status" = 1 ] && [[ $SERVER_CMD == "go run "* ]] &&
    ! grep -q '"level":"\(error\|fatal\)"' "$WORK/.qs/server.log"; then
    status=0
  fi
  if [ "$status" != 0 ]; then
    echo "quickstart: the server exited $status after SIGINT:" >&2
    cat "$WORK/.qs/server.log" >&2
    exit 1
  fi
}

start_server() {
  local cmd=$1
  stop_server
  SERVER_CMD=$cmd
  : >"$WORK/.qs/server.log"
  (cd "$WORK" && exec setsid bash -c "exec $cmd" >"$WORK/.qs/server.log" 2>&1) &
  SERVER_PID=$!
  local waited=0
  until grep -q "johnlocke is serving" "$WORK/.qs/server.log"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "quickstart: \`$cmd\` exited before serving:" >&2
      cat "$WORK/.qs/server.log" >&2
      SERVER_PID=""
      exit 1
    fi
    if [ "$waited" -ge $((TIMEOUT * 10)) ]; then
      echo "quickstart: \`$cmd\` did not serve within ${TIMEOUT}s:" >&2
      cat "$WORK/.qs/server.log" >&2
      exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

n=0
while IFS= read -r cmd; do
  n=$((n + 1))
  echo "quickstart \$ $cmd"
  if [[ $cmd =~ ^[[:space:]]*(go\ run\ \.|\./johnlocke)\ ([^#]*\ )?serve([[:space:]]|$) ]]; then
    start_server "$cmd"
    continue
  fi
  if ! (cd "$WORK" && timeout "$TIMEOUT" bash -euo pipefail -c "$cmd") </dev/null; then
    echo "quickstart: command $n failed: $cmd" >&2
    exit 1
  fi
done <"$WORK/.qs/commands"
stop_server
echo "quickstart: all $n commands ran"
