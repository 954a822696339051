//! The handler abstraction: anything that turns an `Event<T>` into a future result.

use std::future::Future;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::{Error, Event};

/// A function handler. Implemented for closures by [`service_fn`].
pub trait Handler<T>: Send + Sync + 'static {
    type Response: Serialize + Send + 'static;

    fn call(&self, event: Event<T>) -> BoxFuture<'static, Result<Self::Response, Error>>;
}

/// Wraps an async function or closure as a [`Handler`].
pub struct ServiceFn<F>(F);

/// Turns `async fn(Event<T>) -> Result<R, Error>` into a handler.
pub fn service_fn<F>(f: F) -> ServiceFn<F> {
    ServiceFn(f)
}

impl<F, Fut, T, R> Handler<T> for ServiceFn<F>
where
    F: Fn(Event<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
    R: Serialize + Send + 'static,
{
    type Response = R;

    fn call(&self, event: Event<T>) -> BoxFuture<'static, Result<R, Error>> {
        Box::pin((self.0)(event))
    }
}
