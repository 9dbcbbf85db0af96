"""Run the reference LM once over the labelled data and keep all it gives (detector v2's inputs).

For each document: the LM statistics (the shipped model's LM features), hidden states pooled at
several layers (mean and last token) and the per-token sequences, all from one forward pass, cached by
document id under the user cache directory (`LMOutputCache`). Resumable: a rerun skips what is done.

The plan interleaves every set by a hash of the id, so any prefix of the run is a proportional sample
of all of them, usable for experiments before the whole plan is done:

    python scripts/extract_lm_outputs.py                # the whole plan (about 90 min on 2 idle CPU cores)
    python scripts/extract_lm_outputs.py --limit 2000   # the first 2,000 of it
    python scripts/extract_lm_outputs.py --extended     # and then the rest of train.jsonl (not the shipped recipe)
    python scripts/extract_lm_outputs.py --limit 6000 --precision int8 --token-cap 128   # for measuring
    python scripts/extract_lm_outputs.py --generated gemma-3-270m   # generated training text first
    python scripts/extract_lm_outputs.py --limit 16640 --languages ar,bg,es,id,pt,ru,ur,zh \
        --reference-model gemma-3-270m-q4_k_m.gguf   # another reference LM, non-English text only
    python scripts/extract_lm_outputs.py --languages en --sources baoguangsheng/fast-detect-gpt \
        --reference-model gemma-3-270m-q4_k_m.gguf   # one source's English text (scripts/evaluate_zero_shot.py)
"""

from __future__ import annotations

import click

from detector.features.lm import PerplexityFeatures
from detector.training.data import (LMOutputCache, extract_in_chunks, generated_documents, lm_outputs_key,
                                    planned_documents)
from detector.training.evidence import source_of


def _codes(value: str | None, option: str) -> set[str]:
    codes = {code.strip() for code in (value or "").split(",") if code.strip()}
    if value is not None and not codes:  # given but empty: not "everything" (hours of extraction)
        raise click.BadParameter(f"no value in {value!r}", param_hint=option)
    return codes


def select_documents(plan: list[dict], languages: str | None, sources: str | None) -> list[dict]:
    """The plan's documents labelled with one of `languages` (comma-separated ISO codes; rows without a
    language are left out) and from one of `sources` (comma-separated repositories), each only where given."""
    wanted_languages, wanted_sources = _codes(languages, "--languages"), _codes(sources, "--sources")
    if wanted_languages:
        plan = [row for row in plan if row.get("language") in wanted_languages]
    if wanted_sources:
        plan = [row for row in plan if source_of(row) in wanted_sources]
    if (wanted_languages or wanted_sources) and not plan:
        raise click.BadParameter(f"no planned document is labelled {sorted(wanted_languages) or 'any language'} "
                                 f"from {sorted(wanted_sources) or 'any source'}", param_hint="--languages/--sources")
    return plan


@click.command()
@click.option("--limit", type=int, default=None, help="Only the first N documents of the plan.")
@click.option("--chunk", default=128, show_default=True, help="Documents per cache file.")
@click.option("--token-cap", default=256, show_default=True)
@click.option("--precision", type=click.Choice(["bf16", "int8"]), default="bf16", show_default=True,
              help="int8 outputs go to their own cache, for measuring what int8 costs (training uses bf16's).")
@click.option("--reference-model", default=None)
@click.option("--seed", default=0, show_default=True)
@click.option("--generated", "generated", multiple=True,
              help="Also the generated documents of this name (scripts/generate_continuations.py) grown from "
                   "openings in the plan's first --limit, before the plan. Repeatable.")
@click.option("--extended", is_flag=True,
              help="The extended plan: after the plan's documents, the rest of train.jsonl (29,063 rows, about "
                   "two more hours here), for scripts/train_default_model.py --extended.")
@click.option("--languages", default=None,
              help="Comma-separated ISO codes: only the plan's documents labelled with one of them (rows "
                   "without a language, such as the human pool's, are left out).")
@click.option("--sources", default=None,
              help="Comma-separated source repositories (owner/name, as the model card names them): only the "
                   "plan's documents from one of them.")
def main(limit, chunk, token_cap, precision, reference_model, seed, generated, extended, languages, sources):
    plan = select_documents(planned_documents(seed, extended)[:limit], languages, sources)  # before the LM loads
    extractor = PerplexityFeatures(reference_model=reference_model, token_cap=token_cap, compile_statistics=True,
                                   keep_outputs=True, precision=precision).load()
    cache = LMOutputCache(lm_outputs_key(extractor.source.sha256, extractor.token_cap, precision))
    if generated:
        plan = generated_documents(generated, {row["id"] for row in plan}) + plan
    todo = [row for row in plan if row["id"] not in cache]
    print(f"{len(plan)} planned, {len(todo)} to compute -> {cache.directory}", flush=True)
    extract_in_chunks(extractor, todo, chunk, lambda rows, results: cache.add([r["id"] for r in rows], results))


if __name__ == "__main__":
    main()
