//! Running several flows at once inside one conversation, with no executor: [`join_all`] polls every
//! unfinished future each time the batch is polled (the waker is a no-op; a response or a [`Signal`]
//! is what makes a future ready). Batches are bounded by the host, so polling all is cheap enough.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::Exchange;

pub(super) type Task<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

pub(super) struct JoinAll<'a, T> {
    futures: Vec<Option<Task<'a, T>>>,
    results: Vec<Option<T>>,
}

/// All `futures` to completion, their outputs in the same order.
pub(super) fn join_all<'a, T>(futures: Vec<Task<'a, T>>) -> JoinAll<'a, T> {
    let results = futures.iter().map(|_| None).collect();
    JoinAll { futures: futures.into_iter().map(Some).collect(), results }
}

// The outputs are stored by value and never pinned; the futures are pinned in their boxes.
impl<T> Unpin for JoinAll<'_, T> {}

impl<T> Future for JoinAll<'_, T> {
    type Output = Vec<T>;
    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Vec<T>> {
        let this = self.get_mut();
        let mut pending = false;
        for (slot, result) in this.futures.iter_mut().zip(this.results.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(context) {
                    Poll::Ready(value) => {
                        *result = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(this.results.iter_mut().filter_map(Option::take).collect())
    }
}

/// A flag one task raises and others wait for (a round of the batch finished).
#[derive(Clone, Default)]
pub(super) struct Signal(Rc<Cell<bool>>);

impl Signal {
    pub(super) fn raise(&self, exchange: &Exchange) {
        self.0.set(true);
        exchange.signal();
    }

    pub(super) fn wait(&self) -> Wait {
        Wait(self.0.clone())
    }
}

pub(super) struct Wait(Rc<Cell<bool>>);

impl Future for Wait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.get() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
