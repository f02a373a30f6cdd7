"""A lin-kv node that is linearizable because the `lin-kv` service is: every read,
write and cas is forwarded to the service and its answer (or error) relayed back.

`lin_kv_proxy.py seq-kv` (or `lww-kv`) forwards to that service instead: no longer
linearizable, which the workbench's checker shows.
"""

import sys

from node import Node

node = Node()
SERVICE = sys.argv[1] if len(sys.argv) > 1 else "lin-kv"


def forward(msg):
    body = {k: v for k, v in msg["body"].items() if k != "msg_id"}

    def relay(answer):
        reply = {k: v for k, v in answer["body"].items() if k not in ("msg_id", "in_reply_to")}
        node.reply(msg, reply)

    node.rpc(SERVICE, body, relay)


for kind in ("read", "write", "cas"):
    node.handler(kind)(forward)

if __name__ == "__main__":
    node.run()
