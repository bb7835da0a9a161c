"""Train the phase reader (``actavatar/reader.py``): what a phase text will be performed as.

    python scripts/train_reader.py            # writes assets/checkpoints/phase-reader/reader.npz (+ metrics.json)

Training texts: the phrasing bank's training split (``sample_action``; combinations cut into clauses, surface
variants included), the unperformable bank and its "none" texts (``actavatar/training/unperformable.toml``) and
random strings. Validation (the training epoch kept): the bank's held-out phrasings. Test (never trained on, never
used for a choice): the frozen external phrasings (``actavatar/evaluation/external_phrasings.json``).
Deterministic (seeded); a few minutes on 2 CPU cores, most of it encoding texts.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actavatar.reader import (  # noqa: E402
    READER_PATH,
    PhaseReader,
    action_class,
    clauses,
    forward,
    interpret,
    reader_classes,
)
from actavatar.training import augment  # noqa: E402
from actavatar.training.actions import sample_action  # noqa: E402

UNPERFORMABLE = ROOT / "actavatar" / "training" / "unperformable.toml"
EXTERNAL = ROOT / "actavatar" / "evaluation" / "external_phrasings.json"
_SUBJECTS = ("", "", "she ", "he ", "the speaker ", "then ")
_SWAP = {"her": "his", "herself": "himself"}


def action_texts(split: str, n: int, seed: int) -> list[tuple[str, set[str]]]:
    """``n`` whole bank texts of ``split`` with the side-free classes they ask for."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        spec = sample_action(rng, split)
        out.append((spec.text, {action_class(p.label) for p in spec.parts}))
    return out


def clause_texts(n: int, seed: int) -> list[tuple[str, str]]:
    """(clause, class): training-bank texts (and surface variants) cut into clauses as the reader reads them. A
    text whose clauses do not line up one-to-one with its actions gives only its whole text, if it has one action."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, str]] = []
    while len(out) < n:
        spec = sample_action(rng, "train")
        texts = [spec.text, *(augment.variants(spec.text, rng, count=1) if rng.random() < 0.5 else [])]
        names = [action_class(p.label) for p in spec.parts]
        for text in texts:
            parts = clauses(text)
            if len(parts) == len(names):
                out.extend(zip(parts, names, strict=True))
            elif len(names) == 1:
                out.append((text, names[0]))
    return out[:n]


def _phrased(text: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        text = " ".join(_SWAP.get(w, w) for w in text.split())
    text = str(rng.choice(_SUBJECTS)) + text
    if rng.random() < 0.25:
        text = text[:1].upper() + text[1:]
    return text


def other_texts(seed: int, per_kind: int = 400) -> list[tuple[str, str]]:
    """(text, class) for each unperformable kind and for "none" (bank texts, phrased variously, random strings)."""
    bank = tomllib.loads(UNPERFORMABLE.read_text(encoding="utf-8"))
    rng = np.random.default_rng(seed)
    out = []
    for kind, texts in bank["kinds"].items():
        out += [(_phrased(str(rng.choice(texts)), rng), kind) for _ in range(per_kind)]
    letters = list(string.ascii_lowercase + "      ")
    for _ in range(per_kind):
        if rng.random() < 0.6:
            out.append((_phrased(str(rng.choice(bank["none"]["texts"])), rng), "none"))
        else:
            out.append(("".join(rng.choice(letters, int(rng.integers(2, 16)))).strip() or "x", "none"))
    return out


def train(x, y, val, seed: int, epochs: int = 600, hidden: int = 256) -> tuple[dict, float]:
    """Fit the classifier to features ``x`` and class indices ``y``; keep the weights best on ``val`` (weights ->
    accuracy on the bank's held-out phrasings), checked every 25 epochs."""
    torch.manual_seed(seed)
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], hidden),
        torch.nn.GELU(approximate="tanh"),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(hidden, len(reader_classes())),
    )
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-2)
    best, best_acc = None, -1.0
    for epoch in range(1, epochs + 1):
        net.train()
        opt.zero_grad()
        logits = net(torch.nn.functional.dropout(x, 0.1))
        torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.05).backward()
        opt.step()
        if epoch % 25 == 0:
            w = _weights(net)
            acc = val(w)
            if acc > best_acc:
                best, best_acc = w, acc
    return best, best_acc


def _weights(net) -> dict:
    first, last = net[0], net[3]
    return {
        "w1": first.weight.detach().T.numpy().copy(),
        "b1": first.bias.detach().numpy().copy(),
        "w2": last.weight.detach().T.numpy().copy(),
        "b2": last.bias.detach().numpy().copy(),
    }


def embed_all(reader: PhaseReader, texts: list[str]) -> np.ndarray:
    return np.concatenate([reader.embed(texts[i : i + 256]) for i in range(0, len(texts), 256)])


def external_cases() -> tuple[list[tuple[str, set[str], str]], list[tuple[str, str]], list[str]]:
    data = json.loads(EXTERNAL.read_text(encoding="utf-8"))
    phases = [(p["text"], {action_class(x) for x in p["label"].split("+")}, p["style"]) for p in data["phases"]]
    return phases, [(u["text"], u["kind"]) for u in data["unperformable"]], list(data["not_understood"])


def score(reader: PhaseReader, cases) -> dict:
    """Reader accuracy: the exact action set (status ok) per style; unperformable and not-understood recall."""
    phases, unperformable, none = cases
    readings = reader.read([t for t, _, _ in phases])
    hits = [
        r.status == "ok" and {a.action for a in r.actions} == want
        for r, (_, want, _) in zip(readings, phases, strict=True)
    ]
    out: dict = {"phases": round(float(np.mean(hits)), 3), "styles": {}}
    for style in sorted({s for _, _, s in phases}):
        out["styles"][style] = round(
            float(np.mean([h for h, p in zip(hits, phases, strict=True) if p[2] == style])), 3
        )
    out["false_warnings"] = round(float(np.mean([r.status != "ok" for r in readings])), 3)
    if unperformable:
        ur = reader.read([t for t, _ in unperformable])
        out["unperformable_warned"] = round(float(np.mean([r.status == "unperformable" for r in ur])), 3)
        out["unperformable_kind"] = round(
            float(np.mean([r.kind == k for r, (_, k) in zip(ur, unperformable, strict=True)])), 3
        )
    if none:
        out["not_understood_warned"] = round(float(np.mean([r.status != "ok" for r in reader.read(none)])), 3)
    return out


def heldout_accuracy(w, heldout, val_parts, val_x) -> float:
    """Share of held-out texts read as exactly their actions: the epoch choice of ``train``."""
    probs = iter(forward(w, val_x))
    hits = []
    for (text, want, _), parts in zip(heldout, val_parts, strict=True):
        r = interpret(text, parts, [next(probs) for _ in parts])
        hits.append(r.status == "ok" and {a.action for a in r.actions} == want)
    return float(np.mean(hits))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(READER_PATH))
    ap.add_argument("--texts", type=int, default=12000, help="bank clauses for training")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    reader = PhaseReader(args.out)
    items = clause_texts(args.texts, args.seed) + other_texts(args.seed + 1)
    classes = reader_classes()
    x = embed_all(reader, [t for t, _ in items])
    y = np.array([classes.index(c) for _, c in items], np.int64)
    heldout = [(t, want, "heldout") for t, want in action_texts("heldout", 600, args.seed + 2)]
    val_parts = [clauses(t) or [t] for t, _, _ in heldout]
    val_x = embed_all(reader, [c for parts in val_parts for c in parts])

    weights, _ = train(x, y, lambda w: heldout_accuracy(w, heldout, val_parts, val_x), args.seed)
    meta = {"classes": list(classes), "texts": len(items), "seed": args.seed}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, meta=np.array(json.dumps(meta)), **weights)
    reader = PhaseReader(args.out, reader._encoder)
    metrics = {"heldout_bank": score(reader, (heldout, [], [])), "seconds": round(time.perf_counter() - t0, 1)}
    if EXTERNAL.is_file():
        metrics["external"] = score(reader, external_cases())
    Path(args.out).with_name("metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
