//! Run-ahead: what was gathered at `order-select` is reused at `order-sign` for a short while, so
//! signing costs no FHIR round trip (Da Vinci CRD's "use earlier hooks to pre-cache").
//!
//! An entry belongs to one FHIR server, one patient and one access token (or none): it is never
//! reused across any of them. The token itself is never stored, only a keyed hash of it.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

use super::fhir::Resource;
use dvt_cds_core::cds_hooks::AccessToken;

/// How much is kept; a busy service forgets the oldest entries first.
#[derive(Debug, Clone, Copy)]
struct Limits {
    entries: usize,
    /// Resources over all entries (a resource costs about 2 KB held): a few very large records cannot
    /// fill the memory that many ordinary ones fit in.
    resources: usize,
    /// A record larger than this is not kept: reusing it saves less than keeping it costs.
    entry_resources: usize,
}

const LIMITS: Limits = Limits { entries: 256, resources: 200_000, entry_resources: 20_000 };

/// Whose data an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Owner {
    server: String,
    patient_id: String,
    /// A hash keyed per process, so it cannot be computed elsewhere; `None` for open servers.
    token: Option<u64>,
}

/// Each key's resources, as gathered (an empty list for a key known to be empty).
pub(super) type Gathered = HashMap<&'static str, Vec<Resource>>;

#[derive(Debug)]
pub(super) struct RunAhead {
    ttl: Duration,
    limits: Limits,
    hasher: RandomState,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Each owner's data, when it was stored, and its insertion number (oldest first out).
    by_owner: HashMap<Owner, (Instant, u64, Gathered)>,
    inserted: u64,
    /// Resources held by every entry together.
    resources: usize,
}

fn resource_count(gathered: &Gathered) -> usize {
    gathered.values().map(Vec::len).sum()
}

impl Entries {
    fn remove(&mut self, owner: &Owner) {
        if let Some((_, _, gathered)) = self.by_owner.remove(owner) {
            self.resources -= resource_count(&gathered);
        }
    }
}

impl RunAhead {
    pub(super) fn new(ttl: Duration) -> RunAhead {
        RunAhead::with_limits(ttl, LIMITS)
    }

    fn with_limits(ttl: Duration, limits: Limits) -> RunAhead {
        RunAhead { ttl, limits, hasher: RandomState::new(), entries: Mutex::new(Entries::default()) }
    }

    pub(super) fn owner(&self, server: &Url, patient_id: &str, token: Option<&AccessToken>) -> Owner {
        Owner {
            server: server.as_str().trim_end_matches('/').to_owned(),
            patient_id: patient_id.to_owned(),
            token: token.map(|token| self.hasher.hash_one(token.expose())),
        }
    }

    /// The fresh entry of `owner`, if any.
    pub(super) fn recall(&self, owner: &Owner) -> Option<Gathered> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .by_owner
            .get(owner)
            .filter(|(stored, _, _)| stored.elapsed() < self.ttl)
            .map(|(_, _, gathered)| gathered.clone())
    }

    pub(super) fn remember(&self, owner: Owner, gathered: Gathered) {
        let size = resource_count(&gathered);
        if self.ttl.is_zero() || gathered.is_empty() || size > self.limits.entry_resources {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ttl = self.ttl;
        let expired: Vec<Owner> = entries
            .by_owner
            .iter()
            .filter(|(_, (stored, _, _))| stored.elapsed() >= ttl)
            .map(|(owner, _)| owner.clone())
            .collect();
        for owner in &expired {
            entries.remove(owner);
        }
        entries.remove(&owner);
        while entries.by_owner.len() >= self.limits.entries || entries.resources + size > self.limits.resources {
            let oldest =
                entries.by_owner.iter().min_by_key(|(_, (_, number, _))| *number).map(|(owner, _)| owner.clone());
            match oldest {
                Some(oldest) => entries.remove(&oldest),
                None => break,
            }
        }
        entries.inserted += 1;
        let number = entries.inserted;
        entries.resources += size;
        entries.by_owner.insert(owner, (Instant::now(), number, gathered));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gathered() -> Gathered {
        HashMap::from([("conditions", vec![Resource { resource_type: "Condition".to_owned(), ..Resource::default() }])])
    }

    #[test]
    fn entries_belong_to_one_server_patient_and_token() {
        let cache = RunAhead::new(Duration::from_secs(60));
        let server = Url::parse("https://ehr.example/fhir").unwrap();
        let token = AccessToken::new("t1".to_owned());
        cache.remember(cache.owner(&server, "p1", Some(&token)), gathered());
        assert!(cache.recall(&cache.owner(&server, "p1", Some(&token))).is_some());
        assert!(
            cache.recall(&cache.owner(&Url::parse("https://ehr.example/fhir/").unwrap(), "p1", Some(&token))).is_some()
        );
        assert!(cache.recall(&cache.owner(&server, "p2", Some(&token))).is_none());
        assert!(cache.recall(&cache.owner(&server, "p1", Some(&AccessToken::new("t2".to_owned())))).is_none());
        assert!(cache.recall(&cache.owner(&server, "p1", None)).is_none());
        let other = Url::parse("https://other.example/fhir").unwrap();
        assert!(cache.recall(&cache.owner(&other, "p1", Some(&token))).is_none());
        assert!(!format!("{:?}", cache.owner(&server, "p1", Some(&token))).contains("t1"));
    }

    #[test]
    fn a_zero_ttl_keeps_nothing_and_the_size_is_bounded() {
        let off = RunAhead::new(Duration::ZERO);
        let server = Url::parse("https://ehr.example/fhir").unwrap();
        off.remember(off.owner(&server, "p1", None), gathered());
        assert!(off.recall(&off.owner(&server, "p1", None)).is_none());

        let cache = RunAhead::new(Duration::from_secs(60));
        for n in 0..LIMITS.entries + 10 {
            cache.remember(cache.owner(&server, &format!("p{n}"), None), gathered());
        }
        assert_eq!(cache.entries.lock().unwrap().by_owner.len(), LIMITS.entries);
        assert_eq!(cache.entries.lock().unwrap().resources, LIMITS.entries);
        assert!(cache.recall(&cache.owner(&server, &format!("p{}", LIMITS.entries + 9), None)).is_some());
        assert!(cache.recall(&cache.owner(&server, "p0", None)).is_none());
    }

    #[test]
    fn large_records_are_bounded_by_their_resources_not_only_their_count() {
        let sized = |n: usize| {
            let condition = Resource { resource_type: "Condition".to_owned(), ..Resource::default() };
            HashMap::from([("conditions", vec![condition; n])])
        };
        let limits = Limits { entries: 100, resources: 50, entry_resources: 10 };
        let cache = RunAhead::with_limits(Duration::from_secs(60), limits);
        let server = Url::parse("https://ehr.example/fhir").unwrap();
        // Too large to keep at all.
        cache.remember(cache.owner(&server, "huge", None), sized(11));
        assert!(cache.recall(&cache.owner(&server, "huge", None)).is_none());
        // Five of the largest kept ones fill the budget; the sixth pushes the oldest out.
        for n in 0..6 {
            cache.remember(cache.owner(&server, &format!("p{n}"), None), sized(10));
        }
        assert!(cache.recall(&cache.owner(&server, "p0", None)).is_none());
        assert!(cache.recall(&cache.owner(&server, "p1", None)).is_some());
        assert_eq!(cache.entries.lock().unwrap().resources, 50);
        // Storing an owner again replaces its entry and its count.
        cache.remember(cache.owner(&server, "p1", None), sized(1));
        assert_eq!(cache.entries.lock().unwrap().resources, 41);
    }
}
