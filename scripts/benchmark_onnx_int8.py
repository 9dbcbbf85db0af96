"""The other int8 route for the reference LM: ONNX Runtime, measured against what ships (issue 23).

Issue 23 asked for both int8 routes to be measured and the better kept: PyTorch (shipped as
`--precision int8`, detector/features/int8.py) and ONNX Runtime with int8 weights. This script
measures the second one on the same documents and batches as the shipped bf16 pass:

1. exports the reference LM (fp32, eager attention) to ONNX with `torch.onnx.export`, its outputs the
   logits and the hidden states the probe reads (layers 10, 20, 30), so that one pass still gives all
   the detector needs;
2. quantises it with `onnxruntime.quantization.quantize_dynamic` (int8 weights, per output channel;
   activations quantised per tensor at run time, ONNX Runtime's only dynamic mode), twice: every
   matrix multiply, and all but the output head and the MLPs' down projections;
3. times, in this one process with the same thread count: PyTorch bf16 (the shipped pass), ONNX
   Runtime fp32 and both int8 variants, each the best of --repeats runs over the same batches;
4. accuracy against bf16: each document's mean token log-likelihood (every LM statistic moves with
   it) and the cosine similarity of the mean-pooled hidden states of layer 20.

Documents: the first --docs English dev documents with at least --cap tokens (the throughput
benchmark's: detector.training.data.english_dev_texts), so every batch is full and needs no attention
mask; only whole batches are timed (`docs` in the JSON is how many that is).

    python scripts/benchmark_onnx_int8.py [--docs 48] [--cap 256] [--threads 2] [--out models/benchmark_onnx_int8.json]

Needs `pip install onnxruntime onnx onnxscript` (not a dependency of the package: nothing ships on it).
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

PROBE_LAYERS = (10, 20, 30)


def _batches(ids: list[list[int]], batch_tokens: int) -> list[np.ndarray]:
    per_batch = max(1, batch_tokens // max(len(r) for r in ids))
    return [np.array(ids[i : i + per_batch], dtype=np.int64) for i in range(0, len(ids), per_batch)]


def _mean_loglik(logits: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per document: the mean log-probability of each next token."""
    logits = logits[:, :-1].astype(np.float64)
    logits = logits - logits.max(axis=-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    taken = np.take_along_axis(logp, ids[:, 1:, None], axis=-1)[..., 0]
    return taken.mean(axis=1)


def _export(directory: Path, target: Path, sample: np.ndarray) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    model.config.use_cache = False

    class LogitsAndStates(torch.nn.Module):
        """The decoder run layer by layer with a plain additive causal mask: transformers' own mask code
        uses operators the ONNX exporter lacks (aten::diff). Documents are whole (no padding), so the
        causal mask is all the attention needs. Outputs follow output_hidden_states' numbering: state i
        is the output of layer i, and the last one is after the final norm."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids):
            base = self.inner.model
            hidden = base.embed_tokens(input_ids)
            n = input_ids.shape[1]
            position_ids = torch.arange(n, device=input_ids.device).unsqueeze(0)
            position_embeddings = base.rotary_emb(hidden, position_ids=position_ids)
            mask = torch.full((n, n), torch.finfo(hidden.dtype).min, device=input_ids.device).triu(1)[None, None]
            states = [hidden]
            for layer in base.layers:
                hidden = layer(hidden, attention_mask=mask, position_ids=position_ids,
                               position_embeddings=position_embeddings)
                hidden = hidden[0] if isinstance(hidden, tuple) else hidden
                states.append(hidden)
            states[-1] = base.norm(hidden)
            return (self.inner.lm_head(states[-1]), *(states[i] for i in PROBE_LAYERS))

    names = ["logits", *(f"hidden_{i}" for i in PROBE_LAYERS)]
    with torch.no_grad():
        torch.onnx.export(LogitsAndStates(model), (torch.from_numpy(sample),), str(target), input_names=["input_ids"],
                          output_names=names, opset_version=18, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        **{n: {0: "batch", 1: "tokens"} for n in names}})


def _ort_session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _timed(run, batches, repeats: int) -> tuple[float, list]:
    run(batches[:1])  # warm-up
    best, outputs = None, None
    for _ in range(repeats):
        started = time.perf_counter()
        outputs = run(batches)
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best, outputs


@click.command()
@click.option("--docs", default=48, show_default=True)
@click.option("--cap", default=256, show_default=True, help="Token cap (the shipped model's is 256).")
@click.option("--threads", default=2, show_default=True)
@click.option("--repeats", default=2, show_default=True)
@click.option("--batch-tokens", default=4096, show_default=True, help="Padded tokens per forward pass, as the pipeline.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/benchmark_onnx_int8.json"), show_default=True)
def main(docs, cap, threads, repeats, batch_tokens, out):
    import onnx
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from detector import Detector
    from detector.training.data import english_dev_texts  # the throughput benchmark's documents

    torch.set_num_threads(threads)
    detector = Detector.load(token_cap=cap)
    lm = detector.lm.load()
    texts = english_dev_texts(lm, docs, cap)
    ids, _ = lm.tokenize(texts)
    # Whole batches only, all of one shape: the traced export may fix shapes it saw (transformers' mask
    # code branches on the batch size), so it is traced on exactly the shape every batch has.
    batches = _batches(ids, batch_tokens)
    batches = [b for b in batches if b.shape == batches[0].shape]
    docs = sum(len(b) for b in batches)
    n_tokens = sum(b.size for b in batches)

    def torch_run(bs):
        results = []
        with torch.inference_mode():
            for b in bs:
                out_ = lm._model(input_ids=torch.from_numpy(b), output_hidden_states=True)
                results.append((out_.logits.float().numpy(), out_.hidden_states[20].float().numpy()))
        return results

    figures = {}
    seconds, outputs = _timed(torch_run, batches, repeats)
    reference_ll = np.concatenate([_mean_loglik(o[0], b) for o, b in zip(outputs, batches)])
    reference_h = np.concatenate([o[1].mean(axis=1) for o in outputs])
    figures["torch_bf16"] = {"seconds": seconds, "tokens_per_s": n_tokens / seconds, "docs_per_s": docs / seconds}
    del outputs

    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = Path(tmp) / "lm.onnx"
        started = time.perf_counter()
        _export(lm.source.directory, fp32_path, batches[0])
        export_seconds = time.perf_counter() - started
        # Two int8 variants: every matrix multiply, and all but the output head and the MLPs' down
        # projections (the layers whose inputs carry the outlier activations a per-tensor scale spreads
        # over every other value; the output head sets the log-probabilities directly).
        nodes = onnx.load(str(fp32_path), load_external_data=False).graph.node
        kept = [n.name for n in nodes if n.op_type in ("MatMul", "Gemm") and ("lm_head" in n.name or "down_proj" in n.name)]
        paths, excluded, quantize_seconds = {"onnxruntime_fp32": fp32_path}, {}, {}
        for name, exclude in (("onnxruntime_int8", []), ("onnxruntime_int8_head_and_down_proj_fp32", kept)):
            paths[name], excluded[name] = Path(tmp) / f"{name}.onnx", len(exclude)
            started = time.perf_counter()
            quantize_dynamic(str(fp32_path), str(paths[name]), weight_type=QuantType.QInt8, per_channel=True,
                             nodes_to_exclude=exclude)
            quantize_seconds[name] = round(time.perf_counter() - started, 1)
        for name, path in paths.items():
            session = _ort_session(path, threads)
            wanted = ["logits", "hidden_20"]

            def ort_run(bs, session=session):
                return [tuple(session.run(wanted, {"input_ids": b})) for b in bs]

            seconds, outputs = _timed(ort_run, batches, repeats)
            ll = np.concatenate([_mean_loglik(o[0], b) for o, b in zip(outputs, batches)])
            h = np.concatenate([o[1].mean(axis=1) for o in outputs])
            cosine = (h * reference_h).sum(1) / np.linalg.norm(h, axis=1) / np.linalg.norm(reference_h, axis=1)
            shift = ll - reference_ll
            figures[name] = {"seconds": seconds, "tokens_per_s": n_tokens / seconds, "docs_per_s": docs / seconds,
                             "speed_vs_torch_bf16": figures["torch_bf16"]["seconds"] / seconds,
                             "mean_loglik_shift_vs_bf16": {"mean": float(shift.mean()),
                                                           "mean_abs": float(np.abs(shift).mean()),
                                                           "max_abs": float(np.abs(shift).max())},
                             "layer20_mean_state_cosine_vs_bf16": {"mean": float(cosine.mean()),
                                                                   "min": float(cosine.min())},
                             "file_mib": round(path.stat().st_size / 2**20, 1),
                             **({"matmuls_kept_fp32": excluded[name]} if name in excluded else {})}
            del session, outputs
    result = {"command": " ".join(["python", "scripts/benchmark_onnx_int8.py", *sys.argv[1:]]),
              "docs": docs, "token_cap": cap, "tokens": int(n_tokens), "threads": threads, "batches": len(batches),
              "onnxruntime": ort.__version__, "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
              "export_seconds": round(export_seconds, 1), "quantize_seconds": quantize_seconds,
              "runs": figures}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
