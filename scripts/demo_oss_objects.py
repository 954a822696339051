"""The seed demo's data and checks, on the local OSS server (.local/cloud.env, LOCAL_OSS_* lines).

Every request is signed (OSS V4) with the root key of the account that owns the bucket: the source
account (111111111111) writes and deletes in its bucket, the destination account (222222222222)
reads its own for the checks. Replication itself is crr's: the functions act as the RAM role of the
source account, which the destination bucket's policy grants.

    demo_oss_objects.py role-policy FILE   the seed's step 1 on the local cloud: FILE (the permission
                                           policy `crr policy generate` wrote) becomes the RAM role's
                                           only policy, as `aliyun ram CreatePolicy` +
                                           `AttachPolicyToRole` would make it
    demo_oss_objects.py history N          N objects that exist before replication starts (their
                                           events are dropped from the queue: backfill's job)
    demo_oss_objects.py upload             the live mix: small files, metadata, tags (x-oss-tagging),
                                           unicode keys, a multipart object, an appended object (its
                                           ETag is no MD5) and a symlink
    demo_oss_objects.py delete N           delete N of the uploaded objects in the source
    demo_oss_objects.py wait SECONDS       wait until the destination holds what the event path should
                                           have written (uploads present, deletes gone)
    demo_oss_objects.py verify             compare source and destination: size, CRC-64/ECMA,
                                           content-type, cache-control, metadata, tags, symlink
                                           targets; print the table; exit 1 on any difference
"""

import hashlib
import json
import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import oss2

ROOT = Path(__file__).resolve().parent.parent
LOCAL = Path(os.environ.get("CRR_LOCAL_DIR", ROOT / ".local"))
ENV = dict(
    line.split("=", 1)
    for line in (LOCAL / "cloud.env").read_text().splitlines()
    if "=" in line and not line.startswith("#")
)
STATE = LOCAL / "demo"
MIB = 1024 * 1024
POOL = 8
BIG_KEY = "video/launch-event 4k.mp4"
APPENDED_KEY = "logs/stream/app.log"
SYMLINK_KEY = "latest/report.csv"

_resolve = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    # Buckets are addressed as <bucket>.oss-cn-local.localhost (virtual-hosted, as OSS requires).
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _resolve(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo


def bucket(side):
    """The source (SRC) or destination (DST) bucket, as its owner's root key."""
    auth = oss2.AuthV4(ENV[f"LOCAL_{side}_ADMIN_KEY_ID"], ENV[f"LOCAL_{side}_ADMIN_SECRET"])
    name = ENV[f"LOCAL_OSS_{side}_BUCKET"]
    return oss2.Bucket(auth, ENV["LOCAL_OSS_ENDPOINT"], name, region=ENV["LOCAL_OSS_REGION"])


def save(name, value):
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / name).write_text(json.dumps(value, ensure_ascii=False))


def load(name, default):
    try:
        return json.loads((STATE / name).read_text())
    except OSError:
        return default


def role_policy(path):
    """Step 1 on the local cloud: the RAM role runs on crr's permission policy alone."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import local_cloud

    document = json.loads(Path(path).read_text())
    role = ENV["LOCAL_OSS_ROLE_ARN"].rsplit("/", 1)[1]
    local_cloud.record_ram(ENV["LOCAL_SRC_ACCOUNT"], "roles", role, {"crr-replication": document})
    print(f"  RAM role {role} of account {ENV['LOCAL_SRC_ACCOUNT']}: policy crr-replication attached "
          f"({len(document['Statement'])} statements), its only policy")


def put_all(items):
    src = bucket("SRC")

    def put(item):
        key, body, headers = item
        src.put_object(key, body, headers=headers)
        return len(body)

    with ThreadPoolExecutor(POOL) as pool:
        return sum(pool.map(put, items))


def purge_events():
    """Drops the queued OSS events of the source bucket (what happened before replication)."""
    sqs = boto3.client("sqs", endpoint_url=ENV["LOCAL_ENDPOINT"], region_name=ENV["LOCAL_REGION"],
                       aws_access_key_id=ENV["LOCAL_SRC_ADMIN_KEY_ID"],
                       aws_secret_access_key=ENV["LOCAL_SRC_ADMIN_SECRET"])
    time.sleep(2)  # the local OSS server sends its events off the request path
    sqs.purge_queue(QueueUrl=ENV["LOCAL_OSS_QUEUE_URL"])


def history(n):
    items = [(f"history/{i % 5}/record-{i:04d}.json", json.dumps({"n": i}).encode() * (1 + i % 40), {})
             for i in range(n)]
    total = put_all(items)
    purge_events()
    save("history.json", [k for k, _, _ in items])
    print(f"{n} objects ({total} bytes) under history/ exist before replication starts")


def upload():
    items = []
    for i in range(150):
        kind = i % 3
        if kind == 0:
            items.append((f"logs/2026/11/25/app-{i:03d}.log", (f"line {i}\n" * (1 + i * 7)).encode(),
                          {"Content-Type": "text/plain"}))
        elif kind == 1:
            items.append((f"images/thumbs/{i:03d}.bin", os.urandom(512 + i * 37),
                          {"Content-Type": "application/octet-stream"}))
        else:
            items.append((f"reports/q4/report {i:03d}.csv", b"region,objects\ncn-hangzhou,42\n" * (1 + i), {
                "Content-Type": "text/csv", "x-oss-meta-owner": "finance", "x-oss-meta-batch": str(i),
                "Cache-Control": "max-age=60"}))
    unicode = ["文档/季度报告 第4季度.txt", "données/été 2026/résumé.txt", "emoji/🚀 launch + plan.md", "ключ/файл №1.txt"]
    for i, key in enumerate(unicode):
        items.append((key, f"unicode key {i}\n".encode() * 20, {"Content-Type": "text/plain; charset=utf-8"}))
    tagged = [f"tagged/contract-{i}.pdf" for i in range(6)]
    for i, key in enumerate(tagged):
        items.append((key, os.urandom(2048 + i), {"x-oss-tagging": f"classification=confidential&year=2026&seq={i}"}))
    total = put_all(items)

    src = bucket("SRC")
    # One large object in 8 MiB parts: replicated once, as a whole, after CompleteMultipartUpload.
    big = os.urandom(24 * MIB)
    upload_id = src.init_multipart_upload(BIG_KEY, headers={"Content-Type": "video/mp4"}).upload_id
    parts = []
    for n, at in enumerate(range(0, len(big), 8 * MIB), start=1):
        answer = src.upload_part(BIG_KEY, upload_id, n, big[at:at + 8 * MIB])
        parts.append(oss2.models.PartInfo(n, answer.etag))
    src.complete_multipart_upload(BIG_KEY, upload_id, parts)
    # An appended object: its ETag is not an MD5 of its bytes.
    position = src.append_object(APPENDED_KEY, 0, b"first line\n").next_position
    src.append_object(APPENDED_KEY, position, b"second line\n")
    # A symlink to one of the reports.
    src.put_symlink("reports/q4/report 002.csv", SYMLINK_KEY)

    uploaded = [k for k, _, _ in items] + [BIG_KEY, APPENDED_KEY, SYMLINK_KEY]
    save("uploaded.json", uploaded)
    save("tagged.json", tagged)
    save("big.json", {"key": BIG_KEY, "sha256": hashlib.sha256(big).hexdigest()})
    print(f"uploaded {len(items)} objects ({total} bytes), a 24 MiB multipart object (3 parts), "
          f"an appended object and a symlink")


def delete(n):
    uploaded = load("uploaded.json", [])
    victims = [k for k in uploaded if k.startswith("logs/2026/")][:n]
    src = bucket("SRC")
    for key in victims:
        src.delete_object(key)
    save("deleted.json", victims)
    print(f"deleted {len(victims)} objects in the source")


def listing(b):
    return {o.key: o for o in oss2.ObjectIteratorV2(b) if not o.key.startswith(".crr/")}


def wait(seconds):
    dst = bucket("DST")
    deleted = set(load("deleted.json", []))
    want = set(load("uploaded.json", [])) - deleted
    deadline = time.time() + seconds
    while True:
        have = set(listing(dst))
        missing, lingering = want - have, deleted & have
        if not missing and not lingering:
            print(f"the event path converged: {len(want)} replicas present, {len(deleted)} deleted")
            return 0
        if time.time() > deadline:
            print(f"not converged after {seconds} s: {len(missing)} replicas missing, {len(lingering)} deletes not applied")
            for key in sorted(missing)[:10]:
                print(f"  missing   {key}")
            for key in sorted(lingering)[:10]:
                print(f"  lingering {key}")
            return 1
        time.sleep(0.5)


def described(b, key):
    """What verify compares of one object (not its type: an appended or multipart source
    may well become a Normal replica), and the source's object type."""
    h = b.head_object(key).headers
    meta = {k.lower(): v for k, v in h.items()
            if k.lower().startswith("x-oss-meta-") and not k.lower().startswith("x-oss-meta-crr-")}
    return {
        "size": h.get("Content-Length"),
        "crc64": h.get("x-oss-hash-crc64ecma"),
        "type": h.get("Content-Type"),
        "cache": h.get("Cache-Control"),
        "meta": meta,
    }, h.get("x-oss-object-type")


def verify():
    src, dst = bucket("SRC"), bucket("DST")
    source, replicas = listing(src), listing(dst)
    tagged = set(load("tagged.json", []))
    history_keys = set(load("history.json", []))
    deleted = set(load("deleted.json", []))
    big = load("big.json", {})

    def check(key):
        if key not in replicas:
            return key, "missing"
        (a, kind), (b, _) = described(src, key), described(dst, key)
        if a != b:
            return key, "mismatch"
        if key in tagged and src.get_object_tagging(key).tag_set.tagging_rule != dst.get_object_tagging(key).tag_set.tagging_rule:
            return key, "tags differ"
        if kind == "Symlink" and src.get_symlink(key).target_key != dst.get_symlink(key).target_key:
            return key, "link differs"
        if big and key == big["key"] and hashlib.sha256(dst.get_object(key).read()).hexdigest() != big["sha256"]:
            return key, "bytes differ"
        return key, "ok"

    with ThreadPoolExecutor(POOL) as pool:
        results = list(pool.map(check, sorted(source)))
    bad = [(k, s) for k, s in results if s != "ok"]
    extra = sorted(set(replicas) - set(source))
    for key, why in bad[:20]:
        print(f"  {why:<12} {key}")
    for key in extra[:20]:
        print(f"  {'extra':<12} {key} (deleted in the source, still in the destination)")
    sbytes, rbytes = sum(o.size for o in source.values()), sum(o.size for o in replicas.values())
    sb, db = ENV["LOCAL_OSS_SRC_BUCKET"], ENV["LOCAL_OSS_DST_BUCKET"]
    print()
    print(f"  {'':<36}{sb + ' (' + ENV['LOCAL_SRC_ACCOUNT'] + ')':>30}{db + ' (' + ENV['LOCAL_DST_ACCOUNT'] + ')':>30}")
    print(f"  {'objects':<36}{len(source):>30}{len(replicas):>30}")
    print(f"  {'bytes':<36}{sbytes:>30}{rbytes:>30}")
    print(f"  {'mismatches (size, CRC-64, type,':<36}")
    print(f"  {' cache-control, metadata, tags, link)':<36}{'':>30}{len(bad):>30}")
    print(f"  {'deletes replicated':<36}{len(deleted):>30}{len(deleted - set(replicas)):>30}")
    print(f"  {'extra (deleted in the source)':<36}{'':>30}{len(extra):>30}")
    print(f"  {'historical objects (backfill)':<36}{len(history_keys):>30}{len(history_keys & set(replicas)):>30}")
    print()
    ok = not bad and not extra and len(source) == len(replicas) and bool(source) and not (deleted & set(replicas))
    print(f"  verified: {len(source)} objects copied to account {ENV['LOCAL_DST_ACCOUNT']} with zero mismatches, "
          f"{len(deleted)} deletes replicated" if ok else "  NOT VERIFIED: see the lines above")
    return 0 if ok else 1


if __name__ == "__main__":
    cmd, args = (sys.argv[1] if len(sys.argv) > 1 else ""), sys.argv[2:]
    if cmd == "role-policy" and len(args) == 1:
        role_policy(args[0])
    elif cmd == "history" and len(args) == 1:
        history(int(args[0]))
    elif cmd == "upload" and not args:
        upload()
    elif cmd == "delete" and len(args) == 1:
        delete(int(args[0]))
    elif cmd == "wait" and len(args) == 1:
        sys.exit(wait(int(args[0])))
    elif cmd == "verify" and not args:
        sys.exit(verify())
    else:
        sys.exit(__doc__)
