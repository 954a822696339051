"""The HTTP front of the local OSS server: addressing, authentication, authorization, and one
method per OSS operation.

Addressing is virtual-hosted, as OSS requires: Host `<bucket>.<endpoint host>[:port]` names the
bucket; a request to the endpoint host itself (or any other host, such as 127.0.0.1) is a
service-level request (ListBuckets) when its path is "/", and is refused with
SecondLevelDomainForbidden (403) when its path names a bucket (path-style access), as OSS does.
"""

import base64
import email.utils
import hashlib
import json
import os
import socket
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

from . import crc as crcmod64
from . import policy as pol
from .errors import OssError, error_xml
from .notify import WHOLE_OBJECT_EVENTS, event_name
from .store import new_version_id, stream_file

HEALTH_PATH = "/-/crr-local-oss"
HEALTH_TEXT = b"crr local OSS"
STORAGE_CLASSES = {"Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive"}
COLD_CLASSES = {"Archive", "ColdArchive", "DeepColdArchive"}
MIN_PART_SIZE = 100 * 1024
MAX_TAGS = 10
STANDARD_HEADERS = ("cache-control", "content-disposition", "content-encoding", "expires", "content-language")


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


def iso_date(ts):
    # OSS's XML times are in whole seconds: "2012-02-24T06:07:48.000Z" (oss2 parses only that form)
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def quoted(etag):
    return f'"{etag}"'


def parse_query(raw):
    """Decoded (name, value) pairs in order; '+' stays '+' (OSS clients percent-encode spaces)."""
    pairs = []
    for item in raw.split("&") if raw else []:
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def appendable_etag(crc, mtime):
    """OSS's ETag of an appendable object: the CRC-64 and the time of the last append (Unix
    seconds), each as 8 little-endian bytes, in upper-case hex. Documented responses agree:
    ETag "0F7230CAA4BE94CCBDC99C5500000000" with x-oss-hash-crc64ecma 14741617095266562575,
    appended at 2015-07-08T06:57:01Z (0x559CC9BD)."""
    return (crc.to_bytes(8, "little") + int(mtime).to_bytes(8, "little")).hex().upper()


def xml_text(tag, value):
    return f"<{tag}>{escape(str(value))}</{tag}>"


def parse_xml(body):
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        raise OssError("MalformedXML")


def encode_key(key, url):
    return quote(key, safe="/") if url else key


class Page:
    """One page of a listing as OSS pages it: entries and common prefixes (the part of a key
    up to the delimiter after `prefix`) both count toward `limit`; prefixes not after `after`
    are left out."""

    def __init__(self, prefix, delimiter, limit, after=""):
        self.prefix, self.delimiter, self.limit, self.after = prefix, delimiter, limit, after
        self.entries, self.prefixes, self.seen = [], [], set()
        self.truncated, self.last = False, ""

    def full(self):
        if len(self.entries) + len(self.prefixes) >= self.limit:
            self.truncated = True
        return self.truncated

    def add(self, key, entry):
        """Adds `key`'s entry, or its common prefix once; False when the page is full."""
        if self.delimiter:
            i = key.find(self.delimiter, len(self.prefix))
            if i >= 0:
                cp = key[: i + len(self.delimiter)]
                if cp in self.seen or (self.after and cp <= self.after):
                    return True
                if self.full():
                    return False
                self.seen.add(cp)
                self.prefixes.append(cp)
                self.last = cp
                return True
        if self.full():
            return False
        self.entries.append(entry)
        self.last = key
        return True


class Response:
    def __init__(self, status=200, headers=None, body=b"", file=None):
        self.status = status
        self.headers = dict(headers or {})
        self.body = body
        self.file = file  # (path, start, length) streamed after the headers


class OssServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, store, authenticator, endpoint_host, region, restore_seconds=1.0, notifier=None):
        super().__init__(address, Handler)
        self.store = store
        self.notifier = notifier
        self.authenticator = authenticator
        self.endpoint_host = endpoint_host.lower()
        self.region = region
        self.restore_seconds = restore_seconds
        self.log_lock = threading.Lock()

    @property
    def location(self):
        return f"oss-{self.region}"


class Handler(BaseHTTPRequestHandler):
    server_version = "AliyunOSS"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def log_message(self, format, *args):
        pass  # one line per request is written by dispatch, without secrets

    # -- plumbing -------------------------------------------------------------------------

    def dispatch(self):
        self.request_id = uuid.uuid4().hex[:24].upper()
        self.body_read = False
        self.caller = None
        self.bucket_name = None
        self.key = None
        # What notify() reads: set again by each request that gets as far as its operation.
        self.op_name = None
        self.batch_keys = []
        started = time.time()
        split = urlsplit(self.path)
        if self.command == "GET" and split.path == HEALTH_PATH:
            # Names the data directory, so a local cloud knows whether the server on its port is its own.
            return self.send(Response(200, {"Content-Type": "text/plain"},
                                      HEALTH_TEXT + b" " + str(self.server.store.root).encode()))
        host = (self.headers.get("Host") or "").lower()
        self.host_id = host.rsplit(":", 1)[0] if host else self.server.endpoint_host
        try:
            response = self.route(split)
        except OssError as e:
            response = self.error_response(e)
        except (ConnectionError, socket.timeout) as e:
            self.close_connection = True
            self.log(f"connection lost: {e}", started, 499)
            return
        except Exception as e:  # a bug here must not look like an OSS answer
            import traceback
            traceback.print_exc(file=sys.stderr)
            response = self.error_response(OssError("InternalError", f"local OSS server bug: {type(e).__name__}: {e}"))
        if not self.body_read and self.has_body():
            self.close_connection = True
            response.headers["Connection"] = "close"
        self.send(response)
        self.log(getattr(response, "code", ""), started, response.status)
        self.notify(response)

    def notify(self, response):
        """Hands the request's object events to the notifier (oss_local/notify.py), once answered."""
        name = event_name(self.op_name or "")
        b = self.server.store.buckets.get(self.bucket_name or "")
        if self.server.notifier is None or name is None or b is None or response.status >= 300:
            return
        if self.op_name == "DeleteMultipleObjects":
            events = [(name, key, None, None, None) for key, _ in self.batch_keys]
        else:
            size = None
            if name in WHOLE_OBJECT_EVENTS:
                cur = b.current(self.key)
                size = cur["size"] if cur is not None and not cur["delete_marker"] else None
            elif self.op_name == "UploadPart":
                size = int(self.headers.get("Content-Length") or 0)
            etag = (response.headers.get("ETag") or "").strip('"') or None
            events = [(name, self.key, size, etag, response.headers.get("x-oss-version-id"))]
        caller = self.caller.user_id or self.caller.account if self.caller else ""
        self.server.notifier.publish(b.name, b.owner, events, caller, self.client_address[0], self.request_id)

    def has_body(self):
        return int(self.headers.get("Content-Length") or 0) > 0 or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()

    def log(self, code, started, status):
        caller = self.caller.describe() if self.caller else "-"
        target = f"{self.bucket_name or '-'}/{self.key or ''}"
        with self.server.log_lock:
            sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {self.command} {target} "
                             f"{self.op_name or '-'} caller={caller} -> {status} {code} "
                             f"{self.request_id} {int((time.time() - started) * 1000)}ms\n")
            sys.stderr.flush()

    def error_response(self, e):
        headers = {"Content-Type": "application/xml", **e.headers}
        if e.ec:
            headers["x-oss-ec"] = e.ec
        extra = list(e.extra)
        if e.code in ("NoSuchKey",) and self.key is not None and not any(n == "Key" for n, _ in extra):
            extra.append(("Key", self.key))
        if e.code in ("NoSuchBucket",) and self.bucket_name:
            extra.append(("BucketName", self.bucket_name))
        e.extra = extra
        body = error_xml(e, self.request_id, self.host_id)
        if self.command == "HEAD" and e.status != 304:
            # A HEAD answer has no body: OSS sends the error XML base64-encoded in x-oss-err.
            headers["x-oss-err"] = base64.b64encode(body).decode()
        r = Response(e.status, headers, body)
        r.code = e.code
        return r

    def send(self, response):
        self.send_response_only(response.status)
        headers = {
            "Server": "AliyunOSS",
            "Date": http_date(time.time()),
            "x-oss-request-id": self.request_id,
            "x-oss-server-time": "0",
            **response.headers,
        }
        length = response.file[2] if response.file else len(response.body)
        if response.status != 304:
            headers.setdefault("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD" or response.status in (204, 304):
            return
        try:
            if response.file:
                stream_file(*response.file, self.wfile.write)
            else:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def read_body(self, limit=10 * 1024 * 1024):
        """A small body (XML, JSON) read whole."""
        self.body_read = True
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            from .store import read_chunked
            data = b"".join(read_chunked(self.rfile))
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length > limit:
                raise OssError("EntityTooLarge")
            data = self.rfile.read(length) if length else b""
        md5 = self.headers.get("Content-MD5")
        if md5 is not None and base64.b64encode(hashlib.md5(data).digest()).decode() != md5.strip():
            raise OssError("InvalidDigest", extra=[("CalculatedDigest", base64.b64encode(hashlib.md5(data).digest()).decode())])
        return data

    def receive(self, bucket):
        """A body streamed to a file in the bucket's data directory, checked against Content-MD5."""
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        length = self.headers.get("Content-Length")
        if length is None and not chunked:
            raise OssError("MissingContentLength")
        try:
            length = int(length or 0)
        except ValueError:
            raise OssError("InvalidArgument", "Content-Length is not a number.")
        if length > 5 * 1024 ** 3:
            raise OssError("EntityTooLarge")
        self.body_read = True
        body = self.server.store.receive(bucket, self.rfile, length, chunked)
        md5 = self.headers.get("Content-MD5")
        if md5 is not None and base64.b64encode(body.md5).decode() != md5.strip():
            body.path.unlink(missing_ok=True)
            raise OssError("InvalidDigest", extra=[("CalculatedDigest", base64.b64encode(body.md5).decode())])
        want_crc = self.headers.get("x-oss-hash-crc64ecma")
        if want_crc is not None and want_crc.strip() != str(body.crc):
            body.path.unlink(missing_ok=True)
            raise OssError("InvalidDigest", "The x-oss-hash-crc64ecma you specified does not match the body's CRC-64.",
                           extra=[("ServerCRC", str(body.crc)), ("ClientCRC", want_crc.strip())])
        return body

    # -- routing --------------------------------------------------------------------------

    def route(self, split):
        srv = self.server
        host = self.host_id
        suffix = "." + srv.endpoint_host
        bucket_name = host[: -len(suffix)] if host.endswith(suffix) else None
        raw_path = split.path or "/"
        pairs = parse_query(split.query)
        self.q = dict(pairs)
        if bucket_name is None:
            if raw_path != "/":
                raise OssError("SecondLevelDomainForbidden")
            key = None
        else:
            key = unquote(raw_path[1:]) if raw_path != "/" else None
            if key == "":
                key = None
        self.bucket_name, self.key = bucket_name, key
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.caller = srv.authenticator.authenticate(self.command, bucket_name, key, pairs, headers)
        self.context = {
            "acs:SourceIp": self.client_address[0],
            "acs:SecureTransport": "false",
            "acs:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        q, m = self.q, self.command
        if bucket_name is None:
            if m == "GET":
                return self.op("ListBuckets", self.list_buckets)
            raise OssError("MethodNotAllowed")
        if key is None:
            table = {
                ("PUT", "policy"): ("PutBucketPolicy", self.put_bucket_policy),
                ("GET", "policy"): ("GetBucketPolicy", self.get_bucket_policy),
                ("DELETE", "policy"): ("DeleteBucketPolicy", self.delete_bucket_policy),
                ("PUT", "versioning"): ("PutBucketVersioning", self.put_bucket_versioning),
                ("GET", "versioning"): ("GetBucketVersioning", self.get_bucket_versioning),
                ("GET", "bucketInfo"): ("GetBucketInfo", self.get_bucket_info),
                ("GET", "location"): ("GetBucketLocation", self.get_bucket_location),
                ("GET", "versions"): ("ListObjectVersions", self.list_object_versions),
                ("GET", "uploads"): ("ListMultipartUploads", self.list_multipart_uploads),
                ("POST", "delete"): ("DeleteMultipleObjects", self.delete_multiple),
                ("GET", "acl"): ("GetBucketAcl", self.get_bucket_acl),
            }
            for (method, sub), (name, fn) in table.items():
                if m == method and sub in q:
                    return self.op(name, fn)
            if m == "PUT":
                return self.op("PutBucket", self.put_bucket)
            if m == "DELETE":
                return self.op("DeleteBucket", self.delete_bucket)
            if m == "GET":
                if q.get("list-type") == "2":
                    return self.op("ListObjectsV2", self.list_objects_v2)
                return self.op("ListObjects", self.list_objects)
            if m == "HEAD":
                return self.op("GetBucketInfo", self.head_bucket)
            raise OssError("MethodNotAllowed")
        if "uploadId" in q:
            if m == "PUT":
                if "x-oss-copy-source" in headers:
                    return self.op("UploadPartCopy", self.upload_part_copy)
                return self.op("UploadPart", self.upload_part)
            if m == "POST":
                return self.op("CompleteMultipartUpload", self.complete_multipart)
            if m == "DELETE":
                return self.op("AbortMultipartUpload", self.abort_multipart)
            if m == "GET":
                return self.op("ListParts", self.list_parts)
        table = {
            ("POST", "uploads"): ("InitiateMultipartUpload", self.initiate_multipart),
            ("POST", "append"): ("AppendObject", self.append_object),
            ("PUT", "symlink"): ("PutSymlink", self.put_symlink),
            ("GET", "symlink"): ("GetSymlink", self.get_symlink),
            ("POST", "restore"): ("RestoreObject", self.restore_object),
            ("GET", "tagging"): ("GetObjectTagging", self.get_object_tagging),
            ("PUT", "tagging"): ("PutObjectTagging", self.put_object_tagging),
            ("DELETE", "tagging"): ("DeleteObjectTagging", self.delete_object_tagging),
            ("HEAD", "objectMeta"): ("GetObjectMeta", self.get_object_meta),
            ("GET", "objectMeta"): ("GetObjectMeta", self.get_object_meta),
            ("GET", "acl"): ("GetObjectAcl", self.get_object_acl),
        }
        for (method, sub), (name, fn) in table.items():
            if m == method and sub in q:
                return self.op(name, fn)
        if m == "PUT":
            if "x-oss-copy-source" in headers:
                return self.op("CopyObject", self.copy_object)
            return self.op("PutObject", self.put_object)
        if m == "GET":
            return self.op("GetObject", lambda: self.get_object(head=False))
        if m == "HEAD":
            return self.op("HeadObject", lambda: self.get_object(head=True))
        if m == "DELETE":
            return self.op("DeleteObject", self.delete_object)
        raise OssError("MethodNotAllowed")

    def op(self, name, fn):
        self.op_name = name
        return fn()

    # -- authorization --------------------------------------------------------------------

    def bucket(self, name=None):
        name = name or self.bucket_name
        b = self.server.store.buckets.get(name)
        if b is None:
            raise OssError("NoSuchBucket", extra=[("BucketName", name)] if name != self.bucket_name else [])
        return b

    def allow(self, action, bucket, key=None, extra_context=None):
        """Refuses (AccessDenied) unless the caller may do `action` on the bucket or object."""
        srv = self.server
        owner = bucket.owner if bucket is not None else self.caller.account
        resource = pol.resource_arn(srv.region, owner, bucket.name if bucket is not None else None, key)
        bucket_policy = None
        if bucket is not None and bucket.meta.get("policy"):
            bucket_policy = pol.parse(bucket.meta["policy"], bucket_policy=True)
        context = dict(self.context, **(extra_context or {}))
        ok, reason = pol.authorize(self.caller, owner, bucket_policy, action, resource, context)
        if not ok:
            with srv.log_lock:
                sys.stderr.write(f"  denied {action} on {resource} for {self.caller.describe()}: {reason}\n")
            if key is not None:
                message = "You have no right to access this object because of bucket acl."
            else:
                message = "You do not have permission to access this bucket."
            raise OssError("AccessDenied", message)

    # -- object metadata ------------------------------------------------------------------

    def write_meta(self, headers=None):
        """Object metadata from the request's headers (what PutObject and friends store)."""
        h = {k.lower(): v for k, v in (headers or self.headers).items()}
        meta = {
            "content_type": h.get("content-type") or "application/octet-stream",
            "headers": {n: h[n] for n in STANDARD_HEADERS if n in h},
            "user_meta": {k[len("x-oss-meta-"):]: v for k, v in h.items() if k.startswith("x-oss-meta-")},
            "storage_class": self.storage_class(h.get("x-oss-storage-class")),
            "acl": h.get("x-oss-object-acl", "default"),
        }
        sse = h.get("x-oss-server-side-encryption")
        if sse is not None:
            if sse not in ("AES256", "KMS", "SM4"):
                raise OssError("InvalidEncryptionAlgorithmError", "The Encryption request you specified is not valid. Supported value: AES256/KMS/SM4",
                               extra=[("ArgumentName", "x-oss-server-side-encryption"), ("ArgumentValue", sse)])
            meta["sse"] = sse
            if h.get("x-oss-server-side-encryption-key-id"):
                if sse != "KMS":
                    raise OssError("InvalidArgument", "x-oss-server-side-encryption-key-id is only allowed with KMS.",
                                   extra=[("ArgumentName", "x-oss-server-side-encryption-key-id")])
                meta["sse_key_id"] = h["x-oss-server-side-encryption-key-id"]
            elif sse == "KMS":
                meta["sse_key_id"] = f"local-kms-default-{self.bucket_name}"
            if h.get("x-oss-server-side-data-encryption"):
                meta["sse_data"] = h["x-oss-server-side-data-encryption"]
        elif h.get("x-oss-server-side-encryption-key-id"):
            raise OssError("InvalidArgument", "x-oss-server-side-encryption-key-id needs x-oss-server-side-encryption: KMS.",
                           extra=[("ArgumentName", "x-oss-server-side-encryption-key-id")])
        if "x-oss-tagging" in h:
            meta["tags"] = self.parse_tagging_header(h["x-oss-tagging"])
        return meta

    def storage_class(self, value, default=None):
        if value is None:
            return default or self.bucket().meta.get("storage_class", "Standard")
        if value not in STORAGE_CLASSES:
            raise OssError("InvalidArgument", f"Invalid storage class: {value}",
                           extra=[("ArgumentName", "x-oss-storage-class"), ("ArgumentValue", value)])
        return value

    def parse_tagging_header(self, value):
        tags = []
        for item in value.split("&") if value else []:
            k, _, v = item.partition("=")
            tags.append([unquote(k), unquote(v)])
        self.check_tags(tags)
        return tags

    def check_tags(self, tags):
        if len(tags) > MAX_TAGS:
            raise OssError("InvalidArgument", "Object tags cannot be greater than 10", extra=[("ArgumentName", "x-oss-tagging")])
        seen = set()
        for k, v in tags:
            if not k or len(k) > 128 or len(v) > 256 or k in seen:
                raise OssError("InvalidArgument", "The tag key must be 1 to 128 characters, unique, and the value at most 256.",
                               extra=[("ArgumentName", "Tagging")])
            seen.add(k)

    def object_headers(self, bucket, v, target=None):
        """Response headers describing version v (for a symlink: its target's data)."""
        data = target or v
        h = {
            "Content-Type": data["content_type"],
            "ETag": quoted(data["etag"]),
            "Last-Modified": http_date(data["last_modified"]),
            "Accept-Ranges": "bytes",
            "x-oss-object-type": v["object_type"],
            "x-oss-storage-class": data["storage_class"],
            "x-oss-hash-crc64ecma": str(data["crc64"]),
        }
        for name, value in data["headers"].items():
            h[name.title() if name != "expires" else "Expires"] = value
        for name, value in v["user_meta"].items():
            h[f"x-oss-meta-{name}"] = value
        if data.get("content_md5"):
            h["Content-MD5"] = data["content_md5"]
        if v.get("tags"):
            h["x-oss-tagging-count"] = str(len(v["tags"]))
        if data.get("sse"):
            h["x-oss-server-side-encryption"] = data["sse"]
            if data.get("sse_key_id"):
                h["x-oss-server-side-encryption-key-id"] = data["sse_key_id"]
            if data.get("sse_data"):
                h["x-oss-server-side-data-encryption"] = data["sse_data"]
        if v["object_type"] == "Appendable":
            h["x-oss-next-append-position"] = str(v["size"])
        if bucket.meta.get("versioning"):
            h["x-oss-version-id"] = v["version_id"]
        restore = self.restore_header(data)
        if restore:
            h["x-oss-restore"] = restore
        return h

    def restore_header(self, v):
        r = v.get("restore")
        if not r:
            return None
        if time.time() < r["ready"]:
            return 'ongoing-request="true"'
        return f'ongoing-request="false", expiry-date="{http_date(r["expiry"])}"'

    def readable(self, v):
        """Refuses reading the data of a cold object that is not restored."""
        if v["storage_class"] in COLD_CLASSES:
            r = v.get("restore")
            if not r or time.time() < r["ready"] or time.time() > r["expiry"]:
                raise OssError("InvalidObjectState", "The operation is not valid for the object's state",
                               extra=[("Key", v.get("key", self.key))])

    def lookup(self, bucket, key, version_id=None, allow_marker=False):
        """The version asked for (current by default): NoSuchKey / NoSuchVersion otherwise.
        A delete marker as current version means NoSuchKey (with x-oss-delete-marker)."""
        if version_id is not None:
            if version_id == "" :
                raise OssError("InvalidArgument", "version id can not be empty", extra=[("ArgumentName", "versionId")])
            v = bucket.find_version(key, version_id)
            if v is None:
                raise OssError("NoSuchVersion", extra=[("Key", key), ("VersionId", version_id)])
            if v["delete_marker"] and not allow_marker:
                raise OssError("MethodNotAllowed", "The specified method is not allowed against this resource.",
                               headers={"x-oss-delete-marker": "true", "x-oss-version-id": v["version_id"]})
            return v
        v = bucket.current(key)
        if v is None:
            raise OssError("NoSuchKey", extra=[("Key", key)])
        if v["delete_marker"] and not allow_marker:
            raise OssError("NoSuchKey", extra=[("Key", key)],
                           headers={"x-oss-delete-marker": "true", "x-oss-version-id": v["version_id"]})
        return v

    def resolve_symlink(self, bucket, v):
        if v["object_type"] != "Symlink":
            return None
        target = bucket.current(v["symlink_target"])
        if target is None or target["delete_marker"]:
            raise OssError("NoSuchKey", "The symlink target object does not exist", extra=[("Key", v["symlink_target"])])
        if target["object_type"] == "Symlink":
            raise OssError("InvalidTargetType")
        return target

    # -- versions -------------------------------------------------------------------------

    def commit(self, bucket, key, version):
        """Makes `version` the current version of key, as the bucket's versioning decides."""
        status = bucket.meta.get("versioning")
        versions = bucket.keys.setdefault(key, [])
        version["key"] = key
        if status == "Enabled":
            version["version_id"] = new_version_id()
        else:
            version["version_id"] = "null"
            for old in [x for x in versions if x["version_id"] == "null"]:
                versions.remove(old)
                bucket.drop_blob(old)
        versions.insert(0, version)
        bucket.save_key(key)
        return version

    def new_version(self, body, object_type, meta, etag=None, crc=None, size=None):
        now = time.time()
        return {
            "delete_marker": False,
            "object_type": object_type,
            "blob": body.path.name if body is not None else None,
            "size": size if size is not None else body.size,
            "etag": etag or body.md5.hex().upper(),
            "crc64": crc if crc is not None else body.crc,
            "content_md5": base64.b64encode(body.md5).decode() if object_type == "Normal" and body is not None else None,
            "last_modified": now,
            "content_type": meta["content_type"],
            "headers": meta["headers"],
            "user_meta": meta["user_meta"],
            "storage_class": meta["storage_class"],
            "acl": meta.get("acl", "default"),
            "tags": meta.get("tags", []),
            "sse": meta.get("sse"),
            "sse_key_id": meta.get("sse_key_id"),
            "sse_data": meta.get("sse_data"),
        }

    def version_headers(self, bucket, v):
        return {"x-oss-version-id": v["version_id"]} if bucket.meta.get("versioning") else {}

    def check_overwrite(self, bucket, key):
        if (self.headers.get("x-oss-forbid-overwrite") or "").lower() == "true":
            cur = bucket.current(key)
            if cur is not None and not cur["delete_marker"]:
                raise OssError("FileAlreadyExists")

    # -- objects --------------------------------------------------------------------------

    def put_object(self):
        b = self.bucket()
        self.allow("oss:PutObject", b, self.key)
        meta = self.write_meta()
        if "tags" in meta:
            self.allow("oss:PutObjectTagging", b, self.key)
        self.check_overwrite(b, self.key)
        body = self.receive(b)
        with self.server.store.lock:
            v = self.commit(b, self.key, self.new_version(body, "Normal", meta))
        return Response(200, {"ETag": quoted(v["etag"]), "Content-MD5": v["content_md5"],
                              "x-oss-hash-crc64ecma": str(v["crc64"]), **self.version_headers(b, v)})

    def get_object(self, head):
        b = self.bucket()
        version_id = self.q.get("versionId")
        self.allow("oss:GetObjectVersion" if version_id is not None else "oss:GetObject", b, self.key)
        v = self.lookup(b, self.key, version_id)
        target = self.resolve_symlink(b, v)
        data = target or v
        headers = self.object_headers(b, v, target)
        if not head:
            self.readable(data)
        self.check_conditions(data)
        for name in ("content-type", "content-language", "expires", "cache-control", "content-disposition", "content-encoding"):
            override = self.q.get(f"response-{name}")
            if override is not None:
                headers[name.title()] = override
        size = data["size"]
        start, length, status = 0, size, 200
        rng = self.headers.get("Range")
        if rng:
            parsed = self.parse_range(rng, size)
            if parsed is not None:
                start, end = parsed
                length = end - start + 1
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        if head:
            headers["Content-Length"] = str(length)
            return Response(status, headers)
        return Response(status, headers, file=(b.blob_path(data["blob"]), start, length))

    def parse_range(self, value, size):
        """(start, end) of a single satisfiable byte range; None means the whole object, which
        OSS answers for ranges it ignores (malformed, several ranges, or out of bounds) unless
        x-oss-range-behavior: standard asks for 416 InvalidRange."""
        standard = (self.headers.get("x-oss-range-behavior") or "").lower() == "standard"
        v = value.strip()
        if not v.startswith("bytes=") or "," in v:
            return None
        first, dash, last = v[6:].strip().partition("-")
        try:
            if first == "":
                n = int(last)
                if n <= 0:
                    return None
                return (max(0, size - n), size - 1) if size else None
            s = int(first)
            e = int(last) if last else size - 1
        except ValueError:
            return None
        if s >= size or (last and e < s):
            if standard:
                raise OssError("InvalidRange", extra=[("RangeRequested", value), ("ActualObjectSize", str(size))])
            return None
        if e >= size:
            if not standard and last:
                return None
            e = size - 1
        return s, e

    def check_conditions(self, v, prefix=""):
        """If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since (412 and 304).
        ETags compare exactly (quotes aside): OSS's ETags are upper-case."""
        etag = v["etag"]
        mtime = int(v["last_modified"])

        def tags(value):
            return [t.strip().strip('"') for t in value.split(",")]

        if_match = self.headers.get(prefix + "If-Match")
        if if_match is not None and "*" not in tags(if_match) and etag not in tags(if_match):
            raise OssError("PreconditionFailed", extra=[("Condition", prefix + "If-Match")])
        if_unmod = self.headers.get(prefix + "If-Unmodified-Since")
        if if_unmod is not None and if_match is None:
            t = self.parse_time(if_unmod)
            if t is not None and mtime > t:
                raise OssError("PreconditionFailed", extra=[("Condition", prefix + "If-Unmodified-Since")])
        if_none = self.headers.get(prefix + "If-None-Match")
        if if_none is not None and ("*" in tags(if_none) or etag in tags(if_none)):
            raise self.not_modified(v)
        if_mod = self.headers.get(prefix + "If-Modified-Since")
        if if_mod is not None and if_none is None:
            t = self.parse_time(if_mod)
            if t is not None and mtime <= t:
                raise self.not_modified(v)

    def not_modified(self, v):
        e = OssError("PreconditionFailed", status=304, headers={"ETag": quoted(v["etag"]), "Last-Modified": http_date(v["last_modified"])})
        e.not_modified = True
        return e

    @staticmethod
    def parse_time(value):
        try:
            return email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError):
            return None

    def get_object_meta(self):
        b = self.bucket()
        version_id = self.q.get("versionId")
        self.allow("oss:GetObjectVersion" if version_id is not None else "oss:GetObject", b, self.key)
        v = self.lookup(b, self.key, version_id)
        h = {
            "ETag": quoted(v["etag"]),
            "Content-Length": str(v["size"]),
            "Last-Modified": http_date(v["last_modified"]),
            "x-oss-last-access-time": http_date(v["last_modified"]),
            "x-oss-hash-crc64ecma": str(v["crc64"]),
            **self.version_headers(b, v),
        }
        return Response(200, h)

    def delete_object(self):
        b = self.bucket()
        version_id = self.q.get("versionId")
        self.allow("oss:DeleteObjectVersion" if version_id is not None else "oss:DeleteObject", b, self.key)
        with self.server.store.lock:
            headers = self.delete_one(b, self.key, version_id)
        return Response(204, headers)

    def delete_one(self, b, key, version_id):
        """Deletes a key (or one version); returns the response headers that describe it."""
        status = b.meta.get("versioning")
        versions = b.keys.get(key, [])
        if version_id is not None:
            v = b.find_version(key, version_id)
            if v is None:
                if version_id != "null" and not version_id.startswith("CAEQ"):
                    raise OssError("InvalidArgument", "Invalid version id specified", extra=[("ArgumentName", "versionId")])
                return {"x-oss-version-id": version_id}
            versions.remove(v)
            b.drop_blob(v)
            b.save_key(key)
            h = {"x-oss-version-id": version_id}
            if v["delete_marker"]:
                h["x-oss-delete-marker"] = "true"
            return h
        if not status:
            for v in versions:
                b.drop_blob(v)
            b.keys[key] = []
            b.save_key(key)
            return {}
        marker = {"delete_marker": True, "last_modified": time.time(), "object_type": "DeleteMarker"}
        if status == "Suspended":
            for old in [x for x in versions if x["version_id"] == "null"]:
                versions.remove(old)
                b.drop_blob(old)
        self.commit(b, key, marker)
        return {"x-oss-delete-marker": "true", "x-oss-version-id": marker["version_id"]}

    def delete_multiple(self):
        b = self.bucket()
        if self.headers.get("Content-MD5") is None:
            raise OssError("InvalidDigest", "Content-MD5 is required for DeleteMultipleObjects.",
                           extra=[("ArgumentName", "Content-MD5")])
        root = parse_xml(self.read_body())
        if root.tag != "Delete":
            raise OssError("MalformedXML")
        quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
        url = self.q.get("encoding-type") == "url"
        objects = root.findall("Object")
        if not objects or len(objects) > 1000:
            raise OssError("MalformedXML", "The number of objects to delete must be between 1 and 1000.")
        items = []
        for o in objects:
            key = o.findtext("Key")
            if key is None or key == "":
                raise OssError("MalformedXML")
            items.append((key, o.findtext("VersionId")))
        self.batch_keys = items
        for key, version_id in items:
            self.allow("oss:DeleteObjectVersion" if version_id is not None else "oss:DeleteObject", b, key)
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult>']
        if url:
            out.append("<EncodingType>url</EncodingType>")
        with self.server.store.lock:
            for key, version_id in items:
                h = self.delete_one(b, key, version_id)
                if quiet:
                    continue
                out.append("<Deleted>" + xml_text("Key", encode_key(key, url)))
                if version_id is not None:
                    out.append(xml_text("VersionId", version_id))
                if h.get("x-oss-delete-marker"):
                    out.append(xml_text("DeleteMarker", "true"))
                    if version_id is None:
                        out.append(xml_text("DeleteMarkerVersionId", h["x-oss-version-id"]))
                out.append("</Deleted>")
        out.append("</DeleteResult>")
        return Response(200, {"Content-Type": "application/xml"}, "".join(out).encode())

    def copy_source(self, header="x-oss-copy-source"):
        raw = self.headers.get(header, "")
        path, _, query = raw.partition("?")
        path = unquote(path)
        if not path.startswith("/") or "/" not in path[1:]:
            raise OssError("InvalidArgument", "Copy Source must mention the source bucket and key: /sourcebucket/sourcekey.",
                           extra=[("ArgumentName", header), ("ArgumentValue", raw)])
        bucket_name, _, key = path[1:].partition("/")
        version_id = None
        for k, v in parse_query(query):
            if k == "versionId":
                version_id = v
        if not key:
            raise OssError("InvalidArgument", "Copy Source key is empty.", extra=[("ArgumentName", header)])
        src_bucket = self.server.store.buckets.get(bucket_name)
        if src_bucket is None:
            raise OssError("NoSuchBucket", extra=[("BucketName", bucket_name)])
        self.allow("oss:GetObjectVersion" if version_id is not None else "oss:GetObject", src_bucket, key)
        try:
            v = self.lookup(src_bucket, key, version_id)
        except OssError as e:
            if e.code == "NoSuchKey":
                e.extra = [("Key", key)]
            raise
        target = self.resolve_symlink(src_bucket, v)
        data = target or v
        self.readable(data)
        return src_bucket, key, v, data

    def copy_object(self):
        b = self.bucket()
        self.allow("oss:PutObject", b, self.key)
        src_bucket, src_key, src_v, data = self.copy_source()
        self.check_conditions(data, prefix="x-oss-copy-source-")
        directive = (self.headers.get("x-oss-metadata-directive") or "COPY").upper()
        tag_directive = (self.headers.get("x-oss-tagging-directive") or "Copy").lower()
        if directive not in ("COPY", "REPLACE"):
            raise OssError("InvalidArgument", "x-oss-metadata-directive must be COPY or REPLACE.",
                           extra=[("ArgumentName", "x-oss-metadata-directive")])
        if tag_directive not in ("copy", "replace"):
            raise OssError("InvalidArgument", "x-oss-tagging-directive must be Copy or Replace.",
                           extra=[("ArgumentName", "x-oss-tagging-directive")])
        req = self.write_meta()
        if directive == "COPY":
            meta = {"content_type": data["content_type"], "headers": dict(data["headers"]),
                    "user_meta": dict(src_v["user_meta"]), "acl": req["acl"]}
        else:
            meta = {k: req[k] for k in ("content_type", "headers", "user_meta", "acl")}
        meta["storage_class"] = self.storage_class(self.headers.get("x-oss-storage-class"), default=data["storage_class"])
        for k in ("sse", "sse_key_id", "sse_data"):
            meta[k] = req.get(k) if "x-oss-server-side-encryption" in {h.lower() for h in self.headers} else data.get(k)
        if tag_directive == "replace":
            meta["tags"] = req.get("tags", [])
            if meta["tags"]:
                self.allow("oss:PutObjectTagging", b, self.key)
        else:
            meta["tags"] = [list(t) for t in src_v.get("tags", [])]
        self.check_overwrite(b, self.key)
        body = self.server.store.copy_blob(src_bucket, data["blob"], b) if data["object_type"] != "Appendable" \
            else self.server.store.copy_blob(src_bucket, data["blob"], b, 0, data["size"])
        if data["object_type"] in ("Normal", "Multipart"):
            v = self.new_version(body, data["object_type"], meta, etag=data["etag"], crc=data["crc64"])
            v["content_md5"] = data.get("content_md5")
        else:
            v = self.new_version(body, "Normal", meta)
        with self.server.store.lock:
            v = self.commit(b, self.key, v)
        headers = {"Content-Type": "application/xml", "ETag": quoted(v["etag"]), "x-oss-hash-crc64ecma": str(v["crc64"]),
                   **self.version_headers(b, v)}
        if src_bucket.meta.get("versioning"):
            headers["x-oss-copy-source-version-id"] = src_v["version_id"]
        body_xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult>{xml_text("ETag", quoted(v["etag"]))}'
                    f'{xml_text("LastModified", iso_date(v["last_modified"]))}</CopyObjectResult>')
        return Response(200, headers, body_xml.encode())

    def append_object(self):
        b = self.bucket()
        self.allow("oss:PutObject", b, self.key)
        try:
            position = int(self.q.get("position", ""))
        except ValueError:
            raise OssError("InvalidArgument", "position is required and must be a number.", extra=[("ArgumentName", "position")]) \
                if self.q.get("position") else OssError("MissingArgument", "Missing argument position.", extra=[("ArgumentName", "position")])
        if position < 0:
            raise OssError("InvalidArgument", "position must not be negative.", extra=[("ArgumentName", "position")])
        cur = b.current(self.key)
        if cur is not None and cur["delete_marker"]:
            cur = None
        if cur is not None and cur["object_type"] != "Appendable":
            raise OssError("ObjectNotAppendable")
        size = cur["size"] if cur is not None else 0
        if position != size:
            raise OssError("PositionNotEqualToLength", headers={"x-oss-next-append-position": str(size)})
        meta = self.write_meta() if cur is None else None
        if meta and meta.get("sse_key_id") and self.headers.get("x-oss-server-side-encryption-key-id"):
            raise OssError("InvalidArgument", "Appendable objects cannot be encrypted with a specific CMK ID.",
                           extra=[("ArgumentName", "x-oss-server-side-encryption-key-id")])
        if meta and "tags" in meta:
            self.allow("oss:PutObjectTagging", b, self.key)
        body = self.receive(b)
        with self.server.store.lock:
            cur = b.current(self.key)
            if cur is not None and cur["delete_marker"]:
                cur = None
            if (cur["size"] if cur else 0) != position:
                body.path.unlink(missing_ok=True)
                raise OssError("PositionNotEqualToLength", headers={"x-oss-next-append-position": str(cur["size"] if cur else 0)})
            if cur is None:
                v = self.new_version(body, "Appendable", meta)
                v["etag"] = appendable_etag(v["crc64"], v["last_modified"])
                v = self.commit(b, self.key, v)
            else:
                v = cur
                with open(b.blob_path(v["blob"]), "ab") as out, open(body.path, "rb") as f:
                    for chunk in iter(lambda: f.read(1024 * 1024), b""):
                        out.write(chunk)
                body.path.unlink(missing_ok=True)
                v["crc64"] = crcmod64.combine(v["crc64"], body.crc, body.size)
                v["size"] += body.size
                v["last_modified"] = time.time()
                v["etag"] = appendable_etag(v["crc64"], v["last_modified"])
                b.save_key(self.key)
        return Response(200, {"ETag": quoted(v["etag"]), "x-oss-next-append-position": str(v["size"]),
                              "x-oss-hash-crc64ecma": str(v["crc64"]), **self.version_headers(b, v)})

    def put_symlink(self):
        b = self.bucket()
        self.allow("oss:PutObject", b, self.key)
        target = self.headers.get("x-oss-symlink-target")
        if not target:
            raise OssError("InvalidArgument", "x-oss-symlink-target is required.", extra=[("ArgumentName", "x-oss-symlink-target")])
        target = unquote(target)
        meta = self.write_meta()
        if "tags" in meta:
            self.allow("oss:PutObjectTagging", b, self.key)
        self.check_overwrite(b, self.key)
        now = time.time()
        # Not an MD5 of anything a client holds: OSS's symlink ETags are opaque.
        etag = hashlib.md5(f"symlink\0{target}\0{now}\0{uuid.uuid4()}".encode()).hexdigest().upper()
        v = {
            "delete_marker": False, "object_type": "Symlink", "blob": None, "size": 0, "etag": etag,
            "crc64": 0, "content_md5": None, "last_modified": now, "content_type": meta["content_type"],
            "headers": meta["headers"], "user_meta": meta["user_meta"], "storage_class": meta["storage_class"],
            "acl": meta["acl"], "tags": meta.get("tags", []), "symlink_target": target,
        }
        with self.server.store.lock:
            v = self.commit(b, self.key, v)
        return Response(200, {"ETag": quoted(etag), **self.version_headers(b, v)})

    def get_symlink(self):
        b = self.bucket()
        version_id = self.q.get("versionId")
        self.allow("oss:GetObjectVersion" if version_id is not None else "oss:GetObject", b, self.key)
        v = self.lookup(b, self.key, version_id)
        if v["object_type"] != "Symlink":
            raise OssError("InvalidArgument", "The object is not a symlink.", status=400,
                           extra=[("ArgumentName", "symlink")])
        # The target as stored (oss2 sends it percent-encoded and decodes the answer; the v2 SDK
        # sends and reads it as is): plain when it is printable ASCII, else percent-encoded.
        target = v["symlink_target"]
        if not (target.isascii() and target.isprintable()) or "%" in target:
            target = quote(target, safe="/")
        h = {"x-oss-symlink-target": target, "ETag": quoted(v["etag"]),
             "Last-Modified": http_date(v["last_modified"]), **self.version_headers(b, v)}
        for name, value in v["user_meta"].items():
            h[f"x-oss-meta-{name}"] = value
        return Response(200, h)

    def restore_object(self):
        b = self.bucket()
        version_id = self.q.get("versionId")
        self.allow("oss:RestoreObject", b, self.key)
        if self.has_body():
            self.read_body()
        v = self.lookup(b, self.key, version_id)
        if v["storage_class"] not in COLD_CLASSES:
            raise OssError("OperationNotSupported", "The operation is not supported for this resource",
                           extra=[("Key", self.key)])
        now = time.time()
        with self.server.store.lock:
            r = v.get("restore")
            if r and now < r["ready"]:
                raise OssError("RestoreAlreadyInProgress")
            if r and now <= r["expiry"]:
                r["expiry"] = now + 24 * 3600
                b.save_key(self.key)
                return Response(200, self.version_headers(b, v))
            v["restore"] = {"ready": now + self.server.restore_seconds, "expiry": now + self.server.restore_seconds + 24 * 3600}
            b.save_key(self.key)
        return Response(202, self.version_headers(b, v))

    # -- tags -----------------------------------------------------------------------------

    def tag_target(self, action, version_action):
        b = self.bucket()
        version_id = self.q.get("versionId")
        self.allow(version_action if version_id is not None else action, b, self.key)
        return b, self.lookup(b, self.key, version_id)

    def get_object_tagging(self):
        b, v = self.tag_target("oss:GetObjectTagging", "oss:GetObjectVersionTagging")
        tags = "".join(f"<Tag>{xml_text('Key', k)}{xml_text('Value', val)}</Tag>" for k, val in v.get("tags", []))
        return Response(200, {"Content-Type": "application/xml", **self.version_headers(b, v)},
                        f'<?xml version="1.0" encoding="UTF-8"?>\n<Tagging><TagSet>{tags}</TagSet></Tagging>'.encode())

    def put_object_tagging(self):
        b, v = self.tag_target("oss:PutObjectTagging", "oss:PutObjectVersionTagging")
        root = parse_xml(self.read_body())
        if root.tag != "Tagging" or root.find("TagSet") is None:
            raise OssError("MalformedXML")
        tags = [[t.findtext("Key") or "", t.findtext("Value") or ""] for t in root.find("TagSet").findall("Tag")]
        self.check_tags(tags)
        with self.server.store.lock:
            v["tags"] = tags
            b.save_key(self.key)
        return Response(200, self.version_headers(b, v))

    def delete_object_tagging(self):
        b, v = self.tag_target("oss:DeleteObjectTagging", "oss:DeleteObjectVersionTagging")
        with self.server.store.lock:
            v["tags"] = []
            b.save_key(self.key)
        return Response(204, self.version_headers(b, v))

    def get_object_acl(self):
        b = self.bucket()
        self.allow("oss:GetObjectAcl", b, self.key)
        v = self.lookup(b, self.key, self.q.get("versionId"))
        return Response(200, {"Content-Type": "application/xml"},
                        (f'<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy><Owner>{xml_text("ID", b.owner)}'
                         f'{xml_text("DisplayName", b.owner)}</Owner><AccessControlList>{xml_text("Grant", v.get("acl", "default"))}'
                         f'</AccessControlList></AccessControlPolicy>').encode())

    # -- multipart ------------------------------------------------------------------------

    def upload(self, b):
        upload_id = self.q.get("uploadId", "")
        up = b.uploads.get(upload_id)
        if up is None or up["key"] != self.key:
            raise OssError("NoSuchUpload", extra=[("UploadId", upload_id)])
        return upload_id, up

    def initiate_multipart(self):
        b = self.bucket()
        self.allow("oss:PutObject", b, self.key)
        meta = self.write_meta()
        if "tags" in meta:
            self.allow("oss:PutObjectTagging", b, self.key)
        self.check_overwrite(b, self.key)
        upload_id = uuid.uuid4().hex.upper()
        with self.server.store.lock:
            b.uploads[upload_id] = {"key": self.key, "initiated": time.time(), "meta": meta, "parts": {}}
            b.save_upload(upload_id)
        url = self.q.get("encoding-type") == "url"
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult>'
               + (xml_text("EncodingType", "url") if url else "")
               + xml_text("Bucket", b.name) + xml_text("Key", encode_key(self.key, url)) + xml_text("UploadId", upload_id)
               + "</InitiateMultipartUploadResult>")
        return Response(200, {"Content-Type": "application/xml"}, xml.encode())

    def part_number(self):
        try:
            n = int(self.q.get("partNumber", ""))
        except ValueError:
            n = 0
        if not 1 <= n <= 10000:
            raise OssError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.",
                           extra=[("ArgumentName", "partNumber"), ("ArgumentValue", self.q.get("partNumber", ""))])
        return n

    def store_part(self, b, upload_id, n, body):
        d = b.upload_dir(upload_id)
        d.mkdir(parents=True, exist_ok=True)
        dest = d / f"{n}.part"
        os.replace(body.path, dest)
        part = {"number": n, "etag": body.md5.hex().upper(), "md5": body.md5.hex(), "crc64": body.crc,
                "size": body.size, "last_modified": time.time()}
        from .store import atomic_write_json
        atomic_write_json(d / f"{n}.json", part)
        return part

    def upload_part(self):
        b = self.bucket()
        self.allow("oss:PutObject", b, self.key)
        upload_id, up = self.upload(b)
        n = self.part_number()
        body = self.receive(b)
        with self.server.store.lock:
            if upload_id not in b.uploads:
                body.path.unlink(missing_ok=True)
                raise OssError("NoSuchUpload", extra=[("UploadId", upload_id)])
            part = self.store_part(b, upload_id, n, body)
            up["parts"][n] = part
        return Response(200, {"ETag": quoted(part["etag"]), "Content-MD5": base64.b64encode(bytes.fromhex(part["md5"])).decode(),
                              "x-oss-hash-crc64ecma": str(part["crc64"])})

    def upload_part_copy(self):
        b = self.bucket()
        self.allow("oss:PutObject", b, self.key)
        upload_id, up = self.upload(b)
        n = self.part_number()
        src_bucket, src_key, src_v, data = self.copy_source()
        self.check_conditions(data, prefix="x-oss-copy-source-")
        start, end = 0, data["size"]
        rng = self.headers.get("x-oss-copy-source-range")
        if rng:
            v = rng.strip()
            try:
                if not v.startswith("bytes="):
                    raise ValueError
                s, _, e = v[6:].partition("-")
                start, last = int(s), int(e) if e else data["size"] - 1
            except ValueError:
                raise OssError("InvalidArgument", "x-oss-copy-source-range must be bytes=first-last.",
                               extra=[("ArgumentName", "x-oss-copy-source-range"), ("ArgumentValue", rng)])
            if start > last or last >= data["size"]:
                raise OssError("InvalidRange", extra=[("RangeRequested", rng), ("ActualObjectSize", str(data["size"]))])
            end = last + 1
        body = self.server.store.copy_blob(src_bucket, data["blob"], b, start, end)
        with self.server.store.lock:
            if upload_id not in b.uploads:
                body.path.unlink(missing_ok=True)
                raise OssError("NoSuchUpload", extra=[("UploadId", upload_id)])
            part = self.store_part(b, upload_id, n, body)
            up["parts"][n] = part
        headers = {"Content-Type": "application/xml", "ETag": quoted(part["etag"]), "x-oss-hash-crc64ecma": str(part["crc64"])}
        if src_bucket.meta.get("versioning"):
            headers["x-oss-copy-source-version-id"] = src_v["version_id"]
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<CopyPartResult>{xml_text("LastModified", iso_date(part["last_modified"]))}'
               f'{xml_text("ETag", quoted(part["etag"]))}</CopyPartResult>')
        return Response(200, headers, xml.encode())

    def complete_multipart(self):
        b = self.bucket()
        self.allow("oss:PutObject", b, self.key)
        upload_id, up = self.upload(b)
        if (self.headers.get("x-oss-complete-all") or "").lower() == "yes":
            if self.has_body() and int(self.headers.get("Content-Length") or 0) > 0:
                raise OssError("InvalidArgument", "x-oss-complete-all does not take a body.", extra=[("ArgumentName", "x-oss-complete-all")])
            wanted = [(n, None) for n in sorted(up["parts"])]
        else:
            root = parse_xml(self.read_body())
            if root.tag != "CompleteMultipartUpload":
                raise OssError("MalformedXML")
            wanted = []
            for p in root.findall("Part"):
                try:
                    wanted.append((int(p.findtext("PartNumber")), (p.findtext("ETag") or "").strip().strip('"')))
                except (TypeError, ValueError):
                    raise OssError("MalformedXML")
        if not wanted:
            raise OssError("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
        numbers = [n for n, _ in wanted]
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise OssError("InvalidPartOrder")
        parts = []
        for n, etag in wanted:
            part = up["parts"].get(n)
            if part is None or (etag is not None and etag != part["etag"]):
                raise OssError("InvalidPart", extra=[("PartNumber", str(n)), ("ETag", etag or "")])
            parts.append(part)
        for part in parts[:-1]:
            if part["size"] < MIN_PART_SIZE:
                raise OssError("EntityTooSmall", extra=[("PartNumber", str(part["number"])), ("ProposedSize", str(part["size"])),
                                                        ("MinSizeAllowed", str(MIN_PART_SIZE))])
        meta = up["meta"]
        name = uuid.uuid4().hex
        dest = b.blob_path(name)
        crc, size = 0, 0
        with open(dest, "wb") as out:
            for part in parts:
                with open(b.upload_dir(upload_id) / f"{part['number']}.part", "rb") as f:
                    for chunk in iter(lambda: f.read(1024 * 1024), b""):
                        out.write(chunk)
                crc = crcmod64.combine(crc, part["crc64"], part["size"])
                size += part["size"]
        etag = hashlib.md5(b"".join(bytes.fromhex(p["md5"]) for p in parts)).hexdigest().upper() + f"-{len(parts)}"
        with self.server.store.lock:
            if upload_id not in b.uploads:
                dest.unlink(missing_ok=True)
                raise OssError("NoSuchUpload", extra=[("UploadId", upload_id)])
            now = time.time()
            v = {
                "delete_marker": False, "object_type": "Multipart", "blob": name, "size": size, "etag": etag,
                "crc64": crc, "content_md5": None, "last_modified": now, "content_type": meta["content_type"],
                "headers": meta["headers"], "user_meta": meta["user_meta"], "storage_class": meta["storage_class"],
                "acl": meta.get("acl", "default"), "tags": meta.get("tags", []), "sse": meta.get("sse"),
                "sse_key_id": meta.get("sse_key_id"), "sse_data": meta.get("sse_data"),
            }
            v = self.commit(b, self.key, v)
            del b.uploads[upload_id]
            import shutil
            shutil.rmtree(b.upload_dir(upload_id), ignore_errors=True)
        url = self.q.get("encoding-type") == "url"
        host = self.headers.get("Host", "")
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult>'
               + (xml_text("EncodingType", "url") if url else "")
               + xml_text("Location", f"http://{host}/{quote(self.key)}") + xml_text("Bucket", b.name)
               + xml_text("Key", encode_key(self.key, url)) + xml_text("ETag", quoted(etag))
               + "</CompleteMultipartUploadResult>")
        headers = {"Content-Type": "application/xml", "ETag": quoted(etag), "x-oss-hash-crc64ecma": str(crc),
                   **self.version_headers(b, v)}
        return Response(200, headers, xml.encode())

    def abort_multipart(self):
        b = self.bucket()
        self.allow("oss:AbortMultipartUpload", b, self.key)
        upload_id, _ = self.upload(b)
        with self.server.store.lock:
            b.uploads.pop(upload_id, None)
            import shutil
            shutil.rmtree(b.upload_dir(upload_id), ignore_errors=True)
        return Response(204)

    def int_param(self, name, default, maximum, minimum=0):
        raw = self.q.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if value < minimum or value > maximum:
            raise OssError("InvalidArgument", f"Argument {name} must be an integer between {minimum} and {maximum}.",
                           extra=[("ArgumentName", name), ("ArgumentValue", raw)])
        return value

    def list_parts(self):
        b = self.bucket()
        self.allow("oss:ListParts", b, self.key)
        upload_id, up = self.upload(b)
        max_parts = self.int_param("max-parts", 1000, 1000)
        marker = self.int_param("part-number-marker", 0, 10000)
        url = self.q.get("encoding-type") == "url"
        numbers = [n for n in sorted(up["parts"]) if n > marker]
        page, truncated = numbers[:max_parts], len(numbers) > max_parts
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult>']
        if url:
            out.append(xml_text("EncodingType", "url"))
        out += [xml_text("Bucket", b.name), xml_text("Key", encode_key(self.key, url)), xml_text("UploadId", upload_id),
                xml_text("PartNumberMarker", marker), xml_text("NextPartNumberMarker", page[-1] if page else marker),
                xml_text("MaxParts", max_parts), xml_text("IsTruncated", str(truncated).lower())]
        for n in page:
            p = up["parts"][n]
            out.append(f"<Part>{xml_text('PartNumber', n)}{xml_text('LastModified', iso_date(p['last_modified']))}"
                       f"{xml_text('ETag', quoted(p['etag']))}{xml_text('HashCrc64ecma', p['crc64'])}{xml_text('Size', p['size'])}</Part>")
        out.append("</ListPartsResult>")
        return Response(200, {"Content-Type": "application/xml"}, "".join(out).encode())

    def list_multipart_uploads(self):
        b = self.bucket()
        prefix = self.q.get("prefix", "")
        delimiter = self.q.get("delimiter", "")
        self.allow("oss:ListMultipartUploads", b, None, {"oss:Prefix": prefix, "oss:Delimiter": delimiter})
        max_uploads = self.int_param("max-uploads", 1000, 1000, 1)
        key_marker = self.q.get("key-marker", "")
        id_marker = self.q.get("upload-id-marker", "")
        url = self.q.get("encoding-type") == "url"
        uploads = sorted(((u["key"], u["initiated"], uid) for uid, u in b.uploads.items()), key=lambda t: (t[0], t[1], t[2]))
        page = Page(prefix, delimiter, max_uploads)
        for key, initiated, uid in uploads:
            if not key.startswith(prefix):
                continue
            if key_marker and (key < key_marker or (key == key_marker and (not id_marker or uid <= id_marker))):
                continue
            if not page.add(key, (key, uid, initiated)):
                break
        entries, prefixes, truncated = page.entries, page.prefixes, page.truncated
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult>']
        if url:
            out.append(xml_text("EncodingType", "url"))
        next_key = entries[-1][0] if entries else (prefixes[-1] if prefixes else "")
        next_id = entries[-1][1] if entries else ""
        out += [xml_text("Bucket", b.name), xml_text("KeyMarker", encode_key(key_marker, url)), xml_text("UploadIdMarker", id_marker),
                xml_text("NextKeyMarker", encode_key(next_key, url) if truncated else ""),
                xml_text("NextUploadIdMarker", next_id if truncated else ""),
                xml_text("Delimiter", encode_key(delimiter, url)), xml_text("Prefix", encode_key(prefix, url)),
                xml_text("MaxUploads", max_uploads), xml_text("IsTruncated", str(truncated).lower())]
        for key, uid, initiated in entries:
            out.append(f"<Upload>{xml_text('Key', encode_key(key, url))}{xml_text('UploadId', uid)}"
                       f"{xml_text('StorageClass', b.uploads[uid]['meta']['storage_class'])}"
                       f"{xml_text('Initiated', iso_date(initiated))}</Upload>")
        for cp in prefixes:
            out.append(f"<CommonPrefixes>{xml_text('Prefix', encode_key(cp, url))}</CommonPrefixes>")
        out.append("</ListMultipartUploadsResult>")
        return Response(200, {"Content-Type": "application/xml"}, "".join(out).encode())

    # -- listing --------------------------------------------------------------------------

    def walk(self, b, prefix, delimiter, after, max_keys):
        """(objects [(key, version)], common prefixes, truncated, next marker) of the current
        versions after `after`, as OSS pages them: keys and common prefixes both count."""
        with self.server.store.lock:
            keys = sorted(k for k, vs in b.keys.items() if vs and not vs[0]["delete_marker"] and k.startswith(prefix) and k > after)
            snapshot = {k: b.keys[k][0] for k in keys}
        page = Page(prefix, delimiter, max_keys, after)
        for key in keys:
            if not page.add(key, (key, snapshot[key])):
                break
        return page.entries, page.prefixes, page.truncated, page.last

    def contents_xml(self, b, key, v, url, owner):
        parts = [xml_text("Key", encode_key(key, url)), xml_text("LastModified", iso_date(v["last_modified"])),
                 xml_text("ETag", quoted(v["etag"])), xml_text("Type", v["object_type"]), xml_text("Size", v["size"]),
                 xml_text("StorageClass", v["storage_class"])]
        if owner:
            parts.append(f"<Owner>{xml_text('ID', b.owner)}{xml_text('DisplayName', b.owner)}</Owner>")
        restore = self.restore_header(v)
        if restore:
            parts.append(xml_text("RestoreInfo", restore))
        return "<Contents>" + "".join(parts) + "</Contents>"

    def list_objects(self):
        b = self.bucket()
        prefix, delimiter, marker = self.q.get("prefix", ""), self.q.get("delimiter", ""), self.q.get("marker", "")
        self.allow("oss:ListObjects", b, None, {"oss:Prefix": prefix, "oss:Delimiter": delimiter})
        max_keys = self.int_param("max-keys", 100, 1000)
        url = self.q.get("encoding-type") == "url"
        objects, prefixes, truncated, last = self.walk(b, prefix, delimiter, marker, max_keys)
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>']
        if url:
            out.append(xml_text("EncodingType", "url"))
        out += [xml_text("Name", b.name), xml_text("Prefix", encode_key(prefix, url)), xml_text("Marker", encode_key(marker, url)),
                xml_text("MaxKeys", max_keys), xml_text("Delimiter", encode_key(delimiter, url)),
                xml_text("IsTruncated", str(truncated).lower())]
        if truncated:
            out.append(xml_text("NextMarker", encode_key(last, url)))
        out += [self.contents_xml(b, k, v, url, True) for k, v in objects]
        out += [f"<CommonPrefixes>{xml_text('Prefix', encode_key(cp, url))}</CommonPrefixes>" for cp in prefixes]
        out.append("</ListBucketResult>")
        return Response(200, {"Content-Type": "application/xml"}, "".join(out).encode())

    def list_objects_v2(self):
        b = self.bucket()
        prefix, delimiter = self.q.get("prefix", ""), self.q.get("delimiter", "")
        self.allow("oss:ListObjects", b, None, {"oss:Prefix": prefix, "oss:Delimiter": delimiter})
        max_keys = self.int_param("max-keys", 100, 1000)
        url = self.q.get("encoding-type") == "url"
        token = self.q.get("continuation-token")
        start_after = self.q.get("start-after", "")
        after = start_after
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)).decode("utf-8")
            except ValueError:
                raise OssError("InvalidArgument", "The continuation token is not valid.", extra=[("ArgumentName", "continuation-token")])
            if start_after > after:
                after = start_after
        fetch_owner = (self.q.get("fetch-owner") or "").lower() == "true"
        objects, prefixes, truncated, last = self.walk(b, prefix, delimiter, after, max_keys)
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>']
        out += [xml_text("Name", b.name), xml_text("Prefix", encode_key(prefix, url))]
        if start_after:
            out.append(xml_text("StartAfter", encode_key(start_after, url)))
        if token is not None:
            out.append(xml_text("ContinuationToken", token))
        out += [xml_text("MaxKeys", max_keys), xml_text("Delimiter", encode_key(delimiter, url))]
        if url:
            out.append(xml_text("EncodingType", "url"))
        out.append(xml_text("IsTruncated", str(truncated).lower()))
        out.append(xml_text("KeyCount", len(objects) + len(prefixes)))
        if truncated:
            out.append(xml_text("NextContinuationToken", base64.urlsafe_b64encode(last.encode("utf-8")).decode().rstrip("=")))
        out += [self.contents_xml(b, k, v, url, fetch_owner) for k, v in objects]
        out += [f"<CommonPrefixes>{xml_text('Prefix', encode_key(cp, url))}</CommonPrefixes>" for cp in prefixes]
        out.append("</ListBucketResult>")
        return Response(200, {"Content-Type": "application/xml"}, "".join(out).encode())

    def list_object_versions(self):
        b = self.bucket()
        prefix, delimiter = self.q.get("prefix", ""), self.q.get("delimiter", "")
        self.allow("oss:ListObjectVersions", b, None, {"oss:Prefix": prefix, "oss:Delimiter": delimiter})
        max_keys = self.int_param("max-keys", 100, 1000)
        key_marker, vid_marker = self.q.get("key-marker", ""), self.q.get("version-id-marker", "")
        url = self.q.get("encoding-type") == "url"
        with self.server.store.lock:
            items = []
            for key in sorted(k for k in b.keys if k.startswith(prefix)):
                for i, v in enumerate(b.keys[key]):
                    items.append((key, i == 0, dict(v)))
        page = Page(prefix, delimiter, max_keys)
        skipping = bool(key_marker)
        for key, latest, v in items:
            if skipping:
                if key < key_marker:
                    continue
                if key == key_marker:
                    if not vid_marker:
                        continue
                    if v["version_id"] == vid_marker:
                        skipping = False
                    continue
                skipping = False
            if not page.add(key, (key, latest, v)):
                break
        entries, prefixes, truncated = page.entries, page.prefixes, page.truncated
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListVersionsResult>']
        if url:
            out.append(xml_text("EncodingType", "url"))
        out += [xml_text("Name", b.name), xml_text("Prefix", encode_key(prefix, url)), xml_text("KeyMarker", encode_key(key_marker, url)),
                xml_text("VersionIdMarker", vid_marker), xml_text("MaxKeys", max_keys), xml_text("Delimiter", encode_key(delimiter, url)),
                xml_text("IsTruncated", str(truncated).lower())]
        if truncated and entries:
            out += [xml_text("NextKeyMarker", encode_key(entries[-1][0], url)), xml_text("NextVersionIdMarker", entries[-1][2]["version_id"])]
        owner = f"<Owner>{xml_text('ID', b.owner)}{xml_text('DisplayName', b.owner)}</Owner>"
        for key, latest, v in entries:
            common = (xml_text("Key", encode_key(key, url)) + xml_text("VersionId", v["version_id"]) +
                      xml_text("IsLatest", str(latest).lower()) + xml_text("LastModified", iso_date(v["last_modified"])))
            if v["delete_marker"]:
                out.append(f"<DeleteMarker>{common}{owner}</DeleteMarker>")
            else:
                out.append(f"<Version>{common}{xml_text('ETag', quoted(v['etag']))}{xml_text('Type', v['object_type'])}"
                           f"{xml_text('Size', v['size'])}{xml_text('StorageClass', v['storage_class'])}{owner}</Version>")
        out += [f"<CommonPrefixes>{xml_text('Prefix', encode_key(cp, url))}</CommonPrefixes>" for cp in prefixes]
        out.append("</ListVersionsResult>")
        return Response(200, {"Content-Type": "application/xml"}, "".join(out).encode())

    # -- buckets --------------------------------------------------------------------------

    def list_buckets(self):
        if self.caller.kind == "anonymous":
            raise OssError("AccessDenied", "Anonymous access is forbidden for this operation.")
        self.allow("oss:ListBuckets", None)
        prefix, marker = self.q.get("prefix", ""), self.q.get("marker", "")
        max_keys = self.int_param("max-keys", 100, 1000, 1)
        names = sorted(n for n, b in self.server.store.buckets.items() if b.owner == self.caller.account
                       and n.startswith(prefix) and n > marker)
        page, truncated = names[:max_keys], len(names) > max_keys
        srv = self.server
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult>']
        if prefix:
            out.append(xml_text("Prefix", prefix))
        if marker:
            out.append(xml_text("Marker", marker))
        if self.q.get("max-keys"):
            out.append(xml_text("MaxKeys", max_keys))
        out.append(xml_text("IsTruncated", str(truncated).lower()))
        if truncated:
            out.append(xml_text("NextMarker", page[-1]))
        out.append(f"<Owner>{xml_text('ID', self.caller.account)}{xml_text('DisplayName', self.caller.account)}</Owner><Buckets>")
        for n in page:
            b = srv.store.buckets[n]
            out.append(f"<Bucket>{xml_text('CreationDate', iso_date(b.meta['created']))}"
                       f"{xml_text('ExtranetEndpoint', srv.endpoint_host)}{xml_text('IntranetEndpoint', srv.endpoint_host)}"
                       f"{xml_text('Location', srv.location)}{xml_text('Name', n)}{xml_text('Region', srv.region)}"
                       f"{xml_text('StorageClass', b.meta.get('storage_class', 'Standard'))}</Bucket>")
        out.append("</Buckets></ListAllMyBucketsResult>")
        return Response(200, {"Content-Type": "application/xml"}, "".join(out).encode())

    def put_bucket(self):
        name = self.bucket_name
        import re
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name):
            raise OssError("InvalidBucketName", extra=[("BucketName", name)])
        if self.caller.kind == "anonymous":
            raise OssError("AccessDenied", "Anonymous access is forbidden for this operation.")
        data = self.read_body()
        storage_class = "Standard"
        if data.strip():
            root = parse_xml(data)
            sc = root.findtext("StorageClass")
            if sc:
                if sc not in STORAGE_CLASSES:
                    raise OssError("InvalidArgument", f"Invalid storage class: {sc}", extra=[("ArgumentName", "StorageClass")])
                storage_class = sc
        acl = self.headers.get("x-oss-acl", "private")
        with self.server.store.lock:
            existing = self.server.store.buckets.get(name)
            if existing is not None:
                if existing.owner == self.caller.account:
                    self.allow("oss:PutBucket", existing)
                    return Response(200, {"Location": f"/{name}"})
                raise OssError("BucketAlreadyExists", extra=[("BucketName", name)])
            self.allow("oss:PutBucket", FakeBucket(name, self.caller.account))
            self.server.store.create_bucket(name, self.caller.account, self.server.region, storage_class, acl)
        return Response(200, {"Location": f"/{name}"})

    def delete_bucket(self):
        b = self.bucket()
        self.allow("oss:DeleteBucket", b)
        with self.server.store.lock:
            if any(b.keys.values()) or b.uploads:
                raise OssError("BucketNotEmpty", extra=[("BucketName", b.name)])
            self.server.store.delete_bucket(b.name)
        return Response(204)

    def head_bucket(self):
        b = self.bucket()
        self.allow("oss:GetBucketInfo", b)
        return Response(200)

    def get_bucket_acl(self):
        b = self.bucket()
        self.allow("oss:GetBucketAcl", b)
        return Response(200, {"Content-Type": "application/xml"},
                        (f'<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy><Owner>{xml_text("ID", b.owner)}'
                         f'{xml_text("DisplayName", b.owner)}</Owner><AccessControlList>{xml_text("Grant", b.meta.get("acl", "private"))}'
                         f'</AccessControlList></AccessControlPolicy>').encode())

    def get_bucket_info(self):
        b = self.bucket()
        self.allow("oss:GetBucketInfo", b)
        srv = self.server
        versioning = b.meta.get("versioning")
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<BucketInfo><Bucket>'
               + xml_text("AccessMonitor", "Disabled") + xml_text("CreationDate", iso_date(b.meta["created"]))
               + xml_text("ExtranetEndpoint", srv.endpoint_host) + xml_text("IntranetEndpoint", srv.endpoint_host)
               + xml_text("Location", srv.location) + xml_text("StorageClass", b.meta.get("storage_class", "Standard"))
               + xml_text("TransferAcceleration", "Disabled") + xml_text("CrossRegionReplication", "Disabled")
               + xml_text("Name", b.name) + xml_text("ResourceGroupId", "rg-default")
               + f"<Owner>{xml_text('DisplayName', b.owner)}{xml_text('ID', b.owner)}</Owner>"
               + f"<AccessControlList>{xml_text('Grant', b.meta.get('acl', 'private'))}</AccessControlList>"
               + "<ServerSideEncryptionRule><SSEAlgorithm>None</SSEAlgorithm></ServerSideEncryptionRule>"
               + (xml_text("Versioning", versioning) if versioning else "")
               + "<BucketPolicy><LogBucket></LogBucket><LogPrefix></LogPrefix></BucketPolicy>"
               + xml_text("DataRedundancyType", "LRS")
               + "</Bucket></BucketInfo>")
        return Response(200, {"Content-Type": "application/xml"}, xml.encode())

    def get_bucket_location(self):
        b = self.bucket()
        self.allow("oss:GetBucketLocation", b)
        return Response(200, {"Content-Type": "application/xml"},
                        f'<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint>{self.server.location}</LocationConstraint>'.encode())

    def get_bucket_versioning(self):
        b = self.bucket()
        self.allow("oss:GetBucketVersioning", b)
        status = b.meta.get("versioning")
        xml = '<?xml version="1.0" encoding="UTF-8"?>\n<VersioningConfiguration>' + (xml_text("Status", status) if status else "") \
            + "</VersioningConfiguration>"
        return Response(200, {"Content-Type": "application/xml"}, xml.encode())

    def put_bucket_versioning(self):
        b = self.bucket()
        self.allow("oss:PutBucketVersioning", b)
        root = parse_xml(self.read_body())
        status = root.findtext("Status")
        if root.tag != "VersioningConfiguration" or status not in ("Enabled", "Suspended"):
            raise OssError("MalformedXML")
        with self.server.store.lock:
            if status == "Suspended" and not b.meta.get("versioning"):
                return Response(200)
            b.meta["versioning"] = status
            b.save()
        return Response(200)

    def get_bucket_policy(self):
        b = self.bucket()
        self.allow("oss:GetBucketPolicy", b)
        if not b.meta.get("policy"):
            raise OssError("NoSuchBucketPolicy", extra=[("BucketName", b.name)])
        return Response(200, {"Content-Type": "application/json"}, b.meta["policy"].encode("utf-8"))

    def put_bucket_policy(self):
        b = self.bucket()
        self.allow("oss:PutBucketPolicy", b)
        data = self.read_body(limit=16 * 1024)
        try:
            text = data.decode("utf-8")
            parsed = pol.parse(text, bucket_policy=True)
        except (UnicodeDecodeError, pol.PolicyError) as e:
            raise OssError("InvalidPolicyDocument", f"Invalid Policy: {e}")
        for st in parsed["Statement"]:
            for r in st.get("Resource", []) + st.get("NotResource", []):
                parts = r.split(":", 4)
                if len(parts) != 5 or parts[0] != "acs" or parts[1] != "oss" or not pol._glob(parts[4].split("/", 1)[0], b.name):
                    raise OssError("InvalidPolicyDocument", f"Invalid Policy: resource {r!r} is not in bucket {b.name}: "
                                   f"expected acs:oss:*:<uid>:{b.name} or acs:oss:*:<uid>:{b.name}/<key pattern>")
            for a in st.get("Action", []) + st.get("NotAction", []):
                if a != "*" and not a.lower().startswith("oss:"):
                    raise OssError("InvalidPolicyDocument", f"Invalid Policy: action {a!r} is not an OSS action (oss:...)")
        with self.server.store.lock:
            b.meta["policy"] = text
            b.save()
        return Response(200)

    def delete_bucket_policy(self):
        b = self.bucket()
        self.allow("oss:DeleteBucketPolicy", b)
        with self.server.store.lock:
            b.meta["policy"] = None
            b.save()
        return Response(204)


class FakeBucket:
    """The bucket a PutBucket would create, for authorizing it."""

    def __init__(self, name, owner):
        self.name, self.owner, self.meta = name, owner, {}
