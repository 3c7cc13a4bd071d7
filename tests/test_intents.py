"""The intent classifier an operator trains: calibrated, saved without pickle, `unknown`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from steward.core.errors import InputError
from steward.models.intents import UNKNOWN, IntentModel, evaluate, load_examples, train
from tests.conftest import run_cli

EXAMPLES = [
    ("my card has not arrived yet", "card_arrival"),
    ("when will my new card come", "card_arrival"),
    ("still waiting for the card you sent", "card_arrival"),
    ("how long does card delivery take", "card_arrival"),
    ("I want to dispute a charge", "dispute"),
    ("there is a wrong charge on my bill", "dispute"),
    ("how do I contest a transaction", "dispute"),
    ("this payment is not mine", "dispute"),
    ("what is the exchange rate for euros", "exchange_rate"),
    ("how much is a dollar in pounds", "exchange_rate"),
    ("which rate do you use to convert currency", "exchange_rate"),
    ("currency conversion rate please", "exchange_rate"),
    ("what is the weather on mars", "oos"),
    ("tell me a joke about cats", "oos"),
    ("who won the football game", "oos"),
    ("recommend a pizza topping", "oos"),
]


def _write(path: Path, rows) -> Path:
    path.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows))
    return path


def test_train_predict_save_and_load(tmp_path: Path, embedder) -> None:
    texts, labels = load_examples(_write(tmp_path / "ex.csv", EXAMPLES * 3))
    assert UNKNOWN in labels and "oos" not in labels  # out-of-scope labels are unified
    model = train(texts, labels, embedder, threshold=0.3)
    probe = [
        "my card never showed up",
        "is this charge a mistake, I want it reversed",
        "how many moons does jupiter have",
    ]
    got = model.predict(probe, embedder.embed(probe))
    assert [label for label, _ in got] == ["card_arrival", "dispute", UNKNOWN]
    assert all(0.0 <= c <= 1.0 for _, c in got)
    model.save(tmp_path / "m" / "model")
    assert (tmp_path / "m" / "model.npz").exists()
    again = IntentModel.load(tmp_path / "m" / "model")
    a = model.probabilities(probe, embedder.embed(probe))
    b = again.probabilities(probe, embedder.embed(probe))
    assert np.allclose(a, b, atol=1e-6)
    scores = evaluate(again, texts, labels, embedder)
    assert scores["n"] == len(texts) and scores["accuracy"] >= 0.9


def test_threshold_turns_weak_guesses_into_unknown(tmp_path: Path, embedder) -> None:
    texts, labels = zip(*[(t, lab) for t, lab in EXAMPLES * 3 if lab != "oos"], strict=True)
    model = train(list(texts), list(labels), embedder, threshold=0.99)
    got = model.predict(["hello there"], embedder.embed(["hello there"]))
    assert got[0][0] == UNKNOWN


def test_bad_example_files_are_clear_errors(tmp_path: Path, embedder) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,topic\nhi,x\n")
    with pytest.raises(InputError, match="`text` column"):
        load_examples(bad)
    jl = tmp_path / "bad.jsonl"
    jl.write_text('{"text": "hi"}\n{nope\n')
    with pytest.raises(InputError, match=":2"):
        load_examples(jl)
    with pytest.raises(InputError, match="two different labels"):
        train(["a", "b"], ["x", "x"], embedder)


def test_intent_commands(tmp_path: Path, model_cache: Path) -> None:
    train_file = _write(tmp_path / "train.csv", EXAMPLES * 3)
    home = tmp_path / "home"
    r = run_cli("intent", "train", str(train_file), "--json", home=home, model_cache=model_cache)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["labels"] == 4
    r = run_cli(
        "intent", "eval", "--test", str(train_file), "--json", home=home, model_cache=model_cache
    )
    assert r.returncode == 0, r.stderr
    scores = json.loads(r.stdout)
    assert set(scores) == {"accuracy", "macro_f1", "n"} and scores["n"] == 48
    fresh = run_cli(
        "intent",
        "eval",
        "--test",
        str(train_file),
        home=tmp_path / "empty",
        model_cache=model_cache,
    )
    assert fresh.returncode == 2 and "steward intent train" in fresh.stderr
