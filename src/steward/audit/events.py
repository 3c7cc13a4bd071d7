"""Typed audit events: every state change and every denial is one event in the hash chain.

An event says who (``actor``) did what (``kind``) to what (``target``), what was decided
(``decision``) and, in ``payload``, the masked details that make it reproducible. Events are
emitted by the service method that changes state, inside its transaction where it has one, never
by its callers. The question/answer record (:class:`steward.audit.trail.AuditEntry`) is the
kind ``question``, with its own columns.

Payloads and targets hold ids, counts, digests and masked text only: never a raw personal value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """Every kind of audit event (kebab-case, as they appear in the trail and its exports)."""

    QUESTION = "question"
    TICKET_CLAIMED = "ticket-claimed"
    TICKET_ANSWERED = "ticket-answered"
    TICKET_RESOLVED = "ticket-resolved"
    KEY_CREATED = "key-created"
    KEY_REVOKED = "key-revoked"
    KEY_ROTATED = "key-rotated"
    DIRECTORY_IMPORTED = "directory-imported"
    USER_CREATED = "user-created"
    USER_UPDATED = "user-updated"
    USER_DEACTIVATED = "user-deactivated"
    USER_REACTIVATED = "user-reactivated"
    GROUP_CREATED = "group-created"
    GROUP_UPDATED = "group-updated"
    GROUP_DELETED = "group-deleted"
    POLICY_RELOADED = "policy-reloaded"
    QUARANTINE_RELEASED = "quarantine-released"
    SOURCE_REMOVED = "source-removed"
    SUBJECT_ERASED = "subject-erased"
    VALUE_REVEALED = "value-revealed"
    AUDIT_EXPORTED = "audit-exported"
    AUDIT_PRUNED = "audit-pruned"
    ACCESS_DENIED = "access-denied"
    # An auditor grant showed audit content its holder could not otherwise read.
    BREAK_GLASS = "break-glass"
    # A browser signed in (cookie session of the chat page or console) or out.
    SESSION_STARTED = "session-started"
    SESSION_ENDED = "session-ended"
    SYNC_REQUESTED = "sync-requested"  # an operator started a source's sync from the console
    # Change control (issue 20).
    PROFILE_CREATED = "profile-created"  # a draft version written
    PROFILE_PUBLISHED = "profile-published"  # made immutable
    PROFILE_APPROVED = "profile-approved"  # a second person approved it for a scope
    PROFILE_ACTIVATED = "profile-activated"  # it answers in a scope (payload: override reason)
    PROFILE_ROLLED_BACK = "profile-rolled-back"
    CANARY_SET = "canary-set"  # a share of a scope's conversations routed to a candidate
    CANARY_ROLLED_BACK = "canary-rolled-back"  # a guard metric crossed: the canary stopped
    EVAL_RUN = "eval-run"  # an evaluation run, gate or shadow replay stored
    BUDGET_CROSSED = "budget-crossed"  # a monthly budget passed 80% or 100%
    DETECTORS_RETRAINED = "detectors-retrained"  # `steward learn` made a new version
    # Actions (issue 21): one event per step of a tool call, all with the action id as target.
    ACTION_PROPOSED = "action-proposed"  # proposed; payload: the policy's decision, the mode
    ACTION_CONFIRMED = "action-confirmed"  # the asker confirmed the summary
    ACTION_APPROVED = "action-approved"  # one approver (bound to the call hash)
    ACTION_REJECTED = "action-rejected"  # an approver said no
    ACTION_DENIED = "action-denied"  # the policy said no (reason: the rule), or it expired
    ACTION_EXECUTED = "action-executed"  # the system said done; payload: masked result
    ACTION_FAILED = "action-failed"  # the system failed: retried, or handed to a person
    ACTION_COMPENSATED = "action-compensated"  # a failure undone by the compensating call
    # Rollout (issue 22): a wave of a use case opened (payload: gates, or the override's
    # reason), closed by a person, or closed by the evaluator when a guard metric crossed.
    ROLLOUT_WAVE_OPENED = "rollout-wave-opened"
    ROLLOUT_WAVE_CLOSED = "rollout-wave-closed"
    ROLLOUT_WAVE_ROLLED_BACK = "rollout-wave-rolled-back"
    # Federated records (issue 22): sources disagree on a field (a task for their owners),
    # disagree anew after a resolution, came to agree (closed by the merge), or an owner or
    # operator resolved it (payload: the chosen source; never a value).
    RECORD_CONFLICT_OPENED = "record-conflict-opened"
    RECORD_CONFLICT_REOPENED = "record-conflict-reopened"
    RECORD_CONFLICT_CLOSED = "record-conflict-closed"
    RECORD_CONFLICT_RESOLVED = "record-conflict-resolved"
    # Data readiness (issue 22): a person ran the audit (payload: its headline figures). The
    # run after each sync is kept in readiness_runs like the sync's own run, not in the trail.
    READINESS_RUN = "readiness-run"


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened, as the audit trail records it.

    >>> AuditEvent(Kind.TICKET_CLAIMED, actor="rep-ana", target="ticket:01J...", decision="done")
    """

    kind: Kind | str
    actor: str  # the user id that acted, or "system"
    target: str  # what it acted on, e.g. "ticket:01J...", "key:01J...", "directory"
    decision: str = "done"  # done | denied | revealed | ...
    payload: dict[str, Any] = field(default_factory=dict)  # masked details
    reason: str = ""  # one line: why (the rule that decided, the operator's words)
    channel: str = "service"  # api | cli | chat | service
    groups: tuple[str, ...] = ()
    center: str | None = None
    # One masked line for people reading the trail (stored where a question row keeps its
    # question), e.g. "[reveal <CARD_3>]"; empty when kind and target say it all.
    summary: str = ""
