//! How many hook calls are evaluated at once. Each evaluation holds its parsed record in memory and a
//! blocking thread (CPU, and the FHIR fallback's waits); without a limit, a burst of large bodies
//! takes every thread and as much memory as they need. Up to `limit` run; up to `limit` more wait for
//! one of them to finish (within the request timeout); beyond that the call is answered 503 at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// Four per core: evaluations also wait on FHIR servers, and a waiting one holds a slot.
pub fn default_max_evaluations() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get).saturating_mul(4)
}

pub(super) struct Evaluations {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Held for the whole evaluation, on its blocking thread: an evaluation whose client has given up
/// still counts until it stops.
pub(super) struct EvaluationSlot(#[expect(dead_code, reason = "held for its drop")] OwnedSemaphorePermit);

impl Evaluations {
    pub(super) fn new(limit: usize) -> Evaluations {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        Evaluations { running: Arc::new(Semaphore::new(limit)), waiting: AtomicUsize::new(0), max_waiting: limit }
    }

    /// A slot now, or once one is free while fewer than the limit are waiting; otherwise [`ApiError::Busy`].
    /// A caller that gives up (the request timeout) leaves the queue as its future is dropped.
    pub(super) async fn slot(&self) -> Result<EvaluationSlot, ApiError> {
        if let Ok(permit) = Arc::clone(&self.running).try_acquire_owned() {
            return Ok(EvaluationSlot(permit));
        }
        let _waiting = Waiting::join(&self.waiting, self.max_waiting).ok_or(ApiError::Busy)?;
        let permit = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal("the evaluation slots were closed".to_owned()))?;
        Ok(EvaluationSlot(permit))
    }
}

/// One place in the queue, given back when dropped (a permit obtained, or the caller gone).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn join(waiting: &'a AtomicUsize, max: usize) -> Option<Waiting<'a>> {
        waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| (now < max).then_some(now + 1)).ok()?;
        Some(Waiting(waiting))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_limit_runs_as_many_more_wait_and_the_next_is_refused() {
        let evaluations = Arc::new(Evaluations::new(1));
        let running = evaluations.slot().await.unwrap();
        let queued = tokio::spawn({
            let evaluations = Arc::clone(&evaluations);
            async move { evaluations.slot().await.map(|_| ()) }
        });
        while evaluations.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(evaluations.slot().await, Err(ApiError::Busy)));
        drop(running);
        queued.await.unwrap().unwrap();
        assert_eq!(evaluations.waiting.load(Ordering::Acquire), 0);
        evaluations.slot().await.unwrap();
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_leaves_the_queue() {
        let evaluations = Evaluations::new(1);
        let _running = evaluations.slot().await.unwrap();
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(10), evaluations.slot()).await;
        assert!(gave_up.is_err());
        assert_eq!(evaluations.waiting.load(Ordering::Acquire), 0);
    }
}
