"""Uploads the demo's objects into the source bucket and compares source and replica.

    demo_objects.py upload      put a small mixed set of objects into the source bucket
    demo_objects.py verify      compare every source object with its replica and print a table

Reads the local cloud's facts from .local/cloud.env (LOCAL_* variables).
"""

import hashlib
import os
import sys
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(
    line.split("=", 1)
    for line in (Path(os.environ.get("CRR_LOCAL_DIR", ROOT / ".local")) / "cloud.env").read_text().splitlines()
    if "=" in line and not line.startswith("#")
)


def s3(prefix):
    return boto3.client(
        "s3",
        endpoint_url=ENV["LOCAL_ENDPOINT"],
        region_name=ENV["LOCAL_REGION"],
        aws_access_key_id=ENV[f"LOCAL_{prefix}_ADMIN_KEY_ID"],
        aws_secret_access_key=ENV[f"LOCAL_{prefix}_ADMIN_SECRET"],
        config=Config(s3={"addressing_style": "path"}),
    )


def objects():
    """A small, varied set: empty, text, binary, deep and unicode keys, metadata."""
    yield "demo/empty", b"", {}
    yield "demo/hello.txt", b"hello from the source account\n", {"ContentType": "text/plain"}
    yield "demo/reports/2026/q4 summary.csv", b"region,objects\ncn-hangzhou,42\n" * 200, {
        "ContentType": "text/csv",
        "Metadata": {"owner": "finance"},
    }
    yield "demo/images/照片 1+1.bin", os.urandom(256 * 1024), {"ContentType": "application/octet-stream"}
    for i in range(8):
        yield f"demo/logs/app-{i:02d}.log", (f"line {i}\n" * (i * 500 + 1)).encode(), {"ContentType": "text/plain"}


def upload():
    client, bucket = s3("SRC"), ENV["LOCAL_SRC_BUCKET"]
    n = total = 0
    for key, body, extra in objects():
        client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        n += 1
        total += len(body)
    print(f"uploaded {n} objects, {total} bytes into {bucket}")


def listing(client, bucket):
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = o
    return out


def verify():
    src, dst = s3("SRC"), s3("DST")
    sb, db = ENV["LOCAL_SRC_BUCKET"], ENV["LOCAL_DST_BUCKET"]
    source, replicas = listing(src, sb), listing(dst, db)
    verified = missing = mismatched = 0
    total = 0
    for key, o in sorted(source.items()):
        total += o["Size"]
        r = replicas.get(key)
        if r is None:
            missing += 1
            print(f"  missing    {key}")
            continue
        a = src.get_object(Bucket=sb, Key=key)
        b = dst.get_object(Bucket=db, Key=key)
        same_bytes = hashlib.sha256(a["Body"].read()).digest() == hashlib.sha256(b["Body"].read()).digest()
        same_meta = (a.get("ContentType"), a.get("Metadata", {})) == (
            b.get("ContentType"),
            {k: v for k, v in b.get("Metadata", {}).items() if k != "crr-replica-of"},
        )
        if same_bytes and same_meta and o["ETag"] == r["ETag"]:
            verified += 1
        else:
            mismatched += 1
            print(f"  mismatch   {key}")
    print()
    print(f"  {'':<12}{'source':>12}{'replica':>12}")
    print(f"  {'objects':<12}{len(source):>12}{len(replicas):>12}")
    print(f"  {'bytes':<12}{total:>12}{sum(o['Size'] for o in replicas.values()):>12}")
    print(f"  verified {verified}/{len(source)} (bytes, ETag, content-type, metadata); missing {missing}; mismatched {mismatched}")
    return 0 if verified == len(source) else 1


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "upload":
        upload()
    elif cmd == "verify":
        sys.exit(verify())
    else:
        sys.exit(__doc__)
