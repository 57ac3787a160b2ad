//! The `jti` replay cache: a token's id is remembered until the token expires (plus the leeway), so
//! the same token is accepted once.
//!
//! [`ReplayStore`] is where ids are remembered. One instance keeps them in memory
//! ([`MemoryReplayCache`]); several instances share one store (the PostgreSQL store in
//! `feedback_store` implements this trait, so `auth` knows no database). A store that cannot be
//! reached refuses the token (fail closed): accepting it would let a replay through unseen.
//!
//! The memory cache is bounded by a count. When the cache is full of ids whose tokens are still valid, new
//! tokens are refused: forgetting a live id would let its token be replayed, and growing without
//! bound would let a flood of valid tokens exhaust memory. Refusing is loud (401 and a warning) and
//! ends by itself as tokens expire.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

use super::AuthError;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the `jti`s of accepted tokens are remembered.
pub trait ReplayStore: Send + Sync {
    /// Remembers `jti` of `issuer` until `forget_after` (unix seconds) and accepts it, or refuses an
    /// id remembered before and still alive at `now` ([`AuthError::Replayed`]). A store that cannot
    /// answer refuses with [`AuthError::ReplayStoreUnavailable`] or [`AuthError::ReplayCacheFull`].
    fn remember<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        forget_after: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<(), AuthError>>;
}

/// The replay cache of a single instance, in memory.
pub struct MemoryReplayCache {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// (issuer, jti) → the instant (unix seconds) after which the entry may be forgotten.
    seen: HashMap<(String, String), i64>,
    /// Sweeping a full cache costs a pass over it: at most once per second.
    last_sweep: i64,
}

impl MemoryReplayCache {
    pub fn new(capacity: usize) -> MemoryReplayCache {
        MemoryReplayCache { capacity, state: Mutex::new(State::default()) }
    }

    /// Remembers `jti` of `issuer` until `forget_after`; refuses an id already remembered.
    fn remember_now(&self, issuer: &str, jti: &str, forget_after: i64, now: i64) -> Result<(), AuthError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (issuer.to_owned(), jti.to_owned());
        if state.seen.get(&key).is_some_and(|until| *until >= now) {
            return Err(AuthError::Replayed);
        }
        if state.seen.len() >= self.capacity && state.last_sweep != now {
            state.last_sweep = now;
            state.seen.retain(|_, until| *until >= now);
        }
        if state.seen.len() >= self.capacity && !state.seen.contains_key(&key) {
            tracing::warn!(capacity = self.capacity, "the jti replay cache is full; refusing tokens until some expire");
            return Err(AuthError::ReplayCacheFull);
        }
        state.seen.insert(key, forget_after);
        Ok(())
    }
}

impl ReplayStore for MemoryReplayCache {
    fn remember<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        forget_after: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<(), AuthError>> {
        let result = self.remember_now(issuer, jti, forget_after, now);
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_accepted_once_while_its_token_lives() {
        let cache = MemoryReplayCache::new(10);
        cache.remember_now("https://ehr", "a", 100, 50).unwrap();
        assert!(matches!(cache.remember_now("https://ehr", "a", 100, 60), Err(AuthError::Replayed)));
        // Ids are per issuer.
        cache.remember_now("https://other", "a", 100, 60).unwrap();
        // Once the token is dead the id may come back (the token itself is refused as expired).
        cache.remember_now("https://ehr", "a", 200, 101).unwrap();
    }

    #[test]
    fn a_full_cache_forgets_dead_ids_and_refuses_when_all_are_alive() {
        let cache = MemoryReplayCache::new(2);
        cache.remember_now("i", "a", 10, 0).unwrap();
        cache.remember_now("i", "b", 100, 0).unwrap();
        assert!(matches!(cache.remember_now("i", "c", 100, 5), Err(AuthError::ReplayCacheFull)));
        // At 11, `a` is dead and makes room.
        cache.remember_now("i", "c", 100, 11).unwrap();
        assert!(matches!(cache.remember_now("i", "d", 100, 12), Err(AuthError::ReplayCacheFull)));
        assert!(matches!(cache.remember_now("i", "b", 100, 12), Err(AuthError::Replayed)));
    }
}
