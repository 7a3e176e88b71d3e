"""CLIP: the model that turns images and texts into vectors in one space.

Below everything that stores or searches: it knows nothing of images rows,
users or collections beyond the name its vectors belong in.
"""

from __future__ import annotations

from encoder.clip import ClipEncoder, EncoderUnavailable, get_encoder, reset_encoder

__all__ = ["ClipEncoder", "EncoderUnavailable", "get_encoder", "reset_encoder"]
