"""Retrieval and zero-shot metrics for any image/text encoder.

Pure functions over numpy arrays, with no Django import, so the trainer, the
``evaluate`` management command and the tests share one definition of every
number we report.  Embeddings are expected to be L2-normalised, so a dot
product is the cosine similarity.

Ground truth for retrieval: an image is relevant to a caption when it is that
caption's own image or when its caption is the identical text (held-out sets
repeat captions such as "a large red circle", and any of those images is a
correct answer).

``evaluate`` needs two callables, which is how the product's encoder (or any
other) plugs in::

    encode_images(list[PIL.Image.Image]) -> np.ndarray  # (n, d), L2-normalised
    encode_texts(list[str]) -> np.ndarray               # (n, d), L2-normalised
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

EncodeImages = Callable[[list[Any]], np.ndarray]
EncodeTexts = Callable[[list[str]], np.ndarray]

# Prompt templates for zero-shot classification; the class name fills "{}".
# Several templates are averaged ("prompt ensembling"), as CLIP does.
PROMPT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "colour": ("{}", "a {} object.", "a photo of something {}.", "a {} shape."),
    "shape": ("{}", "a {}.", "a photo of a {}.", "a drawing of a {}."),
    "size": ("a {} object.", "a photo of a {} shape.", "a {} thing."),
    "position": ("a shape on the {}.", "an object on the {}."),
}
DEFAULT_TEMPLATES: tuple[str, ...] = ("a photo of a {}.", "{}", "a picture of a {}.")
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


def class_embeddings(
    classes: Sequence[str], templates: Sequence[str], encode_texts: EncodeTexts
) -> np.ndarray:
    """One embedding per class: the re-normalised mean over the prompt templates."""
    prompts = [template.format(name) for name in classes for template in templates]
    emb = np.asarray(encode_texts(prompts), dtype=np.float64)
    emb = emb.reshape(len(classes), len(templates), -1).mean(axis=1)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def zero_shot_accuracy(
    image_emb: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    encode_texts: EncodeTexts,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
) -> float:
    """Accuracy of picking, for each image, the class whose prompts it is closest to."""
    if len(labels) != len(image_emb):
        raise ValueError("one label per image is needed")
    index = {name: i for i, name in enumerate(classes)}
    truth = np.array([index[label] for label in labels])
    predicted = zero_shot_predict(image_emb, classes, encode_texts, templates)
    return float((predicted == truth).mean())


def zero_shot_predict(
    image_emb: np.ndarray,
    classes: Sequence[str],
    encode_texts: EncodeTexts,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
) -> np.ndarray:
    """Index into ``classes`` of the best-matching class for each image."""
    prototypes = class_embeddings(classes, templates, encode_texts)
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
    templates: Mapping[str, Sequence[str]] | None = None,
    precision_k: int = 10,
) -> dict[str, float]:
    """Every metric for one labelled set, as a flat ``{"name": value}`` dict.

    Keys: ``n_images``; ``t2i/R@k`` and ``i2t/R@k`` for each k; for each
    attribute (by default every label except background/count that varies),
    ``zeroshot/<attr>`` (prompt-ensembled accuracy) and ``p@<precision_k>/<attr>``
    (mean precision when searching by the bare class word, e.g. "red"), plus
    ``p@<precision_k>/mean`` over attributes.
    """
    items = [Sample(*sample) for sample in samples]
    if not items:
        raise ValueError("no samples to evaluate")
    templates = {**PROMPT_TEMPLATES, **(templates or {})}
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
        chosen = templates.get(name, DEFAULT_TEMPLATES)
        results[f"zeroshot/{name}"] = zero_shot_accuracy(
            image_emb, labels, classes, encode_texts, chosen
        )
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
