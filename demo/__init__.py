"""The demo kit: the synthetic shapes world the demo CLIP model is trained and evaluated on.

Pretrained CLIP weights cannot be downloaded here, so the repo ships a small CLIP
trained on this world (``scripts/train_demo_clip.py``).  The same kit feeds the
``demo`` command (a gallery of a few hundred scenes), the ``evaluate`` command,
the benchmarks and the tests, so every consumer agrees on one fixed vocabulary.

``scenes``
    The vocabulary and the :class:`Scene` model: what to draw, in the unit frame,
    signs (:class:`Sign`, words from :data:`SIGN_WORDS`) included.
``captions``
    Varied natural captions and what each one claims (:func:`caption_matches`).
``pil_renderer``, ``numpy_renderer``
    Two independent renderers: :func:`render_pil` trains, :func:`render_numpy`
    is held out, to check that a model generalises beyond one renderer's pixels.
``samples``
    Rendered ``(image, caption, labels)`` sets: a demo gallery, its signs
    (:func:`sign_scenes`), the benchmark.
``folders``
    Labelled folders (images plus ``labels.jsonl``), what ``evaluate`` reads.
``evaluation``
    Retrieval and zero-shot metrics for any encoder; zero-shot scores the
    product's own classifier (``encoder.zeroshot``).

Of the project's packages it imports only ``encoder.zeroshot``, for the
product's zero-shot prompts, so the trainer runs it without Django set up.
"""

from __future__ import annotations

from demo.captions import (
    Caption,
    Mention,
    canonical_caption,
    caption_matches,
    caption_scene,
    describe_scene,
    vocabulary_words,
)
from demo.evaluation import Sample, evaluate, format_table
from demo.folders import LabelledImage, read_labelled_folder, write_labelled_folder
from demo.numpy_renderer import render_numpy
from demo.pil_renderer import render_pil
from demo.render import Renderer, random_image_size
from demo.samples import RENDERERS, generate_scenes, held_out_scenes, sign_scenes
from demo.scenes import (
    BACKGROUNDS,
    COLOURS,
    POSITIONS,
    SHAPES,
    SIGN_WORDS,
    SIZES,
    Scene,
    SceneObject,
    Sign,
    sample_scene,
    sample_sign_scene,
)

__all__ = [
    "BACKGROUNDS",
    "COLOURS",
    "POSITIONS",
    "RENDERERS",
    "SHAPES",
    "SIGN_WORDS",
    "SIZES",
    "Caption",
    "LabelledImage",
    "Mention",
    "Renderer",
    "Sample",
    "Scene",
    "SceneObject",
    "Sign",
    "canonical_caption",
    "caption_matches",
    "caption_scene",
    "describe_scene",
    "evaluate",
    "format_table",
    "generate_scenes",
    "held_out_scenes",
    "random_image_size",
    "read_labelled_folder",
    "render_numpy",
    "render_pil",
    "sample_scene",
    "sample_sign_scene",
    "sign_scenes",
    "vocabulary_words",
    "write_labelled_folder",
]
