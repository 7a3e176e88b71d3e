"""The CLIP encoder: images and texts to L2-normalised vectors in one shared space.

Loads any CLIP-family checkpoint (CLIP, SigLIP/SigLIP2, AltCLIP, ChineseCLIP)
through `AutoModel`/`AutoProcessor`, from a Hugging Face id or a local
directory, lazily and once per process (`get_encoder`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from clipsite.errors import ServiceUnavailable

logger = logging.getLogger(__name__)


class EncoderUnavailable(ServiceUnavailable):
    def __init__(self, message: str) -> None:
        super().__init__("encoder_unavailable", message)


class ClipEncoder:
    """Wraps one model and its processor. Thread-safe; inference runs under no_grad."""

    def __init__(self, model_name: str, *, device: str | None = None) -> None:
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
        # SigLIP was trained on fixed-length text; CLIP works best on the real length.
        self._text_padding: bool | str = (
            "max_length" if "siglip" in self.model.config.model_type else True
        )
        self._lock = threading.Lock()
        self.dim = int(self.encode_texts([""]).shape[1])
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
        """Encode RGB images to an (n, dim) float32 array of unit vectors."""
        if not images:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        inputs = self.processor(images=[im.convert("RGB") for im in images], return_tensors="pt")
        return self._run("get_image_features", {"pixel_values": inputs["pixel_values"]})

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts to an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        inputs = self.processor(
            text=list(texts), return_tensors="pt", padding=self._text_padding, truncation=True
        )
        wanted = ("input_ids", "attention_mask", "token_type_ids", "position_ids")
        return self._run("get_text_features", {k: v for k, v in inputs.items() if k in wanted})

    def _run(self, method: str, inputs: dict[str, Any]) -> np.ndarray:
        import torch

        from clipsite.metrics import ENCODER_BATCH

        first = next(iter(inputs.values()))
        ENCODER_BATCH.labels("image" if method == "get_image_features" else "text").observe(
            len(first)
        )
        tensors = {k: v.to(self.device) for k, v in inputs.items()}
        with self._lock, torch.inference_mode():
            output = getattr(self.model, method)(**tensors)
        # transformers 5 returns an output object; older versions a bare tensor.
        features = output if isinstance(output, torch.Tensor) else output.pooler_output
        features = torch.nn.functional.normalize(features.float(), dim=-1)
        return features.cpu().numpy().astype(np.float32)


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
                from clipsite.metrics import MODEL_LOAD_SECONDS

                logger.info("Loading CLIP model %s", name)
                started = time.perf_counter()
                encoder = ClipEncoder(name, device=settings.CLIP_DEVICE)
                MODEL_LOAD_SECONDS.labels(encoder.model_id).set(time.perf_counter() - started)
                _encoders[name] = encoder
    return encoder


def reset_encoder() -> None:
    with _encoder_lock:
        _encoders.clear()
