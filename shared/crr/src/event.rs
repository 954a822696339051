//! The events that drive replication, modelled on their wire formats.
//!
//! Accepted payloads:
//! * Function Compute OSS triggers: `{"events":[{"eventName":"ObjectCreated:PutObject","oss":{...}}]}`
//! * the same delivered through EventBridge (CloudEvents with `data` holding one OSS event)
//! * S3 notifications: `{"Records":[{"eventName":"ObjectCreated:Put","s3":{...}}]}`; keys are
//!   URL-encoded with `+` for space and are decoded here
//! * any of those wrapped in a queue message: an SQS event (`Records[].body`) or an MNS
//!   message (`{"Message": "..."}`, plain or base64)
//! * the S3 `s3:TestEvent` sent when notifications are configured (no records)
//!
//! Everything is normalised into [`ObjectEvent`]s; what each one asks for is [`EventKind`].

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// One object-level event, whichever cloud or wrapper it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    pub cloud: Cloud,
    /// As sent, e.g. `ObjectCreated:PutObject` or `ObjectRemoved:Delete`.
    pub name: String,
    pub kind: EventKind,
    pub bucket: String,
    /// The decoded object key.
    pub key: String,
    pub size: Option<u64>,
    /// Without quotes, as the event gave it (OSS sends upper-case hex).
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub sequencer: Option<String>,
    pub time: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Oss,
    S3,
}

/// What an event means for replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// New content at the key: Put, Post, Copy, Append, CompleteMultipartUpload.
    Created,
    /// Metadata or tags changed without new content.
    MetadataChanged,
    /// The object was deleted (unversioned, or a specific version).
    Removed,
    /// A versioned bucket got a delete marker.
    DeleteMarkerCreated,
    /// Nothing to replicate: parts of an unfinished multipart upload, storage-class
    /// transitions, restores, ACL changes, replication status events.
    Ignored,
}

impl EventKind {
    /// Classifies an event name of either cloud (`ObjectCreated:PutObject`, `ObjectCreated:Put`, ...).
    pub fn classify(name: &str) -> EventKind {
        let name = name.strip_prefix("oss:").or_else(|| name.strip_prefix("s3:")).unwrap_or(name);
        let (family, detail) = name.split_once(':').unwrap_or((name, ""));
        match (family, detail) {
            // Parts replicate once, as the whole object, after CompleteMultipartUpload.
            ("ObjectCreated", "InitiateMultipartUpload" | "UploadPart" | "UploadPartCopy") => EventKind::Ignored,
            ("ObjectCreated", _) => EventKind::Created,
            ("ObjectModified", "UpdateObjectMeta") => EventKind::MetadataChanged,
            ("ObjectTagging", "Put" | "Delete") => EventKind::MetadataChanged,
            ("ObjectRemoved", "DeleteMarkerCreated") => EventKind::DeleteMarkerCreated,
            ("ObjectRemoved", "AbortMultipartUpload") => EventKind::Ignored,
            ("ObjectRemoved", _) => EventKind::Removed,
            ("LifecycleExpiration", "DeleteMarkerCreated") => EventKind::DeleteMarkerCreated,
            ("LifecycleExpiration", _) => EventKind::Removed,
            _ => EventKind::Ignored,
        }
    }
}

/// A decoded event payload: the object events it carries, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notification {
    pub events: Vec<ObjectEvent>,
}

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventError(String);

impl EventError {
    pub fn new(message: impl Into<String>) -> Self {
        EventError(message.into())
    }
}

const EXPECTED: &str = "expected an OSS trigger event {\"events\":[...]}, an S3 notification {\"Records\":[...]}, \
                        or either one wrapped in an SQS or MNS message";

impl Notification {
    pub fn from_json(bytes: &[u8]) -> Result<Self, EventError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| EventError(format!("the event is not JSON: {e}")))?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Self, EventError> {
        let mut events = Vec::new();
        collect(value, &mut events, 0)?;
        Ok(Notification { events })
    }
}

impl<'de> Deserialize<'de> for Notification {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Notification::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// Walks one payload, unwrapping queue envelopes (at most a few levels deep).
fn collect(value: Value, out: &mut Vec<ObjectEvent>, depth: usize) -> Result<(), EventError> {
    if depth > 4 {
        return Err(EventError("the event is wrapped in more than four envelopes".into()));
    }
    let Value::Object(map) = value else {
        return Err(EventError(format!("the event is not a JSON object; {EXPECTED}")));
    };

    if let Some(list) = map.get("events") {
        let events: Vec<OssEvent> = serde_json::from_value(list.clone()).map_err(|e| {
            EventError(format!(
                "OSS trigger event: {e}; each entry needs eventName and oss.bucket.name / oss.object.key"
            ))
        })?;
        out.extend(events.into_iter().map(OssEvent::into_object_event));
        return Ok(());
    }
    if let Some(records) = map.get("Records") {
        let Value::Array(records) = records else {
            return Err(EventError("Records is not a list".into()));
        };
        for (i, record) in records.iter().enumerate() {
            if record.get("s3").is_some() {
                let r: S3Record = serde_json::from_value(record.clone()).map_err(|e| {
                    EventError(format!(
                        "S3 notification record {i}: {e}; it needs eventName, s3.bucket.name and s3.object.key"
                    ))
                })?;
                out.push(r.into_object_event()?);
            } else if let Some(body) = record.get("body").and_then(Value::as_str) {
                collect(parse_embedded(body)?, out, depth + 1)?;
            } else {
                return Err(EventError(format!(
                    "record {i} is neither an S3 notification record nor an SQS message with a body; {EXPECTED}"
                )));
            }
        }
        return Ok(());
    }
    // EventBridge / CloudEvents envelope around a single OSS event.
    if let (Some(data), Some(Value::String(kind))) = (map.get("data"), map.get("type")) {
        if kind.starts_with("oss:") {
            let ev: OssEvent = serde_json::from_value(data.clone())
                .map_err(|e| EventError(format!("EventBridge OSS event data: {e}")))?;
            out.push(ev.into_object_event());
            return Ok(());
        }
    }
    // MNS topic/queue message: the payload is in Message (JSON text, possibly base64).
    if let Some(Value::String(message)) = map.get("Message").or_else(|| map.get("message")) {
        return collect(parse_embedded(message)?, out, depth + 1);
    }
    // Sent once when S3 notifications are configured; carries no object.
    if map.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(());
    }
    let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
    Err(EventError(format!("unrecognised event with fields {keys:?}; {EXPECTED}")))
}

/// A message body holding an event as JSON text, or as base64 of JSON text.
fn parse_embedded(text: &str) -> Result<Value, EventError> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(v);
    }
    let decoded = base64_decode(text.trim())
        .ok_or_else(|| EventError("a queue message body is neither JSON nor base64-encoded JSON".into()))?;
    serde_json::from_slice(&decoded)
        .map_err(|e| EventError(format!("a base64 queue message body does not hold JSON: {e}")))
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OssEvent {
    event_name: String,
    event_time: Option<String>,
    oss: OssEntity,
}

#[derive(Debug, Deserialize)]
struct OssEntity {
    bucket: OssBucket,
    object: OssObject,
}

#[derive(Debug, Deserialize)]
struct OssBucket {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OssObject {
    key: String,
    size: Option<u64>,
    e_tag: Option<String>,
    version_id: Option<String>,
}

impl OssEvent {
    fn into_object_event(self) -> ObjectEvent {
        ObjectEvent {
            cloud: Cloud::Oss,
            kind: EventKind::classify(&self.event_name),
            name: self.event_name,
            bucket: self.oss.bucket.name,
            // OSS trigger events carry the key as stored.
            key: self.oss.object.key,
            size: self.oss.object.size,
            etag: self.oss.object.e_tag.map(|e| e.trim_matches('"').to_owned()),
            version_id: self.oss.object.version_id.filter(|v| !v.is_empty()),
            sequencer: None,
            time: self.event_time,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    event_name: String,
    event_time: Option<String>,
    s3: S3Entity,
}

#[derive(Debug, Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Debug, Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Object {
    key: String,
    size: Option<u64>,
    e_tag: Option<String>,
    version_id: Option<String>,
    sequencer: Option<String>,
}

impl S3Record {
    fn into_object_event(self) -> Result<ObjectEvent, EventError> {
        let key = decode_s3_key(&self.s3.object.key)?;
        Ok(ObjectEvent {
            cloud: Cloud::S3,
            kind: EventKind::classify(&self.event_name),
            name: self.event_name,
            bucket: self.s3.bucket.name,
            key,
            size: self.s3.object.size,
            etag: self.s3.object.e_tag.map(|e| e.trim_matches('"').to_owned()),
            version_id: self.s3.object.version_id.filter(|v| !v.is_empty() && v != "null"),
            sequencer: self.s3.object.sequencer,
            time: self.event_time,
        })
    }
}

/// S3 notification keys are form-encoded: `+` is a space, `%2B` a plus.
pub fn decode_s3_key(encoded: &str) -> Result<String, EventError> {
    let spaced = encoded.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| EventError(format!("object key {encoded:?} does not decode to UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> ObjectEvent {
        let n = Notification::from_json(json.as_bytes()).unwrap();
        assert_eq!(n.events.len(), 1, "{n:?}");
        n.events.into_iter().next().unwrap()
    }

    const OSS: &str = r#"{"events":[{"eventName":"ObjectCreated:PutObject","eventSource":"acs:oss","eventTime":"2022-08-13T06:45:43.000Z","eventVersion":"1.0",
        "oss":{"bucket":{"arn":"acs:oss:cn-hangzhou:123456789:testbucket","name":"testbucket","ownerIdentity":"1649"},
        "object":{"deltaSize":122539,"eTag":"688A7BF4F233DC9C88A80BF985AB7329","key":"source/a b+c.png","size":122539},
        "ossSchemaVersion":"1.0","ruleId":"9adac8"},"region":"cn-hangzhou","requestParameters":{"sourceIPAddress":"140.205.1.1"},
        "responseElements":{"requestId":"58F9FF2D3DF792092E12044C"},"userIdentity":{"principalId":"1649"}}]}"#;

    #[test]
    fn oss_trigger_event() {
        let e = one(OSS);
        assert_eq!(e.cloud, Cloud::Oss);
        assert_eq!(e.kind, EventKind::Created);
        assert_eq!(e.bucket, "testbucket");
        assert_eq!(e.key, "source/a b+c.png", "OSS keys are not form-encoded");
        assert_eq!(e.size, Some(122539));
        assert_eq!(e.etag.as_deref(), Some("688A7BF4F233DC9C88A80BF985AB7329"));
    }

    const S3: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-25T15:05:24.804Z",
        "eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","configurationId":"crr-events",
        "bucket":{"name":"crr-src","arn":"arn:aws:s3:::crr-src"},
        "object":{"key":"a+b%2Fc%2Bd%25e+%E4%BD%A0.txt","size":5,"eTag":"5d41402abc4b2a76b9719d911017c592","sequencer":"0A1B"}}}]}"#;

    #[test]
    fn s3_notification_keys_are_decoded() {
        let e = one(S3);
        assert_eq!(e.cloud, Cloud::S3);
        assert_eq!(e.kind, EventKind::Created);
        assert_eq!(e.key, "a b/c+d%e 你.txt");
        assert_eq!(e.sequencer.as_deref(), Some("0A1B"));
    }

    #[test]
    fn sqs_and_mns_envelopes_are_unwrapped() {
        let sqs = serde_json::json!({"Records":[
            {"messageId":"1","receiptHandle":"h","body":S3,"eventSource":"aws:sqs"},
            {"messageId":"2","receiptHandle":"h","body":OSS,"eventSource":"aws:sqs"}]});
        let n = Notification::from_value(sqs).unwrap();
        assert_eq!(n.events.len(), 2);
        assert_eq!(n.events[0].cloud, Cloud::S3);
        assert_eq!(n.events[1].cloud, Cloud::Oss);

        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(OSS);
        for message in [OSS.to_string(), b64] {
            let mns = serde_json::json!({"TopicOwner":"1","Message":message,"Subscriber":"1","MessageId":"m"});
            assert_eq!(Notification::from_value(mns).unwrap().events[0].key, "source/a b+c.png");
        }
    }

    #[test]
    fn eventbridge_oss_event() {
        let data: Value = serde_json::from_str::<Value>(OSS).unwrap()["events"][0].clone();
        let ce = serde_json::json!({"id":"x","source":"acs.oss","type":"oss:ObjectCreated:PutObject","data":data});
        assert_eq!(Notification::from_value(ce).unwrap().events[0].bucket, "testbucket");
    }

    #[test]
    fn s3_test_event_has_no_records() {
        let n =
            Notification::from_json(br#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"crr-src"}"#).unwrap();
        assert!(n.events.is_empty());
    }

    #[test]
    fn event_names_of_both_clouds() {
        use EventKind::*;
        for (name, kind) in [
            ("ObjectCreated:PutObject", Created),
            ("ObjectCreated:PostObject", Created),
            ("ObjectCreated:CopyObject", Created),
            ("ObjectCreated:AppendObject", Created),
            ("ObjectCreated:CompleteMultipartUpload", Created),
            ("ObjectCreated:InitiateMultipartUpload", Ignored),
            ("ObjectCreated:UploadPart", Ignored),
            ("ObjectCreated:UploadPartCopy", Ignored),
            ("ObjectModified:UpdateObjectMeta", MetadataChanged),
            ("ObjectRemoved:DeleteObject", Removed),
            ("ObjectRemoved:DeleteObjects", Removed),
            ("ObjectRemoved:AbortMultipartUpload", Ignored),
            ("ObjectCreated:Put", Created),
            ("ObjectCreated:Post", Created),
            ("ObjectCreated:Copy", Created),
            ("ObjectCreated:CompleteMultipartUpload", Created),
            ("ObjectRemoved:Delete", Removed),
            ("ObjectRemoved:DeleteMarkerCreated", DeleteMarkerCreated),
            ("ObjectTagging:Put", MetadataChanged),
            ("LifecycleTransition", Ignored),
            ("ObjectRestore:Completed", Ignored),
            ("s3:ObjectCreated:Put", Created),
        ] {
            assert_eq!(EventKind::classify(name), kind, "{name}");
        }
    }

    #[test]
    fn malformed_events_say_what_is_wrong() {
        for (json, want) in [
            ("[1,2]", "not a JSON object"),
            ("{\"hello\":1}", "unrecognised event with fields [\"hello\"]"),
            ("{\"events\":[{\"eventName\":\"ObjectCreated:PutObject\"}]}", "missing field `oss`"),
            ("{\"Records\":[{\"eventName\":\"x\",\"s3\":{\"bucket\":{}}}]}", "S3 notification record 0"),
            ("{\"Records\":[{\"body\":\"not json at all!\"}]}", "neither JSON nor base64"),
            ("{\"Records\":7}", "Records is not a list"),
            ("not json", "not JSON"),
        ] {
            let err = Notification::from_json(json.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
    }
}
