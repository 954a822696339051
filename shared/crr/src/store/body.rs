//! Object bytes in flight: one streamed body type whichever dialect produced it,
//! and a pass-through that computes a body's MD5 and length on the way, so a copy
//! is verified without ever holding the object.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use md5::Digest;

use crate::error::{source_text, Failure, Fault};

/// The error a body stream may end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed object body.
pub struct Body(BoxBody<Bytes, BoxError>);

impl Body {
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        Body(BoxBody::new(body.map_err(Into::into)))
    }

    pub fn empty() -> Self {
        Body::from(Bytes::new())
    }

    /// Reads the whole body; for small objects only.
    pub async fn collect(self) -> Result<Bytes, Failure> {
        match self.0.collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) => Err(Failure {
                fault: Fault::Transient,
                status: None,
                code: Some("BadResponse".into()),
                message: format!("the response body could not be read: {}", source_text(e.as_ref())),
            }),
        }
    }

    pub(crate) fn into_inner(self) -> BoxBody<Bytes, BoxError> {
        self.0
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body::new(Full::new(bytes))
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Body")
    }
}

#[derive(Default)]
struct Tally {
    md5: md5::Md5,
    bytes: u64,
}

/// Reads the digest of what went through a [`hashing`] body.
#[derive(Clone)]
pub struct StreamDigest(Arc<Mutex<Tally>>);

impl StreamDigest {
    /// MD5 and byte count of everything read so far.
    pub fn finish(&self) -> ([u8; 16], u64) {
        let tally = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (tally.md5.clone().finalize().into(), tally.bytes)
    }
}

pin_project_lite::pin_project! {
    struct Hashing {
        #[pin]
        inner: BoxBody<Bytes, BoxError>,
        tally: Arc<Mutex<Tally>>,
    }
}

impl http_body::Body for Hashing {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let mut tally = this.tally.lock().unwrap_or_else(PoisonError::into_inner);
                tally.md5.update(data);
                tally.bytes += data.len() as u64;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Wraps `body` so that what it yields is hashed on the way through.
pub fn hashing(body: Body) -> (Body, StreamDigest) {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let hashed = Hashing { inner: body.0, tally: tally.clone() };
    (Body(BoxBody::new(hashed)), StreamDigest(tally))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn digests_what_streams_through() {
        let (body, digest) = hashing(Body::from(Bytes::from_static(b"hello")));
        let bytes = body.collect().await.unwrap();
        assert_eq!(&bytes[..], b"hello");
        let (md5, n) = digest.finish();
        assert_eq!(n, 5);
        assert_eq!(crate::object::hex(&md5), "5d41402abc4b2a76b9719d911017c592");
    }
}
