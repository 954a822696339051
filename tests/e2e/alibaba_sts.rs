//! Replication with an Alibaba Cloud role: `CRR_ROLE_ARN=acs:ram::…` is assumed
//! through the local Alibaba STS endpoint, which checks the request's RPC
//! signature with the official Alibaba SDK and lets moto's IAM decide whether the
//! function may assume the role. Uploads replicate; a wrong secret and a role the
//! function may not assume fail with errors that say what to fix.

use std::time::{Duration, SystemTime};

use crr::sts::alibaba;
use crr_e2e::*;
use crr_sign::AccessKey;

/// The `x-fc-*` headers Function Compute sends, with the given function secret.
fn fc_headers<'a>(setup: &'a Setup, request_id: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("content-type", "application/octet-stream"),
        ("x-fc-request-id", request_id),
        ("x-fc-function-name", "object-created"),
        ("x-fc-region", "us-east-1"),
        ("x-fc-account-id", "111111111111"),
        ("x-fc-access-key-id", setup.function.id.as_str()),
        ("x-fc-access-key-secret", secret),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_replicate_with_a_role_assumed_through_alibaba_sts() {
    let setup = Setup::provision("ali");
    let src = setup.s3(&setup.src_admin);
    let dst = setup.s3(&setup.dst_admin);
    let env = setup.alibaba_function_env();
    assert!(
        env.iter().any(|(k, v)| k == "CRR_ROLE_ARN" && v.starts_with("acs:ram::222222222222:role/crr-replicator-ali-")),
        "{env:?}"
    );
    let function = Function::start("object-created", &env);

    let objects =
        [("alibaba/one.txt", b"assumed through Alibaba STS".to_vec()), ("alibaba/two words.bin", pattern(70_000, 7))];
    for (key, body) in &objects {
        put_bytes(&src, &setup.src_bucket, key, body.clone()).await;
    }
    let stats = setup
        .pump(Some(&function), None)
        .run_until_idle(Duration::from_secs(2), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(stats.failed_invocations, 0, "{stats:?}");
    for (key, body) in &objects {
        let replica = get_bytes(&dst, &setup.dst_bucket, key).await;
        assert_eq!(replica.as_ref(), Some(body), "replica of {key:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_by_the_signature_check() {
    let setup = Setup::provision("alisig");
    let src = setup.s3(&setup.src_admin);
    put_bytes(&src, &setup.src_bucket, "a.txt", b"abc".to_vec()).await;
    let function = Function::start("object-created", &setup.alibaba_function_env());

    let wrong = format!("{}x", setup.function.secret);
    let reply = post(
        &format!("{}/invoke", function.base),
        s3_event("ObjectCreated:Put", &setup.src_bucket, "a.txt").to_string(),
        &fc_headers(&setup, "req-wrong-secret", &wrong),
    )
    .await;
    assert_eq!(reply.status, 404, "{}", reply.json);
    assert_eq!(reply.json["errorType"], "SignatureDoesNotMatch", "{}", reply.json);
    let message = reply.json["errorMessage"].as_str().unwrap();
    assert!(message.contains(&format!("assuming role {}", setup.alibaba_role_arn())), "{message}");
    assert!(message.contains("access key secret does not belong to its access key id"), "{message}");
    assert!(!message.contains(&wrong) && !message.contains(&setup.function.secret), "{message}");
    let dst = setup.s3(&setup.dst_admin);
    assert_eq!(get_bytes(&dst, &setup.dst_bucket, "a.txt").await, None);

    // The same function with the right secret replicates.
    let reply = post(
        &format!("{}/invoke", function.base),
        s3_event("ObjectCreated:Put", &setup.src_bucket, "a.txt").to_string(),
        &fc_headers(&setup, "req-right-secret", &setup.function.secret),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["copied"], 1, "{}", reply.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_the_function_may_not_assume_is_refused_with_the_fix() {
    let setup = Setup::provision("alideny");
    // Another setup's role: it exists, but this function may assume only its own.
    let other = Setup::provision("aliother");
    let src = setup.s3(&setup.src_admin);
    put_bytes(&src, &setup.src_bucket, "b.txt", b"abc".to_vec()).await;
    let mut env = setup.alibaba_function_env();
    for (k, v) in env.iter_mut() {
        if k == "CRR_ROLE_ARN" {
            *v = other.alibaba_role_arn();
        }
    }
    let function = Function::start("object-created", &env);
    let reply = post(
        &format!("{}/invoke", function.base),
        s3_event("ObjectCreated:Put", &setup.src_bucket, "b.txt").to_string(),
        &fc_headers(&setup, "req-denied", &setup.function.secret),
    )
    .await;
    assert_eq!(reply.status, 404, "{}", reply.json);
    assert_eq!(reply.json["errorType"], "NoPermission", "{}", reply.json);
    let message = reply.json["errorMessage"].as_str().unwrap();
    assert!(message.contains(&format!("assuming role {}", other.alibaba_role_arn())), "{message}");
    assert!(message.contains(&format!("must be allowed sts:AssumeRole on {}", other.alibaba_role_arn())), "{message}");
    assert!(message.contains("trust policy"), "{message}");
    assert!(!message.contains(&setup.function.secret), "{message}");
}

/// What the local STS itself verifies, request by request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_sts_refuses_replays_stale_requests_and_unknown_keys() {
    let setup = Setup::provision("alireplay");
    let endpoint = format!("{}/", setup.alibaba_sts_endpoint());
    let role: crr::arn::RoleArn = setup.alibaba_role_arn().parse().unwrap();
    let call = alibaba::AssumeRole {
        role: &role,
        session: "crr-e2e-replay",
        duration: Duration::from_secs(900),
        external_id: None,
    };
    let key = AccessKey::new(&setup.function.id, &setup.function.secret);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let nonce = uuid::Uuid::new_v4().to_string();
    let body = alibaba::request_body(&call, &key, SystemTime::now(), &nonce);

    let first = post(&endpoint, body.clone(), &form).await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert!(first.json["Credentials"]["AccessKeyId"].is_string(), "{}", first.json);
    assert!(first.json["Credentials"]["Expiration"].as_str().and_then(alibaba::parse_expiration).is_some());

    let replay = post(&endpoint, body, &form).await;
    assert_eq!(replay.status, 400, "{}", replay.json);
    assert_eq!(replay.json["Code"], "SignatureNonceUsed");

    let stale = alibaba::request_body(
        &call,
        &key,
        SystemTime::now() - Duration::from_secs(3600),
        &uuid::Uuid::new_v4().to_string(),
    );
    let stale = post(&endpoint, stale, &form).await;
    assert_eq!(stale.status, 400, "{}", stale.json);
    assert_eq!(stale.json["Code"], "InvalidTimeStamp.Expired");

    let stranger = AccessKey::new("LTAI-not-a-key", "whatever");
    let unknown = alibaba::request_body(&call, &stranger, SystemTime::now(), &nonce);
    let unknown = post(&endpoint, unknown, &form).await;
    assert_eq!(unknown.status, 404, "{}", unknown.json);
    assert_eq!(unknown.json["Code"], "InvalidAccessKeyId.NotFound");
    for reply in [&replay, &stale, &unknown] {
        assert!(
            reply.json["RequestId"].is_string()
                && reply.json["HostId"].is_string()
                && reply.json["Message"].is_string()
        );
    }
}
