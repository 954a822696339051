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

Case fields: name, kind, key_id, secret, security_token (optional), time (Unix seconds);
rpc: method, format, version, nonce, params ([[name, value], ...]);
rpc_verify: method, params (every parameter sent, Signature excluded);
oss_v1 / oss_v4: method, bucket, key (null for none), query and headers ([[name, value], ...]);
oss_v4 also region and additional_headers ([name, ...]).

Result fields: name, signature, string_to_sign; rpc adds params (as sent, Signature
included); oss_v1 / oss_v4 add authorization and headers (what the signer set).
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


def set_by_signer(before, headers):
    """The headers the signer added or changed, lowercase names, sorted."""
    before = {k.lower(): v for k, v in before.items()}
    return sorted([k.lower(), v] for k, v in headers.items() if before.get(k.lower()) != v)


KINDS = {"rpc": rpc, "rpc_verify": rpc_verify, "oss_v1": oss_v1, "oss_v4": oss_v4}


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
