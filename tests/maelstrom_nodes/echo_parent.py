"""An echo node that names its parent process on stderr when it starts (one line per
incarnation), so a test can tell which process spawned each incarnation."""

import json
import os
import sys

print(f"parent {os.getppid()} pid {os.getpid()}", file=sys.stderr, flush=True)
for line in sys.stdin:
    message = json.loads(line)
    body = message["body"]
    reply = {"in_reply_to": body["msg_id"]}
    if body["type"] == "init":
        me = body["node_id"]
        reply["type"] = "init_ok"
    else:
        reply.update(type="echo_ok", echo=body.get("echo"))
    sys.stdout.write(json.dumps({"src": me, "dest": message["src"], "body": reply}) + "\n")
    sys.stdout.flush()
