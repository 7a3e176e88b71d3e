from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from vectorstore import VectorStoreUnavailable, get_store


class Command(BaseCommand):
    help = (
        "Build the HNSW graph of the embedded vector store. It holds the process for the whole "
        "build, so run it while the server is stopped (the store allows one opener)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            store = get_store()
            graphs = store.maintenance()
            if graphs is None:
                self.stdout.write("The vector store is a Qdrant server; it optimises itself.")
                return
            for name in store.collections():
                started = time.monotonic()
                graphs.optimize(name)
                self.stdout.write(
                    f"{name}: {graphs.indexed_vectors(name)} vectors in the graph "
                    f"({time.monotonic() - started:.1f} s)"
                )
        except VectorStoreUnavailable as exc:
            raise CommandError(exc.message) from exc
