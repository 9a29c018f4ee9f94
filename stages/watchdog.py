"""Run a picklable call under a wall-clock limit: a SIGALRM timer, or a watchdog child process.

Why two mechanisms: a signal handler can only be installed on the main thread (where the
in-process runner calls DoFns), and there a timer is nearly free and interrupts CPU-bound
Python between bytecodes. Off the main thread (Beam's multi-process and portable workers call
DoFns from pool threads) nothing can stop CPU-bound Python in-process, so the call runs in one
long-lived child process that is killed and restarted when a call overruns.

Interface: ``TimeLimited(fn, seconds, mode)`` is callable like ``fn``; it returns fn's result
or raises :class:`TimeLimitExceeded` (over time) or :class:`WorkerDied` (the child process
died, e.g. killed by the OS for memory). ``fn`` must pickle (a module-level function, or a
``functools.partial`` of one) when the child is used; so must its arguments and result.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
from typing import Any, Callable, Literal

from stages.settings import PROJECT_ROOT

Mode = Literal["auto", "signal", "process", "off"]


class TimeLimitExceeded(Exception):
    """The call ran longer than its limit (it was interrupted, or its child was killed)."""


class WorkerDied(Exception):
    """The watchdog child died during a call (it is restarted on the next call)."""


# ------------------------------------------------------------------ signal path ------------

class _Overrun(BaseException):
    """Raised by the SIGALRM handler; BaseException so no `except Exception` in a library eats it."""


def run_with_alarm(fn: Callable[[], Any], seconds: float) -> Any:
    """Run ``fn()`` under an ITIMER_REAL timer (main thread only): Python code is interrupted
    between bytecodes; a single C call (one lxml parse) finishes first, so callers bound its
    input size. Raises TimeLimitExceeded on overrun.

    Whatever the interrupted code turns our exception into counts as the overrun once the timer
    fired: a native extension that called back into Python may re-raise it as its own error
    (resiliparse's Rust bindings raise a PanicException).
    """
    fired = False

    def on_alarm(signum: int, frame: Any) -> None:
        nonlocal fired
        fired = True
        raise _Overrun()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException:
        if fired:
            raise TimeLimitExceeded(f"> {seconds:g} s") from None
        raise
    finally:
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------ process path -----------

_FRAME = struct.Struct("<Q")


def _write_frame(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def _read_exact(stream: Any, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("watchdog pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: Any) -> Any:
    (size,) = _FRAME.unpack(_read_exact(stream, _FRAME.size))
    return pickle.loads(_read_exact(stream, size))


def _child_main() -> None:
    """Child loop: (fn, preload) first, then answer argument-tuple frames until stdin closes.

    Frames go over a private duplicate of stdout; fd 1 is pointed at stderr so nothing a
    library prints can corrupt the protocol.
    """
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    fn, preload = _read_frame(source)
    for module in preload:  # pay heavy imports before the first timed call
        __import__(module)
    _write_frame(out, ("ready", None))
    while True:
        try:
            args = _read_frame(source)
        except EOFError:
            return
        try:
            _write_frame(out, ("ok", fn(*args)))
        except Exception as error:  # noqa: BLE001 - the parent re-raises it as RuntimeError
            _write_frame(out, ("error", f"{type(error).__name__}: {error}"))


class Watchdog:
    """Runs ``fn(*args)`` in one long-lived child process, killed and restarted on overrun.

    A plain ``python -c`` child over pipes, not multiprocessing: spawn re-imports the caller's
    __main__ (a Beam harness or pytest), fork is unsafe in multi-threaded workers. Cost per
    call: pickling the arguments and the result through a pipe. The child starts lazily on the
    first call and after a kill or a crash.
    """

    START_SECONDS = 300.0  # a cold child imports its modules; on a busy machine that can be slow

    def __init__(self, fn: Callable[..., Any], seconds: float, preload: tuple[str, ...] = ()) -> None:
        self.fn, self.seconds, self.preload = fn, seconds, tuple(preload)
        self._proc: subprocess.Popen | None = None

    def _start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        proc = subprocess.Popen(
            [sys.executable, "-c", "from stages.watchdog import _child_main; _child_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        _write_frame(proc.stdin, (self.fn, self.preload))
        if not self._wait(proc, self.START_SECONDS):
            proc.kill()
            proc.wait()
            raise RuntimeError("watchdog child did not start")
        _read_frame(proc.stdout)
        self._proc = proc

    @staticmethod
    def _wait(proc: subprocess.Popen, seconds: float) -> bool:
        ready, _, _ = select.select([proc.stdout], [], [], seconds)
        return bool(ready)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()  # type: ignore[union-attr]
                except OSError:
                    pass

    def __call__(self, *args: Any) -> Any:
        if self._proc is None or self._proc.poll() is not None:
            self.stop()
            self._start()
        proc = self._proc
        assert proc is not None
        try:
            _write_frame(proc.stdin, args)
            if not self._wait(proc, self.seconds):
                self.stop()
                raise TimeLimitExceeded(f"> {self.seconds:g} s")
            status, value = _read_frame(proc.stdout)
        except (EOFError, OSError):
            self.stop()
            raise WorkerDied("watchdog child died") from None
        if status == "error":
            raise RuntimeError(value)
        return value

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


# ------------------------------------------------------------------ the one entry point ----

class TimeLimited:
    """``fn`` under a wall-clock limit, by the mode that works on the calling thread.

    Modes: "signal" = SIGALRM timer (main thread only); "process" = watchdog child (any thread);
    "auto" (and "signal") use the timer on the main thread and the child elsewhere (installing a
    handler off the main thread fails, which would fail every call); "off" = no limit.
    """

    def __init__(self, fn: Callable[..., Any], seconds: float, mode: Mode = "auto",
                 preload: tuple[str, ...] = ()) -> None:
        self.fn, self.seconds, self.requested, self.preload = fn, seconds, mode, tuple(preload)
        self.watchdog: Watchdog | None = None

    def mode(self) -> str:
        if self.requested in ("auto", "signal"):
            main = threading.current_thread() is threading.main_thread()
            return "signal" if main and hasattr(signal, "setitimer") else "process"
        return self.requested

    def __call__(self, *args: Any) -> Any:
        mode = self.mode()
        if mode == "signal":
            return run_with_alarm(lambda: self.fn(*args), self.seconds)
        if mode == "process":
            if self.watchdog is None:
                self.watchdog = Watchdog(self.fn, self.seconds, self.preload)
            return self.watchdog(*args)
        return self.fn(*args)

    def stop(self) -> None:
        """Stop the watchdog child, if one runs (it would also stop when garbage-collected)."""
        if self.watchdog is not None:
            self.watchdog.stop()
