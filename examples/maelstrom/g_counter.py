"""Maelstrom's g-counter workload: a state-based CRDT (one count per node, merged by max)."""

from node import Node

node = Node()
counts: dict[str, int] = {}


@node.on_init
def start():
    node.every(0.1, gossip)


@node.handler("add")
def add(msg):
    counts[node.node_id] = counts.get(node.node_id, 0) + msg["body"]["delta"]
    node.reply(msg, {"type": "add_ok"})


@node.handler("read")
def read(msg):
    node.reply(msg, {"type": "read_ok", "value": sum(counts.values())})


@node.handler("replicate")
def replicate(msg):
    for peer, count in msg["body"]["counts"].items():
        counts[peer] = max(counts.get(peer, 0), count)


def gossip():
    for peer in node.node_ids:
        if peer != node.node_id:
            node.send(peer, {"type": "replicate", "counts": counts})


if __name__ == "__main__":
    node.run()
