"""Video decode and keyframe selection against real-time playback, side by side in one run.

A 1080p H.264 film of demo scenes (each panned across, so every frame
differs, cut every `--scene` seconds) is rendered once with PyAV, then:

- `decode`: every frame decoded by PyAV, nothing converted (the floor);
- `moments`: the product's `gallery.moments.video_moments` (decode, the
  samples scaled in FFmpeg to the model's size, histograms, cuts), as the
  indexer runs it, for the demo model's side (80) and B/32's (224);

each as frames per second and as video seconds per wall second (1.0 is
real time), plus the moments found per video minute and how many of the
film's cuts began one.

    python -m bench.video [--seconds 60] [--fps 30] [--scene 4] [--repeats 2]

Prints a table and writes bench/results/video.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "video.json"
WIDTH, HEIGHT = 1920, 1080


def render_film(path: Path, *, seconds: int, fps: int, scene: float) -> list[float]:
    """Write the film; return the times of its cuts."""
    import av

    from demo import render_pil
    from demo.scenes import sample_scene

    rng = random.Random(0)
    count = int(np.ceil(seconds / scene))
    # Each scene drawn larger than the frame, so a pan can cross it.
    pictures = [np.asarray(render_pil(sample_scene(rng), 2400, 1350, rng)) for _ in range(count)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        stream.time_base = Fraction(1, fps)
        for index in range(seconds * fps):
            at = index / fps
            picture = pictures[min(int(at / scene), count - 1)]
            shift = int((at % scene) / scene * (2400 - WIDTH))
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(picture[:HEIGHT, shift : shift + WIDTH]), format="rgb24"
            )
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return [k * scene for k in range(1, count)]


def time_decode(path: Path) -> tuple[float, int]:
    import av

    started = time.perf_counter()
    frames = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            frames += 1
    return time.perf_counter() - started, frames


def time_moments(path: Path, side: int) -> tuple[float, list[Any]]:
    from django.conf import settings

    from gallery.moments import video_moments
    from gallery.videoprobe import video_probe

    started = time.perf_counter()
    info = video_probe(path)
    moments = list(
        video_moments(
            path,
            info,
            frame_side=side,
            interval=settings.VIDEO_FRAME_INTERVAL,
            max_moments=settings.VIDEO_MAX_MOMENTS,
        )
    )
    return time.perf_counter() - started, moments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--scene", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clipsite.settings")
    import django

    django.setup()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "film.mp4"
        started = time.perf_counter()
        cuts = render_film(path, seconds=args.seconds, fps=args.fps, scene=args.scene)
        print(f"rendered {args.seconds} s of 1080p H.264 in {time.perf_counter() - started:.0f} s")
        frames = args.seconds * args.fps
        runs: dict[str, list[float]] = {"decode": [], "moments 80": [], "moments 224": []}
        found: dict[str, list[Any]] = {}
        # Interleaved rounds, so drift in the host's speed touches every way alike.
        for _ in range(args.repeats):
            runs["decode"].append(time_decode(path)[0])
            for side in (80, 224):
                wall, moments = time_moments(path, side)
                runs[f"moments {side}"].append(wall)
                found[f"moments {side}"] = moments

    rows = []
    for name, walls in runs.items():
        wall = min(walls)
        row: dict[str, Any] = {
            "way": name,
            "wall_s": round(wall, 2),
            "fps": round(frames / wall, 1),
            "x_realtime": round(args.seconds / wall, 2),
        }
        if name in found:
            moments = found[name]
            starts = np.array([m.start for m in moments if m.cut])
            hit = sum(1 for cut in cuts if starts.size and np.abs(starts - cut).min() <= 0.25)
            row["moments_per_minute"] = round(len(moments) / args.seconds * 60, 1)
            row["cuts_found"] = f"{hit}/{len(cuts)}"
        rows.append(row)
    base = rows[0]["fps"]
    print(f"{'way':<12} {'fps':>7} {'x real time':>12} {'vs decode':>10} {'moments/min':>12} cuts")
    for row in rows:
        print(
            f"{row['way']:<12} {row['fps']:>7} {row['x_realtime']:>12} "
            f"{row['fps'] / base:>10.2f} {row.get('moments_per_minute', ''):>12} "
            f"{row.get('cuts_found', '')}"
        )
    RESULTS.write_text(
        json.dumps(
            {"seconds": args.seconds, "fps": args.fps, "scene": args.scene, "rows": rows},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
