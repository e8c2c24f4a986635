"""Media through CloudFront: URLs are signed with our key pair and expire like S3's.

The key pair is made in the test; the signature is checked with its public half, as
CloudFront checks it with the public key in the distribution's key group.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from photos.storage import media_url

DOMAIN = "media.rekindle.example"


@pytest.fixture
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def cloudfront(settings, key):
    settings.USE_S3 = True
    settings.AWS_STORAGE_BUCKET_NAME = "rekindle-media"
    settings.AWS_S3_REGION_NAME = "eu-west-1"
    settings.AWS_ACCESS_KEY_ID = "AKIATEST"
    settings.AWS_SECRET_ACCESS_KEY = "secret"
    settings.AWS_S3_SIGNATURE_VERSION = "s3v4"
    settings.AWS_QUERYSTRING_AUTH = True
    settings.AWS_QUERYSTRING_EXPIRE = settings.MEDIA_URL_MAX_AGE
    settings.AWS_S3_CUSTOM_DOMAIN = DOMAIN
    settings.AWS_CLOUDFRONT_KEY_ID = "K2JCJMDEHXQW5F"
    settings.AWS_CLOUDFRONT_KEY = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "photos.s3.PrivateS3Storage"}}
    return settings


def _b64(value: str) -> bytes:
    """CloudFront's URL-safe base64: '-' for '+', '_' for '=', '~' for '/'."""
    return base64.b64decode(value.replace("-", "+").replace("_", "=").replace("~", "/"))


def _verify(url: str, public_key: rsa.RSAPublicKey) -> int:
    """Check a canned-policy signed URL as CloudFront does; return its expiry (epoch seconds)."""
    query = parse_qs(urlsplit(url).query)
    expires = int(query["Expires"][0])
    resource = url.split("?")[0]
    policy = json.dumps(
        {"Statement": [{"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}]},
        separators=(",", ":"),
    )
    public_key.verify(_b64(query["Signature"][0]), policy.encode(), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 -- CloudFront's scheme
    return expires


def test_media_urls_are_cloudfront_urls_signed_with_our_key_and_the_same_expiry(cloudfront, key):
    before = int(time.time())
    url = media_url("results/7/abc.jpg")
    assert url.startswith(f"https://{DOMAIN}/results/7/abc.jpg?")
    assert parse_qs(urlsplit(url).query)["Key-Pair-Id"] == ["K2JCJMDEHXQW5F"]
    expires = _verify(url, key.public_key())
    max_age = cloudfront.MEDIA_URL_MAX_AGE
    assert before + max_age - 5 <= expires <= int(time.time()) + max_age
    # a shorter-lived link (share previews) expires sooner
    short = media_url("results/7/abc.jpg", max_age=60)
    assert _verify(short, key.public_key()) <= int(time.time()) + 60


def test_a_tampered_or_foreign_signature_does_not_verify(cloudfront, key):
    url = media_url("results/7/abc.jpg")
    with pytest.raises(InvalidSignature):
        _verify(url.replace("results/7/", "results/8/"), key.public_key())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidSignature):
        _verify(url, other.public_key())


def test_downloads_stay_s3_presigned_so_the_file_name_override_is_honoured(cloudfront):
    url = media_url("results/7/abc.jpg", download_name="rekindle-7.jpg")
    parts = urlsplit(url)
    assert DOMAIN not in parts.netloc
    query = parse_qs(parts.query)
    assert query["response-content-disposition"] == ['attachment; filename="rekindle-7.jpg"']
    assert query["X-Amz-Expires"] == [str(cloudfront.MEDIA_URL_MAX_AGE)]
