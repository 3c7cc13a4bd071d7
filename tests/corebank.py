"""A small core-banking service for the action tests: a real ASGI app over its own SQLite file,
run by uvicorn on 127.0.0.1 in a separate process, so a test can kill it (SIGKILL, or the
crash hook) and start it again on the same database and port.

It behaves as a bank's system of record would towards Steward:

- **It checks the token on every call** (``Authorization: Bearer``): the signature against the
  keys it trusts (Steward's JWKS, ``GET /v1/actions/jwks.json``; or an identity provider's after
  an RFC 8693 exchange), the algorithm, ``iss``, ``aud``, ``exp``. Anything else is 401.
- **It decides by its own rules too**: a customer's token (``role == "customer"``) acts only on
  the customer's own account (``sub`` is the account in the request and its owner); staff act
  for any customer; a token pinned to one customer (``customer`` claim) acts on no other; a fee
  waiver beyond the signer's authority needs two approvers named in the token besides the
  asker. Refusals are 403 and land in the ``refusals`` table.
- **Idempotency**: the ``Idempotency-Key`` of a call that acted is stored with its answer in the
  same transaction as the change; the same key again returns that answer without acting
  (``Idempotent-Replayed: true``); the same key on another request is 422.
- **Fault hooks** for the tests (``POST /_faults``): after the next matching call commits, the
  process exits at once without answering (``exit``: killed mid-call), or answers 503
  (``lost``: the answer is lost, the change is made).

Every change appends one row to ``journal``; :func:`count` reads the tables, so a test proves
"exactly once" by counting rows. :class:`CoreBank` starts, restarts and kills the process.

Run alone: ``python -m tests.corebank --config corebank.json --fd N``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).parents[1]
AUDIENCE = "corebank"
# The Meridian fee-waiver authority (int-fee-waiver-authority), in cents: the bank's own copy.
AUTHORITY_CENTS = {
    "service_representative": 6_500,
    "senior_service_representative": 17_500,
    "supervisor": 40_000,
    "center_manager": 120_000,
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    customer TEXT PRIMARY KEY, owner TEXT NOT NULL, address TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS cards (
    customer TEXT NOT NULL, last4 TEXT NOT NULL, frozen INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (customer, last4));
CREATE TABLE IF NOT EXISTS waivers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, customer TEXT NOT NULL, amount_cents INTEGER NOT NULL,
    reason TEXT NOT NULL, idempotency_key TEXT NOT NULL, reversed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, customer TEXT NOT NULL,
    idempotency_key TEXT NOT NULL, sub TEXT NOT NULL, iss TEXT NOT NULL, act TEXT,
    approvers TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dry_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, customer TEXT NOT NULL,
    idempotency_key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, sub TEXT, status INTEGER NOT NULL,
    why TEXT NOT NULL);
"""


# ---------------------------------------------------------------------------------- database


def connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # a committed change survives the SIGKILL
    return conn


def init_db(db: Path) -> None:
    with contextlib.closing(connect(db)) as conn:
        conn.executescript(SCHEMA)


def open_account(db: Path, customer: str, last4: str = "4242", address: str = "") -> None:
    """The bank's own setup: an account owned by ``customer`` with one card."""
    init_db(db)
    with contextlib.closing(connect(db)) as conn:
        conn.execute(
            "INSERT OR IGNORE INTO accounts (customer, owner, address) VALUES (?, ?, ?)",
            (customer, customer, address),
        )
        conn.execute(
            "INSERT OR IGNORE INTO cards (customer, last4) VALUES (?, ?)", (customer, last4)
        )


def count(db: Path, table: str, **where: object) -> int:
    """Rows of ``table`` matching every ``column=value`` given."""
    if table not in (
        "accounts",
        "cards",
        "waivers",
        "journal",
        "idempotency",
        "dry_runs",
        "refusals",
    ):
        raise ValueError(table)
    clause = " AND ".join(f"{col} = ?" for col in where) or "1"
    with contextlib.closing(connect(db)) as conn:
        row = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {clause}", tuple(where.values()))  # noqa: S608 (names checked)
        return int(row.fetchone()[0])


def rows(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with contextlib.closing(connect(db)) as conn:
        return list(conn.execute(sql, params).fetchall())


# ---------------------------------------------------------------------------------- the app


class Refusal(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


class Bank:
    """The service's state: its database, the keys it trusts, the armed faults."""

    def __init__(self, db: Path, trust: list[dict[str, Any]], audience: str = AUDIENCE) -> None:
        import jwt

        self.db = db
        self.audience = audience
        self.trust: dict[str, tuple[dict[str, Any], list[str]]] = {}
        for t in trust:  # issuer -> ({kid: key}, algorithms)
            keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(t["jwks"]).keys}
            self.trust[t["issuer"]] = (keys, list(t["algorithms"]))
        self.faults: dict[str, str] = {}  # path -> exit | lost (one call each)
        self.lock = threading.Lock()
        init_db(db)

    # -- the token --------------------------------------------------------------------------

    def claims(self, authorization: str) -> dict[str, Any]:
        import jwt

        if not authorization.startswith("Bearer "):
            raise Refusal(401, "no bearer token")
        token = authorization[len("Bearer ") :]
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Refusal(401, f"unreadable token: {exc}") from exc
        trusted = self.trust.get(str(unverified.get("iss")))
        if trusted is None:
            raise Refusal(401, "untrusted issuer")
        keys, algorithms = trusted
        key = keys.get(header.get("kid"))
        if key is None:
            raise Refusal(401, "unknown key id")
        try:
            return dict(
                jwt.decode(
                    token,
                    key.key,
                    algorithms=algorithms,
                    audience=self.audience,
                    issuer=unverified.get("iss"),
                    options={"require": ["exp", "iss", "aud", "sub"]},
                )
            )
        except jwt.PyJWTError as exc:
            raise Refusal(401, f"bad token: {type(exc).__name__}") from exc

    def authorize(self, conn: sqlite3.Connection, claims: dict[str, Any], customer: str) -> None:
        """The bank's own rules, whatever Steward decided."""
        owner = conn.execute("SELECT owner FROM accounts WHERE customer = ?", (customer,))
        found = owner.fetchone()
        if found is None:
            raise Refusal(404, "no such account")
        role = claims.get("role")
        if not role:
            raise Refusal(403, "the token names no role")
        if role == "customer" and (claims["sub"] != customer or found[0] != claims["sub"]):
            raise Refusal(403, "a customer acts only on their own account")
        if claims.get("customer") not in (None, customer):
            raise Refusal(403, "the token is for another customer's account")

    # -- one call -----------------------------------------------------------------------------

    def handle(
        self, path: str, op: str, customer: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            claims = self.claims(headers.get("authorization", ""))
        except Refusal as exc:
            self._refused(path, None, exc)
            return exc.status, {"error": exc.why}, {}
        key = headers.get("idempotency-key", "")
        if not key:
            return 400, {"error": "Idempotency-Key required"}, {}
        dry = headers.get("x-dry-run", "").lower() == "true"
        fingerprint = hashlib.sha256(json.dumps([path, body], sort_keys=True).encode()).hexdigest()
        with contextlib.closing(connect(self.db)) as conn:
            conn.execute("BEGIN IMMEDIATE")  # one writer: a duplicate waits, then replays
            try:
                self.authorize(conn, claims, customer)
                if not dry:
                    stored = conn.execute(
                        "SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)
                    ).fetchone()
                    if stored is not None:
                        conn.execute("ROLLBACK")
                        if stored[0] != fingerprint:
                            return 422, {"error": "Idempotency-Key reused for another call"}, {}
                        return stored[1], json.loads(stored[2]), {"Idempotent-Replayed": "true"}
                status, out = self.act(conn, op, customer, body, claims, key, dry)
                if dry:
                    conn.execute(
                        "INSERT INTO dry_runs (op, customer, idempotency_key) VALUES (?, ?, ?)",
                        (op, customer, key),
                    )
                else:
                    conn.execute(
                        "INSERT INTO journal (op, customer, idempotency_key, sub, iss, act, "
                        "approvers) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            op,
                            customer,
                            key,
                            claims["sub"],
                            claims["iss"],
                            json.dumps(claims.get("act")),
                            json.dumps(claims.get("approvers", [])),
                        ),
                    )
                    conn.execute(
                        "INSERT INTO idempotency (key, fingerprint, status, body) "
                        "VALUES (?, ?, ?, ?)",
                        (key, fingerprint, status, json.dumps(out)),
                    )
                conn.execute("COMMIT")
            except Refusal as exc:
                conn.execute("ROLLBACK")
                self._refused(path, claims.get("sub"), exc)
                return exc.status, {"error": exc.why}, {}
        with self.lock:
            fault = None if dry else self.faults.pop(path, None)
        if fault == "exit":
            os._exit(1)  # killed after the commit, before the answer
        if fault == "lost":
            return 503, {"error": "the answer was lost"}, {}
        return status, out, {}

    def act(
        self,
        conn: sqlite3.Connection,
        op: str,
        customer: str,
        body: dict[str, Any],
        claims: dict[str, Any],
        key: str,
        dry: bool,
    ) -> tuple[int, dict[str, Any]]:
        if op in ("freeze", "unfreeze"):
            last4 = str(body.get("last4", ""))
            card = conn.execute(
                "SELECT frozen FROM cards WHERE customer = ? AND last4 = ?", (customer, last4)
            ).fetchone()
            if card is None:
                raise Refusal(404, "no such card")
            if not dry:
                conn.execute(
                    "UPDATE cards SET frozen = ? WHERE customer = ? AND last4 = ?",
                    (1 if op == "freeze" else 0, customer, last4),
                )
            return 200, {"customer": customer, "last4": last4, "frozen": op == "freeze"}
        if op == "address":
            address = str(body.get("address", "")).strip()
            if not address:
                raise Refusal(422, "an address is required")
            if not dry:
                conn.execute(
                    "UPDATE accounts SET address = ? WHERE customer = ?", (address, customer)
                )
            return 200, {"customer": customer, "address": address, "dry_run": dry}
        if op == "waive":
            cents = round(float(body.get("amount", 0)) * 100)
            if cents <= 0:
                raise Refusal(422, "a positive amount is required")
            others = set(claims.get("approvers") or []) - {claims["sub"]}
            if cents > AUTHORITY_CENTS.get(str(claims.get("role")), 0) and len(others) < 2:
                raise Refusal(403, "beyond the signer's authority without two approvers")
            cur = conn.execute(
                "INSERT INTO waivers (customer, amount_cents, reason, idempotency_key) "
                "VALUES (?, ?, ?, ?)",
                (customer, cents, str(body.get("reason", "")), key),
            )
            return 201, {"waiver": cur.lastrowid, "customer": customer, "amount_cents": cents}
        if op == "reverse":
            original = key.removesuffix(":compensate")
            cur = conn.execute(
                "UPDATE waivers SET reversed = 1 WHERE idempotency_key = ? AND customer = ?",
                (original, customer),
            )
            return 200, {"reversed": cur.rowcount}
        raise Refusal(404, f"no operation {op}")

    def _refused(self, path: str, sub: str | None, exc: Refusal) -> None:
        with contextlib.closing(connect(self.db)) as conn:
            conn.execute(
                "INSERT INTO refusals (path, sub, status, why) VALUES (?, ?, ?, ?)",
                (path, sub, exc.status, exc.why),
            )


def create_app(bank: Bank) -> Any:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def endpoint(op: str, customer_from: str) -> Any:
        async def run(request: Request) -> JSONResponse:
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return JSONResponse({"error": "not JSON"}, 400)
            if not isinstance(body, dict):
                return JSONResponse({"error": "a JSON object is required"}, 400)
            customer = (
                request.path_params["customer"]
                if customer_from == "path"
                else str(body.get("customer", ""))
            )
            if customer_from == "path" and body.get("customer") not in (None, customer):
                return JSONResponse({"error": "the body names another customer"}, 400)
            headers = {k.lower(): v for k, v in request.headers.items()}
            status, out, extra = await run_in_threadpool(
                bank.handle, request.url.path, op, customer, body, headers
            )
            return JSONResponse(out, status, headers=extra)

        return run

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "pid": os.getpid()})

    async def faults(request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("fault") not in ("exit", "lost"):
            return JSONResponse({"error": "fault is exit or lost"}, 400)
        with bank.lock:
            bank.faults[str(body["path"])] = str(body["fault"])
        return JSONResponse({"armed": body})

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/_faults", faults, methods=["POST"]),
            Route("/cards/freeze", endpoint("freeze", "body"), methods=["POST"]),
            Route("/cards/unfreeze", endpoint("unfreeze", "body"), methods=["POST"]),
            Route("/accounts/{customer}/address", endpoint("address", "path"), methods=["POST"]),
            Route("/accounts/{customer}/waivers", endpoint("waive", "path"), methods=["POST"]),
            Route(
                "/accounts/{customer}/waivers/reverse",
                endpoint("reverse", "path"),
                methods=["POST"],
            ),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the bank on the listening socket the parent passed (``--fd``)."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="corebank")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    bank = Bank(Path(config["db"]), config["trust"], config.get("audience", AUDIENCE))
    sock = socket.socket(fileno=args.fd)
    server = uvicorn.Server(
        uvicorn.Config(create_app(bank), log_level="warning", lifespan="off", access_log=False)
    )
    server.run(sockets=[sock])


# ---------------------------------------------------------------------------------- the process


def steward_trust(jwks: dict[str, Any], issuer: str = "steward") -> dict[str, Any]:
    """Trust Steward's signed asker assertions (its JWKS: ``rt.actions.signer.jwks()``)."""
    return {"issuer": issuer, "jwks": jwks, "algorithms": ["EdDSA"]}


class CoreBank:
    """The bank as a child process on a fixed loopback port and database.

    The parent binds the port and hands the listening socket to the child (``--fd``), then
    closes its own copy: a request sent while the child starts waits in the kernel's queue, and
    one sent while it is dead is refused at once (as a crashed service's would be).
    """

    def __init__(
        self, root: Path, trust: list[dict[str, Any]] | None = None, audience: str = AUDIENCE
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.db = root / "corebank.db"
        self.config = root / "corebank.json"
        self.trust = list(trust or [])  # the issuers it accepts; read at each start
        self.audience = audience
        init_db(self.db)
        with socket.socket() as probe:  # a free port, ours to rebind after each restart
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def open_account(self, customer: str, last4: str = "4242", address: str = "") -> None:
        open_account(self.db, customer, last4, address)

    def count(self, table: str, **where: object) -> int:
        return count(self.db, table, **where)

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        return rows(self.db, sql, *params)

    def start(self) -> CoreBank:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("corebank is already running")
        self.config.write_text(
            json.dumps({"db": str(self.db), "trust": self.trust, "audience": self.audience})
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        self.starts += 1
        log = (self.root / f"corebank-{self.starts}.log").open("wb")
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.corebank",
                    "--config",
                    str(self.config),
                    "--fd",
                    str(sock.fileno()),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(sock.fileno(),),
            )
        finally:
            sock.close()  # the child holds the only copy now
            log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """The first answer from /health (the request waits in the socket's queue until the
        child serves it); a child that dies first fails with its log."""
        try:
            r = httpx.get(f"{self.url}/health", timeout=60)
        except httpx.TransportError as exc:
            raise RuntimeError(f"corebank did not start: {exc}\n{self.log()}") from exc
        assert self.proc is not None
        if r.status_code != 200 or r.json().get("pid") != self.proc.pid:
            raise RuntimeError(f"corebank answered {r.status_code}: {r.text}\n{self.log()}")

    def log(self) -> str:
        path = self.root / f"corebank-{self.starts}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def arm(self, path: str, fault: str) -> None:
        """After the next call to ``path`` commits: ``exit`` (die unanswered) or ``lost`` (503)."""
        r = httpx.post(f"{self.url}/_faults", json={"path": path, "fault": fault}, timeout=10)
        r.raise_for_status()

    def wait_exit(self, timeout: float = 30) -> int:
        """The exit code of a child that is dying (after the ``exit`` fault)."""
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush beyond what SQLite committed."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=30)

    def restart(self) -> CoreBank:
        self.kill()
        return self.start()

    def __enter__(self) -> CoreBank:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


if __name__ == "__main__":
    main(sys.argv[1:])
