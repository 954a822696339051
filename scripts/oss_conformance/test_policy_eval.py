"""Table tests of the local OSS server's policy evaluator (scripts/oss_local/policy.py), with
cases from Alibaba Cloud's documentation of RAM policies and OSS bucket policies. They need
no server."""

import pytest

from oss_local import policy as pol
from oss_local.identity import Caller

SRC, DST = "111111111111", "222222222222"


def role(account=SRC, name="crr-oss-replicator", session="s1", policies=()):
    return Caller("role", account=account, name=name, session=session, policies=list(policies))


def user(account=SRC, name="alice", policies=(), user_id="2000001"):
    return Caller("user", account=account, name=name, user_id=user_id, policies=list(policies))


def obj(bucket, key, owner=DST):
    return pol.resource_arn("cn-local", owner, bucket, key)


# The seed's destination bucket policy ("Besides the graphical interface ... JSON policy").
SEED_BUCKET_POLICY = {
    "Version": "1",
    "Statement": [{
        "Effect": "Allow",
        "Action": ["oss:ReplicateList", "oss:ReplicateGet", "oss:ReplicatePut", "oss:ReplicateDelete"],
        "Principal": [f"arn:sts::{SRC}:assumed-role/aliyunossdrsrole/*"],
        "Resource": [f"acs:oss:*:{DST}:dst-bucket", f"acs:oss:*:{DST}:dst-bucket/*"],
    }],
}

# The seed's source role policy (step 1).
SEED_ROLE_POLICY = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": ["oss:ReplicateList", "oss:ReplicateGet"],
                   "Resource": ["acs:oss:*:*:src-bucket", "acs:oss:*:*:src-bucket/*"]}],
}

READ_ONLY = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["oss:Get*", "oss:List*"],
                                            "Resource": ["acs:oss:*:*:mybucket", "acs:oss:*:*:mybucket/*"]}]}
DENY_DELETE = {"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": "oss:*", "Resource": "acs:oss:*:*:mybucket/*"},
    {"Effect": "Deny", "Action": "oss:DeleteObject", "Resource": "acs:oss:*:*:mybucket/logs/*"}]}
NOT_ACTION = {"Version": "1", "Statement": [{"Effect": "Allow", "NotAction": "oss:Delete*", "Resource": "*"}]}
FROM_NETWORK = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:GetObject", "Resource": "acs:oss:*:*:mybucket/*",
                                               "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}}]}
PREFIX_ONLY = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:ListObjects", "Resource": "acs:oss:*:*:mybucket",
                                              "Condition": {"StringLike": {"oss:Prefix": ["dir/*"]}}}]}


@pytest.mark.parametrize("caller,owner,bucket_policy,action,resource,context,allowed", [
    # The seed: the lower-case role principal grants the role's sessions, any session name.
    (role(name="AliyunOssDrsRole"), DST, SEED_BUCKET_POLICY, "oss:ReplicatePut", obj("dst-bucket", "a"), {}, True),
    (role(name="aliyunossdrsrole", session="other"), DST, SEED_BUCKET_POLICY, "oss:ReplicateDelete", obj("dst-bucket", "a/b"), {}, True),
    (role(name="AliyunOssDrsRole"), DST, SEED_BUCKET_POLICY, "oss:ReplicateList", pol.resource_arn("cn-local", DST, "dst-bucket"), {}, True),
    # ... but not for other actions, other buckets, other accounts' roles or other roles.
    (role(name="AliyunOssDrsRole"), DST, SEED_BUCKET_POLICY, "oss:PutObject", obj("dst-bucket", "a"), {}, False),
    (role(name="AliyunOssDrsRole"), DST, SEED_BUCKET_POLICY, "oss:ReplicatePut", obj("other-bucket", "a"), {}, False),
    (role(account="333333333333", name="AliyunOssDrsRole"), DST, SEED_BUCKET_POLICY, "oss:ReplicatePut", obj("dst-bucket", "a"), {}, False),
    (role(name="SomeOtherRole"), DST, SEED_BUCKET_POLICY, "oss:ReplicatePut", obj("dst-bucket", "a"), {}, False),
    # A role of another account is not helped by its own RAM policy without a bucket policy grant.
    (role(name="r", policies=[{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}]}]),
     DST, None, "oss:PutObject", obj("dst-bucket", "a"), {}, False),
    # Same account: the RAM policy decides.
    (role(policies=[SEED_ROLE_POLICY]), SRC, None, "oss:ReplicateGet", obj("src-bucket", "k", SRC), {}, True),
    (role(policies=[SEED_ROLE_POLICY]), SRC, None, "oss:GetObject", obj("src-bucket", "k", SRC), {}, False),
    (user(policies=[READ_ONLY]), SRC, None, "oss:GetObject", obj("mybucket", "x", SRC), {}, True),
    (user(policies=[READ_ONLY]), SRC, None, "oss:getobject", obj("mybucket", "x", SRC), {}, True),  # actions: any case
    (user(policies=[READ_ONLY]), SRC, None, "oss:ListObjects", pol.resource_arn("cn-local", SRC, "mybucket"), {}, True),
    (user(policies=[READ_ONLY]), SRC, None, "oss:PutObject", obj("mybucket", "x", SRC), {}, False),
    (user(policies=[READ_ONLY]), SRC, None, "oss:GetObject", obj("MyBucket", "x", SRC), {}, False),  # resources: exact case
    (user(policies=[DENY_DELETE]), SRC, None, "oss:DeleteObject", obj("mybucket", "logs/1", SRC), {}, False),  # Deny wins
    (user(policies=[DENY_DELETE]), SRC, None, "oss:DeleteObject", obj("mybucket", "data/1", SRC), {}, True),
    (user(policies=[NOT_ACTION]), SRC, None, "oss:PutObject", obj("b", "k", SRC), {}, True),
    (user(policies=[NOT_ACTION]), SRC, None, "oss:DeleteObject", obj("b", "k", SRC), {}, False),
    (user(policies=[FROM_NETWORK]), SRC, None, "oss:GetObject", obj("mybucket", "k", SRC), {"acs:SourceIp": "10.1.2.3"}, True),
    (user(policies=[FROM_NETWORK]), SRC, None, "oss:GetObject", obj("mybucket", "k", SRC), {"acs:SourceIp": "127.0.0.1"}, False),
    (user(policies=[PREFIX_ONLY]), SRC, None, "oss:ListObjects", pol.resource_arn("cn-local", SRC, "mybucket"), {"oss:Prefix": "dir/a"}, True),
    (user(policies=[PREFIX_ONLY]), SRC, None, "oss:ListObjects", pol.resource_arn("cn-local", SRC, "mybucket"), {"oss:Prefix": "etc/"}, False),
    (user(policies=[PREFIX_ONLY]), SRC, None, "oss:ListObjects", pol.resource_arn("cn-local", SRC, "mybucket"), {}, False),
    # The owner's root may do anything on its buckets; nobody else by default.
    (Caller("root", account=DST), DST, None, "oss:DeleteBucket", pol.resource_arn("cn-local", DST, "b"), {}, True),
    (Caller("root", account=SRC), DST, None, "oss:GetObject", obj("b", "k"), {}, False),
    (Caller("anonymous"), DST, None, "oss:GetObject", obj("b", "k"), {}, False),
])
def test_authorize(caller, owner, bucket_policy, action, resource, context, allowed):
    parsed = pol.parse(bucket_policy, bucket_policy=True) if bucket_policy else None
    ok, reason = pol.authorize(caller, owner, parsed, action, resource, context)
    assert ok == allowed, reason


def test_principal_star_without_condition_skips_the_owner():
    # OSS: Principal "*" without a Condition applies only to users other than the bucket owner.
    deny_all = pol.parse({"Version": "1", "Statement": [{"Effect": "Deny", "Action": "oss:*", "Principal": "*",
                                                         "Resource": "acs:oss:*:*:b/*"}]}, bucket_policy=True)
    owner_user = user(account=DST, policies=[{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}]}])
    assert pol.authorize(owner_user, DST, deny_all, "oss:GetObject", obj("b", "k"), {})[0]
    assert not pol.authorize(Caller("root", account=SRC), DST, deny_all, "oss:GetObject", obj("b", "k"), {})[0]
    with_condition = pol.parse({"Version": "1", "Statement": [{"Effect": "Deny", "Action": "oss:*", "Principal": "*",
                                                               "Resource": "acs:oss:*:*:b/*",
                                                               "Condition": {"Bool": {"acs:SecureTransport": ["false"]}}}]},
                               bucket_policy=True)
    assert not pol.authorize(owner_user, DST, with_condition, "oss:GetObject", obj("b", "k"), {"acs:SecureTransport": "false"})[0]


def test_ram_user_principal_is_its_id():
    grant = pol.parse({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:GetObject", "Principal": ["2000001"],
                                                      "Resource": "acs:oss:*:*:b/*"}]}, bucket_policy=True)
    assert pol.authorize(user(user_id="2000001"), DST, grant, "oss:GetObject", obj("b", "k"), {})[0]
    assert not pol.authorize(user(user_id="2000002"), DST, grant, "oss:GetObject", obj("b", "k"), {})[0]


@pytest.mark.parametrize("document,bucket_policy,problem", [
    ("{", False, "not valid JSON"),
    ({"Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}]}, False, "Version"),
    ({"Version": "1", "Statement": []}, False, "non-empty"),
    ({"Version": "1", "Statement": [{"Effect": "Permit", "Action": "oss:*", "Resource": "*"}]}, False, "Effect"),
    ({"Version": "1", "Statement": [{"Effect": "Allow", "Resource": "*"}]}, False, "Action"),
    ({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*", "NotAction": "oss:Get*", "Resource": "*"}]}, False, "exactly one"),
    ({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "GetObject", "Resource": "*"}]}, False, "service:Name"),
    ({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}]}, True, "Principal"),
    ({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*",
                                     "Condition": {"StringMatches": {"a": "b"}}}]}, False, "unknown operator"),
])
def test_parse_refuses(document, bucket_policy, problem):
    with pytest.raises(pol.PolicyError, match=problem):
        pol.parse(document, bucket_policy=bucket_policy)
