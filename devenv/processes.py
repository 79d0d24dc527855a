"""Child server processes that never outlive the environment that started them.

Each server runs in its own process group, so stopping it also stops whatever
it forked (MLflow's web workers). The kernel is asked to send SIGTERM to the
child if the starting process dies without cleaning up (PR_SET_PDEATHSIG), the
last line of defence after context managers, atexit and signal handlers. That
signal is SIGTERM unless the server is known to linger after it (Argo's
workflow-controller waits ~10 s, and outlived owners killed with SIGKILL): such
a server asks for SIGKILL, since nothing is left to stop it cleanly.
Because that signal follows the *thread* that forked, servers are started from
the main thread only; waiting for readiness may happen anywhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class StartupError(RuntimeError):
    """A server did not become ready; the message carries its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent(death_signal: signal.Signals) -> Callable[[], None]:
    def ask() -> None:
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, death_signal)
        except OSError:  # not Linux/glibc: the other safeguards still apply
            pass

    return ask


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


class ServerProcess:
    """One long-running server whose output goes to `log_file`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_file: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        grace: float = 10.0,
        death_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.grace = grace
        """Seconds `stop` waits after SIGTERM before SIGKILL."""
        self.death_signal = death_signal
        """What the kernel sends the server when the thread that started it dies."""
        self.argv = list(argv)
        self.log_file = log_file
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(("$ " + " ".join(self.argv) + "\n").encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent(self.death_signal),  # noqa: PLW1509 - only calls prctl
            )

    def exited(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return None if self._popen is None else self._popen.poll()

    def failure(self, why: str) -> StartupError:
        return StartupError(f"{self.name} {why}; log {self.log_file}:\n{tail(self.log_file)}")

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll `ready` until it is true; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.exited()
            if code is not None:
                raise self.failure(f"exited with code {code} while starting")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self.failure(f"was not ready after {timeout:.0f} s")
            time.sleep(0.1)

    def terminate(self) -> None:
        """Send SIGTERM to the process group without waiting (see `stop_all`)."""
        if self._popen is not None and self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, signal.SIGTERM)  # session leader: pgid == pid

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM the process group, then SIGKILL it if it lingers (`timeout`, else its `grace`)."""
        if timeout is None:
            timeout = self.grace
        if self._popen is None:
            return
        pgid = self._popen.pid
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout=timeout)
        # the leader is gone or hung: make sure no process of its group survives
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self._popen.wait()
        self._popen = None


def stop_all(processes: Iterable[ServerProcess], timeout: float | None = None) -> None:
    """Stop several servers at once: all get SIGTERM first, then each is awaited."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop(timeout)


def http_ok(url: str, context: ssl.SSLContext | None = None, expect: bytes = b"") -> bool:
    """True when GET `url` answers 200 (and the body contains `expect`)."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as resp:
            return bool(resp.status == 200 and expect in resp.read())
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def insecure_tls() -> ssl.SSLContext:
    """A TLS context for probing a server's self-signed /healthz on loopback."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
