"""Latency of an action's decision path: policy and audit, not the downstream call (issue 21).

Builds a temporary home with a directory (customers, service representatives, two reviewers) and
a tools file whose executors are Python callables that do nothing, so only Steward's part is
timed. Then times ``--calls`` proposals of each kind through ``rt.actions.propose`` (the path
``POST /v1/actions`` takes), the kinds interleaved so that drift hits all of them alike:

- ``freeze_auto``: a representative freezes a customer's card (low risk, mode auto): policy,
  the proposal's audit row, then execution — the claim, the asker's signed assertion, the no-op
  executor and the executed row. Nothing is subtracted: the executor does nothing.
- ``address_confirm``: a customer changes their own address (mode confirm): decided, sealed,
  recorded, left awaiting the customer's confirmation.
- ``waiver_approval``: a representative waives a $100 fee, beyond a tier-1 authority of $65:
  awaiting two approvers.
- ``forged_customer_denied``: a customer asks to freeze another customer's card: denied by the
  policy's forbid, recorded.

The baseline, measured in the same run: one Cedar decision alone (``ActionPolicy.decide``), and
one audit row written alone in its own transaction (``audit.record``). Target: p95 under 10 ms
for every kind. The shipped policy limits an asker to 20 calls of one tool an hour, so the
directory holds enough askers to stay under it. Prints one JSON line per engine::

    python -m benchmarks.actions.decision [--calls 500] [--engine sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.machine import machine
from steward import audit
from steward.actions.executors import Call
from steward.actions.policy import Who
from steward.config.settings import Settings
from steward.identity.auth import principal_for
from steward.identity.directory import import_directory
from steward.runtime import Runtime

PER_HOUR = 20  # the shipped policy's rate-limit-per-asker, per tool
TARGET_P95_MS = 10.0
KINDS = ("freeze_auto", "address_confirm", "waiver_approval", "forged_customer_denied")
DECISIONS = KINDS[1:]  # the kinds whose propose() stops at the decision
NOOP = "benchmarks.actions.decision:noop"

TOOLS = f"""\
tools:
  - name: freeze_card
    description: Freeze the customer's card.
    risk: low
    mode: auto
    subject: customer
    arguments:
      type: object
      properties: {{customer: {{type: string}}, last4: {{type: string, pattern: "^[0-9]{{4}}$"}}}}
      required: [customer, last4]
      additionalProperties: false
    executor: {{python: "{NOOP}"}}
  - name: change_address
    description: Change the customer's postal address.
    risk: low
    subject: customer
    summary: "Change the address of {{customer}} to {{address}}"
    arguments:
      type: object
      properties: {{customer: {{type: string}}, address: {{type: string, maxLength: 200}}}}
      required: [customer, address]
      additionalProperties: false
    executor: {{python: "{NOOP}"}}
  - name: waive_fee
    description: Waive a fee on the customer's account.
    risk: low
    mode: auto
    subject: customer
    amount: amount
    summary: "Waive {{amount}} USD for {{customer}} (reason {{reason}})"
    arguments:
      type: object
      properties:
        customer: {{type: string}}
        amount: {{type: number, exclusiveMinimum: 0, maximum: 100000}}
        reason: {{type: string, enum: [WV-01, WV-02, WV-03, WV-04, WV-05, WV-06]}}
      required: [customer, amount, reason]
      additionalProperties: false
    executor: {{python: "{NOOP}"}}
"""


def noop(call: Call) -> dict[str, Any]:
    """The executor: does nothing, so the figures are Steward's own."""
    return {"ok": True}


def _directory(askers: int) -> str:
    lines = [
        "organization: Bench",
        "centers: [north]",
        "groups:",
        "  - {id: customers, external: true}",
        "  - {id: staff}",
        "users:",
    ]
    for i in range(askers):
        lines.append(f"  - {{id: cust-{i:04d}, groups: [customers], center: north}}")
        lines.append(
            f"  - {{id: rep-{i:04d}, groups: [staff], center: north, role: service_representative}}"
        )
    for r in (1, 2):
        lines.append(
            f"  - {{id: rev-{r}, groups: [staff], center: north, role: supervisor, "
            "access: reviewer}"
        )
    return "\n".join(lines) + "\n"


def _stats(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 3)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "n": len(ordered)}


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


class _Bench:
    def __init__(self, rt: Runtime, numbers: range) -> None:
        self.rt = rt
        self.svc = rt.actions
        self.customers = [principal_for(rt.store, f"cust-{i:04d}") for i in numbers]
        self.reps = [principal_for(rt.store, f"rep-{i:04d}") for i in numbers]
        self.n = len(numbers)

    def one(self, kind: str, i: int) -> tuple[float, str]:
        """Milliseconds for one proposal of ``kind`` (the i-th), and the status it ended in."""
        cust, rep = self.customers[i % self.n], self.reps[i % self.n]
        other = self.customers[(i + 1) % self.n]
        address = f"{i} Harbour Road, Portsmouth"
        propose = self.svc.propose
        calls: dict[str, Callable[[], Any]] = {
            "freeze_auto": lambda: propose(
                rep, "freeze_card", {"customer": cust.user_id, "last4": "4821"}
            ),
            "address_confirm": lambda: propose(
                cust, "change_address", {"customer": cust.user_id, "address": address}
            ),
            "waiver_approval": lambda: propose(
                rep, "waive_fee", {"customer": cust.user_id, "amount": 100, "reason": "WV-01"}
            ),
            "forged_customer_denied": lambda: propose(
                cust, "freeze_card", {"customer": other.user_id, "last4": "4821"}
            ),
        }
        ms, view = _timed(calls[kind])
        return ms, view.status

    def proposals(self, calls: int) -> dict[str, list[float]]:
        expected = {
            "freeze_auto": "executed",
            "address_confirm": "awaiting-confirmation",
            "waiver_approval": "awaiting-approval",
            "forged_customer_denied": "denied",
        }
        times: dict[str, list[float]] = {k: [] for k in KINDS}
        for i in range(calls):
            for kind in KINDS:
                ms, status = self.one(kind, i)
                assert status == expected[kind], (kind, i, status)
                times[kind].append(ms)
        return times

    def cedar(self, calls: int) -> list[float]:
        """One Cedar decision alone: may a representative propose a waiver (the context the
        service builds)."""
        rep = self.reps[0]
        who = Who(rep.user_id, rep.access, "service_representative", rep.center, False,
                  rep.groups)  # fmt: skip
        context = {
            "subject_is_self": False, "has_subject": True, "amount_cents": 10000,
            "prior_cents": 0, "recent_hour": 3, "source": "asker", "center": "north",
        }  # fmt: skip
        policy = self.svc.policy
        out = []
        for _ in range(calls):
            ms, decided = _timed(lambda: policy.decide("execute", who, "waive_fee", "low", context))
            assert not decided.allowed
            out.append(ms)
        return out

    def audit_write(self, calls: int) -> list[float]:
        """One audit row alone, in its own transaction: a denied proposal's."""
        payload = {
            "tool": "freeze_card", "status": "denied", "risk": "high", "mode": "propose",
            "approvals_needed": 2, "call_hash": "0" * 64,
            "arguments": {"customer": "cust-0001", "last4": "4821"},
            "requested_by": "cust-0000", "subject": "cust-0001", "source": "asker",
            "decision": {"propose": {"allowed": False,
                                     "rules": ["customers-act-only-for-themselves"]},
                         "execute": {"allowed": False, "rules": []}},
            "attempts": 0,
        }  # fmt: skip
        out = []
        for i in range(calls):
            event = audit.AuditEvent(
                audit.Kind.ACTION_DENIED, actor="cust-0000", target=f"action:bench-{i}",
                decision="denied", payload=payload, reason="customers-act-only-for-themselves",
                channel="api", groups=("customers",), center="north",
                summary="[action-denied freeze_card] freeze_card(customer=cust-0001, last4=4821)",
            )  # fmt: skip
            ms, _ = _timed(partial(audit.record, self.rt.store, event))
            out.append(ms)
        return out


def run(url: str, engine: str, calls: int, home: Path) -> dict[str, Any]:
    # At most half the hourly allowance per asker and tool, and one pair for the warm-up.
    askers = calls // (PER_HOUR // 2) + 2
    home.mkdir(parents=True, exist_ok=True)
    (home / "tools.yaml").write_text(TOOLS, encoding="utf-8")
    (home / "directory.yaml").write_text(_directory(askers), encoding="utf-8")
    rt = Runtime(
        Settings(home=home, database_url=url, tools_file=home / "tools.yaml",
                 audit_checkpoint_interval_s=0)
    )  # fmt: skip
    import_directory(rt.store, home / "directory.yaml")
    # Warm-up on a pair of its own: imports, the masker's recognizers, the signing key.
    warm = _Bench(rt, range(askers - 2, askers))
    for i in range(3):
        for kind in KINDS:
            warm.one(kind, i)
    bench = _Bench(rt, range(askers - 2))
    bench.cedar(20)
    bench.audit_write(20)
    times = bench.proposals(calls)
    cedar = bench.cedar(calls)
    written = bench.audit_write(calls)
    rt.close()
    figures = {k: _stats(v) for k, v in times.items()}
    return {
        "bench": "actions-decision",
        "engine": engine,
        "calls_per_kind": calls,
        "askers": {"customers": askers, "representatives": askers, "reviewers": 2},
        "figures": figures,
        "baseline": {"cedar_decision": _stats(cedar), "audit_write": _stats(written)},
        "executor": "a Python callable that does nothing (freeze_auto runs it; the others "
        "stop before execution)",
        "target_p95_ms": TARGET_P95_MS,
        # The target is the decision path: freeze_auto also carries the execution's own steps
        # (the claim, the signed assertion, the executed row), so it is shown, not judged.
        "met": all(f["p95_ms"] < TARGET_P95_MS for k, f in figures.items() if k in DECISIONS),
        "judged": list(DECISIONS),
        "machine": machine(),
    }


def _postgres(root: Path) -> tuple[str, Any]:
    os.environ.setdefault("XDG_RUNTIME_DIR", str(root / "xdg"))
    (root / "xdg").mkdir(exist_ok=True)
    import pgserver

    server = pgserver.get_server(root / "pg", cleanup_mode="stop")
    server.psql("DROP DATABASE IF EXISTS bench_actions;")
    server.psql("CREATE DATABASE bench_actions;")
    uri = server.get_uri("bench_actions").replace("postgresql://", "postgresql+psycopg://", 1)
    return uri, server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=500, help="Proposals of each kind.")
    ap.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="sqlite")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="steward-actions-bench-"))
    engines = ("sqlite", "postgres") if args.engine == "both" else (args.engine,)
    for engine in engines:
        home = root / f"home-{engine}"
        if engine == "sqlite":
            result = run(f"sqlite:///{home / 'steward.db'}", engine, args.calls, home)
        else:
            url, server = _postgres(root)
            try:
                result = run(url, engine, args.calls, home)
            finally:
                server.cleanup()
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
