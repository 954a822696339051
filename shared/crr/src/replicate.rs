//! The copy engine: decide what an object needs, then do it.
//!
//! [`decide`] is a pure function of the source's and the replica's current state;
//! [`Copier`] carries out the decision with streamed bodies (never buffering an
//! object whole) and verifies what it wrote.

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;

use crate::error::{Error, Failure};

/// User-metadata key that marks a replica and names its source bucket. Objects
/// carrying it are never replicated again (so two-way setups do not loop).
pub const REPLICA_MARK: &str = "crr-replica-of";

/// What we know about one object from a HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectState {
    pub size: u64,
    /// Lower-case, without quotes.
    pub etag: String,
    pub headers: StandardHeaders,
    /// User metadata without our replica mark.
    pub metadata: HashMap<String, String>,
    /// The source bucket named by the replica mark, if this object is a replica.
    pub replica_of: Option<String>,
}

/// The HTTP headers that travel with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StandardHeaders {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<String>,
}

impl ObjectState {
    pub fn from_head(head: &HeadObjectOutput) -> Self {
        let mut metadata = head.metadata().cloned().unwrap_or_default();
        let replica_of = metadata.remove(REPLICA_MARK);
        ObjectState {
            size: head.content_length().unwrap_or(0).max(0) as u64,
            etag: normalize_etag(head.e_tag().unwrap_or_default()),
            headers: StandardHeaders {
                content_type: head.content_type().map(str::to_owned),
                cache_control: head.cache_control().map(str::to_owned),
                content_disposition: head.content_disposition().map(str::to_owned),
                content_encoding: head.content_encoding().map(str::to_owned),
                content_language: head.content_language().map(str::to_owned),
                #[allow(deprecated)]
                expires: head.expires_string().map(str::to_owned),
            },
            metadata,
            replica_of,
        }
    }

    /// The MD5 of the content when the ETag is one (single-part, not KMS-encrypted).
    pub fn content_md5(&self) -> Option<[u8; 16]> {
        if self.etag.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, chunk) in self.etag.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(chunk).ok()?;
            out[i] = u8::from_str_radix(hex, 16).ok()?;
        }
        Some(out)
    }
}

pub fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_lowercase()
}

/// What to do for one object and one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Copy the content (and metadata).
    Copy,
    /// The replica has the content; only its metadata differs.
    UpdateMetadata,
    /// The replica already equals the source.
    Identical,
    /// The source no longer exists: the event is stale.
    SourceGone,
    /// The source object is itself a replica: never copy it again.
    SourceIsReplica,
}

pub fn decide(source: Option<&ObjectState>, replica: Option<&ObjectState>) -> Decision {
    let Some(source) = source else {
        return Decision::SourceGone;
    };
    if source.replica_of.is_some() {
        return Decision::SourceIsReplica;
    }
    let Some(replica) = replica else {
        return Decision::Copy;
    };
    if replica.size != source.size || replica.etag != source.etag {
        return Decision::Copy;
    }
    if replica.headers != source.headers || replica.metadata != source.metadata {
        return Decision::UpdateMetadata;
    }
    Decision::Identical
}

/// One source bucket and one destination bucket, with the clients that may touch them.
pub struct Copier<'a> {
    pub source: &'a aws_sdk_s3::Client,
    pub source_bucket: &'a str,
    pub dest: &'a aws_sdk_s3::Client,
    pub dest_bucket: &'a str,
    /// Describes the destination identity in error messages.
    pub dest_role: &'a str,
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOutcome {
    pub decision: Decision,
    pub bytes: u64,
    pub ms: u64,
}

impl Copier<'_> {
    pub async fn head_source(&self, key: &str) -> Result<Option<ObjectState>, Error> {
        match self
            .source
            .head_object()
            .bucket(self.source_bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(ObjectState::from_head(&head))),
            Err(e) => {
                let f = Failure::from_sdk(&e);
                if f.is_not_found() {
                    Ok(None)
                } else {
                    Err(self.source_error("reading", key, f))
                }
            }
        }
    }

    pub async fn head_replica(&self, key: &str) -> Result<Option<ObjectState>, Error> {
        match self
            .dest
            .head_object()
            .bucket(self.dest_bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(ObjectState::from_head(&head))),
            Err(e) => {
                let f = Failure::from_sdk(&e);
                if f.is_not_found() {
                    Ok(None)
                } else {
                    Err(self.dest_error("checking the replica", key, f))
                }
            }
        }
    }

    /// Brings the replica of `key` in line with the source.
    pub async fn replicate(&self, key: &str) -> Result<CopyOutcome, Error> {
        let started = Instant::now();
        let source = self.head_source(key).await?;
        let replica = match &source {
            Some(_) => self.head_replica(key).await?,
            None => None,
        };
        let decision = decide(source.as_ref(), replica.as_ref());
        let bytes = match (decision, &source) {
            (Decision::Copy, Some(s)) => self.copy(key, s).await?,
            (Decision::UpdateMetadata, Some(s)) => {
                // Same bytes: rewriting them keeps this simple and correct for now.
                self.copy(key, s).await?
            }
            _ => 0,
        };
        Ok(CopyOutcome {
            decision,
            bytes,
            ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Streams the source object into the destination and checks the result.
    async fn copy(&self, key: &str, source: &ObjectState) -> Result<u64, Error> {
        let get = self
            .source
            .get_object()
            .bucket(self.source_bucket)
            .key(key)
            // The object we decided on, not a newer one that replaced it meanwhile.
            .if_match(format!("\"{}\"", source.etag))
            .send()
            .await
            .map_err(|e| self.source_error("reading", key, Failure::from_sdk(&e)))?;
        let length = get.content_length().unwrap_or(source.size as i64);
        let body: ByteStream = get.body;

        let mut metadata = source.metadata.clone();
        metadata.insert(REPLICA_MARK.to_owned(), self.source_bucket.to_owned());
        let h = &source.headers;
        let mut put = self
            .dest
            .put_object()
            .bucket(self.dest_bucket)
            .key(key)
            .content_length(length)
            .body(body)
            .set_content_type(h.content_type.clone())
            .set_cache_control(h.cache_control.clone())
            .set_content_disposition(h.content_disposition.clone())
            .set_content_encoding(h.content_encoding.clone())
            .set_content_language(h.content_language.clone())
            .set_metadata(Some(metadata));
        #[allow(deprecated)]
        {
            put = put.set_expires(h.expires.as_deref().and_then(parse_http_date));
        }
        if let Some(md5) = source.content_md5() {
            // The server rejects the upload if the bytes it received differ.
            use base64::Engine;
            put = put.content_md5(base64::engine::general_purpose::STANDARD.encode(md5));
        }
        let out = put
            .send()
            .await
            .map_err(|e| self.dest_error("writing", key, Failure::from_sdk(&e)))?;
        if source.content_md5().is_some() {
            let written = normalize_etag(out.e_tag().unwrap_or_default());
            if written != source.etag {
                return Err(Error::Verify {
                    bucket: self.dest_bucket.to_owned(),
                    key: key.to_owned(),
                    detail: format!("ETag {written} after writing, source has {}", source.etag),
                });
            }
        }
        Ok(length.max(0) as u64)
    }

    fn source_error(&self, op: &'static str, key: &str, f: Failure) -> Error {
        let hint = if f.is_access_denied() {
            format!(
                "; the function's own identity needs read access (s3:GetObject) on {}/*",
                self.source_bucket
            )
        } else if f.code.as_deref() == Some("NoSuchBucket") {
            format!("; source bucket {} does not exist at the configured endpoint (CRR_SOURCE_BUCKET / CRR_SOURCE_ENDPOINT)", self.source_bucket)
        } else {
            String::new()
        };
        Error::Storage {
            op,
            bucket: self.source_bucket.to_owned(),
            key: key.to_owned(),
            fault: f.fault,
            code: f.code,
            detail: format!("{}{hint}", f.message),
        }
    }

    fn dest_error(&self, op: &'static str, key: &str, f: Failure) -> Error {
        let hint = if f.is_access_denied() {
            format!(
                "; role {} is not allowed to write {}: grant it s3:PutObject on {}/* (see `crr policy generate`)",
                self.dest_role, self.dest_bucket, self.dest_bucket
            )
        } else if f.code.as_deref() == Some("NoSuchBucket") {
            format!("; destination bucket {} does not exist at the configured endpoint (CRR_DEST_BUCKET / CRR_DEST_ENDPOINT)", self.dest_bucket)
        } else {
            String::new()
        };
        Error::Storage {
            op,
            bucket: self.dest_bucket.to_owned(),
            key: key.to_owned(),
            fault: f.fault,
            code: f.code,
            detail: format!("{}{hint}", f.message),
        }
    }
}

fn parse_http_date(text: &str) -> Option<aws_smithy_types::DateTime> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::HttpDate).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(size: u64, etag: &str) -> ObjectState {
        ObjectState {
            size,
            etag: etag.into(),
            headers: StandardHeaders {
                content_type: Some("text/plain".into()),
                ..Default::default()
            },
            metadata: HashMap::new(),
            replica_of: None,
        }
    }

    #[test]
    fn decisions() {
        let src = state(5, "5d41402abc4b2a76b9719d911017c592");
        let mut replica = src.clone();
        replica.replica_of = Some("crr-src".into());
        assert_eq!(decide(None, None), Decision::SourceGone);
        assert_eq!(decide(None, Some(&replica)), Decision::SourceGone);
        assert_eq!(decide(Some(&src), None), Decision::Copy);
        assert_eq!(decide(Some(&src), Some(&replica)), Decision::Identical);
        assert_eq!(
            decide(Some(&src), Some(&state(6, &src.etag))),
            Decision::Copy
        );
        assert_eq!(decide(Some(&src), Some(&state(5, "00"))), Decision::Copy);
        let mut other_type = replica.clone();
        other_type.headers.content_type = Some("image/png".into());
        assert_eq!(
            decide(Some(&src), Some(&other_type)),
            Decision::UpdateMetadata
        );
        let mut more_meta = replica.clone();
        more_meta.metadata.insert("owner".into(), "x".into());
        assert_eq!(
            decide(Some(&src), Some(&more_meta)),
            Decision::UpdateMetadata
        );
        assert_eq!(
            decide(Some(&replica), None),
            Decision::SourceIsReplica,
            "replicas are never re-replicated"
        );
    }

    #[test]
    fn md5_etags() {
        assert_eq!(
            normalize_etag("\"5D41402ABC4B2A76B9719D911017C592\""),
            "5d41402abc4b2a76b9719d911017c592"
        );
        let s = state(5, "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(s.content_md5().unwrap()[0], 0x5d);
        assert!(state(5, "9b2cf535f27731c974343645a3985328-2")
            .content_md5()
            .is_none());
    }
}
