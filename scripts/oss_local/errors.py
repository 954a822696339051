"""OSS errors: the codes and HTTP statuses OSS answers with, and its error XML.

    <?xml version="1.0" encoding="UTF-8"?>
    <Error>
      <Code>NoSuchKey</Code>
      <Message>The specified key does not exist.</Message>
      <RequestId>5C3D9175B6FC201293AD****</RequestId>
      <HostId>examplebucket.oss-cn-hangzhou.aliyuncs.com</HostId>
      <Key>example.txt</Key>
      <EC>0026-00000001</EC>
    </Error>

Extra elements (Key, BucketName, StringToSign, ...) follow the four common ones, as OSS sends
them. The EC (error detail code) is sent where OSS's documentation names one, also as the
x-oss-ec header.
"""

from xml.sax.saxutils import escape

# code -> (HTTP status, default message, EC or None)
CODES = {
    "AccessDenied": (403, "You have no right to access this object because of bucket acl.", None),
    "SignatureDoesNotMatch": (403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.", None),
    "InvalidAccessKeyId": (403, "The OSS Access Key Id you provided does not exist in our records.", None),
    "InvalidSecurityToken": (403, "The security token you provided is invalid.", None),
    "SecurityTokenExpired": (403, "The security token you provided has expired.", None),
    "RequestTimeTooSkewed": (403, "The difference between the request time and the current time is too large.", None),
    "AccessForbidden": (403, "Request has expired.", None),
    "SecondLevelDomainForbidden": (403, "Please use virtual hosted style to access.", None),
    "InvalidObjectState": (403, "The operation is not valid for the object's state", None),
    "NoSuchBucket": (404, "The specified bucket does not exist.", "0015-00000101"),
    "NoSuchKey": (404, "The specified key does not exist.", "0026-00000001"),
    "NoSuchVersion": (404, "The specified version does not exist.", None),
    "NoSuchUpload": (404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", None),
    "NoSuchBucketPolicy": (404, "The bucket policy does not exist.", None),
    "NoSuchTagSet": (404, "There is no tag set.", None),
    "BucketAlreadyExists": (409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.", None),
    "FileAlreadyExists": (409, "The object you specified already exists and can not be overwritten.", None),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty.", None),
    "ObjectNotAppendable": (409, "The object is not appendable", "0026-00000017"),
    "PositionNotEqualToLength": (409, "Position is not equal to file length", "0026-00000016"),
    "OperationNotSupported": (400, "The operation is not supported for this resource", None),
    "RestoreAlreadyInProgress": (409, "The restore operation is in progress.", None),
    "InvalidArgument": (400, "Invalid argument.", None),
    "InvalidBucketName": (400, "The specified bucket is not valid.", None),
    "InvalidObjectName": (400, "The specified object is not valid.", None),
    "InvalidDigest": (400, "The Content-MD5 you specified is not valid.", None),
    "InvalidRequest": (400, "Invalid request.", None),
    "InvalidTargetType": (400, "The symlink target object type is not supported.", None),
    "MalformedXML": (400, "The XML you provided was not well-formed or did not validate against our published schema.", None),
    "InvalidPolicyDocument": (400, "Invalid Policy.", None),
    "InvalidPart": (400, "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.", None),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order. Parts list must be specified in order by part number.", None),
    "EntityTooSmall": (400, "Your proposed upload smaller than the minimum allowed size.", None),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed size.", None),
    "MissingArgument": (400, "Missing Some Required Arguments.", None),
    "InvalidEncryptionAlgorithmError": (400, "The encryption request you specified is not valid.", None),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header.", None),
    "InvalidRange": (416, "The requested range cannot be satisfied", None),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold.", None),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource.", None),
    "NotImplemented": (501, "A header you provided implies functionality that is not implemented.", None),
    "InternalError": (500, "We encountered an internal error. Please try again.", None),
}


class OssError(Exception):
    """An answer with OSS's error XML. `extra` is a list of (element, text) after HostId."""

    def __init__(self, code, message=None, extra=(), status=None, headers=None):
        status_default, message_default, ec = CODES[code]
        super().__init__(message or message_default)
        self.code = code
        self.status = status or status_default
        self.message = message or message_default
        self.extra = list(extra)
        self.ec = ec
        self.headers = dict(headers or {})


def error_xml(err, request_id, host_id):
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n',
        f"  <Code>{escape(err.code)}</Code>\n",
        f"  <Message>{escape(err.message)}</Message>\n",
        f"  <RequestId>{escape(request_id)}</RequestId>\n",
        f"  <HostId>{escape(host_id)}</HostId>\n",
    ]
    for name, text in err.extra:
        parts.append(f"  <{name}>{escape(str(text))}</{name}>\n")
    if err.ec:
        parts.append(f"  <EC>{err.ec}</EC>\n")
        parts.append(f"  <RecommendDoc>https://api.aliyun.com/troubleshoot?q={err.ec}</RecommendDoc>\n")
    parts.append("</Error>\n")
    return "".join(parts).encode("utf-8")
