#!/usr/bin/env python3
"""kafka_probe: ask a Kafka broker for cluster metadata; exit 0 only if it lists a broker.

Used by scripts/stack.sh to wait until the local KRaft broker really serves requests (a TCP
connect succeeds long before the broker has joined its controller quorum). Speaks the Kafka
wire protocol directly (Metadata request v1, no topics) so it needs nothing but python3.

usage: kafka_probe.py HOST:PORT [TIMEOUT_SECONDS]
"""
import socket
import struct
import sys

API_METADATA = 3
VERSION = 1


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


def probe(host, port, timeout):
    client_id = b"msgfleet-probe"
    # v1 request: header (api_key, api_version, correlation_id, client_id) then topics
    # array; -1 (null) would mean all topics, 0 means none: we only want the brokers.
    body = struct.pack(">hhih", API_METADATA, VERSION, 7, len(client_id)) + client_id
    body += struct.pack(">i", 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", read_exact(sock, 4))[0]
        resp = read_exact(sock, size)
    pos = 0
    corr, nbrokers = struct.unpack_from(">ii", resp, pos)
    pos += 8
    if corr != 7:
        raise ValueError("unexpected correlation id %d" % corr)
    brokers = []
    for _ in range(nbrokers):
        node_id, hlen = struct.unpack_from(">ih", resp, pos)
        pos += 6
        bhost = resp[pos:pos + hlen].decode()
        pos += hlen
        bport, rlen = struct.unpack_from(">ih", resp, pos)
        pos += 6 + max(rlen, 0)
        brokers.append("%d@%s:%d" % (node_id, bhost, bport))
    controller = struct.unpack_from(">i", resp, pos)[0]
    return brokers, controller


def main():
    if len(sys.argv) < 2 or ":" not in sys.argv[1]:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    host, port = sys.argv[1].rsplit(":", 1)
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    try:
        brokers, controller = probe(host, int(port), timeout)
    except (OSError, ValueError, struct.error) as exc:
        print("kafka %s:%s: no metadata: %s" % (host, port, exc), file=sys.stderr)
        return 1
    if not brokers:
        print("kafka %s:%s: metadata lists no broker yet" % (host, port), file=sys.stderr)
        return 1
    print("brokers %s, controller %d" % (",".join(brokers), controller))
    return 0


if __name__ == "__main__":
    sys.exit(main())
