//! The OSS dialect of crr's store against the local OSS server, operation by
//! operation: what each answer becomes in crr's types (upper-case ETags kept for
//! conditions, CRC-64s, object types, tags, listings of awkward keys), conditional
//! writes, multipart uploads with part copies, symlinks, appended objects, bucket
//! policies and errors read from OSS XML and from `x-oss-err` on HEAD answers.

use crr::crc64;
use crr::error::Fault;
use crr::object::{hex, Encryption, ObjectType, StandardHeaders, Tags};
use crr::store::{Condition, CopySource, Doomed, List, ObjectWrite, Read, Upload, UploadedPart, Versioning};
use crr_e2e::*;

const KIB: usize = 1024;

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(data))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_with_their_oss_headers_crc64_and_upper_case_etags() {
    let setup = Setup::provision("oss-objects");
    let store = setup.oss_store(&setup.src_admin);
    let bucket = setup.oss().src_bucket.clone();
    let data = pattern(3000, 1);
    let headers = StandardHeaders {
        content_type: Some("text/csv".into()),
        cache_control: Some("max-age=60".into()),
        content_disposition: Some("attachment; filename=\"r.csv\"".into()),
        ..Default::default()
    };
    let tags: Tags = [("team".to_string(), "a b&c".to_string())].into();
    let write = ObjectWrite {
        headers: Some(&headers),
        metadata: [("owner".to_string(), "finance".to_string())].into(),
        tags: Some(&tags),
        storage_class: Some("IA"),
        encryption: Encryption::None,
        content_type: None,
    };
    let written = store
        .put(&bucket, "dir/report.csv", Upload::bytes(data.clone()), &write, Condition::Always)
        .await
        .expect("PutObject");
    assert_eq!(written.crc64, Some(crc64::checksum(&data)), "the server's CRC-64 is the one crr computes");
    assert_eq!(written.etag.trim_matches('"'), md5_hex(&data).to_ascii_uppercase(), "OSS ETags are upper case");

    let state = store.head(&bucket, "dir/report.csv", Read::default()).await.expect("HeadObject");
    assert_eq!(state.size, 3000);
    assert_eq!(state.etag, md5_hex(&data), "compared in lower case");
    assert_eq!(state.server_etag, md5_hex(&data).to_ascii_uppercase(), "kept as sent, for conditions");
    assert_eq!(state.object_type, ObjectType::Normal);
    assert_eq!(state.content_md5().map(|m| hex(&m)), Some(md5_hex(&data)));
    assert_eq!(state.crc64, Some(crc64::checksum(&data)));
    assert_eq!(state.headers, headers);
    assert_eq!(state.metadata.get("owner").map(String::as_str), Some("finance"));
    assert_eq!(state.tag_count, Some(1));
    assert_eq!(state.storage_class.as_deref(), Some("IA"));
    assert_eq!(store.tags(&bucket, "dir/report.csv").await.expect("GetObjectTagging"), tags);

    // Ranged reads: the bytes asked for, the whole object's size and CRC-64.
    let read = Read { range: Some((100, 50)), ..Read::default() };
    let (ranged, body) = store.get(&bucket, "dir/report.csv", read).await.expect("ranged GetObject");
    assert_eq!(body.collect().await.unwrap().to_vec(), data[100..150].to_vec());
    assert_eq!((ranged.size, ranged.crc64), (3000, Some(crc64::checksum(&data))));

    // If-Match carries the ETag as the server sent it; OSS compares case-sensitively.
    let same = Read { if_match: Some(&state.server_etag), ..Read::default() };
    let (_, body) = store.get(&bucket, "dir/report.csv", same).await.expect("GET If-Match with the server's ETag");
    assert_eq!(body.collect().await.unwrap().to_vec(), data);
    let lowered = Read { if_match: Some(&state.etag), ..Read::default() };
    let refused = store.head(&bucket, "dir/report.csv", lowered).await.expect_err("a lower-case ETag does not match");
    assert_eq!(refused.status, Some(412));

    // A missing key: HEAD answers carry the error in x-oss-err.
    let missing = store.head(&bucket, "no/such/key", Read::default()).await.expect_err("a missing key");
    assert!(missing.is_not_found(), "{missing:?}");
    assert_eq!(missing.code.as_deref(), Some("NoSuchKey"), "read from x-oss-err: {missing:?}");
    assert!(missing.message.contains("request id"), "{}", missing.message);

    // Conditional writes: only if absent, only if unchanged.
    let absent = store
        .put(&bucket, "dir/report.csv", Upload::bytes("x"), &ObjectWrite::default(), Condition::Absent)
        .await
        .expect_err("x-oss-forbid-overwrite refuses an existing key");
    assert_eq!((absent.status, absent.code.as_deref()), (Some(412), Some("PreconditionFailed")));
    let stale = store
        .put(&bucket, "dir/report.csv", Upload::bytes("x"), &ObjectWrite::default(), Condition::Matches("0000"))
        .await
        .expect_err("a stale ETag");
    assert_eq!(stale.status, Some(412));
    store
        .put(&bucket, "dir/report.csv", Upload::bytes(data.clone()), &write, Condition::Matches(&state.server_etag))
        .await
        .expect("the current ETag lets the write through");

    // CopyObject replaces metadata and tags, held to the source's ETag.
    let copy_write = ObjectWrite { metadata: [("copied".to_string(), "yes".to_string())].into(), ..Default::default() };
    let source = CopySource { bucket: &bucket, key: "dir/report.csv", if_match: Some(&state.server_etag), range: None };
    let copied = store.copy(&bucket, "dir/copy.csv", source, &copy_write, Condition::Always).await.expect("CopyObject");
    assert_eq!(copied.crc64, Some(crc64::checksum(&data)));
    let copy_state = store.head(&bucket, "dir/copy.csv", Read::default()).await.unwrap();
    assert_eq!(copy_state.metadata.get("copied").map(String::as_str), Some("yes"));
    assert_eq!(copy_state.tag_count, None, "tags replaced by none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_part_copies_listings_and_batch_deletes() {
    let setup = Setup::provision("oss-multipart");
    let store = setup.oss_store(&setup.src_admin);
    let bucket = setup.oss().src_bucket.clone();
    let parts = [pattern(120 * KIB, 2), pattern(110 * KIB, 3)];
    let none = ObjectWrite::default();
    let id = store.start_upload(&bucket, "mp/whole.bin", &none).await.expect("InitiateMultipartUpload");
    let mut done = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let w =
            store.upload_part(&bucket, "mp/whole.bin", &id, n, Upload::bytes(part.clone())).await.expect("UploadPart");
        assert_eq!(w.crc64, Some(crc64::checksum(part)), "each part's CRC-64");
        done.push(UploadedPart { number: n, etag: w.etag });
    }
    // A third part copied from another object's range.
    let other = pattern(50 * KIB, 4);
    store.put(&bucket, "mp/other.bin", Upload::bytes(other.clone()), &none, Condition::Always).await.unwrap();
    let range =
        CopySource { bucket: &bucket, key: "mp/other.bin", if_match: None, range: Some((1000, 20 * KIB as u64)) };
    let w = store.upload_part_copy(&bucket, "mp/whole.bin", &id, 3, range).await.expect("UploadPartCopy");
    done.push(UploadedPart { number: 3, etag: w.etag });
    let completed = store
        .complete_upload(&bucket, "mp/whole.bin", &id, &done, Condition::Always)
        .await
        .expect("CompleteMultipartUpload");
    let mut whole = parts.concat();
    whole.extend_from_slice(&other[1000..1000 + 20 * KIB]);
    assert_eq!(completed.crc64, Some(crc64::checksum(&whole)), "OSS combines the parts' CRC-64s");
    assert!(completed.etag.trim_matches('"').ends_with("-3"), "{}", completed.etag);
    let state = store.head(&bucket, "mp/whole.bin", Read::default()).await.unwrap();
    assert_eq!(state.object_type, ObjectType::Multipart);
    assert_eq!(state.multipart_parts(), Some(3));
    assert_eq!(state.content_md5(), None);

    // An aborted upload leaves nothing.
    let id = store.start_upload(&bucket, "mp/aborted.bin", &none).await.unwrap();
    store.abort_upload(&bucket, "mp/aborted.bin", &id).await.expect("AbortMultipartUpload");

    // Listings: keys that need encoding, pages, common prefixes.
    // In byte order, as OSS lists them.
    let keys = ["list/a b.txt", "list/x+y&z<>.txt", "list/zz", "list/ünï/1", "list/ünï/2"];
    for key in keys {
        store.put(&bucket, key, Upload::bytes(key.as_bytes().to_vec()), &none, Condition::Always).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let list = List { prefix: "list/", continuation: token.as_deref(), max_keys: Some(2), ..List::default() };
        let page = store.list(&bucket, list).await.expect("ListObjectsV2");
        seen.extend(page.objects.iter().map(|o| o.key.clone()));
        match page.next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, keys, "every key, in order, decoded");
    let by_dir = store.list(&bucket, List { prefix: "list/", delimiter: Some("/"), ..List::default() }).await.unwrap();
    assert_eq!(by_dir.prefixes, vec!["list/ünï/"]);
    assert_eq!(by_dir.objects.len(), 3);

    // DeleteMultipleObjects (with its Content-MD5); a missing key is deleted too.
    let mut doomed: Vec<Doomed> = keys.iter().map(|&key| Doomed { key, etag: None }).collect();
    doomed.push(Doomed { key: "list/never-there", etag: None });
    let refused = store.delete_many(&bucket, &doomed).await.expect("DeleteMultipleObjects");
    assert!(refused.is_empty(), "{refused:?}");
    let after = store.list(&bucket, List { prefix: "list/", ..List::default() }).await.unwrap();
    assert!(after.objects.is_empty(), "{:?}", after.objects);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_objects_symlinks_and_archives_are_told_apart() {
    let setup = Setup::provision("oss-kinds");
    let store = setup.oss_store(&setup.src_admin);
    let bucket = setup.oss().src_bucket.clone();
    let (a, b) = (pattern(1000, 5), pattern(700, 6));
    setup.oss_append(&setup.src_admin, &bucket, "kinds/appended.log", 0, &a).await;
    let etag = setup.oss_append(&setup.src_admin, &bucket, "kinds/appended.log", 1000, &b).await;
    let state = store.head(&bucket, "kinds/appended.log", Read::default()).await.unwrap();
    assert_eq!(state.object_type, ObjectType::Appendable);
    assert_eq!(state.server_etag, etag);
    assert_eq!(state.etag.len(), 32, "it looks like an MD5...");
    assert_eq!(state.content_md5(), None, "...and is not sent as one");
    assert_eq!(state.crc64, Some(crc64::checksum(&[a, b].concat())));

    let none = ObjectWrite::default();
    store.put(&bucket, "kinds/target.txt", Upload::bytes("target"), &none, Condition::Always).await.unwrap();
    let link_write = ObjectWrite { metadata: [("why".to_string(), "link".to_string())].into(), ..Default::default() };
    store.put_symlink(&bucket, "kinds/link", "kinds/target.txt", &link_write).await.expect("PutSymlink");
    assert_eq!(store.symlink_target(&bucket, "kinds/link").await.expect("GetSymlink"), "kinds/target.txt");
    let link = store.head(&bucket, "kinds/link", Read::default()).await.unwrap();
    assert_eq!(link.object_type, ObjectType::Symlink);
    assert_eq!(link.metadata.get("why").map(String::as_str), Some("link"));
    assert_eq!(link.content_md5(), None);

    let cold = ObjectWrite { storage_class: Some("Archive"), ..Default::default() };
    store.put(&bucket, "kinds/cold.bin", Upload::bytes("cold"), &cold, Condition::Always).await.unwrap();
    let state = store.head(&bucket, "kinds/cold.bin", Read::default()).await.unwrap();
    assert!(state.needs_restore(), "{state:?}");
    let refused = store.get(&bucket, "kinds/cold.bin", Read::default()).await.expect_err("an archived object");
    assert_eq!(refused.code.as_deref(), Some("InvalidObjectState"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_versioning_info_policy_and_errors() {
    let setup = Setup::provision("oss-buckets");
    let oss = setup.oss().clone();
    let dst = setup.oss_store(&setup.dst_admin);
    assert_eq!(dst.versioning(&oss.dst_bucket).await.expect("GetBucketVersioning"), Versioning::Off);
    let info = dst.bucket_info(&oss.dst_bucket).await.expect("GetBucketInfo");
    assert_eq!(info.region.as_deref(), Some("cn-local"));
    assert_eq!(info.owner.as_deref(), Some(setup.dst_account.as_str()));
    assert_eq!(info.versioning, Some(Versioning::Off));

    assert_eq!(dst.bucket_policy(&oss.dst_bucket).await.expect("GetBucketPolicy"), None, "no policy yet");
    let put = setup.grant_oss_destination().await;
    let got = dst.bucket_policy(&oss.dst_bucket).await.unwrap().expect("the policy put");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got).unwrap(),
        serde_json::from_str::<serde_json::Value>(&put).unwrap()
    );
    let principal = format!("arn:sts::{}:assumed-role/{}/*", setup.src_account, oss.role_name().to_lowercase());
    assert!(got.contains(&principal), "the seed's principal, in lower case: {got}");

    // Another account's root may not read the destination's policy; a missing bucket is permanent.
    let denied = setup.oss_store(&setup.src_admin).bucket_policy(&oss.dst_bucket).await.expect_err("another account");
    assert!(denied.is_access_denied(), "{denied:?}");
    let missing = dst.bucket_info("crr-no-such-bucket-anywhere").await.expect_err("a missing bucket");
    assert_eq!((missing.code.as_deref(), missing.fault), (Some("NoSuchBucket"), Fault::Permanent));
}
