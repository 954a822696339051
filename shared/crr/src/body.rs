//! A request body that passes a streamed response body through while computing
//! its MD5 and length, so a copy can be verified without buffering the object.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use md5::Digest;

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
        let tally = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (tally.md5.clone().finalize().into(), tally.bytes)
    }
}

pin_project_lite::pin_project! {
    struct Hashing {
        #[pin]
        inner: SdkBody,
        tally: Arc<Mutex<Tally>>,
    }
}

impl Body for Hashing {
    type Data = Bytes;
    type Error = <SdkBody as Body>::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let mut tally = this.tally.lock().unwrap_or_else(|p| p.into_inner());
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

/// Wraps `stream` so that what it yields is hashed on the way through.
pub fn hashing(stream: ByteStream) -> (ByteStream, StreamDigest) {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let body = Hashing { inner: stream.into_inner(), tally: tally.clone() };
    (ByteStream::new(SdkBody::from_body_1_x(body)), StreamDigest(tally))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn digests_what_streams_through() {
        let (stream, digest) = hashing(ByteStream::from_static(b"hello"));
        let bytes = stream.collect().await.unwrap().into_bytes();
        assert_eq!(&bytes[..], b"hello");
        let (md5, n) = digest.finish();
        assert_eq!(n, 5);
        assert_eq!(crate::object::hex(&md5), "5d41402abc4b2a76b9719d911017c592");
    }
}
