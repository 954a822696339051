//! object-deleted against the local cloud: PUT vs ALL rules, the reappeared-key
//! guard, 1000-key batch deletes, objects crr did not write, versioned buckets, and
//! events that must change nothing.

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use crr_e2e::*;
use futures::StreamExt;

fn env_with(setup: &Setup, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = setup.function_env();
    for (k, v) in extra {
        env.retain(|(kk, _)| kk != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

fn fc(setup: &Setup) -> [(&str, &str); 2] {
    [("x-fc-access-key-id", setup.function.id.as_str()), ("x-fc-access-key-secret", setup.function.secret.as_str())]
}

/// Invokes `function` with `records` (S3 notification records) in one event.
async fn invoke(function: &Function, setup: &Setup, records: Vec<serde_json::Value>) -> Reply {
    let event = serde_json::json!({ "Records": records });
    post(&format!("{}/invoke", function.base), event.to_string(), &fc(setup)).await
}

fn record(name: &str, setup: &Setup, key: &str) -> serde_json::Value {
    s3_record(name, &setup.src_bucket, key)
}

fn versioned_record(name: &str, setup: &Setup, key: &str, version: &str) -> serde_json::Value {
    let mut r = s3_record(name, &setup.src_bucket, key);
    r["s3"]["object"]["versionId"] = version.into();
    r
}

/// Uploads and replicates `keys` through object-created.
async fn seed(setup: &Setup, created: &Function, keys: &[&str]) {
    let src = setup.s3(&setup.src_admin);
    for key in keys {
        put_bytes(&src, &setup.src_bucket, key, format!("content of {key}").into_bytes()).await;
    }
    let reply = invoke(created, setup, keys.iter().map(|k| record("ObjectCreated:Put", setup, k)).collect()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["copied"], keys.len(), "{}", reply.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_rules_keep_replicas_and_all_rules_delete_them() {
    let setup = Setup::provision("putall");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let created = Function::start("object-created", &setup.function_env());
    let put_rule = Function::start("object-deleted", &setup.function_env());
    let all_rule = Function::start("object-deleted", &env_with(&setup, &[("CRR_ACTION", "ALL")]));
    seed(&setup, &created, &["a.txt", "b.txt"]).await;

    src.delete_object().bucket(&setup.src_bucket).key("a.txt").send().await.unwrap();
    let removed = vec![record("ObjectRemoved:Delete", &setup, "a.txt")];

    // PUT (the default): the delete is not replicated, and the report says so.
    let reply = invoke(&put_rule, &setup, removed.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["not_replicated"], 1);
    assert_eq!(reply.json["results"][0]["outcome"], "not-replicated");
    assert!(head(&dst, &setup.dst_bucket, "a.txt").await.is_some(), "a PUT rule keeps the replica");

    // ALL: the same event deletes the replica, and only that one.
    let reply = invoke(&all_rule, &setup, removed.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["deleted"], 1, "{}", reply.json);
    assert!(head(&dst, &setup.dst_bucket, "a.txt").await.is_none());
    assert!(head(&dst, &setup.dst_bucket, "b.txt").await.is_some());

    // Delivered again: nothing left to delete.
    let reply = invoke(&all_rule, &setup, removed).await;
    assert_eq!(reply.json["results"][0]["outcome"], "replica-absent");

    // A stranger's bucket is refused.
    let mut stranger = record("ObjectRemoved:Delete", &setup, "b.txt");
    stranger["s3"]["bucket"]["name"] = "someone-elses-bucket".into();
    let reply = invoke(&all_rule, &setup, vec![stranger]).await;
    assert_eq!(reply.json["errorType"], "UnknownBucket");
    assert!(head(&dst, &setup.dst_bucket, "b.txt").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_recreated_before_its_delete_event_keeps_the_new_replica() {
    let setup = Setup::provision("reappear");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let created = Function::start("object-created", &setup.function_env());
    let deleted = Function::start("object-deleted", &env_with(&setup, &[("CRR_ACTION", "ALL")]));
    seed(&setup, &created, &["doc.txt"]).await;

    // Deleted, then re-created with new content; the events arrive out of order.
    src.delete_object().bucket(&setup.src_bucket).key("doc.txt").send().await.unwrap();
    put_bytes(&src, &setup.src_bucket, "doc.txt", b"the new version".to_vec()).await;
    let reply = invoke(&created, &setup, vec![record("ObjectCreated:Put", &setup, "doc.txt")]).await;
    assert_eq!(reply.json["copied"], 1);
    let reply = invoke(&deleted, &setup, vec![record("ObjectRemoved:Delete", &setup, "doc.txt")]).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["results"][0]["outcome"], "source-exists");
    assert_eq!(reply.json["results"][0]["copy"], "identical");
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "doc.txt").await.unwrap(), b"the new version");

    // Re-created but its created event is lost: the late delete event repairs the replica.
    src.delete_object().bucket(&setup.src_bucket).key("doc.txt").send().await.unwrap();
    put_bytes(&src, &setup.src_bucket, "doc.txt", b"third version".to_vec()).await;
    let reply = invoke(&deleted, &setup, vec![record("ObjectRemoved:Delete", &setup, "doc.txt")]).await;
    assert_eq!(reply.json["results"][0]["outcome"], "source-exists");
    assert_eq!(reply.json["results"][0]["copy"], "copy");
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "doc.txt").await.unwrap(), b"third version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_key_delete_goes_out_as_one_batch_request() {
    let setup = Setup::provision("batch");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let keys: Vec<String> = (0..1000).map(|i| format!("batch/{i:04}.txt")).collect();

    // Replicas as object-created leaves them (marked with their source), written
    // directly so the test spends its time on the deletes; the source objects are
    // already gone, as after a batch delete.
    futures::stream::iter(keys.iter())
        .for_each_concurrent(16, |k| {
            let (dst, setup) = (&dst, &setup);
            async move {
                dst.put_object()
                    .bucket(&setup.dst_bucket)
                    .key(k)
                    .body(b"x".to_vec().into())
                    .metadata("crr-replica-of", &setup.src_bucket)
                    .send()
                    .await
                    .unwrap();
            }
        })
        .await;

    // One invocation carrying the 1000 records a batch delete in the source produces;
    // the destination is reached through a proxy that counts requests.
    // (One object outside the batch stays in the source, to be listed past.)
    put_bytes(&src, &setup.src_bucket, "batch/zzz-still-here.txt", b"x".to_vec()).await;
    let proxy = FaultProxy::start(&setup.endpoint, Vec::new()).await;
    let deleted = Function::start(
        "object-deleted",
        &env_with(
            &setup,
            &[("CRR_ACTION", "ALL"), ("CRR_DEST_ENDPOINT", &proxy.base), ("CRR_RECORD_CONCURRENCY", "32")],
        ),
    );
    let reply =
        invoke(&deleted, &setup, keys.iter().map(|k| record("ObjectRemoved:DeleteObjects", &setup, k)).collect()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["records"], 1000);
    assert_eq!(reply.json["deleted"], 1000, "{}", reply.json["results"][0]);
    assert_eq!(reply.json["results"].as_array().unwrap().len(), 1000, "one outcome per key");
    assert_eq!(proxy.count("POST /"), 1, "one batch delete request");
    assert_eq!(proxy.count("DELETE /"), 0, "no single-key deletes");
    assert_eq!(proxy.count("HEAD /"), 1000, "one check of each replica's mark, nothing more");
    let left = dst.list_objects_v2().bucket(&setup.dst_bucket).prefix("batch/").send().await.unwrap();
    assert_eq!(left.key_count(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_crr_did_not_write_survive_an_all_rule() {
    let setup = Setup::provision("foreign");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    // Same keys exist in the source and, written by someone else, in the destination.
    for key in ["foreign.txt", "other-source.txt"] {
        put_bytes(&src, &setup.src_bucket, key, b"source".to_vec()).await;
        src.delete_object().bucket(&setup.src_bucket).key(key).send().await.unwrap();
    }
    put_bytes(&dst, &setup.dst_bucket, "foreign.txt", b"not a replica".to_vec()).await;
    dst.put_object()
        .bucket(&setup.dst_bucket)
        .key("other-source.txt")
        .body(b"a replica of another bucket".to_vec().into())
        .metadata("crr-replica-of", "some-other-source")
        .send()
        .await
        .unwrap();
    let records = || {
        vec![
            record("ObjectRemoved:Delete", &setup, "foreign.txt"),
            record("ObjectRemoved:Delete", &setup, "other-source.txt"),
        ]
    };

    let deleted = Function::start("object-deleted", &env_with(&setup, &[("CRR_ACTION", "ALL")]));
    let reply = invoke(&deleted, &setup, records()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["left_alone"], 2, "{}", reply.json);
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "foreign.txt").await.unwrap(), b"not a replica");
    assert!(head(&dst, &setup.dst_bucket, "other-source.txt").await.is_some());

    // Only when the rule explicitly allows it.
    let unmarked =
        Function::start("object-deleted", &env_with(&setup, &[("CRR_ACTION", "ALL"), ("CRR_DELETE_UNMARKED", "true")]));
    let reply = invoke(&unmarked, &setup, records()).await;
    assert_eq!(reply.json["deleted"], 2, "{}", reply.json);
    assert!(head(&dst, &setup.dst_bucket, "foreign.txt").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_buckets_replicate_delete_markers_but_never_version_deletes() {
    let setup = Setup::provision("versions");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    for (client, bucket) in [(&src, &setup.src_bucket), (&dst, &setup.dst_bucket)] {
        client.put_bucket_versioning().bucket(bucket).versioning_configuration(enabled.clone()).send().await.unwrap();
    }
    let created = Function::start("object-created", &setup.function_env());
    let deleted = Function::start("object-deleted", &env_with(&setup, &[("CRR_ACTION", "ALL")]));
    seed(&setup, &created, &["v.txt"]).await;

    // A delete without a version creates a delete marker in the source: replicated as
    // a delete marker in the destination, where the replica's version stays.
    let marker = src.delete_object().bucket(&setup.src_bucket).key("v.txt").send().await.unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    let reply = invoke(
        &deleted,
        &setup,
        vec![versioned_record("ObjectRemoved:DeleteMarkerCreated", &setup, "v.txt", marker.version_id().unwrap())],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["results"][0]["outcome"], "deleted", "{}", reply.json);
    let versions = dst.list_object_versions().bucket(&setup.dst_bucket).prefix("v.txt").send().await.unwrap();
    assert_eq!(versions.delete_markers().len(), 1, "a delete marker on the destination");
    assert_eq!(versions.versions().len(), 1, "the replica's data is still there as an older version");
    assert!(head(&dst, &setup.dst_bucket, "v.txt").await.is_none());

    // A new version, replicated; then that version is deleted for good in the source.
    // The permanent deletion of a version is never propagated.
    put_bytes(&src, &setup.src_bucket, "w.txt", b"keep me".to_vec()).await;
    let reply = invoke(&created, &setup, vec![record("ObjectCreated:Put", &setup, "w.txt")]).await;
    assert_eq!(reply.json["copied"], 1);
    let version = head(&src, &setup.src_bucket, "w.txt").await.unwrap().version_id().unwrap().to_owned();
    src.delete_object().bucket(&setup.src_bucket).key("w.txt").version_id(&version).send().await.unwrap();
    let reply =
        invoke(&deleted, &setup, vec![versioned_record("ObjectRemoved:Delete", &setup, "w.txt", &version)]).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["results"][0]["outcome"], "version-not-propagated", "{}", reply.json);
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "w.txt").await.unwrap(), b"keep me");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_and_other_events_cause_no_copy_and_no_delete() {
    let setup = Setup::provision("lifecycle");
    let dst = setup.s3(&setup.dst_admin);
    let created = Function::start("object-created", &setup.function_env());
    let deleted = Function::start("object-deleted", &env_with(&setup, &[("CRR_ACTION", "ALL")]));
    seed(&setup, &created, &["cold.bin"]).await;
    let before = head(&dst, &setup.dst_bucket, "cold.bin").await.unwrap();
    let records = vec![
        record("LifecycleTransition", &setup, "cold.bin"),
        record("ObjectRestore:Completed", &setup, "cold.bin"),
        record("ObjectAcl:Put", &setup, "cold.bin"),
        record("ObjectCreated:Put", &setup, "cold.bin"),
    ];
    let reply = invoke(&deleted, &setup, records.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["ignored"], 4, "{}", reply.json);
    let reply = invoke(&created, &setup, records).await;
    assert_eq!(reply.json["ignored"], 3, "{}", reply.json);
    assert_eq!(reply.json["copied"], 0);
    let after = head(&dst, &setup.dst_bucket, "cold.bin").await.unwrap();
    assert_eq!(before.last_modified(), after.last_modified(), "the replica was not rewritten");
    assert_eq!(before.e_tag(), after.e_tag());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_deleted_retries_transient_faults_and_fails_fast_on_permanent_ones() {
    let setup = Setup::provision("delfaults");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let created = Function::start("object-created", &setup.function_env());
    let keys = ["f/one.txt", "f/two.txt", "f/three.txt", "f/four.txt"];
    seed(&setup, &created, &keys).await;
    for key in keys {
        src.delete_object().bucket(&setup.src_bucket).key(key).send().await.unwrap();
    }

    // Source and destination are reached through a proxy. Each request the delete
    // makes fails transiently as often as the SDK tries by itself (three times), so
    // only crr's own retries get it through: the source check, the replica check,
    // the batch delete, and a batch answer that refuses every key with SlowDown.
    let on =
        |method: http::Method, matches: String, times: usize, answer: Answer| Fault { method, matches, times, answer };
    let proxy = FaultProxy::start(
        &setup.endpoint,
        vec![
            on(
                http::Method::HEAD,
                format!("/{}/f/one.txt", setup.src_bucket),
                3,
                Answer::Error(503, "ServiceUnavailable"),
            ),
            on(http::Method::HEAD, format!("/{}/f/two.txt", setup.dst_bucket), 3, Answer::Error(500, "InternalError")),
            on(http::Method::POST, "delete".into(), 3, Answer::Error(503, "SlowDown")),
            on(http::Method::POST, "delete".into(), 1, Answer::RefuseEveryKey("SlowDown")),
        ],
    )
    .await;
    let deleted = Function::start(
        "object-deleted",
        &env_with(
            &setup,
            &[("CRR_ACTION", "ALL"), ("CRR_SOURCE_ENDPOINT", &proxy.base), ("CRR_DEST_ENDPOINT", &proxy.base)],
        ),
    );
    let three = keys[..3].iter().map(|k| record("ObjectRemoved:Delete", &setup, k)).collect();
    let reply = invoke(&deleted, &setup, three).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["deleted"], 3, "{}", reply.json);
    assert_eq!(proxy.injected(), 10, "every injected fault was met and survived");
    assert_eq!(proxy.count("POST /"), 5, "three failed batch requests, one refused, one that deleted");
    for key in &keys[..3] {
        assert!(head(&dst, &setup.dst_bucket, key).await.is_none(), "{key} survived");
    }

    // A permanent fault is not retried: the invocation fails at once and says what
    // was refused, and the replica stays.
    proxy.set_faults(vec![on(http::Method::POST, "delete".into(), usize::MAX, Answer::Error(403, "AccessDenied"))]);
    let posts = proxy.count("POST /");
    let started = std::time::Instant::now();
    let reply = invoke(&deleted, &setup, vec![record("ObjectRemoved:Delete", &setup, keys[3])]).await;
    assert_ne!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["errorType"], "AccessDenied", "{}", reply.json);
    let message = reply.json["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("deleting replicas in") && message.contains(keys[3]), "{message}");
    assert_eq!(proxy.count("POST /") - posts, 1, "a permanent fault is asked once");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(head(&dst, &setup.dst_bucket, keys[3]).await.is_some());
}
