"""Rate limits per API key, user and center, and the throttling of failed authentication.

Counters live in the relational store (``rate_counters``), so every replica on one database
shares them. Each bucket counts in a **fixed window** (``window_start`` = now rounded down to
the window length): one upsert of a few rows per request, exact across replicas, and no per-hit
rows to scan. A sliding log would cost a row per request; a sliding-window estimate would add a
read of the previous window. The known cost of fixed windows, a burst of up to twice the limit
across a window edge, is acceptable for limits meant to stop floods, not to meter.

A request that authenticates costs one write transaction: its buckets are upserted with
``RETURNING`` (one statement), and the failure counter of its client address is read in the
same transaction. A failed authentication with credentials costs one write transaction too (a
read and at most two upserts); an address is charged once per distinct credential it fails
with. Past the threshold, that address gets 429 (with ``Retry-After``) instead of 401, valid
credentials or not, until the window ends. Key prefixes are counted and logged but never
throttled: a prefix is not secret, so throttling it would let anyone lock a user out.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from hashlib import sha256

from sqlalchemy import TextClause, delete, select, text
from sqlalchemy.orm import Session

from steward.config.settings import LimitsSettings
from steward.core.errors import AuthError, RateLimited
from steward.identity.auth import KEY_PREFIX, Principal, TokenVerifier, authenticate
from steward.store import Store
from steward.store.models import RateCounter

# The security log: one line per failed authentication (key prefix only, never the key).
security_log = logging.getLogger("steward.security")
_PREFIX_LEN = len(KEY_PREFIX) + 6  # as much of a key as `steward keys list` shows
# Past the threshold, a flood logs every this-many-th failure, so it cannot flood the log too.
_LOG_EVERY = 100


@dataclass(frozen=True)
class Limit:
    """``limit`` hits of ``bucket`` per window of ``window_s`` seconds."""

    bucket: str
    limit: int
    window_s: int
    label: str  # what is limited, for the message: "this API key", "your center"


def _window(now: float, window_s: int) -> int:
    return int(now) // window_s * window_s


def _retry_after(now: float, window_s: int) -> int:
    return _window(now, window_s) + window_s - int(now)


def key_prefix(token: str) -> str:
    """What the log may show of a presented credential: a Steward key's public prefix, or the
    kind of token; never the secret part."""
    if token.startswith(KEY_PREFIX):
        return token[:_PREFIX_LEN]
    return "jwt" if token.count(".") == 2 else "other"


class RateLimiter:
    """Counts requests and failed logins in the store; raises :class:`RateLimited` when over."""

    def __init__(
        self, store: Store, cfg: LimitsSettings, clock: Callable[[], float] = time.time
    ) -> None:
        """``clock``: seconds since the epoch; the windows are aligned to it."""
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self._swept_window = 0  # the last window this process deleted older rows for
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- the request path

    def authenticate(
        self,
        authorization: str | None,
        client: str,
        verifier: TokenVerifier | None = None,
        anonymous_group: str | None = None,
    ) -> Principal:
        """:func:`~steward.identity.auth.authenticate`, counted: a failure with credentials
        counts against the client address (429 past the threshold), a success against the
        principal's key, user and center."""
        try:
            who = authenticate(self.store, authorization, verifier, anonymous_group)
        except AuthError:
            if authorization:  # a missing header is no guess at a key: not counted
                self.failed(authorization, client)
            raise
        self.admit(who, authorization, client)
        return who

    def limits_for(self, who: Principal, authorization: str | None, client: str) -> list[Limit]:
        c, w = self.cfg, self.cfg.rate_window_s
        token = (authorization or "").partition(" ")[2].strip()
        # Anonymous askers share one user id: each client address counts as its own asker.
        user = f"anon:{client}" if who.via == "anonymous" else who.user_id
        found = [Limit(f"user:{user}", c.rate_per_user, w, "this user")]
        if who.via == "api-key":
            # A digest names the key's bucket: the key itself never reaches the table.
            digest = sha256(token.encode("utf-8")).hexdigest()[:32]
            found.append(Limit(f"key:{digest}", c.rate_per_key, w, "this API key"))
        if who.center:
            found.append(Limit(f"center:{who.center}", c.rate_per_center, w, "this center"))
        return [lim for lim in found if lim.limit > 0]

    def admit(self, who: Principal, authorization: str | None, client: str) -> None:
        """Count one request of ``who``; RateLimited if a limit is over, or if ``client`` is
        throttled for failed logins."""
        limits = self.limits_for(who, authorization, client)
        throttle = self.cfg.auth_failures_max
        if not limits and throttle <= 0:
            return
        now = self.clock()
        with self.store.write() as (s, _):
            if throttle > 0:
                self._refuse_if_throttled(s, client, now)
            counts = self._hit(s, limits, now)
        for lim in limits:
            if counts[lim.bucket] > lim.limit:
                wait = _retry_after(now, lim.window_s)
                raise RateLimited(
                    f"Too many requests for {lim.label}: the limit is {lim.limit} every "
                    f"{lim.window_s} s. Try again in {wait} s.",
                    retry_after=wait,
                )

    def _refuse_if_throttled(self, s: Session, client: str, now: float) -> None:
        w = self.cfg.auth_failure_window_s
        if self._read(s, f"auth-addr:{client}", now, w) > self.cfg.auth_failures_max:
            raise _throttled(_retry_after(now, w))

    # ---------------------------------------------------------------- failed logins

    def failed(self, authorization: str, client: str) -> None:
        """Count and log one failed authentication; RateLimited once ``client`` is past the
        threshold (the caller raises its AuthError otherwise)."""
        token = authorization.partition(" ")[2].strip()
        prefix = key_prefix(token)
        now = self.clock()
        with self.store.write() as (s, _):
            failures, repeats, with_prefix = self._count_failure(s, client, token, prefix, now)
        threshold = self.cfg.auth_failures_max
        throttled = 0 < threshold < failures
        # Past the threshold, or for one credential sent again and again, every 100th line:
        # a flood of attempts must not become a flood of log lines.
        over = failures - threshold - 1 if throttled else repeats - 1
        if over % _LOG_EVERY == 0:
            security_log.warning(
                "authentication failed",
                extra={
                    "event": "auth-failed",
                    "client": client,
                    "key_prefix": prefix,
                    "failures_from_client": failures,
                    "failures_with_prefix": with_prefix,
                    "throttled": throttled,
                },
            )
        if throttled:
            raise _throttled(_retry_after(now, self.cfg.auth_failure_window_s))

    def _count_failure(
        self, s: Session, client: str, token: str, prefix: str, now: float
    ) -> tuple[int, int, int]:
        """Failures from ``client`` (each distinct credential once), times this credential was
        sent from it, and failures with ``prefix``, all in the current failure window.

        Distinct credentials, because guessing needs new ones: a client retrying one stale key
        is a misconfiguration, and counting each retry would lock out everyone behind its
        address (an office NAT)."""
        w = self.cfg.auth_failure_window_s
        addr = Limit(f"auth-addr:{client}", self.cfg.auth_failures_max, w, "this address")
        by_prefix = Limit(f"auth-key:{prefix}", 0, w, "this key prefix")
        failures = self._read(s, addr.bucket, now, w)
        if 0 < self.cfg.auth_failures_max < failures:
            # Throttled already: keep counting, but remember no more credentials.
            counts = self._hit(s, [addr, by_prefix], now)
            return counts[addr.bucket], 1, counts[by_prefix.bucket]
        digest = sha256(token.encode("utf-8")).hexdigest()[:32]
        seen = Limit(f"auth-seen:{client}:{digest}", 0, w, "this credential")
        counts = self._hit(s, [seen, by_prefix], now)
        if counts[seen.bucket] == 1:
            failures = self._hit(s, [addr], now)[addr.bucket]
        return failures, counts[seen.bucket], counts[by_prefix.bucket]

    def _read(self, s: Session, bucket: str, now: float, window_s: int) -> int:
        hits = s.scalar(
            select(RateCounter.hits).where(
                RateCounter.bucket == bucket, RateCounter.window_start == _window(now, window_s)
            )
        )
        return int(hits or 0)

    # ---------------------------------------------------------------- counters

    def _hit(self, s: Session, limits: Iterable[Limit], now: float) -> dict[str, int]:
        """Add one hit to each bucket in its current window, in one statement; the new counts."""
        params: dict[str, object] = {}
        for i, lim in enumerate(limits):
            params[f"b{i}"], params[f"w{i}"] = lim.bucket, _window(now, lim.window_s)
        if not params:
            return {}
        self._sweep(s, now)
        # RETURNING order is not guaranteed (SQLite): map the counts by bucket.
        return {row[0]: row[1] for row in s.execute(_upsert(len(params) // 2), params)}

    def _sweep(self, s: Session, now: float) -> None:
        """Once per window and process, delete windows no limit can still be counting."""
        window = _window(now, self.cfg.rate_window_s)
        with self._lock:
            if window == self._swept_window:
                return
            self._swept_window = window
        longest = max(self.cfg.rate_window_s, self.cfg.auth_failure_window_s)
        s.execute(delete(RateCounter).where(RateCounter.window_start < int(now) - 2 * longest))


@functools.cache
def _upsert(rows: int) -> TextClause:
    """The upsert of ``rows`` buckets. Plain SQL, the same in SQLite (3.35+) and PostgreSQL,
    built once per row count: composing it with SQLAlchemy's dialect inserts cost about 2 ms a
    request (compiled again on each call), this costs a fraction of that."""
    # Only numbered placeholders are formatted in; the values are bound parameters.
    values = ", ".join(f"(:b{i}, :w{i}, 1)" for i in range(rows))
    return text(
        f"INSERT INTO rate_counters (bucket, window_start, hits) VALUES {values} "  # noqa: S608
        "ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_counters.hits + 1 "
        "RETURNING bucket, hits"
    )


def _throttled(wait: int) -> RateLimited:
    return RateLimited(
        f"Too many failed authentications from this address. Try again in {wait} s.",
        retry_after=wait,
    )
