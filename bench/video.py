"""Video: decode, cut detection and index throughput, side by side in one run.

Two 1080p H.264 films (30 fps) are rendered once with PyAV, with known cuts:

- `easy`: demo scenes, each panned across (every frame differs), a cut every
  `--scene` seconds;
- `hard`: consecutive scenes that share their background and colours but not
  their shapes or positions (a red circle, then a red square, then red stars),
  and gradual changes that are not cuts: a slow pan across a wide scene, a
  shape moving across the frame, a fade to near black and back.

Then, in one process:

1. `decode`/`moments`: bare PyAV decoding against the product's
   `gallery.moments.video_moments` (decode, samples scaled in FFmpeg, HSV
   histograms), at the demo model's side (80) and B/32's (224), as frames per
   second and video seconds per wall second (1.0 is real time).
2. Cut detection on both films: ours (`video_moments`, and its histogram
   distance between consecutive samples alone), PySceneDetect's
   `ContentDetector` and `AdaptiveDetector` (its own OpenCV decoding, every
   frame, its default downscale) at their default thresholds and at one tuned
   on the easy film, and the cosine distance between consecutive samples' CLIP
   vectors (the demo model, four samples a second, threshold tuned on the easy
   film). A found cut within `TOLERANCE` seconds of a true one is a hit (each
   true cut matched once): precision, recall, the scores' separation (the
   lowest at a true cut, the highest elsewhere), and frames of video per
   second including decode (best of `--repeats` interleaved rounds), with
   ratios against ours.
3. Index throughput: `gallery.videoindexing.video_index` (decode, moments,
   encode, screen, upsert into the embedded store, thumbnails, rows) on the
   easy film, in a child process per model (its own data dir): the demo model,
   and a ViT-B/32-shaped CLIP at fp32 (224 px input). The B/32 child also
   times the CLIP-distance detector's sampling and encoding with that model,
   which is what it would cost with the default model.

    python -m bench.video [--seconds 30] [--fps 30] [--scene 4] [--repeats 2]
                          [--parts decode,cuts,index]

Needs `scenedetect` (in the `dev` extra). About 3.5 CPU minutes (2 cores).
Prints tables and writes bench/results/video.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

# The project's modules (demo, gallery, encoder) are imported inside the
# functions that use them: gallery and encoder need Django's settings, which
# `main` sets up for this process and each child it starts.
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "video.json"
DEMO_MODEL = ROOT / "models" / "demo-clip-shapes"
WIDTH, HEIGHT = 1920, 1080
# A found cut this near a true one is a hit.
TOLERANCE = 0.3
# Seconds between the samples of the CLIP-distance detector: ours' rate.
CLIP_EVERY = 0.25


@dataclass(frozen=True)
class Film:
    name: str
    path: Path
    seconds: float
    frames: int
    cuts: list[float]


# --- the films ---------------------------------------------------------------


def write_film(path: Path, frames: Iterator[np.ndarray], *, fps: int) -> int:
    """Encode RGB frames (HEIGHT x WIDTH x 3) as H.264 in MP4; return how many."""
    import av

    count = 0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        stream.time_base = Fraction(1, fps)
        for array in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            frame.pts = count
            count += 1
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return count


def render_film(path: Path, *, seconds: int, fps: int, scene: float) -> list[float]:
    """The easy film: demo scenes panned across, a cut every `scene` seconds; its cut times."""
    from demo import render_pil
    from demo.scenes import sample_scene

    rng = random.Random(0)
    count = int(np.ceil(seconds / scene))
    # Each scene drawn larger than the frame, so a pan can cross it.
    pictures = [np.asarray(render_pil(sample_scene(rng), 2400, 1350, rng)) for _ in range(count)]

    def frames() -> Iterator[np.ndarray]:
        for index in range(seconds * fps):
            at = index / fps
            picture = pictures[min(int(at / scene), count - 1)]
            shift = int((at % scene) / scene * (2400 - WIDTH))
            yield picture[:HEIGHT, shift : shift + WIDTH]

    write_film(path, frames(), fps=fps)
    return [k * scene for k in range(1, count)]


def _shape(shape: str, colour: str, x: float, y: float, scale: float) -> Any:
    """One demo object, drawn exactly where and as large as named (no jitter, no tint)."""
    from demo.scenes import SceneObject

    size = "large" if scale > 0.4 else "small"
    return SceneObject(shape, colour, size, "center", x=x, y=y, scale=scale)


def _picture(objects: Sequence[Any], background: str, seed: int, size: tuple[int, int]) -> Any:
    """A demo scene; the same `seed` draws the same background whatever the objects."""
    from demo import render_pil
    from demo.scenes import Scene

    scene = Scene(objects=tuple(objects), background=background)
    return np.asarray(render_pil(scene, size[0], size[1], random.Random(seed)))


# A detector: the cut times it finds on a film, and its score at each step if it has one.
Detect = Callable[[Path], tuple[list[float], list[tuple[float, float]] | None]]
# A segment: seconds on screen, whether a cut begins it, and its frame at t seconds in.
Segment = tuple[float, bool, Callable[[float], np.ndarray]]


def _drifting(picture: np.ndarray, seconds: float) -> Callable[[float], np.ndarray]:
    """A still scene, its window drifting 80 px over the segment (every frame differs)."""
    return lambda t: picture[:HEIGHT, int(t / seconds * 80) :][:, :WIDTH]


def render_hard_film(path: Path, *, fps: int) -> list[float]:
    """The hard film (30 s): its cut times.

    0-3 s a large red circle (left), 3-6 s a large red square (right), 6-9 s
    a red star over a red triangle, all on one light background; 9-14 s a
    slow pan across a wide gradient scene (no cut); 14-18 s a green triangle
    crossing a dark background (no cut); 18-24 s a green diamond on that
    background, fading to near black and back from 21 s (no cut); 24-27 s a
    large yellow cross (left), 27-30 s a small one (right), on one noisy
    background. Cuts at 3, 6, 9, 14, 18, 24 and 27.
    """
    big = (WIDTH + 80, HEIGHT)
    light = [
        _picture([_shape("circle", "red", 0.3, 0.5, 0.55)], "light", 1, big),
        _picture([_shape("square", "red", 0.7, 0.5, 0.55)], "light", 1, big),
        _picture(
            [_shape("star", "red", 0.5, 0.27, 0.36), _shape("triangle", "red", 0.5, 0.74, 0.36)],
            "light",
            1,
            big,
        ),
    ]
    wide = _picture(
        [
            _shape("diamond", "blue", 0.12, 0.45, 0.5),
            _shape("cross", "orange", 0.5, 0.6, 0.45),
            _shape("circle", "blue", 0.86, 0.4, 0.5),
        ],
        "gradient",
        2,
        (2 * WIDTH, HEIGHT),
    )
    # The moving triangle: drawn once, its pixels pasted along its path.
    ground = _picture([], "dark", 3, (WIDTH, HEIGHT))
    drawn = _picture([_shape("triangle", "green", 0.5, 0.5, 0.4)], "dark", 3, (WIDTH, HEIGHT))
    mask = np.abs(drawn.astype(np.int16) - ground).max(axis=2) > 0
    ys, xs = np.nonzero(mask)
    top, left = ys.min(), xs.min()
    sprite = drawn[top : ys.max() + 1, left : xs.max() + 1]
    sprite_mask = mask[top : ys.max() + 1, left : xs.max() + 1]

    def moving(t: float) -> np.ndarray:
        frame = ground.copy()
        x = int(0.1 * WIDTH + t / 4 * 0.6 * WIDTH)
        window = frame[top : top + sprite.shape[0], x : x + sprite.shape[1]]
        window[sprite_mask] = sprite[sprite_mask]
        return frame

    diamond = _picture([_shape("diamond", "green", 0.68, 0.35, 0.4)], "dark", 3, big)

    def fading(t: float) -> np.ndarray:
        frame = diamond[:HEIGHT, int(t / 6 * 80) :][:, :WIDTH]
        if t < 3:
            return frame
        level = 0.08 + 0.92 * abs(t - 4.5) / 1.5  # 1 at 3 s and 6 s, 0.08 at 4.5 s
        return (frame * level).astype(np.uint8)

    noisy = [
        _picture([_shape("cross", "yellow", 0.3, 0.5, 0.6)], "noisy", 4, big),
        _picture([_shape("cross", "yellow", 0.72, 0.35, 0.3)], "noisy", 4, big),
    ]
    segments: list[Segment] = [
        (3.0, False, _drifting(light[0], 3.0)),
        (3.0, True, _drifting(light[1], 3.0)),
        (3.0, True, _drifting(light[2], 3.0)),
        (5.0, True, lambda t: wide[:, int(t / 5 * WIDTH) :][:, :WIDTH]),
        (4.0, True, moving),
        (6.0, True, fading),
        (3.0, True, _drifting(noisy[0], 3.0)),
        (3.0, True, _drifting(noisy[1], 3.0)),
    ]
    starts = np.cumsum([0.0] + [seconds for seconds, _, _ in segments])

    def frames() -> Iterator[np.ndarray]:
        total = round(float(starts[-1]) * fps)
        for index in range(total):
            at = index / fps
            which = int(np.searchsorted(starts, at + 1e-9, side="right")) - 1
            yield segments[which][2](at - starts[which])

    write_film(path, frames(), fps=fps)
    return [float(start) for start, (_, cut, _) in zip(starts, segments, strict=False) if cut]


# --- detectors ---------------------------------------------------------------


def ours(path: Path) -> list[float]:
    """The product: the starts of `video_moments`' moments that a cut began."""
    from django.conf import settings

    from gallery.moments import video_moments
    from gallery.videoprobe import video_probe

    info = video_probe(path)
    moments = video_moments(
        path,
        info,
        frame_side=224,
        interval=settings.VIDEO_FRAME_INTERVAL,
        max_moments=settings.VIDEO_MAX_MOMENTS,
    )
    return [m.start for m in moments if m.cut]


def histogram_scores(path: Path) -> list[tuple[float, float]]:
    """(time, our histogram distance to the sample before), at ours' samples and size."""
    from gallery import moments
    from gallery.videoprobe import video_frames, video_probe

    info = video_probe(path)
    out = []
    previous = None
    for at, frame in video_frames(path, info, every=moments.SAMPLE_EVERY, max_side=224):
        colours = moments._histogram(frame)  # the product's own, to measure it alone
        if previous is not None:
            out.append((at, moments._distance(colours, previous)))
        previous = colours
    return out


def clip_scores(path: Path, encoder: Any) -> list[tuple[float, float]]:
    """(time, cosine distance of its CLIP vector to the sample before's), four a second."""
    from gallery.indexing import decode_short_side
    from gallery.videoprobe import video_frames, video_probe

    info = video_probe(path)
    short = decode_short_side(encoder)
    side = int(np.ceil(short * max(info.width, info.height) / min(info.width, info.height)))
    times, vectors = [], []
    batch: list[Any] = []
    for at, frame in video_frames(path, info, every=CLIP_EVERY, max_side=side):
        times.append(at)
        batch.append(frame)
        if len(batch) == encoder.batch_size:
            vectors.append(encoder.encode_images(batch))
            batch = []
    if batch:
        vectors.append(encoder.encode_images(batch))
    unit = np.concatenate(vectors)
    distances = 1.0 - np.sum(unit[1:] * unit[:-1], axis=1)
    return list(zip(times[1:], distances.tolist(), strict=True))


def scenedetect_run(path: Path, detector: Any, stats: Any = None) -> list[float]:
    """PySceneDetect through its API, as its docs show: OpenCV decoding, auto downscale."""
    # Lazy: scenedetect brings OpenCV, which only the comparison needs.
    from scenedetect import SceneManager, open_video

    video = open_video(str(path))
    manager = SceneManager(stats_manager=stats)
    manager.add_detector(detector)
    manager.detect_scenes(video)
    return [float(start.seconds) for start, _ in manager.get_scene_list()[1:]]


def scenedetect_scores(path: Path, fps: int, frames: int) -> dict[str, list[tuple[float, float]]]:
    """Per frame, ContentDetector's `content_val` and AdaptiveDetector's ratio (untimed)."""
    # Lazy: scenedetect brings OpenCV, which only the comparison needs.
    from scenedetect import AdaptiveDetector, StatsManager

    stats = StatsManager()
    detector = AdaptiveDetector()
    scenedetect_run(path, detector, stats)
    keys = {"content": "content_val", "adaptive": detector.get_metrics()[-1]}
    out: dict[str, list[tuple[float, float]]] = {}
    for name, key in keys.items():
        values = [(n / fps, stats.get_metrics(n, [key])[0]) for n in range(frames)]
        out[name] = [(at, float(v)) for at, v in values if v is not None]
    return out


def thresholded(scores: list[tuple[float, float]], threshold: float) -> list[float]:
    return [at for at, score in scores if score > threshold]


def match(found: Sequence[float], truth: Sequence[float]) -> tuple[float, float]:
    """(precision, recall): each true cut is matched by at most one found within TOLERANCE."""
    left = list(truth)
    hits = 0
    for at in found:
        near = [t for t in left if abs(t - at) <= TOLERANCE]
        if near:
            left.remove(min(near, key=lambda t: abs(t - at)))
            hits += 1
    precision = hits / len(found) if found else 1.0
    return precision, hits / len(truth) if truth else 1.0


def tune(scores: list[tuple[float, float]], truth: Sequence[float]) -> float:
    """The threshold with the best F1 on `scores`: the middle of the widest best range."""
    values = sorted({score for _, score in scores})
    candidates = [(a + b) / 2 for a, b in itertools.pairwise(values)]

    def f1(threshold: float) -> float:
        precision, recall = match(thresholded(scores, threshold), truth)
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    rated = [f1(c) for c in candidates]
    best = max(rated)
    # Runs of consecutive candidates at the best F1: the threshold sits in the middle of the
    # score gap that the widest one spans (a margin on each side for the next film).
    runs: list[list[int]] = []
    for index, value in enumerate(rated):
        if value == best:
            if runs and runs[-1][-1] == index - 1:
                runs[-1].append(index)
            else:
                runs.append([index])
    widest = max(runs, key=lambda run: values[run[-1] + 1] - values[run[0]])
    return (values[widest[0]] + values[widest[-1] + 1]) / 2


def separation(scores: list[tuple[float, float]], truth: Sequence[float]) -> dict[str, float]:
    """The lowest score at a true cut (the best within TOLERANCE) and the highest elsewhere:
    a threshold between them finds every cut and nothing else."""
    at_cuts = [max(s for at, s in scores if abs(at - cut) <= TOLERANCE) for cut in truth]
    elsewhere = [s for at, s in scores if all(abs(at - cut) > TOLERANCE for cut in truth)]
    return {"lowest_at_cut": round(min(at_cuts), 4), "highest_elsewhere": round(max(elsewhere), 4)}


def compare_cuts(films: list[Film], fps: int, repeats: int) -> list[dict[str, Any]]:
    """Every detector on every film: precision, recall and frames per second (best wall)."""
    # Lazy: scenedetect brings OpenCV, and the encoder needs Django's settings,
    # which main() configures first.
    from scenedetect import AdaptiveDetector, ContentDetector

    from encoder import get_encoder

    easy = films[0]
    encoder = get_encoder(str(DEMO_MODEL))
    # Scores per frame of PySceneDetect's two detectors (an untimed pass each film): the
    # easy film's tune its thresholds, the hard film's show how far apart cuts and the rest are.
    started = time.perf_counter()
    stats = {film.name: scenedetect_scores(film.path, fps, film.frames) for film in films}
    # The thresholds tuned on the easy film, then applied unchanged to the hard one.
    content_t = tune(stats["easy"]["content"], easy.cuts)
    adaptive_t = tune(stats["easy"]["adaptive"], easy.cuts)
    clip_t = tune(clip_scores(easy.path, encoder), easy.cuts)
    hist_t = tune(histogram_scores(easy.path), easy.cuts)
    print(
        f"scored and tuned in {time.perf_counter() - started:.0f} s: content {content_t:.1f}, "
        f"adaptive {adaptive_t:.2f}, CLIP {clip_t:.4f}, histogram {hist_t:.3f}",
        flush=True,
    )

    def scored(score: Callable[[Path], list[tuple[float, float]]], threshold: float) -> Detect:
        def detect(path: Path) -> tuple[list[float], list[tuple[float, float]]]:
            scores = score(path)
            return thresholded(scores, threshold), scores

        return detect

    def library(make: Callable[[], Any], kind: str) -> Detect:
        def detect(path: Path) -> tuple[list[float], list[tuple[float, float]]]:
            film = next(f for f in films if f.path == path)
            return scenedetect_run(path, make()), stats[film.name][kind]

        return detect

    detectors: list[tuple[str, float | None, Detect]] = [
        ("ours (video_moments)", None, lambda p: (ours(p), None)),
        ("histogram, consecutive only", hist_t, scored(histogram_scores, hist_t)),
        ("ContentDetector, default 27", 27.0, library(ContentDetector, "content")),
        (
            "ContentDetector, tuned",
            content_t,
            library(lambda: ContentDetector(threshold=content_t), "content"),
        ),
        ("AdaptiveDetector, default 3", 3.0, library(AdaptiveDetector, "adaptive")),
        (
            "AdaptiveDetector, tuned",
            adaptive_t,
            library(lambda: AdaptiveDetector(adaptive_threshold=adaptive_t), "adaptive"),
        ),
        (
            "CLIP distance (demo model), tuned",
            clip_t,
            scored(lambda p: clip_scores(p, encoder), clip_t),
        ),
    ]
    walls: dict[tuple[str, str], float] = {}
    results: dict[tuple[str, str], tuple[list[float], list[tuple[float, float]] | None]] = {}
    # Interleaved rounds, best wall of each: drift in the host's speed touches every way alike.
    for _ in range(repeats):
        for film in films:
            for name, _threshold, detect in detectors:
                started = time.perf_counter()
                results[film.name, name] = detect(film.path)
                wall = time.perf_counter() - started
                walls[film.name, name] = min(wall, walls.get((film.name, name), wall))
                print(f"  {film.name:<5} {name:<34} {wall:5.1f} s", flush=True)
    rows = []
    for film in films:
        for name, threshold, _detect in detectors:
            found, scores = results[film.name, name]
            wall = walls[film.name, name]
            precision, recall = match(found, film.cuts)
            missed = [t for t in film.cuts if all(abs(t - f) > TOLERANCE for f in found)]
            false = [f for f in found if all(abs(t - f) > TOLERANCE for t in film.cuts)]
            row: dict[str, Any] = {
                "film": film.name,
                "detector": name,
                "threshold": None if threshold is None else round(threshold, 4),
                "precision": round(precision, 2),
                "recall": round(recall, 2),
                "found": len(found),
                "cuts": len(film.cuts),
                "missed": missed,
                "false": [round(f, 2) for f in false],
                "fps": round(film.frames / wall, 1),
                "frames": film.frames,
                "wall_s": round(wall, 2),
            }
            if scores is not None:
                row.update(separation(scores, film.cuts))
            rows.append(row)
    for film in films:
        base = next(r for r in rows if r["film"] == film.name)["fps"]
        for row in rows:
            if row["film"] == film.name:
                row["speed_vs_ours"] = round(row["fps"] / base, 2)
    return rows


# --- index throughput --------------------------------------------------------


def index_child(path: Path, repeats: int, clip_detector: bool) -> dict[str, Any]:
    """In a fresh process with its own data dir: `video_index` on the film, best of `repeats`."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files import File
    from django.core.management import call_command

    import gallery.videos
    from encoder import get_encoder
    from gallery.videoindexing import video_index

    call_command("migrate", verbosity=0)
    # The upload would index at once (no broker: tasks run eagerly); this times the indexing.
    gallery.videos.video_enqueue = lambda **kwargs: None
    encoder = get_encoder()  # loaded (and warmed) before the clock starts
    walls, moments = [], 0
    for n in range(repeats):
        owner = get_user_model().objects.create_user(f"bench{n}")
        with path.open("rb") as handle:
            video = gallery.videos.video_create(owner=owner, upload=File(handle, name="film.mp4"))
        started = time.perf_counter()
        row = video_index(video_id=str(video.pk))
        walls.append(time.perf_counter() - started)
        if row is None or row.status != "indexed":
            raise SystemExit(f"indexing the film failed: {row and row.error}")
        moments = row.moments_indexed
    out: dict[str, Any] = {
        "model": encoder.model_id,
        "precision": encoder.precision,
        "wall_s": round(min(walls), 2),
        "moments": moments,
    }
    if clip_detector:
        started = time.perf_counter()
        clip_scores(path, encoder)
        out["clip_detector_wall_s"] = round(time.perf_counter() - started, 2)
    return out


def index_throughput(film: Film, repeats: int, folder: Path) -> list[dict[str, Any]]:
    """`index_child` for the demo model, then for a ViT-B/32-shaped model at fp32."""
    from bench.encode import save_b32

    started = time.perf_counter()
    b32 = save_b32(folder / "b32")
    print(f"built the B/32-shaped model in {time.perf_counter() - started:.0f} s", flush=True)
    rows = []
    for label, model in (("demo model (80 px)", DEMO_MODEL), ("ViT-B/32 shapes (224 px)", b32)):
        data = folder / f"data-{model.name}"
        env = {
            **os.environ,
            "CLIPSEARCH_DEV": "1",
            "DJANGO_SETTINGS_MODULE": "clipsite.settings",
            "CLIPSEARCH_DATA_DIR": str(data),
            "CLIP_MODEL": str(model),
            "CLIP_PRECISION": "fp32",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        command = [sys.executable, "-m", "bench.video", "--index-child", str(film.path)]
        command += ["--repeats", str(repeats)]
        if model == b32:
            command.append("--clip-detector")
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"the index child failed:\n{done.stderr[-3000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["way"] = label
        row["video_s_per_wall_s"] = round(film.seconds / row["wall_s"], 2)
        row["moments_per_s"] = round(row["moments"] / row["wall_s"], 1)
        if "clip_detector_wall_s" in row:
            row["clip_detector_video_s_per_wall_s"] = round(
                film.seconds / row["clip_detector_wall_s"], 2
            )
        rows.append(row)
    return rows


# --- decode against moments --------------------------------------------------


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


def decode_rows(film: Film, repeats: int) -> list[dict[str, Any]]:
    runs: dict[str, list[float]] = {"decode": [], "moments 80": [], "moments 224": []}
    found: dict[str, list[Any]] = {}
    # Interleaved rounds, so drift in the host's speed touches every way alike.
    for _ in range(repeats):
        runs["decode"].append(time_decode(film.path)[0])
        for side in (80, 224):
            wall, moments = time_moments(film.path, side)
            runs[f"moments {side}"].append(wall)
            found[f"moments {side}"] = moments
    rows = []
    for name, walls in runs.items():
        wall = min(walls)
        row: dict[str, Any] = {
            "way": name,
            "wall_s": round(wall, 2),
            "fps": round(film.frames / wall, 1),
            "x_realtime": round(film.seconds / wall, 2),
        }
        if name in found:
            moments = found[name]
            starts = np.array([m.start for m in moments if m.cut])
            hit = sum(1 for cut in film.cuts if starts.size and np.abs(starts - cut).min() <= 0.25)
            row["moments_per_minute"] = round(len(moments) / film.seconds * 60, 1)
            row["cuts_found"] = f"{hit}/{len(film.cuts)}"
        rows.append(row)
    return rows


# --- the report --------------------------------------------------------------


def print_decode(rows: list[dict[str, Any]]) -> None:
    base = rows[0]["fps"]
    print(f"{'way':<12} {'fps':>7} {'x real time':>12} {'vs decode':>10} {'moments/min':>12} cuts")
    for row in rows:
        print(
            f"{row['way']:<12} {row['fps']:>7} {row['x_realtime']:>12} "
            f"{row['fps'] / base:>10.2f} {row.get('moments_per_minute', ''):>12} "
            f"{row.get('cuts_found', '')}"
        )


def print_cuts(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'film':<5} {'detector':<34} {'threshold':>9} {'precision':>9} {'recall':>6} "
        f"{'found':>5} {'fps':>7} {'vs ours':>7} {'cut min':>8} {'rest max':>8}  missed / false"
    )
    for row in rows:
        threshold = "" if row["threshold"] is None else f"{row['threshold']:g}"
        print(
            f"{row['film']:<5} {row['detector']:<34} {threshold:>9} {row['precision']:>9.2f} "
            f"{row['recall']:>6.2f} {row['found']:>5} {row['fps']:>7} "
            f"{row['speed_vs_ours']:>7.2f} {row.get('lowest_at_cut', ''):>8} "
            f"{row.get('highest_elsewhere', ''):>8}  {row['missed']} / {row['false']}"
        )


def cut_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per detector: precision and recall on each film, and its speed over both films."""
    out = []
    for name in dict.fromkeys(row["detector"] for row in rows):
        mine = [row for row in rows if row["detector"] == name]
        entry: dict[str, Any] = {"detector": name}
        for row in mine:
            entry[row["film"]] = f"{row['precision']:.2f} / {row['recall']:.2f}"
        entry["fps"] = round(sum(r["frames"] for r in mine) / sum(r["wall_s"] for r in mine), 1)
        out.append(entry)
    for entry in out:
        entry["speed_vs_ours"] = round(entry["fps"] / out[0]["fps"], 2)
    return out


def print_summary(summary: list[dict[str, Any]]) -> None:
    print(f"{'detector':<34} {'easy P / R':>11} {'hard P / R':>11} {'fps':>7} {'vs ours':>7}")
    for entry in summary:
        print(
            f"{entry['detector']:<34} {entry.get('easy', ''):>11} {entry.get('hard', ''):>11} "
            f"{entry['fps']:>7} {entry['speed_vs_ours']:>7.2f}"
        )


def print_index(rows: list[dict[str, Any]]) -> None:
    print(f"{'model':<26} {'wall s':>7} {'video s / wall s':>17} {'moments':>8} {'moments/s':>10}")
    for row in rows:
        print(
            f"{row['way']:<26} {row['wall_s']:>7} {row['video_s_per_wall_s']:>17} "
            f"{row['moments']:>8} {row['moments_per_s']:>10}"
        )
        if "clip_detector_wall_s" in row:
            print(
                f"  its CLIP-distance detector alone (4 samples/s, decode + encode): "
                f"{row['clip_detector_video_s_per_wall_s']} video s / wall s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=30, help="the easy film's length")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--scene", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--parts", default="decode,cuts,index")
    parser.add_argument("--index-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--clip-detector", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.index_child:
        print(json.dumps(index_child(args.index_child, args.repeats, args.clip_detector)))
        return
    parts = set(args.parts.split(","))

    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        folder = Path(tmp)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clipsite.settings")
        os.environ.setdefault("CLIPSEARCH_DEV", "1")
        os.environ.setdefault("CLIP_PRECISION", "fp32")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ["CLIPSEARCH_DATA_DIR"] = str(folder / "data")
        import django

        django.setup()
        started = time.perf_counter()
        easy_cuts = render_film(
            folder / "easy.mp4", seconds=args.seconds, fps=args.fps, scene=args.scene
        )
        easy = Film("easy", folder / "easy.mp4", args.seconds, args.seconds * args.fps, easy_cuts)
        films = [easy]
        if "cuts" in parts:
            hard_cuts = render_hard_film(folder / "hard.mp4", fps=args.fps)
            films.append(Film("hard", folder / "hard.mp4", 30.0, 30 * args.fps, hard_cuts))
        print(f"rendered the films in {time.perf_counter() - started:.0f} s", flush=True)

        report: dict[str, Any] = {
            "seconds": args.seconds,
            "fps": args.fps,
            "scene": args.scene,
            "cpu_count": os.cpu_count(),
            "films": {f.name: {"seconds": f.seconds, "cuts": f.cuts} for f in films},
        }
        if "decode" in parts:
            report["rows"] = decode_rows(easy, args.repeats)
            print_decode(report["rows"])
        if "cuts" in parts:
            report["cuts"] = compare_cuts(films, args.fps, args.repeats)
            print_cuts(report["cuts"])
            report["cut_summary"] = cut_summary(report["cuts"])
            print_summary(report["cut_summary"])
        if "index" in parts:
            report["index"] = index_throughput(easy, args.repeats, folder)
            print_index(report["index"])
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
