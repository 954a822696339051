"""Objects: put, get, head, meta, ranges, preconditions, appends, symlinks, archive restore,
copies, deletes, tags, metadata and encryption headers, with both official SDKs."""

import os
import time

import pytest
import oss2
import alibabacloud_oss_v2 as ossv2

from helpers import md5_etag, oss2_crc, oss_error, v2_crc

META_HEADERS = {
    "Content-Type": "text/plain; charset=utf-8",
    "Cache-Control": "no-cache",
    "Content-Disposition": 'attachment; filename="a.txt"',
    "Content-Encoding": "identity",
    "Expires": "Wed, 21 Oct 2037 07:28:00 GMT",
    "x-oss-meta-owner": "team-a",
    "x-oss-meta-Mixed-Case": "Value",
}


@pytest.mark.parametrize("v4", [False, True], ids=["v1", "v4"])
def test_oss2_put_get_head_roundtrip(cloud, bucket, v4):
    b = cloud.oss2(cloud.src_root, bucket, v4=v4)
    data = os.urandom(300_001)
    put = b.put_object("dir/obj.bin", data, headers=META_HEADERS)
    assert put.etag == md5_etag(data), "ETag is the upper-case MD5 of a PutObject body"
    assert put.resp.headers["ETag"] == f'"{md5_etag(data)}"'
    assert put.crc == oss2_crc(data)
    got = b.get_object("dir/obj.bin")  # oss2 checks the CRC-64 of what it reads
    assert got.read() == data
    h = got.headers
    assert h["x-oss-object-type"] == "Normal"
    assert h["x-oss-hash-crc64ecma"] == str(oss2_crc(data))
    assert h["x-oss-request-id"]
    assert h["Content-Type"] == META_HEADERS["Content-Type"]
    for name in ("Cache-Control", "Content-Disposition", "Content-Encoding", "Expires"):
        assert h[name] == META_HEADERS[name]
    assert h["x-oss-meta-owner"] == "team-a"
    assert h["x-oss-meta-mixed-case"] == "Value", "user metadata names come back in lower case"
    head = b.head_object("dir/obj.bin")
    assert head.etag == md5_etag(data) and head.content_length == len(data)
    assert head.object_type == "Normal" and head.server_crc == oss2_crc(data)
    meta = b.get_object_meta("dir/obj.bin")
    assert meta.etag == md5_etag(data) and meta.content_length == len(data)
    assert meta.headers["x-oss-hash-crc64ecma"] == str(oss2_crc(data))


def test_v2_put_get_head_roundtrip(cloud, bucket):
    c = cloud.v2(cloud.src_root)
    data = os.urandom(70_000)
    put = c.put_object(ossv2.PutObjectRequest(bucket=bucket, key="k ü+%.bin", body=data, metadata={"owner": "b"},
                                              content_type="application/x-test", cache_control="max-age=3"))
    assert put.etag == f'"{md5_etag(data)}"'
    assert put.hash_crc64 == str(v2_crc(data))
    got = c.get_object(ossv2.GetObjectRequest(bucket=bucket, key="k ü+%.bin"))
    assert got.body.read() == data
    assert got.hash_crc64 == str(v2_crc(data)) and got.object_type == "Normal"
    assert got.metadata == {"owner": "b"} and got.content_type == "application/x-test"
    assert got.cache_control == "max-age=3"
    head = c.head_object(ossv2.HeadObjectRequest(bucket=bucket, key="k ü+%.bin"))
    assert head.etag == f'"{md5_etag(data)}"' and head.content_length == len(data)
    meta = c.get_object_meta(ossv2.GetObjectMetaRequest(bucket=bucket, key="k ü+%.bin"))
    assert meta.etag == f'"{md5_etag(data)}"' and meta.content_length == len(data)
    assert meta.hash_crc64 == str(v2_crc(data))


def test_missing_key_and_missing_bucket(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    with oss_error(404, "NoSuchKey"):
        b.get_object("nope")
    with oss_error(404, "NoSuchBucket"):
        cloud.oss2(cloud.src_root, "no-such-bucket-conf").get_object("nope")
    c = cloud.v2(cloud.src_root)
    with oss_error(404, "NoSuchKey"):
        c.get_object(ossv2.GetObjectRequest(bucket=bucket, key="nope"))
    with oss_error(404, "NoSuchBucket"):
        c.get_object(ossv2.GetObjectRequest(bucket="no-such-bucket-conf", key="nope"))
    with oss_error(404, "NoSuchKey"):
        c.get_object_meta(ossv2.GetObjectMetaRequest(bucket=bucket, key="nope"))
    assert not c.is_object_exist(bucket, "nope")


def test_range_reads(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    data = bytes(range(256)) * 4
    b.put_object("r", data)
    part = b.get_object("r", byte_range=(10, 19))
    assert part.status == 206 and part.read() == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert part.headers["x-oss-hash-crc64ecma"] == str(oss2_crc(data)), "the whole object's CRC, also on a range"
    assert b.get_object("r", byte_range=(None, 5)).read() == data[-5:]
    assert b.get_object("r", byte_range=(1000, None)).read() == data[1000:]
    # OSS ignores an unsatisfiable range (whole object, 200) unless asked for standard behaviour.
    whole = b.get_object("r", byte_range=(5000, 6000))
    assert whole.status == 200 and whole.read() == data
    with oss_error(416, "InvalidRange"):
        b.get_object("r", byte_range=(5000, 6000), headers={"x-oss-range-behavior": "standard"})
    c = cloud.v2(cloud.src_root)
    got = c.get_object(ossv2.GetObjectRequest(bucket=bucket, key="r", range_header="bytes=0-3"))
    assert got.body.read() == data[:4] and got.content_range == f"bytes 0-3/{len(data)}"


def test_preconditions(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    etag = b.put_object("p", b"hello").etag
    assert b.get_object("p", headers={"If-Match": f'"{etag}"'}).read() == b"hello"
    with oss_error(412, "PreconditionFailed"):
        b.get_object("p", headers={"If-Match": '"0123456789ABCDEF0123456789ABCDEF"'})
    with oss_error(412, "PreconditionFailed"):
        b.get_object("p", headers={"If-Match": f'"{etag.lower()}"'})  # OSS ETags are upper-case
    with pytest.raises(oss2.exceptions.NotModified):
        b.get_object("p", headers={"If-None-Match": f'"{etag}"'})
    with pytest.raises(oss2.exceptions.NotModified):
        b.get_object("p", headers={"If-Modified-Since": oss2.utils.http_date(int(time.time()) + 3600)})
    with oss_error(412, "PreconditionFailed"):
        b.get_object("p", headers={"If-Unmodified-Since": oss2.utils.http_date(int(time.time()) - 3600)})
    c = cloud.v2(cloud.src_root)
    with oss_error(412, "PreconditionFailed"):
        c.get_object(ossv2.GetObjectRequest(bucket=bucket, key="p", if_match='"00000000000000000000000000000000"'))
    with oss_error(304, None):
        c.get_object(ossv2.GetObjectRequest(bucket=bucket, key="p", if_none_match=f'"{etag}"'))


def test_content_md5_is_checked(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    with oss_error(400, "InvalidDigest"):
        b.put_object("m", b"abc", headers={"Content-MD5": oss2.utils.content_md5(b"abd")})
    b.put_object("m", b"abc", headers={"Content-MD5": oss2.utils.content_md5(b"abc")})


def test_append_object_etag_is_not_md5(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    first = b.append_object("log", 0, b"hello ", headers={"x-oss-meta-kind": "log"})
    assert first.next_position == 6 and first.crc == oss2_crc(b"hello ")
    second = b.append_object("log", first.next_position, b"world", init_crc=first.crc)
    assert second.next_position == 11 and second.crc == oss2_crc(b"hello world")
    head = b.head_object("log")
    assert head.object_type == "Appendable"
    assert head.headers["x-oss-next-append-position"] == "11"
    etag = head.etag
    assert etag != md5_etag(b"hello world") and len(etag) == 32 and etag == etag.upper()
    # OSS: the CRC-64 as 8 little-endian bytes, then the time of the last append.
    assert etag[:16] == oss2_crc(b"hello world").to_bytes(8, "little").hex().upper()
    assert abs(int.from_bytes(bytes.fromhex(etag[16:]), "little") - time.time()) < 60
    assert b.get_object("log").read() == b"hello world"
    with oss_error(409, "PositionNotEqualToLength") as e:
        b.append_object("log", 3, b"x")
    assert e.headers["x-oss-next-append-position"] == "11"
    b.put_object("normal", b"n")
    with oss_error(409, "ObjectNotAppendable"):
        b.append_object("normal", 1, b"x")
    c = cloud.v2(cloud.src_root)
    r = c.append_object(ossv2.AppendObjectRequest(bucket=bucket, key="log", position=11, body=b"!"))
    assert r.next_position == 12 and r.hash_crc64 == str(v2_crc(b"hello world!"))
    assert c.get_object(ossv2.GetObjectRequest(bucket=bucket, key="log")).body.read() == b"hello world!"


def test_symlinks(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    b.put_object("target/file.txt", b"pointed at")
    b.put_symlink("target/file.txt", "link", headers={"x-oss-meta-a": "1"})
    assert b.get_symlink("link").target_key == "target/file.txt"
    head = b.head_object("link")
    assert head.object_type == "Symlink"
    assert b.get_object("link").read() == b"pointed at"
    c = cloud.v2(cloud.src_root)
    put = c.put_symlink(ossv2.PutSymlinkRequest(bucket=bucket, key="link2", target="target/file.txt"))
    etag = put.headers["ETag"].strip('"')
    assert len(etag) == 32 and etag not in (md5_etag(b"pointed at"), md5_etag(b"target/file.txt"))
    assert c.get_symlink(ossv2.GetSymlinkRequest(bucket=bucket, key="link2")).target == "target/file.txt"
    b.put_symlink("missing", "dangling")
    with oss_error(404, "NoSuchKey"):
        b.get_object("dangling")


def test_archive_needs_restore(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    b.put_object("cold", b"frozen", headers={"x-oss-storage-class": "Archive"})
    head = b.head_object("cold")
    assert head.headers["x-oss-storage-class"] == "Archive"
    with oss_error(403, "InvalidObjectState"):
        b.get_object("cold")
    assert b.restore_object("cold").status == 202
    with oss_error(409, "RestoreAlreadyInProgress"):
        b.restore_object("cold")
    assert b.head_object("cold").headers["x-oss-restore"] == 'ongoing-request="true"'
    deadline = time.time() + 10
    while 'ongoing-request="true"' in b.head_object("cold").headers["x-oss-restore"]:
        assert time.time() < deadline, "restore did not finish"
        time.sleep(0.2)
    assert b.get_object("cold").read() == b"frozen"
    assert b.restore_object("cold").status == 200
    c = cloud.v2(cloud.src_root)
    c.put_object(ossv2.PutObjectRequest(bucket=bucket, key="cold2", body=b"x", storage_class="Archive"))
    with oss_error(403, "InvalidObjectState"):
        c.get_object(ossv2.GetObjectRequest(bucket=bucket, key="cold2"))
    r = c.restore_object(ossv2.RestoreObjectRequest(bucket=bucket, key="cold2"))
    assert r.status_code == 202
    b.put_object("std", b"x")
    with oss_error(400, "OperationNotSupported"):
        b.restore_object("std")
    with oss_error(400, "InvalidArgument"):
        b.put_object("bad", b"x", headers={"x-oss-storage-class": "Glacier"})


def test_copy_object(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    data = os.urandom(5000)
    src = b.put_object("src", data, headers={**META_HEADERS, "x-oss-tagging": "a=1&b=2"})
    copied = b.copy_object(bucket, "src", "dst")
    assert copied.etag == src.etag
    got = b.get_object("dst")
    assert got.read() == data and got.headers["x-oss-meta-owner"] == "team-a"
    assert got.headers["x-oss-tagging-count"] == "2"
    assert got.headers["x-oss-hash-crc64ecma"] == str(oss2_crc(data))
    replaced = b.copy_object(bucket, "src", "dst2", headers={
        "x-oss-metadata-directive": "REPLACE", "x-oss-meta-new": "yes", "Content-Type": "image/png",
        "x-oss-tagging-directive": "Replace", "x-oss-tagging": "c=3", "x-oss-storage-class": "IA"})
    h = b.head_object("dst2").headers
    assert "x-oss-meta-owner" not in h and h["x-oss-meta-new"] == "yes" and h["Content-Type"] == "image/png"
    assert h["x-oss-tagging-count"] == "1" and h["x-oss-storage-class"] == "IA"
    assert replaced.etag == src.etag
    with oss_error(412, "PreconditionFailed"):
        b.copy_object(bucket, "src", "dst3", headers={"x-oss-copy-source-if-match": '"00000000000000000000000000000000"'})
    b.copy_object(bucket, "src", "dst3", headers={"x-oss-copy-source-if-match": f'"{src.etag}"'})
    with oss_error(404, "NoSuchKey"):
        b.copy_object(bucket, "missing", "dst4")
    c = cloud.v2(cloud.src_root)
    r = c.copy_object(ossv2.CopyObjectRequest(bucket=bucket, key="dst5", source_bucket=bucket, source_key="src"))
    assert r.etag == f'"{src.etag}"' and r.hash_crc64 == str(v2_crc(data))


def test_deletes(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    for k in ("a", "b", "c", "d/e"):
        b.put_object(k, b"x")
    assert b.delete_object("a").status == 204
    assert b.delete_object("never-existed").status == 204
    assert not b.object_exists("a")
    r = b.batch_delete_objects(["b", "d/e", "missing"])
    assert sorted(r.deleted_keys) == ["b", "d/e", "missing"]
    c = cloud.v2(cloud.src_root)
    r = c.delete_multiple_objects(ossv2.DeleteMultipleObjectsRequest(
        bucket=bucket, objects=[ossv2.DeleteObject(key="c")], quiet=True))
    assert not r.deleted_objects, "quiet mode lists nothing"
    assert not b.object_exists("c")
    # Content-MD5 is required for DeleteMultipleObjects.
    body = b'<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>false</Quiet><Object><Key>x</Key></Object></Delete>'
    with oss_error(400, "InvalidDigest"):
        b._do("POST", bucket, "", params={"delete": ""}, data=body)
    with oss_error(400, "InvalidDigest"):
        b._do("POST", bucket, "", params={"delete": ""}, data=body, headers={"Content-MD5": oss2.utils.content_md5(b"other")})
    with oss_error(400, "MalformedXML"):
        b._do("POST", bucket, "", params={"delete": ""}, data=b"<Delete>", headers={"Content-MD5": oss2.utils.content_md5(b"<Delete>")})


def test_tags(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    b.put_object("t", b"x", headers={"x-oss-tagging": "k1=v1&k%202=v%202"})
    assert b.head_object("t").headers["x-oss-tagging-count"] == "2"
    tags = b.get_object_tagging("t").tag_set.tagging_rule
    assert tags == {"k1": "v1", "k 2": "v 2"}
    rule = oss2.models.TaggingRule()
    rule.add("only", "one")
    b.put_object_tagging("t", oss2.models.Tagging(rule))
    assert b.get_object_tagging("t").tag_set.tagging_rule == {"only": "one"}
    b.delete_object_tagging("t")
    assert b.get_object_tagging("t").tag_set.tagging_rule == {}
    assert "x-oss-tagging-count" not in b.head_object("t").headers
    c = cloud.v2(cloud.src_root)
    c.put_object_tagging(ossv2.PutObjectTaggingRequest(bucket=bucket, key="t", tagging=ossv2.Tagging(
        tag_set=ossv2.TagSet(tags=[ossv2.Tag(key="a", value="b")]))))
    got = c.get_object_tagging(ossv2.GetObjectTaggingRequest(bucket=bucket, key="t"))
    assert [(t.key, t.value) for t in got.tag_set.tags] == [("a", "b")]
    with oss_error(400, "InvalidArgument"):
        b.put_object("many", b"x", headers={"x-oss-tagging": "&".join(f"k{i}=v" for i in range(11))})


def test_server_side_encryption_headers(cloud, bucket):
    b = cloud.oss2(cloud.src_root, bucket)
    b.put_object("kms", b"x", headers={"x-oss-server-side-encryption": "KMS",
                                       "x-oss-server-side-encryption-key-id": "key-1234"})
    h = b.head_object("kms").headers
    assert h["x-oss-server-side-encryption"] == "KMS" and h["x-oss-server-side-encryption-key-id"] == "key-1234"
    b.put_object("aes", b"x", headers={"x-oss-server-side-encryption": "AES256"})
    h = b.head_object("aes").headers
    assert h["x-oss-server-side-encryption"] == "AES256" and "x-oss-server-side-encryption-key-id" not in h
    with oss_error(400, "InvalidEncryptionAlgorithmError"):
        b.put_object("bad", b"x", headers={"x-oss-server-side-encryption": "DES"})
    c = cloud.v2(cloud.src_root)
    c.put_object(ossv2.PutObjectRequest(bucket=bucket, key="kms2", body=b"y", server_side_encryption="KMS",
                                        server_side_encryption_key_id="key-5678"))
    head = c.head_object(ossv2.HeadObjectRequest(bucket=bucket, key="kms2"))
    assert head.server_side_encryption == "KMS" and head.server_side_encryption_key_id == "key-5678"
