"""CUDA check for the image tower: fp16 parity with fp32, and batch throughput.

For ViT-B/32 and ViT-L/14 shapes (`CLIPConfig` with the openai checkpoints'
sizes; timing does not depend on the weights) and the shipped demo model:

* parity: cosine between fp16 and fp32 image embeddings of the same inputs
  (the encoder's acceptance rule is >= 0.99);
* throughput: images/s of the bare forward at several batch sizes, fp32 and fp16
  (and bf16), so the worker's batch size can be read off the curve;
* the CPU side: images/s of our batched preprocessing on 640x480 photos, to
  see whether the host can feed the device.

Needs only torch, transformers, numpy and Pillow (no Django), so it runs on
a bare GPU machine:

    python -m bench.gpu [--quick]

Says plainly when there is no CUDA device and exits 0. Writes
bench/results/gpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "gpu.json"

SHAPES: dict[str, dict[str, Any]] = {
    # openai/clip-vit-base-patch32: CLIPConfig's defaults are exactly these.
    "B/32": {"vision_config": {}, "text_config": {}},
    # openai/clip-vit-large-patch14
    "L/14": {
        "vision_config": {
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_attention_heads": 16,
            "num_hidden_layers": 24,
            "patch_size": 14,
            "image_size": 224,
        },
        "text_config": {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_attention_heads": 12,
            "num_hidden_layers": 12,
        },
        "projection_dim": 768,
    },
}


def build(name: str) -> Any:
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    if name == "demo":
        return CLIPModel.from_pretrained(ROOT / "models" / "demo-clip-shapes")
    return CLIPModel(CLIPConfig(**SHAPES[name]))


def image_features(model: Any, pixels: Any) -> Any:
    output = model.get_image_features(pixel_values=pixels)
    # transformers 5 returns an output object; older versions a bare tensor.
    return getattr(output, "pooler_output", output)


def parity(model: Any, size: int, dtype: Any, n: int = 64) -> dict[str, float]:
    """Cosine between fp32 and `dtype` embeddings of n natural-ish images."""
    import torch

    generator = torch.Generator().manual_seed(1)
    # Smooth random fields, normalised like CLIP inputs: closer to photos than white noise.
    low = torch.rand(n, 3, 8, 8, generator=generator)
    pixels = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic")
    pixels = ((pixels - 0.45) / 0.27).cuda()
    with torch.inference_mode():
        reference = torch.nn.functional.normalize(image_features(model, pixels).float(), dim=-1)
        reduced_model = model.to(dtype)
        reduced = image_features(reduced_model, pixels.to(dtype)).float()
        model.float()
    cosine = (reference * torch.nn.functional.normalize(reduced, dim=-1)).sum(-1)
    return {"min": float(cosine.min()), "mean": float(cosine.mean())}


def throughput(model: Any, size: int, dtype: Any, batch: int, seconds: float) -> float:
    """Images/s of the bare image forward, timed with CUDA events after a warm-up."""
    import torch

    pixels = torch.randn(batch, 3, size, size, device="cuda", dtype=dtype)
    with torch.inference_mode():
        for _ in range(3):
            image_features(model, pixels)
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        runs, elapsed = 0, 0.0
        started = time.perf_counter()
        start.record()
        while time.perf_counter() - started < seconds or runs < 3:
            image_features(model, pixels)
            runs += 1
            if runs % 5 == 0:
                torch.cuda.synchronize()
        end.record()
        torch.cuda.synchronize()
        elapsed = start.elapsed_time(end) / 1000
    return batch * runs / elapsed


def preprocess_rate(threads: int, n: int = 256) -> float:
    """Images/s of our batched preprocessing of 640x480 photos, in `threads` threads."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    from encoder.preprocess import ClipPreprocessor

    pre = ClipPreprocessor.from_config({"size": {"shortest_edge": 224}, "do_center_crop": True})
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    images = [Image.fromarray(np.roll(base, i, axis=1)) for i in range(n)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        arrays = list(pool.map(pre.resized, images))
    pre.normalise(np.stack(arrays))
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer batch sizes, shorter runs")
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()

    import torch

    report: dict[str, Any] = {
        "host": platform.node(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }
    if not torch.cuda.is_available():
        print("No CUDA device: nothing to measure (bench.gpu needs a GPU).")
        report["note"] = "no CUDA device present"
        return
    device_name = torch.cuda.get_device_name(0)
    report["device"] = device_name
    print(f"device: {device_name}, torch {torch.__version__}")
    torch.backends.cuda.matmul.allow_tf32 = False
    batches = (1, 16, 64, 256) if args.quick else (1, 8, 32, 64, 128, 256, 512)
    rows: list[dict[str, Any]] = []
    for name in ("demo", "B/32", "L/14"):
        model = build(name).cuda().eval()
        size = model.config.vision_config.image_size
        entry: dict[str, Any] = {"model": name, "image_size": size}
        entry["fp16_parity"] = parity(model, size, torch.float16)
        entry["bf16_parity"] = parity(model, size, torch.bfloat16)
        print(
            f"{name:5s} parity vs fp32: fp16 cosine min {entry['fp16_parity']['min']:.5f}"
            f" / bf16 min {entry['bf16_parity']['min']:.5f}"
        )
        if name != "demo":
            for label, dtype in (
                ("fp32", torch.float32),
                ("fp16", torch.float16),
                ("bf16", torch.bfloat16),
            ):
                model.to(dtype)
                for batch in batches:
                    ips = throughput(model, size, dtype, batch, args.seconds)
                    rows.append({"model": name, "precision": label, "batch": batch, "ips": ips})
                    print(f"{name:5s} {label} batch {batch:4d}: {ips:10.0f} img/s")
            model.float()
        report.setdefault("parity", []).append(entry)
        del model
        torch.cuda.empty_cache()
    report["throughput"] = rows
    for name in ("B/32", "L/14"):
        fp32 = max(r["ips"] for r in rows if r["model"] == name and r["precision"] == "fp32")
        fp16 = max(r["ips"] for r in rows if r["model"] == name and r["precision"] == "fp16")
        best = max(
            (r for r in rows if r["model"] == name and r["precision"] == "fp16"),
            key=lambda r: r["ips"],
        )
        print(
            f"{name}: best fp16 {fp16:.0f} img/s at batch {best['batch']}, "
            f"{fp16 / fp32:.2f}x best fp32"
        )
    cores = os.cpu_count() or 1
    report["preprocess_640x480_ips"] = {
        str(t): preprocess_rate(t) for t in sorted({1, max(1, cores // 2), cores})
    }
    print("CPU preprocessing of 640x480 photos:", report["preprocess_640x480_ips"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = Path(os.environ.get("OUT", "")) / "gpu.json" if os.environ.get("OUT") else RESULTS
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
