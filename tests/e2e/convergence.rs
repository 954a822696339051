//! Convergence of the event path under concurrency: each interleaving that once
//! left a destination wrong for good while every report said success, made to
//! happen on purpose. The fault proxy holds one request of a function until the
//! test has done its part (a delete, an overwrite, the other side's write), then
//! lets it go; the destination must end as the rule says. The backfill's
//! interleavings are in `convergence_backfill.rs`.

use std::time::Duration;

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use crr_e2e::fast::Fast;
use crr_e2e::*;

const HELD: Duration = Duration::from_secs(60);

fn env_with(setup: &Setup, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = setup.function_env();
    for (k, v) in extra {
        env.retain(|(kk, _)| kk != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

fn fc(keys: &Keys) -> [(&str, &str); 2] {
    [("x-fc-access-key-id", keys.id.as_str()), ("x-fc-access-key-secret", keys.secret.as_str())]
}

/// Invokes `function` with `records` (S3 notification records) as the platform would.
async fn invoke(function: &Function, keys: &Keys, records: Vec<serde_json::Value>) -> Reply {
    let event = serde_json::json!({ "Records": records });
    post(&format!("{}/invoke", function.base), event.to_string(), &fc(keys)).await
}

fn record(name: &str, bucket: &str, key: &str) -> serde_json::Value {
    s3_record(name, bucket, key)
}

fn versioned(name: &str, bucket: &str, key: &str, version: &str) -> serde_json::Value {
    let mut r = s3_record(name, bucket, key);
    r["s3"]["object"]["versionId"] = version.into();
    r
}

/// A fault that holds the first request of `method` whose path contains `path`.
fn hold(method: http::Method, path: String, gate: &Gate) -> Fault {
    Fault { method, matches: path, times: 1, answer: Answer::Hold(gate.clone()) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_during_an_in_flight_copy_leaves_no_replica() {
    let setup = Setup::provision("inflight");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let (new_gate, old_gate) = (Gate::default(), Gate::default());
    let proxy = FaultProxy::start(
        &setup.endpoint,
        vec![
            hold(http::Method::PUT, format!("/{}/new.txt", setup.dst_bucket), &new_gate),
            hold(http::Method::PUT, format!("/{}/old.txt", setup.dst_bucket), &old_gate),
        ],
    )
    .await;
    let all = [("CRR_ACTION", "ALL"), ("CRR_COPY_MODE", "stream")];
    let direct = Function::start("object-created", &env_with(&setup, &all));
    let held = Function::start(
        "object-created",
        &env_with(&setup, &[all[0], all[1], ("CRR_DEST_ENDPOINT", proxy.base.as_str())]),
    );
    let deleted = Function::start("object-deleted", &env_with(&setup, &all));
    let created = |key| vec![record("ObjectCreated:Put", &setup.src_bucket, key)];
    let removed = |key| vec![record("ObjectRemoved:Delete", &setup.src_bucket, key)];

    // new.txt: the copy has read the source when the source is deleted; the delete
    // finds no replica yet. Then the copy lands.
    put_bytes(&src, &setup.src_bucket, "new.txt", b"short-lived".to_vec()).await;
    let (copy, ()) = tokio::join!(invoke(&held, &setup.function, created("new.txt")), async {
        new_gate.arrival(HELD).await;
        src.delete_object().bucket(&setup.src_bucket).key("new.txt").send().await.unwrap();
        let reply = invoke(&deleted, &setup.function, removed("new.txt")).await;
        assert_eq!(reply.json["results"][0]["outcome"], "replica-absent", "{}", reply.json);
        new_gate.open();
    });
    assert_eq!(copy.status, 200, "{}", copy.json);
    assert!(
        head(&dst, &setup.dst_bucket, "new.txt").await.is_none(),
        "the copy landed after the delete was handled and left a replica of a deleted object: {}",
        copy.json
    );

    // old.txt: replicated before; overwritten, and the copy of the new version has
    // read it when the key is deleted; the delete removes the old replica. Then the
    // copy lands.
    put_bytes(&src, &setup.src_bucket, "old.txt", b"version one".to_vec()).await;
    assert_eq!(invoke(&direct, &setup.function, created("old.txt")).await.json["copied"], 1);
    put_bytes(&src, &setup.src_bucket, "old.txt", b"version two".to_vec()).await;
    let (copy, ()) = tokio::join!(invoke(&held, &setup.function, created("old.txt")), async {
        old_gate.arrival(HELD).await;
        src.delete_object().bucket(&setup.src_bucket).key("old.txt").send().await.unwrap();
        let reply = invoke(&deleted, &setup.function, removed("old.txt")).await;
        assert_eq!(reply.json["results"][0]["outcome"], "deleted", "{}", reply.json);
        old_gate.open();
    });
    assert_eq!(copy.status, 200, "{}", copy.json);
    assert!(
        head(&dst, &setup.dst_bucket, "old.txt").await.is_none(),
        "the copy landed after the delete removed the old replica, and resurrected the key: {}",
        copy.json
    );
    assert_eq!(proxy.injected(), 2, "both copies were held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_copy_of_an_old_version_never_overwrites_a_newer_replica() {
    let setup = Setup::provision("overlap");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let (new_gate, old_gate) = (Gate::default(), Gate::default());
    let proxy = FaultProxy::start(
        &setup.endpoint,
        vec![
            hold(http::Method::PUT, format!("/{}/new.txt", setup.dst_bucket), &new_gate),
            hold(http::Method::PUT, format!("/{}/old.txt", setup.dst_bucket), &old_gate),
        ],
    )
    .await;
    // One large GET streamed into one PUT; a server-side copy reads the source at
    // the server under If-Match, so only a streamed copy can carry old bytes late.
    let stream = ("CRR_COPY_MODE", "stream");
    let fast = Function::start("object-created", &env_with(&setup, &[stream]));
    let slow =
        Function::start("object-created", &env_with(&setup, &[stream, ("CRR_DEST_ENDPOINT", proxy.base.as_str())]));
    let created = |key| vec![record("ObjectCreated:Put", &setup.src_bucket, key)];

    // new.txt has no replica yet; old.txt has one of an earlier version.
    put_bytes(&src, &setup.src_bucket, "old.txt", b"version zero".to_vec()).await;
    assert_eq!(invoke(&fast, &setup.function, created("old.txt")).await.json["copied"], 1);
    for (key, gate) in [("new.txt", &new_gate), ("old.txt", &old_gate)] {
        put_bytes(&src, &setup.src_bucket, key, b"version one".to_vec()).await;
        let (slow_copy, ()) = tokio::join!(invoke(&slow, &setup.function, created(key)), async {
            // The slow copy of version one has read it; version two is written and
            // copied by another instance; then the slow copy lands.
            gate.arrival(HELD).await;
            put_bytes(&src, &setup.src_bucket, key, b"version two, the current one".to_vec()).await;
            let reply = invoke(&fast, &setup.function, created(key)).await;
            assert_eq!(reply.json["copied"], 1, "{}", reply.json);
            gate.open();
        });
        assert_eq!(slow_copy.status, 200, "{}", slow_copy.json);
        let replica = get_bytes(&dst, &setup.dst_bucket, key).await.expect("a replica");
        assert_eq!(
            String::from_utf8_lossy(&replica),
            "version two, the current one",
            "{key}: the slow copy of an older version had the last word: {}",
            slow_copy.json
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_rules_keep_the_last_writer_on_both_sides() {
    let f = Fast::new();
    let (a, b) = (f.bucket("twoway-a").await, f.bucket("twoway-b").await);
    let gate = Gate::default();
    let proxy = FaultProxy::start(&f.url, vec![hold(http::Method::PUT, format!("/{b}/x.txt"), &gate)]).await;
    let two_way = ("CRR_TWO_WAY", "true");
    let a_to_b = Function::start("object-created", &f.env(&a, &b, &[two_way, ("CRR_DEST_ENDPOINT", &proxy.base)]));
    let b_to_a = Function::start("object-created", &f.env(&b, &a, &[two_way]));
    let keys = &f.cloud.function;
    let created = |bucket: &str, key: &str| vec![record("ObjectCreated:Put", bucket, key)];

    // x.txt is written at A, and a second later at B. A→B has read A's and found
    // nothing in B when B's write lands; B→A copies B's over A's; then A→B's copy
    // lands.
    f.put(&a, "x.txt", "written at A first").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (ab, ()) = tokio::join!(invoke(&a_to_b, keys, created(&a, "x.txt")), async {
        gate.arrival(HELD).await;
        f.put(&b, "x.txt", "written at B last").await;
        let reply = invoke(&b_to_a, keys, created(&b, "x.txt")).await;
        assert_eq!(reply.status, 200, "{}", reply.json);
        gate.open();
    });
    assert_eq!(ab.status, 200, "{}", ab.json);

    // y.txt is written at B, and a second later at A; the events come in that order.
    f.put(&b, "y.txt", "written at B first").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    f.put(&a, "y.txt", "written at A last").await;
    let reply = invoke(&b_to_a, keys, created(&b, "y.txt")).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let reply = invoke(&a_to_b, keys, created(&a, "y.txt")).await;
    assert_eq!(reply.status, 200, "{}", reply.json);

    // Duplicated events and a backfill of both rules change nothing more.
    for (function, bucket) in [(&a_to_b, &a), (&b_to_a, &b)] {
        for key in ["x.txt", "y.txt"] {
            let reply = invoke(function, keys, created(bucket, key)).await;
            assert_eq!(reply.status, 200, "{}", reply.json);
        }
    }
    for (src, dst) in [(&a, &b), (&b, &a)] {
        let (code, report) = f.backfill(src, dst, &["--mode", "changed"], &[two_way]).await;
        assert_eq!(code, Some(0), "{report}");
    }
    for (key, last) in [("x.txt", "written at B last"), ("y.txt", "written at A last")] {
        let (at_a, at_b) = (f.get(&a, key).await.unwrap_or_default(), f.get(&b, key).await.unwrap_or_default());
        assert_eq!(
            (String::from_utf8_lossy(&at_a), String::from_utf8_lossy(&at_b)),
            (last.into(), last.into()),
            "{key}: both sides must hold the last write"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeleted_object_is_replicated_again_and_a_version_delete_never_rolls_back() {
    let setup = Setup::provision("undelete");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    src.put_bucket_versioning().bucket(&setup.src_bucket).versioning_configuration(enabled).send().await.unwrap();
    let all = [("CRR_ACTION", "ALL")];
    let created = Function::start("object-created", &env_with(&setup, &all));
    let deleted = Function::start("object-deleted", &env_with(&setup, &all));
    let bucket = setup.src_bucket.as_str();

    // Deleted (a delete marker, replicated), then undeleted: the marker is removed
    // and the older version is current again, with no created event.
    put_bytes(&src, bucket, "doc.txt", b"keep me".to_vec()).await;
    assert_eq!(
        invoke(&created, &setup.function, vec![record("ObjectCreated:Put", bucket, "doc.txt")]).await.json["copied"],
        1
    );
    let marker = src.delete_object().bucket(bucket).key("doc.txt").send().await.unwrap();
    let marker = marker.version_id().unwrap().to_owned();
    let reply = invoke(
        &deleted,
        &setup.function,
        vec![versioned("ObjectRemoved:DeleteMarkerCreated", bucket, "doc.txt", &marker)],
    )
    .await;
    assert_eq!(reply.json["deleted"], 1, "{}", reply.json);
    assert!(head(&dst, &setup.dst_bucket, "doc.txt").await.is_none());
    src.delete_object().bucket(bucket).key("doc.txt").version_id(&marker).send().await.unwrap();
    let reply =
        invoke(&deleted, &setup.function, vec![versioned("ObjectRemoved:Delete", bucket, "doc.txt", &marker)]).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["results"][0]["outcome"], "version-not-propagated", "{}", reply.json);
    assert_eq!(
        get_bytes(&dst, &setup.dst_bucket, "doc.txt").await.as_deref(),
        Some(&b"keep me"[..]),
        "the undeleted object has no replica: {}",
        reply.json
    );

    // The newest version deleted for good: the replica keeps it (never rolled back).
    // Writes are ordered by the second they were made in: the newest comes a second later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put_bytes(&src, bucket, "doc.txt", b"the newest version".to_vec()).await;
    assert_eq!(
        invoke(&created, &setup.function, vec![record("ObjectCreated:Put", bucket, "doc.txt")]).await.json["copied"],
        1
    );
    let newest = head(&src, bucket, "doc.txt").await.unwrap().version_id().unwrap().to_owned();
    src.delete_object().bucket(bucket).key("doc.txt").version_id(&newest).send().await.unwrap();
    let reply =
        invoke(&deleted, &setup.function, vec![versioned("ObjectRemoved:Delete", bucket, "doc.txt", &newest)]).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["results"][0]["outcome"], "version-not-propagated", "{}", reply.json);
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "doc.txt").await.as_deref(), Some(&b"the newest version"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_bucket_is_a_loud_error_not_a_missing_object() {
    let setup = Setup::provision("nobucket");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let good = Function::start("object-created", &setup.function_env());
    put_bytes(&src, &setup.src_bucket, "doc.txt", b"replicated".to_vec()).await;
    let bucket = setup.src_bucket.as_str();
    assert_eq!(
        invoke(&good, &setup.function, vec![record("ObjectCreated:Put", bucket, "doc.txt")]).await.json["copied"],
        1
    );

    // The functions now look for the source bucket at an endpoint that does not
    // have it (a typo in CRR_SOURCE_ENDPOINT): every object there answers 404.
    let wrong = setup.fast_s3_endpoint().to_owned();
    let misconfigured = [("CRR_ACTION", "ALL"), ("CRR_SOURCE_ENDPOINT", wrong.as_str())];
    let created = Function::start("object-created", &env_with(&setup, &misconfigured));
    let deleted = Function::start("object-deleted", &env_with(&setup, &misconfigured));
    // With the size a real notification carries the object is read with one GET;
    // without, with a HEAD: both must fail, naming the bucket and the endpoint.
    let with_size = s3_event_with("ObjectCreated:Put", bucket, "doc.txt", 10, "0123456789abcdef0123456789abcdef");
    for event in [with_size["Records"].clone(), serde_json::json!([record("ObjectCreated:Put", bucket, "doc.txt")])] {
        let records = event.as_array().unwrap().clone();
        let reply = invoke(&created, &setup.function, records).await;
        assert_ne!(reply.status, 200, "a missing bucket was reported as a stale event: {}", reply.json);
        assert_eq!(reply.json["errorType"], "NoSuchBucket", "{}", reply.json);
        let message = reply.json["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains(bucket) && message.contains(&wrong), "{message}");
    }
    let reply = invoke(&deleted, &setup.function, vec![record("ObjectRemoved:Delete", bucket, "doc.txt")]).await;
    assert_ne!(reply.status, 200, "a missing bucket made every source key look deleted: {}", reply.json);
    assert_eq!(reply.json["errorType"], "NoSuchBucket", "{}", reply.json);
    assert!(head(&dst, &setup.dst_bucket, "doc.txt").await.is_some(), "the replica was deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_marked_by_another_rule_is_replicated_and_only_its_own_copies_are_skipped() {
    let setup = Setup::provision("marks");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let created = Function::start("object-created", &setup.function_env());
    let bucket = setup.src_bucket.as_str();
    // Restored from a backup with its metadata, or the middle of a chain A→B→C: a
    // mark naming another bucket.
    let marked = |key: &'static str, of: String| {
        src.put_object()
            .bucket(bucket)
            .key(key)
            .body(format!("{key} content").into_bytes().into())
            .metadata("crr-replica-of", of)
            .metadata("owner", "team-a")
            .send()
    };
    marked("restored.txt", "a-backup-bucket".into()).await.unwrap();
    // Written into this source by the reverse rule of a two-way pair: copying it
    // back to its own bucket would loop.
    marked("came-from-dest.txt", setup.dst_bucket.clone()).await.unwrap();
    let reply = invoke(
        &created,
        &setup.function,
        vec![
            record("ObjectCreated:Put", bucket, "restored.txt"),
            record("ObjectCreated:Put", bucket, "came-from-dest.txt"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["results"][0]["outcome"], "copy", "a replica of another bucket was skipped: {}", reply.json);
    assert_eq!(reply.json["results"][1]["outcome"], "source-is-replica", "{}", reply.json);
    let replica = head(&dst, &setup.dst_bucket, "restored.txt").await.expect("a replica");
    let metadata = replica.metadata().cloned().unwrap_or_default();
    assert_eq!(metadata.get("crr-replica-of").map(String::as_str), Some(bucket), "marked as this rule's: {metadata:?}");
    assert_eq!(metadata.get("owner").map(String::as_str), Some("team-a"));
    assert!(head(&dst, &setup.dst_bucket, "came-from-dest.txt").await.is_none());
}
