"""Where replications run: in this process, in local worker processes, or on a Dask cluster.

One interface for all three: :meth:`Executor.map` applies a pure function
``fn(context, item)`` to every item and yields ``(item, result)`` pairs *as they
complete* (not in item order; callers that need an order sort afterwards). The
``context`` is the large, shared input (the scenarios of a run or a sweep) and
is shipped to each worker once, not once per item:

* :class:`SerialExecutor` calls ``fn`` in this process — no pickling at all;
* :class:`ProcessExecutor` (``concurrent.futures.ProcessPoolExecutor``) writes
  the pickled context once to a private temporary file and sends workers only
  its name; each worker unpickles it on first use and keeps the last few;
* :class:`DaskExecutor` (``dask.distributed``) scatters the context to every
  worker once and submits one task per item. ``"local"`` starts a
  ``LocalCluster`` on this machine; ``tcp://host:port`` joins an existing
  scheduler, whose workers must have the same natsim installed.

The function and its results must be picklable; results should be small
(replications return their KPI dict, not their tables). The same ``fn`` and
items give identical results on every executor because ``fn`` is pure: every
random draw comes from streams keyed by (seed, replication, name).

If the consumer stops early (an exception, Ctrl-C, closing the generator), the
items not yet started are cancelled.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

Task = Callable[[Any, Any], Any]


class Executor(ABC):
    """Maps a pure function over items; use as a context manager to release workers."""

    #: how many items can run at once
    workers: int = 1

    @abstractmethod
    def map(self, fn: Task, context: Any, items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """Yield ``(item, fn(context, item))`` for every item, in completion order."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release workers and temporary files (idempotent)."""

    @property
    def description(self) -> str:
        """A short text for the manifest and the terminal, e.g. ``"2 local processes"``."""
        return type(self).__name__

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Everything in this process, one item after the other (the reference)."""

    workers = 1

    def map(self, fn: Task, context: Any, items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        for item in items:
            yield item, fn(context, item)

    @property
    def description(self) -> str:
        return "serial (this process)"


# -- local processes ---------------------------------------------------------------
_WORKER_CONTEXTS: OrderedDict[str, Any] = OrderedDict()
_WORKER_CONTEXTS_KEPT = 4


def _worker_start(parent: int, folder: str) -> None:
    """Worker initializer: leave Ctrl-C to the parent, and exit if the parent dies.

    The parent handles Ctrl-C (cancels what has not started, keeps what has
    finished); a worker interrupted mid-task would only break the pool. If the
    parent is killed outright (SIGKILL, out of memory) nobody would collect the
    worker's results, so a watchdog thread ends the worker when its parent is
    gone, removing the parent's context folder on the way out.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                shutil.rmtree(folder, ignore_errors=True)
                os._exit(1)

    threading.Thread(target=watch, name="natsim-parent-watch", daemon=True).start()


def _call_with_shared(fn: Task, token: str, path: str, item: Any) -> Any:
    """Worker side of :class:`ProcessExecutor`: load the context once, then call ``fn``."""
    context = _WORKER_CONTEXTS.get(token)
    if context is None:
        with open(path, "rb") as fh:
            context = pickle.load(fh)
        _WORKER_CONTEXTS[token] = context
        while len(_WORKER_CONTEXTS) > _WORKER_CONTEXTS_KEPT:
            _WORKER_CONTEXTS.popitem(last=False)
    else:
        _WORKER_CONTEXTS.move_to_end(token)
    return fn(context, item)


class ProcessExecutor(Executor):
    """Local worker processes (``concurrent.futures``), one per core by default."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._folder = Path(tempfile.mkdtemp(prefix=f"natsim-context-{os.getpid()}-"))
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=self.workers,
            initializer=_worker_start,
            initargs=(os.getpid(), str(self._folder)),
        )
        self._shared: dict[int, tuple[Any, str, str]] = {}

    def _share(self, context: Any) -> tuple[str, str]:
        """The token and file of ``context`` (written once per context object)."""
        known = self._shared.get(id(context))
        if known is not None and known[0] is context:
            return known[1], known[2]
        token = uuid.uuid4().hex
        path = self._folder / f"{token}.pickle"
        path.write_bytes(pickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL))
        self._shared[id(context)] = (context, token, str(path))
        return token, str(path)

    def map(self, fn: Task, context: Any, items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        if self._pool is None:
            raise RuntimeError("the executor is closed")
        token, path = self._share(context)
        pending: dict[Future[Any], Any] = {
            self._pool.submit(_call_with_shared, fn, token, path, item): item for item in items
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    yield item, future.result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        shutil.rmtree(self._folder, ignore_errors=True)

    @property
    def description(self) -> str:
        return f"{self.workers} local process{'es' if self.workers != 1 else ''}"


# -- Dask --------------------------------------------------------------------------
def _reachable(address: str, seconds: float = 3.0) -> None:
    """Fail at once when nothing listens at a tcp:// scheduler address: Dask itself keeps
    retrying a refused connection for its whole timeout (30 s) before it says so."""
    if not address.startswith("tcp://"):
        return
    host, _, port = address[len("tcp://") :].rpartition(":")
    if not port.isdigit():
        raise ValueError(f"'{address}' is not tcp://HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=seconds):
            pass
    except OSError as exc:
        raise OSError(f"nothing answers at {host}:{port} ({exc.strerror or exc})") from None


class DaskExecutor(Executor):
    """A Dask distributed cluster: ``"local"`` (a LocalCluster here) or a scheduler address.

    ``workers`` sets the LocalCluster's size (default: one per core; one
    thread each, since a replication holds the GIL); it is ignored for an
    existing scheduler, whose workers are waited for (at least one) for up to
    ``timeout`` seconds.
    """

    def __init__(self, address: str, workers: int | None = None, timeout: float = 30.0) -> None:
        import logging

        from distributed import Client, LocalCluster

        self._cluster: Any = None
        if address == "local":
            self._cluster = LocalCluster(
                n_workers=max(1, workers or os.cpu_count() or 1),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
            self._client: Any = Client(self._cluster)
        else:
            _reachable(address)
            self._client = Client(address, timeout=timeout)
            self._client.wait_for_workers(1, timeout=timeout)
        self.address = address
        self._shared: dict[int, tuple[Any, Any]] = {}

    @property
    def workers(self) -> int:  # type: ignore[override]
        info = self._client.scheduler_info()
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def _share(self, context: Any) -> Any:
        known = self._shared.get(id(context))
        if known is not None and known[0] is context:
            return known[1]
        future = self._client.scatter(context, broadcast=True, hash=False)
        self._shared[id(context)] = (context, future)
        return future

    def map(self, fn: Task, context: Any, items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed

        shared = self._share(context)
        batch = uuid.uuid4().hex[:12]
        futures = {}
        for i, item in enumerate(items):
            future = self._client.submit(fn, shared, item, key=f"natsim-{batch}-{i}", pure=False)
            futures[future.key] = (future, item)
        try:
            for future in as_completed([f for f, _ in futures.values()]):
                item = futures.pop(future.key)[1]
                yield item, future.result()
        finally:
            if futures:
                self._client.cancel([f for f, _ in futures.values()])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    @property
    def description(self) -> str:
        where = "a local Dask cluster" if self.address == "local" else f"Dask at {self.address}"
        return f"{where} ({self.workers} worker threads)"


def make_executor(workers: int | None = None, dask: str | None = None) -> Executor:
    """The executor the CLI and the API choose from their options.

    ``dask`` ("local" or a scheduler address) selects Dask; otherwise
    ``workers`` local processes (default: one per core), and ``workers=1`` runs
    serially in this process.
    """
    if dask:
        return DaskExecutor(dask, workers)
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n < 1:
        raise ValueError(f"workers must be at least 1, got {n}")
    return SerialExecutor() if n == 1 else ProcessExecutor(n)
