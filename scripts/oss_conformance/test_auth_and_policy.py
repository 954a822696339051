"""Authentication (V1, V4, presigned URLs, clocks, STS tokens) and authorization: RAM identity
policies and the seed's cross-account topology, with both official SDKs."""

import datetime
import json
import time
import uuid

import pytest
import requests
import oss2
import alibabacloud_oss_v2 as ossv2

from conftest import Keys, unique
from helpers import oss_error


def test_wrong_secret_and_unknown_key(cloud, bucket):
    wrong = cloud.src_root.with_secret("not-the-secret")
    for v4 in (False, True):
        with oss_error(403, "SignatureDoesNotMatch"):
            cloud.oss2(wrong, bucket, v4=v4).put_object("k", b"x")
        with oss_error(403, "InvalidAccessKeyId"):
            cloud.oss2(Keys("LTAInosuchkey", "s"), bucket, v4=v4).get_object("k")
    with oss_error(403, "SignatureDoesNotMatch"):
        cloud.v2(wrong).put_object(ossv2.PutObjectRequest(bucket=bucket, key="k", body=b"x"))
    with oss_error(403, "InvalidAccessKeyId"):
        cloud.v2(Keys("LTAInosuchkey", "s")).get_object(ossv2.GetObjectRequest(bucket=bucket, key="k"))


def test_anonymous_and_path_style_are_refused(cloud, bucket):
    r = requests.get(f"http://{bucket}.{cloud.host}:{cloud.endpoint.rsplit(':', 1)[1]}/k")
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text and r.headers["x-oss-request-id"]
    c = cloud.v2(cloud.src_root, use_path_style=True)
    with oss_error(403, "SecondLevelDomainForbidden"):
        c.get_object(ossv2.GetObjectRequest(bucket=bucket, key="k"))


def test_presigned_urls(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    b.put_object("p", b"presigned")
    url = b.sign_url("GET", "p", 60)
    assert requests.get(url).content == b"presigned"
    expired = b.sign_url("GET", "p", -10)
    r = requests.get(expired)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    put_url = cloud.oss2(cloud.src_root, bucket, v4=True).sign_url("PUT", "q", 60)
    assert requests.put(put_url, data=b"via v4").status_code == 200
    assert b.get_object("q").read() == b"via v4"
    c = cloud.v2(cloud.src_root)
    signed = c.presign(ossv2.GetObjectRequest(bucket=bucket, key="q"))
    assert requests.get(signed.url).content == b"via v4"
    assert requests.get(signed.url.replace("x-oss-signature=", "x-oss-signature=0")).status_code == 403


def test_skewed_clock_is_refused(cloud, bucket, monkeypatch):
    b = cloud.oss2(cloud.src_root, bucket)
    b.put_object("t", b"x")
    monkeypatch.setattr(oss2.auth.utils, "http_date", lambda timeval=None: oss2.utils.formatdate(time.time() - 3600, usegmt=True))
    with oss_error(403, "RequestTimeTooSkewed"):
        b.get_object("t")
    monkeypatch.undo()
    # V4: sign with the official signer at a time 20 minutes off, then send.
    from alibabacloud_oss_v2.signer import SignerV4
    from alibabacloud_oss_v2.types import Credentials, HttpRequest, SigningContext

    url = f"http://{bucket}.{cloud.host}:{cloud.endpoint.rsplit(':', 1)[1]}/t"
    req = HttpRequest("GET", url)
    ctx = SigningContext(product="oss", region=cloud.region, bucket=bucket, key="t", request=req,
                         credentials=Credentials(cloud.src_root.id, cloud.src_root.secret),
                         signing_time=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20))
    SignerV4().sign(ctx)
    r = requests.get(url, headers=dict(req.headers))
    assert r.status_code == 403 and "<Code>RequestTimeTooSkewed</Code>" in r.text


def test_sts_tokens(cloud):
    role_arn = cloud.env["LOCAL_OSS_ROLE_ARN"]
    src = cloud.env["LOCAL_OSS_SRC_BUCKET"]
    cloud.oss2(cloud.src_root, src).put_object("sts/readme", b"hi")
    creds = cloud.assume_role(cloud.function, role_arn)
    for v4 in (False, True):
        assert cloud.oss2(creds, src, v4=v4).get_object("sts/readme").read() == b"hi"
    assert cloud.v2(creds).get_object(ossv2.GetObjectRequest(bucket=src, key="sts/readme")).body.read() == b"hi"
    forged = creds.with_token(creds.token[:-4] + "AAAA")
    with oss_error(403, "InvalidSecurityToken"):
        cloud.oss2(forged, src).get_object("sts/readme")
    with oss_error(403, "InvalidAccessKeyId"):
        cloud.oss2(Keys(creds.id, creds.secret), src).get_object("sts/readme")  # a session key needs its token
    # A session whose expiry has passed, recorded as the local Alibaba STS records sessions.
    from alibaba_sts import record_session

    old = Keys("STS.expired" + uuid.uuid4().hex[:8], "expired-secret", "expired-token-" + uuid.uuid4().hex)
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    record_session(str(cloud.local_dir / "alibaba-sts-sessions.json"), old.id, old.secret, old.token, role_arn,
                   cloud.src_account, role_arn.rsplit("/", 1)[1], "expired", past)
    with oss_error(403, "SecurityTokenExpired"):
        cloud.oss2(old, src).get_object("sts/readme")
    with oss_error(403, "SecurityTokenExpired"):
        cloud.v2(old).get_object(ossv2.GetObjectRequest(bucket=src, key="sts/readme"))


def test_ram_identity_policies(cloud):
    """The function user may read the source bucket and nothing else; the role likewise."""
    src, dst = cloud.env["LOCAL_OSS_SRC_BUCKET"], cloud.env["LOCAL_OSS_DST_BUCKET"]
    cloud.oss2(cloud.src_root, src).put_object("ram/obj", b"data")
    fn = cloud.oss2(cloud.function, src)
    assert fn.get_object("ram/obj").read() == b"data"
    assert "ram/obj" in [o.key for o in fn.list_objects_v2(prefix="ram/").object_list]
    with oss_error(403, "AccessDenied"):
        fn.put_object("ram/new", b"x")
    with oss_error(403, "AccessDenied"):
        fn.delete_object("ram/obj")
    with oss_error(403, "AccessDenied"):
        cloud.oss2(cloud.function, dst).get_object("anything")
    with oss_error(403, "AccessDenied"):
        cloud.oss2(cloud.dst_root, src).get_object("ram/obj")  # another account, no bucket policy
    role = cloud.assume_role(cloud.function, cloud.env["LOCAL_OSS_ROLE_ARN"])
    with oss_error(403, "AccessDenied"):
        cloud.oss2(role, src, v4=True).put_object("ram/new", b"x")


def grant_policy(cloud, dst, principal, deny=None):
    statements = [{
        "Effect": "Allow",
        "Action": ["oss:PutObject", "oss:GetObject", "oss:DeleteObject", "oss:ListObjects", "oss:AbortMultipartUpload",
                   "oss:ListParts", "oss:PutObjectTagging", "oss:GetObjectTagging"],
        "Principal": [principal],
        "Resource": [f"acs:oss:*:{cloud.dst_account}:{dst}", f"acs:oss:*:{cloud.dst_account}:{dst}/*"],
    }]
    if deny:
        statements.append({"Effect": "Deny", "Action": ["oss:DeleteObject"], "Principal": [principal],
                           "Resource": [f"acs:oss:*:{cloud.dst_account}:{dst}/{deny}"]})
    return json.dumps({"Version": "1", "Statement": statements})


def test_seed_cross_account_topology(cloud):
    """The seed: the role in the source account writes the destination bucket of another
    account only when the destination bucket policy grants it, by its lower-case name."""
    dst = unique("conf-dst")
    admin = cloud.oss2(cloud.dst_root, dst)
    admin.create_bucket()
    role_arn = cloud.env["LOCAL_OSS_ROLE_ARN"]
    role_name = role_arn.rsplit("/", 1)[1]
    role = cloud.assume_role(cloud.function, role_arn, session="seed")
    as_role = cloud.oss2(role, dst, v4=True)
    with oss_error(403, "AccessDenied"):
        as_role.put_object("replica", b"r")
    admin.put_bucket_policy(grant_policy(cloud, dst, f"arn:sts::{cloud.src_account}:assumed-role/{role_name}/*", deny="keep/*"))
    as_role.put_object("replica", b"r", headers={"x-oss-tagging": "a=b"})
    assert admin.get_object("replica").read() == b"r"
    v2 = cloud.v2(role)
    v2.put_object(ossv2.PutObjectRequest(bucket=dst, key="keep/x", body=b"k"))
    with oss_error(403, "AccessDenied"):
        v2.delete_object(ossv2.DeleteObjectRequest(bucket=dst, key="keep/x"))  # explicit Deny wins
    v2.delete_object(ossv2.DeleteObjectRequest(bucket=dst, key="replica"))
    with oss_error(403, "AccessDenied"):
        as_role.put_bucket_policy(grant_policy(cloud, dst, "*"))  # not granted
    with oss_error(403, "AccessDenied"):
        cloud.oss2(cloud.function, dst).put_object("x", b"x")  # the policy names the role, not the user
    other_session = cloud.assume_role(cloud.function, role_arn, session="other")
    cloud.oss2(other_session, dst).put_object("any-session", b"x")  # .../role/* matches every session


@pytest.fixture
def upper_case_role(cloud):
    """A role in the source account whose name has upper-case letters (as the seed's example
    AliyunOssDrsRole), with no RAM permissions of its own; assumable by the source admin."""
    import boto3

    name = "CrrOssReplicator" + uuid.uuid4().hex[:6]
    iam = boto3.client("iam", endpoint_url=cloud.env["LOCAL_ENDPOINT"], region_name=cloud.env["LOCAL_REGION"],
                       aws_access_key_id=cloud.src_root.id, aws_secret_access_key=cloud.src_root.secret)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": f"arn:aws:iam::{cloud.src_account}:user/crr-admin"}}]}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    yield name
    iam.delete_role(RoleName=name)


def test_upper_case_role_name_in_principal_never_matches(cloud, upper_case_role):
    dst = unique("conf-dst")
    admin = cloud.oss2(cloud.dst_root, dst)
    admin.create_bucket()
    role = cloud.assume_role(cloud.src_root, f"acs:ram::{cloud.src_account}:role/{upper_case_role}", session="upper")
    as_role = cloud.oss2(role, dst, v4=True)
    # OSS accepts the policy as written, but a session's principal carries the role name in
    # lower case: the mis-cased grant matches nothing and the write is refused.
    admin.put_bucket_policy(grant_policy(cloud, dst, f"arn:sts::{cloud.src_account}:assumed-role/{upper_case_role}/*"))
    with oss_error(403, "AccessDenied"):
        as_role.put_object("replica", b"r")
    admin.put_bucket_policy(grant_policy(cloud, dst, f"arn:sts::{cloud.src_account}:assumed-role/{upper_case_role.lower()}/*"))
    as_role.put_object("replica", b"r")
    assert admin.get_object("replica").read() == b"r"


def test_account_principal_and_wildcard(cloud):
    dst = unique("conf-dst")
    admin = cloud.oss2(cloud.dst_root, dst)
    admin.create_bucket()
    admin.put_object("shared", b"s")
    other = cloud.oss2(cloud.src_root, dst)
    with oss_error(403, "AccessDenied"):
        other.get_object("shared")
    admin.put_bucket_policy(json.dumps({"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": ["oss:GetObject"], "Principal": [cloud.src_account],
        "Resource": [f"acs:oss:*:{cloud.dst_account}:{dst}/*"]}]}))
    assert other.get_object("shared").read() == b"s"
    with oss_error(403, "AccessDenied"):
        other.put_object("shared", b"no")
    admin.put_bucket_policy(json.dumps({"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": ["oss:GetObject"], "Principal": ["*"],
        "Resource": [f"acs:oss:*:{cloud.dst_account}:{dst}/*"]}]}))
    url = f"http://{dst}.{cloud.host}:{cloud.endpoint.rsplit(':', 1)[1]}/shared"
    assert requests.get(url).content == b"s", "Principal * admits anonymous readers"
