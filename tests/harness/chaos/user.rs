//! The user of a chaos run: carries out the history's operations on the source
//! buckets (directly, no faults), keeps the model of what each key must hold, and
//! produces the notification records the server would send for each operation.

use std::collections::BTreeMap;

use aws_sdk_s3::types::{MetadataDirective, Tag, Tagging};
use md5::Digest;

use super::history::{key_name, meta, tags, Meta, Op, Side};
use crate::{pattern, s3_record};

/// What a key holds: its content's MD5 and size, headers and metadata, tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub md5: String,
    pub size: u64,
    pub meta: Meta,
    pub tags: BTreeMap<String, String>,
}

/// One write of a two-way pair, and when the server says it happened (unknown if
/// a replica was already written over it when the user looked).
#[derive(Debug, Clone)]
pub struct Write {
    pub side: Side,
    pub object: Object,
    pub etag: String,
    pub modified: Option<i64>,
}

/// What the history leaves in the source: per key, its object now (one-way), and
/// every write with its time (two-way).
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub current: BTreeMap<usize, Option<Object>>,
    pub writes: BTreeMap<usize, Vec<Write>>,
}

pub struct User {
    pub s3: aws_sdk_s3::Client,
    /// The bucket of each side.
    pub buckets: Vec<String>,
    /// Two sides that replicate into each other: a key may hold a replica, and every
    /// write's time is read back.
    pub two_way: bool,
}

/// The bytes of a multipart object: a 5 MiB part and a tail.
fn multipart_parts(salt: u64) -> [Vec<u8>; 2] {
    [pattern(5 * 1024 * 1024, salt), pattern(1000 + (salt % 5000) as usize, salt ^ 1)]
}

fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = md5::Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl User {
    /// Carries out `op`; returns the notification record the server would send, if
    /// the operation happened (a copy or tag change of a missing key does not).
    pub async fn apply(&self, op: &Op, model: &mut Model) -> Option<serde_json::Value> {
        let (side, key) = (op.side(), op.key());
        let (bucket, name) = (&self.buckets[side], key_name(key));
        let present = model.current.get(&key).cloned().flatten();
        let (event, object) = match op {
            Op::Put { size, salt, meta: m, .. } => {
                let body = pattern(*size, *salt);
                let meta = meta(*m);
                let out = with_meta(self.s3.put_object().bucket(bucket).key(&name).body(body.clone().into()), &meta)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {name}: {e:?}"));
                let etag = out.e_tag().unwrap_or_default().to_owned();
                let object = Object { md5: md5_hex(&[&body]), size: body.len() as u64, meta, tags: BTreeMap::new() };
                (event("ObjectCreated:Put", bucket, &name, object.size, &etag), Some((object, etag)))
            }
            Op::Multipart { salt, meta: m, .. } => {
                let parts = multipart_parts(*salt);
                let meta = meta(*m);
                let etag = self.multipart(bucket, &name, &parts, &meta).await;
                let size = (parts[0].len() + parts[1].len()) as u64;
                let object = Object { md5: md5_hex(&[&parts[0], &parts[1]]), size, meta, tags: BTreeMap::new() };
                (event("ObjectCreated:CompleteMultipartUpload", bucket, &name, size, &etag), Some((object, etag)))
            }
            Op::Delete { .. } => {
                self.s3
                    .delete_object()
                    .bucket(bucket)
                    .key(&name)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("delete {name}: {e:?}"));
                model.current.insert(key, None);
                return Some(s3_record("ObjectRemoved:Delete", bucket, &name));
            }
            Op::CopyMeta { meta: m, .. } => {
                // Two-way: the key may hold a replica; what it holds is read back below.
                if !self.two_way && present.is_none() {
                    return None;
                }
                let meta = meta(*m);
                let source = format!("{bucket}/{}", copy_source_key(&name));
                let copy = self
                    .s3
                    .copy_object()
                    .bucket(bucket)
                    .key(&name)
                    .copy_source(source)
                    .metadata_directive(MetadataDirective::Replace);
                let out = with_meta(copy, &meta).send().await;
                let Ok(out) = out else { return None };
                let etag = out.copy_object_result().and_then(|r| r.e_tag()).unwrap_or_default().to_owned();
                let mut object = match (&present, self.two_way) {
                    (Some(p), false) => p.clone(),
                    _ => self.read_back(bucket, &name).await?,
                };
                object.meta = meta;
                (event("ObjectCreated:Copy", bucket, &name, object.size, &etag), Some((object, etag)))
            }
            Op::Tag { tags: t, .. } => {
                let mut object = present?;
                object.tags = tags(*t);
                let set: Vec<Tag> =
                    object.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap()).collect();
                self.s3
                    .put_object_tagging()
                    .bucket(bucket)
                    .key(&name)
                    .tagging(Tagging::builder().set_tag_set(Some(set)).build().unwrap())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("tag {name}: {e:?}"));
                model.current.insert(key, Some(object));
                return Some(s3_record("ObjectTagging:Put", bucket, &name));
            }
        };
        let (object, etag) = object?;
        model.current.insert(key, Some(object.clone()));
        if self.two_way {
            let modified = self.written_at(bucket, &name, &etag).await;
            model.writes.entry(key).or_default().push(Write { side, object, etag, modified });
        }
        Some(event)
    }

    async fn multipart(&self, bucket: &str, key: &str, parts: &[Vec<u8>; 2], meta: &Meta) -> String {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let create = with_meta(self.s3.create_multipart_upload().bucket(bucket).key(key), meta);
        let id = create.send().await.expect("create multipart upload").upload_id().unwrap().to_owned();
        let mut done = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let out = self
                .s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(part.clone().into())
                .send()
                .await
                .expect("upload part");
            done.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
        }
        let out = self
            .s3
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
            .send()
            .await
            .expect("complete multipart upload");
        out.e_tag().unwrap_or_default().to_owned()
    }

    /// When the server wrote the object with `etag`, if it is still that object and
    /// not a replica written over it since.
    async fn written_at(&self, bucket: &str, key: &str, etag: &str) -> Option<i64> {
        let head = self.s3.head_object().bucket(bucket).key(key).if_match(etag).send().await.ok()?;
        let replica = head.metadata().is_some_and(|m| m.contains_key("crr-replica-of"));
        (!replica).then(|| head.last_modified().map(|t| t.secs())).flatten()
    }

    /// What a key holds, read back (its bytes' MD5, size; headers filled in by the caller).
    async fn read_back(&self, bucket: &str, key: &str) -> Option<Object> {
        let out = self.s3.get_object().bucket(bucket).key(key).send().await.ok()?;
        let bytes = out.body.collect().await.ok()?.into_bytes();
        Some(Object { md5: md5_hex(&[&bytes]), size: bytes.len() as u64, meta: meta(0), tags: BTreeMap::new() })
    }
}

/// A key as `x-amz-copy-source` takes it: percent-encoded, `/` kept.
fn copy_source_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn event(name: &str, bucket: &str, key: &str, size: u64, etag: &str) -> serde_json::Value {
    let mut r = s3_record(name, bucket, key);
    r["s3"]["object"]["size"] = size.into();
    r["s3"]["object"]["eTag"] = etag.trim_matches('"').into();
    r["eventTime"] = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
        .into();
    r
}

/// Sets headers and user metadata on a PutObject, CopyObject or CreateMultipartUpload.
macro_rules! with_meta_impl {
    ($builder:expr, $meta:expr) => {{
        let meta: &Meta = $meta;
        $builder
            .content_type(&meta.content_type)
            .set_cache_control(meta.cache_control.clone())
            .set_content_disposition(meta.content_disposition.clone())
            .set_metadata((!meta.user.is_empty()).then(|| meta.user.clone().into_iter().collect()))
    }};
}

trait WithMeta: Sized {
    fn with_meta(self, meta: &Meta) -> Self;
}

impl WithMeta for aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
    fn with_meta(self, meta: &Meta) -> Self {
        with_meta_impl!(self, meta)
    }
}

impl WithMeta for aws_sdk_s3::operation::copy_object::builders::CopyObjectFluentBuilder {
    fn with_meta(self, meta: &Meta) -> Self {
        with_meta_impl!(self, meta)
    }
}

impl WithMeta for aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder {
    fn with_meta(self, meta: &Meta) -> Self {
        with_meta_impl!(self, meta)
    }
}

fn with_meta<B: WithMeta>(builder: B, meta: &Meta) -> B {
    builder.with_meta(meta)
}
