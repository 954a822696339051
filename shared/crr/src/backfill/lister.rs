//! Listings read a page ahead: a task lists into a channel of one page, so the
//! next page is already on its way while the current one is being compared and
//! copied. Memory stays one or two pages, whatever the bucket's size.

use tokio::sync::mpsc;

use crate::error::Error;
use crate::object::{Listed, RESERVED_PREFIX};
use crate::store::{List, Store};

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
    /// Starts listing `bucket` with `store`; `page_size` keys per request.
    pub fn start(store: Store, bucket: String, range: Range, page_size: i32) -> Lister {
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            let mut token: Option<String> = None;
            loop {
                let list = List {
                    prefix: &range.prefix,
                    max_keys: Some(page_size),
                    start_after: if token.is_none() { range.after.as_deref() } else { None },
                    continuation: token.as_deref(),
                    ..List::default()
                };
                let page = match store.list(&bucket, list).await {
                    Ok(p) => p,
                    Err(f) => {
                        let error = Error::storage("listing", &bucket, &range.prefix, f);
                        let _ = tx.send(Err(error)).await;
                        return;
                    }
                };
                let mut past_end = false;
                let entries: Vec<Listed> = page
                    .objects
                    .into_iter()
                    .filter(|o| {
                        if range.until.as_deref().is_some_and(|u| o.key.as_str() > u) {
                            past_end = true;
                            return false;
                        }
                        !o.key.starts_with(RESERVED_PREFIX)
                    })
                    .collect();
                token = page.next;
                // Pages that filtered down to nothing are not sent: the channel
                // closing is what marks the end.
                if !entries.is_empty() && tx.send(Ok(entries)).await.is_err() {
                    return;
                }
                if past_end || token.is_none() {
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
