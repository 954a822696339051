"""RAM identity policies and OSS bucket policies: parsing, validation and evaluation.

Written for the local OSS server from Alibaba Cloud's documentation of the RAM policy language
and of OSS bucket policies; independent of the product's own policy crate (which is what the
tests of the product check against this server).

Policy language ("Version": "1"):
    Statement: [{Effect: Allow|Deny, Action|NotAction, Resource|NotResource, Principal (bucket
    policies only), Condition}]; a single statement object and single strings are accepted where
    a list is expected. Actions ("oss:GetObject", "oss:Get*", "oss:*", "*") match case-insensitively;
    resources ("acs:oss:*:<uid>:<bucket>/<key>", "acs:oss:*:*:<bucket>/*") and principals match
    case-sensitively, with * (any run of characters, "/" included) and ? (one character).

Who may do what (authorize):
    * the root identity of the bucket owner's account: everything on its own buckets;
    * an explicit Deny that matches, in the caller's identity policies or in the bucket policy,
      refuses the request;
    * a RAM user or role of the owner's account: allowed when its identity policies or the
      bucket policy allow;
    * any other caller (another account's root, users and role sessions, and anonymous requests):
      allowed only when the bucket policy allows (its identity policies are consulted for Deny).
    A bucket policy statement whose Principal is "*" and that has no Condition does not apply
    to the bucket owner's own identities (OSS: "applies only to users other than the bucket
    owner").

Bucket policy principals: an account uid names that account's root identity; a RAM user's
numeric id names that user; "arn:sts::<uid>:assumed-role/<role name>/<session name>" names a
role session. OSS spells the role name of a session in lower case, so a principal written with
the role's upper-case letters never matches any session: the request is refused (AccessDenied),
exactly as on OSS, whose documentation asks for the lower-case name. PutBucketPolicy accepts
such a policy (OSS checks the grammar, not whether a principal can ever match).
"""

import calendar
import ipaddress
import json
import re
import time

STRING_OPS = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
              "StringLike", "StringNotLike"}
NUMERIC_OPS = {"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
               "NumericGreaterThan", "NumericGreaterThanEquals"}
DATE_OPS = {"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
            "DateGreaterThanEquals"}
OTHER_OPS = {"Bool", "IpAddress", "NotIpAddress"}
OPERATORS = STRING_OPS | NUMERIC_OPS | DATE_OPS | OTHER_OPS


class PolicyError(ValueError):
    """A policy document that does not follow the grammar."""


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _glob(pattern, value, ignore_case=False):
    """Wildcard match: * is any run of characters ("/" and ":" included), ? is one character;
    everything else is literal."""
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def parse(document, bucket_policy=False):
    """The policy as a dict with list-valued fields, or PolicyError saying what is wrong."""
    if isinstance(document, (bytes, str)):
        try:
            document = json.loads(document)
        except ValueError as e:
            raise PolicyError(f"the policy is not valid JSON: {e}")
    if not isinstance(document, dict):
        raise PolicyError("the policy must be a JSON object")
    if str(document.get("Version")) != "1":
        raise PolicyError('Version must be "1"')
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise PolicyError("Statement must be a non-empty list")
    out = []
    for i, s in enumerate(statements):
        where = f"Statement[{i}]"
        if not isinstance(s, dict):
            raise PolicyError(f"{where} must be an object")
        if s.get("Effect") not in ("Allow", "Deny"):
            raise PolicyError(f'{where}.Effect must be "Allow" or "Deny"')
        st = {"Effect": s["Effect"]}
        for a, na in (("Action", "NotAction"), ("Resource", "NotResource")):
            if (a in s) == (na in s):
                raise PolicyError(f"{where} must have exactly one of {a} and {na}")
            name = a if a in s else na
            values = _as_list(s[name])
            if not values or not all(isinstance(v, str) and v for v in values):
                raise PolicyError(f"{where}.{name} must be a non-empty string or list of strings")
            st[name] = values
        for action in st.get("Action", []) + st.get("NotAction", []):
            if action != "*" and ":" not in action:
                raise PolicyError(f"{where}: action {action!r} must look like service:Name")
        if bucket_policy:
            if "Principal" not in s:
                raise PolicyError(f"{where}.Principal is required in a bucket policy")
            principals = s["Principal"]
            if isinstance(principals, dict):  # {"RAM": [...]} is accepted as a plain list
                principals = [p for v in principals.values() for p in _as_list(v)]
            principals = _as_list(principals)
            if not principals or not all(isinstance(p, str) and p for p in principals):
                raise PolicyError(f"{where}.Principal must be a non-empty string or list of strings")
            st["Principal"] = principals
        condition = s.get("Condition") or {}
        if not isinstance(condition, dict):
            raise PolicyError(f"{where}.Condition must be an object")
        for op, block in condition.items():
            if op not in OPERATORS:
                raise PolicyError(f"{where}.Condition: unknown operator {op!r}")
            if not isinstance(block, dict) or not block:
                raise PolicyError(f"{where}.Condition.{op} must be an object of key: value(s)")
        st["Condition"] = condition
        out.append(st)
    return {"Version": "1", "Statement": out}


def _date(value):
    if isinstance(value, (int, float)):
        return float(value)
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d"):
        try:
            return float(calendar.timegm(time.strptime(value, fmt)))
        except ValueError:
            pass
    return None


def _one(op, want, have):
    """Whether the request's value `have` satisfies one condition value `want` (positive form)."""
    base = op.replace("Not", "", 1) if op.startswith(("StringNot", "NumericNot", "DateNot")) else op
    if base == "StringEquals":
        return str(have) == str(want)
    if base == "StringEqualsIgnoreCase":
        return str(have).lower() == str(want).lower()
    if base == "StringLike":
        return _glob(str(want), str(have))
    if base.startswith("Numeric"):
        try:
            a, b = float(have), float(want)
        except ValueError:
            return False
        return {"NumericEquals": a == b, "NumericLessThan": a < b, "NumericLessThanEquals": a <= b,
                "NumericGreaterThan": a > b, "NumericGreaterThanEquals": a >= b}[base]
    if base.startswith("Date"):
        a, b = _date(have), _date(want)
        if a is None or b is None:
            return False
        return {"DateEquals": a == b, "DateLessThan": a < b, "DateLessThanEquals": a <= b,
                "DateGreaterThan": a > b, "DateGreaterThanEquals": a >= b}[base]
    if base == "Bool":
        return str(have).lower() == str(want).lower()
    if base in ("IpAddress", "NotIpAddress"):
        try:
            return ipaddress.ip_address(str(have)) in ipaddress.ip_network(str(want), strict=False)
        except ValueError:
            return False
    return False


def _negated(op):
    return op.startswith(("StringNot", "NumericNot", "DateNot")) or op == "NotIpAddress"


def conditions_hold(condition, context):
    """Every operator block holds; within a block every key; a key holds when any of its
    values matches (for negated operators: when none does). A key the request lacks makes a
    positive operator fail and a negated one hold."""
    ctx = {k.lower(): v for k, v in context.items()}
    for op, block in condition.items():
        for key, wanted in block.items():
            have = ctx.get(key.lower())
            if have is None:
                if _negated(op):
                    continue
                return False
            haves = have if isinstance(have, list) else [have]
            matched = any(_one(op, w, h) for w in _as_list(wanted) for h in haves)
            if _negated(op) == matched:
                return False
    return True


def statement_applies(st, action, resource, context):
    if "Action" in st:
        ok = any(_glob(a, action, ignore_case=True) for a in st["Action"])
    else:
        ok = not any(_glob(a, action, ignore_case=True) for a in st["NotAction"])
    if not ok:
        return False
    if "Resource" in st:
        ok = any(_glob(r, resource) for r in st["Resource"])
    else:
        ok = not any(_glob(r, resource) for r in st["NotResource"])
    return ok and conditions_hold(st.get("Condition") or {}, context)


def principal_applies(st, names, caller_is_owner):
    for p in st["Principal"]:
        if p == "*":
            if caller_is_owner and not st.get("Condition"):
                continue
            return True
        if any(_glob(p, n) for n in names):
            return True
    return False


def evaluate(policies, action, resource, context, principal_names=None, caller_is_owner=False):
    """"Deny", "Allow" or None (nothing matched) for parsed policies. With principal_names the
    policies are bucket policies and each statement must also name the caller."""
    result = None
    for policy in policies:
        for st in policy["Statement"]:
            if principal_names is not None and not principal_applies(st, principal_names, caller_is_owner):
                continue
            if statement_applies(st, action, resource, context):
                if st["Effect"] == "Deny":
                    return "Deny"
                result = "Allow"
    return result


def resource_arn(region, owner, bucket=None, key=None):
    if bucket is None:
        return f"acs:oss:{region}:{owner}:*"
    if key is None:
        return f"acs:oss:{region}:{owner}:{bucket}"
    return f"acs:oss:{region}:{owner}:{bucket}/{key}"


def authorize(caller, owner, bucket_policy, action, resource, context):
    """(allowed, reason). `owner` is the bucket owner's uid (for service-level requests, the
    caller's own account); `bucket_policy` the parsed bucket policy or None."""
    same_account = caller.kind != "anonymous" and caller.account == owner
    if caller.kind == "root" and same_account:
        return True, "the bucket owner's root identity"
    identity = None
    if caller.kind in ("user", "role"):
        parsed = []
        for doc in caller.policies:
            try:
                parsed.append(parse(doc))
            except PolicyError:
                continue  # the registry's own mistake: a broken policy grants nothing
        identity = evaluate(parsed, action, resource, context)
    bucket = None
    if bucket_policy is not None:
        bucket = evaluate([bucket_policy], action, resource, context,
                          principal_names=caller.principal_names(), caller_is_owner=same_account)
    if identity == "Deny":
        return False, "an explicit Deny in the caller's RAM policies"
    if bucket == "Deny":
        return False, "an explicit Deny in the bucket policy"
    if same_account and identity == "Allow":
        return True, "the caller's RAM policy"
    if bucket == "Allow":
        return True, "the bucket policy"
    if same_account:
        return False, "no RAM policy or bucket policy statement allows it"
    return False, "no bucket policy statement allows this principal of another account"
