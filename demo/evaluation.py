"""Retrieval and zero-shot metrics for any image/text encoder.

Functions over numpy arrays and encoder callables, with no Django set-up, so the
trainer, the ``evaluate`` management command and the tests share one definition
of every number we report.  Embeddings are expected to be L2-normalised, so a
dot product is the cosine similarity.

Ground truth for retrieval: an image is relevant to a caption when it is that
caption's own image or when its caption is the identical text (held-out sets
repeat captions such as "a large red circle", and any of those images is a
correct answer).

Zero-shot accuracy scores the product's classifier (:mod:`encoder.zeroshot`):
its one set of prompt templates, ensembled the way its ``label_vectors`` does,
and the most similar label wins, as ``classify_vector`` ranks them.

``evaluate`` needs two callables, which is how the product's encoder (or any
other) plugs in::

    encode_images(list[PIL.Image.Image]) -> np.ndarray  # (n, d), L2-normalised
    encode_texts(list[str]) -> np.ndarray               # (n, d), L2-normalised
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

# The product's prompts, so that zero-shot figures are the product's.  The
# module loads no model and reads no Django setting at import, so the trainer
# (no Django set-up) evaluates with them too.
from encoder.zeroshot import PROMPT_TEMPLATES

EncodeImages = Callable[[list[Any]], np.ndarray]
EncodeTexts = Callable[[list[str]], np.ndarray]
# Class names -> one unit vector per class, as `encoder.zeroshot.label_vectors`.
LabelVectors = Callable[[Sequence[str]], np.ndarray]

# Labels that describe the picture, not its content: never classified.
NON_CONTENT_LABELS: frozenset[str] = frozenset({"background", "count", "file"})


class Sample(NamedTuple):
    """One evaluation item: an image (anything the image encoder takes), caption, labels."""

    image: Any
    caption: str
    labels: Mapping[str, str]


def _check_2d(sim: np.ndarray) -> np.ndarray:
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 2:
        raise ValueError("similarity must be a 2-D (queries x items) matrix")
    return sim


def _top_k(sim: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best items per query, best first (stable for ties)."""
    k = min(k, sim.shape[1])
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def recall_at_k(sim: np.ndarray, k: int, relevant: np.ndarray | None = None) -> float:
    """Fraction of queries with at least one relevant item among their top ``k``.

    ``sim`` is (queries, items); ``relevant`` a boolean matrix of the same shape,
    by default the identity (query i's answer is item i).  For image->text pass
    the transposes.  Queries with no relevant item are left out of the mean.
    """
    sim = _check_2d(sim)
    if relevant is None:
        if sim.shape[0] != sim.shape[1]:
            raise ValueError("a non-square similarity needs an explicit relevant matrix")
        relevant = np.eye(sim.shape[0], dtype=bool)
    relevant = np.asarray(relevant, dtype=bool)
    if relevant.shape != sim.shape:
        raise ValueError("relevant must have the same shape as sim")
    answerable = np.asarray(relevant.any(axis=1), dtype=bool)
    if not answerable.any():
        return float("nan")
    top = _top_k(sim, k)
    hits = np.asarray(np.take_along_axis(relevant, top, axis=1).any(axis=1))
    return float(hits[answerable].mean())


def precision_at_k(sim: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Mean precision of each query's top ``k``, with k capped at its relevant count.

    Capping means a query with only 3 relevant images can still score 1.0 at k=10.
    """
    sim = _check_2d(sim)
    relevant = np.asarray(relevant, dtype=bool)
    top = _top_k(sim, k)
    hits = np.take_along_axis(relevant, top, axis=1)
    scores = []
    for row, n_relevant in zip(hits, relevant.sum(axis=1), strict=True):
        if n_relevant == 0:
            continue
        depth = min(k, int(n_relevant), row.shape[0])
        scores.append(row[:depth].mean())
    return float(np.mean(scores)) if scores else float("nan")


def prompt_label_vectors(encode_texts: EncodeTexts) -> LabelVectors:
    """The product's zero-shot label vectors over any text encoder, not only a ``ClipEncoder``.

    For encoders such as the trainer's live model.  Each class gets the
    re-normalised mean of its embeddings under the product's
    ``PROMPT_TEMPLATES``, which is what ``encoder.zeroshot.label_vectors``
    computes for a ``ClipEncoder`` (tests/demo/test_evaluation.py holds the two
    equal on the demo model).
    """

    def vectors(classes: Sequence[str]) -> np.ndarray:
        prompts = [template.format(name) for name in classes for template in PROMPT_TEMPLATES]
        emb = np.asarray(encode_texts(prompts), dtype=np.float64)
        emb = emb.reshape(len(classes), len(PROMPT_TEMPLATES), -1).mean(axis=1)
        return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)

    return vectors


def zero_shot_accuracy(
    image_emb: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    label_vectors: LabelVectors,
) -> float:
    """Accuracy of picking, for each image, the class whose label vector it is closest to."""
    if len(labels) != len(image_emb):
        raise ValueError("one label per image is needed")
    index = {name: i for i, name in enumerate(classes)}
    truth = np.array([index[label] for label in labels])
    predicted = zero_shot_predict(image_emb, classes, label_vectors)
    return float((predicted == truth).mean())


def zero_shot_predict(
    image_emb: np.ndarray, classes: Sequence[str], label_vectors: LabelVectors
) -> np.ndarray:
    """Index into ``classes`` of the best-matching class for each image.

    The argmax of the cosines is the top of ``classify_vector``'s ranking: its
    softmax over ``logit_scale`` times the same cosines keeps their order.
    """
    prototypes = np.asarray(label_vectors(classes), dtype=np.float64)
    return np.argmax(np.asarray(image_emb, dtype=np.float64) @ prototypes.T, axis=1)


def caption_relevance(captions: Sequence[str]) -> np.ndarray:
    """(texts x images) ground truth: own image, or any image with the same caption."""
    keys = [" ".join(caption.lower().split()) for caption in captions]
    array = np.array(keys, dtype=object)
    return array[:, None] == array[None, :]


def _attributes(samples: Sequence[Sample], wanted: Sequence[str] | None) -> list[str]:
    """Label names every sample has, with at least two distinct values."""
    if wanted is not None:
        return list(wanted)
    common = set(samples[0].labels) if samples else set()
    for sample in samples[1:]:
        common &= set(sample.labels)
    return [
        name
        for name in sorted(common - NON_CONTENT_LABELS)
        if len({sample.labels[name] for sample in samples}) >= 2
    ]


def evaluate(
    encode_images: EncodeImages,
    encode_texts: EncodeTexts,
    samples: Sequence[Sample | tuple[Any, str, Mapping[str, str]]],
    *,
    ks: Sequence[int] = (1, 5, 10),
    attributes: Sequence[str] | None = None,
    label_vectors: LabelVectors | None = None,
    precision_k: int = 10,
) -> dict[str, float]:
    """Every metric for one labelled set, as a flat ``{"name": value}`` dict.

    Keys: ``n_images``; ``t2i/R@k`` and ``i2t/R@k`` for each k; for each
    attribute (by default every label except background/count that varies),
    ``zeroshot/<attr>`` (the product classifier's accuracy over the attribute's
    classes) and ``p@<precision_k>/<attr>`` (mean precision when searching by
    the bare class word, e.g. "red"), plus ``p@<precision_k>/mean`` over
    attributes.

    ``label_vectors`` maps class names to unit vectors; pass the product's own,
    ``functools.partial(encoder.zeroshot.label_vectors, clip_encoder)``, when
    there is a ``ClipEncoder``.  Without it the same prompts are ensembled over
    ``encode_texts`` (:func:`prompt_label_vectors`).
    """
    items = [Sample(*sample) for sample in samples]
    if not items:
        raise ValueError("no samples to evaluate")
    label_vectors = label_vectors or prompt_label_vectors(encode_texts)
    image_emb = np.asarray(encode_images([item.image for item in items]), dtype=np.float64)
    text_emb = np.asarray(encode_texts([item.caption for item in items]), dtype=np.float64)
    sim = text_emb @ image_emb.T
    relevant = caption_relevance([item.caption for item in items])
    results: dict[str, float] = {"n_images": float(len(items))}
    for k in ks:
        results[f"t2i/R@{k}"] = recall_at_k(sim, k, relevant)
    for k in ks:
        results[f"i2t/R@{k}"] = recall_at_k(sim.T, k, relevant.T)
    precisions = []
    for name in _attributes(items, attributes):
        labels = [item.labels[name] for item in items]
        classes = sorted(set(labels))
        results[f"zeroshot/{name}"] = zero_shot_accuracy(image_emb, labels, classes, label_vectors)
        query_emb = np.asarray(encode_texts(classes), dtype=np.float64)
        truth = np.array(labels, dtype=object)[None, :] == np.array(classes, dtype=object)[:, None]
        score = precision_at_k(query_emb @ image_emb.T, truth, precision_k)
        results[f"p@{precision_k}/{name}"] = score
        precisions.append(score)
    if precisions:
        results[f"p@{precision_k}/mean"] = float(np.mean(precisions))
    return results


def format_table(results: Mapping[str, float] | Mapping[str, Mapping[str, float]]) -> str:
    """A plain-text table: one row per metric; nested dicts become one column each.

    ``format_table(evaluate(...))`` prints one column; ``format_table({"pil": r1,
    "numpy": r2})`` compares sets side by side.
    """
    if results and all(isinstance(value, Mapping) for value in results.values()):
        columns: dict[str, Mapping[str, float]] = dict(results)  # type: ignore[arg-type]
    else:
        columns = {"value": results}  # type: ignore[dict-item]
    metrics: list[str] = []
    for column in columns.values():
        metrics.extend(name for name in column if name not in metrics)
    headers = ["metric", *columns]
    rows = [headers]
    for metric in metrics:
        row = [metric]
        for column in columns.values():
            value = column.get(metric)
            if value is None:
                row.append("-")
            elif metric == "n_images":
                row.append(str(int(value)))
            else:
                row.append(f"{value:.3f}")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
