"""The demo's data and checks, against the local cloud (.local/cloud.env).

    demo_objects.py only-crr-policies    leave the role with the policy crr policy apply put on it:
                                         drop the local cloud's own, add what moto needs (batch deletes)
    demo_objects.py history N            N objects that exist before replication starts (their
                                         notifications are dropped from the queue: backfill's job)
    demo_objects.py upload               the live mix: hundreds of small files, a 100 MiB multipart
                                         object, unicode keys, tagged objects, metadata
    demo_objects.py delete N             delete N of the uploaded objects in the source
    demo_objects.py wait SECONDS         wait until the destination holds what the event path should
                                         have written (uploads present, deletes gone)
    demo_objects.py verify               compare source and destination; print the verification table
"""

import hashlib
import io
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
LOCAL = Path(os.environ.get("CRR_LOCAL_DIR", ROOT / ".local"))
ENV = dict(
    line.split("=", 1)
    for line in (LOCAL / "cloud.env").read_text().splitlines()
    if "=" in line and not line.startswith("#")
)
STATE = LOCAL / "demo"
MIB = 1024 * 1024
POOL = 16


def client(service, prefix):
    return boto3.client(
        service,
        endpoint_url=ENV["LOCAL_ENDPOINT"],
        region_name=ENV["LOCAL_REGION"],
        aws_access_key_id=ENV[f"LOCAL_{prefix}_ADMIN_KEY_ID"],
        aws_secret_access_key=ENV[f"LOCAL_{prefix}_ADMIN_SECRET"],
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=POOL * 2),
    )


def save(name, value):
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / name).write_text(json.dumps(value, ensure_ascii=False))


def load(name, default):
    try:
        return json.loads((STATE / name).read_text())
    except OSError:
        return default


def only_crr_policies():
    """The role keeps only what `crr policy apply` put on it, so the demo runs on the
    generated policy alone: the local cloud's own policy goes. moto checks DeleteObjects
    against the bucket ARN (real S3 and OSS check each key's object ARN), so a local-only
    statement grants that on moto."""
    iam = client("iam", "DST")
    role = ENV["LOCAL_ROLE_ARN"].rsplit("/", 1)[1]
    try:
        iam.delete_role_policy(RoleName=role, PolicyName="replicate")
    except iam.exceptions.NoSuchEntityException:
        pass
    moto_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "BatchDeleteOnMoto",
                "Effect": "Allow",
                "Action": "s3:DeleteObject",
                "Resource": f"arn:aws:s3:::{ENV['LOCAL_DST_BUCKET']}",
            }
        ],
    }
    iam.put_role_policy(RoleName=role, PolicyName="moto-batch-delete", PolicyDocument=json.dumps(moto_only))
    print(f"  the role now has crr's policy only (plus, for moto, s3:DeleteObject on arn:aws:s3:::{ENV['LOCAL_DST_BUCKET']})")


def put_all(items):
    s3, bucket = client("s3", "SRC"), ENV["LOCAL_SRC_BUCKET"]

    def put(item):
        key, body, extra = item
        s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        return len(body)

    with ThreadPoolExecutor(POOL) as pool:
        return sum(pool.map(put, items))


def history(n):
    items = [(f"history/{i % 5}/record-{i:04d}.json", json.dumps({"n": i}).encode() * (1 + i % 40), {}) for i in range(n)]
    total = put_all(items)
    # These existed before replication was set up: no event will ever carry them.
    sqs = client("sqs", "SRC")
    time.sleep(1)
    sqs.purge_queue(QueueUrl=ENV["LOCAL_QUEUE_URL"])
    save("history.json", [k for k, _, _ in items])
    print(f"{n} objects ({total} bytes) under history/ exist before replication starts")


def upload():
    items = []
    for i in range(300):
        kind = i % 3
        if kind == 0:
            items.append((f"logs/2026/11/25/app-{i:03d}.log", (f"line {i}\n" * (1 + i * 7)).encode(), {"ContentType": "text/plain"}))
        elif kind == 1:
            items.append((f"images/thumbs/{i:03d}.bin", os.urandom(512 + i * 37), {"ContentType": "application/octet-stream"}))
        else:
            items.append((f"reports/q4/report {i:03d}.csv", b"region,objects\ncn-hangzhou,42\n" * (1 + i), {
                "ContentType": "text/csv", "Metadata": {"owner": "finance", "batch": str(i)}, "CacheControl": "max-age=60"}))
    unicode = ["文档/季度报告 第4季度.txt", "données/été 2026/résumé.txt", "emoji/🚀 launch + plan.md", "ключ/файл №1.txt"]
    for i, key in enumerate(unicode):
        items.append((key, f"unicode key {i}\n".encode() * 20, {"ContentType": "text/plain; charset=utf-8"}))
    tagged = [f"tagged/contract-{i}.pdf" for i in range(6)]
    for i, key in enumerate(tagged):
        items.append((key, os.urandom(2048 + i), {"Tagging": f"classification=confidential&year=2026&seq={i}"}))
    total = put_all(items)

    # One large object, uploaded in 16 MiB parts: the replica reproduces the layout.
    s3 = client("s3", "SRC")
    big = os.urandom(100 * MIB)
    s3.upload_fileobj(io.BytesIO(big), ENV["LOCAL_SRC_BUCKET"], "video/launch-event 4k.mp4",
                      ExtraArgs={"ContentType": "video/mp4"},
                      Config=TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=16 * MIB, max_concurrency=4))
    save("uploaded.json", [k for k, _, _ in items] + ["video/launch-event 4k.mp4"])
    save("tagged.json", tagged)
    save("big.json", {"key": "video/launch-event 4k.mp4", "sha256": hashlib.sha256(big).hexdigest()})
    print(f"uploaded {len(items)} objects ({total} bytes) and a 100 MiB multipart object (7 parts)")


def delete(n):
    uploaded = load("uploaded.json", [])
    victims = [k for k in uploaded if k.startswith("logs/")][:n]
    s3 = client("s3", "SRC")
    for key in victims:
        s3.delete_object(Bucket=ENV["LOCAL_SRC_BUCKET"], Key=key)
    save("deleted.json", victims)
    print(f"deleted {len(victims)} objects in the source")


def listing(s3, bucket):
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            if not o["Key"].startswith(".crr/"):
                out[o["Key"]] = o
    return out


def wait(seconds):
    src, dst = client("s3", "SRC"), client("s3", "DST")
    deleted = set(load("deleted.json", []))
    want = set(load("uploaded.json", [])) - deleted
    deadline = time.time() + seconds
    while True:
        have = set(listing(dst, ENV["LOCAL_DST_BUCKET"]))
        missing, lingering = want - have, deleted & have
        if not missing and not lingering:
            print(f"the event path converged: {len(want)} replicas present, {len(deleted)} deleted")
            return 0
        if time.time() > deadline:
            print(f"not converged after {seconds} s: {len(missing)} replicas missing, {len(lingering)} deletes not applied")
            return 1
        time.sleep(0.5)


def verify():
    src, dst = client("s3", "SRC"), client("s3", "DST")
    sb, db = ENV["LOCAL_SRC_BUCKET"], ENV["LOCAL_DST_BUCKET"]
    source, replicas = listing(src, sb), listing(dst, db)
    tagged = set(load("tagged.json", []))
    history_keys = set(load("history.json", []))
    big = load("big.json", {})

    def check(key):
        o, r = source[key], replicas.get(key)
        if r is None:
            return key, "missing", None
        a, b = src.head_object(Bucket=sb, Key=key), dst.head_object(Bucket=db, Key=key)
        fields = ("ContentLength", "ETag", "ContentType", "CacheControl")
        meta_b = {k: v for k, v in b.get("Metadata", {}).items() if not k.startswith("crr-")}
        if any(a.get(f) != b.get(f) for f in fields) or a.get("Metadata", {}) != meta_b:
            return key, "mismatch", None
        if key in tagged:
            ta = src.get_object_tagging(Bucket=sb, Key=key)["TagSet"]
            tb = dst.get_object_tagging(Bucket=db, Key=key)["TagSet"]
            if sorted((t["Key"], t["Value"]) for t in ta) != sorted((t["Key"], t["Value"]) for t in tb):
                return key, "tags differ", None
        if big and key == big["key"]:
            body = dst.get_object(Bucket=db, Key=key)["Body"].read()
            if hashlib.sha256(body).hexdigest() != big["sha256"]:
                return key, "bytes differ", None
        lag = (r["LastModified"] - o["LastModified"]).total_seconds() * 1000
        return key, "ok", None if key in history_keys else lag

    with ThreadPoolExecutor(POOL) as pool:
        results = list(pool.map(check, sorted(source)))
    bad = [(k, s) for k, s, _ in results if s != "ok"]
    extra = sorted(set(replicas) - set(source))
    lags = sorted(l for _, s, l in results if s == "ok" and l is not None)

    def pct(q):
        return lags[min(len(lags) - 1, max(0, int(round(q * len(lags) + 0.5)) - 1))] if lags else 0

    for key, why in bad[:20]:
        print(f"  {why:<12} {key}")
    for key in extra[:20]:
        print(f"  {'extra':<12} {key} (deleted in the source, still in the destination)")
    sbytes, rbytes = sum(o["Size"] for o in source.values()), sum(o["Size"] for o in replicas.values())
    print()
    print(f"  {'':<34}{'source':>14}{'destination':>14}")
    print(f"  {'objects':<34}{len(source):>14}{len(replicas):>14}")
    print(f"  {'bytes':<34}{sbytes:>14}{rbytes:>14}")
    print(f"  {'mismatches (size, ETag, content-type,':<34}")
    print(f"  {' cache-control, metadata, tags, bytes)':<34}{'':>14}{len(bad):>14}")
    print(f"  {'extra (deleted in the source)':<34}{'':>14}{len(extra):>14}")
    print(f"  {'historical objects (backfill)':<34}{len(history_keys):>14}{len(history_keys & set(replicas)):>14}")
    if lags:
        print(f"  {'event-path lag p50 / p99 / max':<34}{'':>14}{f'{pct(0.5):.0f} / {pct(0.99):.0f} / {lags[-1]:.0f} ms':>14}")
        print(f"  (replica's Last-Modified minus the source's, whole seconds as the server keeps them,")
        print(f"   over {len(lags)} objects written through events; crr status shows the functions' own ms)")
    print()
    ok = not bad and not extra and len(source) == len(replicas)
    print("  verified: every object equal, zero mismatches" if ok else "  NOT VERIFIED: see the lines above")
    return 0 if ok else 1


if __name__ == "__main__":
    cmd, args = (sys.argv[1] if len(sys.argv) > 1 else ""), sys.argv[2:]
    if cmd == "only-crr-policies" and not args:
        only_crr_policies()
    elif cmd == "history" and len(args) == 1:
        history(int(args[0]))
    elif cmd == "upload":
        upload()
    elif cmd == "delete" and len(args) == 1:
        delete(int(args[0]))
    elif cmd == "wait" and len(args) == 1:
        sys.exit(wait(int(args[0])))
    elif cmd == "verify":
        sys.exit(verify())
    else:
        sys.exit(__doc__)
