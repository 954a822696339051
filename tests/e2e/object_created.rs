//! object-created against the local cloud, driven by real uploads and their
//! notifications: sizes from empty to multipart, awkward keys, metadata and tags,
//! KMS, prefixes, duplicated and reordered events, stale events, bad roles.

use std::time::Duration;

use aws_sdk_s3::types::{MetadataDirective, ServerSideEncryption, StorageClass};
use crr_e2e::*;

const MIB: usize = 1024 * 1024;

fn env_with(setup: &Setup, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = setup.function_env();
    for (k, v) in extra {
        env.retain(|(kk, _)| kk != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

async fn assert_same_object(setup: &Setup, key: &str) {
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let a = get_bytes(&src, &setup.src_bucket, key).await.unwrap_or_else(|| panic!("source {key:?} missing"));
    let b = get_bytes(&dst, &setup.dst_bucket, key).await.unwrap_or_else(|| panic!("replica of {key:?} missing"));
    assert!(a == b, "replica of {key:?} differs: {} vs {} bytes", a.len(), b.len());
    let ha = head(&src, &setup.src_bucket, key).await.unwrap();
    let hb = head(&dst, &setup.dst_bucket, key).await.unwrap();
    assert_eq!(ha.e_tag(), hb.e_tag(), "ETag of {key:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_from_empty_to_multipart_arrive_byte_equal_with_equal_etags() {
    let setup = Setup::provision("sizes");
    let src = setup.s3(&setup.src_admin);
    let function = Function::start("object-created", &setup.function_env());

    put_bytes(&src, &setup.src_bucket, "size/0", Vec::new()).await;
    put_bytes(&src, &setup.src_bucket, "size/1", vec![42]).await;
    // Just over one part: a 5 MiB part and a 1-byte part.
    let over = put_multipart(&src, &setup.src_bucket, "size/just-over-one-part", &[pattern(5 * MIB, 1), vec![7]]).await;
    assert!(over.ends_with("-2"));
    // 64 MiB in 8 MiB parts.
    let parts: Vec<Vec<u8>> = (0..8).map(|i| pattern(8 * MIB, 100 + i)).collect();
    let big = put_multipart(&src, &setup.src_bucket, "size/64MiB", &parts).await;
    assert!(big.ends_with("-8"));
    // Uneven parts: the layout is learned part by part.
    let uneven = put_multipart(
        &src,
        &setup.src_bucket,
        "size/uneven",
        &[pattern(6 * MIB, 3), pattern(5 * MIB, 4), pattern(2 * MIB, 5)],
    )
    .await;
    assert!(uneven.ends_with("-3"));

    let replies = deliver_all(&setup, &function).await;
    assert!(replies.iter().all(|d| d.status == 200), "{replies:#?}");
    let results = results(&replies);
    for key in ["size/0", "size/1", "size/just-over-one-part", "size/64MiB", "size/uneven"] {
        let outcomes = outcomes_for(&results, key);
        assert_eq!(outcomes.iter().filter(|o| *o == "copy").count(), 1, "{key}: {outcomes:?}");
        assert!(outcomes.iter().all(|o| o == "copy" || o == "identical"), "{key}: {outcomes:?}");
        assert_same_object(&setup, key).await;
    }
    assert_eq!(copy_result_for(&results, "size/64MiB")["method"], "multipart");
    assert_eq!(copy_result_for(&results, "size/64MiB")["bytes"], 64 * MIB);
    assert_eq!(copy_result_for(&results, "size/1")["method"], "stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_single_part_objects_copy_in_parallel_parts_and_stay_identical() {
    let setup = Setup::provision("threshold");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let function = Function::start(
        "object-created",
        &env_with(&setup, &[("CRR_MULTIPART_THRESHOLD", "6MiB"), ("CRR_PART_SIZE", "5MiB")]),
    );
    put_bytes(&src, &setup.src_bucket, "single/12MiB", pattern(12 * MIB, 9)).await;
    let results = results(&deliver_all(&setup, &function).await);
    let r = copy_result_for(&results, "single/12MiB");
    assert_eq!((r["outcome"].as_str(), r["method"].as_str()), (Some("copy"), Some("multipart")));
    assert_eq!(
        get_bytes(&dst, &setup.dst_bucket, "single/12MiB").await.unwrap(),
        get_bytes(&src, &setup.src_bucket, "single/12MiB").await.unwrap()
    );
    // The replica's ETag is multipart-style, but it records the source's: the next
    // event finds it identical instead of copying again.
    let replica = head(&dst, &setup.dst_bucket, "single/12MiB").await.unwrap();
    assert!(replica.e_tag().unwrap().ends_with("-3\""), "{:?}", replica.e_tag());
    let again = post(
        &format!("{}/invoke", function.base),
        s3_event("ObjectCreated:Put", &setup.src_bucket, "single/12MiB").to_string(),
        &[("x-fc-access-key-id", &setup.function.id), ("x-fc-access-key-secret", &setup.function.secret)],
    )
    .await;
    assert_eq!(again.json["results"][0]["outcome"], "identical", "{}", again.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_keys_metadata_and_tags_travel() {
    let setup = Setup::provision("meta");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let function = Function::start("object-created", &setup.function_env());

    let keys = [
        "with space/and+plus/100% sure.txt",
        "ünïcødé/日本語/файл.txt",
        "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/deep.bin",
        "symbols !'()*&$@=;:,?.txt",
    ];
    for (i, key) in keys.iter().enumerate() {
        put_bytes(&src, &setup.src_bucket, key, pattern(1000 + i, i as u64)).await;
    }
    src.put_object()
        .bucket(&setup.src_bucket)
        .key("meta/report.csv")
        .body(b"a,b\n1,2\n".to_vec().into())
        .content_type("text/csv")
        .cache_control("max-age=60")
        .content_disposition("attachment; filename=\"report.csv\"")
        .content_encoding("identity")
        .content_language("de-CH")
        .expires(aws_smithy_types::DateTime::from_secs(2_000_000_000))
        .metadata("owner", "finance")
        .metadata("project", "crr")
        .tagging("team=data&class=a%20b")
        .send()
        .await
        .unwrap();

    let replies = deliver_all(&setup, &function).await;
    assert!(replies.iter().all(|d| d.status == 200), "{replies:#?}");
    for key in keys.iter().chain(["meta/report.csv"].iter()) {
        assert_same_object(&setup, key).await;
    }
    let a = head(&src, &setup.src_bucket, "meta/report.csv").await.unwrap();
    let b = head(&dst, &setup.dst_bucket, "meta/report.csv").await.unwrap();
    assert_eq!(a.content_type(), b.content_type());
    assert_eq!(a.cache_control(), b.cache_control());
    assert_eq!(a.content_disposition(), b.content_disposition());
    assert_eq!(a.content_encoding(), b.content_encoding());
    assert_eq!(a.content_language(), b.content_language());
    #[allow(deprecated)]
    {
        assert_eq!(a.expires_string(), b.expires_string());
    }
    let mut replica_meta = b.metadata().unwrap().clone();
    assert_eq!(replica_meta.remove("crr-replica-of").as_deref(), Some(setup.src_bucket.as_str()));
    // The replica's own ETag is the source's, so it records none.
    assert_eq!(replica_meta.remove("crr-source-etag"), None);
    // It records when the source wrote the content (the order of writes).
    let written = a.last_modified().unwrap().secs().to_string();
    assert_eq!(replica_meta.remove("crr-source-mtime"), Some(written));
    assert_eq!(a.metadata().unwrap(), &replica_meta);
    let want = vec![("class".to_string(), "a b".to_string()), ("team".to_string(), "data".to_string())];
    assert_eq!(tags(&src, &setup.src_bucket, "meta/report.csv").await, want);
    assert_eq!(tags(&dst, &setup.dst_bucket, "meta/report.csv").await, want);

    // A metadata-only change updates the replica without moving the bytes...
    src.copy_object()
        .bucket(&setup.src_bucket)
        .key("meta/report.csv")
        .copy_source(format!("{}/meta/report.csv", setup.src_bucket))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/plain")
        .metadata("owner", "ops")
        .send()
        .await
        .unwrap();
    let after = results(&deliver_all(&setup, &function).await);
    let r = result_for(&after, "meta/report.csv");
    assert_eq!(
        (r["outcome"].as_str(), r["method"].as_str(), r["bytes"].as_u64()),
        (Some("update-metadata"), Some("metadata-only"), Some(0)),
        "{r}"
    );
    let b = head(&dst, &setup.dst_bucket, "meta/report.csv").await.unwrap();
    assert_eq!(b.content_type(), Some("text/plain"));
    assert_eq!(b.metadata().unwrap().get("owner").map(String::as_str), Some("ops"));
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "meta/report.csv").await.unwrap(), b"a,b\n1,2\n");

    // ...and a storage-class change (lifecycle-style, same content) changes nothing.
    src.copy_object()
        .bucket(&setup.src_bucket)
        .key("meta/report.csv")
        .copy_source(format!("{}/meta/report.csv", setup.src_bucket))
        .storage_class(StorageClass::StandardIa)
        .metadata_directive(MetadataDirective::Copy)
        .send()
        .await
        .unwrap();
    let after = results(&deliver_all(&setup, &function).await);
    assert_eq!(result_for(&after, "meta/report.csv")["outcome"], "identical");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_objects_are_skipped_or_replicated_with_the_destination_key() {
    let key_arn = "arn:aws:kms:us-east-1:222222222222:key/11111111-2222-3333-4444-555555555555";
    for (mode, replicated) in [("skip", false), ("replicate", true)] {
        let setup = Setup::provision(&format!("kms-{mode}"));
        let src = setup.s3(&setup.src_admin);
        let dst = setup.s3(&setup.dst_admin);
        let function = Function::start(
            "object-created",
            &env_with(&setup, &[("CRR_KMS", mode), ("CRR_REPLICA_KMS_KEY_ID", key_arn)]),
        );
        src.put_object()
            .bucket(&setup.src_bucket)
            .key("kms/secret.txt")
            .body(b"secret".to_vec().into())
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id("arn:aws:kms:us-east-1:111111111111:key/source-key")
            .send()
            .await
            .unwrap();
        src.put_object()
            .bucket(&setup.src_bucket)
            .key("kms/plain.txt")
            .body(b"plain".to_vec().into())
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .unwrap();
        let results = results(&deliver_all(&setup, &function).await);
        let plain = head(&dst, &setup.dst_bucket, "kms/plain.txt").await.expect("non-KMS objects always replicate");
        assert_eq!(
            plain.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256),
            "service-managed encryption is kept"
        );
        let replica = head(&dst, &setup.dst_bucket, "kms/secret.txt").await;
        if replicated {
            let replica = replica.expect("replicated");
            assert_eq!(replica.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
            assert_eq!(replica.ssekms_key_id(), Some(key_arn));
            assert_eq!(get_bytes(&dst, &setup.dst_bucket, "kms/secret.txt").await.unwrap(), b"secret");
        } else {
            assert!(replica.is_none(), "KMS objects are not replicated when the rule says skip");
            assert_eq!(result_for(&results, "kms/secret.txt")["outcome"], "skipped-kms");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_filters_choose_what_replicates() {
    let setup = Setup::provision("prefix");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let function = Function::start("object-created", &env_with(&setup, &[("CRR_PREFIXES", "images/,docs/2026/")]));
    for key in ["images/a.png", "docs/2026/q4.pdf", "docs/2025/old.pdf", "logs/app.log", "imagesque.txt"] {
        put_bytes(&src, &setup.src_bucket, key, key.as_bytes().to_vec()).await;
    }
    let results = results(&deliver_all(&setup, &function).await);
    for (key, replicated) in [
        ("images/a.png", true),
        ("docs/2026/q4.pdf", true),
        ("docs/2025/old.pdf", false),
        ("logs/app.log", false),
        ("imagesque.txt", false),
    ] {
        assert_eq!(head(&dst, &setup.dst_bucket, key).await.is_some(), replicated, "{key}");
        if !replicated {
            assert!(result_for(&results, key)["ignored"].as_str().unwrap().contains("prefixes"), "{key}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_events_converge_to_the_current_object() {
    let setup = Setup::provision("order");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let function = Function::start("object-created", &setup.function_env());
    put_bytes(&src, &setup.src_bucket, "doc.txt", b"version 1".to_vec()).await;
    put_bytes(&src, &setup.src_bucket, "doc.txt", b"version 2, longer".to_vec()).await;
    put_bytes(&src, &setup.src_bucket, "other.txt", b"other".to_vec()).await;

    let pump = setup.pump(Some(&function), None);
    let mut bodies = pump.drain(Duration::from_millis(1500)).await.unwrap();
    bodies.retain(|b| b.contains("Records"));
    assert_eq!(bodies.len(), 3);
    // Newest first, then everything again: duplicates and reordering.
    bodies.reverse();
    let replay: Vec<String> = bodies.iter().chain(bodies.iter()).cloned().collect();
    let mut outcomes = Vec::new();
    for body in &replay {
        let (ok, replies) = pump.deliver_body(body).await;
        assert!(ok, "{replies:#?}");
        outcomes.extend(results(&replies).iter().map(|r| r["outcome"].as_str().unwrap().to_owned()));
    }
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "doc.txt").await.unwrap(), b"version 2, longer");
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "other.txt").await.unwrap(), b"other");
    let copies = outcomes.iter().filter(|o| *o == "copy").count();
    assert_eq!(copies, 2, "each object copied once, every other event finds the replica identical: {outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_deleted_before_its_event_is_handled_is_skipped_cleanly() {
    let setup = Setup::provision("stale");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let function = Function::start("object-created", &setup.function_env());
    put_bytes(&src, &setup.src_bucket, "gone.txt", b"short-lived".to_vec()).await;
    src.delete_object().bucket(&setup.src_bucket).key("gone.txt").send().await.unwrap();
    let replies = deliver_all(&setup, &function).await;
    assert!(replies.iter().all(|d| d.status == 200), "{replies:#?}");
    assert_eq!(result_for(&results(&replies), "gone.txt")["outcome"], "source-gone");
    assert!(head(&dst, &setup.dst_bucket, "gone.txt").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_roles_give_clear_errors_and_write_nothing() {
    let setup = Setup::provision("badrole");
    let other = Setup::provision("otherrole");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    put_bytes(&src, &setup.src_bucket, "x.txt", b"x".to_vec()).await;
    let event = s3_event("ObjectCreated:Put", &setup.src_bucket, "x.txt").to_string();
    let fc = [
        ("x-fc-access-key-id", setup.function.id.as_str()),
        ("x-fc-access-key-secret", setup.function.secret.as_str()),
    ];
    let (src_object, dst_object) = (format!("{}/x.txt", setup.src_bucket), format!("{}/x.txt", setup.dst_bucket));

    // A role that does not exist: AWS STS refuses it like a role the function may not assume.
    let missing = format!("arn:aws:iam::{}:role/no-such-role", setup.dst_account);
    let f = Function::start("object-created", &env_with(&setup, &[("CRR_ROLE_ARN", &missing)]));
    let reply = post(&format!("{}/invoke", f.base), event.clone(), &fc).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json["errorType"], "AccessDenied", "{}", reply.json);
    let message = reply.json["errorMessage"].as_str().unwrap();
    assert!(message.contains(&format!("assuming role {missing}")) && message.contains("sts:AssumeRole"), "{message}");
    assert!(message.contains("trust policy") && message.contains("check that CRR_ROLE_ARN"), "{message}");

    // Another setup's identity and role: that identity may not read this source.
    let other_role = other.role_arn.clone();
    let f = Function::start("object-created", &env_with(&setup, &[("CRR_ROLE_ARN", &other_role)]));
    let fc_other = [
        ("x-fc-access-key-id", other.function.id.as_str()),
        ("x-fc-access-key-secret", other.function.secret.as_str()),
    ];
    let reply = post(&format!("{}/invoke", f.base), event.clone(), &fc_other).await;
    assert_eq!(reply.status, 404, "{}", reply.json);
    let message = reply.json["errorMessage"].as_str().unwrap();
    assert_eq!(reply.json["errorType"], "AccessDenied", "{message}");
    assert!(message.contains(&format!("reading {src_object}: ")), "the message names the object: {message}");
    assert!(
        message.contains(&format!(
            "the function's own identity needs read access (s3:GetObject, s3:GetObjectTagging) on {}/*",
            setup.src_bucket
        )),
        "and the fix: {message}"
    );

    // A malformed ARN fails the initializer with the variable and the expected form.
    let f = Function::start("object-created", &env_with(&setup, &[("CRR_ROLE_ARN", "crr-replicator")]));
    let reply = post(&format!("{}/invoke", f.base), event.clone(), &fc).await;
    assert_eq!(reply.json["errorType"], "InitError");
    assert!(reply.json["errorMessage"].as_str().unwrap().contains("CRR_ROLE_ARN=\"crr-replicator\" is not valid"));

    // The right role without s3:PutObject on the destination.
    setup.set_role_policy(&["--without", "s3:PutObject"]);
    let f = Function::start("object-created", &setup.function_env());
    let reply = post(&format!("{}/invoke", f.base), event.clone(), &fc).await;
    assert_eq!(reply.status, 404, "{}", reply.json);
    let message = reply.json["errorMessage"].as_str().unwrap();
    assert_eq!(reply.json["errorType"], "AccessDenied", "{message}");
    assert!(message.contains(&format!("writing {dst_object}: ")), "the message names the object: {message}");
    assert!(
        message.contains(&format!(
            "role {} is not allowed this on {}: grant it s3:PutObject",
            setup.role_arn, setup.dst_bucket
        )) && message.contains("crr policy generate"),
        "the role and the fix: {message}"
    );
    assert!(head(&dst, &setup.dst_bucket, "x.txt").await.is_none(), "nothing was written");

    // A destination bucket that does not exist (the role may write it, were it there).
    setup.set_role_policy(&[]);
    dst.delete_bucket().bucket(&setup.dst_bucket).send().await.expect("delete the destination bucket");
    let f = Function::start("object-created", &setup.function_env());
    let reply = post(&format!("{}/invoke", f.base), event, &fc).await;
    assert_ne!(reply.status, 200, "{}", reply.json);
    let message = reply.json["errorMessage"].as_str().unwrap();
    assert_eq!(reply.json["errorType"], "NoSuchBucket", "{message}");
    assert!(message.contains(&dst_object), "the message names the object: {message}");
    assert!(
        message.contains(&format!(
            "destination bucket {} does not exist at {} (CRR_DEST_BUCKET / CRR_DEST_ENDPOINT",
            setup.dst_bucket, setup.endpoint
        )),
        "and what to check: {message}"
    );
}

fn part_fault(part: u32, times: usize, answer: Option<(u16, &'static str)>) -> Fault {
    Fault {
        method: http::Method::PUT,
        matches: format!("partNumber={part}&"),
        times,
        answer: Answer::from_error(answer),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_failed_uploads_leave_no_parts() {
    let setup = Setup::provision("faults");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let parts: Vec<Vec<u8>> = (0..3).map(|i| pattern(5 * MIB, 40 + i)).collect();
    put_multipart(&src, &setup.src_bucket, "faulty.bin", &parts).await;

    // The destination is reached through a proxy that fails chosen requests.
    let proxy = FaultProxy::start(
        &setup.endpoint,
        vec![
            part_fault(2, 1, Some((500, "InternalError"))),
            part_fault(3, 1, None),
            part_fault(1, 1, Some((503, "SlowDown"))),
        ],
    )
    .await;
    let function = Function::start("object-created", &env_with(&setup, &[("CRR_DEST_ENDPOINT", &proxy.base)]));
    let invoke = format!("{}/invoke", function.base);
    let fc = [
        ("x-fc-access-key-id", setup.function.id.as_str()),
        ("x-fc-access-key-secret", setup.function.secret.as_str()),
    ];
    let event = s3_event("ObjectCreated:CompleteMultipartUpload", &setup.src_bucket, "faulty.bin").to_string();

    let reply = post(&invoke, event.clone(), &fc).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["results"][0]["outcome"], "copy");
    assert_eq!(proxy.injected(), 3, "a 500, a 503 and a connection reset were injected and survived");
    assert_same_object(&setup, "faulty.bin").await;

    // A permanent fault on one part: the invocation fails with the cause, and the
    // multipart upload is aborted, leaving no parts behind.
    dst.delete_object().bucket(&setup.dst_bucket).key("faulty.bin").send().await.unwrap();
    proxy.set_faults(vec![part_fault(2, usize::MAX, Some((403, "AccessDenied")))]);
    let reply = post(&invoke, event, &fc).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json["errorType"], "AccessDenied", "{}", reply.json);
    assert!(reply.json["errorMessage"].as_str().unwrap().contains("writing a part of"), "{}", reply.json);
    let uploads = dst.list_multipart_uploads().bucket(&setup.dst_bucket).send().await.unwrap();
    assert!(uploads.uploads().is_empty(), "orphan multipart uploads: {:?}", uploads.uploads());
    assert!(head(&dst, &setup.dst_bucket, "faulty.bin").await.is_none());
}

/// A source and a destination bucket on the local cloud's seaweedfs: one endpoint,
/// open access, so the role may read the source and `CRR_COPY_MODE=auto` copies
/// inside the server. The role's credentials still come from moto's STS.
struct SameEndpoint {
    cloud: Setup,
    s3: aws_sdk_s3::Client,
    src: String,
    dst: String,
}

impl SameEndpoint {
    async fn new(name: &str) -> SameEndpoint {
        let cloud = Setup::default_setup();
        let endpoint = crr::config::Endpoint {
            url: Some(cloud.fast_s3_endpoint().to_owned()),
            region: cloud.region.clone(),
            path_style: true,
        };
        let s3 = crr::store::s3_client(
            &crr::store::http_client(),
            &endpoint,
            std::sync::Arc::new(aws_credential_types::Credentials::new("any", "any", None, None, "test")),
        );
        let unique = &uuid::Uuid::new_v4().simple().to_string()[..6];
        let (src, dst) = (format!("oc-{name}-src-{unique}"), format!("oc-{name}-dst-{unique}"));
        for b in [&src, &dst] {
            s3.create_bucket().bucket(b).send().await.unwrap_or_else(|e| panic!("create {b}: {e:?}"));
        }
        SameEndpoint { cloud, s3, src, dst }
    }

    /// The functions' configuration; the copy mode is `auto` unless `extra` says otherwise.
    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let url = self.cloud.fast_s3_endpoint();
        let mut env: Vec<(String, String)> = [
            ("CRR_SOURCE_BUCKET", self.src.as_str()),
            ("CRR_SOURCE_ENDPOINT", url),
            ("CRR_SOURCE_REGION", &self.cloud.region),
            ("CRR_DEST_BUCKET", &self.dst),
            ("CRR_DEST_ENDPOINT", url),
            ("CRR_ROLE_ARN", &self.cloud.role_arn),
            ("CRR_STS_ENDPOINT", &self.cloud.endpoint),
            ("CRR_PART_SIZE", "5MiB"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    async fn invoke(&self, function: &Function, keys: &[&str]) -> Reply {
        let records: Vec<serde_json::Value> =
            keys.iter().map(|k| s3_record("ObjectCreated:CompleteMultipartUpload", &self.src, k)).collect();
        let fc = [
            ("x-fc-access-key-id", self.cloud.function.id.as_str()),
            ("x-fc-access-key-secret", self.cloud.function.secret.as_str()),
        ];
        let event = serde_json::json!({ "Records": records });
        post(&format!("{}/invoke", function.base), event.to_string(), &fc).await
    }

    /// A source object with a content type, user metadata and tags, in one part or
    /// (more than one body) in those parts; returns its ETag.
    async fn put(&self, key: &str, bodies: Vec<Vec<u8>>) -> String {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let (content_type, owner, tagging) = ("application/x-crr-test", key.replace('/', "-"), "team=data&class=a%20b");
        if let [body] = &bodies[..] {
            let out = self
                .s3
                .put_object()
                .bucket(&self.src)
                .key(key)
                .body(body.clone().into())
                .content_type(content_type)
                .metadata("owner", &owner)
                .tagging(tagging)
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
            return out.e_tag().unwrap().to_owned();
        }
        let upload = self
            .s3
            .create_multipart_upload()
            .bucket(&self.src)
            .key(key)
            .content_type(content_type)
            .metadata("owner", &owner)
            .tagging(tagging)
            .send()
            .await
            .unwrap();
        let id = upload.upload_id().unwrap();
        let mut done = Vec::new();
        for (i, body) in bodies.into_iter().enumerate() {
            let n = i as i32 + 1;
            let out =
                self.s3.upload_part().bucket(&self.src).key(key).upload_id(id).part_number(n).body(body.into()).send();
            let etag = out.await.unwrap().e_tag().unwrap().to_owned();
            done.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
        }
        let parts = CompletedMultipartUpload::builder().set_parts(Some(done)).build();
        let out = self.s3.complete_multipart_upload().bucket(&self.src).key(key).upload_id(id).multipart_upload(parts);
        out.send().await.unwrap().e_tag().unwrap().to_owned()
    }

    /// The replica has the source's bytes, content type, user metadata and tags; its
    /// ETag is the source's, or (`keeps_etag` false) the replica records the source's.
    async fn assert_replica(&self, key: &str, keeps_etag: bool) {
        let a = head(&self.s3, &self.src, key).await.unwrap_or_else(|| panic!("source {key:?} missing"));
        let b = head(&self.s3, &self.dst, key).await.unwrap_or_else(|| panic!("replica of {key:?} missing"));
        assert_eq!(a.content_length(), b.content_length(), "size of {key:?}");
        assert!(
            get_bytes(&self.s3, &self.src, key).await == get_bytes(&self.s3, &self.dst, key).await,
            "bytes of {key:?}"
        );
        assert_eq!(a.content_type(), b.content_type(), "content type of {key:?}");
        let mut replica_meta = b.metadata().cloned().unwrap_or_default();
        assert_eq!(replica_meta.remove("crr-replica-of").as_deref(), Some(self.src.as_str()), "{key:?}");
        let recorded = replica_meta.remove("crr-source-etag");
        if keeps_etag {
            assert_eq!(a.e_tag(), b.e_tag(), "ETag of {key:?}");
            assert_eq!(recorded, None, "{key:?}: the replica's own ETag is the source's");
        } else {
            assert_ne!(a.e_tag(), b.e_tag(), "ETag of {key:?}");
            assert_eq!(recorded.as_deref(), a.e_tag().map(|e| e.trim_matches('"')), "recorded ETag of {key:?}");
        }
        let written = a.last_modified().map(|t| t.secs().to_string());
        assert_eq!(replica_meta.remove("crr-source-mtime"), written, "when the source wrote {key:?}");
        assert_eq!(a.metadata().cloned().unwrap_or_default(), replica_meta, "user metadata of {key:?}");
        let want = vec![("class".to_string(), "a b".to_string()), ("team".to_string(), "data".to_string())];
        assert_eq!(tags(&self.s3, &self.src, key).await, want, "tags of source {key:?}");
        assert_eq!(tags(&self.s3, &self.dst, key).await, want, "tags of replica {key:?}");
    }

    async fn pending_uploads(&self) -> usize {
        let out = self.s3.list_multipart_uploads().bucket(&self.dst).send().await.unwrap();
        out.uploads().len()
    }
}

// seaweedfs answers UploadPartCopy with part ETags that are not the parts' MD5s
// (`<hash>-<chunks>`), so a server-side copy of a multipart source cannot carry the
// source's ETag there. crr notices before completing the upload and streams such
// objects instead (docs/object-created.md); a server-side multipart copy
// that needs no particular ETag (a large single-part source) works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_endpoint_copies_server_side_and_verifies_what_it_copied() {
    let f = SameEndpoint::new("ss").await;
    f.put("ss/one byte", vec![b"1".to_vec()]).await;
    f.put("ss/single 12MiB", vec![pattern(12 * MIB, 1)]).await;
    let multipart = f.put("ss/multipart.bin", (0..3).map(|i| pattern(5 * MIB, 10 + i)).collect()).await;
    assert!(multipart.ends_with("-3\""), "{multipart}");
    // crr's own state (here: a two-way setup's backfill checkpoint) is never replicated.
    f.put(".crr/backfill/default/all/checkpoint.json", vec![b"{}".to_vec()]).await;
    let keys = ["ss/one byte", "ss/single 12MiB", "ss/multipart.bin", ".crr/backfill/default/all/checkpoint.json"];

    let function = Function::start("object-created", &f.env(&[("CRR_MULTIPART_THRESHOLD", "6MiB")]));
    let reply = f.invoke(&function, &keys).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let results = reply.json["results"].as_array().unwrap().clone();
    for (key, method, bytes) in [
        ("ss/one byte", "server-side", 0),
        ("ss/single 12MiB", "server-side-multipart", 0),
        ("ss/multipart.bin", "multipart", 15 * MIB as u64),
    ] {
        let r = result_for(&results, key);
        assert_eq!(
            (r["outcome"].as_str(), r["method"].as_str(), r["bytes"].as_u64()),
            (Some("copy"), Some(method), Some(bytes)),
            "{r}"
        );
    }
    f.assert_replica("ss/one byte", true).await;
    // Copied in three 5 MiB parts of a 12 MiB single-part source: another ETag, recorded.
    f.assert_replica("ss/single 12MiB", false).await;
    f.assert_replica("ss/multipart.bin", true).await;
    assert_eq!(f.pending_uploads().await, 0, "the server-side attempt at ss/multipart.bin was aborted");
    let state = result_for(&results, ".crr/backfill/default/all/checkpoint.json");
    assert!(state["ignored"].as_str().unwrap_or_default().contains(".crr/"), "{state}");
    assert!(head(&f.s3, &f.dst, ".crr/backfill/default/all/checkpoint.json").await.is_none());

    // The same events again find every replica identical.
    let again = f.invoke(&function, &keys[..3]).await;
    assert_eq!(again.status, 200, "{}", again.json);
    for r in again.json["results"].as_array().unwrap() {
        assert_eq!(r["outcome"], "identical", "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_server_side_copies_that_would_change_the_etag_fail_and_leave_nothing() {
    let f = SameEndpoint::new("ssforced").await;
    f.put("forced.bin", (0..2).map(|i| pattern(5 * MIB, 20 + i)).collect()).await;
    let function = Function::start("object-created", &f.env(&[("CRR_COPY_MODE", "server-side")]));
    let reply = f.invoke(&function, &["forced.bin"]).await;
    assert_ne!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["errorType"], "ReplicaMismatch", "{}", reply.json);
    let message = reply.json["errorMessage"].as_str().unwrap();
    assert!(message.contains(&format!("{}/forced.bin", f.dst)), "{message}");
    assert!(message.contains("server-side part copies report ETags"), "{message}");
    // No replica that a retry could take for identical, and no orphan parts.
    assert!(head(&f.s3, &f.dst, "forced.bin").await.is_none(), "{message}");
    assert_eq!(f.pending_uploads().await, 0);
}
