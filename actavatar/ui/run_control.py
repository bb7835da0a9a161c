"""Stopping a generation in the app: a per-run cancel flag, the runs of each browser session, and the wrapper that
makes a sync Gradio handler stop when its task is cancelled.

How Gradio 6 cancels a run (Stop via ``cancels=``, gradio_client's ``job.cancel()``): the ``/cancel`` route calls
``gradio.utils.cancel_tasks``, which cancels the asyncio task awaiting the handler. A sync handler is awaited through
``anyio.to_thread.run_sync``: its thread runs on to the end while the queue already counts the concurrency slot as
free. Closing the tab cancels nothing: ``Queue.clean_events`` only marks the run dead (it still runs) and the
``unload`` event fires. So generation runs in its own thread with a ``Run`` flag that its progress callback checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import threading
from pathlib import Path

import anyio
import gradio as gr

CANCEL_WAIT_S = 15.0  # how long a cancelled handler waits for its thread to stop (CPU: one step, well under a second)


class Run:
    """One generation in flight: a cancel flag checked at every progress step, and the folder it writes."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self.folder: Path | None = None

    def cancel(self) -> None:
        self._cancelled.set()

    def check(self) -> None:
        """Raise the library's ``Cancelled`` if the run was cancelled."""
        if self._cancelled.is_set():
            from actavatar.api import Cancelled

            raise Cancelled("generation cancelled")

    def guard(self, progress):
        """``progress`` that first stops the run (raises ``Cancelled``) if it was cancelled."""

        def checked(*args, **kwargs):
            self.check()
            return progress(*args, **kwargs)

        return checked

    def discard(self) -> None:
        """Remove everything the run wrote."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class SessionRuns:
    """The runs in flight of each browser session, so that closing or reloading the tab stops them."""

    def __init__(self) -> None:
        self._runs: dict[str, set[Run]] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def track(self, request: gr.Request | None, run: Run):
        session = getattr(request, "session_hash", None)
        if session is None:
            yield
            return
        with self._lock:
            self._runs.setdefault(session, set()).add(run)
        try:
            yield
        finally:
            with self._lock:
                runs = self._runs.get(session, set())
                runs.discard(run)
                if not runs:
                    self._runs.pop(session, None)

    def cancel(self, session: str | None) -> int:
        with self._lock:
            runs = list(self._runs.get(session, ()))
        for run in runs:
            run.cancel()
        return len(runs)


SESSION_RUNS = SessionRuns()


def on_unload(request: gr.Request):
    """The tab was closed or reloaded: stop its generations (Gradio only stops sending their updates)."""
    SESSION_RUNS.cancel(getattr(request, "session_hash", None))


def cancellable(fn, wait_s: float = CANCEL_WAIT_S):
    """The sync handler ``fn`` (which takes a keyword ``run: Run``) as an async Gradio handler that really stops.

    ``fn`` runs in a worker thread. When Gradio cancels the task, the run is flagged, ``fn`` raises at its next
    progress step, and the task ends once the thread has stopped (at most ``wait_s``), so the concurrency
    slot frees when the work is over. Whenever the thread ends, the files of the cancelled run are removed."""

    @functools.wraps(fn)  # Gradio reads the parameters (API names, gr.Progress, gr.Request) through __wrapped__
    async def handler(*args, **kwargs):
        run = Run()
        work = asyncio.ensure_future(anyio.to_thread.run_sync(functools.partial(fn, *args, run=run, **kwargs)))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            run.cancel()

            def finished(_):
                if not work.cancelled():
                    work.exception()  # retrieved: the run's "stopped" error has nobody to go to
                run.discard()

            work.add_done_callback(finished)
            deadline = asyncio.get_running_loop().time() + wait_s
            while not work.done() and (left := deadline - asyncio.get_running_loop().time()) > 0:
                with contextlib.suppress(asyncio.CancelledError):  # a repeated /cancel: keep waiting
                    await asyncio.wait([work], timeout=left)
            raise

    return handler
