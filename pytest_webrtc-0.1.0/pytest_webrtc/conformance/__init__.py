"""Conformance checks of other projects' actors (STUN servers first), from the client side."""
