"""kafkawire: the Kafka wire protocol the repository's hand-written Python clients speak.

One request on one fresh connection, no library: the broker probe (scripts/kafka/kafka_probe.py)
and the fault test's topic creation and raw producer (scripts/faults.py) use it, and so can
any other script of the tree that must talk to a broker without kcat (bench/bench.py goes
through kcat today). Python standard library only. It covers the old, simple API versions
the tools need, which the pinned broker (Kafka 3.9, scripts/kafka/pom.xml) answers; Kafka 4
dropped them, so moving the stack to Kafka 4 means newer versions here:

  * framing: a request is int32 size, then api_key, api_version, correlation_id (int16, int16,
    int32), client_id (int16-length string), then the body; a response is int32 size, then
    the correlation id, then the body;
  * Metadata v1 (api key 3): request with a list of topic names (auto-creates them when the
    broker allows it), an empty list (brokers only) or None (every topic); response decoded
    into brokers, controller id and topics with their partitions;
  * Produce v2 (api key 0): a message set of format v1 (magic 1, CRC-32, no compression, no
    headers) for one topic partition; the response decoded into the partition's error code.

Usage from a script beside it or one folder up:

    sys.path.insert(0, os.path.join(SCRIPTS, "kafka"))
    import kafkawire
    resp = kafkawire.roundtrip(host, port, kafkawire.API_METADATA, 1,
                               kafkawire.metadata_request_v1([]), b"my-tool")
    brokers, controller, topics = kafkawire.parse_metadata_v1(resp)

Errors: a closed connection or a wrong correlation id raise ConnectionError (an OSError);
socket errors pass through as OSError; a short or malformed response raises struct.error.
"""
import socket
import struct
import zlib

API_PRODUCE = 0
API_METADATA = 3


# ---------------------------------------------------------------- primitives

def string(s):
    """A Kafka string: int16 length, then the bytes (str is encoded as UTF-8)."""
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(b)) + b


def read_exact(sock, n):
    """Exactly n bytes from sock; ConnectionError when the broker closes first."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


# ---------------------------------------------------------------- framing

def frame(api_key, version, correlation_id, client_id, body):
    """The bytes of one request: size, header, body."""
    req = struct.pack(">hhi", api_key, version, correlation_id) + string(client_id) + body
    return struct.pack(">i", len(req)) + req


def roundtrip(host, port, api_key, version, body, client_id, correlation_id=11, timeout=10.0):
    """Sends one request on a fresh connection and returns the response body (after the size
    and the correlation id). timeout bounds the connect and each read, in seconds."""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(frame(api_key, version, correlation_id, client_id, body))
        size = struct.unpack(">i", read_exact(sock, 4))[0]
        resp = read_exact(sock, size)
    corr = struct.unpack_from(">i", resp, 0)[0]
    if corr != correlation_id:
        raise ConnectionError("unexpected correlation id %d" % corr)
    return resp[4:]


def first_broker(brokers):
    """(host, port) of the first entry of a bootstrap list "host:port,host:port"."""
    host, port = brokers.split(",")[0].rsplit(":", 1)
    return host, int(port)


# ---------------------------------------------------------------- Metadata v1

def metadata_request_v1(topics):
    """Body of a Metadata v1 request: topics a list of names ([] asks for the brokers only)
    or None (every topic)."""
    if topics is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(topics)) + b"".join(string(t) for t in topics)


def parse_metadata_v1(resp):
    """Decodes a Metadata v1 response body into (brokers, controller_id, topics):
    brokers [(node_id, host, port)], topics [(error_code, name, partitions)] with partitions
    [(error_code, partition, leader, replicas, isr)]."""
    pos = 0
    (nb,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    brokers = []
    for _ in range(nb):
        node_id, hlen = struct.unpack_from(">ih", resp, pos)
        pos += 6
        host = resp[pos:pos + hlen].decode()
        pos += hlen
        port, rlen = struct.unpack_from(">ih", resp, pos)
        pos += 6 + max(rlen, 0)   # rack: nullable string
        brokers.append((node_id, host, port))
    (controller,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    (nt,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    topics = []
    for _ in range(nt):
        err, tlen = struct.unpack_from(">hh", resp, pos)
        pos += 4
        name = resp[pos:pos + tlen].decode()
        pos += tlen + 1           # and is_internal
        (np_,) = struct.unpack_from(">i", resp, pos)
        pos += 4
        parts = []
        for _ in range(np_):
            perr, part, leader, nrep = struct.unpack_from(">hiii", resp, pos)
            pos += 14
            replicas = list(struct.unpack_from(">%di" % nrep, resp, pos))
            pos += 4 * nrep
            (nisr,) = struct.unpack_from(">i", resp, pos)
            pos += 4
            isr = list(struct.unpack_from(">%di" % nisr, resp, pos))
            pos += 4 * nisr
            parts.append((perr, part, leader, replicas, isr))
        topics.append((err, name, parts))
    return brokers, controller, topics


# ---------------------------------------------------------------- Produce v2

def message_set_v1(key, values, timestamp_ms):
    """A message set of format v1: one uncompressed message per value, all with key (bytes)
    and the create time timestamp_ms; offsets 0 (the broker assigns them)."""
    mset = b""
    for val in values:
        body = struct.pack(">bbq", 1, 0, timestamp_ms)
        body += struct.pack(">i", len(key)) + key + struct.pack(">i", len(val)) + val
        msg = struct.pack(">I", zlib.crc32(body) & 0xffffffff) + body
        mset += struct.pack(">qi", 0, len(msg)) + msg
    return mset


def produce_request_v2(topic, partition, message_set, timeout_ms, acks=-1):
    """Body of a Produce v2 request of one message set to one topic partition (acks -1: all
    in-sync replicas)."""
    body = struct.pack(">hii", acks, timeout_ms, 1) + string(topic)
    return body + struct.pack(">iii", 1, partition, len(message_set)) + message_set


def parse_produce_v2(resp):
    """The error code of the first partition of the first topic of a Produce v2 response
    body (0: written)."""
    # [topic: name, [partition, error_code, base_offset, log_append_time]], throttle time
    pos = 4
    (tlen,) = struct.unpack_from(">h", resp, pos)
    pos += 2 + tlen + 4
    _, code = struct.unpack_from(">ih", resp, pos)
    return code
