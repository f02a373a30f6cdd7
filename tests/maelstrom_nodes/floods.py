"""A bad node: answers init, then writes to stdout as fast as it can, forever: lines to
a node that does not exist and, now and then, one line far longer than any limit.
It never reads stdin again."""

import json
import sys

first = json.loads(sys.stdin.readline())
node = first["body"]["node_id"]
sys.stdout.write(json.dumps({"src": node, "dest": first["src"],
                             "body": {"type": "init_ok", "in_reply_to": first["body"]["msg_id"]}}) + "\n")
sys.stdout.flush()
spam = (json.dumps({"src": node, "dest": "nowhere", "body": {"type": "spam"}}) + "\n") * 1000
huge = "x" * (3 << 20) + "\n"
while True:
    sys.stdout.write(spam)
    sys.stdout.write(huge)
    sys.stdout.flush()
