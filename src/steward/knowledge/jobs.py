"""A source's sync started by an operator from the console ("sync now"), run in a background
thread of the server so the page answers at once and shows the run's state.

The source syncs exactly as ``steward ingest`` would sync it, from the configuration its last
sync registered (``sources.config``). One sync per source at a time in this process; the run
itself is recorded in ``sync_runs`` like every other (so every replica's page shows it), and the
request is a ``sync-requested`` audit event naming who asked.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from steward import audit
from steward.core.errors import InputError, NotFoundError, StewardError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import SourceSpec
from steward.runtime import Runtime
from steward.store.models import Source

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One requested sync: ``running``, then ``ok``, ``partial`` or ``failed``."""

    source_id: str
    requested_by: str
    started_at: datetime
    state: str = "running"
    finished_at: datetime | None = None
    message: str = ""
    done: threading.Event = field(default_factory=threading.Event, repr=False)


class SyncJobs:
    """The syncs this server process started on request, newest per source."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, who: Principal, source_id: str, *, channel: str = "console") -> Job:
        """Authorize, audit and start the sync of ``source_id`` in the background."""
        self.rt.authz.authorize(who, Permission.SYNC_SOURCES, f"source:{source_id}")
        spec = self._spec(source_id)
        with self._lock:
            running = self._jobs.get(source_id)
            if running is not None and running.state == "running":
                raise InputError(f"Source {source_id} is syncing already; wait for it to end.")
            job = Job(source_id, who.user_id, datetime.now(UTC))
            self._jobs[source_id] = job
        audit.record(
            self.rt.store,
            audit.AuditEvent(
                audit.Kind.SYNC_REQUESTED,
                actor=who.user_id,
                target=f"source:{source_id}",
                channel=channel,
                groups=tuple(sorted(who.groups)),
                center=who.center,
            ),
        )
        threading.Thread(target=self._run, args=(job, spec), daemon=True).start()
        return job

    def get(self, source_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(source_id)

    def _spec(self, source_id: str) -> SourceSpec:
        with self.rt.store.read() as s:
            row = s.get(Source, source_id)
            config = dict(row.config) if row is not None else None
        if config is None:
            raise NotFoundError(f"No registered source {source_id[:64]!r}.")
        return SourceSpec.model_validate(config)

    def _run(self, job: Job, spec: SourceSpec) -> None:
        try:
            (report,) = sync(self.rt, [spec])
            job.state = report.status
            job.message = f"{len(report.errors)} item(s) failed" if report.errors else ""
        except StewardError as exc:
            job.state, job.message = "failed", exc.message[:300]
        except Exception as exc:  # a background thread must record, not vanish
            log.error("sync now failed", exc_info=exc, extra={"source": job.source_id})
            job.state, job.message = "failed", "unexpected error; see the server log"
        finally:
            job.finished_at = datetime.now(UTC)
            job.done.set()
