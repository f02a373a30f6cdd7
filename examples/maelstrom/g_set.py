"""Maelstrom's g-set workload: a grow-only set replicated by gossiping the whole set."""

from node import Node

node = Node()
elements: set = set()


@node.on_init
def start():
    node.every(0.1, gossip)


@node.handler("add")
def add(msg):
    elements.add(msg["body"]["element"])
    node.reply(msg, {"type": "add_ok"})


@node.handler("read")
def read(msg):
    node.reply(msg, {"type": "read_ok", "value": sorted(elements)})


@node.handler("replicate")
def replicate(msg):
    elements.update(msg["body"]["value"])


def gossip():
    for peer in node.node_ids:
        if peer != node.node_id:
            node.send(peer, {"type": "replicate", "value": sorted(elements)})


if __name__ == "__main__":
    node.run()
