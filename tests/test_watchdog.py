"""stages.watchdog: a picklable call under a time limit (SIGALRM timer or watchdog child)."""
from __future__ import annotations

import operator
import os
import threading
import time

import pytest

from stages.watchdog import TimeLimited, TimeLimitExceeded, Watchdog, WorkerDied, run_with_alarm


def exit_process(*args: object) -> None:
    """Dies like a child the OS killed (module level, so the child can unpickle it)."""
    os._exit(3)


def busy(seconds: float) -> str:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:  # CPU-bound Python: only a signal or a kill stops it
        pass
    return "finished"


def test_process_mode_returns_the_result_and_reuses_one_child() -> None:
    limited = TimeLimited(operator.add, 30, "process")
    try:
        assert limited(2, 3) == 5
        child = limited.watchdog._proc
        assert limited("a", "b") == "ab" and limited.watchdog._proc is child
    finally:
        limited.stop()


def test_overrun_kills_the_child_and_the_next_call_restarts_it() -> None:
    watchdog = Watchdog(time.sleep, 0.3)
    try:
        watchdog(0)
        child = watchdog._proc
        with pytest.raises(TimeLimitExceeded):
            watchdog(30)
        assert child.poll() is not None and watchdog._proc is None
        assert watchdog(0) is None and watchdog._proc is not child
    finally:
        watchdog.stop()


def test_a_child_that_dies_is_worker_died_and_restarted() -> None:
    watchdog = Watchdog(exit_process, 30)
    try:
        with pytest.raises(WorkerDied):
            watchdog()
        assert watchdog._proc is None
        with pytest.raises(WorkerDied):  # restarted, dies again
            watchdog()
    finally:
        watchdog.stop()


def test_an_exception_in_the_child_is_raised_with_its_type() -> None:
    watchdog = Watchdog(int, 30)
    try:
        with pytest.raises(RuntimeError, match="ValueError"):
            watchdog("not a number")
        assert watchdog(" 7 ") == 7  # the child survives an exception
    finally:
        watchdog.stop()


def test_the_alarm_interrupts_cpu_bound_python_and_restores_the_handler() -> None:
    import signal

    before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(TimeLimitExceeded):
        run_with_alarm(lambda: busy(5), 0.2)
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert run_with_alarm(lambda: busy(0), 5) == "finished"


def test_signal_mode_in_a_thread_falls_back_to_the_child() -> None:
    limited = TimeLimited(operator.mul, 30, "signal")
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append((limited.mode(), limited(6, 7))))
    try:
        worker.start()
        worker.join()
        assert limited.mode() == "signal" and results == [("process", 42)]
    finally:
        limited.stop()


def test_off_mode_calls_in_process() -> None:
    limited = TimeLimited(operator.sub, 0.001, "off")
    assert limited(5, 2) == 3 and limited.watchdog is None


def test_an_overrun_converted_by_native_code_still_counts_as_the_overrun() -> None:
    # a native extension interrupted inside a callback may re-raise our exception as its own
    # (resiliparse's Rust bindings panic: PanicException, a BaseException)
    class NativePanic(BaseException):
        pass

    def converts() -> None:
        try:
            busy(5)
        except BaseException as error:
            raise NativePanic("callback failed") from error

    with pytest.raises(TimeLimitExceeded):
        run_with_alarm(converts, 0.2)
    with pytest.raises(ValueError):  # no alarm: the error is the call's own
        run_with_alarm(lambda: int("x"), 5)
