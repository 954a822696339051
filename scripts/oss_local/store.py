"""Buckets, objects, versions and multipart uploads over files on disk.

Layout under the data directory:
    buckets/<bucket>/bucket.json            name, owner uid, creation time, region, storage class,
                                            versioning status, bucket policy text
    buckets/<bucket>/objects/<sha1>.json    one key: {"key", "versions": [newest first]}
    buckets/<bucket>/data/<id>              object bodies, one file per version (never held
                                            whole in memory: bodies stream to and from here)
    buckets/<bucket>/uploads/<id>/          a multipart upload: upload.json, <n>.json and <n>.part

The index of keys lives in memory too (loaded at start, written through on every change), so a
listing never reads the disk; one lock serialises changes of metadata, bodies are written
outside it and committed under it.
"""

import base64
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

from .crc import Crc64

CHUNK = 1024 * 1024


def new_version_id():
    # OSS version ids are opaque base64 strings such as "CAEQNRiBgMClj7qD0BYiIDQ5Y2Qy...".
    return "CAEQ" + base64.b64encode(os.urandom(30)).decode().replace("+", "A").replace("/", "B").rstrip("=")


def atomic_write_json(path, value):
    tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False))
    os.replace(tmp, path)


class Body:
    """A request body received into a file: its path, size, MD5 (bytes) and CRC-64."""

    def __init__(self, path, size, md5, crc):
        self.path, self.size, self.md5, self.crc = path, size, md5, crc


class Bucket:
    def __init__(self, root, meta):
        self.root = root
        self.meta = meta
        self.keys = {}  # key -> list of versions, newest first
        self.uploads = {}  # upload id -> {"key", "initiated", "meta": {...}, "parts": {n: part}}

    @property
    def name(self):
        return self.meta["name"]

    @property
    def owner(self):
        return self.meta["owner"]

    def save(self):
        atomic_write_json(self.root / "bucket.json", self.meta)

    def key_file(self, key):
        return self.root / "objects" / (hashlib.sha1(key.encode("utf-8")).hexdigest() + ".json")

    def save_key(self, key):
        versions = self.keys.get(key)
        path = self.key_file(key)
        if versions:
            atomic_write_json(path, {"key": key, "versions": versions})
        else:
            self.keys.pop(key, None)
            path.unlink(missing_ok=True)

    def upload_dir(self, upload_id):
        return self.root / "uploads" / upload_id

    def save_upload(self, upload_id):
        up = self.uploads[upload_id]
        d = self.upload_dir(upload_id)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_json(d / "upload.json", {k: v for k, v in up.items() if k != "parts"})

    def blob_path(self, name):
        return self.root / "data" / name

    def current(self, key):
        """The current version of key (a delete marker counts), or None."""
        versions = self.keys.get(key)
        return versions[0] if versions else None

    def find_version(self, key, version_id):
        for v in self.keys.get(key, []):
            if v["version_id"] == version_id:
                return v
        return None

    def drop_blob(self, version):
        if version.get("blob"):
            self.blob_path(version["blob"]).unlink(missing_ok=True)


class Store:
    def __init__(self, data_dir):
        self.root = Path(data_dir)
        (self.root / "buckets").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.buckets = {}
        self._load()

    def _load(self):
        for bdir in sorted((self.root / "buckets").iterdir()):
            try:
                meta = json.loads((bdir / "bucket.json").read_text())
            except (OSError, ValueError):
                continue
            b = Bucket(bdir, meta)
            for f in (bdir / "objects").glob("*.json"):
                rec = json.loads(f.read_text())
                b.keys[rec["key"]] = rec["versions"]
            for udir in (bdir / "uploads").glob("*"):
                try:
                    up = json.loads((udir / "upload.json").read_text())
                except (OSError, ValueError):
                    continue
                up["parts"] = {}
                for pf in udir.glob("*.json"):
                    if pf.name != "upload.json":
                        part = json.loads(pf.read_text())
                        up["parts"][int(part["number"])] = part
                b.uploads[udir.name] = up
            self.buckets[meta["name"]] = b

    # -- buckets ---------------------------------------------------------------------------

    def create_bucket(self, name, owner, region, storage_class, acl):
        with self.lock:
            bdir = self.root / "buckets" / name
            for sub in ("objects", "data", "uploads"):
                (bdir / sub).mkdir(parents=True, exist_ok=True)
            b = Bucket(bdir, {
                "name": name, "owner": owner, "created": time.time(), "region": region,
                "storage_class": storage_class, "acl": acl, "versioning": "", "policy": None,
            })
            b.save()
            self.buckets[name] = b
            return b

    def delete_bucket(self, name):
        with self.lock:
            b = self.buckets.pop(name)
            shutil.rmtree(b.root, ignore_errors=True)

    # -- bodies ----------------------------------------------------------------------------

    def receive(self, bucket, reader, length, chunked=False):
        """Streams a request body into a new data file of the bucket; returns a Body."""
        name = uuid.uuid4().hex
        path = bucket.blob_path(name)
        md5, crc, size = hashlib.md5(), Crc64(), 0
        with open(path, "wb") as out:
            for chunk in (read_chunked(reader) if chunked else read_exact(reader, length)):
                out.write(chunk)
                md5.update(chunk)
                crc.update(chunk)
                size += len(chunk)
        return Body(path, size, md5.digest(), crc.value)

    def copy_blob(self, src_bucket, src_name, dst_bucket, start=0, end=None):
        """A new data file in dst_bucket with bytes [start, end) of a source data file;
        returns (Body, name)."""
        name = uuid.uuid4().hex
        path = dst_bucket.blob_path(name)
        src = src_bucket.blob_path(src_name)
        if start == 0 and end is None:
            try:
                os.link(src, path)  # whole bodies are shared: versions are never rewritten
                md5, crc, size = hashlib.md5(), Crc64(), 0
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(CHUNK), b""):
                        md5.update(chunk)
                        crc.update(chunk)
                        size += len(chunk)
                return Body(path, size, md5.digest(), crc.value)
            except OSError:
                pass
        md5, crc, size = hashlib.md5(), Crc64(), 0
        with open(src, "rb") as f, open(path, "wb") as out:
            f.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                chunk = f.read(CHUNK if remaining is None else min(CHUNK, remaining))
                if not chunk:
                    break
                out.write(chunk)
                md5.update(chunk)
                crc.update(chunk)
                size += len(chunk)
                if remaining is not None:
                    remaining -= len(chunk)
        return Body(path, size, md5.digest(), crc.value)


def read_exact(reader, length):
    remaining = length
    while remaining > 0:
        chunk = reader.read(min(CHUNK, remaining))
        if not chunk:
            raise ConnectionError("the client closed the connection before sending the whole body")
        remaining -= len(chunk)
        yield chunk


def read_chunked(reader):
    """A Transfer-Encoding: chunked body."""
    while True:
        line = reader.readline(1024)
        if not line:
            raise ConnectionError("the client closed the connection inside a chunked body")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while reader.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return
        yield from read_exact(reader, size)
        reader.readline(8)  # the CRLF after each chunk


def stream_file(path, start, length, write):
    with open(path, "rb") as f:
        f.seek(start)
        remaining = length
        while remaining > 0:
            chunk = f.read(min(CHUNK, remaining))
            if not chunk:
                break
            write(chunk)
            remaining -= len(chunk)
