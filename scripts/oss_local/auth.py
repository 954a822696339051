"""Signature checks, with the official SDKs' own signing code as the reference.

    V1 header     Authorization: OSS <key id>:<signature>      oss2.Auth (ProviderAuth)
    V1 presigned  ?OSSAccessKeyId=&Expires=&Signature=         oss2.Auth, with Date = Expires
    V4 header     Authorization: OSS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/oss/aliyun_v4_request,
                  [AdditionalHeaders=a;b,]Signature=<hex>     alibabacloud_oss_v2 SignerV4
    V4 presigned  ?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=&x-oss-date=
                  &x-oss-expires=&x-oss-signature=             alibabacloud_oss_v2 SignerV4 (query)

The expected signature is always recomputed by calling the SDK's signer on the request as it
arrived (its method, decoded bucket and key, headers and query), with the secret the registry
holds and the clock fixed at the request's own date; nothing here computes an HMAC itself.
V4 is checked against this server's region (a request signed for another region does not
match). Clocks more than 15 minutes off are refused with RequestTimeTooSkewed.
"""

import calendar
import datetime
import email.utils
import hmac
import re
import time
from urllib.parse import quote

from .errors import OssError
from .identity import Caller, parse_expiration

MAX_SKEW = 15 * 60
V4_ALGORITHM = "OSS4-HMAC-SHA256"


def canonical_query(pairs):
    """The query as the SDKs put it on the wire (alibabacloud_oss_v2: urlencode with quote,
    so '/' is escaped): each decoded name and value encoded again."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" if v else quote(k, safe="") for k, v in pairs)


def oss2_v1_signature(method, bucket, key, params, headers, key_id, secret):
    """(signature, string to sign) as oss2 computes them for this request."""
    import oss2
    import oss2.http

    auth = oss2.Auth(key_id, secret)
    req = oss2.http.Request(method, "http://oss.invalid/", params=dict(params), headers=dict(headers))
    credentials = auth.credentials_provider.get_credentials()
    signature = auth._ProviderAuth__make_signature(req, bucket or "", key or "", credentials)
    string_to_sign = auth._ProviderAuth__get_bytes_to_sign(req, bucket or "", key or "").decode("utf-8")
    return signature, string_to_sign


def sdk_v4_signature(method, bucket, key, pairs, headers, key_id, secret, token, region, signing_time,
                     additional, expiration=None):
    """(signature, string to sign) as alibabacloud_oss_v2's SignerV4 computes them."""
    from alibabacloud_oss_v2.signer import SignerV4
    from alibabacloud_oss_v2.types import Credentials, HttpRequest, SigningContext

    query = canonical_query(pairs)
    req = HttpRequest(method=method, url="http://oss.invalid/" + (f"?{query}" if query else ""))
    req.headers.update(headers)
    ctx = SigningContext(product="oss", region=region, bucket=bucket or None, key=key or None, request=req,
                         credentials=Credentials(key_id, secret, token), signing_time=signing_time,
                         additional_headers=set(additional) or None)
    if expiration is not None:
        ctx.auth_method_query = True
        ctx.expiration_time = expiration
        SignerV4().sign(ctx)
        signature = req.url.rsplit("x-oss-signature=", 1)[1]
    else:
        SignerV4().sign(ctx)
        signature = req.headers["Authorization"].rsplit("Signature=", 1)[1]
    return signature, ctx.string_to_sign


def _parse_http_date(text):
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _parse_v4_date(text):
    try:
        return calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ"))
    except (TypeError, ValueError):
        return None


class Authenticator:
    def __init__(self, registry, region, now=time.time):
        self.registry = registry
        self.region = region
        self.now = now

    def authenticate(self, method, bucket, key, pairs, headers):
        """The Caller of a request, or OssError. `pairs` is the decoded query, `headers` a dict
        with lower-case names as received."""
        params = dict(pairs)
        authz = headers.get("authorization", "")
        if authz.startswith("OSS "):
            return self._v1_header(method, bucket, key, params, headers, authz)
        if authz.startswith(V4_ALGORITHM + " "):
            return self._v4_header(method, bucket, key, pairs, headers, authz)
        if authz:
            raise OssError("InvalidArgument", "Authorization header is invalid or not supported by this server (OSS V1 and OSS4-HMAC-SHA256 are).",
                           extra=[("ArgumentName", "Authorization")])
        if "OSSAccessKeyId" in params or "Signature" in params:
            return self._v1_query(method, bucket, key, params, headers)
        if params.get("x-oss-signature-version") or "x-oss-signature" in params:
            return self._v4_query(method, bucket, key, pairs, headers)
        return Caller("anonymous")

    # -- keys and tokens -------------------------------------------------------------------

    def _credentials(self, key_id, token):
        """(secret, caller) for a key id and the security token the request carries."""
        static = self.registry.static_key(key_id)
        if static is not None:
            return static["secret"], self.registry.caller_for_static(key_id, static)
        session = self.registry.session(key_id)
        if session is None or not token:
            raise OssError("InvalidAccessKeyId", extra=[("OSSAccessKeyId", key_id)])
        if not hmac.compare_digest(session.get("token", "").encode(), token.encode()):
            raise OssError("InvalidSecurityToken")
        try:
            expires = parse_expiration(session.get("expiration", ""))
        except ValueError:
            expires = 0
        if expires <= self.now():
            raise OssError("SecurityTokenExpired", extra=[("Expiration", session.get("expiration", ""))])
        return session["secret"], self.registry.caller_for_session(key_id, session)

    def _check_skew(self, stamp):
        if stamp is None:
            raise OssError("AccessDenied", "OSS authentication requires a valid Date.")
        if abs(self.now() - stamp) > MAX_SKEW:
            raise OssError("RequestTimeTooSkewed", extra=[("MaxAllowedSkewMilliseconds", str(MAX_SKEW * 1000))])

    # -- V1 --------------------------------------------------------------------------------

    def _v1_header(self, method, bucket, key, params, headers, authz):
        key_id, sep, signature = authz[4:].strip().rpartition(":")
        if not sep or not key_id:
            raise OssError("InvalidArgument", "Authorization header is invalid.", extra=[("ArgumentName", "Authorization")])
        self._check_skew(_parse_http_date(headers.get("x-oss-date") or headers.get("date", "")))
        secret, caller = self._credentials(key_id, headers.get("x-oss-security-token"))
        expected, string_to_sign = oss2_v1_signature(method, bucket, key, params, headers, key_id, secret)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise OssError("SignatureDoesNotMatch", extra=[("StringToSign", string_to_sign), ("OSSAccessKeyId", key_id)])
        return caller

    def _v1_query(self, method, bucket, key, params, headers):
        key_id, expires, signature = params.get("OSSAccessKeyId"), params.get("Expires"), params.get("Signature")
        if not (key_id and expires and signature):
            raise OssError("AccessDenied", "OSSAccessKeyId, Expires and Signature are all required in a signed URL.")
        try:
            expires_at = int(expires)
        except ValueError:
            raise OssError("AccessDenied", "Expires must be a Unix time in seconds.")
        if expires_at < self.now():
            raise OssError("AccessDenied", "Request has expired.", extra=[("Expires", expires)])
        secret, caller = self._credentials(key_id, params.get("security-token"))
        signed_headers = dict(headers)
        signed_headers["date"] = expires
        signed_params = {k: v for k, v in params.items() if k not in ("OSSAccessKeyId", "Expires", "Signature")}
        expected, string_to_sign = oss2_v1_signature(method, bucket, key, signed_params, signed_headers, key_id, secret)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise OssError("SignatureDoesNotMatch", extra=[("StringToSign", string_to_sign), ("OSSAccessKeyId", key_id)])
        return caller

    # -- V4 --------------------------------------------------------------------------------

    def _scope(self, credential, stamp_text):
        parts = credential.split("/")
        if len(parts) != 5 or parts[3] != "oss" or parts[4] != "aliyun_v4_request":
            raise OssError("InvalidArgument", "Credential is invalid: expected <key id>/<yyyymmdd>/<region>/oss/aliyun_v4_request.",
                           extra=[("ArgumentName", "Credential")])
        if parts[1] != stamp_text[:8]:
            raise OssError("SignatureDoesNotMatch", "The date in Credential does not match x-oss-date.")
        return parts[0]

    def _v4_header(self, method, bucket, key, pairs, headers, authz):
        fields = {}
        for item in authz[len(V4_ALGORITHM) + 1:].split(","):
            name, _, value = item.strip().partition("=")
            fields[name] = value
        if not fields.get("Credential") or not fields.get("Signature"):
            raise OssError("InvalidArgument", "Authorization header is invalid: Credential and Signature are required.",
                           extra=[("ArgumentName", "Authorization")])
        stamp_text = headers.get("x-oss-date", "")
        stamp = _parse_v4_date(stamp_text)
        if stamp is None:
            raise OssError("AccessDenied", "x-oss-date is required with OSS4-HMAC-SHA256, as yyyymmddTHHMMSSZ.")
        self._check_skew(stamp)
        sha = headers.get("x-oss-content-sha256")
        if sha != "UNSIGNED-PAYLOAD":
            raise OssError("InvalidArgument", "x-oss-content-sha256 must be UNSIGNED-PAYLOAD.", extra=[("ArgumentName", "x-oss-content-sha256")])
        key_id = self._scope(fields["Credential"], stamp_text)
        token = headers.get("x-oss-security-token")
        secret, caller = self._credentials(key_id, token)
        additional = [h for h in fields.get("AdditionalHeaders", "").split(";") if h]
        signed = {k: v for k, v in headers.items() if k != "authorization"}
        expected, string_to_sign = sdk_v4_signature(
            method, bucket, key, pairs, signed, key_id, secret, token, self.region,
            datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc), additional)
        if not hmac.compare_digest(expected.encode(), fields["Signature"].encode()):
            raise OssError("SignatureDoesNotMatch", extra=[("StringToSign", string_to_sign), ("OSSAccessKeyId", key_id)])
        return caller

    def _v4_query(self, method, bucket, key, pairs, headers):
        params = dict(pairs)
        if params.get("x-oss-signature-version") != V4_ALGORITHM:
            raise OssError("InvalidArgument", "x-oss-signature-version must be OSS4-HMAC-SHA256.", extra=[("ArgumentName", "x-oss-signature-version")])
        stamp_text = params.get("x-oss-date", "")
        stamp = _parse_v4_date(stamp_text)
        try:
            expires = int(params.get("x-oss-expires", ""))
        except ValueError:
            expires = None
        if stamp is None or expires is None or not params.get("x-oss-credential") or not params.get("x-oss-signature"):
            raise OssError("AccessDenied", "A signed URL needs x-oss-date, x-oss-expires, x-oss-credential and x-oss-signature.")
        if stamp + expires < self.now():
            raise OssError("AccessDenied", "Request has expired.", extra=[("Expires", str(stamp + expires))])
        if stamp - self.now() > MAX_SKEW:
            raise OssError("RequestTimeTooSkewed", extra=[("MaxAllowedSkewMilliseconds", str(MAX_SKEW * 1000))])
        key_id = self._scope(params["x-oss-credential"], stamp_text)
        token = params.get("x-oss-security-token")
        secret, caller = self._credentials(key_id, token)
        additional = [h for h in params.get("x-oss-additional-headers", "").split(";") if h]
        rest = [(k, v) for k, v in pairs if k != "x-oss-signature"]
        signing_time = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
        expected, string_to_sign = sdk_v4_signature(
            method, bucket, key, rest, headers, key_id, secret, token, self.region, signing_time, additional,
            expiration=signing_time + datetime.timedelta(seconds=expires))
        if not hmac.compare_digest(expected.encode(), params["x-oss-signature"].encode()):
            raise OssError("SignatureDoesNotMatch", extra=[("StringToSign", string_to_sign), ("OSSAccessKeyId", key_id)])
        return caller


V1_PATTERN = re.compile(r"^OSS [^:]+:")
