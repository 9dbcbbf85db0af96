"""Write a stratified sample of a ../shared/data split (by generator and domain) to a JSON Lines file.

    python scripts/sample_split.py dev 600 /tmp/dev_sample.jsonl
"""

from __future__ import annotations

import json
from pathlib import Path

import click


from detector.training.data import load_split, stratified_sample


@click.command()
@click.argument("split")
@click.argument("n", type=int)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", default=1, show_default=True)
def main(split, n, out, seed):
    rows = stratified_sample(load_split(split), n, keys=("generator", "domain"), seed=seed)
    out.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "split"}) + "\n" for r in rows))
    print(f"wrote {len(rows)} rows of {split} to {out}")


if __name__ == "__main__":
    main()
