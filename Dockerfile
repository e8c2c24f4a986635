# The web/worker/beat image (the GPU worker has its own: processing/runpod_worker/Dockerfile).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# Production settings (DEBUG off) so the hashed, compressed files and their manifest are written;
# the key and database here exist only for this build step.
RUN DEBUG=false SECRET_KEY=collectstatic-only ALLOWED_HOSTS=build DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput
RUN useradd --create-home rekindle && mkdir -p /app/var && chown rekindle /app/var
USER rekindle
EXPOSE 8000
# Processes and threads come from gunicorn.conf.py (WEB_CONCURRENCY × GUNICORN_THREADS); in
# production nginx (deploy/nginx/rekindle.conf.template) sits in front and buffers slow clients.
ENV WEB_CONCURRENCY=3 GUNICORN_THREADS=4
CMD ["gunicorn", "rekindle.wsgi", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
