# One image for web, worker and beat. The CUDA build of torch comes from PyPI's
# default wheel; GPU workers get the device from docker-compose.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Tesseract's English data for text in pictures (tesserocr's wheel carries the
# engine; add tesseract-ocr-<lang> for each of OCR_LANGUAGES).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr-eng \
 && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY accounts accounts
COPY clipsite clipsite
COPY core core
COPY demo demo
COPY encoder encoder
COPY gallery gallery
COPY search search
COPY vectorstore vectorstore
COPY workers workers
RUN pip install "torch==2.13.0" && pip install .

COPY . .
RUN SECRET_KEY=collectstatic-only CLIPSEARCH_DATA_DIR=/tmp/build \
    python manage.py collectstatic --no-input -v 0 \
 && useradd --uid 1000 --create-home app && mkdir -p /data && chown app /data
USER app
ENV CLIPSEARCH_DATA_DIR=/data HF_HOME=/data/hf
EXPOSE 8000
CMD ["gunicorn", "clipsite.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "120"]
