"""A log that no learner can fill: a pipe whose reader keeps at most so many bytes of it.

A worker's stderr is inherited by its preloader and by every kernel forked from it, and a
kernel can write to it directly (ipykernel keeps a copy of the descriptor it captures). Were it
the log file itself, one kernel could fill the grader's disk, and, once the file passed the
kernels' file-size limit (``RLIMIT_FSIZE``), every later kernel of that worker would fail on
its first write. A pipe has no file size; the grader's thread copies what arrives into the
log up to :data:`MAX_LOG_BYTES` and counts the rest.
"""

from __future__ import annotations

import os
import threading
from typing import IO

MAX_LOG_BYTES = 32 * 2**20
_CHUNK = 1 << 16


class CappedLog:
    """The write end of a pipe for a process's stderr, copied into ``log`` up to a limit.

    Args:
        log: The log file (binary, open for appending); left open.
        limit: Bytes copied at most; the rest is read and dropped.
    """

    def __init__(self, log: IO[bytes], limit: int = MAX_LOG_BYTES):
        read, write = os.pipe()
        self.log, self.limit = log, limit
        self.writer = os.fdopen(write, "wb", buffering=0)
        self._reader = read
        self.thread = threading.Thread(target=self._copy, name="log", daemon=True)
        self.thread.start()

    def fileno(self) -> int:
        """The pipe's write end, for ``subprocess.Popen(stderr=...)``."""
        return self.writer.fileno()

    def _copy(self) -> None:
        written = dropped = 0
        try:
            while chunk := os.read(self._reader, _CHUNK):
                kept = chunk[:max(0, self.limit - written)]
                if kept:
                    self.log.write(kept)
                    self.log.flush()
                    written += len(kept)
                dropped += len(chunk) - len(kept)
            if dropped:
                self.log.write(f"\n[{dropped} more bytes were dropped: this log keeps "
                               f"{self.limit // 2**20} MB]\n".encode())
                self.log.flush()
        finally:
            os.close(self._reader)

    def close(self, wait: float = 5.0) -> None:
        """Close the write end; wait for what is still in the pipe to be copied.

        Args:
            wait: Seconds to wait for the processes that hold the pipe to be gone.
        """
        self.writer.close()
        self.thread.join(timeout=wait)
