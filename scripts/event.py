#!/usr/bin/env python3
"""event: publish events to the fleet's `events` topic (schemas/kafka/event.md).

An example producer for the platform's services, and the tool the tests, the demo and the
bench use. Python standard library only: the msgpack map is encoded here, kcat carries it to
the broker (many events per kcat call).

  scripts/event.py --type order_paid --id ord-1001 --to 01012345678 \\
      --attr name=홍길동 --attr order_no=1001
  scripts/event.py --type order_paid --id ord-1002 --cust 42 --attr order_no=1002
  scripts/event.py ... --print        # print the hex bytes and the JSON instead of sending

The broker comes from MF_KAFKA_BROKERS, the topic from --topic (default: MF_TOPIC_PREFIX +
"events", "msgfleet.events" when unset).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

KEY_SEP = b"|MF-EVENT-KEY|"
MSG_SEP = b"|MF-EVENT-END|"


def _str(s):
    b = s.encode("utf-8")
    n = len(b)
    if n < 32:
        return bytes([0xA0 | n]) + b
    if n < 256:
        return b"\xd9" + bytes([n]) + b
    if n < 65536:
        return b"\xda" + n.to_bytes(2, "big") + b
    return b"\xdb" + n.to_bytes(4, "big") + b


def _uint(v):
    if v < 0:
        raise ValueError("negative integer")
    if v < 128:
        return bytes([v])
    if v < 256:
        return b"\xcc" + bytes([v])
    if v < 65536:
        return b"\xcd" + v.to_bytes(2, "big")
    if v < 2 ** 32:
        return b"\xce" + v.to_bytes(4, "big")
    return b"\xcf" + v.to_bytes(8, "big")


def _map_head(n):
    if n < 16:
        return bytes([0x80 | n])
    if n < 65536:
        return b"\xde" + n.to_bytes(2, "big")
    return b"\xdf" + n.to_bytes(4, "big")


def encode_event(type_, event_id, cust="", to=None, attrs=None, ts_ms=None):
    """One event as msgpack bytes: v, type, cust, attrs, ts, id and (optional) to."""
    attrs = attrs or {}
    ts_ms = int(time.time() * 1000) if ts_ms is None else ts_ms
    pairs = [("v", _uint(1)), ("type", _str(type_)), ("cust", _str(cust))]
    body = _map_head(len(attrs)) + b"".join(_str(k) + _str(v) for k, v in attrs.items())
    pairs += [("attrs", body), ("ts", _uint(ts_ms)), ("id", _str(event_id))]
    if to:
        pairs.append(("to", _str(to)))
    return _map_head(len(pairs)) + b"".join(_str(k) + v for k, v in pairs)


def event_job_id(workflow_id, event_id):
    """The job id (message_logs.id) of event_id's message from workflow workflow_id:
    schemas/kafka/README.md's job id with the workflow id as run id, run start 0, key
    "event:" + event id, attempt 1 (docs/triggers.md)."""
    run = bytes.fromhex(workflow_id.replace("-", ""))
    k = ("event:" + event_id).encode()
    body = k if len(k) <= 200 else hashlib.sha256(k).digest()
    d = hashlib.sha256(b"msgfleet.job.v1\0" + run + len(k).to_bytes(4, "big") + body
                       + (1).to_bytes(4, "big")).digest()
    b = bytearray((0).to_bytes(6, "big") + d[:10])
    b[6] = (b[6] & 0x0F) | 0x80
    b[8] = (b[8] & 0x3F) | 0x80
    h = bytes(b).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_topic(prefix=None):
    if prefix is None:
        prefix = os.environ.get("MF_TOPIC_PREFIX", "msgfleet.")
    return prefix + "events"


def publish(topic, events, brokers=None):
    """Sends [(key, value bytes), ...] in one kcat call (key: the customer id, may be "")."""
    brokers = brokers or os.environ.get("MF_KAFKA_BROKERS", "127.0.0.1:9092")
    data = bytearray()
    for key, value in events:
        k = key.encode("utf-8")
        if KEY_SEP in k or MSG_SEP in k or KEY_SEP in value or MSG_SEP in value:
            raise ValueError("an event holds the separator bytes; send it alone")
        data += k + KEY_SEP + value + MSG_SEP
    p = subprocess.run(["kcat", "-P", "-b", brokers, "-t", topic, "-K", KEY_SEP.decode(),
                        "-D", MSG_SEP.decode(), "-z", "lz4"],
                       input=bytes(data), capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(f"kcat could not produce to {topic}: "
                           f"{p.stderr.decode(errors='replace').strip()}")


def main(argv):
    ap = argparse.ArgumentParser(description="publish one event to the events topic")
    ap.add_argument("--type", required=True, help="event name (a workflow's trigger_config.event)")
    ap.add_argument("--id", required=True, help="event id: the same id is sent only once")
    ap.add_argument("--cust", default="", help="customer key (bound to the workflow's query)")
    ap.add_argument("--to", default=None, help="recipient phone (instead of the customer key)")
    ap.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE",
                    help="payload attribute (template variable), repeatable")
    ap.add_argument("--topic", default=None, help="full topic name (default: prefix + events)")
    ap.add_argument("--print", action="store_true", help="print the bytes, do not send")
    a = ap.parse_args(argv)
    attrs = {}
    for kv in a.attr:
        if "=" not in kv:
            ap.error(f"--attr {kv!r}: expected KEY=VALUE")
        k, v = kv.split("=", 1)
        attrs[k] = v
    value = encode_event(a.type, a.id, a.cust, a.to, attrs)
    if a.print:
        print(value.hex(" "))
        doc = {"v": 1, "type": a.type, "cust": a.cust, "attrs": attrs, "id": a.id}
        if a.to:
            doc["to"] = a.to
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    publish(a.topic or event_topic(), [(a.cust, value)])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
