"""Standard output that outlives its reader, so `modelroute check DIR | head -1` keeps the verdict's exit code."""

from __future__ import annotations

import os
from typing import TextIO


class ClosedPipeGuard:
    """Writes to a stream until its reader goes away (EPIPE), then nowhere: the command finishes its work
    and exits with its verdict. A CI step `modelroute check . | head` with `pipefail` must fail when something
    is denied, not pass because the pipe closed first."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        """From now on write to /dev/null, so the interpreter's own flush at exit cannot fail either."""
        self.reader_gone = True
        try:
            descriptor = self._stream.fileno()
        except (OSError, ValueError):
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, descriptor)
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> object:  # isatty, encoding, fileno ... as the stream has them
        return getattr(self._stream, name)
