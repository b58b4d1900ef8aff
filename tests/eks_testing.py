"""The EKS-compatible service for tests: a real service in a thread on a free port with a temp data dir,
boto3 clients and the real `aws` CLI pointed at it as its admin user, with AWS config, credentials and
KUBECONFIG files of their own (never ~/.aws or ~/.kube). Use the fixture in a test module with

    from eks_testing import eks  # noqa: F401

Stopping the service stops every cluster it started."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.config import Config

from timoneiro.eks.server import EksServerThread

AWS = shutil.which("aws")


class EksService:
    def __init__(self, home: Path, region: str = "us-east-1") -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.server = EksServerThread(str(home / "data"), region=region)
        self.region = region
        self.kubeconfig = home / "kubeconfig"
        self.aws_config, self.aws_credentials = home / "aws-config", home / "aws-credentials"

    def start(self) -> EksService:
        # for sessions that read the config file rather than take arguments (awscli's own helpers)
        self.aws_config.write_text(f"[default]\nregion = {self.region}\nendpoint_url = {self.url}\n")
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> EksService:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def eks(self):
        return self.server.eks

    def client(self, service: str = "eks", access_key_id: str | None = None, secret: str | None = None,
               session_token: str | None = None, **config):
        """A boto3 client of the service as its admin (or with the keys given, and the session token of
        temporary ones); `config`: botocore Config options, e.g. retries={"max_attempts": 1}."""
        key = self.server.credentials
        session = botocore.session.Session()
        session.set_config_variable("config_file", str(self.aws_config))
        session.set_config_variable("credentials_file", str(self.aws_credentials))
        return boto3.session.Session(
            aws_access_key_id=access_key_id or key.principal.access_key_id,
            aws_secret_access_key=secret or key.secret_access_key, aws_session_token=session_token,
            region_name=self.region,
            botocore_session=session).client(service, endpoint_url=self.url, config=Config(**config))

    @property
    def env(self) -> dict[str, str]:
        """The environment the `aws` CLI (and kubectl's `aws eks get-token`) runs in: only our settings."""
        key = self.server.credentials
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "KUBECONFIG"}
        env.update(AWS_ACCESS_KEY_ID=key.principal.access_key_id, AWS_SECRET_ACCESS_KEY=key.secret_access_key,
                   AWS_DEFAULT_REGION=self.region, AWS_ENDPOINT_URL=self.url,
                   AWS_CONFIG_FILE=str(self.aws_config),
                   AWS_SHARED_CREDENTIALS_FILE=str(self.aws_credentials), AWS_EC2_METADATA_DISABLED="true",
                   KUBECONFIG=str(self.kubeconfig))
        return env

    def aws(self, *args: str, check: bool = True, timeout: float = 120, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
        """Run the real `aws` CLI (with `env` over the usual environment); check=True fails the test on a
        non-zero exit, with its output."""
        proc = subprocess.run([AWS, *args], capture_output=True, text=True, env={**self.env, **(env or {})},
                              timeout=timeout, cwd=self.home)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n"
                                 f"{proc.stderr}")
        return proc

    def aws_json(self, *args: str) -> dict:
        """`aws ... --output json`, decoded."""
        return json.loads(self.aws(*args, "--output", "json").stdout)


@pytest.fixture
def eks(tmp_path: Path) -> Iterator[EksService]:
    with EksService(tmp_path / "eks") as service:
        yield service
