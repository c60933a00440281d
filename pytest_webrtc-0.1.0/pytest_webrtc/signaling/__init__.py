"""Signaling: the versioned JSON protocol, a WebSocket server and a client."""
