"""A bad node: answers init and echoes, but also writes lines that are not messages."""

import json
import sys

for line in sys.stdin:
    message = json.loads(line)
    body = message["body"]
    out = {"src": body.get("node_id", "n1"), "dest": message["src"],
           "body": {"in_reply_to": body["msg_id"]}}
    if body["type"] == "init":
        out["body"]["type"] = "init_ok"
    else:
        out["body"].update(type="echo_ok", echo=body.get("echo"))
        sys.stdout.write("this is not json\n")
        sys.stdout.write(json.dumps({"src": "n1", "body": {"type": "no dest"}}) + "\n")
        sys.stdout.write(json.dumps({"src": "n1", "dest": "n99", "body": {"type": "unknown dest"}}) + "\n")
        sys.stdout.write("[1, 2, 3]\n")
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
