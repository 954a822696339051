"""Multipart uploads (CRC-64 combined as OSS does), listings, buckets, versioning and bucket
policies, with both official SDKs."""

import hashlib
import json
import os

import pytest
import oss2
import alibabacloud_oss_v2 as ossv2

from conftest import unique
from helpers import oss2_crc, oss_error, v2_crc

PART = 100 * 1024


def test_oss2_multipart(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    parts_data = [os.urandom(PART), os.urandom(PART + 7), os.urandom(1000)]
    up = b.init_multipart_upload("big", headers={"x-oss-meta-m": "1", "x-oss-tagging": "t=1"}).upload_id
    parts = []
    for i, d in enumerate(parts_data, 1):
        r = b.upload_part("big", up, i, d)
        assert r.etag == hashlib.md5(d).hexdigest().upper() and r.crc == oss2_crc(d)
        parts.append(oss2.models.PartInfo(i, r.etag, size=len(d), part_crc=r.crc))
    listed = b.list_parts("big", up)
    assert [p.part_number for p in listed.parts] == [1, 2, 3] and listed.parts[1].size == PART + 7
    assert up in [u.upload_id for u in b.list_multipart_uploads().upload_list]
    done = b.complete_multipart_upload("big", up, parts)  # oss2 checks the combined CRC-64
    whole = b"".join(parts_data)
    want = hashlib.md5(b"".join(hashlib.md5(d).digest() for d in parts_data)).hexdigest().upper() + "-3"
    assert done.etag == want and done.crc == oss2_crc(whole)
    got = b.get_object("big")
    assert got.read() == whole and got.headers["x-oss-object-type"] == "Multipart"
    assert got.headers["x-oss-meta-m"] == "1" and got.headers["x-oss-tagging-count"] == "1"
    with oss_error(404, "NoSuchUpload"):
        b.list_parts("big", up)


def test_multipart_errors_and_abort(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    up = b.init_multipart_upload("m").upload_id
    e1 = b.upload_part("m", up, 1, b"small").etag
    e2 = b.upload_part("m", up, 2, b"tail").etag
    with oss_error(400, "EntityTooSmall"):
        b.complete_multipart_upload("m", up, [oss2.models.PartInfo(1, e1), oss2.models.PartInfo(2, e2)])
    with oss_error(400, "InvalidPart"):
        b.complete_multipart_upload("m", up, [oss2.models.PartInfo(1, "0" * 32)])
    # oss2 sorts the parts it sends, so the out-of-order list goes as a plain signed request.
    body = (f'<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>"{e2}"</ETag></Part>'
            f'<Part><PartNumber>1</PartNumber><ETag>"{e1}"</ETag></Part></CompleteMultipartUpload>').encode()
    with oss_error(400, "InvalidPartOrder"):
        b._do("POST", bucket, "m", params={"uploadId": up}, data=body)
    with oss_error(400, "InvalidArgument"):
        b.upload_part("m", up, 10001, b"x")
    b.abort_multipart_upload("m", up)
    with oss_error(404, "NoSuchUpload"):
        b.upload_part("m", up, 1, b"x")


def test_v2_uploader_and_upload_part_copy(cloud, bucket):
    c = cloud.v2(cloud.src_root)
    data = os.urandom(3 * PART + 5)
    up = c.uploader(part_size=PART, parallel_num=2)
    r = up.upload_from(ossv2.PutObjectRequest(bucket=bucket, key="up"), __import__("io").BytesIO(data))
    assert r.hash_crc64 == str(v2_crc(data))
    assert c.get_object(ossv2.GetObjectRequest(bucket=bucket, key="up")).body.read() == data
    init = c.initiate_multipart_upload(ossv2.InitiateMultipartUploadRequest(bucket=bucket, key="copied"))
    p1 = c.upload_part_copy(ossv2.UploadPartCopyRequest(bucket=bucket, key="copied", upload_id=init.upload_id, part_number=1,
                                                        source_bucket=bucket, source_key="up", source_range=f"bytes=0-{PART - 1}"))
    p2 = c.upload_part_copy(ossv2.UploadPartCopyRequest(bucket=bucket, key="copied", upload_id=init.upload_id, part_number=2,
                                                        source_bucket=bucket, source_key="up", source_range=f"bytes={PART}-{2 * PART + 9}"))
    assert p1.etag == f'"{hashlib.md5(data[:PART]).hexdigest().upper()}"'
    done = c.complete_multipart_upload(ossv2.CompleteMultipartUploadRequest(
        bucket=bucket, key="copied", upload_id=init.upload_id,
        complete_multipart_upload=ossv2.CompleteMultipartUpload(parts=[
            ossv2.UploadPart(part_number=1, etag=p1.etag), ossv2.UploadPart(part_number=2, etag=p2.etag)])))
    assert done.hash_crc64 == str(v2_crc(data[:2 * PART + 10]))
    assert c.get_object(ossv2.GetObjectRequest(bucket=bucket, key="copied")).body.read() == data[:2 * PART + 10]


def test_listings(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    keys = ["a/1", "a/2", "a/b/3", "b/4", "c", "sp ace/é+%x"]
    for k in keys:
        b.put_object(k, b"x")
    # oss2 lists with encoding-type=url and decodes.
    assert [o.key for o in oss2.ObjectIteratorV2(b, max_keys=2)] == sorted(keys)
    assert [o.key for o in oss2.ObjectIterator(b, max_keys=2)] == sorted(keys)
    top = b.list_objects_v2(delimiter="/")
    assert [o.key for o in top.object_list] == ["c"] and top.prefix_list == ["a/", "b/", "sp ace/"]
    sub = b.list_objects_v2(prefix="a/", delimiter="/", fetch_owner=True)
    assert [o.key for o in sub.object_list] == ["a/1", "a/2"] and sub.prefix_list == ["a/b/"]
    assert sub.object_list[0].owner.id == cloud.src_account
    assert [o.key for o in b.list_objects_v2(start_after="a/b/3").object_list] == ["b/4", "c", "sp ace/é+%x"]
    page = b.list_objects_v2(max_keys=3)
    assert page.is_truncated and page.next_continuation_token
    rest = b.list_objects_v2(continuation_token=page.next_continuation_token)
    assert [o.key for o in page.object_list + rest.object_list] == sorted(keys)
    c = cloud.v2(cloud.src_root)
    seen = []
    for p in c.list_objects_v2_paginator().iter_page(ossv2.ListObjectsV2Request(bucket=bucket, max_keys=2, encoding_type="url")):
        seen += [o.key for o in p.contents]
    assert seen == sorted(keys)
    r = c.list_objects_v2(ossv2.ListObjectsV2Request(bucket=bucket, prefix="a/", delimiter="/"))
    assert [o.key for o in r.contents] == ["a/1", "a/2"] and [p.prefix for p in r.common_prefixes] == ["a/b/"]
    assert r.contents[0].etag.startswith('"') and r.contents[0].object_type == "Normal"


def test_buckets(cloud):
    name = unique("conf-b")
    b = cloud.oss2(cloud.src_root, name)
    b.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    info = b.get_bucket_info()
    assert info.name == name and info.owner.id == cloud.src_account and info.location == f"oss-{cloud.region}"
    assert b.get_bucket_location().location == f"oss-{cloud.region}"
    mine = [x.name for x in oss2.BucketIterator(cloud.oss2_service(cloud.src_root))]
    theirs = [x.name for x in oss2.BucketIterator(cloud.oss2_service(cloud.dst_root, v4=True))]
    assert name in mine and name not in theirs, "ListBuckets lists the caller's account's buckets"
    with oss_error(409, "BucketAlreadyExists"):
        cloud.oss2(cloud.dst_root, name).create_bucket()
    c = cloud.v2(cloud.src_root)
    got = c.get_bucket_info(ossv2.GetBucketInfoRequest(bucket=name))
    assert got.bucket_info.name == name
    assert c.get_bucket_location(ossv2.GetBucketLocationRequest(bucket=name)).location == f"oss-{cloud.region}"
    b.put_object("x", b"x")
    with oss_error(409, "BucketNotEmpty"):
        b.delete_bucket()
    b.delete_object("x")
    b.delete_bucket()
    with oss_error(404, "NoSuchBucket"):
        b.get_bucket_info()


def test_versioning(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    assert b.get_bucket_versioning().status is None
    config = oss2.models.BucketVersioningConfig()
    config.status = oss2.BUCKET_VERSIONING_ENABLE
    b.put_bucket_versioning(config)
    assert b.get_bucket_versioning().status == "Enabled"
    v1 = b.put_object("k", b"one").versionid
    v2 = b.put_object("k", b"two").versionid
    assert v1 and v2 and v1 != v2
    assert b.get_object("k", params={"versionId": v1}).read() == b"one"
    deleted = b.delete_object("k")
    assert deleted.delete_marker and deleted.versionid
    with oss_error(404, "NoSuchKey") as e:
        b.get_object("k")
    assert e.headers["x-oss-delete-marker"] == "true"
    listed = b.list_object_versions()
    assert [(v.key, v.versionid) for v in listed.versions] == [("k", v2), ("k", v1)]
    assert [m.versionid for m in listed.delete_marker] == [deleted.versionid]
    b.delete_object("k", params={"versionId": deleted.versionid})
    assert b.get_object("k").read() == b"two"
    c = cloud.v2(cloud.src_root)
    r = c.get_bucket_versioning(ossv2.GetBucketVersioningRequest(bucket=bucket))
    assert r.version_status == "Enabled"
    versions = c.list_object_versions(ossv2.ListObjectVersionsRequest(bucket=bucket))
    assert sorted(v.version_id for v in versions.version) == sorted([v1, v2])
    with oss_error(404, "NoSuchVersion"):
        b.get_object("k", params={"versionId": "CAEQnotthere"})


def test_bucket_policy_document(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    with oss_error(404, "NoSuchBucketPolicy"):
        b.get_bucket_policy()
    policy = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject"],
                                             "Principal": [cloud.dst_account],
                                             "Resource": [f"acs:oss:*:{cloud.src_account}:{bucket}/*"]}]}
    b.put_bucket_policy(json.dumps(policy))
    assert json.loads(b.get_bucket_policy().policy) == policy
    c = cloud.v2(cloud.src_root)
    assert json.loads(c.get_bucket_policy(ossv2.GetBucketPolicyRequest(bucket=bucket)).body) == policy
    for bad in ("not json", json.dumps({"Version": "1", "Statement": []}),
                json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject"],
                                                            "Resource": [f"acs:oss:*:*:{bucket}/*"]}]}),
                json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject"], "Principal": ["*"],
                                                            "Resource": ["acs:oss:*:*:other-bucket/*"]}]})):
        with oss_error(400, "InvalidPolicyDocument"):
            b.put_bucket_policy(bad)
    b.delete_bucket_policy()
    with oss_error(404, "NoSuchBucketPolicy"):
        b.get_bucket_policy()
