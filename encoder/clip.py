"""The CLIP encoder: images and texts to L2-normalised vectors in one shared space.

Loads any CLIP-family checkpoint (CLIP, SigLIP/SigLIP2, AltCLIP, ChineseCLIP)
through `AutoModel`/`AutoProcessor`, from a Hugging Face id or a local
directory, lazily and once per process (`get_encoder`).

Both towers run at a chosen precision (`CLIP_PRECISION`): int8 takes a
single text query on ViT-B/32's text tower from about 16 ms to under 5 ms on
a CPU, and images from about 21 to 95 per second (bench/results/encode.json).
Accepted modes keep cosine >= 0.99 against fp32 and lose at most one point of
Recall@5 on the demo model's evaluation (tests/encoder/test_precision.py):

    cpu:  fp32, bf16, int8 (dynamic quantization of the linear layers; default)
    cuda: fp32, bf16, fp16 (default)
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from core.errors import ServiceUnavailable
from core.metrics import ENCODER_BATCH, MODEL_LOAD_SECONDS
from encoder.preprocess import ClipPreprocessor, UnsupportedProcessor

logger = logging.getLogger(__name__)


class EncoderUnavailable(ServiceUnavailable):
    def __init__(self, message: str) -> None:
        super().__init__("encoder_unavailable", message)


PRECISIONS = {"cpu": ("int8", "bf16", "fp32"), "cuda": ("fp16", "bf16", "fp32")}


def resolve_precision(precision: str, device: str) -> str:
    """`auto` is the fastest accepted mode for the device: int8 on CPU, fp16 on CUDA."""
    allowed = PRECISIONS["cuda" if device.startswith("cuda") else "cpu"]
    if precision == "auto":
        return allowed[0]
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
    ) -> None:
        in_model_thread(lambda: self._load(model_name, device, precision, batch_size))

    def _load(self, model_name: str, device: str | None, precision: str, batch_size: int) -> None:
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
        self.precision = resolve_precision(precision, self.device)
        self.batch_size = batch_size or default_batch_size(self.device)
        self._image_dtype = _apply_precision(self.model, self.precision)
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
        # Both towers run once now, so the first query or upload pays no warm-up.
        self.dim = int(self.encode_texts([""]).shape[1])
        self.encode_images([PILImage.new("RGB", (32, 32))])
        scale = getattr(self.model, "logit_scale", None)
        # CLIP's learned temperature turns cosines into classification logits.
        self.logit_scale = float(scale.exp().item()) if scale is not None else 100.0

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

        Resized pixels with our preprocessor; the image itself when only the
        model's own processor applies. `encode_prepared` takes a batch of these.
        """
        return self.preprocessor.resized(image) if self.preprocessor is not None else image

    def encode_prepared(self, prepared: Sequence[Any]) -> np.ndarray:
        """Encode what `prepare` returned, as one batch."""
        if self.preprocessor is None:
            return self.encode_images(prepared)
        if not prepared:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.encode_pixels(self.preprocessor.normalise(np.stack(prepared)))

    def encode_pixels(self, pixel_values: np.ndarray) -> np.ndarray:
        """Encode preprocessed pixel values (see `pixel_values`) to unit vectors."""
        import torch  # loaded with the model (see _load)

        if not len(pixel_values):
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        tensor = torch.from_numpy(np.ascontiguousarray(pixel_values))
        return self._run("get_image_features", {"pixel_values": tensor})

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts to an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        if self.precision == "int8":
            # Dynamic int8 scales activations over the whole batch, padding
            # included: a text's vector would depend on the texts beside it, and
            # the query cache would keep whichever came first. Queries are few
            # and short, so one at a time gives each text one vector.
            return np.concatenate([self._encode_text_batch([text]) for text in texts])
        return self._encode_text_batch(texts)

    def _encode_text_batch(self, texts: Sequence[str]) -> np.ndarray:
        inputs = self.processor(
            text=list(texts), return_tensors="pt", padding=self._text_padding, truncation=True
        )
        wanted = ("input_ids", "attention_mask", "token_type_ids", "position_ids")
        return self._run("get_text_features", {k: v for k, v in inputs.items() if k in wanted})

    def _run(self, method: str, inputs: dict[str, Any]) -> np.ndarray:
        import torch  # loaded with the model (see _load)

        first = next(iter(inputs.values()))
        ENCODER_BATCH.labels("image" if method == "get_image_features" else "text").observe(
            len(first)
        )

        def forward() -> np.ndarray:
            tensors = {k: v.to(self.device) for k, v in inputs.items()}
            if "pixel_values" in tensors:
                tensors["pixel_values"] = tensors["pixel_values"].to(self._image_dtype)
            with torch.inference_mode():
                output = getattr(self.model, method)(**tensors)
            # transformers 5 returns an output object; older versions a bare tensor.
            features = output if isinstance(output, torch.Tensor) else output.pooler_output
            features = torch.nn.functional.normalize(features.float(), dim=-1)
            return features.cpu().numpy().astype(np.float32)

        return in_model_thread(forward)


T = TypeVar("T")
_model_thread: ThreadPoolExecutor | None = None
_model_thread_lock = threading.Lock()
_on_model_thread = threading.local()


def in_model_thread(work: Callable[[], T]) -> T:
    """Run `work` on the process's one model thread, wait, and return its result.

    Every thread that calls into torch gets its own OpenMP team, and with two
    teams on this machine's 2 cores every forward pass ran 2.5 times slower,
    in every thread, for good (one query's text encode: 7.4 ms while one
    thread had ever used torch, 19.5 ms once a second had).  A server answers
    from a pool of threads and loads the model in another, so torch's
    threads, the load and every forward pass live on this one thread.
    """
    if getattr(_on_model_thread, "active", False):
        return work()
    global _model_thread
    with _model_thread_lock:
        if _model_thread is None:
            _model_thread = ThreadPoolExecutor(
                1, thread_name_prefix="clip-model", initializer=_mark_model_thread
            )
        runner = _model_thread
    return runner.submit(work).result()


def _mark_model_thread() -> None:
    _on_model_thread.active = True


def _forget_model_thread() -> None:
    # A forked child (a prefork Celery worker) has the executor but not its thread.
    global _model_thread, _model_thread_lock
    _model_thread = None
    _model_thread_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_model_thread)


def _apply_precision(model: Any, precision: str) -> Any:
    """Convert both towers in place; return the dtype the image input must have."""
    import torch  # loaded with the model (see ClipEncoder._load)

    towers = ["vision_model", "visual_projection", "text_model", "text_projection"]
    present = [name for name in towers if getattr(model, name, None) is not None]
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        for name in present:
            getattr(model, name).to(dtype)
        return dtype
    if precision == "int8":
        # Eager-mode dynamic quantization is deprecated in favour of torchao, but
        # it is in every torch this project pins (<2.14) and measured fastest
        # on CPUs without AMX (README: bench.encode; with AMX, bf16 is).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            from torch.ao.quantization import quantize_dynamic  # deprecated: import warns

            for name in present:
                module = getattr(model, name)
                if isinstance(module, torch.nn.Linear):  # a bare projection
                    module = torch.nn.Sequential(module)
                    quantized = quantize_dynamic(module, {torch.nn.Linear}, torch.qint8)[0]
                else:
                    quantized = quantize_dynamic(module, {torch.nn.Linear}, torch.qint8)
                setattr(model, name, quantized)
    return torch.float32


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
                )
                MODEL_LOAD_SECONDS.labels(encoder.model_id).set(time.perf_counter() - started)
                _encoders[name] = encoder
    return encoder


def reset_encoder() -> None:
    with _encoder_lock:
        _encoders.clear()
