"""The main job end to end, on a small corpus drawn from ../shared/data (`make demo`).

1. builds a mixed corpus (labelled dev documents, unseen-domain human documents, non-English text)
   as zstd JSON Lines, plus two loose text files;
2. `synthsieve score` on the loose files;
3. `synthsieve eval` on a labelled sample;
4. `synthsieve filter` over the corpus into partitions with a manifest;
5. `synthsieve report` over the filter output (HTML, Markdown, JSON);
6. the same filter calibrated on a human reference (`--human-reference`: human documents of the same
   sets, none of them in the corpus), and its report, whose prevalence estimate then takes its human
   component from that reference; the true machine share of the corpus's English documents is printed
   beside it (the labels are known here, as they never are on a crawl).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import click
import zstandard


def synthsieve(*args: str) -> None:
    command = [str(Path(sys.executable).with_name("synthsieve")), *args]
    print("\n$ synthsieve " + " ".join(args), flush=True)
    subprocess.run(command, check=True)


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@click.command()
@click.option("--shared", default="../shared/data", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", default="demo-out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--docs", default=240, show_default=True, help="Documents in the demo corpus.")
@click.option("--seed", default=0, show_default=True)
def main(shared, out, docs, seed):
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    (out / "input").mkdir(parents=True)
    dev = read_jsonl(shared / "dev.jsonl")
    grounded = read_jsonl(shared / "grounded_docs.jsonl")
    english = [r for r in dev if r["language"] == "en"]
    other = [r for r in dev if r["language"] != "en"]
    corpus = (rng.sample(english, int(docs * 0.6)) + rng.sample(grounded, int(docs * 0.3))
              + rng.sample(other, docs - int(docs * 0.6) - int(docs * 0.3)))
    rng.shuffle(corpus)
    in_corpus = {r["id"] for r in corpus}
    # The crawl's "own human past": human documents of the same sets, in the corpus's proportions.
    english_human = [r for r in english if r["label"] == "human" and r["id"] not in in_corpus]
    grounded_rest = [r for r in grounded if r["id"] not in in_corpus]
    reference = rng.sample(english_human, min(len(english_human), 200)) + rng.sample(grounded_rest, min(len(grounded_rest), 200))
    keep = ("id", "text", "domain", "language", "label", "generator")
    with zstandard.open(out / "input" / "human-reference.jsonl.zst", "wt", encoding="utf-8") as handle:
        for row in reference:
            handle.write(json.dumps({k: row[k] for k in keep if k in row}) + "\n")
    with zstandard.open(out / "input" / "corpus.jsonl.zst", "wt", encoding="utf-8") as handle:
        for row in corpus:
            handle.write(json.dumps({k: row[k] for k in keep if k in row}) + "\n")
    loose = [r for r in grounded if r["domain"] == "python-docs"][:1] + [r for r in english if r["label"] == "machine"][:1]
    files = []
    for i, row in enumerate(loose):
        path = out / "input" / f"loose-{i}.txt"
        path.write_text(row["text"], encoding="utf-8")
        files.append(str(path))
    labelled = out / "input" / "labelled-sample.jsonl"
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rng.sample(english, 60)))

    synthsieve("score", *files)
    synthsieve("eval", str(labelled), "--plot", str(out / "roc.png"))
    synthsieve("filter", str(out / "input" / "corpus.jsonl.zst"), "--out", str(out / "filtered"))
    synthsieve("report", str(out / "filtered"))
    synthsieve("filter", str(out / "input" / "corpus.jsonl.zst"), "--human-reference",
               str(out / "input" / "human-reference.jsonl.zst"), "--out", str(out / "calibrated"))
    synthsieve("report", str(out / "calibrated"))
    grounded_ids = {r["id"] for r in grounded}  # unseen-domain human documents, English
    english_in_corpus = [r for r in corpus if r.get("language") == "en" or r["id"] in grounded_ids]
    truth = sum(r.get("label") == "machine" for r in english_in_corpus) / len(english_in_corpus)
    print(f"\nBy construction, {truth:.1%} of the corpus's English documents are machine-written (the report's "
          "estimate counts English documents of at least 50 tokens).")
    print(f"\nDone. Partitions and manifest: {out / 'filtered'} and, calibrated on the human reference, "
          f"{out / 'calibrated'}; reports: {out / 'filtered' / 'report' / 'index.html'}, "
          f"{out / 'calibrated' / 'report' / 'index.html'}")


if __name__ == "__main__":
    main()
