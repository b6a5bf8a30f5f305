#!/bin/sh
# make.sh regenerates the .torrent fixtures in this directory (see README.md).
#
# Needs Debian's mktorrent (v1 torrents) and python3-libtorrent 2.0 (v2-only and
# hybrid torrents, the hand-built broken files, and the expected infohashes),
# run with Debian's /usr/bin/python3. Usage, from anywhere:
#
#     sh testdata/torrents/make.sh
#
# The payloads are written from fixed text into a temporary directory and no
# dates go into the files, so every run produces the same info dictionaries and
# therefore the same infohashes (the ones README.md lists and the tests expect).
# At the end it prints each file's infohashes as libtorrent computes them: an
# independent cross-check of store/metainfo, not something derived from it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
announce=http://127.0.0.1:6969/announce
py=/usr/bin/python3

# fill FILE BYTES TEXT writes BYTES bytes of TEXT repeated line after line.
fill() {
	mkdir -p "$(dirname "$1")"
	yes "$3" | head -c "$2" >"$1"
}

fill "$work/single/hello.txt" 5000 "johnlocke single-file payload"
fill "$work/multi/album/a.txt" 3000 "johnlocke multi a"
fill "$work/multi/album/b.txt" 7000 "johnlocke multi b"
fill "$work/multi/album/sub/c.txt" 40000 "johnlocke multi sub c"
fill "$work/private/secret.txt" 4096 "johnlocke private payload"
fill "$work/v2/v2album/one.txt" 20000 "johnlocke v2 one"
fill "$work/v2/v2album/deep/two.txt" 6000 "johnlocke v2 two"
fill "$work/hybrid/hybridalbum/x.txt" 3000 "johnlocke hybrid x"
fill "$work/hybrid/hybridalbum/y.txt" 20000 "johnlocke hybrid y"
fill "$work/hybrid/hybridalbum/sub/z.txt" 5000 "johnlocke hybrid z"

# mktorrent refuses to overwrite, and -d leaves out the creation date.
mk() {
	out="$here/$1"
	shift
	rm -f "$out"
	mktorrent -d -l 15 -a "$announce" -o "$out" "$@" >/dev/null
}
mk v1-single.torrent "$work/single/hello.txt"
mk v1-multi.torrent "$work/multi/album"
mk v1-private.torrent -p "$work/private/secret.txt"

"$py" - "$here" "$work" "$announce" <<'PY'
import os, sys
import libtorrent as lt

here, work, announce = sys.argv[1:4]

def make(parent, name, out, flags):
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(parent, name))
    # 16 KiB is the smallest piece size BEP 52 allows.
    ct = lt.create_torrent(fs, 16384, flags=flags)
    ct.add_tracker(announce)
    ct.set_creator("johnlocke testdata/torrents/make.sh")
    lt.set_piece_hashes(ct, parent)
    e = ct.generate()
    e.pop(b"creation date", None)  # outside info, but keeps the file stable
    with open(os.path.join(here, out), "wb") as f:
        f.write(lt.bencode(e))

make(os.path.join(work, "v2"), "v2album", "v2-only.torrent", lt.create_torrent.v2_only)
make(os.path.join(work, "hybrid"), "hybridalbum", "hybrid.torrent", 0)  # 0 = hybrid in 2.0

def write(out, data):
    with open(os.path.join(here, out), "wb") as f:
        f.write(data)

# A well-formed dictionary that simply has no info key.
write("broken-no-info.torrent", lt.bencode({b"announce": announce.encode(), b"comment": b"no info here"}))
# v1 info whose pieces string is 19 bytes: not a whole number of SHA-1 hashes.
write("broken-bad-pieces.torrent", lt.bencode({b"announce": announce.encode(), b"info": {
    b"name": b"bad.txt", b"length": 5000, b"piece length": 32768, b"pieces": b"\x01" * 19}}))
PY

# A valid file cut in half, and something that is not bencode at all.
full=$(wc -c <"$here/v1-single.torrent")
head -c $((full / 2)) "$here/v1-single.torrent" >"$here/broken-truncated.torrent"
printf 'This is a plain text file, not a torrent.\n' >"$here/broken-not-bencode.torrent"

"$py" - "$here" <<'PY'
import os, sys
import libtorrent as lt

here = sys.argv[1]
for name in sorted(os.listdir(here)):
    if not name.endswith(".torrent") or name.startswith("broken-"):
        continue
    ti = lt.torrent_info(os.path.join(here, name))
    ih = ti.info_hashes()
    v1 = str(ih.v1) if ih.has_v1() else "-"
    v2 = str(ih.v2) if ih.has_v2() else "-"
    print(f"{name}\tv1={v1}\tv2={v2}\tname={ti.name()}\tfiles={ti.num_files()}\tsize={ti.total_size()}\tpriv={ti.priv()}")
PY
