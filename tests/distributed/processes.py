"""Processes the harness starts: each in a session of its own, stopped by its session.

Stopping one ends every process of its session: Airflow's task runners put
themselves in process groups of their own, a session catches them too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import psycopg

from tests.distributed.native_env import REPO


def session_members(sid: int) -> list[psutil.Process]:
    """Every live process of session ``sid``."""
    return alive_members([sid])


def alive_members(sessions: list[int]) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        with suppress(psutil.Error, OSError):
            if os.getsid(proc.pid) in sessions:
                found.append(proc)
    return found


def signal_session(sid: int, sig: int) -> int:
    """Send ``sig`` to every process of session ``sid``; returns how many there were."""
    members = session_members(sid)
    for proc in members:
        with suppress(psutil.Error, OSError):
            proc.send_signal(sig)
    return len(members)


@dataclass
class Service:
    """One process the harness started, in a session of its own."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> Service:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n--- start {self.starts + 1}: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL every process of the session at once: the host is gone."""
        if self.popen is None:
            return
        signal_session(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)
        self._reap()

    def stop(self, grace: float = 15) -> None:
        """SIGTERM the session, SIGKILL what is left after ``grace`` seconds."""
        if self.popen is None:
            return
        signal_session(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while session_members(self.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.kill()

    def _reap(self) -> None:
        deadline = time.monotonic() + 10
        while session_members(self.pid) and time.monotonic() < deadline:
            signal_session(self.pid, signal.SIGKILL)
            time.sleep(0.1)

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_for_line(self, text: str, timeout: float, since: int = 0) -> None:
        """Wait until the log, from byte ``since``, holds ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.exists() and text in self.log.read_text(errors="replace")[since:]:
                return
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: no '{text}' after {timeout:.0f} s:\n{self.tail()}")


def wait_until(check: Callable[[], object], timeout: float, what: str, every: float = 1.0):
    """Poll ``check`` until it returns something true; returns it."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, OSError, psycopg.Error) as error:
            last_error = error
        time.sleep(every)
    raise TimeoutError(f"{what}: not after {timeout:.0f} s" + (f" ({last_error})" if last_error else ""))
