"""The dispatcher of `passerelle serve` in a process of its own, supervised by the receiver's.

The receiver and the dispatcher share nothing but the store, so they need not share a process:
apart, each has an interpreter (and a core) to itself, and the dispatcher's work never delays
an acknowledgement. `DispatcherProcess` runs ``passerelle serve --role dispatcher --supervised``
with the parent's configuration, environment and output (one log), and:

- restarts it, after a pause that grows while it keeps failing, whenever it exits unasked;
- wakes it after each new delivery, through its standard input: a byte per wake-up;
- counts it as running once it says its workers run, through a pipe of its own
  (`READY_FD_ENV` names it in the child);
- stops it with the parent: SIGTERM, which lets its in-flight deliveries finish, then SIGKILL
  if it takes longer than `stop_timeout`. A parent that dies unasked closes the pipe, and the
  child dies too when it sees its standard input end (`watch_parent`), as its threads would
  have died with it in one process: the leases of what it held run out and the next `serve`
  takes those deliveries over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Final

__all__ = ["DispatcherProcess", "watch_parent"]

log = logging.getLogger("passerelle.server")

READY_FD_ENV: Final = "PASSERELLE_DISPATCHER_READY_FD"
"""In a supervised dispatcher: the file descriptor to write one byte to once its workers run."""
RESTART_PAUSE: Final = 0.5
"""Seconds before the first restart; the pause doubles while the process keeps failing."""
RESTART_PAUSE_CAP: Final = 30.0
STEADY_AFTER: Final = 60.0
"""A process that ran this many seconds before it exited is restarted after the first pause."""


class DispatcherProcess:
    """Runs `command` (a dispatcher) until `stop`, restarting it whenever it exits unasked."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        stop_timeout: float = 30.0,
        restart_pause: float = RESTART_PAUSE,
    ) -> None:
        self._command = list(command)
        self._stop_timeout = stop_timeout
        self._restart_pause = restart_pause
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._ready_pipe: int | None = None
        self._said_ready = False
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0
        """How many times the process was restarted after it exited unasked."""

    @property
    def pid(self) -> int | None:
        """The running process's id; None while there is none."""
        with self._lock:
            process = self._process
        return None if process is None or process.poll() is not None else process.pid

    def running(self) -> bool:
        """Whether the process runs and has said that its workers run."""
        with self._lock:
            process, pipe = self._process, self._ready_pipe
            if process is None or process.poll() is not None or pipe is None:
                return False
            if not self._said_ready:
                try:
                    self._said_ready = os.read(pipe, 1) == b"r"
                except BlockingIOError:
                    return False
            return self._said_ready

    def start(self) -> None:
        """Start the process, and the thread that restarts it."""
        with self._lock:
            self._stopping.clear()
            self._process = self._spawn()
        self._supervisor = threading.Thread(
            target=self._supervise, name="passerelle-dispatcher-supervisor", daemon=True
        )
        self._supervisor.start()

    def wake(self) -> None:
        """Tell the dispatcher there is new work. Never blocks: a full pipe holds wake-ups
        enough, and a process that is not running finds the work when it starts."""
        with self._lock:
            process = self._process
        if process is None or process.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):  # full, broken or closed: see above
            os.write(process.stdin.fileno(), b"w")

    def stop(self) -> None:
        """Stop the process (its in-flight deliveries finish first) and its supervision."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None:
            _terminate(process, self._stop_timeout)
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        with self._lock:
            if self._ready_pipe is not None:
                os.close(self._ready_pipe)
            self._ready_pipe, self._said_ready = None, False

    def _spawn(self) -> subprocess.Popen[bytes]:
        # The command is `serve`'s own, built from its arguments (`serve_cli`).
        # A session of its own: a Ctrl-C at the terminal reaches the parent alone, which stops
        # the child in turn (a second signal would make it stop without finishing its work).
        ready, said = os.pipe()
        try:
            process = subprocess.Popen(  # noqa: S603
                self._command,
                stdin=subprocess.PIPE,
                start_new_session=True,
                pass_fds=(said,),
                env={**os.environ, READY_FD_ENV: str(said)},
            )
        except BaseException:
            os.close(ready)
            raise
        finally:
            os.close(said)
        os.set_blocking(ready, False)
        if self._ready_pipe is not None:
            os.close(self._ready_pipe)
        self._ready_pipe, self._said_ready = ready, False
        if process.stdin is not None:
            os.set_blocking(process.stdin.fileno(), False)
        log.info("dispatcher process %d started", process.pid)
        return process

    def _supervise(self) -> None:
        pause = self._restart_pause
        while True:
            with self._lock:
                process = self._process
            if process is None:
                return
            started = time.monotonic()
            code = process.wait()
            _close(process.stdin)
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= STEADY_AFTER:
                pause = self._restart_pause
            log.error(
                "dispatcher process %d exited with status %d; restarting it in %.1f s",
                process.pid,
                code,
                pause,
            )
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, RESTART_PAUSE_CAP)
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._process = self._spawn()
                except OSError:
                    log.exception("the dispatcher process could not be started")
                    self._process = process  # waited on again at once: tried after the pause
                    continue
                self.restarts += 1


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning(
                "dispatcher process %d did not stop within %g s: killing it", process.pid, timeout
            )
            process.kill()
            process.wait()
    _close(process.stdin)


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):
            stream.close()


def watch_parent(
    wake: Callable[[], None], ready: Callable[[], bool], *, stream: IO[bytes] | None = None
) -> threading.Thread:
    """In a supervised dispatcher: tell the parent once `ready` says the workers run; call
    `wake` whenever the parent writes to standard input, and kill this process once the parent
    is gone and the input ends: a parent that died unasked was killed or crashed, and a
    connector's processes share its fate."""
    source = stream if stream is not None else sys.stdin.buffer
    said = os.environ.get(READY_FD_ENV)
    if said is not None:
        threading.Thread(
            target=_say_ready, args=(int(said), ready), name="passerelle-ready", daemon=True
        ).start()

    def run() -> None:
        while True:
            try:
                chunk = os.read(source.fileno(), 4096)
            except OSError:
                chunk = b""
            if not chunk:
                log.error("the supervising process is gone: this dispatcher stops at once")
                for handler in logging.getLogger().handlers:
                    handler.flush()
                os.kill(os.getpid(), signal.SIGKILL)
                return
            wake()

    thread = threading.Thread(target=run, name="passerelle-parent-watch", daemon=True)
    thread.start()
    return thread


def _say_ready(fd: int, ready: Callable[[], bool]) -> None:
    while not ready():
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        os.write(fd, b"r")
    os.close(fd)
