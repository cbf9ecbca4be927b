#!/usr/bin/env python3
"""webhook_call: call a workflow's webhook the way an integration does (docs/triggers.md).

Signs `timestamp + "." + body` with HMAC-SHA256 and the workflow's secret, sends
POST /v1/workflows/{id}/trigger with X-Msgfleet-Timestamp and X-Msgfleet-Signature (and an
Idempotency-Key when given), prints the HTTP status and the JSON answer. Exit 0 on 202.
Python standard library only; importable (sign, call) by tests and the demo.

  MF_WEBHOOK_SECRET=whsec_... scripts/webhook_call.py --url http://127.0.0.1:58090 \\
      --workflow 3f0c... --body '{"variables":{"order_id":"A-1001"},"recipients":["01012345678"]}'
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request


def sign(secret, timestamp, body):
    """The v1 signature: lower-case hex HMAC-SHA256 of b"<timestamp>.<body>"."""
    msg = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def call(url, workflow, secret, body, *, idempotency_key=None, timestamp=None, headers=None,
         method="POST", timeout=30):
    """Returns (status, parsed JSON answer or None, response headers)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body, ensure_ascii=False).encode()
    elif isinstance(body, str):
        body = body.encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    h = {"Content-Type": "application/json"}
    if secret is not None:
        h["X-Msgfleet-Timestamp"] = ts
        h["X-Msgfleet-Signature"] = "v1=" + sign(secret, ts, body)
    if idempotency_key is not None:
        h["Idempotency-Key"] = idempotency_key
    h.update(headers or {})
    req = urllib.request.Request(f"{url.rstrip('/')}/v1/workflows/{workflow}/trigger",
                                 data=body if method != "GET" else None, headers=h,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw, rh = r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        status, raw, rh = e.code, e.read(), dict(e.headers)
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = None
    return status, answer, rh


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="the planner's webhook endpoint, http://host:port")
    ap.add_argument("--workflow", required=True, help="workflow id")
    ap.add_argument("--body", default="{}", help="JSON body (default {})")
    ap.add_argument("--idempotency-key", default=None)
    a = ap.parse_args(argv)
    secret = os.environ.get("MF_WEBHOOK_SECRET")
    if not secret:
        print("webhook_call: set MF_WEBHOOK_SECRET (never on the command line)", file=sys.stderr)
        return 2
    status, answer, _ = call(a.url, a.workflow, secret, a.body,
                             idempotency_key=a.idempotency_key)
    print(status, json.dumps(answer, ensure_ascii=False))
    return 0 if status == 202 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
