"""A local Alibaba Cloud OSS server for tests (the entry point is scripts/oss_server.py).

One concept per module:
    crc         CRC-64/ECMA-182 as OSS computes it, streamed, and the combination of two CRCs
    errors      OSS errors: codes, HTTP statuses and the error XML
    store       buckets, objects, versions and multipart uploads over files on disk
    identity    who signed: static keys, sessions of the local Alibaba STS, the local RAM registry
    auth        signature checks (V1, V4, presigned URLs) with the official SDKs' own signing code
    policy      RAM policy and bucket policy evaluation (written for this server, independently of
                the product's policy crate)
    server      the HTTP front: addressing by Host, request parsing, one method per OSS operation
"""
