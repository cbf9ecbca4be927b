#!/bin/sh
# The Python scripts' Kafka wire helper (scripts/kafka/kafkawire.py) against the stack's broker:
# a Metadata v1 request creates two fresh topics and lists their partitions with leaders; a
# Produce v2 request writes keyed values that kcat reads back byte for byte; a produce to a
# partition that does not exist returns the broker's error code; kafka_probe.py names the broker.
set -eu
. "$MF_SOURCE_DIR/scripts/env.sh"
exec python3 - "$MF_SOURCE_DIR" "$MF_KAFKA_BROKERS" <<'PY'
import os, subprocess, sys, time
src, brokers = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(src, "scripts", "kafka"))
import kafkawire

def fail(msg):
    print("test_kafkawire: FAIL: " + msg)
    sys.exit(1)

host, port = kafkawire.first_broker(brokers)
prefix = "kafkawire.%d.%d." % (os.getpid(), int(time.time()))
topics = [prefix + "a", prefix + "b"]
deadline = time.time() + 60
while True:
    resp = kafkawire.roundtrip(host, port, kafkawire.API_METADATA, 1,
                               kafkawire.metadata_request_v1(topics), b"msgfleet-test")
    brokers_md, controller, listed = kafkawire.parse_metadata_v1(resp)
    ready = [t for err, t, parts in listed
             if err == 0 and parts and all(p[0] == 0 and p[2] >= 0 for p in parts)]
    if sorted(ready) == sorted(topics):
        break
    if time.time() > deadline:
        fail("topics %s not created with leaders: %r" % (topics, listed))
    time.sleep(0.3)
if not brokers_md or controller < 0:
    fail("metadata lists no broker: %r, controller %d" % (brokers_md, controller))

values = [b"one", b"two\x00\xffbytes", "셋".encode()]
mset = kafkawire.message_set_v1(b"key-1", values, int(time.time() * 1000))
body = kafkawire.produce_request_v2(topics[0], 0, mset, 30000)
code = kafkawire.parse_produce_v2(
    kafkawire.roundtrip(host, port, kafkawire.API_PRODUCE, 2, body, b"msgfleet-test"))
if code != 0:
    fail("produce returned Kafka error %d" % code)
out = subprocess.run(["kcat", "-C", "-b", brokers, "-t", topics[0], "-p", "0", "-o", "beginning",
                      "-e", "-f", "%k|%s\\n"], capture_output=True, timeout=60).stdout
want = b"".join(b"key-1|" + v + b"\n" for v in values)
if out != want:
    fail("kcat read %r, want %r" % (out, want))

body = kafkawire.produce_request_v2(topics[1], 9999, mset, 30000)
code = kafkawire.parse_produce_v2(
    kafkawire.roundtrip(host, port, kafkawire.API_PRODUCE, 2, body, b"msgfleet-test"))
if code != 3:  # UNKNOWN_TOPIC_OR_PARTITION
    fail("produce to partition 9999 returned %d, want 3" % code)

p = subprocess.run([sys.executable, os.path.join(src, "scripts", "kafka", "kafka_probe.py"),
                    brokers.split(",")[0], "5"], capture_output=True, text=True, timeout=30)
if p.returncode != 0 or not p.stdout.startswith("brokers %d@" % brokers_md[0][0]):
    fail("kafka_probe: exit %d, %r %r" % (p.returncode, p.stdout, p.stderr))
print("test_kafkawire: ok: %d topics created, %d values produced and read back, %s"
      % (len(topics), len(values), p.stdout.strip()))
PY
