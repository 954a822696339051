"""Signatures computed by the official Alibaba Cloud SDKs, for comparison with crr-sign.

Reads a JSON list of cases on stdin and prints a JSON list of results, one per case,
in the same order. Each case runs the SDK's own signing code with the clock (and the
RPC nonce) fixed to the case's values; nothing here reimplements a signature.

    rpc         aliyun-python-sdk-core: rpc_signature_composer.get_signed_url, the path an
                AcsClient call takes (the SDK adds its common parameters, SignatureType
                among them, and SecurityToken as StsTokenSigner does)
    rpc_verify  aliyun-python-sdk-core: the string to sign and signature the composer
                computes over exactly the given parameters (what a server checks)
    oss_v1      oss2.Auth / oss2.StsAuth (header signature V1)
    oss_v4      alibabacloud-oss-v2 SignerV4 (header signature V4)
    fc_invoke   alibabacloud-fc20230330: Client.invoke_function_with_options, the FC 3.0
                InvokeFunction request built and signed (ACS3-HMAC-SHA256) by the SDK through
                alibabacloud-tea-openapi's do_request, caught just before it is sent
    acs3        alibabacloud-tea-openapi: Client.call_api with any ROA request, caught the same way
    acs3_verify alibabacloud-tea-openapi: Utils.get_authorization over exactly the given request
                (what a server checks of the headers a request names as signed)

Case fields: name, kind, key_id, secret, security_token (optional), time (Unix seconds);
rpc: method, format, version, nonce, params ([[name, value], ...]);
rpc_verify: method, params (every parameter sent, Signature excluded);
oss_v1 / oss_v4: method, bucket, key (null for none), query and headers ([[name, value], ...]);
oss_v4 also region and additional_headers ([name, ...]).
fc_invoke: nonce, endpoint (host), function_name, qualifier, invocation_type, log_type,
async_task_id (each null for none), body (text, null for none), user_agent (appended to the SDK's own).
acs3: nonce, endpoint, method, pathname (as sent), action, version, query and headers
([[name, value], ...]), body (text, null for none), body_as ("stream": the SDK's octet-stream
body, or "byte": the body with the caller's content-type), user_agent.
acs3_verify: method, pathname, query and headers ([[name, value], ...], every signed header,
x-acs-content-sha256 among them).

Result fields: name, signature, string_to_sign; rpc adds params (as sent, Signature
included); oss_v1 / oss_v4 add authorization and headers (what the signer set); fc_invoke,
acs3 and acs3_verify add authorization and canonical_request, and fc_invoke and acs3 add
method, pathname, query ([[name, value], ...]) and headers (every header sent, Authorization
included, lowercase names, sorted).
"""

import datetime
import json
import sys
import time
from urllib.parse import parse_qsl, quote, urlencode


def rpc(case):
    from aliyunsdkcore.auth.composer import rpc_signature_composer as composer
    from aliyunsdkcore.utils import parameter_helper

    stamp = time.strftime(parameter_helper.FORMAT_ISO_8601, time.gmtime(case["time"]))
    # The composer reads the clock and makes a nonce through these two helpers.
    parameter_helper.get_iso_8061_date = lambda: stamp
    parameter_helper.get_uuid = lambda: case["nonce"]

    params = dict(case["params"])
    # RpcRequest._get_sign_params and StsTokenSigner.sign add these before signing.
    params["Version"] = case["version"]
    params["Format"] = case["format"]
    if case.get("security_token"):
        params["SecurityToken"] = case["security_token"]
    url, string_to_sign = composer.get_signed_url(
        params, case["key_id"], case["secret"], case["format"], case["method"], {}
    )
    sent = parse_qsl(url.split("?", 1)[1], keep_blank_values=True)
    return {
        "signature": dict(sent)["Signature"],
        "string_to_sign": string_to_sign,
        "params": sorted(sent),
    }


def rpc_verify(case):
    from aliyunsdkcore.auth.composer import rpc_signature_composer as composer

    # Module-level helpers of the composer (double underscore, not part of its API).
    compose = getattr(composer, "__compose_string_to_sign")
    get_signature = getattr(composer, "__get_signature")
    string_to_sign = compose(case["method"], dict(case["params"]))
    return {"signature": get_signature(string_to_sign, case["secret"]), "string_to_sign": string_to_sign}


def oss_v1(case):
    import oss2
    import oss2.auth
    import oss2.http

    oss2.auth.utils.http_date = lambda timeval=None: oss2.utils.formatdate(case["time"], usegmt=True)
    if case.get("security_token"):
        auth = oss2.StsAuth(case["key_id"], case["secret"], case["security_token"])
        inner = auth._StsAuth__auth
    else:
        auth = oss2.Auth(case["key_id"], case["secret"])
        inner = auth
    req = oss2.http.Request(
        case["method"], "http://oss.invalid/", params=dict(case["query"]), headers=dict(case["headers"])
    )
    bucket, key = case["bucket"] or "", case["key"] or ""
    before = dict(req.headers)
    auth._sign_request(req, bucket, key)
    string_to_sign = inner._ProviderAuth__get_bytes_to_sign(req, bucket, key).decode("utf-8")
    authorization = req.headers["authorization"]
    return {
        "signature": authorization.rsplit(":", 1)[1],
        "string_to_sign": string_to_sign,
        "authorization": authorization,
        "headers": set_by_signer(before, req.headers),
    }


def oss_v4(case):
    from alibabacloud_oss_v2.credentials import StaticCredentialsProvider
    from alibabacloud_oss_v2.signer import SignerV4
    from alibabacloud_oss_v2.types import HttpRequest, SigningContext

    url = "https://oss.invalid/"
    if case["query"]:
        # How the client builds the request URL (_client.build_request_context).
        url += "?" + urlencode(dict(case["query"]), quote_via=quote)
    req = HttpRequest(method=case["method"], url=url)
    req.headers.update(dict(case["headers"]))
    before = dict(req.headers)
    creds = StaticCredentialsProvider(case["key_id"], case["secret"], case.get("security_token")).get_credentials()
    ctx = SigningContext(
        product="oss",
        region=case["region"],
        bucket=case["bucket"],
        key=case["key"],
        request=req,
        credentials=creds,
        signing_time=datetime.datetime.fromtimestamp(case["time"], datetime.timezone.utc),
        additional_headers=set(case.get("additional_headers") or []) or None,
    )
    SignerV4().sign(ctx)
    authorization = req.headers["Authorization"]
    return {
        "signature": authorization.rsplit("Signature=", 1)[1],
        "string_to_sign": ctx.string_to_sign,
        "authorization": authorization,
        "headers": set_by_signer(before, req.headers),
    }


def acs3_captured(case, build):
    """Runs `build(client)` on a tea-openapi client whose clock, nonce and HTTP transport are
    replaced, and returns the request do_request built and signed, as it would have been sent."""
    import io

    import alibabacloud_tea_openapi.client as openapi_client
    from alibabacloud_tea_openapi import utils_models
    from alibabacloud_tea_openapi.utils import Utils
    from darabonba.response import DaraResponse

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(case["time"]))
    # do_request reads the clock and makes a nonce through these two helpers.
    Utils.get_timestamp = staticmethod(lambda: stamp)
    Utils.get_nonce = staticmethod(lambda: case["nonce"])
    sent = []

    def do_action(request, runtime=None):
        sent.append(request)
        response = DaraResponse()
        response.status_code, response.headers, response.body = 202, {}, io.BytesIO(b"")
        return response

    openapi_client.DaraCore.do_action = staticmethod(do_action)
    traced = acs3_traced()
    config = utils_models.Config(
        access_key_id=case["key_id"],
        access_key_secret=case["secret"],
        security_token=case.get("security_token"),
        endpoint=case["endpoint"],
        user_agent=case.get("user_agent"),
    )
    build(config)
    assert len(sent) == 1 and len(traced) == 1, "one request, signed once"
    request = sent[0]
    headers = {k.lower(): str(v) for k, v in request.headers.items()}
    authorization = headers["authorization"]
    return {
        "method": request.method,
        "pathname": request.pathname,
        "query": sorted([k, str(v)] for k, v in request.query.items() if v is not None),
        "headers": sorted([k, v] for k, v in headers.items()),
        "authorization": authorization,
        "signature": authorization.rsplit("Signature=", 1)[1],
        **traced[0],
    }


def acs3_traced():
    """Records the canonical request and string to sign of every Utils.get_authorization call."""
    import alibabacloud_tea_openapi.utils as openapi_utils
    from alibabacloud_tea_openapi.utils import Utils

    traced = []
    if not hasattr(Utils, "_crr_get_authorization"):
        Utils._crr_get_authorization = Utils.get_authorization
        Utils._crr_hash = Utils.hash
        openapi_utils._crr_signature_method = openapi_utils.signature_method
    get_authorization, hash_, signature_method = (
        Utils._crr_get_authorization,
        Utils._crr_hash,
        openapi_utils._crr_signature_method,
    )

    def traced_get_authorization(request, sign_type, payload, ak, secret):
        # get_authorization hashes the canonical request once and signs the string to sign once.
        hashed, signed = [], []

        def traced_hash(raw, sign_type):
            hashed.append(raw.decode("utf-8"))
            return hash_(raw, sign_type)

        def traced_signature_method(secret, source, sign_type):
            signed.append(source)
            return signature_method(secret, source, sign_type)

        Utils.hash = staticmethod(traced_hash)
        openapi_utils.signature_method = traced_signature_method
        try:
            authorization = get_authorization(request, sign_type, payload, ak, secret)
        finally:
            Utils.hash = staticmethod(hash_)
            openapi_utils.signature_method = signature_method
        assert len(hashed) == 1 and len(signed) == 1
        traced.append({"canonical_request": hashed[0], "string_to_sign": signed[0]})
        return authorization

    Utils.get_authorization = staticmethod(traced_get_authorization)
    return traced


def fc_invoke(case):
    import io

    from alibabacloud_fc20230330 import models
    from alibabacloud_fc20230330.client import Client
    from darabonba.runtime import RuntimeOptions

    def build(config):
        body = case.get("body")
        request = models.InvokeFunctionRequest(
            body=None if body is None else io.BytesIO(body.encode("utf-8")),
            qualifier=case.get("qualifier"),
        )
        headers = models.InvokeFunctionHeaders(
            x_fc_invocation_type=case.get("invocation_type"),
            x_fc_log_type=case.get("log_type"),
            x_fc_async_task_id=case.get("async_task_id"),
        )
        Client(config).invoke_function_with_options(case["function_name"], request, headers, RuntimeOptions())

    return acs3_captured(case, build)


def acs3(case):
    from alibabacloud_tea_openapi import utils_models
    from alibabacloud_tea_openapi.client import Client
    from darabonba.runtime import RuntimeOptions

    def build(config):
        body = case.get("body")
        body = None if body is None else body.encode("utf-8")
        stream = case.get("body_as") == "stream"
        request = utils_models.OpenApiRequest(
            headers=dict(case["headers"]),
            query=dict(case["query"]),
            body=None if stream else body,
            stream=body if stream else None,
        )
        params = utils_models.Params(
            action=case["action"],
            version=case["version"],
            protocol="HTTPS",
            pathname=case["pathname"],
            method=case["method"],
            auth_type="AK",
            style="ROA",
            req_body_type="byte",
            body_type="binary",
        )
        Client(config).call_api(params, request, RuntimeOptions())

    return acs3_captured(case, build)


def acs3_verify(case):
    from alibabacloud_tea_openapi.utils import Utils
    from darabonba.request import DaraRequest

    request = DaraRequest()
    request.method = case["method"]
    request.pathname = case["pathname"]
    request.query = dict(case["query"])
    request.headers = dict(case["headers"])
    traced = acs3_traced()
    authorization = Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", request.headers["x-acs-content-sha256"], case["key_id"], case["secret"]
    )
    return {"authorization": authorization, "signature": authorization.rsplit("Signature=", 1)[1], **traced[0]}


def set_by_signer(before, headers):
    """The headers the signer added or changed, lowercase names, sorted."""
    before = {k.lower(): v for k, v in before.items()}
    return sorted([k.lower(), v] for k, v in headers.items() if before.get(k.lower()) != v)


KINDS = {
    "rpc": rpc,
    "rpc_verify": rpc_verify,
    "oss_v1": oss_v1,
    "oss_v4": oss_v4,
    "fc_invoke": fc_invoke,
    "acs3": acs3,
    "acs3_verify": acs3_verify,
}


def main():
    cases = json.load(sys.stdin)
    out = []
    for case in cases:
        kind = case.get("kind")
        if kind not in KINDS:
            sys.exit(f"case {case.get('name')!r}: unknown kind {kind!r}; expected one of {sorted(KINDS)}")
        result = KINDS[kind](case)
        result["name"] = case.get("name")
        out.append(result)
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    print()


if __name__ == "__main__":
    main()
