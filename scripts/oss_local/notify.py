"""Event notifications: the object events OSS sends to the Function Compute triggers of a bucket,
delivered the only way the local cloud can deliver them, through a queue.

On Alibaba Cloud, OSS invokes every function whose OSS trigger watches a bucket with the payload
{"events": [...]} (Function Compute's "OSS triggers" event format: eventName such as
ObjectCreated:PutObject, oss.bucket.name, oss.object.key as stored, eTag in upper case, size).
The local cloud has no Function Compute: `crr dev up` reads a queue of moto's SQS and invokes the
functions by their triggers. So a bucket may be configured to send each of its object events, in
exactly that payload (one event per message, as OSS invokes once per event), to an SQS queue.

The notifications file (written by scripts/local_cloud.py, read again whenever it changes):
    {"sqs": {"endpoint": "http://127.0.0.1:4590", "region": "us-east-1"},
     "buckets": {"<bucket>": [{"id": "<rule id>", "queue_url": "...", "events": ["oss:ObjectCreated:*", ...]}]}}
`events` are OSS trigger patterns (`*` matches any run of characters). Messages are signed with the
bucket owner's root key from the keys file (the account's own key, as OSS acts for the owner).

Events are queued after the request's answer is decided and sent, in order, by one background
thread; a failed send is logged and dropped: the write it describes stands, as on OSS, where a lost
notification never undoes a write (crr's backfill repairs what events miss).
"""

import json
import os
import queue
import re
import sys
import threading
import time

# What each operation is called in an event.
CREATED = {
    "PutObject": "ObjectCreated:PutObject",
    "PostObject": "ObjectCreated:PostObject",
    "CopyObject": "ObjectCreated:CopyObject",
    "AppendObject": "ObjectCreated:AppendObject",
    "PutSymlink": "ObjectCreated:PutSymlink",
    "InitiateMultipartUpload": "ObjectCreated:InitiateMultipartUpload",
    "UploadPart": "ObjectCreated:UploadPart",
    "UploadPartCopy": "ObjectCreated:UploadPartCopy",
    "CompleteMultipartUpload": "ObjectCreated:CompleteMultipartUpload",
}
# Events of a whole object: their size is the object's.
WHOLE_OBJECT_EVENTS = {CREATED[op] for op in ("PutObject", "PostObject", "CopyObject", "AppendObject", "PutSymlink",
                                               "CompleteMultipartUpload")}
REMOVED = {
    "DeleteObject": "ObjectRemoved:DeleteObject",
    "DeleteMultipleObjects": "ObjectRemoved:DeleteObjects",
    "AbortMultipartUpload": "ObjectRemoved:AbortMultipartUpload",
}


def event_name(operation):
    """The event an operation causes, or None."""
    return CREATED.get(operation) or REMOVED.get(operation)


def pattern_matches(pattern, name):
    """An OSS trigger pattern (`oss:ObjectCreated:*`) against an event name (`ObjectCreated:PutObject`)."""
    pattern = pattern[4:] if pattern.startswith("oss:") else pattern
    regex = "".join(".*" if c == "*" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def iso_millis(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def trigger_event(name, region, bucket, owner, key, rule_id, caller_id, source_ip, request_id,
                  size=None, etag=None, version_id=None, when=None):
    """One entry of an OSS trigger payload's "events" list."""
    obj = {"key": key}
    if size is not None:
        obj["size"] = size
        obj["deltaSize"] = size
    if etag is not None:
        obj["eTag"] = etag
    if version_id is not None and version_id != "null":
        obj["versionId"] = version_id
    return {
        "eventName": name,
        "eventSource": "acs:oss",
        "eventTime": iso_millis(when if when is not None else time.time()),
        "eventVersion": "1.0",
        "oss": {
            "bucket": {"arn": f"acs:oss:{region}:{owner}:{bucket}", "name": bucket, "ownerIdentity": owner},
            "object": obj,
            "ossSchemaVersion": "1.0",
            "ruleId": rule_id,
        },
        "region": region,
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"requestId": request_id},
        "userIdentity": {"principalId": caller_id},
    }


class Notifier:
    """Sends the events of configured buckets to their queues, in order, off the request path."""

    def __init__(self, path, registry, region):
        self.path, self.registry, self.region = path, registry, region
        self._config, self._stamp = {}, None
        self._lock = threading.Lock()
        self._queue = queue.Queue()
        self._clients = {}
        if path:
            threading.Thread(target=self._send_forever, name="oss-notifications", daemon=True).start()

    def config(self):
        """The notifications file, read again when it changed."""
        if not self.path:
            return {}
        try:
            stamp = os.stat(self.path).st_mtime_ns
        except OSError:
            return {}
        with self._lock:
            if stamp != self._stamp:
                try:
                    with open(self.path) as f:
                        self._config = json.load(f)
                except (OSError, ValueError):
                    self._config = {}
                self._stamp = stamp
            return self._config

    def publish(self, bucket, owner, events, caller_id, source_ip, request_id):
        """Queues the events of one request (name, key, size, etag, version id) for every rule of
        the bucket whose patterns take them."""
        config = self.config()
        rules = config.get("buckets", {}).get(bucket) or []
        for rule in rules:
            for name, key, size, etag, version_id in events:
                if not any(pattern_matches(p, name) for p in rule.get("events", [])):
                    continue
                event = trigger_event(name, self.region, bucket, owner, key, rule.get("id", "crr-local"), caller_id,
                                      source_ip, request_id, size=size, etag=etag, version_id=version_id)
                self._queue.put((config.get("sqs", {}), owner, rule["queue_url"], {"events": [event]}))

    def _client(self, sqs, owner):
        import boto3
        from botocore.config import Config

        key = self.registry.root_key(owner)
        if key is None:
            raise RuntimeError(f"no root key of account {owner} in the keys file to send its bucket's events with")
        cache = (sqs.get("endpoint"), sqs.get("region"), key[0])
        if cache not in self._clients:
            self._clients[cache] = boto3.client(
                "sqs", endpoint_url=sqs.get("endpoint"), region_name=sqs.get("region", "us-east-1"),
                aws_access_key_id=key[0], aws_secret_access_key=key[1],
                config=Config(retries={"max_attempts": 3}))
        return self._clients[cache]

    def _send_forever(self):
        while True:
            batch = [self._queue.get()]
            # What piled up meanwhile goes out in batches of ten per queue, still in order.
            while len(batch) < 50:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            groups = []
            for item in batch:
                sqs, owner, url, body = item
                if groups and groups[-1][:3] == (json.dumps(sqs, sort_keys=True), owner, url) and len(groups[-1][3]) < 10:
                    groups[-1][3].append(body)
                else:
                    groups.append((json.dumps(sqs, sort_keys=True), owner, url, [body]))
            for sqs_text, owner, url, bodies in groups:
                try:
                    client = self._client(json.loads(sqs_text), owner)
                    entries = [{"Id": str(i), "MessageBody": json.dumps(b, ensure_ascii=False)} for i, b in enumerate(bodies)]
                    answer = client.send_message_batch(QueueUrl=url, Entries=entries)
                    for failed in answer.get("Failed", []):
                        self._log(f"notification to {url} refused: {failed.get('Code')} {failed.get('Message')}")
                except Exception as e:  # a lost notification must not stop the server
                    self._log(f"notification to {url} failed: {type(e).__name__}: {e}")

    @staticmethod
    def _log(line):
        sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")
        sys.stderr.flush()
