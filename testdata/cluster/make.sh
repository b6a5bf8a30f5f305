#!/usr/bin/env bash
# Regenerates one-tier.torrent: a BEP 12 .torrent whose announce-list is one
# tier of two trackers, the two nodes of a cluster ([[A, B]]). A client
# shuffles a tier, announces to one tracker of it and moves on to the next
# when that one fails; since every node holds every swarm, either answers
# the same. mktorrent puts comma-separated URLs of one -a into one tier.
# -d: no creation date, so the file comes out the same every run.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/cluster-demo"
# Fixed content: the infohash is the same every run.
{ yes "johnlocke cluster demo" || true; } | head -c 40000 >"$tmp/cluster-demo/demo.txt"
rm -f one-tier.torrent
mktorrent -d -l 15 -a "http://tracker-a.example.net:6969/announce,http://tracker-b.example.net:6969/announce" \
  -o one-tier.torrent "$tmp/cluster-demo" >/dev/null
