"""Stored files through permission-checked views, with byte ranges so that videos can seek.

On disk the app streams the file itself; on S3 it redirects to an expiring
signed URL, which S3 serves with ranges of its own.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from typing import IO

from django.core.files.storage import FileSystemStorage, default_storage
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 256 * 1024
CACHE_CONTROL = "private, max-age=3600"


def serve_stored(request: HttpRequest, name: str) -> HttpResponseBase:
    if not isinstance(default_storage, FileSystemStorage):
        return HttpResponseRedirect(default_storage.url(name))
    response = _from_disk(name, request.headers.get("Range", ""))
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _from_disk(name: str, range_header: str) -> HttpResponseBase:
    size = default_storage.size(name)
    try:
        wanted = byte_range(range_header, size)
    except RangeNotSatisfiable:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    if wanted is None:
        return FileResponse(default_storage.open(name, "rb"))
    start, end = wanted
    handle = default_storage.open(name, "rb")
    handle.seek(start)
    partial = StreamingHttpResponse(
        _chunks(handle, end - start + 1),
        status=206,
        content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
    )
    partial["Content-Range"] = f"bytes {start}-{end}/{size}"
    partial["Content-Length"] = str(end - start + 1)
    return partial


class RangeNotSatisfiable(Exception):
    """The range lies past the end of the file: a 416."""


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte a `Range` header asks of a `size`-byte file.

    None: serve the whole file (no header, or one this server does not
    split, such as several ranges, which RFC 9110 allows it to ignore).
    """
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable
        return (max(size - length, 0), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # not a valid range: RFC 9110 has the header ignored
    if start >= size:
        raise RangeNotSatisfiable
    return (start, min(int(last), size - 1) if last else size - 1)


def _chunks(handle: IO[bytes], length: int) -> Iterator[bytes]:
    try:
        while length > 0:
            chunk = handle.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()
