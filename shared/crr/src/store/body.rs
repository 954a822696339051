//! Object bytes in flight: one streamed body type whichever dialect produced it,
//! and a pass-through that computes a body's MD5, length and (when asked) CRC-64 on
//! the way, so a copy is verified without ever holding the object.

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use md5::Digest as _;

use crate::crc64::Crc64;
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

    /// Fails the stream if no bytes arrive for `idle`: a stalled server must not hold
    /// a copy (and its invocation) until the platform's deadline.
    pub(crate) fn with_idle_timeout(self, idle: Duration) -> Body {
        let sleep = Box::pin(tokio::time::sleep(idle));
        Body(BoxBody::new(IdleTimeout { inner: self.0, idle, sleep }))
    }
}

pin_project_lite::pin_project! {
    struct IdleTimeout {
        #[pin]
        inner: BoxBody<Bytes, BoxError>,
        idle: Duration,
        sleep: Pin<Box<tokio::time::Sleep>>,
    }
}

impl http_body::Body for IdleTimeout {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + *this.idle;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(frame)
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                    "the server sent no bytes for {} s; the transfer was given up",
                    this.idle.as_secs()
                )
                .into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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
    crc64: Option<Crc64>,
    bytes: u64,
}

/// What went through a [`hashing`] body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    pub md5: [u8; 16],
    pub bytes: u64,
    /// CRC-64/ECMA, when it was asked for.
    pub crc64: Option<u64>,
}

/// Reads the digest of what went through a [`hashing`] body.
#[derive(Clone)]
pub struct StreamDigest(Arc<Mutex<Tally>>);

impl StreamDigest {
    /// The digest of everything read so far.
    pub fn finish(&self) -> Digest {
        let tally = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Digest { md5: tally.md5.clone().finalize().into(), bytes: tally.bytes, crc64: tally.crc64.map(|c| c.finish()) }
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
                if let Some(crc) = &mut tally.crc64 {
                    crc.update(data);
                }
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

/// Wraps `body` so that what it yields is hashed on the way through: MD5 and length
/// always, CRC-64 too with `crc64`.
pub fn hashing(body: Body, crc64: bool) -> (Body, StreamDigest) {
    let tally = Arc::new(Mutex::new(Tally { crc64: crc64.then(Crc64::new), ..Tally::default() }));
    let hashed = Hashing { inner: body.0, tally: tally.clone() };
    (Body(BoxBody::new(hashed)), StreamDigest(tally))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn digests_what_streams_through() {
        let (body, digest) = hashing(Body::from(Bytes::from_static(b"hello")), false);
        let bytes = body.collect().await.unwrap();
        assert_eq!(&bytes[..], b"hello");
        let d = digest.finish();
        assert_eq!(d.bytes, 5);
        assert_eq!(crate::object::hex(&d.md5), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(d.crc64, None, "not asked for");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_stream_fails_after_the_idle_time() {
        let (_sender, pending) = tokio::sync::oneshot::channel::<()>();
        let stalled = http_body_util::StreamBody::new(futures::stream::once(async move {
            let _ = pending.await;
            Ok::<_, BoxError>(Frame::data(Bytes::new()))
        }));
        let err = Body::new(stalled).with_idle_timeout(Duration::from_secs(30)).collect().await.unwrap_err();
        assert!(err.message.contains("no bytes for 30 s"), "{}", err.message);
    }

    #[tokio::test]
    async fn computes_crc64_alongside_when_asked() {
        let (body, digest) = hashing(Body::from(Bytes::from_static(b"123456789")), true);
        body.collect().await.unwrap();
        assert_eq!(digest.finish().crc64, Some(0x995D_C9BB_DF19_39FA));
    }
}
