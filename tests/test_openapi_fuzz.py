"""Schemathesis against the served OpenAPI spec, over real HTTP: no 500, no schema violation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from tests.conftest import LiveServer

EXAMPLES = 15  # per operation and mode (about 40 operations: ~50 s of the suite on 2 cores)


def fuzzer(
    op: Any, mode: GenerationMode, headers: dict[str, str], statuses: Counter[tuple[str, int]]
) -> Callable[[], None]:
    """Hypothesis-driven calls of one operation, each response validated against the spec."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers=headers)
        statuses[(mode.value, response.status_code)] += 1

    return run  # type: ignore[no-any-return]


def test_every_operation_answers_within_its_schema(
    live_kb: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys = live_kb
    # The same per-operation settings as test_schema.py (tests/schemathesis.toml): a few
    # bodies are checked against the deployment's state too, so a schema-valid one may be a 400.
    config = SchemathesisConfig.from_path(str(Path(__file__).with_name("schemathesis.toml")))
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config)
    # The operator's key below is the credential of every call: generating (or breaking) the
    # declared bearer scheme's header too would only have it overwritten by that key, and a
    # "broken" request then answered 200. Missing and bad credentials are tested by test_api.
    schema.config.generation.update(with_security_parameters=False)
    # An operator's key reaches every endpoint but the admin ones (those answer 403, which the
    # spec documents). Positive cases follow the schema; negative ones break it on purpose and
    # must be refused with a documented 4xx, never a 500.
    headers = {"Authorization": f"Bearer {keys['ops']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    failures: dict[str, str] = {}
    statuses: Counter[tuple[str, int]] = Counter()
    for op in operations:
        for mode in GenerationMode:
            try:
                fuzzer(op, mode, headers, statuses)()
            except Unsatisfiable:
                continue  # nothing about this operation's input can be made invalid
            except Exception as exc:  # collect every operation's failure, then report them all
                failures[f"{op.label} ({mode.value})"] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert not [s for _, s in statuses if s >= 500]
    assert sum(n for (m, s), n in statuses.items() if m == "positive" and s == 200) >= 60
    assert sum(n for (m, s), n in statuses.items() if m == "negative" and s in (400, 422)) >= 50
