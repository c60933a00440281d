"""pytest-webrtc: a pytest plugin and conformance harness for WebRTC."""

__version__ = "0.1.0"
__all__ = ["__version__"]
