"""Actions: a tool call proposed for an asker, decided by policy, confirmed or approved,
executed at most once, every step on the audit chain (docs/actions.md).

The life of one call::

    propose ─► policy (Cedar): propose? ─ no ─► denied
                 │ execute without a second person?
                 ├─ yes: mode auto ─────────────────────────► ready ─► executing ─► executed
                 │       mode confirm ─► awaiting-confirmation ─► (asker confirms) ─► ready
                 └─ no, or mode propose ─► awaiting-approval ─► (1 approver; 2 for the
                                          dual-control classes) ─► ready
    awaiting-* past its deadline ─► expired;   an approver says no ─► rejected
    executing: the system refused ─► failed;  its state unknown ─► sent again with the same
    idempotency key (tools that declare it safe), else compensated, else failed (a person)

The rules that never bend here:

- **On behalf of the asker.** The call carries a token for the asker (actions/assertion.py),
  never a service account's; a customer never acts for anyone but themselves (the policy's
  forbid, and the system's own check of the token).
- **Bound to the exact call.** The call hash is a keyed hash of the tool and its exact
  arguments; a confirmation or an approval names it, and one for another call is refused.
  Approvers are distinct people, neither the asker nor the customer acted on.
- **At most once.** Only one worker moves a call from ``ready`` to ``executing`` (a compare-and-
  set on its status); the system receives the action id as the idempotency key on every try.
- **The model proposes, policy decides.** A call the assistant proposes (``source:
  assistant``) must take every argument from the asker's own messages of that conversation,
  none of which may carry an injection; retrieved text never reaches the arguments.
- **Masked.** Audit rows, listings and results hold masked arguments; the raw ones are sealed
  (AES-GCM under a key derived from the store's secret) until the call ends, then wiped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from ulid import ULID

from steward import audit
from steward.actions import executors
from steward.actions.arguments import (
    LONG_NUMBER,
    canonical_subject,
    check_clean,
    check_text,
    found_outside_tokens,
    leaves,
    numbers,
    plain_text,
)
from steward.actions.assertion import CallClaims, Signer, TokenError, exchange
from steward.actions.policy import ActionPolicy, Decision, Who
from steward.actions.registry import MAX_ARGUMENT_BYTES, Registry, ToolSpec, load_registry
from steward.core.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from steward.identity.authz import Permission
from steward.store.models import Action, ActionApproval, User

if TYPE_CHECKING:
    from steward.core.periodic import Periodic
    from steward.identity.auth import Principal
    from steward.runtime import Runtime

log = logging.getLogger(__name__)

AWAITING = ("awaiting-confirmation", "awaiting-approval")
FINAL = ("executed", "failed", "compensated", "denied", "rejected", "expired")
STATUSES = (*AWAITING, "ready", "executing", *FINAL)
SOURCES = ("asker", "assistant")
# The audit row's decision column holds 16 characters (PostgreSQL enforces it): the awaiting
# statuses go on the record in short; the payload keeps the full status.
_DECIDED = {"awaiting-confirmation": "to-confirm", "awaiting-approval": "to-approve"}
RESUME_ROUNDS = 5  # sweeps that send a retry-safe call again before a person takes it
STALE_GRACE_S = 30  # an `executing` call older than its timeout plus this was interrupted
MAX_LIST = 500
_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(ts: datetime | None) -> datetime | None:
    return None if ts is None else (ts if ts.tzinfo else ts.replace(tzinfo=UTC))


def canonical(tool: str, arguments: Mapping[str, Any]) -> bytes:
    return json.dumps({"tool": tool, "arguments": arguments}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode()  # fmt: skip


@dataclass(frozen=True)
class ActionView:
    """One action as the API and the CLI show it (masked, but for the asker's own summary)."""

    id: str
    tool: str
    status: str
    risk: str
    mode: str
    approvals_needed: int
    approvals: list[dict[str, Any]]
    requested_by: str
    subject: str | None
    center: str | None
    source: str
    conversation_id: str | None
    call_hash: str
    arguments: dict[str, Any]
    summary: str
    rule: str
    decision: dict[str, Any]
    result: dict[str, Any] | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    executed_at: datetime | None
    replayed: bool = False  # the same client key was sent before: this is that action

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k in ("created_at", "updated_at", "expires_at", "executed_at"):
            out[k] = out[k].isoformat() if out[k] is not None else None
        return out


class ActionService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.store = rt.store
        self.authz = rt.authz
        self.config = rt.settings.actions

    # ------------------------------------------------------------------ configuration

    @cached_property
    def registry(self) -> Registry:
        """STEWARD_TOOLS_FILE, else HOME/tools.yaml where there is one (the demo writes it)."""
        path = self.config.tools_file
        if path is None and (self.rt.settings.home / "tools.yaml").is_file():
            path = self.rt.settings.home / "tools.yaml"
        return load_registry(path)

    @cached_property
    def policy(self) -> ActionPolicy:
        return ActionPolicy(self.config.policy_file)

    @cached_property
    def signer(self) -> Signer:
        path = self.config.signing_key_file or self.rt.settings.home / "actions-signing.key"
        return Signer(path, self.config.assertion_ttl_s)

    @cached_property
    def _keys(self) -> tuple[bytes, bytes]:
        """(the call-hash key, the sealing key), both derived from the store's secret."""
        secret = self.rt.masking_key
        return (
            hashlib.sha256(b"steward-actions-call-hash\x00" + secret).digest(),
            hashlib.sha256(b"steward-actions-seal\x00" + secret).digest(),
        )

    def call_hash(self, tool: str, arguments: Mapping[str, Any]) -> str:
        return hmac.new(self._keys[0], canonical(tool, arguments), hashlib.sha256).hexdigest()

    def _seal(self, action_id: str, arguments: Mapping[str, Any]) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = secrets.token_bytes(12)
        body = json.dumps(arguments, ensure_ascii=False).encode()
        return nonce + AESGCM(self._keys[1]).encrypt(nonce, body, action_id.encode())

    def _unseal(self, action_id: str, sealed: bytes) -> dict[str, Any]:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        body = AESGCM(self._keys[1]).decrypt(sealed[:12], sealed[12:], action_id.encode())
        out: dict[str, Any] = json.loads(body)
        return out

    # ------------------------------------------------------------------ masking

    def _mask(self, value: Any) -> Any:
        """Every text leaf masked; numbers long enough to be an account or a card too."""
        if isinstance(value, str):
            # Masked from a plain form (full-width digits, typographic dashes and spaces as
            # ASCII), so that "536–22–8471" is found as an SSN is: the record needs no more.
            masked = self.rt.masker.mask(plain_text(value)).text
            return LONG_NUMBER.sub(
                lambda m: self.rt.masker.tokens.token("NUMBER", re.sub(r"\D", "", m.group())),
                masked,
            )
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            return value if len(str(abs(int(value)))) < 9 else self._mask(str(value))
        if isinstance(value, Mapping):
            return {str(k): self._mask(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._mask(v) for v in value]
        return self._mask(str(value))

    def _mask_arguments(
        self, tool: ToolSpec, arguments: Mapping[str, Any], keep_subject: bool
    ) -> dict[str, Any]:
        """The arguments as the record keeps them: free text masked; values a schema's `enum`
        fixes stay, and so does the subject where it is a directory user's id (on every audit
        row already)."""
        props = tool.arguments.get("properties") or {}
        out: dict[str, Any] = {}
        for name, value in arguments.items():
            fixed = isinstance(props.get(name), Mapping) and "enum" in props[name]
            if name == tool.subject and isinstance(value, str):
                out[name] = value if keep_subject else self._subject_token(value)
            else:
                out[name] = value if fixed else self._mask(value)
        return out

    def _subject(self, value: str, who: Principal) -> tuple[str, bool]:
        """(the subject in canonical form, whether it is a directory user). A user's id in any
        case or width is that user's id; anything else keeps its NFKC form."""
        text = canonical_subject(value)
        if text == who.user_id:  # the asker themselves: no lookup
            return text, True
        with self.store.read() as s:
            found = s.scalar(select(User.id).where(func.lower(User.id) == text.casefold()))
        return (found, True) if found is not None else (text, False)

    def _subject_token(self, value: str) -> str:
        """A subject that is not a Steward user, as the record keeps it: one stable token per
        account (case and width folded), never the raw customer number."""
        return self.rt.masker.tokens.token("CUSTOMER_ID", value.casefold())

    # ------------------------------------------------------------------ reading

    def tools(self, who: Principal) -> list[dict[str, Any]]:
        """The tools in force with their modes per center (anyone who may use tools)."""
        self.authz.authorize(who, Permission.USE_TOOLS, "tools")
        from steward.store.models import Center

        with self.store.read() as s:
            centers = sorted(s.scalars(select(Center.id)))
        out = []
        for tool in self.registry.tools.values():
            out.append(
                {
                    "name": tool.name,
                    "description": tool.description,
                    "risk": tool.risk,
                    "arguments": tool.arguments,
                    "executor": "http" if tool.executor.http is not None else "python",
                    "system": tool.executor.http.system if tool.executor.http else None,
                    "dry_run": tool.dry_run is not None,
                    "compensate": tool.compensate is not None,
                    "retry": tool.retry,
                    "timeout_s": tool.timeout_s,
                    "dual_control": tool.risk in self.registry.dual_control,
                    "modes": self.registry.modes_by_center(tool, centers),
                }
            )
        return out

    def _visible(self, who: Principal, row: Action) -> bool:
        if who.user_id == row.requested_by:
            return True
        if who.user_id == row.subject and row.status != "denied":
            return True  # done for them; not someone else's refused attempt at their account
        if self.authz.permits(who, Permission.MANAGE_ACTIONS):
            return True
        if self.authz.permits(who, Permission.APPROVE_ACTIONS):
            return self.authz.permits(who, Permission.SEE_ALL_CENTERS) or (
                row.center is not None and row.center == who.center
            )
        return False

    def _view(
        self, s: Session, row: Action, who: Principal, raw: Mapping[str, Any] | None = None
    ) -> ActionView:
        """``raw``: the arguments as given, for a row just written (no approvals yet)."""
        approvals = [] if raw is not None else [
            {"approver": a.approver, "verdict": a.verdict, "call_hash": a.call_hash,
             "note": a.note, "at": _aware(a.created_at).isoformat()}  # type: ignore[union-attr]
            for a in s.scalars(
                select(ActionApproval)
                .where(ActionApproval.action_id == row.id)
                .order_by(ActionApproval.created_at)
            )
        ]  # fmt: skip
        decision, rule, requested_by = row.decision, row.rule, row.requested_by
        if who.external:
            # A customer sees where their request stands: not who reviewed it, their notes or
            # reasons, the staff member's id, or the counts the policy read.
            approvals = [{"verdict": a["verdict"], "at": a["at"]} for a in approvals]
            decision = {}
            if requested_by != who.user_id:
                requested_by = "staff"
            if row.status == "rejected":
                own = row.rule.startswith("withdrawn by the asker")
                rule = "withdrawn by the asker" if own else "rejected by a reviewer"
        summary = row.summary
        if who.user_id == row.requested_by and row.sealed is not None:
            # The asker confirms what will happen with their own values, not tokens.
            tool = self.registry.tools.get(row.tool)
            if tool is not None:
                summary = tool.describe(raw or self._unseal(row.id, row.sealed))
        return ActionView(
            id=row.id,
            tool=row.tool,
            status=row.status,
            risk=row.risk,
            mode=row.mode,
            approvals_needed=row.approvals_needed,
            approvals=approvals,
            requested_by=requested_by,
            subject=row.subject,
            center=row.center,
            source=row.source,
            conversation_id=row.conversation_id,
            call_hash=row.call_hash,
            arguments=row.arguments,
            summary=summary,
            rule=rule,
            decision=decision,
            result=row.result,
            attempts=row.attempts,
            created_at=_aware(row.created_at),  # type: ignore[arg-type]
            updated_at=_aware(row.updated_at),  # type: ignore[arg-type]
            expires_at=_aware(row.expires_at),
            executed_at=_aware(row.executed_at),
        )

    def get(self, who: Principal, action_id: str) -> ActionView:
        self.expire_due()
        missing = NotFoundError(f"No action {action_id[:64]!r} for this user.")
        with self.store.read() as s:
            row = s.get(Action, action_id)
            if row is not None and self._visible(who, row):
                return self._view(s, row, who)
        if row is not None:
            self.authz.deny(who, "action-of-another", f"action:{action_id}", missing)
        raise missing

    def list(self, who: Principal, status: str | None = None, limit: int = 100) -> list[ActionView]:
        """Actions ``who`` may see, newest first: their own; a reviewer's center's (every
        center's with see-all-centers); every action for operators."""
        if status is not None and status not in STATUSES:
            raise InputError(f"Unknown status {status[:40]!r}; use one of {', '.join(STATUSES)}.")
        self.expire_due()
        q = select(Action).order_by(Action.created_at.desc(), Action.id.desc())
        if status is not None:
            q = q.where(Action.status == status)
        if not self.authz.permits(who, Permission.MANAGE_ACTIONS):
            mine = (Action.requested_by == who.user_id) | (
                (Action.subject == who.user_id) & (Action.status != "denied")
            )
            if self.authz.permits(who, Permission.APPROVE_ACTIONS):
                if not self.authz.permits(who, Permission.SEE_ALL_CENTERS):
                    q = q.where(mine | (Action.center == who.center))
            else:
                q = q.where(mine)
        with self.store.read() as s:
            rows = list(s.scalars(q.limit(max(1, min(limit, MAX_LIST)))))
            return [self._view(s, r, who) for r in rows]

    # ------------------------------------------------------------------ deciding

    def _who(self, who: Principal, s: Session) -> Who:
        role = s.scalar(select(User.role).where(User.id == who.user_id))
        return Who(who.user_id, who.access, role or "", who.center, who.external, who.groups)

    def _context(
        self,
        s: Session,
        tool: ToolSpec,
        who: Principal,
        subject: str | None,
        amount: float,
        source: str,
    ) -> dict[str, Any]:
        """The policy's context, read in the caller's session (inside :meth:`_serialize` when
        it decides a new call, so two calls at once cannot both spend the same authority)."""
        now = _now()
        recent = s.scalar(
            select(func.count())
            .select_from(Action)
            .where(
                Action.requested_by == who.user_id,
                Action.tool == tool.name,
                Action.created_at >= now - timedelta(hours=1),
            )
        )
        prior = 0
        if tool.amount is not None and subject is not None:
            for args in s.scalars(
                select(Action.arguments).where(
                    Action.tool == tool.name,
                    Action.subject == subject,
                    Action.status.in_(("executed", "executing", "ready")),
                    Action.created_at >= now - timedelta(days=365),
                )
            ):
                prior += _cents(args.get(tool.amount))
        return {
            "subject_is_self": subject is not None and subject == who.user_id,
            "has_subject": subject is not None,
            "amount_cents": _cents(amount),
            "prior_cents": prior,
            "recent_hour": int(recent or 0),
            "source": source,
            "center": who.center or "",
        }

    @staticmethod
    def _serialize(s: Session, tool: str, key: str) -> None:
        """Take, for this transaction, the lock of one (tool, subject or asker): the limits
        the policy reads (the amount already waived, the calls of the last hour) are read and
        spent one decision at a time. PostgreSQL: a transaction-scoped advisory lock; SQLite:
        a first write statement, which takes the database's write lock before any read."""
        if s.get_bind().dialect.name == "postgresql":
            digest = hashlib.sha256(f"steward-action\x00{tool}\x00{key}".encode()).digest()
            s.execute(
                text("SELECT pg_advisory_xact_lock(:k)"),
                {"k": int.from_bytes(digest[:8], "big", signed=True)},
            )
        else:
            s.execute(update(Action).where(Action.id == "").values(attempts=Action.attempts))

    def _grounded(
        self, tool: ToolSpec, said: Sequence[str] | None, arguments: Mapping[str, Any]
    ) -> str | None:
        """Why an assistant's proposal may not stand (None: it may): it needs the asker's own
        conversation (``said``: the asker's messages in it), no injection in them, and every
        argument (but the subject) found in what the asker wrote."""
        if said is None:
            return "an assistant's proposal needs the conversation it came from"
        if not said:
            return "the conversation has no message from the asker"
        detector = self.rt.injection
        if any(detector.flags(text) for text in said):
            return "the conversation carries an instruction injection: no tool call from it"
        words = "\n".join(said).casefold()
        written = numbers(words)
        for name, value in leaves(arguments):
            if name == tool.subject:
                continue
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                if float(value) not in written:
                    return f"argument {name!r} is not in what the asker wrote"
                continue
            masked = self._mask(str(value)).casefold().strip()
            if masked and not found_outside_tokens(masked, words):
                return f"argument {name!r} is not in what the asker wrote"
            text = str(value)
            if detector.flags(text):
                return f"argument {name!r} carries an instruction injection"
        return None

    # ------------------------------------------------------------------ changing

    def propose(
        self,
        who: Principal,
        tool_name: str,
        arguments: Mapping[str, Any],
        *,
        conversation_id: str | None = None,
        source: str = "asker",
        client_key: str | None = None,
        channel: str = "api",
    ) -> ActionView:
        """Propose one call for ``who``; the policy decides what happens (module docstring).
        The same ``client_key`` again from the same asker returns the first action, if it is
        the same call (ConflictError otherwise)."""
        self.authz.authorize(who, Permission.USE_TOOLS, f"tool:{tool_name}")
        if source not in SOURCES:
            raise InputError(f"Unknown source {source[:20]!r}; use asker or assistant.")
        if conversation_id is not None and not _ULID.fullmatch(conversation_id):
            raise InputError(
                "`conversation_id` is a conversation's id as Steward gave it (26 characters: "
                "digits and capital letters)."
            )
        tool = self.registry.get(tool_name)
        if not isinstance(arguments, Mapping):
            raise InputError("`arguments` must be an object.")
        args = dict(arguments)
        if len(canonical(tool.name, args)) > MAX_ARGUMENT_BYTES:
            raise InputError(f"A call's arguments are limited to {MAX_ARGUMENT_BYTES:,} bytes.")
        check_clean(tool.name, args)
        said = None
        if conversation_id is not None:  # the asker's own, or 404
            _, turns = self.rt.conversations.history(conversation_id, who)
            said = [t.text for t in turns if t.role == "asker"]
        known = True
        if tool.subject is not None:
            given = args.get(tool.subject)
            if who.external and (given is None or (isinstance(given, str) and not given.strip())):
                args[tool.subject] = who.user_id  # a customer acts for themselves
            if tool.subject in args:
                if not isinstance(args[tool.subject], str):
                    raise InputError(f"Tool {tool.name}: {tool.subject}: must be text.")
                args[tool.subject], known = self._subject(args[tool.subject], who)
        tool.check(args)
        subject = str(args[tool.subject]) if tool.subject and args.get(tool.subject) else None
        if subject is not None and len(subject) > 64:
            raise InputError(f"Tool {tool.name}: {tool.subject}: at most 64 characters.")
        call_hash = self.call_hash(tool.name, args)
        if client_key is not None:
            found = self._by_client_key(who, client_key, call_hash)
            if found is not None:
                return found
        amount = _amount(args.get(tool.amount)) if tool.amount else 0.0
        ungrounded = self._grounded(tool, said, args) if source == "assistant" else None
        now = _now()
        action_id = str(ULID())
        masked_args = self._mask_arguments(tool, args, keep_subject=known)
        if subject is not None and not known:  # a bank's customer number may be personal data
            subject = masked_args[str(tool.subject)]
        row = Action(
            id=action_id, tool=tool.name, requested_by=who.user_id, subject=subject,
            center=who.center, source=source, conversation_id=conversation_id,
            client_key=client_key, call_hash=call_hash, arguments=masked_args,
            summary=tool.describe(masked_args), result=None, attempts=0, created_at=now,
            updated_at=now, executed_at=None,
        )  # fmt: skip
        try:
            with self.store.write() as (s, _):
                self._serialize(s, tool.name, subject or who.user_id)
                self._decide(s, row, tool, who, amount, ungrounded)
                if row.status != "denied":
                    row.sealed = self._seal(action_id, args)
                s.add(row)
                s.flush()
                kind = (
                    audit.Kind.ACTION_DENIED
                    if row.status == "denied"
                    else audit.Kind.ACTION_PROPOSED
                )
                self._record(s, row, kind, who, channel, decided=row.status)
                view = self._view(s, row, who, args)
        except IntegrityError:
            found = self._by_client_key(who, client_key, call_hash) if client_key else None
            if found is None:
                raise
            return found
        if view.status != "ready":
            return view
        self._execute(action_id, channel)
        with self.store.read() as s:
            done = s.get(Action, action_id)
            assert done is not None
            return self._view(s, done, who)

    def _decide(
        self, s: Session, row: Action, tool: ToolSpec, who: Principal, amount: float,
        ungrounded: str | None,
    ) -> None:  # fmt: skip
        """Fill ``row``'s status, class, mode, approvals needed, rule, decision and deadline
        from the policy, read in ``s`` (inside the lock of :meth:`_serialize`)."""
        principal = self._who(who, s)
        context = self._context(s, tool, who, row.subject, amount, row.source)
        if ungrounded is not None:
            propose = Decision(False, ("model-proposes-policy-decides",))
        else:
            propose = self.policy.decide("propose", principal, tool.name, tool.risk, context)
        execute = (
            self.policy.decide("execute", principal, tool.name, tool.risk, context)
            if propose.allowed
            else Decision(False, ())
        )
        row.decision = {
            "propose": {"allowed": propose.allowed, "rules": list(propose.rules)},
            "execute": {"allowed": execute.allowed, "rules": list(execute.rules)},
            "context": {k: v for k, v in context.items() if k != "center"},
        }
        row.expires_at = None
        if not propose.allowed:
            row.status, row.risk, row.approvals_needed = "denied", tool.risk, 0
            row.mode = self.registry.mode(tool, tool.risk, who.center)
            row.rule = (ungrounded or propose.rule)[:200]
            return
        # Beyond what the asker may do alone: treated as high risk, for approval.
        row.risk = tool.risk if execute.allowed else "high"
        row.mode = self.registry.mode(tool, row.risk, who.center) if execute.allowed else "propose"
        dual = row.risk in self.registry.dual_control
        row.approvals_needed = (2 if dual else 1) if row.mode == "propose" else 0
        row.status = {"auto": "ready", "confirm": "awaiting-confirmation"}.get(
            row.mode, "awaiting-approval"
        )
        row.rule = (
            execute.rule
            if execute.allowed and row.mode != "propose"
            else "approval needed: "
            + (execute.rule if execute.rules else "no policy lets the asker run it alone")
        )[:200]
        if row.status in AWAITING:
            ttl = self.config.confirm_ttl_s if row.mode == "confirm" else self.config.approval_ttl_s
            row.expires_at = row.created_at + timedelta(seconds=ttl)

    def _by_client_key(self, who: Principal, client_key: str, call_hash: str) -> ActionView | None:
        """The asker's action sent with this key before (``replayed``); ConflictError when
        the key came with another call (a client bug that must not pass as a replay)."""
        with self.store.read() as s:
            row = s.scalars(
                select(Action).where(
                    Action.requested_by == who.user_id, Action.client_key == client_key
                )
            ).first()
            if row is None:
                return None
            if not hmac.compare_digest(row.call_hash, call_hash):
                raise ConflictError(
                    "This Idempotency-Key was sent before with another call; use a new key "
                    "for a new call."
                )
            view = self._view(s, row, who)
        return replace(view, replayed=True)

    def _load_for_change(self, s: Session, who: Principal, action_id: str) -> Action:
        """The row, locked for this transaction (PostgreSQL: two approvers at once are counted
        one after the other; SQLite writes one at a time anyway)."""
        row = s.scalars(select(Action).where(Action.id == action_id).with_for_update()).first()
        if row is None or not self._visible(who, row):
            raise NotFoundError(f"No action {action_id[:64]!r} for this user.")
        return row

    @staticmethod
    def _move(s: Session, row: Action, before: tuple[str, ...], **values: Any) -> None:
        """Change ``row`` only while its status is still one of ``before`` (a compare-and-set
        in this transaction); ConflictError if another worker changed it first. The row lock
        above does this on PostgreSQL; SQLite has none, and the workers of `steward serve
        --workers N` read the row before one of them takes the write lock: without this, two
        confirmations of one call could both move it to ``ready`` and run it twice."""
        moved = _count(
            s.execute(
                update(Action)
                .where(Action.id == row.id, Action.status.in_(before))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        )
        if not moved:
            raise ConflictError(f"Action {row.id} changed meanwhile: read it again.")
        for name, value in values.items():  # the audit record describes the new state
            set_committed_value(row, name, value)

    def confirm(
        self, who: Principal, action_id: str, call_hash: str, channel: str = "api"
    ) -> ActionView:
        """The asker confirms the summary they were shown; ``call_hash`` is the hash shown with
        it (a confirmation of another call is refused)."""
        self.authz.authorize(who, Permission.USE_TOOLS, f"action:{action_id}")
        self.expire_due()
        with self.store.write() as (s, _):
            row = self._load_for_change(s, who, action_id)
            if row.requested_by != who.user_id:
                raise ForbiddenError("Only the asker the action is for may confirm it.")
            if row.status != "awaiting-confirmation":
                raise ConflictError(f"Action {row.id} is {row.status}, not awaiting confirmation.")
            if not hmac.compare_digest(call_hash, row.call_hash):
                raise ConflictError(
                    "This confirmation is for another call (the call hash differs): "
                    "read the action again and confirm what it will do."
                )
            self._move(s, row, ("awaiting-confirmation",), status="ready", updated_at=_now())
            self._record(s, row, audit.Kind.ACTION_CONFIRMED, who, channel, decided="confirmed")
        self._execute(action_id, channel)
        return self.get(who, action_id)

    def _check_approver(self, who: Principal, action_id: str, verb: str) -> None:
        """May ``who`` approve (or reject) this action: the role, four eyes (neither the asker
        nor the customer acted on), then the policy's ``approve``; each refusal audited."""
        self.authz.authorize(who, Permission.APPROVE_ACTIONS, f"action:{action_id}")
        self.expire_due()
        with self.store.read() as s:
            row = self._load_for_change(s, who, action_id)
            tool = self.registry.get(row.tool)
            amount = _amount(row.arguments.get(tool.amount)) if tool.amount else 0.0
            subject = row.subject
        if who.user_id in (row.requested_by, subject):
            self.authz.deny(
                who, "four-eyes", f"action:{action_id}",
                ForbiddenError(f"Four eyes: the asker, or the customer acted on, may not "
                               f"{verb} the action."),
            )  # fmt: skip
        with self.store.read() as s:
            ctx = self._context(s, tool, who, subject, amount, row.source)
            decided = self.policy.decide("approve", self._who(who, s), tool.name, row.risk, ctx)
        if not decided.allowed:
            self.authz.deny(
                who, "action-policy", f"action:{action_id}",
                ForbiddenError(f"The action policy does not let {who.user_id} {verb} "
                               f"{tool.name} ({decided.rule})."),
            )  # fmt: skip

    def approve(
        self, who: Principal, action_id: str, call_hash: str, note: str = "", channel: str = "api"
    ) -> ActionView:
        """One approval, bound to ``call_hash``; the call runs when it has as many distinct
        approvals as it needs."""
        check_text("note", note)
        self._check_approver(who, action_id, "approve")
        ready = False
        with self.store.write() as (s, _):
            row = self._load_for_change(s, who, action_id)
            if row.status != "awaiting-approval":
                raise ConflictError(f"Action {row.id} is {row.status}, not awaiting approval.")
            if not hmac.compare_digest(call_hash, row.call_hash):
                raise ConflictError(
                    "This approval is for another call (the call hash differs): an approval "
                    "applies only to the exact tool and arguments it was given for."
                )
            if s.scalars(
                select(ActionApproval.id).where(
                    ActionApproval.action_id == row.id, ActionApproval.approver == who.user_id
                )
            ).first():
                raise ConflictError(f"{who.user_id} already approved this action: "
                                    "it needs another person.")  # fmt: skip
            s.add(
                ActionApproval(
                    id=str(ULID()), action_id=row.id, approver=who.user_id,
                    call_hash=call_hash, verdict="approve", note=self._mask(note)[:2000],
                    created_at=_now(),
                )
            )  # fmt: skip
            s.flush()
            count = s.scalar(
                select(func.count(func.distinct(ActionApproval.approver))).where(
                    ActionApproval.action_id == row.id,
                    ActionApproval.verdict == "approve",
                    ActionApproval.call_hash == row.call_hash,
                )
            )
            ready = int(count or 0) >= row.approvals_needed
            self._move(s, row, ("awaiting-approval",), updated_at=_now(),
                       **({"status": "ready"} if ready else {}))  # fmt: skip
            self._record(s, row, audit.Kind.ACTION_APPROVED, who, channel,
                         decided="approved", extra={"approvals": int(count or 0),
                                                    "note": self._mask(note)[:300]})  # fmt: skip
        if ready:
            self._execute(action_id, channel)
        return self.get(who, action_id)

    def reject(
        self, who: Principal, action_id: str, reason: str, channel: str = "api"
    ) -> ActionView:
        """An approver says no, or the asker withdraws their own request."""
        if not reason.strip():
            raise InputError("Say why the action is rejected (`reason`).")
        check_text("reason", reason)
        with self.store.read() as s:
            row = self._load_for_change(s, who, action_id)
            own = row.requested_by == who.user_id
        if own:
            self.expire_due()
        else:
            self._check_approver(who, action_id, "reject")  # it expires what is due
        with self.store.write() as (s, _):
            row = self._load_for_change(s, who, action_id)
            if row.status not in AWAITING:
                raise ConflictError(f"Action {row.id} is {row.status}: nothing to reject.")
            masked = self._mask(reason)[:300]
            if not own:
                s.add(
                    ActionApproval(
                        id=str(ULID()), action_id=row.id, approver=who.user_id,
                        call_hash=row.call_hash, verdict="reject", note=masked,
                        created_at=_now(),
                    )
                )  # fmt: skip
            rule = ("withdrawn by the asker: " if own else "rejected: ") + masked[:160]
            self._move(s, row, AWAITING, status="rejected", sealed=None, updated_at=_now(),
                       rule=rule)  # fmt: skip
            self._record(s, row, audit.Kind.ACTION_REJECTED, who, channel, decided="rejected")
        return self.get(who, action_id)

    def expire_due(self) -> int:
        """Awaiting actions past their deadline become ``expired`` (a denial on the record)."""
        now = _now()
        with self.store.read() as s:
            due = list(
                s.scalars(
                    select(Action.id).where(Action.status.in_(AWAITING), Action.expires_at < now)
                )
            )
        n = 0
        for action_id in due:
            with self.store.write() as (s, _):
                done = _count(
                    s.execute(
                        update(Action)
                        .where(Action.id == action_id, Action.status.in_(AWAITING))
                        .values(
                            status="expired",
                            sealed=None,
                            updated_at=now,
                            rule="expired: not confirmed or approved in time",
                        )
                    )
                )
                if done:
                    row = s.get(Action, action_id)
                    assert row is not None
                    self._record(s, row, audit.Kind.ACTION_DENIED, None, "service",
                                 decided="expired")  # fmt: skip
                    n += 1
        return n

    def resume(self, who: Principal | None = None) -> dict[str, int]:
        """Finish what a crash or an outage left: ``ready`` calls run; ``executing`` calls
        older than their timeout are sent again with the same idempotency key where the tool
        declares it safe, otherwise compensated or handed to a person. Never a second
        execution: the system sees the same key."""
        if who is not None:
            self.authz.authorize(who, Permission.MANAGE_ACTIONS, "actions")
        self.expire_due()
        now = _now()
        counts = {"ran": 0, "retried": 0, "handed_to_person": 0, "compensated": 0}
        with self.store.read() as s:
            ready = list(s.scalars(select(Action.id).where(Action.status == "ready")))
            stuck = list(s.scalars(select(Action).where(Action.status == "executing")))
        for action_id in ready:
            self._execute(action_id, "service")
            counts["ran"] += 1
        for row in stuck:
            tool = self.registry.tools.get(row.tool)
            timeout = tool.timeout_s if tool is not None else 120
            updated = _aware(row.updated_at)
            assert updated is not None
            if now - updated < timedelta(seconds=timeout + STALE_GRACE_S):
                continue  # another worker may be on it now
            if tool is not None and tool.retry == "safe":
                with self.store.write() as (s, _):
                    moved = _count(s.execute(
                        update(Action)
                        .where(Action.id == row.id, Action.status == "executing",
                               Action.attempts == row.attempts)
                        .values(status="ready", updated_at=_now())
                    ))  # fmt: skip
                if moved:
                    self._execute(row.id, "service")
                    counts["retried"] += 1
            else:
                outcome = self._give_up(row.id, "interrupted while executing", "service")
                counts["compensated" if outcome == "compensated" else "handed_to_person"] += 1
        return counts

    # ------------------------------------------------------------------ executing

    def _claim(self, action_id: str) -> bool:
        """Move ``ready`` to ``executing``; True for the one caller that did."""
        with self.store.write() as (s, _):
            moved = _count(
                s.execute(
                    update(Action)
                    .where(Action.id == action_id, Action.status == "ready")
                    .values(status="executing", attempts=Action.attempts + 1, updated_at=_now())
                )
            )
        return bool(moved)

    def _token(self, row: Action, tool: ToolSpec, approvers: Iterable[str]) -> str:
        audience = (
            self.registry.systems[tool.executor.http.system].audience
            if tool.executor.http is not None
            else "steward-python"
        )
        with self.store.read() as s:
            role = s.scalar(select(User.role).where(User.id == row.requested_by))
        claims = CallClaims(
            asker=row.requested_by, role=role or "", customer=row.subject, tool=row.tool,
            call_hash=row.call_hash, action_id=row.id, approvers=tuple(sorted(approvers)),
        )  # fmt: skip
        assertion = self.signer.assertion(audience, claims)
        if not self.config.token_exchange_url:
            return assertion
        secret = self.config.token_exchange_client_secret
        return exchange(
            self.config.token_exchange_url,
            self.config.token_exchange_client_id,
            secret.get_secret_value() if secret is not None else None,
            assertion, audience, f"tool:{row.tool}", tool.timeout_s,
        )  # fmt: skip

    def _execute(self, action_id: str, channel: str) -> None:
        """Run a ``ready`` call at most once (module docstring); records the outcome."""
        if not self._claim(action_id):
            return
        with self.store.read() as s:
            row = s.get(Action, action_id)
            assert row is not None
            approvers = [
                a.approver
                for a in s.scalars(
                    select(ActionApproval).where(
                        ActionApproval.action_id == action_id,
                        ActionApproval.verdict == "approve",
                        ActionApproval.call_hash == row.call_hash,
                    )
                )
            ]
            s.expunge(row)
        tool = self.registry.tools.get(row.tool)
        if tool is None or row.sealed is None:
            self._finish(row.id, "failed", "needs a person: the tool or its arguments are gone",
                         None, audit.Kind.ACTION_FAILED, channel)  # fmt: skip
            return
        args = self._unseal(row.id, row.sealed)
        if not hmac.compare_digest(self.call_hash(row.tool, args), row.call_hash):
            self._finish(row.id, "failed", "the sealed arguments do not match the call hash",
                         None, audit.Kind.ACTION_FAILED, channel)  # fmt: skip
            return
        if len(set(approvers)) < row.approvals_needed:  # a second check, at the last moment
            self._finish(row.id, "denied", "approvals missing at execution", None,
                         audit.Kind.ACTION_DENIED, channel)  # fmt: skip
            return
        try:
            token = self._token(row, tool, approvers)
        except TokenError as exc:
            self._after_unknown(row, tool, channel, f"no token for the asker: {exc}", row.attempts)
            return
        call = executors.Call(row.tool, args, row.id, token, row.requested_by)
        if tool.dry_run is not None and row.attempts <= 1:
            dry = executors.run(
                self.registry, tool.dry_run, executors.Call(row.tool, args, f"{row.id}:dry-run",
                                                            token, row.requested_by, True),
                tool.timeout_s,
            )  # fmt: skip
            if dry.outcome != "done":
                self._finish(row.id, "failed", f"dry run did not pass: {dry.error}",
                             {"dry_run": self._mask(dry.body), "status": dry.status},
                             audit.Kind.ACTION_FAILED, channel)  # fmt: skip
                return
        attempt = row.attempts
        while True:
            result = executors.run(self.registry, tool.executor, call, tool.timeout_s)
            if result.outcome == "done":
                self._finish(row.id, "executed", "executed", {"status": result.status,
                             "body": self._mask(result.body)}, audit.Kind.ACTION_EXECUTED,
                             channel)  # fmt: skip
                return
            if result.outcome == "refused":
                self._finish(row.id, "failed", f"the system refused: {result.error}",
                             {"status": result.status, "body": self._mask(result.body)},
                             audit.Kind.ACTION_FAILED, channel)  # fmt: skip
                return
            if tool.retry == "safe" and attempt <= tool.retries:
                attempt += 1
                with self.store.write() as (s, _):
                    s.execute(update(Action).where(Action.id == row.id)
                              .values(attempts=attempt, updated_at=_now()))  # fmt: skip
                continue
            self._after_unknown(row, tool, channel, result.error or "no answer", attempt)
            return

    def _after_unknown(
        self, row: Action, tool: ToolSpec, channel: str, error: str, attempts: int
    ) -> None:
        """The system may or may not have acted: a retry-safe call waits for the next sweep
        (same key), at most :data:`RESUME_ROUNDS` times; any other, or one past that, is
        compensated or handed to a person."""
        if tool.retry == "safe" and attempts < tool.retries + 1 + RESUME_ROUNDS:
            with self.store.write() as (s, _):
                done = _count(
                    s.execute(
                        update(Action)
                        .where(Action.id == row.id, Action.status == "executing")
                        .values(
                            status="ready",
                            updated_at=_now(),
                            rule=f"retry pending (same idempotency key): {error}"[:200],
                            result={"error": self._mask(error)},
                        )
                    )
                )
                if done:
                    again = s.get(Action, row.id)
                    assert again is not None
                    self._record(s, again, audit.Kind.ACTION_FAILED, None, channel,
                                 decided="retry-pending")  # fmt: skip
            return
        self._give_up(row.id, error, channel)

    def _give_up(self, action_id: str, error: str, channel: str) -> str:
        with self.store.read() as s:
            row = s.get(Action, action_id)
            assert row is not None
            s.expunge(row)
        tool = self.registry.tools.get(row.tool)
        if tool is not None and tool.compensate is not None and row.sealed is not None:
            args = self._unseal(row.id, row.sealed)
            try:
                token = self._token(row, tool, ())
            except TokenError as exc:
                error = f"{error}; no token for the undo: {exc}"
            else:
                undo = executors.run(
                    self.registry, tool.compensate,
                    executors.Call(row.tool, args, f"{row.id}:compensate", token, row.requested_by),
                    tool.timeout_s,
                )  # fmt: skip
                if undo.outcome == "done":
                    self._finish(row.id, "compensated", f"compensated after: {error}",
                                 {"compensation": self._mask(undo.body)},
                                 audit.Kind.ACTION_COMPENSATED, channel)  # fmt: skip
                    return "compensated"
                error = f"{error}; the undo failed too: {undo.error}"
        self._finish(row.id, "failed", f"needs a person: {error}", {"error": self._mask(error)},
                     audit.Kind.ACTION_FAILED, channel)  # fmt: skip
        return "failed"

    def _finish(
        self, action_id: str, status: str, rule: str, result: dict[str, Any] | None,
        kind: audit.Kind, channel: str,
    ) -> None:  # fmt: skip
        now = _now()
        values: dict[str, Any] = {"status": status, "rule": self._mask(rule)[:200],
                                  "updated_at": now, "sealed": None}  # fmt: skip
        if result is not None:
            values["result"] = result
        if status == "executed":
            values["executed_at"] = now
        with self.store.write() as (s, _):
            row = s.get(Action, action_id)
            assert row is not None
            try:  # only from `executing`: a worker that finished first keeps its outcome
                self._move(s, row, ("executing",), **values)
            except ConflictError:
                return
            self._record(s, row, kind, None, channel, decided=status)

    # ------------------------------------------------------------------ audit

    def _record(
        self,
        s: Session,
        row: Action,
        kind: audit.Kind,
        who: Principal | None,
        channel: str,
        *,
        decided: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        payload = {
            "tool": row.tool,
            "status": row.status,
            "risk": row.risk,
            "mode": row.mode,
            "approvals_needed": row.approvals_needed,
            "call_hash": row.call_hash,
            "arguments": row.arguments,
            "requested_by": row.requested_by,
            "subject": row.subject,
            "source": row.source,
            "decision": row.decision,
            "attempts": row.attempts,
            **({"result": row.result} if row.result is not None else {}),
            **(extra or {}),
        }
        audit.record(
            self.store,
            audit.AuditEvent(
                kind,
                actor=who.user_id if who is not None else "steward",
                target=f"action:{row.id}",
                decision=_DECIDED.get(decided, decided),
                payload=payload,
                reason=row.rule,
                channel=channel if channel in ("api", "cli", "chat", "service") else "service",
                groups=tuple(sorted(who.groups)) if who is not None else (),
                center=row.center,
                summary=f"[{kind.value} {row.tool}] {row.summary}"[:500],
            ),
            session=s,
        )


def _amount(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def _cents(value: Any) -> int:
    return round(_amount(value) * 100)


def _count(result: Any) -> int:
    """Rows an UPDATE changed (the compare-and-set's answer)."""
    return int(getattr(result, "rowcount", 0) or 0)


def sweeper(rt: Runtime, interval_s: int) -> Periodic:
    """The server's sweep: every ``interval_s`` seconds on every replica, overdue confirmations
    and approvals expire and interrupted calls resume (each step a compare-and-set, so
    replicas sweeping together never execute a call twice)."""
    from steward.core.periodic import Periodic

    def sweep() -> None:
        rt.actions.resume()

    return Periodic("actions-sweep", interval_s, sweep)
