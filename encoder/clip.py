"""The CLIP encoder: images and texts to L2-normalised vectors in one shared space.

Loads any CLIP-family checkpoint (CLIP, SigLIP/SigLIP2, AltCLIP, ChineseCLIP)
through `AutoModel`/`AutoProcessor`, from a Hugging Face id or a local
directory, lazily and once per process (`get_encoder`).

Both towers run at one precision (`CLIP_PRECISION`). `auto` measures the
candidates on this host at the first load and keeps the fastest that gives
fp32's vectors, independent of the batch (`encoder.precision`); on an AMX
CPU that is bf16, 3x fp32 for ViT-B/32's image tower. Explicit modes:

    cpu:  fp32, bf16, int8 (dynamic quantization of the linear layers)
    cuda: fp32, bf16, fp16

Concurrent callers share forwards on the one model thread (`encoder.batching`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from core.errors import ServiceUnavailable
from core.metrics import ENCODER_BATCH, MODEL_LOAD_SECONDS
from encoder import precision as calibration
from encoder.batching import SharedForward
from encoder.forward import IMAGE, TEXT, apply_precision, features
from encoder.modelthread import in_model_thread
from encoder.preprocess import ClipPreprocessor, UnsupportedProcessor

logger = logging.getLogger(__name__)


class EncoderUnavailable(ServiceUnavailable):
    def __init__(self, message: str) -> None:
        super().__init__("encoder_unavailable", message)


PRECISIONS = {"cpu": ("fp32", "bf16", "int8"), "cuda": ("fp32", "bf16", "fp16")}
# Texts and images `auto` calibrates on: photo-like colour fields at the
# encoder's batch size, and captions of several lengths (padding included).
CALIBRATION_TEXTS = (
    "a dog running on the beach",
    "red car",
    "two people hiking in the mountains at sunset under a cloudy sky",
    "snow",
    "a plate of pasta with basil on a wooden table",
    "a receipt",
    "children playing football in a park on a sunny afternoon",
    "a cat",
)


def resolve_precision(precision: str, device: str) -> str:
    """An explicit precision, checked against what the device can run (`auto` calibrates)."""
    allowed = PRECISIONS["cuda" if device.startswith("cuda") else "cpu"]
    if precision not in allowed:
        raise EncoderUnavailable(
            f"CLIP_PRECISION={precision!r} is not available on {device}; "
            f"use one of: auto, {', '.join(allowed)}."
        )
    return precision


def default_batch_size(device: str) -> int:
    """Images per forward: large enough to fill a GPU, small enough to stream on a CPU."""
    return 128 if device.startswith("cuda") else 16


class ClipEncoder:
    """Wraps one model and its processor.

    Thread-safe: the model is loaded, and every forward pass runs, on the
    process's one model thread (`in_model_thread`), one at a time.
    """

    def __init__(
        self,
        model_name: str,
        *,
        device: str | None = None,
        precision: str = "fp32",
        batch_size: int = 0,
        calibration_file: Path | None = None,
        query_batch: int = 1,
        query_wait_seconds: float = 0.0,
    ) -> None:
        self.calibration: calibration.Choice | None = None
        in_model_thread(
            lambda: self._load(model_name, device, precision, batch_size, calibration_file)
        )
        # int8 scales activations over the batch: there, each request runs alone.
        shared = 1 if self.precision == "int8" else query_batch
        self._texts: SharedForward[list[str]] = SharedForward(
            self._encode_text_parts, max_rows=shared, wait_seconds=query_wait_seconds
        )
        self._images: SharedForward[np.ndarray] = SharedForward(
            self._encode_pixel_parts,
            max_rows=min(shared, self.batch_size) if shared > 1 else 1,
            wait_seconds=query_wait_seconds,
        )

    def _load(
        self,
        model_name: str,
        device: str | None,
        precision: str,
        batch_size: int,
        calibration_file: Path | None,
    ) -> None:
        # torch and transformers load with the model, never at import: a web
        # process that only serves pages pays for neither.
        import torch
        from transformers import AutoModel, AutoProcessor

        self.model_name = model_name
        try:
            self.processor: Any = AutoProcessor.from_pretrained(model_name)
            self.model: Any = AutoModel.from_pretrained(model_name)
        except Exception as exc:
            raise EncoderUnavailable(
                f"Cannot load the CLIP model CLIP_MODEL={model_name!r}: {exc}. "
                "Model weights cannot be downloaded on this machine: set CLIP_MODEL to a "
                "local directory saved with save_pretrained() (for example models/clip-tiny-random "
                "or a downloaded copy of openai/clip-vit-base-patch32)."
            ) from exc
        for method in ("get_image_features", "get_text_features"):
            if not hasattr(self.model, method):
                raise EncoderUnavailable(
                    f"CLIP_MODEL={model_name!r} is a {type(self.model).__name__}, which has no "
                    f"{method}(); use a CLIP-family checkpoint."
                )
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.batch_size = batch_size or default_batch_size(self.device)
        try:
            self.preprocessor: ClipPreprocessor | None = ClipPreprocessor.from_processor(
                self.processor.image_processor
            )
        except (UnsupportedProcessor, AttributeError, KeyError, TypeError, ValueError):
            self.preprocessor = None  # The model's own processor, one image at a time.
        # SigLIP was trained on fixed-length text; CLIP works best on the real length.
        self._text_padding: bool | str = (
            "max_length" if "siglip" in self.model.config.model_type else True
        )
        if precision == "auto":
            self._calibrate(calibration_file)
        else:
            self.precision = resolve_precision(precision, self.device)
            self._image_dtype = apply_precision(self.model, self.precision)
        # Both towers run once now, so the first query or upload pays no warm-up.
        self.dim = int(self._encode_text_parts([[""]]).shape[1])
        self._encode_pixel_parts([self.pixel_values([PILImage.new("RGB", (32, 32))])])
        scale = getattr(self.model, "logit_scale", None)
        # CLIP's learned temperature turns cosines into classification logits.
        self.logit_scale = float(scale.exp().item()) if scale is not None else 100.0

    def _calibrate(self, calibration_file: Path | None) -> None:
        """Pick the precision by measuring the candidates, or by an earlier measurement here."""
        import torch  # loaded with the model (see _load)

        host = calibration.Host.detect(self.device)
        key = calibration.cache_key(
            model_name=self.model_name,
            model_config=self.model.config.to_json_string(),
            host=host,
            threads=torch.get_num_threads(),
            batch=self.batch_size,
        )
        choice = calibration.cached(calibration_file, key) if calibration_file else None
        if choice is not None and choice.precision in calibration.candidates(host):
            self._image_dtype = apply_precision(self.model, choice.precision)
        else:
            pixels = self.pixel_values(_calibration_images(self.batch_size))
            choice, self.model, self._image_dtype = calibration.calibrate(
                self.model,
                host=host,
                images={"pixel_values": torch.from_numpy(pixels)},
                texts=self._tokenize(CALIBRATION_TEXTS),
                texts_alone=[self._tokenize([t]) for t in CALIBRATION_TEXTS[: calibration.ALONE]],
            )
            if calibration_file:
                calibration.store(calibration_file, key, choice)
        self.precision = choice.precision
        self.calibration = choice
        logger.info("CLIP_PRECISION=auto for %s: %s", self.model_id, choice.summary())

    @property
    def model_id(self) -> str:
        """A stable name for the model, recorded on each image it indexed."""
        path = Path(self.model_name).expanduser()
        return path.resolve().name if path.is_dir() else self.model_name

    @property
    def collection_name(self) -> str:
        """One vector collection per model and dimension, so spaces never mix."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.model_id.lower()).strip("-")
        return f"images-{slug}-{self.dim}"

    def encode_images(self, images: Sequence[PILImage.Image]) -> np.ndarray:
        """Encode RGB images to an (n, dim) float32 array of unit vectors.

        Long lists run in batches of `batch_size`: memory stays bounded, and
        int8, which scales activations over a whole batch, sees the batches
        it was accepted with.
        """
        if not images:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        step = self.batch_size
        return np.concatenate(
            [
                self.encode_pixels(self.pixel_values(images[start : start + step]))
                for start in range(0, len(images), step)
            ]
        )

    def pixel_values(self, images: Sequence[PILImage.Image]) -> np.ndarray:
        """The model's (n, 3, h, w) float32 input for `images`."""
        if self.preprocessor is not None:
            return self.preprocessor(images)
        inputs = self.processor(images=[im.convert("RGB") for im in images], return_tensors="np")
        return np.asarray(inputs["pixel_values"], dtype=np.float32)

    def prepare(self, image: PILImage.Image) -> Any:
        """The per-image part of preprocessing, for a decode thread (see `encoder.pipeline`).

        With our preprocessor, the image's (3, h, w) float32 input, normalised,
        so that between two forwards the batch only needs stacking; the image
        itself when only the model's own processor applies. `encode_prepared`
        takes a batch of these.
        """
        return self.preprocessor.prepared(image) if self.preprocessor is not None else image

    def encode_prepared(self, prepared: Sequence[Any]) -> np.ndarray:
        """Encode what `prepare` returned, as one batch."""
        if self.preprocessor is None:
            return self.encode_images(prepared)
        if not prepared:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.encode_pixels(np.stack(prepared))

    def encode_pixels(self, pixel_values: np.ndarray) -> np.ndarray:
        """Encode preprocessed pixel values (see `pixel_values`) to unit vectors."""
        if not len(pixel_values):
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        return self._images(pixel_values, len(pixel_values))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts to an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        if self.precision == "int8":
            # Dynamic int8 scales activations over the whole batch, padding
            # included: a text's vector would depend on the texts beside it, and
            # the query cache would keep whichever came first.
            return np.concatenate([self._texts([text], 1) for text in texts])
        return self._texts(list(texts), len(texts))

    def _tokenize(self, texts: Sequence[str]) -> dict[str, Any]:
        inputs = self.processor(
            text=list(texts), return_tensors="pt", padding=self._text_padding, truncation=True
        )
        wanted = ("input_ids", "attention_mask", "token_type_ids", "position_ids")
        return {k: v for k, v in inputs.items() if k in wanted}

    def _encode_text_parts(self, parts: list[list[str]]) -> np.ndarray:
        """One text forward for the texts of every part (on the model thread)."""
        texts = [text for part in parts for text in part]
        ENCODER_BATCH.labels("text").observe(len(texts))
        return self._features(TEXT, self._tokenize(texts))

    def _encode_pixel_parts(self, parts: list[np.ndarray]) -> np.ndarray:
        """One image forward for the pixel rows of every part (on the model thread)."""
        import torch  # loaded with the model (see _load)

        pixels = parts[0] if len(parts) == 1 else np.concatenate(parts)
        ENCODER_BATCH.labels("image").observe(len(pixels))
        tensor = torch.from_numpy(np.ascontiguousarray(pixels))
        return self._features(IMAGE, {"pixel_values": tensor})

    def _features(self, method: str, inputs: dict[str, Any]) -> np.ndarray:
        return features(
            self.model, method, inputs, device=self.device, image_dtype=self._image_dtype
        )


def _calibration_images(count: int) -> list[PILImage.Image]:
    """Photo-like pictures: smooth colour fields with fine grain, the same on every load."""
    rng = np.random.default_rng(0)
    pictures = []
    for _ in range(count):
        low = PILImage.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8))
        field = np.asarray(low.resize((320, 240), PILImage.Resampling.BICUBIC), np.int16)
        grain = rng.integers(-12, 12, (240, 320, 1), dtype=np.int16)
        pictures.append(PILImage.fromarray(np.clip(field + grain, 0, 255).astype(np.uint8)))
    return pictures


def configure_threads(threads: int) -> int:
    """Give torch `threads` intra-op threads (0: all cores / worker processes); return it.

    The rule: the torch threads of every process on a machine add up to its
    cores.  One Celery worker process with N cores gets N; a worker started
    with --concurrency C gets N // C each.  Oversubscribing costs more than it
    gains: two threads run slower than one when another process holds a core.
    """
    import torch  # loaded with the model (see ClipEncoder._load)

    if threads <= 0:
        processes = max(1, settings.CELERY_WORKER_CONCURRENCY)
        threads = max(1, (os.cpu_count() or 1) // processes)
    in_model_thread(lambda: torch.set_num_threads(threads))
    return threads


_encoders: dict[str, ClipEncoder] = {}
_encoder_lock = threading.Lock()


def get_encoder(model_name: str | None = None) -> ClipEncoder:
    """The process-wide encoder for `model_name` (default `settings.CLIP_MODEL`), loaded once.

    Two models are loaded only while a model change is reindexing: search keeps
    using the old model's collection until the new one is complete.
    """
    name = model_name or settings.CLIP_MODEL
    encoder = _encoders.get(name)
    if encoder is None:
        with _encoder_lock:
            encoder = _encoders.get(name)
            if encoder is None:
                logger.info("Loading CLIP model %s", name)
                started = time.perf_counter()
                configure_threads(settings.CLIP_THREADS)
                encoder = ClipEncoder(
                    name,
                    device=settings.CLIP_DEVICE,
                    precision=settings.CLIP_PRECISION,
                    batch_size=settings.CLIP_BATCH_SIZE,
                    calibration_file=settings.CLIP_CALIBRATION_FILE,
                    query_batch=settings.CLIP_QUERY_BATCH,
                    query_wait_seconds=settings.CLIP_QUERY_BATCH_WAIT_MS / 1000,
                )
                MODEL_LOAD_SECONDS.labels(encoder.model_id).set(time.perf_counter() - started)
                _encoders[name] = encoder
    return encoder


def reset_encoder() -> None:
    with _encoder_lock:
        _encoders.clear()
