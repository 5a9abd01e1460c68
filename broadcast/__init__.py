"""Response scripts (话术): lifecycle with four-eyes approval, and the agents' ticker hub.

Modules, from the pure core outwards:

* ``lifecycle`` - the version state machine and the approval rule (pure)
* ``model``     - audiences, viewers, validation and the content hash (pure)
* ``ticker``    - the ticker core: items, revisions, history, snapshot/resume (sans I/O)
* ``frames``    - JSON encoding and the websocket text frame, serialised once by ``websockets`` (pure)
* ``coverage``  - who displayed / acknowledged a version (pure)
* ``schema``, ``repo`` - the tables and row functions (run inside ``Store`` calls)
* ``service``   - ``ScriptService``: the lifecycle over the ``Store``, telling the hub
* ``hub``       - ``TickerHub``: the core plus connected sockets; fan-out never awaits
* ``ws``        - the socket adapter: aiohttp upgrades, ``websockets``' sans-I/O protocol speaks RFC 6455
* ``runtime``   - heartbeats, receipt flushing, on-time expiry
* ``redis_relay`` - several nodes sharing one ticker through Redis

The wire protocol is in ``PROTOCOL.md``.
"""
