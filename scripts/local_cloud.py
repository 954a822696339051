"""The local test cloud: moto server with two accounts and IAM enforcement.

Usage (through scripts/local-cloud):
    up                 start moto (if not running) and bootstrap the default setup
    down               stop the moto process this script started (by pid)
    status             say whether it runs and where
    provision NAME     create an isolated source/destination setup named NAME
                       (used by tests so they do not share queues) and print it

Accounts: source 111111111111, destination 222222222222. Every request after the
bootstrap is signed with real keys and checked against IAM identity policies
(moto's INITIAL_NO_AUTH_ACTION_COUNT), so wrong credentials get AccessDenied.

A setup named NAME ("default" gives the plain names) consists of:
  source account:      bucket crr-src[-NAME], SQS queue crr-src[-NAME]-events that
                       receives the bucket's ObjectCreated/ObjectRemoved notifications,
                       user crr-function[-NAME]: the functions' own identity, which may
                       read the source bucket and assume the replication role, nothing else
  destination account: bucket crr-dst[-NAME], role crr-replicator[-NAME] trusted by the
                       source account, allowed only what replication needs on that bucket
"""

import json
import os
import re
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


def our_pid():
    try:
        pid = int(PID_FILE.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


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


def function_policy(src_bucket, role_arn):
    """The functions' own identity: read the source, assume the role. Nothing else."""
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
            {"Sid": "AssumeReplicationRole", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn},
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
    ensure(lambda: iams.create_user(UserName=n["function_user"]), "EntityAlreadyExists")
    iams.put_user_policy(
        UserName=n["function_user"],
        PolicyName="replicate-source",
        PolicyDocument=json.dumps(function_policy(n["src_bucket"], role_arn)),
    )
    # A fresh key each time; drop older ones so a user never exceeds IAM's two-key limit.
    for old in iams.list_access_keys(UserName=n["function_user"])["AccessKeyMetadata"]:
        iams.delete_access_key(UserName=n["function_user"], AccessKeyId=old["AccessKeyId"])
    fkey = iams.create_access_key(UserName=n["function_user"])["AccessKey"]

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
    }


def ensure(create, already):
    from botocore.exceptions import ClientError

    try:
        create()
    except ClientError as e:
        if e.response["Error"]["Code"] != already:
            raise


def write_env(facts, path):
    lines = [f"{k}={v}" for k, v in facts.items()]
    path.write_text("# written by scripts/local-cloud; local test credentials only\n" + "\n".join(lines) + "\n")


def cmd_up():
    STATE.mkdir(parents=True, exist_ok=True)
    if server_alive():
        if ADMIN_FILE.exists() and ENV_FILE.exists():
            print(f"local cloud already running at {ENDPOINT} (env: {ENV_FILE})")
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
    write_env(provision("default", admins), ENV_FILE)
    print(f"local cloud up at {ENDPOINT}: source {SRC_ACCOUNT}/crr-src -> destination {DST_ACCOUNT}/crr-dst")
    print(f"env file: {ENV_FILE}")


def cmd_down(quiet=False):
    pid = our_pid()
    if pid is None:
        if not quiet:
            print("local cloud is not running (no process started by this script)")
        PID_FILE.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    for f in (PID_FILE, ENV_FILE, ADMIN_FILE):
        f.unlink(missing_ok=True)
    if not quiet:
        print(f"local cloud stopped (pid {pid})")


def cmd_status():
    pid = our_pid()
    if server_alive():
        owner = f"pid {pid}" if pid else "not started by this script"
        print(f"running at {ENDPOINT} ({owner}); env file: {ENV_FILE}")
        return 0
    print(f"not running (expected at {ENDPOINT})")
    return 1


def cmd_provision(setup):
    if not server_alive() or not ADMIN_FILE.exists():
        sys.exit("the local cloud is not up; run: scripts/local-cloud up")
    facts = provision(setup, load_admins())
    for k, v in facts.items():
        print(f"{k}={v}")


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
    else:
        sys.exit(f"unknown command {' '.join(argv[1:])!r}; expected up | down | status | provision NAME")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
