"""The conformance suite's setup: the local cloud's facts, *.localhost resolved to 127.0.0.1,
and clients of both official SDKs (oss2, alibabacloud-oss-v2) for any key, V1 or V4.

The suite runs against a running local cloud (scripts/oss-conformance starts one when none
answers): CRR_LOCAL_DIR (default .local) holds its cloud.env.
"""

import json
import os
import socket
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

_original_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    # Names under .localhost are loopback (RFC 6761); this machine's resolver does not say so.
    if isinstance(host, str) and (host == "localhost" or host.endswith(".localhost")):
        host = "127.0.0.1"
    return _original_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo

import oss2  # noqa: E402
import alibabacloud_oss_v2 as ossv2  # noqa: E402


def _cloud_env():
    local_dir = Path(os.environ.get("CRR_LOCAL_DIR", ROOT / ".local"))
    path = local_dir / "cloud.env"
    if not path.exists():
        pytest.exit(f"{path} is missing: start the local cloud (scripts/local-cloud up) or run scripts/oss-conformance", 2)
    env = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    if "LOCAL_OSS_ENDPOINT" not in env:
        pytest.exit(f"{path} has no LOCAL_OSS_ENDPOINT: the local cloud predates the local OSS server; run scripts/local-cloud up", 2)
    env["LOCAL_DIR"] = str(local_dir)
    return env


class Keys:
    def __init__(self, key_id, secret, token=None, account=None):
        self.id, self.secret, self.token, self.account = key_id, secret, token, account

    def with_secret(self, secret):
        return Keys(self.id, secret, self.token, self.account)

    def with_token(self, token):
        return Keys(self.id, self.secret, token, self.account)


class Cloud:
    """The local cloud's facts and client factories."""

    def __init__(self, env):
        self.env = env
        self.endpoint = env["LOCAL_OSS_ENDPOINT"]
        self.region = env["LOCAL_OSS_REGION"]
        self.host = env["LOCAL_OSS_HOST"]
        self.src_account, self.dst_account = env["LOCAL_SRC_ACCOUNT"], env["LOCAL_DST_ACCOUNT"]
        self.src_root = Keys(env["LOCAL_SRC_ADMIN_KEY_ID"], env["LOCAL_SRC_ADMIN_SECRET"], account=self.src_account)
        self.dst_root = Keys(env["LOCAL_DST_ADMIN_KEY_ID"], env["LOCAL_DST_ADMIN_SECRET"], account=self.dst_account)
        self.function = Keys(env["LOCAL_FN_KEY_ID"], env["LOCAL_FN_SECRET"], account=self.src_account)
        self.sts_endpoint = env["LOCAL_ALIBABA_STS_ENDPOINT"]
        self.local_dir = Path(env["LOCAL_DIR"])

    def oss2(self, keys, bucket, v4=False, **kwargs):
        """An oss2 Bucket (V1 by default, V4 with v4=True), CRC checks on."""
        if v4:
            if keys.token:
                auth = oss2.StsAuth(keys.id, keys.secret, keys.token, auth_version=oss2.AUTH_VERSION_4)
            else:
                auth = oss2.AuthV4(keys.id, keys.secret)
            return oss2.Bucket(auth, self.endpoint, bucket, region=self.region, enable_crc=True, **kwargs)
        auth = oss2.StsAuth(keys.id, keys.secret, keys.token) if keys.token else oss2.Auth(keys.id, keys.secret)
        return oss2.Bucket(auth, self.endpoint, bucket, enable_crc=True, **kwargs)

    def oss2_service(self, keys, v4=False):
        auth = (oss2.AuthV4(keys.id, keys.secret) if v4 else oss2.Auth(keys.id, keys.secret))
        return oss2.Service(auth, self.endpoint, region=self.region if v4 else None)

    def v2(self, keys, **options):
        """An alibabacloud-oss-v2 Client (signature V4, CRC checks on by default)."""
        cfg = ossv2.config.load_default()
        cfg.credentials_provider = ossv2.credentials.StaticCredentialsProvider(keys.id, keys.secret, keys.token)
        cfg.region = self.region
        cfg.endpoint = self.endpoint
        for name, value in options.items():
            setattr(cfg, name, value)
        return ossv2.Client(cfg)

    def assume_role(self, keys, role_arn, session="conformance"):
        """Credentials from the local Alibaba STS, asked with aliyun-python-sdk-core."""
        from aliyunsdkcore.client import AcsClient
        from aliyunsdkcore.request import CommonRequest

        client = AcsClient(keys.id, keys.secret, "cn-local")
        request = CommonRequest(domain=self.sts_endpoint.split("://", 1)[1], version="2015-04-01", action_name="AssumeRole")
        request.set_protocol_type("http")
        request.set_method("POST")
        request.add_query_param("RoleArn", role_arn)
        request.add_query_param("RoleSessionName", session)
        out = json.loads(client.do_action_with_exception(request))
        c = out["Credentials"]
        return Keys(c["AccessKeyId"], c["AccessKeySecret"], c["SecurityToken"], account=role_arn.split(":")[3])


@pytest.fixture(scope="session")
def cloud():
    return Cloud(_cloud_env())


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def bucket(cloud):
    """A fresh bucket of the source account (root key); its name."""
    name = unique("conf")
    cloud.oss2(cloud.src_root, name).create_bucket()
    return name


@pytest.fixture(params=["oss2-v1", "oss2-v4", "v2"])
def sdk(request):
    return request.param
