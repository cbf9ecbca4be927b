#!/usr/bin/env python3
"""kafka_probe: ask a Kafka broker for cluster metadata; exit 0 only if it lists a broker.

Used by scripts/stack.sh to wait until the local KRaft broker really serves requests (a TCP
connect succeeds long before the broker has joined its controller quorum). Speaks the Kafka
wire protocol directly (Metadata request v1, no topics, through kafkawire.py beside it) so it
needs nothing but python3.

usage: kafka_probe.py HOST:PORT [TIMEOUT_SECONDS]
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafkawire  # noqa: E402  (scripts/kafka/kafkawire.py: the wire protocol)

CLIENT_ID = b"msgfleet-probe"
CORRELATION_ID = 7


def probe(host, port, timeout):
    # No topics (an empty array; None would mean all topics): we only want the brokers.
    resp = kafkawire.roundtrip(host, port, kafkawire.API_METADATA, 1,
                               kafkawire.metadata_request_v1([]), CLIENT_ID,
                               correlation_id=CORRELATION_ID, timeout=timeout)
    brokers, controller, _ = kafkawire.parse_metadata_v1(resp)
    return ["%d@%s:%d" % b for b in brokers], controller


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
