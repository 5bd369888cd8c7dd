"""A real S3 HTTP endpoint for the tests: moto in server mode on 127.0.0.1.

Used as a pytest plugin (``pytest_plugins = ["s3server"]`` in a test module).
``s3_endpoint`` starts one server per session; ``s3_bucket`` gives each test a
fresh, empty bucket and the AWS environment variables that botocore and s3fs
read, so subprocesses (``python -m dvx push``) reach the same server.

Without moto the S3 tests are skipped on a developer machine, but in CI (``CI``
set) the fixture fails instead: a build that silently skipped S3 would not have
tested the backend most teams use (restic's ``SkipDisallowed``).
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Anything from the developer's own AWS set-up that could redirect or re-sign requests.
AWS_ENV_UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
START_TIMEOUT = 60.0


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"S3 tests cannot run in CI: {why}", pytrace=False)
    pytest.skip(f"S3 tests need moto[server] and s3fs: {why}")


def _wait_until_answers(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                resp.read()
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the server is up
        except OSError as exc:
            last = exc
            time.sleep(0.1)
    raise RuntimeError(f"moto server at {url} did not answer within {timeout:.0f}s: {last}")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server on loopback, for the whole session."""
    try:
        import boto3  # noqa: F401
        import s3fs  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        _unavailable(str(exc))
    # Port 0: the OS picks a free port, so parallel sessions never collide.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        _wait_until_answers(url, START_TIMEOUT)
        yield url
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in AWS_ENV_UNSET:
        monkeypatch.delenv(var, raising=False)
    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)


@dataclass
class S3Bucket:
    endpoint: str
    name: str
    client: Any  # a boto3 S3 client, for looking behind dvx's back

    def keys(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        for page in pages:
            out += [o["Key"] for o in page.get("Contents", [])]
        return out

    def read(self, key: str) -> bytes:
        data: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return data

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)


@pytest.fixture
def s3_bucket(s3_endpoint: str, aws_env: None) -> Iterator[S3Bucket]:
    """A fresh, empty bucket on the session's server."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    name = f"dvx-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    yield S3Bucket(s3_endpoint, name, client)
    # Free the server's memory; a test that fails here has already reported.
    try:
        keys = S3Bucket(s3_endpoint, name, client).keys()
        for i in range(0, len(keys), 1000):
            client.delete_objects(
                Bucket=name, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]]}
            )
        client.delete_bucket(Bucket=name)
    except Exception:
        pass
