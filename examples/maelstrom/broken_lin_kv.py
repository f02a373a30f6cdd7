"""A deliberately broken lin-kv: writes are serialized by the first node, but every
other node answers reads from its own local copy, refreshed by the first node's
periodic push. Cut a node off from the first one and its reads go stale forever:
not linearizable (it never says "I may be stale", e.g. error 11).
"""

from node import KEY_DOES_NOT_EXIST, PRECONDITION_FAILED, Node, RPCError

node = Node()
data: dict = {}  # key (as JSON text) -> value; authoritative on the primary only


def primary() -> str:
    return node.node_ids[0]


@node.on_init
def start():
    if node.node_id == primary():
        node.every(0.05, push)


def push():
    for peer in node.node_ids[1:]:
        node.send(peer, {"type": "state", "data": list(data.items())})


@node.handler("state")
def state(msg):
    data.clear()
    data.update((k if not isinstance(k, list) else tuple(k), v) for k, v in msg["body"]["data"])


@node.handler("read")
def read(msg):
    key = msg["body"]["key"]
    if key not in data:
        raise RPCError(KEY_DOES_NOT_EXIST, "not found")
    node.reply(msg, {"type": "read_ok", "value": data[key]})  # the stale local copy


def apply(msg):
    body = msg["body"]
    key = body["key"]
    if body["type"] == "write":
        data[key] = body["value"]
        return {"type": "write_ok"}
    if key not in data:
        raise RPCError(KEY_DOES_NOT_EXIST, "not found")
    if data[key] != body["from"]:
        raise RPCError(PRECONDITION_FAILED, f"expected {body['from']}, had {data[key]}")
    data[key] = body["to"]
    return {"type": "cas_ok"}


def update(msg):
    if node.node_id == primary():
        node.reply(msg, apply(msg))
        return
    body = {k: v for k, v in msg["body"].items() if k != "msg_id"}

    def relay(answer):
        node.reply(msg, {k: v for k, v in answer["body"].items() if k not in ("msg_id", "in_reply_to")})

    node.rpc(primary(), body, relay)


@node.handler("write")
def write(msg):
    update(msg)


@node.handler("cas")
def cas(msg):
    update(msg)


if __name__ == "__main__":
    node.run()
