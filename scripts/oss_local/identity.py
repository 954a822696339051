"""Who signed a request: the local cloud's registries, read on every request (they change
while the server runs: `scripts/local-cloud provision` adds keys, the local Alibaba STS adds
sessions).

* Static keys: the keys file the local Alibaba STS already reads (scripts/local_cloud.py,
  record_sts_key): {"keys": {key id: {"secret", "user", "account", "setup", "kind"}}}.
  kind "root" is an account's own key (its root identity, the owner of what it creates);
  kind "user" (the default) is a RAM user of that account named "user".
* Sessions: the sessions file scripts/alibaba_sts.py writes next to its keys file, one entry
  per AssumeRole answer: {"sessions": {key id: {"secret", "token", "role_arn", "account",
  "role", "session_name", "expiration"}}}. A request with a session key must carry its exact
  security token, before its expiration.
* RAM registry (identity policies): {"accounts": {uid: {"users": {name: {"id", "policies":
  {policy name: document}}}, "roles": {name: {"policies": {...}}}}}}, written by
  scripts/local_cloud.py when it provisions a setup.
"""

import calendar
import json
import time
from dataclasses import dataclass, field


@dataclass
class Caller:
    """The identity a request acts as."""

    kind: str  # "root", "user", "role" or "anonymous"
    account: str = ""
    name: str = ""  # user or role name
    session: str = ""
    key_id: str = ""
    user_id: str = ""
    policies: list = field(default_factory=list)  # identity policy documents (parsed)

    def principal_names(self):
        """What a bucket policy's Principal may name to match this caller."""
        if self.kind == "root":
            return [self.account]
        if self.kind == "user":
            return [self.user_id] if self.user_id else []
        if self.kind == "role":
            # OSS names a role session with the role name in lower case.
            return [f"arn:sts::{self.account}:assumed-role/{self.name.lower()}/{self.session}"]
        return []

    def describe(self):
        """For the log (no secrets)."""
        if self.kind == "root":
            return f"root:{self.account}"
        if self.kind == "user":
            return f"user:{self.account}/{self.name}"
        if self.kind == "role":
            return f"role:{self.account}/{self.name}/{self.session}"
        return "anonymous"


def _read_json(path):
    if not path:
        return {}
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def parse_expiration(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


class Registry:
    def __init__(self, keys_file, sessions_file, ram_file):
        self.keys_file, self.sessions_file, self.ram_file = keys_file, sessions_file, ram_file

    def static_key(self, key_id):
        entry = _read_json(self.keys_file).get("keys", {}).get(key_id)
        return entry if isinstance(entry, dict) and entry.get("secret") else None

    def session(self, key_id):
        entry = _read_json(self.sessions_file).get("sessions", {}).get(key_id)
        return entry if isinstance(entry, dict) and entry.get("secret") else None

    def _ram_entry(self, account, kind, name):
        acct = _read_json(self.ram_file).get("accounts", {}).get(account, {})
        return acct.get(kind, {}).get(name) or {}

    def caller_for_static(self, key_id, entry):
        account = str(entry.get("account", ""))
        if entry.get("kind") == "root":
            return Caller("root", account=account, name="root", key_id=key_id)
        user = entry.get("user", "")
        ram = self._ram_entry(account, "users", user)
        return Caller("user", account=account, name=user, key_id=key_id, user_id=str(ram.get("id", "")),
                      policies=list((ram.get("policies") or {}).values()))

    def caller_for_session(self, key_id, entry):
        account = str(entry.get("account", ""))
        role = entry.get("role", "")
        ram = self._ram_entry(account, "roles", role)
        return Caller("role", account=account, name=role, session=entry.get("session_name", ""), key_id=key_id,
                      policies=list((ram.get("policies") or {}).values()))
