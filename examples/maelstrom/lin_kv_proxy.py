"""A lin-kv node that is linearizable because the `lin-kv` service is: every read,
write and cas is forwarded to the service and its answer (or error) relayed back."""

from node import Node

node = Node()


def forward(msg):
    body = {k: v for k, v in msg["body"].items() if k != "msg_id"}

    def relay(answer):
        reply = {k: v for k, v in answer["body"].items() if k not in ("msg_id", "in_reply_to")}
        node.reply(msg, reply)

    node.rpc("lin-kv", body, relay)


for kind in ("read", "write", "cas"):
    node.handler(kind)(forward)

if __name__ == "__main__":
    node.run()
