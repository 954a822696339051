//! The main replication behaviours for each pair of dialects, S3→S3, OSS→OSS,
//! OSS→S3 and S3→OSS: bytes from empty to multipart and large, metadata and tags,
//! the KMS choice and the replica storage class, deletes, and backfill. Every OSS
//! replica is held to CRC-64/ECMA: the source's (an OSS source), the one crr computed
//! while streaming, and the replica's must agree. OSS destinations are written by the
//! seed's replication role in the source account, granted by the destination bucket
//! policy.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use crr::crc64;
use crr::object::{Encryption, ObjectState, StandardHeaders, Tags};
use crr::store::{Doomed, ObjectWrite, Read};
use crr_e2e::pairs::{Pair, Side, World, PAIRS};
use crr_e2e::*;
use futures::future::join_all;
use futures::FutureExt;
use serde_json::{json, Value};

const MIB: usize = 1024 * 1024;

/// Runs `case` for the four pairs at once; fails naming every pair that failed.
async fn for_every_pair<'w, F, Fut>(world: &'w World, case: F)
where
    F: Fn(&'w World, Pair) -> Fut,
    Fut: Future<Output = ()> + 'w,
{
    let runs = PAIRS.iter().map(|&pair| {
        let run = AssertUnwindSafe(case(world, pair)).catch_unwind();
        async move { (pair, run.await) }
    });
    let failed: Vec<String> = join_all(runs)
        .await
        .into_iter()
        .filter_map(|(pair, done)| done.err().map(|p| format!("{}: {}", pair.name(), panic_text(p))))
        .collect();
    assert!(failed.is_empty(), "failed pairs:\n{}", failed.join("\n"));
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// The single result of a one-record invocation, checked to have succeeded.
fn only_result(pair: Pair, reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}: {}", pair.name(), reply.json);
    reply.json["results"][0].clone()
}

/// Holds a replica to its source: bytes, and the CRC-64s wherever a side keeps one.
async fn assert_replica(world: &World, pair: Pair, key: &str, data: &[u8], source: &ObjectState) {
    let got = world.replica_bytes(pair, key).await.unwrap_or_else(|| panic!("{}: no replica of {key}", pair.name()));
    assert!(got == data, "{}: replica of {key} differs ({} vs {} bytes)", pair.name(), got.len(), data.len());
    let replica = world.replica(pair, key).await.unwrap();
    let crc = crc64::checksum(data);
    if pair.src == Side::Oss {
        assert_eq!(source.crc64, Some(crc), "{}: the source's CRC-64 of {key}", pair.name());
    }
    if pair.dst == Side::Oss {
        assert_eq!(replica.crc64, Some(crc), "{}: the replica's CRC-64 of {key}", pair.name());
    }
    assert_eq!(replica.replica_of.as_deref(), Some(world.src_bucket(pair)), "{}: the replica mark", pair.name());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bytes_from_empty_to_large_arrive_equal_in_every_pair() {
    let world = World::new("pairs-bytes").await;
    for_every_pair(&world, |world, pair| async move {
        let settings = [("CRR_COPY_MODE", "stream"), ("CRR_MULTIPART_THRESHOLD", "6MiB"), ("CRR_PART_SIZE", "5MiB")];
        let function = Function::start("object-created", &world.env(pair, &settings));
        let none = ObjectWrite::default();
        let mut objects = Vec::new();
        for (name, len) in [("empty", 0), ("one", 1), ("small", 10_000), ("large", 13 * MIB)] {
            let key = pair.key(name);
            let data = pattern(len, len as u64 + 1);
            let state = world.put_src(pair, &key, data.clone(), &none).await;
            objects.push((key, data, state, if len > 6 * MIB { "multipart" } else { "stream" }));
        }
        let parts = vec![pattern(5 * MIB, 7), pattern(5 * MIB, 8), pattern(1000, 9)];
        let key = pair.key("multipart-source");
        let state = world.put_src_multipart(pair, &key, &parts).await;
        assert_eq!(state.multipart_parts(), Some(3));
        objects.push((key, parts.concat(), state, "multipart"));

        for (key, data, state, method) in &objects {
            let event = world.event(pair, "ObjectCreated:PutObject", "ObjectCreated:Put", key, Some(state));
            let result = only_result(pair, &world.invoke(&function, event.clone()).await);
            assert_eq!((result["outcome"].as_str(), result["method"].as_str()), (Some("copy"), Some(*method)), "{key}");
            assert_eq!(result["bytes"], data.len(), "{key}");
            assert_replica(world, pair, key, data, state).await;
            // The same event again: the replica is found identical, nothing is written.
            let again = only_result(pair, &world.invoke(&function, event).await);
            assert_eq!(again["outcome"], "identical", "{key}: {again}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metadata_and_tags_travel_and_tag_changes_follow_in_every_pair() {
    let world = World::new("pairs-meta").await;
    for_every_pair(&world, |world, pair| async move {
        let function = Function::start("object-created", &world.env(pair, &[]));
        let key = pair.key("meta/report.csv");
        let headers = StandardHeaders {
            content_type: Some("text/csv".into()),
            cache_control: Some("max-age=60".into()),
            content_disposition: Some("attachment; filename=\"report.csv\"".into()),
            content_encoding: Some("identity".into()),
            content_language: Some("de-CH".into()),
            expires: None,
        };
        let tags: Tags = [("team".to_string(), "data".to_string()), ("class".to_string(), "a b".to_string())].into();
        let write = ObjectWrite {
            headers: Some(&headers),
            metadata: [("owner".to_string(), "finance".to_string())].into(),
            tags: Some(&tags),
            ..ObjectWrite::default()
        };
        let state = world.put_src(pair, &key, b"a,b\n1,2\n".to_vec(), &write).await;
        let event = world.event(pair, "ObjectCreated:PutObject", "ObjectCreated:Put", &key, Some(&state));
        let result = only_result(pair, &world.invoke(&function, event).await);
        assert_eq!(result["outcome"], "copy", "{result}");
        assert_replica(world, pair, &key, b"a,b\n1,2\n", &state).await;
        let replica = world.replica(pair, &key).await.unwrap();
        assert_eq!(replica.headers, headers);
        assert_eq!(replica.metadata.get("owner").map(String::as_str), Some("finance"));
        assert_eq!(world.replica_tags(pair, &key).await, tags);

        // New tags in the source: the replica's follow without its bytes moving.
        let src = world.src_store(pair);
        match pair.src {
            Side::Oss => {
                let admin = &world.setup.src_admin;
                world.setup.oss_put_tags(admin, world.src_bucket(pair), &key, &[("team", "ops")]).await;
            }
            Side::S3 => {
                let tagging = aws_sdk_s3::types::Tagging::builder()
                    .tag_set(aws_sdk_s3::types::Tag::builder().key("team").value("ops").build().unwrap())
                    .build()
                    .unwrap();
                let s3 = world.setup.s3(&world.setup.src_admin);
                s3.put_object_tagging().bucket(world.src_bucket(pair)).key(&key).tagging(tagging).send().await.unwrap();
            }
        }
        let state = src.head(world.src_bucket(pair), &key, Read::default()).await.unwrap();
        let event = world.event(pair, "ObjectTagging:Put", "ObjectTagging:Put", &key, Some(&state));
        let result = only_result(pair, &world.invoke(&function, event).await);
        assert_eq!(
            (result["outcome"].as_str(), result["bytes"].as_u64()),
            (Some("update-metadata"), Some(0)),
            "{result}"
        );
        let want: Tags = [("team".to_string(), "ops".to_string())].into();
        assert_eq!(world.replica_tags(pair, &key).await, want);
        assert_eq!(world.replica(pair, &key).await.unwrap().headers, headers, "headers kept");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kms_objects_follow_the_rule_and_replicas_take_its_storage_class_in_every_pair() {
    let world = World::new("pairs-kms").await;
    for_every_pair(&world, |world, pair| async move {
        let (dest_key, class) = match pair.dst {
            Side::S3 => ("arn:aws:kms:us-east-1:222222222222:key/11111111-2222-3333-4444-555555555555", "STANDARD_IA"),
            Side::Oss => ("oss-destination-key-1", "IA"),
        };
        let source_key = match pair.src {
            Side::S3 => "arn:aws:kms:us-east-1:111111111111:key/source-key",
            Side::Oss => "oss-source-key-1",
        };
        let replicate = [("CRR_KMS", "replicate"), ("CRR_REPLICA_KMS_KEY_ID", dest_key), ("CRR_STORAGE_CLASS", class)];
        let replicating = Function::start("object-created", &world.env(pair, &replicate));
        let skipping = Function::start("object-created", &world.env(pair, &[("CRR_KMS", "skip")]));
        let kms = ObjectWrite { encryption: Encryption::Kms { key_id: Some(source_key.into()) }, ..Default::default() };

        let key = pair.key("kms/secret.txt");
        let state = world.put_src(pair, &key, b"secret".to_vec(), &kms).await;
        assert!(state.is_kms(), "{state:?}");
        let event = world.event(pair, "ObjectCreated:PutObject", "ObjectCreated:Put", &key, Some(&state));
        let skipped = only_result(pair, &world.invoke(&skipping, event.clone()).await);
        assert_eq!(skipped["outcome"], "skipped-kms", "{skipped}");
        assert!(world.replica(pair, &key).await.is_none(), "KMS objects are not replicated when the rule says skip");

        let result = only_result(pair, &world.invoke(&replicating, event).await);
        assert_eq!(result["outcome"], "copy", "{result}");
        assert_replica(world, pair, &key, b"secret", &state).await;
        let replica = world.replica(pair, &key).await.unwrap();
        assert_eq!(replica.encryption, Encryption::Kms { key_id: Some(dest_key.into()) }, "the rule's destination key");
        assert_eq!(replica.storage_class.as_deref(), Some(class));

        let key = pair.key("kms/plain.txt");
        let state = world.put_src(pair, &key, b"plain".to_vec(), &ObjectWrite::default()).await;
        let event = world.event(pair, "ObjectCreated:PutObject", "ObjectCreated:Put", &key, Some(&state));
        assert_eq!(only_result(pair, &world.invoke(&replicating, event).await)["outcome"], "copy");
        let replica = world.replica(pair, &key).await.unwrap();
        assert_eq!((replica.encryption.clone(), replica.storage_class.as_deref()), (Encryption::None, Some(class)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletes_follow_under_all_rules_and_never_under_put_rules_in_every_pair() {
    let world = World::new("pairs-deletes").await;
    for_every_pair(&world, |world, pair| async move {
        let created = Function::start("object-created", &world.env(pair, &[]));
        let put_rule = Function::start("object-deleted", &world.env(pair, &[]));
        let all_rule = Function::start("object-deleted", &world.env(pair, &[("CRR_ACTION", "ALL")]));
        let key = pair.key("gone.txt");
        let state = world.put_src(pair, &key, b"short-lived".to_vec(), &ObjectWrite::default()).await;
        let event = world.event(pair, "ObjectCreated:PutObject", "ObjectCreated:Put", &key, Some(&state));
        assert_eq!(only_result(pair, &world.invoke(&created, event).await)["outcome"], "copy");

        let deleted = world
            .src_store(pair)
            .delete_many(world.src_bucket(pair), &[Doomed { key: key.as_str(), etag: None }])
            .await
            .unwrap();
        assert!(deleted.is_empty(), "{deleted:?}");
        let removed = world.event(pair, "ObjectRemoved:DeleteObject", "ObjectRemoved:Delete", &key, None);
        let kept = only_result(pair, &world.invoke(&put_rule, removed.clone()).await);
        assert_eq!(kept["outcome"], "not-replicated", "{kept}");
        assert!(world.replica(pair, &key).await.is_some(), "a PUT rule keeps replicas");
        let result = only_result(pair, &world.invoke(&all_rule, removed.clone()).await);
        assert_eq!(result["outcome"], "deleted", "{result}");
        assert!(world.replica(pair, &key).await.is_none(), "an ALL rule deletes the replica");
        let again = only_result(pair, &world.invoke(&all_rule, removed).await);
        assert_eq!(again["outcome"], "replica-absent", "{again}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backfill_copies_what_is_missing_then_finds_everything_identical_in_every_pair() {
    let world = World::new("pairs-backfill").await;
    for_every_pair(&world, |world, pair| async move {
        let mut objects = Vec::new();
        for i in 0..25 {
            let key = pair.key(&format!("history/{i:03}.bin"));
            let data = pattern(1000 + i * 37, i as u64);
            let state = world.put_src(pair, &key, data.clone(), &ObjectWrite::default()).await;
            objects.push((key, data, state));
        }
        // One object appended to on OSS: its ETag is not an MD5, its CRC-64 still checks.
        if pair.src == Side::Oss {
            let key = pair.key("history/appended.log");
            let (admin, bucket) = (&world.setup.src_admin, world.src_bucket(pair));
            world.setup.oss_append(admin, bucket, &key, 0, b"first line\n").await;
            world.setup.oss_append(admin, bucket, &key, 11, b"second line\n").await;
            let state = world.src_store(pair).head(bucket, &key, Read::default()).await.unwrap();
            objects.push((key, b"first line\nsecond line\n".to_vec(), state));
        }
        let settings = [("CRR_BACKFILL_PAGE_SIZE", "10"), ("CRR_BACKFILL_CONCURRENCY", "4")];
        let function = Function::start("backfill", &world.env(pair, &settings));
        let missing = world.invoke(&function, json!({"mode": "missing"}).to_string()).await;
        assert_eq!(missing.status, 200, "{}", missing.json);
        let counters = &missing.json["totals"];
        let n = objects.len() as u64;
        assert_eq!((counters["missing"].as_u64(), counters["copied"].as_u64()), (Some(n), Some(n)), "{}", missing.json);
        for (key, data, state) in &objects {
            assert_replica(world, pair, key, data, state).await;
        }
        let changed = world.invoke(&function, json!({"mode": "changed"}).to_string()).await;
        assert_eq!(changed.status, 200, "{}", changed.json);
        let counters = &changed.json["totals"];
        assert_eq!(counters["copied"].as_u64(), Some(0), "{}", changed.json);
        assert_eq!(counters["scanned"].as_u64(), Some(n), "{}", changed.json);
    })
    .await;
}
