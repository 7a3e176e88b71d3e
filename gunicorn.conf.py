"""gunicorn reads this file from the working directory: every server we start does so."""

from __future__ import annotations

import gc
import logging
from typing import Any

# gunicorn's control socket is one path per user (~/.gunicorn/gunicorn.ctl): a
# second server under the same user takes it over, and stopping either removes
# it. Nothing here uses the control interface, so no server opens one.
control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """Load the model and run both towers once before the first request arrives.

    Without it the first search of each worker process pays the model load
    (seconds). A model that cannot load is logged, not fatal: the server still
    serves pages, and searches answer 503 `encoder_unavailable`.
    """
    from encoder.clip import EncoderUnavailable, get_encoder

    try:
        get_encoder()
    except EncoderUnavailable as exc:
        logging.getLogger(__name__).warning("Model not preloaded: %s", exc.message)
    # Django, torch and the model leave about half a million long-lived objects
    # that every full collection would walk again: set them aside.
    gc.freeze()
