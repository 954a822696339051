"""Small helpers of the conformance suite: the error an SDK raised, and the SDKs' own CRC."""

import contextlib
import hashlib

import oss2
import oss2.utils
import alibabacloud_oss_v2 as ossv2
from alibabacloud_oss_v2 import crc as v2crc


def md5_etag(data):
    return hashlib.md5(data).hexdigest().upper()


def oss2_crc(data):
    c = oss2.utils.Crc64()
    c.update(data)
    return c.crc


def v2_crc(data):
    c = v2crc.Crc64(0)
    c.update(data)
    return int(c.hexdigest(), 16)


class Raised:
    status = None
    code = None
    headers = None


@contextlib.contextmanager
def oss_error(status, code):
    """Expects an OSS error with this HTTP status and code from either SDK."""
    seen = Raised()
    try:
        yield seen
    except oss2.exceptions.OssError as e:
        seen.status, seen.code, seen.headers = e.status, e.code, e.headers
    except ossv2.exceptions.OperationError as e:
        inner = e.unwrap()
        assert isinstance(inner, ossv2.exceptions.ServiceError), f"not a service error: {inner!r}"
        seen.status, seen.code, seen.headers = inner.status_code, inner.code, inner.headers
    else:
        raise AssertionError(f"expected {status} {code}, but the request succeeded")
    if code is None:  # an answer without a body (304) has no code to read
        assert seen.status == status, f"expected {status}, got {seen.status} {seen.code}"
    else:
        assert (seen.status, seen.code) == (status, code), f"expected {status} {code}, got {seen.status} {seen.code}"
