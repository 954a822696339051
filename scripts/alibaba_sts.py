"""A local Alibaba Cloud STS endpoint for tests: AssumeRole, backed by the moto server.

    python scripts/alibaba_sts.py --port 4591 --moto http://127.0.0.1:4590 --keys .local/alibaba-sts-keys.json

scripts/local-cloud starts it next to moto (port CRR_LOCAL_STS_PORT, default 4591) and
records every provisioned setup's function key in the keys file. It speaks the RPC
style of the real service (https://sts.aliyuncs.com): GET with a query or POST with a
form body, Format=JSON, Version=2015-04-01, Action=AssumeRole. For each request it

* finds the caller's secret in the keys file (unknown key: InvalidAccessKeyId.NotFound);
* recomputes the RPC signature over the received parameters with aliyun-python-sdk-core's
  own signing code (rpc_signature_composer) and refuses a mismatch (SignatureDoesNotMatch),
  a timestamp more than 15 minutes off (InvalidTimeStamp.Expired) and a repeated
  nonce (SignatureNonceUsed);
* maps acs:ram::<uid>:role/<name> to arn:aws:iam::<uid>:role/<name> and calls moto's
  STS AssumeRole with the caller's own key, so moto's IAM enforcement decides: a caller
  without sts:AssumeRole on the role gets NoPermission (HTTP 403);
* answers with the credentials moto issued, in Alibaba's JSON shape, and records the session
  (access key id, secret, security token, role ARN, account uid, role and session name,
  expiration) in the sessions file next to the keys file (--sessions, default
  alibaba-sts-sessions.json beside --keys; atomic write under a file lock; sessions expired
  for a day are dropped), from which the local OSS server (scripts/oss_server.py) accepts security tokens.

Errors are Alibaba's error JSON: {"RequestId", "HostId", "Code", "Message"}. The log
(stderr) has one line per request and never a secret, token or signature.
"""

import argparse
import calendar
import datetime
import fcntl
import hmac
import json
import os
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from aliyunsdkcore.auth.composer import rpc_signature_composer

API_VERSION = "2015-04-01"
HEALTH_PATH = "/-/crr-local-alibaba-sts"
HEALTH_TEXT = "crr local Alibaba STS"
MAX_SKEW_SECONDS = 15 * 60
ROLE_ARN = re.compile(r"^acs:ram::(\d+):role/([A-Za-z0-9.@+=,_-]{1,64})$")
SESSION_NAME = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")

# aliyun-python-sdk-core's RPC signing: the composer's module-level helpers.
_compose_string_to_sign = getattr(rpc_signature_composer, "__compose_string_to_sign")
_get_signature = getattr(rpc_signature_composer, "__get_signature")


def sdk_signature(method, params, secret):
    """The string to sign and signature aliyun-python-sdk-core computes over params
    (without Signature)."""
    string_to_sign = _compose_string_to_sign(method, params)
    return string_to_sign, _get_signature(string_to_sign, secret)


class StsError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class NonceLedger:
    """Nonces seen within the timestamp window, per access key."""

    def __init__(self):
        self._seen = {}
        self._lock = threading.Lock()

    def first_use(self, key_id, nonce):
        now = time.time()
        with self._lock:
            for k, expires in list(self._seen.items()):
                if expires < now:
                    del self._seen[k]
            if (key_id, nonce) in self._seen:
                return False
            self._seen[(key_id, nonce)] = now + 2 * MAX_SKEW_SECONDS
            return True


def sessions_file_for(keys_file):
    """Where the sessions of a keys file's STS are recorded: next to it."""
    return os.path.join(os.path.dirname(os.path.abspath(keys_file)), "alibaba-sts-sessions.json")


def record_session(sessions_file, key_id, secret, token, role_arn, account, role, session_name, expiration):
    """Adds an issued session to the sessions file ({"sessions": {key id: {...}}}), dropping
    sessions that expired more than a day ago (until then the OSS server can still answer
    SecurityTokenExpired for them); atomic replace under an exclusive lock."""
    lock_path = sessions_file + ".lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(sessions_file) as f:
                sessions = json.load(f).get("sessions", {})
        except (OSError, ValueError):
            sessions = {}
        now = time.time()
        kept = {}
        for k, v in sessions.items():
            try:
                if calendar.timegm(time.strptime(v.get("expiration", ""), "%Y-%m-%dT%H:%M:%SZ")) > now - 86400:
                    kept[k] = v
            except ValueError:
                pass
        kept[key_id] = {"secret": secret, "token": token, "role_arn": role_arn, "account": account, "role": role,
                        "session_name": session_name, "expiration": expiration}
        tmp = f"{sessions_file}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"sessions": kept}, f, indent=1)
        os.replace(tmp, sessions_file)


class Sts:
    def __init__(self, moto_endpoint, keys_file, region, sessions_file=None):
        self.moto_endpoint = moto_endpoint
        self.keys_file = keys_file
        self.sessions_file = sessions_file or sessions_file_for(keys_file)
        self.region = region
        self.nonces = NonceLedger()

    def secret_of(self, key_id):
        # Read on every request: `scripts/local-cloud provision` adds keys while we run.
        try:
            with open(self.keys_file) as f:
                keys = json.load(f).get("keys", {})
        except (OSError, ValueError):
            keys = {}
        entry = keys.get(key_id)
        return entry.get("secret") if isinstance(entry, dict) else None

    def assume_role(self, method, params):
        for name in ("AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce", "Timestamp",
                     "Version", "Action", "Format"):
            if not params.get(name):
                raise StsError(400, "MissingParameter", f'The input parameter "{name}" that is mandatory for processing this request is not supplied.')
        if params["Action"] != "AssumeRole":
            raise StsError(404, "InvalidAction.NotFound", f"Specified api {params['Action']!r} is not found, please check your url and method.")
        if params["Version"] != API_VERSION:
            raise StsError(400, "InvalidVersion", f"Specified parameter Version {params['Version']!r} is not valid; this endpoint speaks {API_VERSION}.")
        if params["Format"].upper() != "JSON":
            raise StsError(400, "InvalidParameter.Format", "Only Format=JSON is served by this local endpoint.")
        if params["SignatureMethod"] != "HMAC-SHA1" or params.get("SignatureVersion", "1.0") != "1.0":
            raise StsError(400, "InvalidParameter.SignatureMethod", "Specified signature method is not supported: expected HMAC-SHA1, version 1.0.")
        try:
            stamp = calendar.timegm(time.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            raise StsError(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
        if abs(time.time() - stamp) > MAX_SKEW_SECONDS:
            raise StsError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")

        key_id = params["AccessKeyId"]
        secret = self.secret_of(key_id)
        if secret is None:
            raise StsError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        signed = {k: v for k, v in params.items() if k != "Signature"}
        string_to_sign, expected = sdk_signature(method, signed, secret)
        if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
            # The real service's wording; the SDKs compare the string to sign it quotes.
            raise StsError(400, "SignatureDoesNotMatch",
                           f"Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}")
        if not self.nonces.first_use(key_id, params["SignatureNonce"]):
            raise StsError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")

        role_arn = params.get("RoleArn") or ""
        session = params.get("RoleSessionName") or ""
        m = ROLE_ARN.match(role_arn)
        if not m:
            raise StsError(400, "InvalidParameter.RoleArn", f"The parameter RoleArn {role_arn!r} is wrongly formed: expected acs:ram::<uid>:role/<name>.")
        if not SESSION_NAME.match(session):
            raise StsError(400, "InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed: 2 to 64 letters, digits and . @ - _")
        try:
            duration = int(params.get("DurationSeconds") or 3600)
        except ValueError:
            duration = -1
        if not 900 <= duration <= 43200:
            raise StsError(400, "InvalidParameter.DurationSeconds", "The parameter DurationSeconds must be between 900 and 43200.")
        uid, role_name = m.group(1), m.group(2)
        return self._moto_assume_role(params, secret, uid, role_name, session, duration)

    def _moto_assume_role(self, params, secret, uid, role_name, session, duration):
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        sts = boto3.client(
            "sts",
            endpoint_url=self.moto_endpoint,
            region_name=self.region,
            aws_access_key_id=params["AccessKeyId"],
            aws_secret_access_key=secret,
            aws_session_token=params.get("SecurityToken") or None,
            config=Config(retries={"max_attempts": 1}),
        )
        request = {
            "RoleArn": f"arn:aws:iam::{uid}:role/{role_name}",
            "RoleSessionName": session,
            "DurationSeconds": duration,
        }
        if params.get("ExternalId"):
            request["ExternalId"] = params["ExternalId"]
        if params.get("Policy"):
            request["Policy"] = params["Policy"]
        try:
            out = sts.assume_role(**request)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            message = e.response.get("Error", {}).get("Message", "")
            if code == "AccessDenied":
                raise StsError(403, "NoPermission", f"You are not authorized to do this action. You should be authorized by RAM. ({message})")
            if code == "InvalidClientTokenId":
                raise StsError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
            if code == "SignatureDoesNotMatch":
                raise StsError(400, "InvalidAccessKeyId.Inactive", "The access key in the keys file no longer matches the local cloud's user.")
            raise StsError(500, "InternalError", f"The local cloud refused AssumeRole: {code}: {message}")
        except BotoCoreError as e:
            raise StsError(503, "ServiceUnavailable", f"The local cloud (moto) is not reachable: {e}")
        c = out["Credentials"]
        expiration = c["Expiration"].astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        record_session(self.sessions_file, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"],
                       f"acs:ram::{uid}:role/{role_name}", uid, role_name, session, expiration)
        return {
            "AssumedRoleUser": {
                "Arn": f"acs:ram::{uid}:role/{role_name.lower()}/{session}",
                "AssumedRoleId": out["AssumedRoleUser"]["AssumedRoleId"],
            },
            "Credentials": {
                "AccessKeyId": c["AccessKeyId"],
                "AccessKeySecret": c["SecretAccessKey"],
                "SecurityToken": c["SessionToken"],
                "Expiration": expiration,
            },
        }


class Handler(BaseHTTPRequestHandler):
    server_version = "crr-local-alibaba-sts"
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if urlsplit(self.path).path == HEALTH_PATH:
            return self._send(200, HEALTH_TEXT.encode(), "text/plain")
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self):
        request_id = str(uuid.uuid4()).upper()
        params = {}
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            pairs = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
            if self.command == "POST":
                pairs += parse_qsl(body, keep_blank_values=True)
            params = dict(pairs)
            answer = self.server.sts.assume_role(self.command, params)
            answer = {"RequestId": request_id, **answer}
            status, code = 200, "OK"
        except StsError as e:
            status, code = e.status, e.code
            answer = {"RequestId": request_id, "HostId": self.headers.get("Host", "sts.aliyuncs.com"), "Code": e.code, "Message": e.message}
        except (ValueError, UnicodeDecodeError) as e:
            status, code = 400, "InvalidParameter"
            answer = {"RequestId": request_id, "HostId": self.headers.get("Host", "sts.aliyuncs.com"), "Code": code, "Message": f"The request could not be read: {e}"}
        sys.stderr.write(
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {self.command} {params.get('Action', '-')} "
            f"key={params.get('AccessKeyId', '-')} role={params.get('RoleArn', '-')} -> {status} {code} {request_id}\n"
        )
        sys.stderr.flush()
        self._send(status, json.dumps(answer).encode(), "application/json;charset=utf-8", request_id)

    def _send(self, status, body, content_type, request_id=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if request_id:
            self.send_header("x-acs-request-id", request_id)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # one line per request is written by _handle, without parameters


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--moto", required=True, help="the moto server endpoint, e.g. http://127.0.0.1:4590")
    parser.add_argument("--keys", required=True, help="JSON keys file: {\"keys\": {id: {\"secret\": ...}}}")
    parser.add_argument("--sessions", help="where issued sessions are recorded (default: alibaba-sts-sessions.json next to --keys)")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.sts = Sts(args.moto, args.keys, args.region, args.sessions)
    sys.stderr.write(f"local Alibaba STS on http://{args.host}:{args.port} (moto {args.moto}, keys {args.keys})\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
