"""The harness's numbered video as a VP8 IVF file, for stacks that send pre-encoded video (Pion).

Pion has no encoder: its peer program reads VP8 frames from an IVF file (pion's ``ivfreader``) and
sends them at the file's pace. The frames are the ones :class:`~pytest_webrtc.peer.media.NumberedVideoTrack`
draws (frame n shows n), encoded with libvpx through PyAV (aiortc's own dependency), a keyframe every
second, so a receiver reads the same numbers from Pion as from any other stack. The file is made
once per machine and size, in the temporary folder, and written atomically (parallel runs share it).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["numbered_ivf"]

FPS = 30


def numbered_ivf(width: int = 320, height: int = 240, frames: int = 150) -> Path:
    """The path of an IVF file of ``frames`` numbered VP8 frames (0, 1, ...) at 30 fps; made if missing."""
    path = Path(tempfile.gettempdir()) / f"pytest-webrtc-numbered-{width}x{height}-{frames}.ivf"
    if path.is_file() and path.stat().st_size > 32:
        return path
    import av

    from .media import _luma

    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    container = av.open(str(partial), "w", format="ivf")
    try:
        stream = container.add_stream("libvpx", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = FPS  # a keyframe every second: a receiver that joins late decodes soon
        stream.options = {"deadline": "realtime", "cpu-used": "8", "b": "300k"}
        for number in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.planes[0].update(_luma(number, width, height))
            for plane in frame.planes[1:]:
                plane.update(bytes([128]) * plane.buffer_size)  # no colour: the number is in the brightness
            frame.pts = number
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    os.replace(partial, path)  # atomic: a parallel run sees the old file or the whole new one
    return path
