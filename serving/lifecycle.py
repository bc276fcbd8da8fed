"""Worker processes that end with the server that started them.

``bentoml serve`` runs its workers in process groups of their own, so an operator's SIGKILL of the server
process leaves them running, holding the port and the libraries' writer lock; the next start then meets a port
in use or a stale server. Each worker asks Linux to send it SIGTERM when its parent dies (``PR_SET_PDEATHSIG``),
and shuts down as on any SIGTERM.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
SERVER_PID_ENV = "DEEPHASH_SERVER_PID"
logger = logging.getLogger("deephash.service")


def remember_server() -> None:
    """Called in the server process before it starts workers: they inherit its pid through the environment."""
    os.environ[SERVER_PID_ENV] = str(os.getpid())


class ServerGone(Exception):
    """The server process that started this worker has died."""


def server_alive() -> bool:
    """Whether the server process this worker was started by still runs (True where that is unknown)."""
    server = os.environ.get(SERVER_PID_ENV)
    return server is None or os.getppid() == int(server)


def die_with_parent() -> None:
    """SIGTERM this process when its parent exits (Linux; elsewhere a warning and nothing else). A worker whose
    server died while it was still starting (its parent is no longer the pid it inherited) stops at once."""
    if not sys.platform.startswith("linux"):
        logger.warning("this platform cannot tie a worker's life to its parent's: stop workers with the server")
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if not server_alive():
        os.kill(os.getpid(), signal.SIGTERM)
