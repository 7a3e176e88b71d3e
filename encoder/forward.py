"""One forward pass of a CLIP tower, and a model converted to a precision.

Both the encoder and the precision calibration (`encoder.precision`) run the
model through `features`, so what the calibration measures is what serves.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

IMAGE = "get_image_features"
TEXT = "get_text_features"


def features(
    model: Any, method: str, inputs: dict[str, Any], *, device: str, image_dtype: Any
) -> np.ndarray:
    """Unit vectors, (n, dim) float32, of one tower's forward on `inputs` (torch tensors)."""
    import torch  # loaded with the model (see ClipEncoder._load)

    tensors = {k: v.to(device) for k, v in inputs.items()}
    if "pixel_values" in tensors:
        tensors["pixel_values"] = tensors["pixel_values"].to(image_dtype)
    with torch.inference_mode():
        output = getattr(model, method)(**tensors)
    # transformers 5 returns an output object; older versions a bare tensor.
    vectors = output if isinstance(output, torch.Tensor) else output.pooler_output
    vectors = torch.nn.functional.normalize(vectors.float(), dim=-1)
    return vectors.cpu().numpy().astype(np.float32)


def apply_precision(model: Any, precision: str) -> Any:
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
        # on CPUs without native bf16 (bench.encode).
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
