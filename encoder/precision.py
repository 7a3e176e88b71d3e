"""`CLIP_PRECISION=auto`: the fastest precision that keeps fp32's vectors, measured on this host.

Which precision is fastest depends on the CPU, not on a rule: with AMX,
ViT-B/32's bf16 forward ran 3.1x fp32 and int8 2.1x; on hosts without it int8
led. So at its first load a model is calibrated: each candidate the device
can run natively converts a copy of the fp32 model, is gated, and is timed on
a batch of images at the encoder's batch size, round-robin so that drift
hits all alike. The gate, against fp32 on the same inputs:

* cosine >= 0.999 for images and for texts;
* batch independence: an image's (and a text's) vector alone and in a batch
  at cosine >= 0.9999, so that a vector never depends on its batch-mates.
  Dynamic int8 scales activations over the whole batch and fails it (B/32:
  0.9994; the demo model: 0.995).

The fastest that passes wins, unless a more exact one is within
`PREFER_WITHIN` of it. The choice is cached per host and model (a JSON file,
`CLIP_CALIBRATION_FILE`) and logged. Recall@5 within a point of fp32 on the
demo model's evaluation is checked for every precision by the tests.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoder.forward import IMAGE, TEXT, apply_precision, features

logger = logging.getLogger(__name__)

GATE_COSINE = 0.999
GATE_BATCH = 0.9999
# A less exact precision must be this much faster to be picked: timing noise
# alone never trades exactness away, and the choice is stable between loads.
PREFER_WITHIN = 0.10
# Most exact first.
EXACTNESS = ("fp32", "fp16", "bf16", "int8")
# Images and texts encoded alone, against their rows in the batch.
ALONE = 3
# CPU flags that give bf16 matrix kernels; without them bf16 is emulated
# through fp32 and is slower than fp32 itself, so it is not worth timing.
NATIVE_BF16 = frozenset({"amx_bf16", "avx512_bf16"})
INT8 = "torch_int8"  # a quantized engine (fbgemm/x86, qnnpack) is available


@dataclass(frozen=True)
class Host:
    """What the device can run: its name and capability flags."""

    device: str
    name: str
    flags: frozenset[str] = frozenset()

    @classmethod
    def detect(cls, device: str) -> Host:
        import torch  # loaded with the model (see ClipEncoder._load)

        if device.startswith("cuda"):
            flags = {"bf16"} if torch.cuda.is_bf16_supported() else set()
            return cls(device, torch.cuda.get_device_name(device), frozenset(flags))
        name, flags = _cpuinfo()
        if set(torch.backends.quantized.supported_engines) - {"none"}:
            flags.add(INT8)
        return cls(device, name or platform.processor(), frozenset(flags))

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")


def candidates(host: Host) -> tuple[str, ...]:
    """The precisions worth calibrating on `host`, fp32 (the reference) first."""
    if host.is_cuda:
        return ("fp32", "fp16") + (("bf16",) if "bf16" in host.flags else ())
    found = ["fp32"]
    if host.flags & NATIVE_BF16:
        found.append("bf16")
    if INT8 in host.flags:
        found.append("int8")
    return tuple(found)


@dataclass(frozen=True)
class Trial:
    """One precision measured against fp32."""

    precision: str
    images_per_second: float
    image_cosine: float
    text_cosine: float
    batch_cosine: float

    @property
    def refused(self) -> str | None:
        """Why the gate refuses it, or None."""
        if self.image_cosine < GATE_COSINE:
            return f"image cosine to fp32 {self.image_cosine:.5f} < {GATE_COSINE}"
        if self.text_cosine < GATE_COSINE:
            return f"text cosine to fp32 {self.text_cosine:.5f} < {GATE_COSINE}"
        if self.batch_cosine < GATE_BATCH:
            return f"a vector alone vs batched at {self.batch_cosine:.5f} < {GATE_BATCH}"
        return None


@dataclass
class Choice:
    """What `auto` picked on this host, and the measurements that decided it."""

    precision: str
    trials: list[Trial] = field(default_factory=list)
    host: str = ""
    seconds: float = 0.0
    cached: bool = False

    def summary(self) -> str:
        parts = []
        for trial in self.trials:
            text = f"{trial.precision} {trial.images_per_second:.1f} img/s"
            if trial.refused:
                text += f" (refused: {trial.refused})"
            parts.append(text)
        source = "cached" if self.cached else f"calibrated in {self.seconds:.1f} s"
        return f"{self.precision} on {self.host} ({source}): " + "; ".join(parts)


def choose(trials: Sequence[Trial]) -> str:
    """The fastest trial the gate accepts, or a more exact one within `PREFER_WITHIN` of it."""
    accepted = [t for t in trials if t.refused is None]
    if not accepted:
        return "fp32"
    fastest = max(t.images_per_second for t in accepted)
    close = [t for t in accepted if t.images_per_second * (1 + PREFER_WITHIN) >= fastest]
    return min(close, key=lambda t: EXACTNESS.index(t.precision)).precision


def calibrate(
    model: Any,
    *,
    host: Host,
    images: dict[str, Any],
    texts: dict[str, Any],
    texts_alone: Sequence[dict[str, Any]],
    rounds: int = 2,
) -> tuple[Choice, Any, Any]:
    """Measure each candidate on `images` and `texts` (model inputs); return the choice,
    the model converted to it (`model` itself when fp32 wins) and its image dtype.
    """
    import torch  # loaded with the model (see ClipEncoder._load)

    started = time.perf_counter()
    models: dict[str, tuple[Any, Any]] = {"fp32": (model, torch.float32)}
    for precision in candidates(host):
        if precision != "fp32":
            converted = copy.deepcopy(model)
            models[precision] = (converted, apply_precision(converted, precision))

    def run(precision: str, method: str, inputs: dict[str, Any]) -> np.ndarray:
        converted, dtype = models[precision]
        return features(converted, method, inputs, device=host.device, image_dtype=dtype)

    pixels = images["pixel_values"]
    # A batch smaller than ALONE (CLIP_BATCH_SIZE=2) compares what it holds.
    alone = min(ALONE, len(pixels))
    reference = {IMAGE: run("fp32", IMAGE, images), TEXT: run("fp32", TEXT, texts)}
    accuracy: dict[str, tuple[float, float, float]] = {}
    for precision in models:
        image_vectors = run(precision, IMAGE, images)  # also its warm-up
        text_vectors = run(precision, TEXT, texts)
        alone_images = np.concatenate(
            [run(precision, IMAGE, {"pixel_values": pixels[i : i + 1]}) for i in range(alone)]
        )
        alone_texts = np.concatenate([run(precision, TEXT, each) for each in texts_alone])
        accuracy[precision] = (
            _min_cosine(image_vectors, reference[IMAGE]),
            _min_cosine(text_vectors, reference[TEXT]),
            min(
                _min_cosine(image_vectors[:alone], alone_images),
                _min_cosine(text_vectors[: len(texts_alone)], alone_texts),
            ),
        )
    best = dict.fromkeys(models, math.inf)
    for _ in range(rounds):
        for precision in models:
            begun = time.perf_counter()
            run(precision, IMAGE, images)
            best[precision] = min(best[precision], time.perf_counter() - begun)
    trials = [
        Trial(precision, len(pixels) / best[precision], *accuracy[precision])
        for precision in models
    ]
    chosen = choose(trials)
    choice = Choice(chosen, trials, host.name, time.perf_counter() - started)
    converted, dtype = models[chosen]
    return choice, converted, dtype


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum(axis=1).min())


def cache_key(*, model_name: str, model_config: str, host: Host, threads: int, batch: int) -> str:
    """Names one model on one host: a change of weights, CPU, torch or threads recalibrates."""
    import torch  # loaded with the model (see ClipEncoder._load)

    identity = {
        "model": model_name,
        "weights": _weights_fingerprint(model_name),
        "config": hashlib.sha256(model_config.encode()).hexdigest(),
        "device": host.device,
        "host": host.name,
        "flags": sorted(host.flags),
        "torch": torch.__version__,
        "threads": threads,
        "batch": batch,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def _weights_fingerprint(model_name: str) -> list[tuple[str, int, int]]:
    path = Path(model_name).expanduser()
    if not path.is_dir():
        return []  # a hub id: its config hash names it
    return sorted(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in path.iterdir()
        if p.suffix in (".safetensors", ".bin", ".pt")
    )


def cached(path: Path, key: str) -> Choice | None:
    """The choice stored under `key`, or None (no file, no entry, or a file we cannot read)."""
    try:
        entry = json.loads(path.read_text())[key]
        return Choice(
            entry["precision"],
            [Trial(**trial) for trial in entry["trials"]],
            entry["host"],
            entry["seconds"],
            cached=True,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(path: Path, key: str, choice: Choice) -> None:
    """Add `choice` under `key`; the file is replaced whole, so a reader never sees half of it."""
    try:
        entries = json.loads(path.read_text())
        if not isinstance(entries, dict):
            entries = {}
    except (OSError, ValueError):
        entries = {}
    entries[key] = {
        "precision": choice.precision,
        "trials": [asdict(trial) for trial in choice.trials],
        "host": choice.host,
        "seconds": choice.seconds,
        "at": time.time(),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(entries, indent=1))
        os.replace(partial, path)
    except OSError as exc:
        # A read-only data directory costs a calibration per load, nothing else.
        logger.warning("Cannot store the precision calibration in %s: %s", path, exc)


def _cpuinfo() -> tuple[str, set[str]]:
    name, flags = "", set[str]()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not name:
                    name = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
                if name and flags:
                    break
    except OSError:
        pass
    return name, flags
