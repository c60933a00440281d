# pytester's in-process runs drop the modules an inner run imported; re-importing
# cryptography's Rust bindings then fails ("curve must be an EllipticCurve instance").
# Importing aiortc (and so cryptography) here keeps them loaded across inner runs.
import aiortc  # noqa: F401
