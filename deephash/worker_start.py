"""How the library starts worker processes: fresh interpreters, never forks of the caller.

A forked worker inherits every lock that the caller's threads (PyAV's, PyTorch's) held at the moment of the fork;
a worker that then waits on one such lock hangs the whole job, rarely and without an error.
"""

import multiprocessing

WORKER_START = multiprocessing.get_context("spawn")
