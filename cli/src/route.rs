//! Routing bucket notifications to functions by their OSS triggers, as OSS does.
//!
//! The local cloud sends S3 notifications (`ObjectCreated:Put`, keys form-encoded);
//! Function Compute's OSS triggers deliver OSS events (`ObjectCreated:PutObject`,
//! raw keys) to every function whose trigger matches the bucket, one of its event
//! patterns (`oss:ObjectCreated:*`) and its key prefix and suffix filters. This
//! module turns one into the other and decides which functions get each event;
//! events no trigger takes are reported as unrouted, with the reason.

use crr::event::{Cloud, ObjectEvent};
use serde_json::{json, Value};

use crate::template::{Stack, Trigger};

/// The OSS name of an event (`ObjectCreated:PutObject`), or `None` if OSS has no
/// trigger event for it.
pub fn oss_event_name(event: &ObjectEvent) -> Option<String> {
    let name = event.name.strip_prefix("oss:").or_else(|| event.name.strip_prefix("s3:")).unwrap_or(&event.name);
    if event.cloud == Cloud::Oss {
        return Some(name.to_owned());
    }
    let oss = match name {
        "ObjectCreated:Put" => "ObjectCreated:PutObject",
        "ObjectCreated:Post" => "ObjectCreated:PostObject",
        "ObjectCreated:Copy" => "ObjectCreated:CopyObject",
        "ObjectCreated:CompleteMultipartUpload" => "ObjectCreated:CompleteMultipartUpload",
        "ObjectRemoved:Delete" | "ObjectRemoved:DeleteMarkerCreated" => "ObjectRemoved:DeleteObject",
        _ => return None,
    };
    Some(oss.to_owned())
}

/// Whether a trigger's event pattern (`oss:ObjectCreated:*`, `oss:ObjectRemoved:DeleteObject`)
/// takes the OSS event `name` (`ObjectCreated:PutObject`). `*` matches any run of characters.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.strip_prefix("oss:").unwrap_or(pattern);
    glob(pattern.as_bytes(), name.as_bytes())
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text.split_first().is_some_and(|(t, tail)| t == c && glob(rest, tail)),
    }
}

/// Whether `key` passes a trigger's key filter; an empty prefix or suffix takes every key.
pub fn filter_matches(prefix: &str, suffix: &str, key: &str) -> bool {
    key.starts_with(prefix) && key.ends_with(suffix)
}

/// One OSS trigger of one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub function: String,
    pub trigger: String,
    pub bucket: String,
    pub events: Vec<String>,
    pub prefix: String,
    pub suffix: String,
}

impl Route {
    fn takes(&self, bucket: &str, name: &str, key: &str) -> bool {
        self.bucket == bucket
            && self.events.iter().any(|p| pattern_matches(p, name))
            && filter_matches(&self.prefix, &self.suffix, key)
    }
}

/// An OSS trigger event for one function.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub function: String,
    pub trigger: String,
    /// The OSS event name.
    pub event_name: String,
    pub key: String,
    /// `{"events": [...]}` as Function Compute's OSS trigger sends it.
    pub payload: Value,
}

/// An event no trigger takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrouted {
    /// As received, e.g. `ObjectCreated:Put`.
    pub event_name: String,
    pub bucket: String,
    pub key: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routing {
    pub invocations: Vec<Invocation>,
    pub unrouted: Vec<Unrouted>,
}

#[derive(Debug, Clone)]
pub struct Router {
    pub routes: Vec<Route>,
    pub region: String,
    pub account_id: String,
}

impl Router {
    /// The OSS triggers of a template's functions.
    pub fn from_stack(stack: &Stack, region: &str, account_id: &str) -> Router {
        let routes = stack
            .functions
            .iter()
            .flat_map(|f| {
                f.triggers.iter().filter_map(move |t| match t {
                    Trigger::Oss(t) => Some(Route {
                        function: f.name.clone(),
                        trigger: t.name.clone(),
                        bucket: t.bucket.clone(),
                        events: t.events.clone(),
                        prefix: t.prefix.clone(),
                        suffix: t.suffix.clone(),
                    }),
                    Trigger::Timer(_) => None,
                })
            })
            .collect();
        Router { routes, region: region.to_owned(), account_id: account_id.to_owned() }
    }

    /// Which functions get each event, as one OSS trigger event per function and event
    /// (OSS invokes a function once per object event). `now_millis` dates events that
    /// carry no time.
    pub fn route(&self, events: &[ObjectEvent], now_millis: u64) -> Routing {
        let mut routing = Routing::default();
        for event in events {
            let unrouted = |reason: String| Unrouted {
                event_name: event.name.clone(),
                bucket: event.bucket.clone(),
                key: event.key.clone(),
                reason,
            };
            let Some(name) = oss_event_name(event) else {
                routing.unrouted.push(unrouted(format!("OSS has no trigger event for {}", event.name)));
                continue;
            };
            let mut taken = false;
            for route in self.routes.iter().filter(|r| r.takes(&event.bucket, &name, &event.key)) {
                taken = true;
                routing.invocations.push(Invocation {
                    function: route.function.clone(),
                    trigger: route.trigger.clone(),
                    event_name: name.clone(),
                    key: event.key.clone(),
                    payload: self.oss_event(event, &name, &route.trigger, now_millis),
                });
            }
            if !taken {
                routing.unrouted.push(unrouted(self.why_not(event, &name)));
            }
        }
        routing
    }

    fn why_not(&self, event: &ObjectEvent, name: &str) -> String {
        let on_bucket: Vec<&Route> = self.routes.iter().filter(|r| r.bucket == event.bucket).collect();
        if on_bucket.is_empty() {
            return format!("no trigger watches bucket {}", event.bucket);
        }
        let for_event: Vec<&Route> =
            on_bucket.into_iter().filter(|r| r.events.iter().any(|p| pattern_matches(p, name))).collect();
        if for_event.is_empty() {
            return format!("no trigger on bucket {} takes {name}", event.bucket);
        }
        let filters: Vec<String> =
            for_event.iter().map(|r| format!("{} (prefix {:?}, suffix {:?})", r.trigger, r.prefix, r.suffix)).collect();
        format!("the key is outside the filters of {}", filters.join(", "))
    }

    /// The event as an OSS trigger delivers it: raw key, upper-case ETag.
    pub fn oss_event(&self, event: &ObjectEvent, name: &str, trigger: &str, now_millis: u64) -> Value {
        let mut object = json!({"key": event.key});
        if let Some(size) = event.size {
            object["size"] = size.into();
            object["deltaSize"] = size.into();
        }
        if let Some(etag) = &event.etag {
            object["eTag"] = etag.to_ascii_uppercase().into();
        }
        if let Some(v) = &event.version_id {
            object["versionId"] = v.clone().into();
        }
        json!({"events": [{
            "eventName": name,
            "eventSource": "acs:oss",
            "eventTime": event.time.clone().unwrap_or_else(|| crate::cron::rfc3339_millis(now_millis)),
            "eventVersion": "1.0",
            "region": self.region,
            "oss": {
                "bucket": {
                    "arn": format!("acs:oss:{}:{}:{}", self.region, self.account_id, event.bucket),
                    "name": event.bucket,
                    "ownerIdentity": self.account_id,
                },
                "object": object,
                "ossSchemaVersion": "1.0",
                "ruleId": trigger,
            },
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"requestId": uuid::Uuid::new_v4().simple().to_string().to_uppercase()},
            "userIdentity": {"principalId": self.account_id},
        }]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crr::event::Notification;

    /// An S3 notification record as the local cloud sends it, key form-encoded.
    fn s3(name: &str, bucket: &str, encoded_key: &str) -> ObjectEvent {
        let body = json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-25T15:05:24.804Z", "eventName": name,
            "s3": {"bucket": {"name": bucket}, "object": {"key": encoded_key, "size": 5, "eTag": "5d41402abc4b2a76b9719d911017c592"}}
        }]});
        // As moto delivers it: the notification is the body of an SQS message.
        let sqs = json!({"Records": [{"messageId": "1", "body": body.to_string()}]});
        let mut n = Notification::from_value(sqs).unwrap();
        assert_eq!(n.events.len(), 1);
        n.events.remove(0)
    }

    fn route(function: &str, bucket: &str, events: &[&str], prefix: &str, suffix: &str) -> Route {
        Route {
            function: function.into(),
            trigger: format!("{function}-trigger"),
            bucket: bucket.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            prefix: prefix.into(),
            suffix: suffix.into(),
        }
    }

    fn router(routes: Vec<Route>) -> Router {
        Router { routes, region: "cn-hangzhou".into(), account_id: "111111111111".into() }
    }

    /// The functions an event goes to, in route order.
    fn targets(r: &Router, e: &ObjectEvent) -> Vec<String> {
        let routing = r.route(std::slice::from_ref(e), 0);
        assert_eq!(routing.invocations.is_empty(), routing.unrouted.len() == 1, "{routing:?}");
        routing.invocations.iter().map(|i| i.function.clone()).collect()
    }

    #[test]
    fn s3_names_become_oss_names() {
        for (s3_name, oss) in [
            ("ObjectCreated:Put", Some("ObjectCreated:PutObject")),
            ("ObjectCreated:Post", Some("ObjectCreated:PostObject")),
            ("ObjectCreated:Copy", Some("ObjectCreated:CopyObject")),
            ("ObjectCreated:CompleteMultipartUpload", Some("ObjectCreated:CompleteMultipartUpload")),
            ("ObjectRemoved:Delete", Some("ObjectRemoved:DeleteObject")),
            ("ObjectRemoved:DeleteMarkerCreated", Some("ObjectRemoved:DeleteObject")),
            ("s3:ObjectCreated:Put", Some("ObjectCreated:PutObject")),
            ("ObjectTagging:Put", None),
            ("ObjectRestore:Completed", None),
            ("LifecycleTransition", None),
        ] {
            assert_eq!(oss_event_name(&s3(s3_name, "b", "k")).as_deref(), oss, "{s3_name}");
        }
    }

    #[test]
    fn patterns() {
        for (pattern, name, expected) in [
            ("oss:ObjectCreated:*", "ObjectCreated:PutObject", true),
            ("oss:ObjectCreated:*", "ObjectCreated:CompleteMultipartUpload", true),
            ("oss:ObjectCreated:*", "ObjectRemoved:DeleteObject", false),
            ("oss:ObjectCreated:PutObject", "ObjectCreated:PutObject", true),
            ("oss:ObjectCreated:PutObject", "ObjectCreated:PostObject", false),
            ("oss:ObjectCreated:PutObject", "ObjectCreated:PutObjectX", false),
            ("oss:ObjectRemoved:*", "ObjectRemoved:DeleteObject", true),
            ("oss:ObjectRemoved:*", "ObjectCreated:PutObject", false),
            ("oss:ObjectRemoved:DeleteObject", "ObjectRemoved:DeleteObjects", false),
            ("oss:*", "ObjectModified:UpdateObjectMeta", true),
            ("oss:Object*:*Object", "ObjectCreated:CopyObject", true),
            ("oss:Object*:*Object", "ObjectCreated:CompleteMultipartUpload", false),
        ] {
            assert_eq!(pattern_matches(pattern, name), expected, "{pattern} vs {name}");
        }
    }

    #[test]
    fn routes_by_bucket_event_and_filter() {
        let created = |prefix, suffix| route("object-created", "src", &["oss:ObjectCreated:*"], prefix, suffix);
        let deleted = || route("object-deleted", "src", &["oss:ObjectRemoved:*"], "", "");
        let put = "ObjectCreated:Put";
        for (name, routes, bucket, key, expected) in [
            // Event patterns.
            (put, vec![created("", ""), deleted()], "src", "a.txt", vec!["object-created"]),
            ("ObjectRemoved:Delete", vec![created("", ""), deleted()], "src", "a.txt", vec!["object-deleted"]),
            ("ObjectRemoved:DeleteMarkerCreated", vec![created("", ""), deleted()], "src", "a", vec!["object-deleted"]),
            (
                "ObjectCreated:Copy",
                vec![route("f", "src", &["oss:ObjectCreated:PutObject"], "", "")],
                "src",
                "a",
                vec![],
            ),
            (
                put,
                vec![route("f", "src", &["oss:ObjectCreated:PostObject", "oss:ObjectCreated:PutObject"], "", "")],
                "src",
                "a",
                vec!["f"],
            ),
            ("ObjectTagging:Put", vec![created("", "")], "src", "a", vec![]),
            // Prefix only.
            (put, vec![created("logs/", "")], "src", "logs/a.txt", vec!["object-created"]),
            (put, vec![created("logs/", "")], "src", "img/logs/a.txt", vec![]),
            // Suffix only.
            (put, vec![created("", ".jpg")], "src", "a/b.jpg", vec!["object-created"]),
            (put, vec![created("", ".jpg")], "src", "a/b.jpg.txt", vec![]),
            // Both.
            (put, vec![created("img/", ".jpg")], "src", "img/b.jpg", vec!["object-created"]),
            (put, vec![created("img/", ".jpg")], "src", "img/b.png", vec![]),
            (put, vec![created("img/", ".jpg")], "src", "doc/b.jpg", vec![]),
            // Empty filters take every key, the empty one too.
            (put, vec![created("", "")], "src", "", vec!["object-created"]),
            // Other bucket.
            (put, vec![created("", "")], "other", "a.txt", vec![]),
            // Several functions.
            (
                put,
                vec![created("", ""), route("audit", "src", &["oss:*"], "", "")],
                "src",
                "a",
                vec!["object-created", "audit"],
            ),
            // Unicode and space keys are matched raw.
            (put, vec![created("照片/", ".jpg")], "src", "%E7%85%A7%E7%89%87/my+cat.jpg", vec!["object-created"]),
            (put, vec![created("my dir/", "")], "src", "my+dir/x", vec!["object-created"]),
            (put, vec![created("my+dir/", "")], "src", "my+dir/x", vec![]),
            (put, vec![created("my+dir/", "")], "src", "my%2Bdir/x", vec!["object-created"]),
        ] {
            let e = s3(name, bucket, key);
            assert_eq!(targets(&router(routes.clone()), &e), expected, "{name} {bucket}/{key} via {routes:?}");
        }
    }

    #[test]
    fn unrouted_events_say_why() {
        let r = router(vec![
            route("object-created", "src", &["oss:ObjectCreated:*"], "logs/", ".gz"),
            route("object-deleted", "src", &["oss:ObjectRemoved:*"], "logs/", ""),
        ]);
        let events = [
            s3("ObjectCreated:Put", "other", "a"),
            s3("ObjectCreated:Put", "src", "img/a.gz"),
            s3("ObjectTagging:Put", "src", "logs/a.gz"),
            s3("ObjectCreated:Put", "src", "logs/a.gz"),
        ];
        let routing = r.route(&events, 0);
        assert_eq!(routing.invocations.len(), 1);
        let reasons: Vec<&str> = routing.unrouted.iter().map(|u| u.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "no trigger watches bucket other",
                "the key is outside the filters of object-created-trigger (prefix \"logs/\", suffix \".gz\")",
                "OSS has no trigger event for ObjectTagging:Put",
            ]
        );
        let r = router(vec![route("object-created", "src", &["oss:ObjectCreated:*"], "", "")]);
        let routing = r.route(&[s3("ObjectRemoved:Delete", "src", "a")], 0);
        assert_eq!(routing.unrouted[0].reason, "no trigger on bucket src takes ObjectRemoved:DeleteObject");
    }

    #[test]
    fn oss_events_have_the_shape_the_functions_read() {
        let r = router(vec![route("object-created", "src", &["oss:ObjectCreated:*"], "", "")]);
        let routing = r.route(&[s3("ObjectCreated:Put", "src", "a+b%2Bc/%E4%BD%A0.txt")], 0);
        let inv = &routing.invocations[0];
        assert_eq!((inv.event_name.as_str(), inv.key.as_str()), ("ObjectCreated:PutObject", "a b+c/你.txt"));
        let e = &inv.payload["events"][0];
        assert_eq!(e["eventSource"], "acs:oss");
        assert_eq!(e["eventTime"], "2026-11-25T15:05:24.804Z");
        assert_eq!(e["region"], "cn-hangzhou");
        assert_eq!(e["oss"]["bucket"]["name"], "src");
        assert_eq!(e["oss"]["bucket"]["arn"], "acs:oss:cn-hangzhou:111111111111:src");
        assert_eq!(e["oss"]["object"]["key"], "a b+c/你.txt", "OSS keys are raw");
        assert_eq!(e["oss"]["object"]["size"], 5);
        assert_eq!(e["oss"]["object"]["eTag"], "5D41402ABC4B2A76B9719D911017C592");
        assert_eq!(e["oss"]["ruleId"], "object-created-trigger");

        // The functions read it back as the same object event.
        let back = Notification::from_value(inv.payload.clone()).unwrap().events.remove(0);
        assert_eq!(back.cloud, Cloud::Oss);
        assert_eq!(back.kind, crr::event::EventKind::Created);
        assert_eq!((back.bucket.as_str(), back.key.as_str(), back.size), ("src", "a b+c/你.txt", Some(5)));
        let deleted =
            r.oss_event(&s3("ObjectRemoved:DeleteMarkerCreated", "src", "k"), "ObjectRemoved:DeleteObject", "t", 0);
        let back = Notification::from_value(deleted).unwrap().events.remove(0);
        assert_eq!(back.kind, crr::event::EventKind::Removed);
        // No time in the event: the routing time, in the OSS format.
        let mut e = s3("ObjectCreated:Put", "src", "k");
        e.time = None;
        let v = r.oss_event(&e, "ObjectCreated:PutObject", "t", 1_764_083_124_804);
        assert_eq!(v["events"][0]["eventTime"], "2025-11-25T15:05:24.804Z");
    }
}
