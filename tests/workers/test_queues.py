"""Queues, routes, time limits, prefetch and decode threads: what lets GPU workers only index.

None of these needs a broker: routing is decided by the app's router as a task is
published, and the rest are settings and what the worker does with them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from clipsite.config import cuda_device_visible, decode_threads
from gallery.models import Image

ROOT = Path(__file__).resolve().parents[2]

# Every task the project defines, and the queue it must land on.
ROUTES = {
    "workers.tasks.index_image_task": "index",
    "workers.tasks.index_video_task": "index",
    "workers.tasks.backfill_text_task": "index",
    "workers.tasks.requeue_stale_task": "maintenance",
    "workers.tasks.reconcile_task": "maintenance",
    "workers.tasks.reconcile_chunk_task": "maintenance",
    "workers.tasks.feedback_prune_task": "maintenance",
}


def _project_tasks() -> dict[str, Any]:
    from clipsite.celery import app

    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith("workers.")}


def test_each_task_routes_to_its_queue() -> None:
    from clipsite.celery import app

    tasks = _project_tasks()

    assert set(tasks) == set(ROUTES), "a new task needs its queue in ROUTES (and settings)"
    assert {name: app.amqp.router.route({}, name)["queue"].name for name in tasks} == ROUTES


def test_beat_schedules_only_maintenance_and_a_plain_worker_serves_both_queues() -> None:
    from clipsite.celery import app

    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}

    assert scheduled
    assert {ROUTES[name] for name in scheduled} == {"maintenance"}
    # `celery worker` without -Q (development, scripts/test) consumes both.
    assert set(app.amqp.queues) == {"index", "maintenance"}
    # A task with no route goes to the CPU worker, never to a GPU by accident.
    assert app.amqp.router.route({}, "workers.tasks.some_new_task")["queue"].name == "maintenance"


def test_compose_runs_indexing_on_the_gpu_worker_and_maintenance_on_a_cpu_worker() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]

    def queues(service: dict[str, Any]) -> set[str]:
        command = service.get("command") or []
        if "worker" not in command:
            return set()
        return set(command[command.index("-Q") + 1].split(",")) if "-Q" in command else {"*"}

    def has_gpu(service: dict[str, Any]) -> bool:
        return "devices" in str(service.get("deploy", {}))

    workers = {name: s for name, s in services.items() if queues(s)}
    gpu = [queues(s) for s in workers.values() if has_gpu(s)]
    cpu = [queues(s) for s in workers.values() if not has_gpu(s)]
    assert gpu
    assert all(q == {"index"} for q in gpu)
    assert cpu
    assert all(q == {"maintenance"} for q in cpu)
    for service in workers.values():
        if "index" in queues(service):
            # The prefetch follows INDEX_COALESCE_MAX; a command-line one would override it.
            assert not any("prefetch" in part for part in service["command"])


def _settings_process(
    env: dict[str, str], code: str, prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "INDEX_"))}
    return subprocess.run(
        [sys.executable, "-c", f"{prelude}import django; django.setup(); {code}"],
        env={
            **clean,
            "CLIPSEARCH_DEV": "1",
            "DJANGO_SETTINGS_MODULE": "clipsite.settings",
            "CLIPSEARCH_ENV_FILE": "/nonexistent/.env",
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("coalesce", ["64", "128", "300"])
def test_prefetch_is_at_least_the_coalesce_size(tmp_path: Path, coalesce: str) -> None:
    """celery-batches can gather only what the worker has reserved: compose's 128 must not
    top out at a prefetch of 64."""
    result = _settings_process(
        {"CLIPSEARCH_DATA_DIR": str(tmp_path), "INDEX_COALESCE_MAX": coalesce},
        "from clipsite.celery import app; from workers.tasks import index_image_task as t; "
        "print(app.conf.worker_prefetch_multiplier, t.flush_every)",
    )

    assert result.returncode == 0, result.stderr
    prefetch, flush_every = map(int, result.stdout.split())
    assert flush_every == int(coalesce)
    assert prefetch >= flush_every


def test_time_limits_are_set_on_every_task_below_the_visibility_timeout() -> None:
    from workers.timelimits import limits_for

    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    for name, task in _project_tasks().items():
        limits = limits_for(task)
        assert limits is not None, name
        soft, hard = limits
        assert 0 < soft < hard < visibility, name


def test_time_limits_that_cannot_work_stop_startup(tmp_path: Path) -> None:
    result = _settings_process(
        {
            "CLIPSEARCH_DATA_DIR": str(tmp_path),
            "CELERY_TASK_SOFT_TIME_LIMIT": "900",
            "CELERY_TASK_TIME_LIMIT": "600",
        },
        "pass",
    )

    assert result.returncode != 0
    assert "CELERY_TASK_TIME_LIMIT=600" in result.stderr


def test_check_warns_of_a_hard_limit_past_the_visibility_timeout(settings: Any) -> None:
    from django.core.checks import run_checks

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.VECTOR_STORE = {
        "BACKEND": "vectorstore.QdrantClientStore",
        "OPTIONS": {"url": "http://qdrant:6333"},
    }
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}

    assert "clipsite.W003" in {m.id for m in run_checks()}
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    assert "clipsite.W003" not in {m.id for m in run_checks()}


def test_a_worker_arms_each_task_s_limits_and_disarms_them_after(monkeypatch: Any) -> None:
    """The solo pool (the GPU worker) and celery-batches enforce no limits of their own, so
    the worker's prerun signal arms them."""
    from clipsite import celery as celery_app
    from workers.tasks import index_image_task

    monkeypatch.setattr(celery_app, "_in_worker", True)
    try:
        celery_app._arm_time_limits(task=index_image_task)
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= settings.CELERY_TASK_SOFT_TIME_LIMIT
    finally:
        celery_app._disarm_time_limits()
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_soft_limit_raises_in_the_task() -> None:
    from workers import timelimits

    def busy(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.01)

    started = time.monotonic()
    try:
        timelimits.arm(soft=0.2, hard=30)
        with pytest.raises(SoftTimeLimitExceeded):
            busy(5)
    finally:
        timelimits.disarm()
    assert time.monotonic() - started < 2


def test_the_hard_limit_kills_a_task_that_ignores_the_soft_one() -> None:
    code = (
        "import time; from workers import timelimits\n"
        "timelimits.arm(soft=0.1, hard=0.5)\n"
        "deadline = time.monotonic() + 10\n"
        "while time.monotonic() < deadline:\n"
        "    try:\n"
        "        time.sleep(0.05)\n"
        "    except Exception:\n"
        "        pass\n"
        "print('survived')\n"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
    assert time.monotonic() - started < 8


@pytest.mark.django_db
def test_a_soft_limit_mid_batch_leaves_the_rest_pending_and_queued_again(
    alice_api: Any, upload: Any, monkeypatch: Any
) -> None:
    """Images stored before the limit stay indexed; the rest were rolled back whole (still
    pending, no half-marked row) and are queued again with backoff, like an outage."""
    from celery_batches import SimpleRequest

    from encoder.clip import get_encoder
    from tests.factories import image_bytes, picture
    from vectorstore import get_store
    from workers.tasks import index_image_task

    ids = [
        upload(alice_api, image_bytes(picture((70 * n, 40, 200 - 60 * n)))).json()["id"]
        for n in range(3)
    ]
    get_store().delete([Image.objects.get(pk=i).id for i in ids])
    Image.objects.filter(pk__in=ids).update(status=Image.Status.PENDING)
    monkeypatch.setattr(get_encoder(), "batch_size", 1)
    real_mark = Image.mark_indexed
    marked: list[str] = []

    def mark_until_the_limit(image: Image, *, model_id: str) -> None:
        if marked:  # the second batch: upserted, then the limit strikes while marking
            raise SoftTimeLimitExceeded()
        marked.append(str(image.pk))
        real_mark(image, model_id=model_id)

    monkeypatch.setattr(Image, "mark_indexed", mark_until_the_limit)
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(
        index_image_task, "apply_async", lambda **kwargs: queued.append(kwargs["kwargs"])
    )

    index_image_task(
        [
            SimpleRequest(
                id=f"t-{image_id}",
                name="workers.tasks.index_image_task",
                args=(image_id,),
                kwargs={},
                delivery_info={},
                hostname="test",
                ignore_result=True,
                reply_to=None,
                correlation_id=None,
                request_dict={},
            )
            for image_id in ids
        ]
    )

    rows = {str(i.pk): i for i in Image.objects.filter(pk__in=ids)}
    assert sorted(i.status for i in rows.values()) == ["indexed", "pending", "pending"]
    assert [i.status for pk, i in rows.items() if pk in marked] == ["indexed"]
    assert all(i.error == "" for i in rows.values())
    assert sorted(q["image_id"] for q in queued) == sorted(set(ids) - set(marked))
    assert all(q["attempt"] == 1 for q in queued)


def test_decode_threads_default_to_the_cores_on_a_gpu_and_two_on_a_cpu() -> None:
    assert decode_threads(0, device="cuda", cores=32) == 32
    assert decode_threads(0, device="cuda:1", cores=8) == 8
    assert decode_threads(0, device="cpu", cores=32) == 2
    assert decode_threads(6, device="cuda", cores=32) == 6
    assert decode_threads(6, device="cpu", cores=32) == 6


def test_a_gpu_is_seen_from_its_device_nodes_unless_cuda_hides_it(tmp_path: Path) -> None:
    assert not cuda_device_visible({}, dev=tmp_path)
    (tmp_path / "nvidiactl").touch()  # the driver alone, no GPU given to this container
    assert not cuda_device_visible({}, dev=tmp_path)
    (tmp_path / "nvidia0").touch()
    assert cuda_device_visible({}, dev=tmp_path)
    assert cuda_device_visible({"CUDA_VISIBLE_DEVICES": "0"}, dev=tmp_path)
    assert not cuda_device_visible({"CUDA_VISIBLE_DEVICES": ""}, dev=tmp_path)
    assert not cuda_device_visible({"CUDA_VISIBLE_DEVICES": "-1"}, dev=tmp_path)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CLIP_DEVICE": "cuda"}, 48),
        ({"CLIP_DEVICE": "cpu"}, 2),
        ({"CLIP_DEVICE": "cuda", "INDEX_DECODE_THREADS": "3"}, 3),
        ({"CLIP_DEVICE": "cpu", "INDEX_DECODE_THREADS": "5"}, 5),
    ],
)
def test_the_setting_follows_the_worker_s_device(
    tmp_path: Path, env: dict[str, str], expected: int
) -> None:
    result = _settings_process(
        {"CLIPSEARCH_DATA_DIR": str(tmp_path), **env},
        "from django.conf import settings; print(settings.INDEX_DECODE_THREADS)",
        prelude="import os; os.cpu_count = lambda: 48; ",  # a GPU host's cores, not 2
    )

    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == expected
