"""Janus (janus-gateway) as a real media server the harness's peers talk to.

server      JanusServer: Janus run inside a network namespace of its own (it gathers no loopback
            candidates), its WebSocket API reachable from this machine over a veth
client      JanusClient: the WebSocket API (subprotocol ``janus-protocol``): create, attach,
            message with jsep, trickle, keepalive, and the asynchronous events
"""
