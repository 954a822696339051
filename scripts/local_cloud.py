"""The local test cloud: moto server with two accounts and IAM enforcement, and a
local Alibaba Cloud STS endpoint in front of it.

Usage (through scripts/local-cloud):
    up                 start moto (if not running) and bootstrap the default setup, then
                       the local Alibaba STS endpoint (if not running)
    down               stop the moto, STS and seaweedfs processes this script started (by pid)
    status             say whether they run and where
    provision NAME     create an isolated source/destination setup named NAME
                       (used by tests so they do not share queues) and print it
    set-role-policy NAME [--without ACTION...] [--with ACTION...]
                       rewrite the replication role policy of setup NAME: the usual
                       one without the given actions, plus a statement allowing the
                       --with actions on the destination bucket and its objects
                       (used by tests of crr doctor; the destination admin keys do it)

Accounts: source 111111111111, destination 222222222222. Every request after the
bootstrap is signed with real keys and checked against IAM identity policies
(moto's INITIAL_NO_AUTH_ACTION_COUNT), so wrong credentials get AccessDenied.

A seaweedfs S3 server (port CRR_LOCAL_S3_PORT, default 4592, no authentication, its
data under .local/weed) serves the tests that need many objects fast, such as the
backfill tests; they take credentials from moto's STS and buckets on seaweedfs.

The local Alibaba STS endpoint (scripts/alibaba_sts.py, port CRR_LOCAL_STS_PORT, default
4591) serves AssumeRole for acs:ram::<uid>:role/<name>, checks the RPC signature with the
official Alibaba SDK and assumes the same-named role in moto with the caller's own key.
It knows the secrets of the keys recorded in .local/alibaba-sts-keys.json: every
setup's function user key, recorded when the setup is provisioned.

The local OSS server (scripts/oss_server.py, port CRR_LOCAL_OSS_PORT, default 4596, data under
.local/oss) serves the OSS REST API with virtual-hosted addressing:
http://<bucket>.oss-cn-local.localhost:<port> (names under .localhost are loopback; clients
map them to 127.0.0.1). It accepts the keys in .local/alibaba-sts-keys.json (each account's
admin key as that account's root identity, the function keys as RAM users), the security
tokens the local Alibaba STS issued (.local/alibaba-sts-sessions.json), and authorizes with
the identity policies of the RAM registry .local/oss-ram.json and each bucket's policy.

A setup named NAME ("default" gives the plain names) consists of:
  source account:      bucket crr-src[-NAME], SQS queue crr-src[-NAME]-events that
                       receives the bucket's ObjectCreated/ObjectRemoved notifications,
                       user crr-function[-NAME]: the functions' own identity, which may
                       read the source bucket and assume the replication role, nothing else
  destination account: bucket crr-dst[-NAME], role crr-replicator[-NAME] trusted by the
                       source account, allowed only what replication needs on that bucket
  on the local OSS server, the seed's topology (OSS CRR across accounts):
    source account:      OSS bucket crr-oss-src[-NAME], whose object events go, in the OSS trigger
                         format, to the SQS queue crr-oss-src[-NAME]-events (LOCAL_OSS_QUEUE_URL,
                         the notifications file .local/oss-notifications.json); RAM role
                         crr-oss-replicator[-NAME] (acs:ram::111111111111:role/..., assumable by
                         the function user through the local Alibaba STS) with the permission
                         policy `crr policy generate` prints for the setup's rule (action ALL);
                         the function user may read the source bucket
    destination account: OSS bucket crr-oss-dst[-NAME], without a bucket policy: writing it as
                         the role needs the seed's step 2 (a bucket policy granting
                         arn:sts::111111111111:assumed-role/crr-oss-replicator[-name]/*)
"""

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SRC_ACCOUNT = "111111111111"
DST_ACCOUNT = "222222222222"
REGION = "us-east-1"
DEFAULT_PORT = 4590
# Unauthenticated actions moto allows before enforcing IAM: exactly what
# bootstrap() spends. Everything after is signed and checked.
BOOTSTRAP_ACTIONS = 8

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("CRR_LOCAL_DIR", ROOT / ".local"))
PORT = int(os.environ.get("CRR_LOCAL_PORT", DEFAULT_PORT))
ENDPOINT = f"http://127.0.0.1:{PORT}"
PID_FILE = STATE / "moto.pid"
LOG_FILE = STATE / "moto.log"
ENV_FILE = STATE / "cloud.env"
ADMIN_FILE = STATE / "admin.json"

DEFAULT_STS_PORT = 4591
STS_PORT = int(os.environ.get("CRR_LOCAL_STS_PORT", DEFAULT_STS_PORT))
STS_ENDPOINT = f"http://127.0.0.1:{STS_PORT}"
STS_PID_FILE = STATE / "alibaba-sts.pid"
STS_LOG_FILE = STATE / "alibaba-sts.log"
# Access keys the local Alibaba STS accepts: {"keys": {id: {"secret", "user", "account", "setup"}}}
STS_KEYS_FILE = STATE / "alibaba-sts-keys.json"
STS_KEYS_LOCK = STATE / "alibaba-sts-keys.lock"
DEFAULT_S3_PORT = 4592
S3_PORT = int(os.environ.get("CRR_LOCAL_S3_PORT", DEFAULT_S3_PORT))
FAST_S3_ENDPOINT = f"http://127.0.0.1:{S3_PORT}"
WEED_PID_FILE = STATE / "weed.pid"
# Sessions the local Alibaba STS issued, which the local OSS server accepts (scripts/alibaba_sts.py).
STS_SESSIONS_FILE = STATE / "alibaba-sts-sessions.json"
DEFAULT_OSS_PORT = 4596
OSS_PORT = int(os.environ.get("CRR_LOCAL_OSS_PORT", DEFAULT_OSS_PORT))
OSS_REGION = "cn-local"
OSS_HOST = f"oss-{OSS_REGION}.localhost"  # buckets are <bucket>.OSS_HOST; .localhost is loopback
OSS_ENDPOINT = f"http://{OSS_HOST}:{OSS_PORT}"
OSS_PID_FILE = STATE / "oss.pid"
OSS_LOG_FILE = STATE / "oss.log"
OSS_DIR = STATE / "oss"
# The local RAM registry: identity policies of RAM users and roles, per account (see provision_oss).
RAM_FILE = STATE / "oss-ram.json"
RAM_LOCK = STATE / "oss-ram.lock"
# Which OSS buckets send their events to which SQS queues (see record_notifications).
NOTIFY_FILE = STATE / "oss-notifications.json"
NOTIFY_LOCK = STATE / "oss-notifications.lock"
# scripts/oss_server.py answers this path (with its data directory) so we know the port is ours.
OSS_HEALTH = ("/-/crr-local-oss", b"crr local OSS")
# What each server's command line contains, by pid file.
PROGRAM_MARKERS = {PID_FILE.name: b"moto", STS_PID_FILE.name: b"alibaba_sts", WEED_PID_FILE.name: b"weed",
                   OSS_PID_FILE.name: b"oss_server"}
WEED_LOG_FILE = STATE / "weed.log"
WEED_DIR = STATE / "weed"
# scripts/alibaba_sts.py answers this path so we know the port is ours.
STS_HEALTH = ("/-/crr-local-alibaba-sts", b"crr local Alibaba STS")


def client(service, keys, **extra):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys.get("SessionToken"),
        config=Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}),
        **extra,
    )


def server_alive():
    try:
        with urllib.request.urlopen(f"{ENDPOINT}/moto-api/", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def our_pid(pid_file=PID_FILE):
    """The pid in `pid_file` if that process is alive and still the server this script
    started there (a pid the system reused for another program is never ours to stop)."""
    marker = PROGRAM_MARKERS[pid_file.name]
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if marker in cmdline else None


def sts_alive():
    try:
        with urllib.request.urlopen(f"{STS_ENDPOINT}{STS_HEALTH[0]}", timeout=2) as r:
            return r.status == 200 and r.read() == STS_HEALTH[1]
    except (urllib.error.URLError, OSError):
        return False


def spawn(argv, pid_file, log_file, alive, what, hint, seconds=10):
    """Starts a server process in its own session, records its pid and waits until
    `alive()`; exits with the log's path (and `hint`) when it dies or stays silent."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    for _ in range(int(seconds / 0.05)):
        if proc.poll() is not None:
            sys.exit(f"{what} exited at start (code {proc.returncode}); see {log_file}; {hint}")
        if alive():
            return
        time.sleep(0.05)
    sys.exit(f"{what} did not answer within {seconds} s; see {log_file}")


def start_sts():
    """Starts the local Alibaba STS endpoint unless it already runs."""
    if sts_alive():
        return
    if our_pid(STS_PID_FILE) is not None:
        stop_pid(STS_PID_FILE)
    script = ROOT / "scripts" / "alibaba_sts.py"
    spawn(
        [sys.executable, str(script), "--port", str(STS_PORT), "--moto", ENDPOINT,
         "--keys", str(STS_KEYS_FILE), "--sessions", str(STS_SESSIONS_FILE), "--region", REGION],
        STS_PID_FILE, STS_LOG_FILE, sts_alive, f"the local Alibaba STS on {STS_ENDPOINT}",
        f"if port {STS_PORT} is taken, choose another with CRR_LOCAL_STS_PORT",
    )


def stop_pid(pid_file):
    """Stops the process whose pid the file holds; returns that pid, or None."""
    pid = our_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return None
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return pid


def record_sts_key(setup, user, account, key_id, secret, kind="user"):
    """Adds a key to the local STS keys file (merged; the user's older keys are dropped).
    kind "user" is a RAM user's key; kind "root" an account's own key, which the local OSS
    server takes as that account's root identity (owner of the buckets it creates)."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STS_KEYS_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            keys = json.loads(STS_KEYS_FILE.read_text()).get("keys", {})
        except (OSError, ValueError):
            keys = {}
        keys = {k: v for k, v in keys.items() if (v.get("account"), v.get("user")) != (account, user)}
        keys[key_id] = {"secret": secret, "user": user, "account": account, "setup": setup, "kind": kind}
        tmp = STS_KEYS_FILE.with_name(STS_KEYS_FILE.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"keys": keys}, indent=1))
        os.replace(tmp, STS_KEYS_FILE)


def start_server():
    STATE.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(BOOTSTRAP_ACTIONS))
    env.pop("MOTO_ACCOUNT_ID", None)  # it would pin every request to one account
    moto = Path(sys.executable).parent / "moto_server"
    with open(LOG_FILE, "ab") as log:
        proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(PORT)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    PID_FILE.write_text(str(proc.pid))
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit(f"moto exited at start (code {proc.returncode}); see {LOG_FILE}")
        if server_alive():
            return
        time.sleep(0.05)
    sys.exit(f"moto did not answer on {ENDPOINT} within 10 s; see {LOG_FILE}")


def admin_policy():
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )


def bootstrap():
    """Spends the unauthenticated actions on one admin user with keys per account."""
    anonymous = {"AccessKeyId": "bootstrap", "SecretAccessKey": "bootstrap"}
    admins = {}
    for name, account in (("source", SRC_ACCOUNT), ("destination", DST_ACCOUNT)):
        sts = client("sts", anonymous)
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/crr-bootstrap", RoleSessionName="crr-bootstrap"
        )["Credentials"]
        iam = client("iam", creds)
        iam.create_user(UserName="crr-admin")
        iam.put_user_policy(UserName="crr-admin", PolicyName="admin", PolicyDocument=admin_policy())
        key = iam.create_access_key(UserName="crr-admin")["AccessKey"]
        admins[name] = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
    ADMIN_FILE.write_text(json.dumps(admins))
    return admins


def load_admins():
    return json.loads(ADMIN_FILE.read_text())


def names(setup):
    suffix = "" if setup == "default" else f"-{setup}"
    return {
        "src_bucket": f"crr-src{suffix}",
        "dst_bucket": f"crr-dst{suffix}",
        "queue": f"crr-src{suffix}-events",
        "role": f"crr-replicator{suffix}",
        "function_user": f"crr-function{suffix}",
        "oss_src_bucket": f"crr-oss-src{suffix}",
        "oss_dst_bucket": f"crr-oss-dst{suffix}",
        "oss_role": f"crr-oss-replicator{suffix}",
        "oss_queue": f"crr-oss-src{suffix}-events",
    }


def replication_role_policy(dst_bucket):
    """What the replication role needs on the destination, and nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReplicaBucket",
                "Effect": "Allow",
                "Action": [
                    "s3:ListBucket",
                    "s3:ListBucketVersions",
                    "s3:ListBucketMultipartUploads",
                    "s3:GetBucketLocation",
                    "s3:GetBucketVersioning",
                ],
                "Resource": f"arn:aws:s3:::{dst_bucket}",
            },
            {
                # moto authorises a batch delete (POST ?delete) against the bucket ARN
                # before checking each key; AWS checks only the objects, so on AWS this
                # statement grants nothing.
                "Sid": "BatchDeleteOnMoto",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{dst_bucket}",
            },
            {
                "Sid": "ReplicaObjects",
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:GetObjectTagging",
                    "s3:PutObject",
                    "s3:PutObjectTagging",
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": f"arn:aws:s3:::{dst_bucket}/*",
            },
        ],
    }


def function_policy(src_bucket, role_arn, oss_role_arn=None):
    """The functions' own identity: read the source, assume the role(s). Nothing else.
    oss_role_arn: the seed's replication role in the source account (as a moto role, so the
    local Alibaba STS can issue its sessions)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadSourceBucket",
                "Effect": "Allow",
                "Action": [
                    "s3:ListBucket",
                    "s3:ListBucketVersions",
                    "s3:GetBucketLocation",
                    "s3:GetBucketVersioning",
                ],
                "Resource": f"arn:aws:s3:::{src_bucket}",
            },
            {
                "Sid": "ReadSourceObjects",
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:GetObjectTagging",
                    "s3:GetObjectVersionTagging",
                    "s3:GetObjectAttributes",
                ],
                "Resource": f"arn:aws:s3:::{src_bucket}/*",
            },
            {"Sid": "AssumeReplicationRole", "Effect": "Allow", "Action": "sts:AssumeRole",
             "Resource": [role_arn, oss_role_arn] if oss_role_arn else role_arn},
        ],
    }


def provision(setup, admins):
    """Creates (idempotently) one isolated source/destination setup; returns its facts."""
    n = names(setup)
    src, dst = admins["source"], admins["destination"]
    role_arn = f"arn:aws:iam::{DST_ACCOUNT}:role/{n['role']}"

    # Destination account: bucket and replication role.
    s3d, iamd = client("s3", dst), client("iam", dst)
    ensure(lambda: s3d.create_bucket(Bucket=n["dst_bucket"]), "BucketAlreadyOwnedByYou")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{SRC_ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    ensure(lambda: iamd.create_role(RoleName=n["role"], AssumeRolePolicyDocument=json.dumps(trust)), "EntityAlreadyExists")
    iamd.put_role_policy(
        RoleName=n["role"], PolicyName="replicate", PolicyDocument=json.dumps(replication_role_policy(n["dst_bucket"]))
    )

    # Source account: bucket, event queue, notifications, the functions' identity.
    s3s, sqs, iams = client("s3", src), client("sqs", src), client("iam", src)
    ensure(lambda: s3s.create_bucket(Bucket=n["src_bucket"]), "BucketAlreadyOwnedByYou")
    queue_url = sqs.create_queue(QueueName=n["queue"])["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{SRC_ACCOUNT}:{n['queue']}"
    s3s.put_bucket_notification_configuration(
        Bucket=n["src_bucket"],
        NotificationConfiguration={
            "QueueConfigurations": [
                {"Id": "crr-events", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
            ]
        },
    )
    # The seed's replication role lives in the source account; moto holds it so the local
    # Alibaba STS can issue its sessions (its OSS permissions are in the RAM registry).
    # moto checks a same-account trust policy and does not read "<account>:root" there, so
    # the trust names the function user and the account's admin.
    src_trust = json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam::{SRC_ACCOUNT}:user/{n['function_user']}",
                                  f"arn:aws:iam::{SRC_ACCOUNT}:user/crr-admin"]},
            "Action": "sts:AssumeRole",
        }],
    })
    ensure(lambda: iams.create_role(RoleName=n["oss_role"], AssumeRolePolicyDocument=src_trust), "EntityAlreadyExists")
    iams.update_assume_role_policy(RoleName=n["oss_role"], PolicyDocument=src_trust)
    ensure(lambda: iams.create_user(UserName=n["function_user"]), "EntityAlreadyExists")
    iams.put_user_policy(
        UserName=n["function_user"],
        PolicyName="replicate-source",
        PolicyDocument=json.dumps(function_policy(n["src_bucket"], role_arn, f"arn:aws:iam::{SRC_ACCOUNT}:role/{n['oss_role']}")),
    )
    # A fresh key each time; drop older ones so a user never exceeds IAM's two-key limit.
    for old in iams.list_access_keys(UserName=n["function_user"])["AccessKeyMetadata"]:
        iams.delete_access_key(UserName=n["function_user"], AccessKeyId=old["AccessKeyId"])
    fkey = iams.create_access_key(UserName=n["function_user"])["AccessKey"]
    record_sts_key(setup, n["function_user"], SRC_ACCOUNT, fkey["AccessKeyId"], fkey["SecretAccessKey"])
    record_sts_key("", "crr-admin", SRC_ACCOUNT, src["AccessKeyId"], src["SecretAccessKey"], kind="root")
    record_sts_key("", "crr-admin", DST_ACCOUNT, dst["AccessKeyId"], dst["SecretAccessKey"], kind="root")

    return {
        "LOCAL_ENDPOINT": ENDPOINT,
        "LOCAL_REGION": REGION,
        "LOCAL_SRC_ACCOUNT": SRC_ACCOUNT,
        "LOCAL_DST_ACCOUNT": DST_ACCOUNT,
        "LOCAL_SRC_BUCKET": n["src_bucket"],
        "LOCAL_DST_BUCKET": n["dst_bucket"],
        "LOCAL_QUEUE_URL": queue_url,
        "LOCAL_ROLE_ARN": role_arn,
        "LOCAL_SRC_ADMIN_KEY_ID": src["AccessKeyId"],
        "LOCAL_SRC_ADMIN_SECRET": src["SecretAccessKey"],
        "LOCAL_DST_ADMIN_KEY_ID": dst["AccessKeyId"],
        "LOCAL_DST_ADMIN_SECRET": dst["SecretAccessKey"],
        "LOCAL_FN_KEY_ID": fkey["AccessKeyId"],
        "LOCAL_FN_SECRET": fkey["SecretAccessKey"],
        "LOCAL_ALIBABA_STS_ENDPOINT": STS_ENDPOINT,
        "LOCAL_FAST_S3_ENDPOINT": FAST_S3_ENDPOINT,
    }


def oss_facts(setup, queue_url=None):
    """What the tests need to know of a setup's OSS side (the env file's LOCAL_OSS_* lines)."""
    n = names(setup)
    queue = {"LOCAL_OSS_QUEUE_URL": queue_url} if queue_url else {}
    return {
        **queue,
        "LOCAL_OSS_ENDPOINT": OSS_ENDPOINT,
        "LOCAL_OSS_HOST": OSS_HOST,
        "LOCAL_OSS_REGION": OSS_REGION,
        "LOCAL_OSS_SRC_BUCKET": n["oss_src_bucket"],
        "LOCAL_OSS_DST_BUCKET": n["oss_dst_bucket"],
        "LOCAL_OSS_ROLE_ARN": f"acs:ram::{SRC_ACCOUNT}:role/{n['oss_role']}",
    }


def oss_role_policy(src_bucket, dst_bucket):
    """The seed's step 1 for crr: the replication role's RAM policy, exactly what
    `crr policy generate --source-bucket SRC --source-account 111111111111 --dest-bucket DST
    --dest-account 222222222222 --role-arn acs:ram::111111111111:role/ROLE --action ALL` prints as
    its permission policy (tests/e2e/policy_apply.rs holds the two equal). The seed's
    oss:ReplicateList / oss:ReplicateGet are what OSS's own replication calls; crr calls the
    operations themselves: the role reads source objects for copies inside OSS (CopyObject and
    UploadPartCopy with x-oss-copy-source), and writes the destination, where the bucket policy
    (step 2) must grant the same, since the bucket is in another account."""
    src, dst = f"acs:oss:*:{SRC_ACCOUNT}:{src_bucket}", f"acs:oss:*:{DST_ACCOUNT}:{dst_bucket}"

    def allow(sid, actions, resource):
        return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": [resource]}

    return {
        "Version": "1",
        "Statement": [
            allow("CrrReadSourceBucket",
                  ["oss:ListObjects", "oss:ListObjectVersions", "oss:GetBucketVersioning", "oss:GetBucketInfo"], src),
            allow("CrrReadSourceObjects", ["oss:GetObject", "oss:GetObjectVersion", "oss:GetObjectTagging"], f"{src}/*"),
            allow("CrrListDestinationBucket", ["oss:ListObjects"], dst),
            allow("CrrWriteReplicas", ["oss:PutObject", "oss:PutObjectTagging", "oss:GetObject", "oss:GetObjectTagging",
                                       "oss:AbortMultipartUpload", "oss:ListParts"], f"{dst}/*"),
            allow("CrrDeleteReplicas", ["oss:DeleteObject"], f"{dst}/*"),
            allow("CrrStateObjects", ["oss:PutObject", "oss:GetObject", "oss:DeleteObject"], f"{dst}/.crr/*"),
        ],
    }


def function_oss_policy(src_bucket, dst_bucket):
    """The functions' own identity on OSS: read the source bucket, nothing else (the template's
    FunctionRole grants the same, with sts:AssumeRole on the replication role)."""
    policy = oss_role_policy(src_bucket, dst_bucket)
    return dict(policy, Statement=[s for s in policy["Statement"] if s["Sid"].startswith("CrrReadSource")])


def ram_user_id(account, user):
    """A stable numeric id for a RAM user (what a bucket policy names a RAM user by)."""
    import hashlib

    return str(int(hashlib.sha256(f"{account}/{user}".encode()).hexdigest()[:15], 16))


def record_ram(account, kind, name, policies):
    """Adds a RAM user or role with its identity policies to the RAM registry (merged)."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(RAM_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            ram = json.loads(RAM_FILE.read_text())
        except (OSError, ValueError):
            ram = {}
        acct = ram.setdefault("accounts", {}).setdefault(account, {"users": {}, "roles": {}})
        entry = {"policies": policies}
        if kind == "users":
            entry["id"] = ram_user_id(account, name)
        acct.setdefault(kind, {})[name] = entry
        tmp = RAM_FILE.with_name(RAM_FILE.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(ram, indent=1))
        os.replace(tmp, RAM_FILE)


def oss_client(keys, bucket):
    """An oss2 bucket client for the local OSS server, signed with keys (V4)."""
    import socket

    import oss2

    if not getattr(socket, "_crr_localhost", False):
        original = socket.getaddrinfo

        def getaddrinfo(host, *args, **kwargs):
            if isinstance(host, str) and host.endswith(".localhost"):
                host = "127.0.0.1"
            return original(host, *args, **kwargs)

        socket.getaddrinfo = getaddrinfo
        socket._crr_localhost = True
    auth = oss2.AuthV4(keys["AccessKeyId"], keys["SecretAccessKey"])
    return oss2.Bucket(auth, OSS_ENDPOINT, bucket, region=OSS_REGION)


def provision_oss(setup, admins):
    """The OSS side of a setup (idempotent): buckets in both accounts, created by each account's
    root key; the RAM registry's policies for the function user and the replication role; and the
    source bucket's event notifications into an SQS queue of the source account (what OSS
    triggers would deliver to Function Compute: `crr dev up --oss` reads that queue)."""
    n = names(setup)
    for account, keys, bucket in ((SRC_ACCOUNT, admins["source"], n["oss_src_bucket"]),
                                  (DST_ACCOUNT, admins["destination"], n["oss_dst_bucket"])):
        record_sts_key("", "crr-admin", account, keys["AccessKeyId"], keys["SecretAccessKey"], kind="root")
        oss_client(keys, bucket).create_bucket()
    record_ram(SRC_ACCOUNT, "roles", n["oss_role"],
               {"crr-replication": oss_role_policy(n["oss_src_bucket"], n["oss_dst_bucket"])})
    record_ram(SRC_ACCOUNT, "users", n["function_user"],
               {"read-source": function_oss_policy(n["oss_src_bucket"], n["oss_dst_bucket"])})
    queue_url = client("sqs", admins["source"]).create_queue(QueueName=n["oss_queue"])["QueueUrl"]
    record_notifications(n["oss_src_bucket"], queue_url)
    return queue_url


def record_notifications(bucket, queue_url):
    """Adds (or replaces) a bucket's event notifications in the local OSS server's notifications
    file: every object created and removed event, to the queue (scripts/oss_local/notify.py)."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(NOTIFY_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            config = json.loads(NOTIFY_FILE.read_text())
        except (OSError, ValueError):
            config = {}
        config["sqs"] = {"endpoint": ENDPOINT, "region": REGION}
        config.setdefault("buckets", {})[bucket] = [
            {"id": "crr-events", "queue_url": queue_url, "events": ["oss:ObjectCreated:*", "oss:ObjectRemoved:*"]}
        ]
        tmp = NOTIFY_FILE.with_name(NOTIFY_FILE.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(config, indent=1))
        os.replace(tmp, NOTIFY_FILE)


def ensure(create, already):
    from botocore.exceptions import ClientError

    try:
        create()
    except ClientError as e:
        if e.response["Error"]["Code"] != already:
            raise


def oss_alive():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{OSS_PORT}{OSS_HEALTH[0]}", timeout=2) as r:
            return r.status == 200 and r.read() == OSS_HEALTH[1] + b" " + str(OSS_DIR).encode()
    except (urllib.error.URLError, OSError):
        return False


def start_oss():
    """Starts the local OSS server unless it already runs."""
    if oss_alive():
        return
    if our_pid(OSS_PID_FILE) is not None:
        stop_pid(OSS_PID_FILE)
    script = ROOT / "scripts" / "oss_server.py"
    spawn(
        [sys.executable, str(script), "--port", str(OSS_PORT), "--data", str(OSS_DIR),
         "--keys", str(STS_KEYS_FILE), "--sessions", str(STS_SESSIONS_FILE), "--ram", str(RAM_FILE),
         "--notifications", str(NOTIFY_FILE), "--endpoint-host", OSS_HOST, "--region", OSS_REGION],
        OSS_PID_FILE, OSS_LOG_FILE, oss_alive, f"the local OSS server on {OSS_ENDPOINT}",
        f"if port {OSS_PORT} is taken, choose another with CRR_LOCAL_OSS_PORT",
    )


def weed_alive():
    try:
        with urllib.request.urlopen(FAST_S3_ENDPOINT, timeout=2) as r:
            return b"ListAllMyBucketsResult" in r.read()
    except urllib.error.HTTPError as e:
        return b"ListAllMyBucketsResult" in e.read() or e.code in (403,)
    except (urllib.error.URLError, OSError):
        return False


def start_weed():
    """Starts seaweedfs (S3 API only on S3_PORT; its other ports follow it) unless it runs."""
    if weed_alive():
        return
    if our_pid(WEED_PID_FILE) is not None:
        stop_pid(WEED_PID_FILE)
    weed = Path(sys.executable).parent / "weed"
    if not weed.exists():
        sys.exit(f"{weed} is missing: install scripts/requirements.txt into .venv (scripts/setup)")
    WEED_DIR.mkdir(parents=True, exist_ok=True)
    p = S3_PORT
    spawn(
        [str(weed), "mini", f"-dir={WEED_DIR}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         f"-s3.port={p}", f"-master.port={p + 1}", f"-volume.port={p + 2}", f"-filer.port={p + 3}",
         "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
         # Every bucket is a collection with volumes of its own: tests create many
         # buckets (the chaos test two per run), more than the default count that
         # free disk space divided by the volume size allows.
         "-volume.max=1000", "-master.volumeSizeLimitMB=64"],
        WEED_PID_FILE, WEED_LOG_FILE, weed_alive, f"seaweedfs on {FAST_S3_ENDPOINT}",
        f"if ports {p}-{p + 3} (or {p + 10000}-{p + 10003}) are taken, choose another base with CRR_LOCAL_S3_PORT",
        seconds=30,
    )


def write_env(facts, path):
    lines = [f"{k}={v}" for k, v in facts.items()]
    path.write_text("# written by scripts/local-cloud; local test credentials only\n" + "\n".join(lines) + "\n")


def cmd_up():
    STATE.mkdir(parents=True, exist_ok=True)
    if server_alive():
        if ADMIN_FILE.exists() and ENV_FILE.exists():
            print(f"local cloud already running at {ENDPOINT} (env: {ENV_FILE})")
            if not sts_alive():
                adopt_env_for_sts()
                start_sts()
                print(f"local Alibaba STS up at {STS_ENDPOINT}")
            if not weed_alive():
                adopt_env_for_weed()
                start_weed()
                print(f"seaweedfs S3 up at {FAST_S3_ENDPOINT}")
            if not oss_alive():
                start_oss()
                adopt_env_for_oss(provision_oss("default", load_admins()))
                print(f"local OSS up at {OSS_ENDPOINT}")
            return
        if our_pid() is None:
            sys.exit(
                f"something else answers on {ENDPOINT} and it was not started here; "
                f"stop it or choose another port with CRR_LOCAL_PORT"
            )
        # Ours, but the bootstrap never finished: start over.
        cmd_down(quiet=True)
    start_server()
    admins = bootstrap()
    facts = provision("default", admins)
    start_sts()
    start_weed()
    start_oss()
    write_env({**facts, **oss_facts("default", provision_oss("default", admins))}, ENV_FILE)
    print(f"local cloud up at {ENDPOINT}: source {SRC_ACCOUNT}/crr-src -> destination {DST_ACCOUNT}/crr-dst")
    print(f"local Alibaba STS up at {STS_ENDPOINT}")
    print(f"seaweedfs S3 up at {FAST_S3_ENDPOINT}")
    print(f"local OSS up at {OSS_ENDPOINT}: source {SRC_ACCOUNT}/crr-oss-src -> destination {DST_ACCOUNT}/crr-oss-dst")
    print(f"env file: {ENV_FILE}")


def adopt_env_for_sts():
    """A cloud bootstrapped before the STS endpoint existed: record its function key
    and add the endpoint to its env file."""
    facts = dict(l.split("=", 1) for l in ENV_FILE.read_text().splitlines() if "=" in l and not l.startswith("#"))
    if "LOCAL_FN_KEY_ID" in facts and "LOCAL_FN_SECRET" in facts:
        record_sts_key("default", names("default")["function_user"], SRC_ACCOUNT,
                       facts["LOCAL_FN_KEY_ID"], facts["LOCAL_FN_SECRET"])
    if "LOCAL_ALIBABA_STS_ENDPOINT" not in facts:
        with open(ENV_FILE, "a") as f:
            f.write(f"LOCAL_ALIBABA_STS_ENDPOINT={STS_ENDPOINT}\n")


def adopt_env_for_weed():
    facts = ENV_FILE.read_text()
    if "LOCAL_FAST_S3_ENDPOINT=" not in facts:
        with open(ENV_FILE, "a") as f:
            f.write(f"LOCAL_FAST_S3_ENDPOINT={FAST_S3_ENDPOINT}\n")


def adopt_env_for_oss(queue_url):
    """A cloud bootstrapped before the local OSS server existed: add its facts to the env file."""
    text = ENV_FILE.read_text()
    missing = {k: v for k, v in oss_facts("default", queue_url).items() if f"{k}=" not in text}
    if missing:
        with open(ENV_FILE, "a") as f:
            f.writelines(f"{k}={v}\n" for k, v in missing.items())


def cmd_down(quiet=False):
    weed_pid = stop_pid(WEED_PID_FILE)
    if weed_pid is not None:
        shutil.rmtree(WEED_DIR, ignore_errors=True)
        if not quiet:
            print(f"seaweedfs stopped (pid {weed_pid})")
    oss_pid = stop_pid(OSS_PID_FILE)
    if oss_pid is not None:
        shutil.rmtree(OSS_DIR, ignore_errors=True)
        RAM_FILE.unlink(missing_ok=True)
        NOTIFY_FILE.unlink(missing_ok=True)
        if not quiet:
            print(f"local OSS stopped (pid {oss_pid})")
    sts_pid = stop_pid(STS_PID_FILE)
    if sts_pid is not None:
        STS_KEYS_FILE.unlink(missing_ok=True)
        STS_SESSIONS_FILE.unlink(missing_ok=True)
        if not quiet:
            print(f"local Alibaba STS stopped (pid {sts_pid})")
    pid = stop_pid(PID_FILE)
    if pid is None:
        if not quiet:
            print("local cloud is not running (no process started by this script)")
        return
    for f in (ENV_FILE, ADMIN_FILE, STS_KEYS_FILE, STS_SESSIONS_FILE, RAM_FILE, NOTIFY_FILE):
        f.unlink(missing_ok=True)
    if not quiet:
        print(f"local cloud stopped (pid {pid})")


def cmd_status():
    """0 when moto, the local Alibaba STS, seaweedfs and the local OSS server all answer."""
    servers = [
        ("", ENDPOINT, PID_FILE, server_alive, f"; env file: {ENV_FILE}"),
        ("local Alibaba STS ", STS_ENDPOINT, STS_PID_FILE, sts_alive, f"; keys: {STS_KEYS_FILE}"),
        ("seaweedfs S3 ", FAST_S3_ENDPOINT, WEED_PID_FILE, weed_alive, ""),
        ("local OSS ", OSS_ENDPOINT, OSS_PID_FILE, oss_alive, f"; RAM registry: {RAM_FILE}"),
    ]
    all_up = True
    for name, endpoint, pid_file, alive, extra in servers:
        if alive():
            pid = our_pid(pid_file)
            owner = f"pid {pid}" if pid else "not started by this script"
            print(f"{name}running at {endpoint} ({owner}){extra}")
        else:
            print(f"{name}not running (expected at {endpoint})")
            all_up = False
    return 0 if all_up else 1


def cmd_provision(setup):
    if not server_alive() or not ADMIN_FILE.exists():
        sys.exit("the local cloud is not up; run: scripts/local-cloud up")
    admins = load_admins()
    facts = provision(setup, admins)
    if not oss_alive():
        sys.exit("the local OSS server is not running; run: scripts/local-cloud up")
    facts.update(oss_facts(setup, provision_oss(setup, admins)))
    for k, v in facts.items():
        print(f"{k}={v}")


def role_policy_variant(dst_bucket, without, extra):
    """The replication role policy without the actions in `without`, plus a statement
    allowing the actions in `extra` on the destination bucket and its objects."""
    drop = {a.lower() for a in without}
    policy = replication_role_policy(dst_bucket)
    statements = []
    for statement in policy["Statement"]:
        actions = [a for a in statement["Action"] if a.lower() not in drop]
        if actions:
            statements.append(dict(statement, Action=actions))
    if extra:
        statements.append({
            "Sid": "Extra",
            "Effect": "Allow",
            "Action": list(extra),
            "Resource": [f"arn:aws:s3:::{dst_bucket}", f"arn:aws:s3:::{dst_bucket}/*"],
        })
    return dict(policy, Statement=statements)


def cmd_set_role_policy(setup, args):
    """Rewrites the role policy of an existing setup (destination admin keys)."""
    if not server_alive() or not ADMIN_FILE.exists():
        sys.exit("the local cloud is not up; run: scripts/local-cloud up")
    without, extra, target = [], [], None
    for arg in args:
        if arg in ("--without", "--with"):
            target = without if arg == "--without" else extra
        elif target is None:
            sys.exit(f"set-role-policy: {arg!r} given before --without or --with")
        else:
            target.append(arg)
    n = names(setup)
    policy = role_policy_variant(n["dst_bucket"], without, extra)
    iamd = client("iam", load_admins()["destination"])
    iamd.put_role_policy(RoleName=n["role"], PolicyName="replicate", PolicyDocument=json.dumps(policy))
    print(json.dumps(policy, indent=1))


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    cmd = argv[1]
    if cmd == "up":
        cmd_up()
    elif cmd == "down":
        cmd_down()
    elif cmd == "status":
        return cmd_status()
    elif cmd == "provision" and len(argv) == 3:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,29}", argv[2]):
            sys.exit(f"setup name {argv[2]!r}: expected lowercase letters, digits and '-', at most 30 characters")
        cmd_provision(argv[2])
    elif cmd == "set-role-policy" and len(argv) >= 3 and re.fullmatch(r"[a-z0-9][a-z0-9-]{0,29}", argv[2]):
        cmd_set_role_policy(argv[2], argv[3:])
    else:
        sys.exit(f"unknown command {' '.join(argv[1:])!r}; expected up | down | status | provision NAME")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
