"""A task the server runs every few seconds in one daemon thread (audit checkpoints, alert
evaluation): a failed run is logged and the next one retries, never stopping the server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``task`` every ``interval_s`` seconds; also once at start and once at stop when
    asked (``at_start``, ``at_stop``)."""

    def __init__(
        self,
        name: str,
        interval_s: float,
        task: Callable[[], object],
        *,
        at_start: bool = False,
        at_stop: bool = False,
    ) -> None:
        self.name, self.interval_s, self.task = name, interval_s, task
        self.at_start, self.at_stop = at_start, at_stop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        if self.at_start:
            self._once()
        while not self._stop.wait(self.interval_s):
            self._once()
        if self.at_stop:
            self._once()

    def _once(self) -> None:
        try:
            self.task()
        except Exception:  # the next run retries; the server goes on
            log.exception("%s failed", self.name)
