"""The lowest room: plumbing every package may use and that imports nothing of Lantern.

* ``redis`` - the one way to the shared Redis: a node's link (URL, key prefix, node id, client
  factory) and the pub/sub subscription loop that the ticker relay, the console events and the
  revocation fan-out are built on.
"""
