"""gunicorn settings shared by `make run`, the Docker image and docker-compose (gunicorn also
reads ./gunicorn.conf.py by itself when started from the repository root).

The access log prints request lines and referers, which carry share, hand-off, signed-media
and password-reset tokens: it goes through rekindle.logging.RedactingGunicornLogger.
"""

# Request lines to stdout, with tokens and email addresses redacted.
accesslog = "-"
logger_class = "rekindle.logging.RedactingGunicornLogger"
