"""Reading from a child process without ever waiting forever."""

from __future__ import annotations

import subprocess
import threading
from typing import Any


def read_line(proc: subprocess.Popen[Any], timeout: float = 20.0) -> str:
    """The next line the child prints; AssertionError if none comes within ``timeout`` seconds.

    A thread does the (buffered) read, so lines the stream already holds count too; on timeout
    the child is killed, which ends the read.
    """
    assert proc.stdout is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        proc.kill()
        reader.join(5)
        raise AssertionError(f"{proc.args!r} printed nothing within {timeout} s")
    if not result or not result[0]:
        raise AssertionError(f"{proc.args!r} exited ({proc.poll()}) without printing a line")
    return str(result[0])
