"""Janus (janus-gateway) as a real media server the harness's peers talk to.

    server      JanusServer: Janus run inside a network namespace of its own (it gathers no loopback
                candidates), its WebSocket API reachable from this machine over a veth

The client side, Janus's WebSocket API in the harness's words, is the ``janus`` signaling driver
(:mod:`pytest_webrtc.signaling.janus`).
"""
