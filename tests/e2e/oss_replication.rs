//! What only OSS sources and destinations have: appended objects (ETags that look
//! like MD5s and are not), symbolic links, archived objects that need a restore,
//! copies inside OSS, the seed's destination grant, and faults of OSS's own kind (a
//! 503 SlowDown, a connection reset, a missing bucket) on the way to a real server.

use std::time::Duration;

use crr::crc64;
use crr::object::ObjectType;
use crr::store::{ObjectWrite, Read};
use crr_e2e::oss::RawRequest;
use crr_e2e::pairs::{Pair, Side, World};
use crr_e2e::*;

const MIB: usize = 1024 * 1024;
const OSS_TO_OSS: Pair = Pair { src: Side::Oss, dst: Side::Oss };
const OSS_TO_S3: Pair = Pair { src: Side::Oss, dst: Side::S3 };

fn created(world: &World, pair: Pair, key: &str, state: &crr::object::ObjectState) -> String {
    world.event(pair, "ObjectCreated:PutObject", "ObjectCreated:Put", key, Some(state))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_objects_replicate_without_their_etag_as_content_md5_and_check_by_crc64() {
    let world = World::new("oss-appended").await;
    let admin = &world.setup.src_admin;
    for (pair, mode, method) in
        [(OSS_TO_OSS, "auto", "server-side"), (OSS_TO_OSS, "stream", "stream"), (OSS_TO_S3, "auto", "stream")]
    {
        let function = Function::start("object-created", &world.env(pair, &[("CRR_COPY_MODE", mode)]));
        let key = pair.key(&format!("{mode}/app.log"));
        let bucket = world.src_bucket(pair);
        world.setup.oss_append(admin, bucket, &key, 0, b"first line\n").await;
        world.setup.oss_append(admin, bucket, &key, 11, b"second line\n").await;
        let state = world.src_store(pair).head(bucket, &key, Read::default()).await.unwrap();
        assert_eq!(state.object_type, ObjectType::Appendable);
        let reply = world.invoke(&function, created(&world, pair, &key, &state)).await;
        assert_eq!(reply.status, 200, "{} {mode}: {}", pair.name(), reply.json);
        assert_eq!(reply.json["results"][0]["method"], method, "{}", reply.json);
        let data = b"first line\nsecond line\n";
        assert_eq!(world.replica_bytes(pair, &key).await.as_deref(), Some(&data[..]));
        let replica = world.replica(pair, &key).await.unwrap();
        assert_eq!(replica.source_etag.as_deref(), Some(state.etag.as_str()), "the replica records the source's ETag");
        if pair.dst == Side::Oss {
            assert_eq!(replica.crc64, state.crc64, "CRC-64 of the replica");
            assert_eq!(replica.crc64, Some(crc64::checksum(data)));
        }
        let again = world.invoke(&function, created(&world, pair, &key, &state)).await;
        assert_eq!(again.json["results"][0]["outcome"], "identical", "{}", again.json);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_stay_symlinks_into_oss_and_become_their_targets_bytes_into_s3() {
    let world = World::new("oss-symlinks").await;
    for pair in [OSS_TO_OSS, OSS_TO_S3] {
        let function = Function::start("object-created", &world.env(pair, &[]));
        let (target, link) = (pair.key("data/target.txt"), pair.key("data/link"));
        let bucket = world.src_bucket(pair);
        let state = world.put_src(pair, &target, b"the target".to_vec(), &ObjectWrite::default()).await;
        assert_eq!(world.invoke(&function, created(&world, pair, &target, &state)).await.status, 200);
        let meta = ObjectWrite { metadata: [("why".to_string(), "a link".to_string())].into(), ..Default::default() };
        world.src_store(pair).put_symlink(bucket, &link, &target, &meta).await.unwrap();
        let state = world.src_store(pair).head(bucket, &link, Read::default()).await.unwrap();
        let reply = world.invoke(&function, created(&world, pair, &link, &state)).await;
        assert_eq!(reply.status, 200, "{}: {}", pair.name(), reply.json);
        let result = &reply.json["results"][0];
        match pair.dst {
            Side::Oss => {
                assert_eq!(
                    (result["method"].as_str(), result["bytes"].as_u64()),
                    (Some("symlink"), Some(0)),
                    "{result}"
                );
                let dst = world.dst_store(pair);
                assert_eq!(dst.symlink_target(world.dst_bucket(pair), &link).await.unwrap(), target);
                let replica = world.replica(pair, &link).await.unwrap();
                assert_eq!(replica.object_type, ObjectType::Symlink);
                assert_eq!(replica.metadata.get("why").map(String::as_str), Some("a link"));
                let again = world.invoke(&function, created(&world, pair, &link, &state)).await;
                assert_eq!(again.json["results"][0]["outcome"], "identical", "{}", again.json);
            }
            Side::S3 => {
                assert_eq!(result["method"], "stream", "{result}");
                assert_eq!(world.replica_bytes(pair, &link).await.as_deref(), Some(&b"the target"[..]));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_sources_are_reported_as_needing_a_restore_then_replicate_once_restored() {
    let world = World::new("oss-archive").await;
    for pair in [OSS_TO_OSS, OSS_TO_S3] {
        let function = Function::start("object-created", &world.env(pair, &[("CRR_COPY_MODE", "stream")]));
        let key = pair.key("cold/archive.bin");
        let cold = ObjectWrite { storage_class: Some("Archive"), ..Default::default() };
        let state = world.put_src(pair, &key, pattern(5000, 3), &cold).await;
        let reply = world.invoke(&function, created(&world, pair, &key, &state)).await;
        assert_ne!(reply.status, 200, "{}", reply.json);
        assert_eq!(reply.json["errorType"], "ObjectNeedsRestore", "{}", reply.json);
        let message = reply.json["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains("storage class Archive") && message.contains("RestoreObject"), "{message}");
        assert!(world.replica(pair, &key).await.is_none());

        let raw = RawRequest {
            method: "POST",
            bucket: world.src_bucket(pair),
            key: &key,
            query: &[("restore", "")],
            headers: &[],
            body: Vec::new(),
        };
        let (status, _, body) = world.setup.oss_request(&world.setup.src_admin, raw).await;
        assert_eq!(status, 202, "RestoreObject: {}", String::from_utf8_lossy(&body));
        let reply = world.invoke(&function, created(&world, pair, &key, &state)).await;
        assert_eq!(reply.json["errorType"], "ObjectNeedsRestore", "a restore under way: {}", reply.json);
        assert!(reply.json["errorMessage"].as_str().unwrap_or_default().contains("has not finished"), "{}", reply.json);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let reply = world.invoke(&function, created(&world, pair, &key, &state)).await;
        assert_eq!(reply.status, 200, "once restored: {}", reply.json);
        assert_eq!(world.replica_bytes(pair, &key).await, Some(pattern(5000, 3)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_destination_grant_the_role_is_refused_with_the_fix() {
    // A setup whose destination bucket policy was never put (the seed's step 2 skipped).
    let setup = Setup::provision("oss-nogrant");
    let world = World { setup };
    let pair = OSS_TO_OSS;
    let function = Function::start("object-created", &world.env(pair, &[("CRR_COPY_MODE", "stream")]));
    let key = pair.key("refused.txt");
    let state = world.put_src(pair, &key, b"no grant".to_vec(), &ObjectWrite::default()).await;
    let reply = world.invoke(&function, created(&world, pair, &key, &state)).await;
    assert_ne!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["errorType"], "AccessDenied", "{}", reply.json);
    let message = reply.json["errorMessage"].as_str().unwrap_or_default();
    let principal =
        format!("arn:sts::{}:assumed-role/{}/*", world.setup.src_account, world.setup.oss().role_name().to_lowercase());
    assert!(message.contains(&principal) && message.contains("crr policy apply"), "{message}");
    assert!(!message.contains(&world.setup.function.secret), "no secret in errors");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowdown_and_a_reset_are_retried_and_a_missing_bucket_fails_at_once() {
    let world = World::new("oss-faults").await;
    let pair = OSS_TO_OSS;
    let upstream = world.setup.oss().endpoint.replace("oss-cn-local.localhost", "127.0.0.1");
    let part =
        |n: u32, answer| Fault { method: http::Method::PUT, matches: format!("partNumber={n}&"), times: 1, answer };
    let proxy = FaultProxy::start(
        &upstream,
        vec![
            // InitiateMultipartUpload has no body to lose: the OSS dialect sends it again.
            Fault {
                method: http::Method::POST,
                matches: "?uploads".into(),
                times: 1,
                answer: Answer::Error(503, "SlowDown"),
            },
            part(1, Answer::Error(503, "SlowDown")),
            part(2, Answer::Reset),
        ],
    )
    .await;
    let port = proxy.base.rsplit(':').next().unwrap().to_owned();
    let through_proxy = format!("http://oss-cn-local.localhost:{port}");
    let settings = [
        ("CRR_COPY_MODE", "stream"),
        ("CRR_MULTIPART_THRESHOLD", "6MiB"),
        ("CRR_PART_SIZE", "5MiB"),
        ("CRR_DEST_ENDPOINT", through_proxy.as_str()),
    ];
    let function = Function::start("object-created", &world.env(pair, &settings));
    let key = pair.key("faulty.bin");
    let data = pattern(12 * MIB, 5);
    let state = world.put_src(pair, &key, data.clone(), &ObjectWrite::default()).await;
    let reply = world.invoke(&function, created(&world, pair, &key, &state)).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["results"][0]["method"], "multipart", "{}", reply.json);
    assert_eq!(proxy.injected(), 3, "a SlowDown on the initiation and on a part, and a reset, all survived");
    assert_eq!(world.replica_bytes(pair, &key).await, Some(data.clone()));
    assert_eq!(world.replica(pair, &key).await.unwrap().crc64, Some(crc64::checksum(&data)));

    // A destination bucket that does not exist: a permanent error naming the fix, sent once.
    let missing = [
        ("CRR_COPY_MODE", "stream"),
        ("CRR_DEST_ENDPOINT", through_proxy.as_str()),
        ("CRR_DEST_BUCKET", "crr-oss-no-such-bucket"),
    ];
    let function = Function::start("object-created", &world.env(pair, &missing));
    let key = pair.key("small.txt");
    let state = world.put_src(pair, &key, b"small".to_vec(), &ObjectWrite::default()).await;
    let (heads_before, puts_before) = (proxy.count(&format!("HEAD /{key}")), proxy.count(&format!("PUT /{key}")));
    let reply = world.invoke(&function, created(&world, pair, &key, &state)).await;
    assert_ne!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["errorType"], "NoSuchBucket", "{}", reply.json);
    let message = reply.json["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("crr-oss-no-such-bucket does not exist at {through_proxy}")), "{message}");
    assert!(message.contains("CRR_DEST_BUCKET / CRR_DEST_ENDPOINT"), "the fix is named: {message}");
    // Found when the replica is checked, before any write, and not asked again.
    assert_eq!(proxy.count(&format!("HEAD /{key}")) - heads_before, 1, "a permanent error is not retried");
    assert_eq!(proxy.count(&format!("PUT /{key}")) - puts_before, 0, "nothing is written to a missing bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upper_case_role_name_in_the_grant_is_put_but_matches_no_one_and_lint_flags_it() {
    let setup = Setup::provision("oss-upper");
    let world = World { setup };
    let pair = OSS_TO_OSS;
    let oss = world.setup.oss().clone();
    let lower = format!("assumed-role/{}/", oss.role_name());
    let capitals = format!("assumed-role/{}/", oss.role_name().to_uppercase());
    let upper = world.setup.grant_oss_destination().await.replace(&lower, &capitals);
    assert!(upper.contains(&capitals), "{upper}");
    // OSS takes the policy as written...
    world
        .setup
        .oss_store(&world.setup.dst_admin)
        .put_bucket_policy(&oss.dst_bucket, &upper)
        .await
        .unwrap_or_else(|f| panic!("the local OSS server refused the policy: {f:?}"));
    // ...but no session matches it, so the role's write is refused.
    let function = Function::start("object-created", &world.env(pair, &[("CRR_COPY_MODE", "stream")]));
    let key = pair.key("upper.txt");
    let state = world.put_src(pair, &key, b"upper".to_vec(), &ObjectWrite::default()).await;
    let reply = world.invoke(&function, created(&world, pair, &key, &state)).await;
    assert_eq!(reply.json["errorType"], "AccessDenied", "{}", reply.json);
    assert!(world.replica(pair, &key).await.is_none());

    // crr policy lint catches it before replication does.
    let file = std::env::temp_dir().join(format!("crr-upper-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, &upper).unwrap();
    let run = world.setup.crr(&[], &["policy", "lint", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(text.contains("assumed-role-case") && text.contains(&lower), "{text}");
}
