"""S3 specifics: the storage backend for private media and the bucket's one-time set-up.

Imported only where S3 is used (settings name the backend; ``manage.py s3_setup``), so the
embedded default never loads boto3 for it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.storage import default_storage
from storages.backends.s3 import S3Storage

from photos.storage import sse_parameters


class PrivateS3Storage(S3Storage):
    """django-storages' S3 backend with encryption at rest on every write.

    Downloads (a ``ResponseContentDisposition`` override) stay S3 presigned GETs even behind
    CloudFront: S3 honours response overrides only on requests it signs itself, and a
    one-off download gains nothing from an edge cache.
    """

    def get_object_parameters(self, name: str) -> dict[str, str]:
        return {**super().get_object_parameters(name), **sse_parameters()}

    def url(
        self,
        name: str,
        parameters: dict[str, str] | None = None,
        expire: int | None = None,
        http_method: str | None = None,
    ) -> str:
        if self.custom_domain and parameters:
            return self.connection.meta.client.generate_presigned_url(
                "get_object",
                Params={**parameters, "Bucket": self.bucket_name, "Key": self._normalize_name(name)},
                ExpiresIn=expire or self.querystring_expire,
            )
        return super().url(name, parameters=parameters, expire=expire, http_method=http_method)


CORS_RULE_ID = "rekindle-uploads"


def _cors_rule() -> dict[str, Any]:
    """What browsers need to send photos to the bucket and read its answer (presigned POST,
    PUT for future multipart, GET for media), from the site's own origins only."""
    return {
        "ID": CORS_RULE_ID,
        "AllowedOrigins": list(settings.AWS_S3_CORS_ORIGINS),
        "AllowedMethods": ["POST", "PUT", "GET"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3600,
    }


def s3_bucket_setup() -> list[str]:
    """Set the bucket's CORS rule and default encryption; idempotent. Other CORS rules on the
    bucket are kept. Returns one line per change or finding, for ``manage.py s3_setup``."""
    client = default_storage.connection.meta.client
    bucket = settings.AWS_STORAGE_BUCKET_NAME
    report = []
    try:
        rules = client.get_bucket_cors(Bucket=bucket)["CORSRules"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchCORSConfiguration":
            raise
        rules = []
    ours = [r for r in rules if r.get("ID") == CORS_RULE_ID]
    wanted = _cors_rule()
    if ours == [wanted]:
        report.append(f"CORS: rule {CORS_RULE_ID} already allows {', '.join(wanted['AllowedOrigins'])}.")
    else:
        others = [r for r in rules if r.get("ID") != CORS_RULE_ID]
        client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [*others, wanted]})
        report.append(
            f"CORS: rule {CORS_RULE_ID} set: {', '.join(wanted['AllowedMethods'])} "
            f"from {', '.join(wanted['AllowedOrigins'])}, ETag exposed."
        )
    sse = sse_parameters()
    if not sse:
        report.append("Encryption: AWS_S3_SSE is off; bucket default encryption left as it is.")
        return report
    default = {"SSEAlgorithm": sse["ServerSideEncryption"]}
    if "SSEKMSKeyId" in sse:
        default["KMSMasterKeyID"] = sse["SSEKMSKeyId"]
    rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
    if default["SSEAlgorithm"] == "aws:kms":
        rule["BucketKeyEnabled"] = True  # one data key per bucket period: far fewer KMS calls
    try:
        current = client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        current = []
    if any(r.get("ApplyServerSideEncryptionByDefault") == default for r in current):
        report.append(f"Encryption: bucket default is already {default['SSEAlgorithm']}.")
        return report
    try:
        client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("NotImplemented", "MethodNotAllowed"):
            raise
        report.append(
            "Encryption: this store has no bucket default encryption; every write still asks for "
            f"{default['SSEAlgorithm']} itself."
        )
    else:
        report.append(f"Encryption: bucket default set to {default['SSEAlgorithm']}.")
    return report
