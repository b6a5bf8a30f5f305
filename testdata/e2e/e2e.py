"""Helpers for clients.sh, run with Debian's /usr/bin/python3 (which has
python3-libtorrent):

  e2e.py infohash FILE.torrent          hex SHA-1 of the info dictionary's bytes
  e2e.py scrape ANNOUNCE_URL HEX        "complete incomplete downloaded" by
                                        HTTP (BEP 48) or UDP (BEP 15) scrape
  e2e.py freeport HOST                  a TCP and UDP port free on HOST
  e2e.py lt NAME TORRENT DIR HOST PORT  a libtorrent peer listening on
                                        HOST:PORT only, seeding what DIR
                                        holds and downloading the rest; on
                                        SIGTERM it announces "stopped" and
                                        exits. E2E_LT_DEBUG=1 logs every alert.
                                        E2E_LT_ONE_TRACKER=1 announces to one
                                        tracker per tier, the next one of the
                                        tier when it fails (BEP 12 as clients
                                        do it by default); E2E_LT_UPLOAD_LIMIT
                                        caps uploads at that many bytes/s.

Standard library only, apart from libtorrent for "lt".
"""

import hashlib
import os
import random
import signal
import socket
import struct
import sys
import time
import urllib.parse
import urllib.request


def bdecode(b, i=0):
    """Decode the value at b[i:]; return (value, end). Dictionaries are
    returned as dicts of bytes keys, and record each value's byte span under
    (key, "span") so the info dictionary can be hashed as written."""
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        out, i = [], i + 1
        while b[i:i + 1] != b"e":
            v, i = bdecode(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while b[i:i + 1] != b"e":
            k, i = bdecode(b, i)
            start = i
            v, i = bdecode(b, i)
            out[k] = v
            out[(k, "span")] = (start, i)
        return out, i + 1
    if c.isdigit():
        j = b.index(b":", i)
        n = int(b[i:j])
        return b[j + 1:j + 1 + n], j + 1 + n
    raise ValueError("bad bencode at offset %d" % i)


def infohash(path):
    raw = open(path, "rb").read()
    meta, _ = bdecode(raw)
    s, e = meta[(b"info", "span")]
    return hashlib.sha1(raw[s:e]).hexdigest()


def http_scrape(url, ih):
    base, sep, tail = url.rpartition("/announce")
    if not sep:
        raise SystemExit("cannot derive a scrape URL from " + url)
    q = "info_hash=" + urllib.parse.quote_from_bytes(ih)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(base + "/scrape" + tail + "?" + q, timeout=5) as r:
        body = r.read()
    d, _ = bdecode(body)
    if b"failure reason" in d:
        raise SystemExit("scrape failure: %r" % d[b"failure reason"])
    f = d[b"files"].get(ih)
    if f is None:
        raise SystemExit("scrape: infohash not in the answer")
    return f[b"complete"], f[b"incomplete"], f[b"downloaded"]


def udp_scrape(url, ih):
    u = urllib.parse.urlsplit(url)
    fam = socket.AF_INET6 if ":" in u.hostname else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((u.hostname, u.port))
    for _ in range(3):
        try:
            tid = random.getrandbits(32)
            s.send(struct.pack(">QII", 0x41727101980, 0, tid))
            r = s.recv(2048)
            act, rtid, cid = struct.unpack(">IIQ", r[:16])
            if act != 0 or rtid != tid:
                raise SystemExit("udp connect: bad answer %r" % r)
            tid = random.getrandbits(32)
            s.send(struct.pack(">QII", cid, 2, tid) + ih)
            r = s.recv(2048)
            act, rtid = struct.unpack(">II", r[:8])
            if act == 3:
                raise SystemExit("udp scrape error: %r" % r[8:])
            if act != 2 or rtid != tid or len(r) < 20:
                raise SystemExit("udp scrape: bad answer %r" % r)
            seeders, completed, leechers = struct.unpack(">III", r[8:20])
            return seeders, leechers, completed
        except socket.timeout:
            continue
    raise SystemExit("udp scrape: no answer from " + url)


def scrape(url, hexhash):
    ih = bytes.fromhex(hexhash)
    if url.startswith("udp://"):
        c, i, d = udp_scrape(url, ih)
    else:
        c, i, d = http_scrape(url, ih)
    print(c, i, d)


def freeport(host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.bind((host, 0))
        port = t.getsockname()[1]
        u = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            u.bind((host, port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        print(port)
        return
    raise SystemExit("no free port on " + host)


def lt_peer(role, torrent, save, host, port):
    import libtorrent as lt

    debug = os.environ.get("E2E_LT_DEBUG") == "1"
    listen = ("[%s]:%d" if ":" in host else "%s:%d") % (host, int(port))
    pack = {
        "listen_interfaces": listen,
        "outgoing_interfaces": host,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Every peer in the suite shares one address.
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.all_categories if debug else
        lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.tracker_notification,
        # The suite's cases announce to every tracker of a tier; the
        # cluster's failover case wants one at a time, as BEP 12 says.
        "announce_to_all_trackers": os.environ.get("E2E_LT_ONE_TRACKER") != "1",
        "upload_rate_limit": int(os.environ.get("E2E_LT_UPLOAD_LIMIT", "0")),
        "stop_tracker_timeout": 3,
        "user_agent": "johnlocke-e2e libtorrent/" + lt.__version__,
    }
    # No default plugins: no ut_pex, no ut_metadata.
    ses = lt.session(pack, 0)
    if pack["upload_rate_limit"]:
        # Loopback peers are in libtorrent's local peer class, which rate
        # limits do not reach: put every address in the global class.
        every = lt.ip_filter()
        every.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        every.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 << lt.session.global_peer_class_id)
        ses.set_peer_class_filter(every)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = save
    # Not auto-managed: the session's queue would resume an auto-managed
    # torrent right after we pause it below, and it would announce
    # "started" again after its "stopped" (seen with libtorrent 2.0.8).
    params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    h = ses.add_torrent(params)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    finished = False
    while not stop:
        for a in ses.pop_alerts():
            if debug or isinstance(a, (lt.tracker_error_alert, lt.tracker_warning_alert,
                                       lt.torrent_error_alert, lt.listen_failed_alert)):
                print("lt: %.3f %s" % (time.time(), a.message()), flush=True)
        st = h.status()
        if st.is_seeding and not finished:
            finished = True
            print("lt: %s is seeding" % role, flush=True)
        time.sleep(0.2)
    # Pausing sends "stopped"; over UDP the session's destructor alone
    # would drop it. Wait (bounded) for the tracker to answer.
    h.pause()
    deadline = time.time() + 5
    while time.time() < deadline:
        ts = h.trackers()
        if time.time() > deadline - 4 and not any(t.get("updating") for t in ts):
            break
        for a in ses.pop_alerts():
            if debug or isinstance(a, lt.tracker_error_alert):
                print("lt: %.3f %s" % (time.time(), a.message()), flush=True)
        time.sleep(0.1)
    del h
    del ses


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd = argv[1]
    if cmd == "infohash" and len(argv) == 3:
        print(infohash(argv[2]))
    elif cmd == "scrape" and len(argv) == 4:
        scrape(argv[2], argv[3])
    elif cmd == "freeport" and len(argv) == 3:
        freeport(argv[2])
    elif cmd == "lt" and len(argv) == 7:
        lt_peer(*argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    for k in list(os.environ):
        if k.lower().endswith("_proxy"):
            del os.environ[k]
    main(sys.argv)
