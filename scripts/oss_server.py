"""A local Alibaba Cloud OSS server for tests, over real files on disk.

    python scripts/oss_server.py --port 4596 --data .local/oss \\
        --keys .local/alibaba-sts-keys.json --sessions .local/alibaba-sts-sessions.json \\
        --ram .local/oss-ram.json [--endpoint-host oss-cn-local.localhost] [--region cn-local]

scripts/local-cloud starts it as the fourth server of the local cloud (port CRR_LOCAL_OSS_PORT,
default 4596). It speaks the OSS REST API crr uses (objects, appends, symlinks, archive
restore, copies, multipart uploads, listings, tags, buckets, versioning, bucket policies) the
way OSS does: virtual-hosted addressing (<bucket>.<endpoint host>:<port>; names under
.localhost are loopback), upper-case ETags, x-oss-hash-crc64ecma on every object, OSS error
XML. Every request is authenticated (OSS V1 and V4 header signatures and presigned URLs,
checked with oss2's and alibabacloud-oss-v2's own signing code; security tokens only from
the local Alibaba STS, until they expire) and authorized (RAM identity policies from the RAM
registry, bucket policies; see oss_local/policy.py). The package scripts/oss_local holds the
parts; scripts/oss_conformance holds the suite that holds it to the official SDKs.

The log (stderr) has one line per request: operation, bucket/key, caller, status, error code,
request id; never a secret, token or signature.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from oss_local.auth import Authenticator  # noqa: E402
from oss_local.identity import Registry  # noqa: E402
from oss_local.server import HEALTH_PATH, OssServer  # noqa: E402
from oss_local.store import Store  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", required=True, help="directory for buckets and objects")
    parser.add_argument("--keys", required=True, help="static keys: the local Alibaba STS's keys file")
    parser.add_argument("--sessions", required=True, help="the local Alibaba STS's sessions file")
    parser.add_argument("--ram", required=True, help="the RAM registry: identity policies of users and roles")
    parser.add_argument("--endpoint-host", default="oss-cn-local.localhost",
                        help="buckets are addressed as <bucket>.<endpoint host>")
    parser.add_argument("--region", default="cn-local", help="the region V4 signatures are checked for")
    parser.add_argument("--restore-seconds", type=float, default=1.0,
                        help="how long RestoreObject takes before an Archive object can be read")
    args = parser.parse_args(argv)
    store = Store(args.data)
    authenticator = Authenticator(Registry(args.keys, args.sessions, args.ram), args.region)
    server = OssServer((args.host, args.port), store, authenticator, args.endpoint_host, args.region,
                       restore_seconds=args.restore_seconds)
    sys.stderr.write(f"local OSS on http://{args.host}:{args.port}: buckets as <bucket>.{args.endpoint_host}:{args.port}, "
                     f"region {args.region}, data {args.data}, health {HEALTH_PATH}\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
