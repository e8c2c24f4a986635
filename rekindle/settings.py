"""Rekindle settings: one module, read from the environment.

With no variables set, the service runs on its *embedded default*: SQLite and local files
under ``var/``, Celery over kombu's filesystem transport, the local engine, console email.
Each integration switches on from its own variables (``DATABASE_URL``, ``REDIS_URL``,
``AWS_STORAGE_BUCKET_NAME``, ``EMAIL_URL``, ``STRIPE_*``, ``AUTH0_*``, ``RUNPOD_*``).
Production mode (``DEBUG`` off, the default) refuses to start without a secret key and allowed
hosts; ``make run`` sets ``EMBEDDED=true`` (DEBUG stays off, our own error pages) and the tests
set ``DEBUG=true``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# Everything the embedded default writes lives here, so a checkout stays clean and a test
# can point a whole server at a temporary folder.
VAR_DIR = Path(env.str("REKINDLE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Core -----------------------------------------------------------------------------

# DEBUG is off unless asked for: the test suite (pytest-env in pyproject.toml, the Makefile)
# sets DEBUG=true, and so may a developer (`DEBUG=true make run`); anything else gets
# production mode and the guard below, so a forgotten variable never serves tracebacks.
DEBUG = env.bool("DEBUG", default=False)
# The embedded default on a laptop (`make run` and scripts/run-embedded.sh set EMBEDDED=true):
# DEBUG stays off, so people see our own 404/500 pages rather than Django's debug pages, but
# production's demands are waived: the public development key, localhost only, SQLite, plain
# HTTP, static files straight from static/. Never set it on a server reachable by others.
EMBEDDED = env.bool("EMBEDDED", default=False)
# Development conveniences (the defaults below) apply with DEBUG or on the embedded default.
LOCAL_DEFAULTS = DEBUG or EMBEDDED

_DEV_SECRET = "insecure-embedded-default-key-do-not-use-in-production"  # noqa: S105
# Keys anyone can read (our development key, the .env.example placeholder): never in production.
_PUBLIC_SECRETS = {_DEV_SECRET, "change-me-to-a-long-random-string"}
# The key signs sessions, share links and media URLs: production must supply its own.
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET if LOCAL_DEFAULTS else "")
# Hosts this site answers for; in production a missing list is an error, not "*".
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if LOCAL_DEFAULTS else []
)
# Origins allowed to POST with a session (needed behind HTTPS proxies on other hostnames).
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# How many proxies in front of the web process append to X-Forwarded-For (0: none, as under
# `make run`; 1 behind one load balancer). Drives rekindle.net.client_ip, the one client address
# used by login throttling, rate limits and reports; a wrong value makes limits forgeable.
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)
if TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured("TRUSTED_PROXIES is a number of proxies: 0 or more.")
# django-ninja's own throttles read the header the same way (ours call client_ip directly).
NINJA_NUM_PROXIES = TRUSTED_PROXIES

if not LOCAL_DEFAULTS:
    if not SECRET_KEY or SECRET_KEY in _PUBLIC_SECRETS:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
    if not env.str("DATABASE_URL", default=""):
        raise ImproperlyConfigured("DATABASE_URL must point at a real database when DEBUG is off.")

# Public base URL, used in emails and QR codes where no request is at hand.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "rekindle.apps.RekindleStaticFilesConfig",  # django.contrib.staticfiles without src/
    "django.contrib.humanize",
    "template_partials",
    "django_htmx",
    "axes",
    "social_django",
    "djstripe",
    "accounts",
    "credits",
    "photos",
    "processing",
]

MIDDLEWARE = [
    "rekindle.logging.RequestIdMiddleware",
    "rekindle.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "rekindle.middleware.DomainErrorMiddleware",
    "social_django.middleware.SocialAuthExceptionMiddleware",
    # Axes last, as its docs require, so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "rekindle.urls"
WSGI_APPLICATION = "rekindle.wsgi.application"
ASGI_APPLICATION = "rekindle.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # {% partialdef %} everywhere without {% load %} (django-template-partials).
            "builtins": ["template_partials.templatetags.partials"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "social_django.context_processors.backends",
                "rekindle.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------

# SQLite in WAL mode with a busy timeout and IMMEDIATE transactions lets the web process and
# the worker share one file without "database is locked" errors; DATABASE_URL switches to
# PostgreSQL, which is what production and the test suite use.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'rekindle.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
    }
else:
    # Reuse connections for a minute; health checks drop broken ones before use.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # DATABASE_URL may point at PgBouncer in transaction mode (docker-compose.yml, and the
    # pooling choice in docs/scaling.md): each transaction may then land on another server
    # connection, so no cursor may outlive one (Django's .iterator() would use a named one).
    if env.bool("DB_BEHIND_PGBOUNCER", default=False):
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker -----------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")

# The cache holds login-throttling and upload rate-limit counters, so it must be shared by
# every process: Redis when configured, else a table in the SQLite database (created by
# `manage.py createcachetable`; django-axes refuses per-process and file caches).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "rekindle_cache"}
    }

# Sessions live in the database; with Redis they are also cached there, so the session lookup
# every signed-in request makes (a job page polls every 2 s) is a Redis GET, not a query
# (docs/scaling.md). Writes still go to the database, so a Redis flush signs nobody out.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"
)

# --- Celery ---------------------------------------------------------------------------

QUEUE_DIR = VAR_DIR / "queue"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Consume queues in the order the worker lists them (priority, then standard) instead
        # of round-robin: a worker always drains paid work first.
        "queue_order_strategy": "priority",
        # Longer than the longest job, so a slow job's unacked message is not redelivered
        # while it is still running.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60),
    }
else:
    # kombu's filesystem transport: no server, several queues, state under var/queue.
    for _sub in ("in", "processed", "control"):
        (QUEUE_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    # kombu's transport, but a message file appears only once it is whole (the module says why).
    CELERY_BROKER_TRANSPORT = "rekindle.filesystem_transport:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(QUEUE_DIR / "in"),
        "data_folder_out": str(QUEUE_DIR / "in"),
        "processed_folder": str(QUEUE_DIR / "processed"),
        # Exchange tables (broadcasts such as remote control), else written to the cwd.
        "control_folder": str(QUEUE_DIR / "control"),
        "store_processed": False,
        # Look for new messages every 0.1 s instead of every 1 s: jobs start sooner, and an idle
        # worker notices Ctrl-C / SIGTERM within its 2 s drain cycle (`make run` stops in < 5 s).
        "polling_interval": 0.1,
    }

# Jobs report progress through the database, not Celery's result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "standard"
# At-least-once delivery: ack after the task body ran, requeue when a worker dies mid-task.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message at a time per worker process so a long job never holds paid work hostage.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Workers log through LOGGING below (JSON lines with job_id, task_id, worker), not Celery's own
# plain-text root handler (rekindle/celery.py also answers Celery's setup_logging signal).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Periodic tasks; apps add their entries here (see docs/architecture.md).
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}

# --- Auth -----------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

AUTH0_DOMAIN = env.str("AUTH0_DOMAIN", default="")
SOCIAL_AUTH_AUTH0_DOMAIN = AUTH0_DOMAIN
SOCIAL_AUTH_AUTH0_KEY = env.str("AUTH0_KEY", default="")
SOCIAL_AUTH_AUTH0_SECRET = env.str("AUTH0_SECRET", default="")
SOCIAL_AUTH_AUTH0_SCOPE = ["openid", "profile", "email"]
# Social login is offered only when all three Auth0 values are present.
AUTH0_ENABLED = bool(AUTH0_DOMAIN and SOCIAL_AUTH_AUTH0_KEY and SOCIAL_AUTH_AUTH0_SECRET)

AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses locked-out credentials before any backend checks them.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
if AUTH0_ENABLED:
    AUTHENTICATION_BACKENDS.append("social_core.backends.auth0.Auth0OAuth2")

SOCIAL_AUTH_USER_MODEL = AUTH_USER_MODEL
SOCIAL_AUTH_URL_NAMESPACE = "social"
SOCIAL_AUTH_JSONFIELD_ENABLED = True
SOCIAL_AUTH_LOGIN_ERROR_URL = "/accounts/login/"
# A first sign-in through Auth0 is a sign-up: it goes straight to adding a photo, as the
# sign-up form does (issue 14's first run).
SOCIAL_AUTH_NEW_USER_REDIRECT_URL = "photos:new"
SOCIAL_AUTH_REDIRECT_IS_HTTPS = env.bool("SOCIAL_AUTH_REDIRECT_IS_HTTPS", default=not LOCAL_DEFAULTS)
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    # Only a verified email may attach to an existing account (no account takeover).
    "accounts.pipeline.associate_by_verified_email",
    # A suspended account is neither linked nor signed in; the person is told why.
    "accounts.pipeline.refuse_suspended",
    "accounts.pipeline.create_user",
    "social_core.pipeline.social_auth.associate_user",
    "social_core.pipeline.social_auth.load_extra_data",
    "social_core.pipeline.user.user_details",
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling through django-axes on the shared cache: five failures for one account from
# one address lock that account from that address for 15 minutes.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
# Failures count per account *and* address together: a stranger elsewhere cannot lock a person
# out, and a guesser is stopped for that account from their address. (Axes has one failure
# limit for every key, so a separate per-address key would lock at the same count and make
# the combination pointless; see docs/operations.md.)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_RESET_ON_SUCCESS = True
# The client address the same way as every rate limit (TRUSTED_PROXIES, rekindle/net.py).
AXES_CLIENT_IP_CALLABLE = "rekindle.net.client_ip"
# Axes' log lines name the address and path, never the typed username (an email address).
AXES_CLIENT_STR_CALLABLE = "rekindle.net.axes_client_str"

# Password-reset links stay valid for one hour.
PASSWORD_RESET_TIMEOUT = 60 * 60
# Email confirmation links (sent at sign-up) stay valid for 3 days: long enough for a weekend
# away, short enough that an old message is not a standing key. A new one can be sent.
EMAIL_CONFIRMATION_MAX_AGE = env.int("EMAIL_CONFIRMATION_MAX_AGE", default=3 * 24 * 60 * 60)
# Sign-up and password-reset POSTs per client address and per target email, so scripts can
# neither mass-create accounts nor flood someone's inbox; over the limit is a 429 page.
SIGNUP_RATE_PER_ADDRESS = env.str("SIGNUP_RATE_PER_ADDRESS", default="10/h")
SIGNUP_RATE_PER_EMAIL = env.str("SIGNUP_RATE_PER_EMAIL", default="3/h")
PASSWORD_RESET_RATE_PER_ADDRESS = env.str("PASSWORD_RESET_RATE_PER_ADDRESS", default="10/h")
PASSWORD_RESET_RATE_PER_EMAIL = env.str("PASSWORD_RESET_RATE_PER_EMAIL", default="3/h")
# "Send the confirmation email again", per account: enough for a typo'd spam filter, not a flood.
EMAIL_CONFIRMATION_RESEND_RATE = env.str("EMAIL_CONFIRMATION_RESEND_RATE", default="3/h")

# --- Email ----------------------------------------------------------------------------

# Console email by default; EMAIL_URL (smtp://user:pass@host:587/?tls=True) for real mail.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Rekindle <hello@rekindle.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Subject prefix of emails to ADMINS (spend alerts, errors).
EMAIL_SUBJECT_PREFIX = "[Rekindle] "
ADMINS = [("Admin", a) for a in env.list("ADMIN_EMAILS", default=[])]

# --- Files ----------------------------------------------------------------------------

MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Private media is never served from a public URL: local files go through a signed view.
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Largest upload we accept (bytes); bigger requests are refused before they are read.
PHOTO_MAX_BYTES = 50 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Most memory (bytes, estimated from the header) a web request may spend decoding an upload
# to check it; larger files are checked from their header and structure, and decoded in full
# only by the worker. Keeps each upload request's added peak bounded (upload_memory_bench).
PHOTO_VERIFY_MAX_DECODE_BYTES = env.int("PHOTO_VERIFY_MAX_DECODE_BYTES", default=160 * 1024 * 1024)
# Signed media URLs (local storage) and presigned S3 GETs expire after this many seconds.
MEDIA_URL_MAX_AGE = env.int("MEDIA_URL_MAX_AGE", default=60 * 60)

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
USE_S3 = bool(AWS_STORAGE_BUCKET_NAME)
# Encryption at rest for every object written to S3, by Django (photos.s3.PrivateS3Storage)
# and by browsers (the presigned POST's policy requires it): "AES256" (SSE-S3), "aws:kms" (the
# key AWS_S3_SSE_KMS_KEY_ID names, else the account's default KMS key), or "" for a store
# without SSE. A KMS key id alone means aws:kms.
AWS_S3_SSE_KMS_KEY_ID = env.str("AWS_S3_SSE_KMS_KEY_ID", default="")
AWS_S3_SSE = env.str("AWS_S3_SSE", default="aws:kms" if AWS_S3_SSE_KMS_KEY_ID else "AES256")
if AWS_S3_SSE not in ("", "AES256", "aws:kms"):
    raise ImproperlyConfigured('AWS_S3_SSE is "AES256", "aws:kms" or "" (off).')
if AWS_S3_SSE_KMS_KEY_ID and AWS_S3_SSE != "aws:kms":
    raise ImproperlyConfigured('AWS_S3_SSE_KMS_KEY_ID needs AWS_S3_SSE="aws:kms".')
# Pages send photos straight to the bucket (presigned POST) when S3 is configured; false sends
# them through Django as on the embedded default (e.g. before `manage.py s3_setup` has set CORS).
PHOTO_DIRECT_UPLOAD = env.bool("PHOTO_DIRECT_UPLOAD", default=True)
# Web origins whose pages may send files to the bucket (its CORS rules, set by s3_setup).
AWS_S3_CORS_ORIGINS = env.list("AWS_S3_CORS_ORIGINS", default=[SITE_URL])
# Private media through CloudFront: signed URLs (same expiry as S3's presigned GETs) from the
# key pair whose public half is in the distribution's key group. All three, or none.
MEDIA_CLOUDFRONT_DOMAIN = env.str("MEDIA_CLOUDFRONT_DOMAIN", default="")
AWS_CLOUDFRONT_KEY_ID = env.str("AWS_CLOUDFRONT_KEY_ID", default="") or None
# The PEM private key; "\n" escapes are accepted so it fits in one environment variable.
AWS_CLOUDFRONT_KEY = env.str("AWS_CLOUDFRONT_KEY", default="").replace("\\n", "\n").encode() or None
if MEDIA_CLOUDFRONT_DOMAIN and not (AWS_CLOUDFRONT_KEY_ID and AWS_CLOUDFRONT_KEY):
    raise ImproperlyConfigured(
        "MEDIA_CLOUDFRONT_DOMAIN needs AWS_CLOUDFRONT_KEY_ID and AWS_CLOUDFRONT_KEY: media is private."
    )
# django-storages builds media URLs on this domain (signed with the key above) when set.
AWS_S3_CUSTOM_DOMAIN = MEDIA_CLOUDFRONT_DOMAIN or None
if USE_S3:
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="us-east-1")
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="")
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="")
    AWS_S3_SIGNATURE_VERSION = "s3v4"
    AWS_S3_ADDRESSING_STYLE = env.str("AWS_S3_ADDRESSING_STYLE", default="path")
    # Private bucket: every read is a presigned GET that expires.
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_QUERYSTRING_EXPIRE = MEDIA_URL_MAX_AGE
    AWS_S3_FILE_OVERWRITE = False
    _default_storage = {"BACKEND": "photos.s3.PrivateS3Storage"}
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }

STORAGES = {
    "default": _default_storage,
    # Hashed, compressed static files in production; plain files while developing.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if LOCAL_DEFAULTS
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Internationalisation -------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security -------------------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not LOCAL_DEFAULTS:
    # TLS ends at the proxy, which says so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Health checks come from the load balancer over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Stripe's hosted pages our forms redirect to (303 after POST): Checkout for plans and
# credit packs, the Billing Portal for "Manage plan". A URL Stripe returns on another origin
# is refused with a message (the browser would block it under form-action anyway); a test
# points these at a local stand-in.
STRIPE_CHECKOUT_ORIGIN = env.str("STRIPE_CHECKOUT_ORIGIN", default="https://checkout.stripe.com")
STRIPE_BILLING_PORTAL_ORIGIN = env.str("STRIPE_BILLING_PORTAL_ORIGIN", default="https://billing.stripe.com")
# Where "Continue with Auth0" redirects; the origin form-action must allow on sign-in pages.
AUTH0_ORIGIN = env.str("AUTH0_ORIGIN", default=f"https://{AUTH0_DOMAIN}" if AUTH0_DOMAIN else "")

# Content Security Policy (django-csp 4): our own scripts and styles only; images may be
# blob:/data: (canvas previews) and come from the S3 endpoint when one is configured.
# Browsers send photos to the bucket (connect-src) and show media from it or from CloudFront.
_media_origins = (
    [AWS_S3_ENDPOINT_URL]
    if USE_S3 and AWS_S3_ENDPOINT_URL
    else [  # AWS: path-style and virtual-hosted URLs, regional and global (boto3 uses both)
        f"https://s3.{AWS_S3_REGION_NAME}.amazonaws.com",
        f"https://{AWS_STORAGE_BUCKET_NAME}.s3.{AWS_S3_REGION_NAME}.amazonaws.com",
        "https://s3.amazonaws.com",
        f"https://{AWS_STORAGE_BUCKET_NAME}.s3.amazonaws.com",
    ]
    if USE_S3
    else []
) + ([f"https://{MEDIA_CLOUDFRONT_DOMAIN}"] if MEDIA_CLOUDFRONT_DOMAIN else [])
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:", *_media_origins],
        "connect-src": ["'self'", *_media_origins],
        "worker-src": ["'self'"],
        "manifest-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        # form-action also governs where a form's POST may be redirected: the sign-in pages
        # post to social-auth, which redirects to Auth0. Stripe's origins are added only on the
        # pages whose forms lead there (credits.views.allow_stripe_redirects).
        "form-action": ["'self'", *([AUTH0_ORIGIN] if AUTH0_ORIGIN else [])],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- API ------------------------------------------------------------------------------

# Personal API tokens look like "rk_<prefix>_<secret>"; only a hash of the secret is stored.
API_TOKEN_PREFIX = "rk"  # noqa: S105 -- a public prefix, not a secret

# --- Logging --------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# JSON lines by default so log shippers can parse them; LOG_FORMAT=text for humans.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # "redact" keeps email addresses, tokens and secret parameters off every line (rekindle.logging).
    "filters": {
        "context": {"()": "rekindle.logging.ContextFilter"},
        "redact": {"()": "rekindle.logging.RedactFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s"
            " %(task_id)s %(worker)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}

# --- Payments -------------------------------------------------------------------------

# dj-stripe keys; Stripe is switched off (billing pages say so) unless a secret key is set.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_ENABLED = bool(STRIPE_SECRET_KEY)
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
# Webhook secrets live on dj-stripe's WebhookEndpoint rows (admin → dj-stripe → Webhook
# endpoints), each with its own URL /stripe/webhook/<uuid>/; dj-stripe 2.11 ignores a global one.
# dj-stripe's migrations with a squash of 0001–0003 beside them: a new database gets dj-stripe's
# schema in seconds instead of ~80 s of migration-state rendering (rekindle/djstripe_migrations).
MIGRATION_MODULES = {"djstripe": "rekindle.djstripe_migrations"}

# Static files come straight from static/ while developing (no collectstatic needed).
WHITENOISE_USE_FINDERS = LOCAL_DEFAULTS
WHITENOISE_AUTOREFRESH = DEBUG

# --- Processing engines ---------------------------------------------------------------

# Which engine runs jobs: "local" (classical OpenCV, no GPU: the embedded default) or "runpod".
ENGINE = env.str("ENGINE", default="local")
# RunPod credentials and our serverless endpoint (processing/runpod_worker); empty = not set up.
RUNPOD_API_KEY = env.str("RUNPOD_API_KEY", default="")
RUNPOD_ENDPOINT_ID = env.str("RUNPOD_ENDPOINT_ID", default="")
# Animation's own endpoint (workers with REKINDLE_MODEL_BACKEND=wan); empty: RUNPOD_ENDPOINT_ID's.
RUNPOD_VIDEO_ENDPOINT_ID = env.str("RUNPOD_VIDEO_ENDPOINT_ID", default="")
# Where the runpod SDK sends requests; set it to the local RunPod-compatible server in tests.
RUNPOD_ENDPOINT_BASE_URL = env.str("RUNPOD_ENDPOINT_BASE_URL", default="https://api.runpod.ai/v2")
# Dollars per billed GPU-second (RunPod serverless flex, 80 GB H100 class) for job costs.
RUNPOD_GPU_RATE_PER_SECOND = env.float("RUNPOD_GPU_RATE_PER_SECOND", default=0.00116)

# --- Photos ---------------------------------------------------------------------------

# Uploads per person per hour (photos and presigned slots), counted on the shared cache.
PHOTO_UPLOAD_RATE = env.str("PHOTO_UPLOAD_RATE", default="60/h")
# How long a presigned POST may be used, and when an upload never completed is removed.
PHOTO_PRESIGN_EXPIRES_S = 15 * 60
PHOTO_ABANDONED_AFTER_S = 24 * 60 * 60
CELERY_BEAT_SCHEDULE["photos-cleanup-abandoned"] = {
    "task": "photos.cleanup_abandoned",
    "schedule": 60 * 60,
}

# --- Credits --------------------------------------------------------------------------

# Stripe price ids per plan/interval and pack ("remember_month", "forever_year", "topup_30"…),
# from one JSON variable so test and live accounts differ only in configuration.
STRIPE_PRICE_IDS: dict[str, str] = env.json("STRIPE_PRICE_IDS", default={})
# Prices our pages show, in US cents, under the same names; keep them equal to Stripe's prices.
CREDITS_PRICES_CENTS: dict[str, int] = env.json(
    "CREDITS_PRICES_CENTS",
    default={
        "remember_month": 999, "remember_year": 9588, "cherish_month": 1999, "cherish_year": 19188,
        "forever_month": 3999, "forever_year": 38388, "topup_10": 499, "topup_30": 1299, "topup_100": 3999,
    },
)  # fmt: skip
# Free members get their monthly credits on each sign-up anniversary; checked daily.
CELERY_BEAT_SCHEDULE["credits-grant-free-months"] = {
    "task": "credits.grant_free_months",
    "schedule": 60 * 60 * 24,
}

# --- Social auth ----------------------------------------------------------------------

# social-auth re-raises its errors when DEBUG is on; we always want the person sent back to
# the sign-in page with the reason (SOCIAL_AUTH_LOGIN_ERROR_URL), in development too.
SOCIAL_AUTH_RAISE_EXCEPTIONS = False

# --- Jobs -----------------------------------------------------------------------------

# Size caps (long side, short side): free jobs at 480p, paid jobs at 720p.
JOB_SIZE_CAP_FREE = (854, 480)
JOB_SIZE_CAP_PAID = (1280, 720)
JOB_HINTS_MAX_LENGTH = 200
# Daily engine spend per tier group in USD (defaults; staff edit them in the admin).
DAILY_SPEND_LIMITS = {"free": "50", "paid": "500"}
# A remote engine job is abandoned (and retried) after this long; polling backs off to 10 s.
JOB_ENGINE_MAX_WAIT_S = env.int("JOB_ENGINE_MAX_WAIT_S", default=30 * 60)
JOB_POLL_INTERVAL_S = 1.0
JOB_POLL_INTERVAL_MAX_S = 10.0
# A result that fails the quality check is made again once, then the job fails (refunded).
JOB_QUALITY_RETRIES = 1
# Animation (kind "animate"): how many frames at how many frames a second every engine makes
# (about 5 s; Wan 2.2 wants 4k+1 frames). The quality check expects exactly this many.
VIDEO_FRAMES = env.int("VIDEO_FRAMES", default=81)
VIDEO_FPS = env.int("VIDEO_FPS", default=16)
# Transient engine errors (timeouts, 429, 5xx) are retried this often with backoff + jitter.
JOB_TRANSIENT_RETRIES = 5
JOB_RETRY_BASE_S = 2.0
# Worker liveness (docs/operations.md, "Worker loss and deploys"): a worker refreshes the heartbeat of each
# job it holds (running, or taken from the broker and not started yet) every JOB_HEARTBEAT_S;
# the sweeper re-sends a job whose heartbeat is older than JOB_HEARTBEAT_STALE_S. Lower means
# faster recovery from a dead worker, but a live worker stalled longer than that (a frozen VM,
# a database outage) loses the job to another worker and its own run is thrown away.
JOB_HEARTBEAT_S = env.float("JOB_HEARTBEAT_S", default=5.0)
JOB_HEARTBEAT_STALE_S = env.float("JOB_HEARTBEAT_STALE_S", default=45.0)
# How often the sweeper runs (beat, and each worker's main process): a dead worker's job runs
# again within about the stale limit + this, plus its wait in the queue.
JOB_SWEEP_INTERVAL_S = env.float("JOB_SWEEP_INTERVAL_S", default=15.0)
# On SIGTERM a worker hands back at once what it has not started and its RunPod jobs (with their
# RunPod id), lets local jobs finish for this long, then hands back the rest and stops. Keep it
# under the platform's stop timeout (Docker: stop_grace_period, 10 s unless set; ours is 40 s).
JOB_SHUTDOWN_GRACE_S = env.float("JOB_SHUTDOWN_GRACE_S", default=20.0)
# Lost messages (no worker ever took the job, so there is no heartbeat): the sweeper re-sends
# jobs with no progress for this long; running jobs get longer than the engine's own limit
# (this also catches a hung engine whose worker still beats). After this many starts, a job fails.
JOB_QUEUED_STALE_S = env.int("JOB_QUEUED_STALE_S", default=10 * 60)
JOB_RUNNING_STALE_S = JOB_ENGINE_MAX_WAIT_S + 10 * 60
JOB_MAX_ATTEMPTS = 5
THUMBNAIL_SIZE = 320
# On the priority queue, so it never waits behind a line of free jobs; a sweep not run within
# its interval is dropped (the next one comes). Workers' main processes also sweep on this
# interval (processing/worker.py), so a fleet whose pool slots are all busy still recovers.
CELERY_BEAT_SCHEDULE["processing-job-sweep"] = {
    "task": "processing.job_sweep",
    "schedule": JOB_SWEEP_INTERVAL_S,
    "options": {"queue": "priority", "expires": JOB_SWEEP_INTERVAL_S},
}
# Share links last a week unless the owner chooses otherwise (1–30 days).
SHARE_LINK_DAYS = 7
# A share page's preview picture (/s/<token>/preview.jpg, for messengers' link cards) sends
# the crawler to a media URL this short-lived, so a revoked link's picture is soon gone too.
SHARE_PREVIEW_URL_MAX_AGE = env.int("SHARE_PREVIEW_URL_MAX_AGE", default=5 * 60)
# Reports (share page and library) per address: enough for real use, too few to flood moderation.
REPORT_RATE = env.str("REPORT_RATE", default="10/h")
# A QR hand-off link works for ten minutes, for the first phone that opens it.
HANDOFF_TTL_S = 10 * 60

# --- Credits: Stripe billing ------------------------------------------------------------

# Annual plans grant each month's credits as the month starts; checked daily (idempotent).
CELERY_BEAT_SCHEDULE["credits-grant-annual-months"] = {
    "task": "credits.grant_annual_months",
    "schedule": 60 * 60 * 24,
}

# --- Accounts: GDPR data export and account deletion --------------------------------------

# A "download my data" zip can be downloaded for this many days; then the file is deleted.
DATA_EXPORT_DAYS = env.int("DATA_EXPORT_DAYS", default=7)
# At most one new export an hour per person: building one reads every photo and result.
DATA_EXPORT_INTERVAL_S = env.int("DATA_EXPORT_INTERVAL_S", default=60 * 60)
# An export still "being prepared" after this long has lost its task: it is marked failed.
DATA_EXPORT_STALE_S = 6 * 60 * 60
# Expired exports' files and rows go hourly (the download view refuses them at once anyway).
CELERY_BEAT_SCHEDULE["accounts-data-export-cleanup"] = {
    "task": "accounts.data_export_cleanup",
    "schedule": 60 * 60,
}
