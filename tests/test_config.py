"""Configuration holds together: one YAML loader, secrets that never print, nested settings
behind the flat STEWARD_* names, one way to build adapters (built-in or third-party), one list
of escalation reasons."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from functools import reduce
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from steward import plugins
from steward.answering.providers.extractive import ExtractiveProvider
from steward.answering.providers.openai_compat import OpenAICompatProvider
from steward.answering.providers.router import load_router
from steward.config import _flat
from steward.config.settings import LEAVES, Leaf, Settings, load_settings
from steward.core import reasons
from steward.core.errors import ConfigError, InputError
from steward.evals.runner import load_questions
from steward.guard.pii import load_custom_recognizers
from steward.knowledge.sources import load_sources
from steward.pipeline import handoff, policy, understand
from steward.pipeline.policy import Policy, PolicyBook
from steward.runtime import Runtime
from steward.web.ask import AskResponse
from tests.conftest import run_cli, settings_for

DOCS = Path(__file__).parents[1] / "docs"

# ------------------------------------------------------------------ one YAML loader


def test_typo_in_a_policy_file_names_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "north.yaml").write_text("language: en\nanswer_threshhold: 0.5\n")
    with pytest.raises(ConfigError) as info:
        PolicyBook(tmp_path, Policy())
    message = info.value.message
    assert message.startswith("Policy north.yaml, line 2: unknown key 'answer_threshhold'")
    assert "answer_threshold" in message and "\n" not in message


def test_typo_in_a_providers_file_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("models:\n  a: {kind: extractive}\nroute: {simple: a}\nfallbak: [a]\n")
    with pytest.raises(ConfigError, match=rf"^Providers file {re.escape(str(path))}, line 4: "):
        load_router(path, 10)
    path.write_text(
        "models:\n  a: {kind: openai, base_url: 'http://x/v1', modle: m}\nroute: {simple: a}\n"
    )
    with pytest.raises(ConfigError, match=r"models\.a \(openai\): unknown key 'modle'"):
        load_router(path, 10)


def test_typo_in_a_pii_recognizers_file_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "rec.yaml"
    path.write_text("recognizers:\n  - kind: MEMBER_ID\n    patern: 'HM-\\d{8}'\n")
    with pytest.raises(InputError) as info:
        load_custom_recognizers(path)
    assert info.value.message.startswith(f"PII recognizers file {path}, line 3: recognizer 1: ")
    assert "unknown key 'patern'" in info.value.message
    rt = Runtime(settings_for(tmp_path / "h", tmp_path / "mc", pii_recognizers_file=path))
    try:
        with pytest.raises(ConfigError, match=r"STEWARD_PII_RECOGNIZERS_FILE: .*line 3"):
            _ = rt.masker
    finally:
        rt.close()


def test_a_key_written_twice_is_refused_not_silently_overwritten(tmp_path: Path) -> None:
    """YAML lets the last of two equal keys win: a second `sources:` block would replace the
    first without a word. Every configuration file refuses it, naming both lines."""
    path = tmp_path / "s.yaml"
    path.write_text(
        "sources:\n  - {id: d, connector: folder, path: docs}\n"
        "sources:\n  - {id: e, connector: folder, path: other}\n"
    )
    with pytest.raises(InputError) as info:
        load_sources(path)
    assert info.value.message == (
        f"Source config {path}, line 3: key 'sources' appears twice (first on line 1)."
    )
    rec = tmp_path / "rec.yaml"
    rec.write_text("recognizers:\n  - {kind: MEMBER_ID, pattern: 'HM-\\d{8}', pattern: 'x'}\n")
    with pytest.raises(InputError, match="line 2: key 'pattern' appears twice"):
        load_custom_recognizers(rec)


def test_an_alias_bomb_and_a_file_that_is_not_utf8_are_refused_at_once(tmp_path: Path) -> None:
    """Nine nested anchors of nine are 387 million values once copied out (a minute of CPU,
    then the memory); bytes that are not UTF-8 are a one-line error, not a crash."""
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(levels) + "\nsources: *i\n")
    with pytest.raises(InputError, match="expand to more than 100,000 values"):
        load_sources(bomb)  # refused before the copies are made, which would take minutes
    deep = tmp_path / "deep.yaml"
    deep.write_text("sources: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(InputError, match="nested too deeply"):
        load_sources(deep)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"sources:\n  - id: \xff\xfe\n")
    with pytest.raises(InputError, match=r"is not UTF-8 text \(byte 17\)"):
        load_sources(binary)


def test_typo_in_a_source_config_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("sources:\n  - {id: d, connector: folder, path: docs}\nsourcs: []\n")
    with pytest.raises(InputError, match=rf"^Source config {re.escape(str(path))}, line 3: "):
        load_sources(path)


@pytest.mark.parametrize(
    ("name", "content", "args", "env", "expected"),
    [
        (
            "directory.yaml",
            "groups: [{id: staff}]\nusers:\n  - {id: ana, groops: [staff]}\n",
            ["directory", "import"],
            {},
            "line 3: users.0: unknown key 'groops' (allowed: id, display_name, groups,",
        ),
        (
            "directory.yaml",
            "groups: [{id: staff}\nusers: []\n",
            ["directory", "import"],
            {},
            "is not valid YAML: line 2, column 1:",
        ),
        (
            "sources.yaml",
            "sources:\n  - id: d\n    connector: folder\n    acl_defualt: [x]\n    path: .\n",
            ["ingest", "--config"],
            {},
            "unknown key 'acl_defualt' (allowed: id, connector,",
        ),
        (
            "default.yaml",
            "escalation_reasons: [fraud, fraudd]\n",
            ["policy", "show"],
            {"STEWARD_POLICY_DIR": "{dir}"},
            "Policy default.yaml, line 1: escalation_reasons: unknown escalation reason 'fraudd'",
        ),
    ],
)
def test_bad_config_file_is_one_line_on_stderr_with_status_2(
    tmp_path: Path,
    model_cache: Path,
    name: str,
    content: str,
    args: list[str],
    env: dict[str, str],
    expected: str,
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / name).write_text(content)
    extra = {k: v.format(dir=folder) for k, v in env.items()}
    file_args = [] if env else [str(folder / name)]
    r = run_cli(*args, *file_args, home=tmp_path / "h", model_cache=model_cache, extra_env=extra)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert name in lines[0] and expected in lines[0], lines[0]


def test_a_bad_setting_is_one_line_naming_its_variable_and_never_its_value(
    tmp_path: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value a setting cannot take stops a command with one line naming the variable, exit
    2 (it was pydantic's four lines and a URL, exit 1); the value is not shown, as it may be a
    secret."""
    monkeypatch.setenv("STEWARD_ROLLOUT_INTERVAL_S", "7.5")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.message.startswith("STEWARD_ROLLOUT_INTERVAL_S: Input should be")
    r = run_cli(
        "switch", "list", home=tmp_path / "h", model_cache=model_cache,
        extra_env={"STEWARD_RATE_WINDOW_S": "s3cr3t-abc"},
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: STEWARD_RATE_WINDOW_S: ") and len(r.stderr.splitlines()) == 1
    assert "s3cr3t" not in r.stderr
    # A database URL Steward cannot open, or a database it cannot reach: the same, and the
    # password in the URL is never shown.
    for url, says in (
        ("garbage://x:hunter2@", "not a database URL Steward can open"),
        (f"sqlite:///{tmp_path}/no/such/dir/x.db", "cannot be reached or opened"),
    ):
        r = run_cli(
            "switch", "list", home=tmp_path / "h", model_cache=model_cache,
            extra_env={"STEWARD_DATABASE_URL": url},
        )  # fmt: skip
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
        assert r.stderr.startswith("error: STEWARD_DATABASE_URL: ") and says in r.stderr
        assert "hunter2" not in r.stderr


# ------------------------------------------------------------------ secrets


SECRETS = {
    "openai_api_key": "sk-openai-SECRET",
    "anthropic_api_key": "sk-ant-SECRET",
    "embedder_api_key": "sk-embed-SECRET",
    "vault_key": "ab" * 32,
    "database_url": "postgresql://steward:pw-SECRET@db.internal/steward",
}


def test_settings_never_print_a_secret(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, **SECRETS)  # type: ignore[arg-type]
    shown = [repr(s), str(s), s.model_dump_json(), json.dumps(s.model_dump(mode="json"))]
    for text in shown:
        for value in SECRETS.values():
            assert value not in text
    assert s.db_url == SECRETS["database_url"]  # the engine still gets it


def test_secret_reaches_the_adapter_from_env_and_from_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEWARD_OPENAI_API_KEY", "sk-from-env")
    s = Settings(home=tmp_path, openai_base_url="http://127.0.0.1:9/v1", openai_model="m")
    provider = OpenAICompatProvider.from_settings(s)
    assert provider._client.api_key == "sk-from-env"
    assert "sk-from-env" not in repr(provider.opts)
    monkeypatch.setenv("ROUTER_KEY", "sk-from-file-ref")
    path = tmp_path / "p.yaml"
    path.write_text(
        "models:\n  a: {kind: openai, base_url: 'http://127.0.0.1:9/v1', model: m, "
        "api_key: {$env: ROUTER_KEY}}\nroute: {simple: a}\n"
    )
    routed = load_router(path, 10).routes["simple"].provider
    assert isinstance(routed, OpenAICompatProvider)
    assert routed._client.api_key == "sk-from-file-ref"


# ------------------------------------------------------------------ nested settings, flat names


def _sample(leaf: Leaf, tmp_path: Path) -> object:
    """A valid value for the leaf, unlike its default (numbers keep theirs: bounds differ)."""
    annotation, default = leaf.field.annotation, leaf.field.default
    if typing.get_origin(annotation) is typing.Literal:
        return next(a for a in typing.get_args(annotation) if a != default)
    if typing.get_origin(annotation) is dict:
        return {leaf.flat: "g"}
    kinds = set(typing.get_args(annotation)) or {annotation}
    if Path in kinds:
        return tmp_path / leaf.flat
    if leaf.flat.endswith("_url") and str in kinds:  # validated as an https URL
        return f"https://v.example/{leaf.flat}"
    if str in kinds or SecretStr in kinds:
        return f"v-{leaf.flat}"
    if bool in kinds:
        return not default
    return default


def _nested(s: Settings, leaf: Leaf) -> object:
    value = reduce(getattr, leaf.path, s)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@pytest.mark.parametrize("via", ["environment", "keyword"])
def test_every_flat_name_reaches_its_nested_field_and_reads_back_flat(
    via: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = {leaf.flat: _sample(leaf, tmp_path) for leaf in LEAVES}
    if via == "environment":
        for leaf in LEAVES:
            value = samples[leaf.flat]
            monkeypatch.setenv(
                leaf.env, json.dumps(value) if isinstance(value, dict) else str(value)
            )
        s = Settings()
    else:
        s = Settings(**samples)  # type: ignore[arg-type]
    for leaf in LEAVES:
        assert _nested(s, leaf) == samples[leaf.flat], leaf.env
        # The old flat attribute names, read-only until the call sites move (then drop this).
        assert getattr(s, leaf.flat) is reduce(getattr, leaf.path, s), leaf.flat
    assert s.embedding.name == "v-embedder"
    assert s.answering.openai.api_key is not None
    assert s.answering.openai.api_key.get_secret_value() == "v-openai_api_key"


def test_the_flat_names_mypy_sees_are_the_table() -> None:
    """config/_flat.py declares the flat properties for mypy: same names, same types."""
    declared = typing.get_type_hints(_flat.FlatNames)
    nested = {leaf.flat: leaf.field.annotation for leaf in LEAVES if len(leaf.path) > 1}
    assert declared == nested


def test_a_flat_keyword_beats_the_environment_and_model_copy_moves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEWARD_VAULT_KEY_FILE", str(tmp_path / "env.key"))
    monkeypatch.setenv("STEWARD_EMBEDDER_MAX_TOKENS", "128")
    s = Settings(home=tmp_path, vault_key_file=tmp_path / "kw.key")
    assert s.privacy.vault_key_file == tmp_path / "kw.key"
    assert s.embedding.max_tokens == 128
    rules = tmp_path / "rec.yaml"
    assert load_settings(pii_recognizers_file=rules).privacy.pii_recognizers_file == rules
    assert Settings(embedding={"max_tokens": 64}).embedding.max_tokens == 64  # type: ignore[arg-type]
    moved = s.model_copy(update={"embedder_base_url": "http://127.0.0.1:9/v1"})
    assert moved.embedding.base_url == "http://127.0.0.1:9/v1"
    assert s.embedding.base_url is None and moved.embedding.max_tokens == 128


def test_an_unknown_steward_variable_or_keyword_is_ignored_and_groups_are_no_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = Settings(home=tmp_path)
    monkeypatch.setenv("STEWARD_NO_SUCH_SETTING", "1")
    monkeypatch.setenv("STEWARD_EMBEDDING", "not json")  # a group is no variable
    monkeypatch.setenv("STEWARD_EMBEDDING__MAX_TOKENS", "32")  # and there is no __ nesting
    assert Settings(home=tmp_path, no_such_setting=1) == plain


def test_nested_settings_are_frozen_and_refuse_a_typo(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    with pytest.raises(ValidationError):
        s.embedding.max_tokens = 64  # type: ignore[misc]
    with pytest.raises(ValidationError, match="max_tokns"):
        Settings(embedding={"max_tokns": 64})  # type: ignore[arg-type]


# ------------------------------------------------------------------ one way to build adapters

ACME = """
from pydantic import BaseModel, ConfigDict
import numpy as np


class AcmeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    greeting: str = "hello"


class AcmeEmbedder:
    dim = 4
    model_id = space = "acme-4"

    @classmethod
    def from_settings(cls, settings):
        return cls()

    def embed(self, texts):
        return np.ones((len(texts), 4), np.float32) / 2


class AcmeProvider:
    name = "acme"
    Options = AcmeOptions
    model = prompt_version = "acme-1"

    def __init__(self, options=None):
        self.opts = options or AcmeOptions()

    @classmethod
    def from_settings(cls, settings):
        return cls()
"""


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A third-party package, installed the way pip installs one (a dist-info with entry
    points on sys.path)."""
    site = tmp_path / "site"
    dist = site / "acme_steward-1.0.dist-info"
    dist.mkdir(parents=True)
    (site / "acme_steward.py").write_text(ACME)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-steward\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[steward.embedders]\nacme = acme_steward:AcmeEmbedder\n\n"
        "[steward.providers]\nacme = acme_steward:AcmeProvider\n"
    )
    monkeypatch.syspath_prepend(str(site))
    plugins._available.cache_clear()  # entry points are read once per process
    yield
    plugins._available.cache_clear()


def test_built_in_and_third_party_adapters_are_built_by_the_same_path(
    acme: None, tmp_path: Path
) -> None:
    s = Settings(home=tmp_path)
    assert isinstance(plugins.build("steward.providers", "extractive", s), ExtractiveProvider)
    assert type(plugins.build("steward.providers", "acme", s)).__name__ == "AcmeProvider"
    assert type(plugins.build("steward.embedders", "acme", s)).__name__ == "AcmeEmbedder"
    for group in ("steward.providers", "steward.embedders"):
        for name in plugins.names(group):
            assert callable(plugins.load(group, name).from_settings), (group, name)
    # The providers file loads kinds through the same entry points, options and all.
    path = tmp_path / "p.yaml"
    path.write_text("models:\n  a: {kind: acme, greeting: hi}\nroute: {simple: a}\n")
    router = load_router(path, 10)
    assert router.routes["simple"].provider.opts.greeting == "hi"  # type: ignore[attr-defined]


def test_steward_plugins_refuses_a_built_in_like_any_plugin(acme: None, tmp_path: Path) -> None:
    refused = []
    for allowed, embedder in (("acme", "minilm"), ("minilm", "acme")):
        rt = Runtime(Settings(home=tmp_path / allowed, plugins=allowed, embedder=embedder))
        try:
            with pytest.raises(ConfigError) as info:
                _ = rt.embedder
            refused.append(info.value.message)
        finally:
            rt.close()
    assert refused == [
        "Plugin 'minilm' is not enabled: STEWARD_PLUGINS='acme'. Add it there.",
        "Plugin 'acme' is not enabled: STEWARD_PLUGINS='minilm'. Add it there.",
    ]
    path = tmp_path / "p.yaml"
    path.write_text("models:\n  a: {kind: openai, base_url: 'http://x/v1', model: m}\n")
    path.write_text(path.read_text() + "route: {simple: a}\nfallback: [a]\n")
    with pytest.raises(ConfigError, match="Plugin 'openai' is not enabled"):
        load_router(path, 10, "acme,extractive")
    assert load_router(path, 10, "openai").fallback[0].name == "a"  # no implicit extractive


# ------------------------------------------------------------------ one list of reasons


def test_escalation_reasons_come_from_the_one_registry() -> None:
    assert understand.REASONS is reasons.SIGNALS and policy.REASONS is reasons.SIGNALS
    assert Policy().escalation_reasons == reasons.SIGNALS
    assert handoff.PRIORITY == reasons.PRIORITY
    assert set(reasons.SIGNALS) < set(reasons.BY_NAME)
    text = "Someone used my card for purchases I never made and I'm going to sue the bank."
    assert [s.reason for s in understand.risk_signals(text)] == ["fraud", "legal"]
    description = AskResponse.model_json_schema()["properties"]["escalation_reason"]
    assert all(f"`{name}`" in description["description"] for name in reasons.BY_NAME)


def test_policy_accepts_exactly_the_registry_signals(tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text(f"escalation_reasons: {list(reasons.SIGNALS)}\n")
    assert PolicyBook(tmp_path, Policy()).for_center(None).escalation_reasons == reasons.SIGNALS
    (tmp_path / "default.yaml").write_text("escalation_reasons: [low_confidence]\n")
    with pytest.raises(ConfigError, match="unknown escalation reason 'low_confidence'"):
        PolicyBook(tmp_path, Policy())


def test_every_escalation_reason_is_documented_with_its_priority() -> None:
    page = (DOCS / "conversations.md").read_text()
    rows = dict(re.findall(r"^\| (p[123]) \| (.+?) \|", page, re.MULTILINE))
    for r in reasons.ALL:
        assert f"`{r.name}`" in page, r.name
        assert f"`{r.name}`" in rows[r.priority], (r.name, r.priority)
    signal_rows = re.findall(r"^\| `(\w+)` \| .+ \| (p[123]) \|$", page, re.MULTILINE)
    assert signal_rows == [(r.name, r.priority) for r in reasons.ALL if r.signal]


def test_eval_question_with_an_unknown_reason_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    line = {"id": "q1", "user": "ana", "question": "?", "kind": "escalate"}
    path.write_text(
        json.dumps({**line, "expected_action": "escalate", "escalation_reason": "frod"})
    )
    with pytest.raises(InputError, match=r":1: escalation_reason: .*reason .frod."):
        load_questions(path)


def test_steward_reads_the_nested_settings_not_the_flat_names() -> None:
    """The flat names are a compatibility surface for plugins; our own code reads the groups."""
    from steward.config.settings import FLAT

    src = Path(__file__).parents[1] / "src" / "steward"
    moved = {flat for flat, path in FLAT.items() if path != (flat,)}
    pattern = re.compile(r"\b(?:settings|s)\.(" + "|".join(sorted(moved)) + r")\b")
    found = [
        f"{p.relative_to(src)}:{n}: {m.group(0)}"
        for p in src.rglob("*.py")
        if p.name not in ("settings.py", "_flat.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        for m in pattern.finditer(line)
    ]
    assert found == []
