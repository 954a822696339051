//! Listings read a page ahead: a task lists into a channel of one page, so the
//! next page is already on its way while the current one is being compared and
//! copied. Memory stays one or two pages, whatever the bucket's size.

use tokio::sync::mpsc;

use super::march::Listed;
use crate::error::{Error, Failure};
use crate::object::{normalize_etag, RESERVED_PREFIX};

/// Where a listing starts and stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub prefix: String,
    /// List keys after this one (a checkpoint, or a shard's lower bound).
    pub after: Option<String>,
    /// Stop after this key (a shard's upper bound).
    pub until: Option<String>,
}

pub struct Lister {
    pages: mpsc::Receiver<Result<Vec<Listed>, Error>>,
    task: tokio::task::JoinHandle<()>,
}

impl Lister {
    /// Starts listing `bucket` with `client`; `page_size` keys per request.
    pub fn start(client: aws_sdk_s3::Client, bucket: String, range: Range, page_size: i32) -> Lister {
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            let mut token: Option<String> = None;
            loop {
                let result = client
                    .list_objects_v2()
                    .bucket(&bucket)
                    .prefix(&range.prefix)
                    .max_keys(page_size)
                    .set_start_after(if token.is_none() { range.after.clone() } else { None })
                    .set_continuation_token(token.take())
                    .send()
                    .await;
                let page = match result {
                    Ok(p) => p,
                    Err(e) => {
                        let error = Error::storage("listing", &bucket, &range.prefix, Failure::from_sdk(&e));
                        let _ = tx.send(Err(error)).await;
                        return;
                    }
                };
                let mut past_end = false;
                let entries: Vec<Listed> = page
                    .contents()
                    .iter()
                    .filter_map(|o| {
                        let key = o.key()?;
                        if range.until.as_deref().is_some_and(|u| key > u) {
                            past_end = true;
                            return None;
                        }
                        if key.starts_with(RESERVED_PREFIX) {
                            return None;
                        }
                        Some(Listed {
                            key: key.to_owned(),
                            size: o.size().unwrap_or(0).max(0) as u64,
                            etag: normalize_etag(o.e_tag().unwrap_or_default()),
                            modified: o.last_modified().map(|t| t.secs()),
                        })
                    })
                    .collect();
                let more = !past_end && page.is_truncated() == Some(true);
                token = page.next_continuation_token().map(str::to_owned);
                // Pages that filtered down to nothing are not sent: the channel
                // closing is what marks the end.
                if !entries.is_empty() && tx.send(Ok(entries)).await.is_err() {
                    return;
                }
                if !more || token.is_none() {
                    return;
                }
            }
        });
        Lister { pages: rx, task }
    }

    /// The next page (never empty), or `None` once the listing is over.
    pub async fn next(&mut self) -> Result<Option<Vec<Listed>>, Error> {
        self.pages.recv().await.transpose()
    }
}

impl Drop for Lister {
    fn drop(&mut self) {
        self.task.abort();
    }
}
