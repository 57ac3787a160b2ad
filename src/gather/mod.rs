//! Gathering: turns the request's prefetch (and, when keys are missing, the EHR's FHIR server) into a
//! [`PatientRecord`], then into `Evidence`. The only layer that talks to FHIR servers or reads FHIR JSON.
//!
//! Prefetch is a hint, the FHIR server the truth: for each key the service declares, the request
//! holds a resource or Bundle (use it), `null` (known empty: do not re-query), an OperationOutcome
//! (the client failed: query), or nothing (query). Queries go to the request's `fhirServer`, all at
//! once under one deadline, never off its origin; at `order-sign` they are answered by what
//! `order-select` gathered moments before (run-ahead). Data about another patient, or from a server
//! that does not speak FHIR R4, is refused.

mod client;
mod demo;
mod demo_patients;
mod extract;
pub mod fhir;
mod keys;
mod orders;
mod record;
mod run_ahead;
mod tally;
mod version;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::value::RawValue;
use tokio::task::JoinSet;
use url::Url;

use dvt_cds_core::cds_hooks::{AccessToken, Hook, HookRequest, PrefetchTemplate, ServiceDefinition};
use dvt_cds_core::evidence::{Unobtained, Unusable};

pub use client::GatherSettings;
pub use demo::{DEMO_PATIENTS, DemoPatient, load_demo};
pub use extract::{extract, order_procedures, order_reason_in};
pub use keys::{KEYS, KeySpec, check_discovery};
pub use orders::{DraftOrder, draft_orders};
pub use record::{KeySource, KeyState, PatientRecord};
pub use tally::QueryTally;

use record::is_about_patient;

use client::{Budget, Failure, Fetched, Query};
use run_ahead::{Gathered, RunAhead};
use version::{Verdict, Versions};

#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    /// Data essential to a decision could not be obtained (412): each prefetch key, and why.
    #[error("could not obtain {}", describe_missing(.0))]
    DataUnavailable(Vec<(String, Unobtained)>),
    /// The prefetch holds data about another patient (400).
    #[error("prefetch `{key}` holds `{reference}`, which is not about the patient in context")]
    WrongPatient { key: String, reference: String },
    /// The discovery document declares a prefetch key gathering cannot use (start-up only).
    #[error("{0}")]
    Discovery(String),
    /// The HTTP client could not be set up (start-up only).
    #[error("cannot set up the FHIR client: {0}")]
    Client(String),
    /// `dvt-cds demo load` could not upload a bundle.
    #[error("{0}")]
    Demo(String),
}

/// The keys only: the reasons are worded for clinicians by the core's cards, which `pipeline` asks.
fn describe_missing(keys: &[(String, Unobtained)]) -> String {
    keys.iter().map(|(key, _)| format!("prefetch `{key}`")).collect::<Vec<_>>().join(", ")
}

/// What gathering keeps between requests: the HTTP client, the FHIR release of each server, the
/// run-ahead data, and the limits. Built once at start-up.
#[derive(Debug)]
pub struct Gatherer {
    /// `None` only when `Default` could not build one; every fetch then reports it.
    client: Option<reqwest::Client>,
    settings: GatherSettings,
    versions: Versions,
    run_ahead: RunAhead,
    queries: Arc<QueryTally>,
}

impl Gatherer {
    pub fn new(settings: GatherSettings) -> Result<Gatherer, GatherError> {
        let client = client::build_client().map_err(|error| GatherError::Client(error.to_string()))?;
        Ok(Gatherer::with_client(Some(client), settings))
    }

    fn with_client(client: Option<reqwest::Client>, settings: GatherSettings) -> Gatherer {
        Gatherer {
            client,
            settings,
            versions: Versions::default(),
            run_ahead: RunAhead::new(settings.run_ahead_ttl),
            queries: Arc::default(),
        }
    }

    /// How the FHIR queries made so far ended, by outcome.
    pub fn query_tally(&self) -> Arc<QueryTally> {
        Arc::clone(&self.queries)
    }
}

impl Default for Gatherer {
    fn default() -> Gatherer {
        let client = client::build_client()
            .inspect_err(|error| tracing::error!(error = %error, "cannot set up the FHIR client"))
            .ok();
        Gatherer::with_client(client, GatherSettings::default())
    }
}

/// One declared key on its way through gathering.
struct Slot {
    spec: &'static KeySpec,
    template: PrefetchTemplate,
    /// `None` while it still has to be fetched.
    state: Option<KeyState>,
    resources: Vec<fhir::Resource>,
    /// What was wrong with its prefetch value, if it had one that could not be used.
    prefetch_problem: Option<Failure>,
}

/// Gathers what `service` declares for the patient of `request`: the prefetch where it answers a
/// key, the run-ahead data or the FHIR server where it does not.
pub async fn gather(
    gatherer: &Gatherer,
    service: &ServiceDefinition,
    request: &HookRequest,
) -> Result<PatientRecord, GatherError> {
    let patient_id = &request.context().patient_id;
    let mut record = PatientRecord::new(patient_id);
    let mut slots = Vec::new();
    for (key, template) in service.prefetch() {
        let Some(spec) = keys::spec(key) else { continue };
        let mut slot =
            Slot { spec, template: template.clone(), state: None, resources: Vec::new(), prefetch_problem: None };
        if let Some(raw) = request.prefetch().get(key.as_str()) {
            read_prefetch(&mut slot, raw, &mut record)?;
        }
        slots.push(slot);
    }

    let server = request.fhir_server();
    let token = request.fhir_authorization().map(|authorization| &authorization.access_token);
    let owner = server.map(|server| gatherer.run_ahead.owner(server, patient_id, token));
    if let (Hook::OrderSign, Some(owner)) = (request.hook(), &owner) {
        reuse_run_ahead(gatherer, owner, &mut slots);
    }
    match server {
        Some(server) => fetch_missing(gatherer, server, token, request, &mut slots, &mut record).await,
        None => {
            for slot in slots.iter_mut().filter(|slot| slot.state.is_none()) {
                slot.state = Some(unavailable(slot.prefetch_problem.as_ref().unwrap_or(&Failure::NoServer)));
            }
        }
    }
    if let (Hook::OrderSelect, Some(owner)) = (request.hook(), owner) {
        gatherer.run_ahead.remember(owner, gathered(&slots));
    }

    let mut missing_essential = Vec::new();
    let mut parts = Vec::with_capacity(slots.len());
    for slot in slots {
        let state = slot.state.unwrap_or_else(|| unavailable(&Failure::NoServer));
        if let (KeyState::Unavailable { reason }, true) = (&state, slot.spec.essential) {
            missing_essential.push((slot.spec.key.to_owned(), reason.clone()));
        }
        parts.push(slot.resources);
        record.sources.push(KeySource { spec: slot.spec, state });
    }
    record.resources = concatenate(parts);
    if !missing_essential.is_empty() {
        return Err(GatherError::DataUnavailable(missing_essential));
    }
    Ok(record)
}

/// The keys' resources in key order, built around the largest key's list instead of copying it: a
/// Bundle of thousands of resources is held once, not twice.
fn concatenate(mut parts: Vec<Vec<fhir::Resource>>) -> Vec<fhir::Resource> {
    let Some(largest) = parts.iter().enumerate().max_by_key(|(_, part)| part.len()).map(|(index, _)| index) else {
        return Vec::new();
    };
    let after = parts.split_off(largest + 1);
    let mut resources = parts.pop().unwrap_or_default();
    resources.splice(0..0, parts.into_iter().flatten());
    resources.extend(after.into_iter().flatten());
    resources
}

fn unavailable(failure: &Failure) -> KeyState {
    KeyState::Unavailable { reason: failure.unobtained() }
}

/// At `order-sign`: keys the prefetch did not answer come from the `order-select` gathering.
fn reuse_run_ahead(gatherer: &Gatherer, owner: &run_ahead::Owner, slots: &mut [Slot]) {
    let Some(mut earlier) = gatherer.run_ahead.recall(owner) else { return };
    let mut reused = 0_usize;
    for slot in slots.iter_mut().filter(|slot| slot.state.is_none()) {
        if let Some(resources) = earlier.remove(slot.spec.key) {
            slot.resources = resources;
            slot.state = Some(KeyState::Fetched { reused: true });
            reused += 1;
        }
    }
    tracing::debug!(keys = reused, "reused data gathered at order-select");
}

/// What `order-select` leaves for `order-sign`: every key obtained, from the prefetch or the server.
fn gathered(slots: &[Slot]) -> Gathered {
    slots
        .iter()
        .filter(|slot| {
            matches!(
                slot.state,
                Some(KeyState::Prefetched | KeyState::KnownEmpty | KeyState::Fetched { reused: false })
            )
        })
        .map(|slot| (slot.spec.key, slot.resources.clone()))
        .collect::<HashMap<_, _>>()
}

/// Fetches every unanswered key from `server` at once, with the server's release check alongside,
/// all under one deadline. The release check covers the prefetch too: a client's prefetch comes from
/// its `fhirServer`, so data from a server that is not R4 is refused whichever way it came.
async fn fetch_missing(
    gatherer: &Gatherer,
    server: &Url,
    token: Option<&AccessToken>,
    request: &HookRequest,
    slots: &mut [Slot],
    record: &mut PatientRecord,
) {
    let remembered = gatherer.versions.remembered(server);
    if let Some(refusal) = remembered.as_ref().and_then(Verdict::refusal) {
        refuse_all(slots, &refusal);
        return;
    }
    let Some(client) = &gatherer.client else {
        for slot in slots.iter_mut().filter(|slot| slot.state.is_none()) {
            slot.state = Some(unavailable(&Failure::NoClient));
        }
        return;
    };

    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + gatherer.settings.deadline;
    let shared = Arc::new(Shared {
        client: client.clone(),
        server: server.clone(),
        token: token.cloned(),
        settings: gatherer.settings,
        budget: Budget::new(gatherer.settings.max_total_bytes),
        patient_id: request.context().patient_id.clone(),
    });
    let mut tasks = JoinSet::new();
    for (index, slot) in slots.iter_mut().enumerate().filter(|(_, slot)| slot.state.is_none()) {
        let Some(relative) = slot.template.render(request.context()) else {
            slot.state = Some(unavailable(&Failure::NoTokenValue));
            continue;
        };
        let shared = Arc::clone(&shared);
        let expected_type = slot.spec.resource_type;
        tasks.spawn(async move {
            let fetching = async { shared.query().fetch(&relative, expected_type, &shared.patient_id).await };
            let result = tokio::time::timeout_at(deadline, fetching)
                .await
                .unwrap_or(Err(Failure::Deadline(shared.settings.deadline)));
            (index, result)
        });
    }
    let check_version = async {
        if let Some(remembered) = remembered {
            return remembered;
        }
        let shared = Arc::clone(&shared);
        let checking = async { gatherer.versions.check(&shared.query()).await };
        match tokio::time::timeout_at(deadline, checking).await {
            Ok(verdict) => verdict,
            Err(_) => {
                gatherer.versions.remember(server, Verdict::Unknown);
                Verdict::Unknown
            }
        }
    };
    let collect = async {
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(result) => results.push(result),
                Err(error) => tracing::error!(error = %error, "a FHIR query task failed"),
            }
        }
        results
    };
    let (verdict, results) = tokio::join!(check_version, collect);
    if let Some(refusal) = verdict.refusal() {
        tracing::info!(failure = refusal.kind(), "refused the data of a FHIR server that is not R4");
        for _ in &results {
            gatherer.queries.count(refusal.kind());
        }
        refuse_all(slots, &refusal);
        return;
    }

    for (index, result) in results {
        gatherer.queries.count(result.as_ref().map_or_else(Failure::kind, |_| "fetched"));
        let Some(slot) = slots.get_mut(index) else { continue };
        slot.state = Some(match result {
            Ok(Fetched { resources, unreadable, pages, bytes }) => {
                tracing::debug!(key = slot.spec.key, pages, bytes, resources = resources.len(), "fetched");
                match keys::usable(slot.spec, resources, unreadable.len()) {
                    Ok(resources) => {
                        slot.resources = resources;
                        record.unreadable.extend(unreadable);
                        KeyState::Fetched { reused: false }
                    }
                    Err(problem) => {
                        tracing::info!(
                            key = slot.spec.key,
                            failure = "unusable-answer",
                            "could not use a prefetch key"
                        );
                        unavailable(&Failure::Unusable(problem))
                    }
                }
            }
            Err(failure) => {
                tracing::info!(key = slot.spec.key, failure = failure.kind(), "could not fetch a prefetch key");
                unavailable(&failure)
            }
        });
    }
    // A task that failed to run leaves its key unanswered.
    for slot in slots.iter_mut().filter(|slot| slot.state.is_none()) {
        slot.state = Some(unavailable(&Failure::Deadline(gatherer.settings.deadline)));
    }
    tracing::debug!(
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "fetched from the FHIR server"
    );
}

/// Every key, however it was answered, is refused for `failure`.
fn refuse_all(slots: &mut [Slot], failure: &Failure) {
    for slot in slots {
        slot.resources.clear();
        slot.state = Some(unavailable(failure));
    }
}

/// What the concurrent queries of one request share.
struct Shared {
    client: reqwest::Client,
    server: Url,
    token: Option<AccessToken>,
    settings: GatherSettings,
    budget: Arc<Budget>,
    patient_id: String,
}

impl Shared {
    fn query(&self) -> Query<'_> {
        Query {
            client: &self.client,
            server: &self.server,
            token: self.token.as_ref(),
            settings: &self.settings,
            budget: &self.budget,
        }
    }
}

/// Reads one prefetch value into `slot`: present data and `null` answer the key; an
/// OperationOutcome (the client failed) or a value `keys::usable` refuses leave it to be fetched.
fn read_prefetch(slot: &mut Slot, raw: &RawValue, record: &mut PatientRecord) -> Result<(), GatherError> {
    if raw.get().trim() == "null" {
        slot.state = Some(KeyState::KnownEmpty);
        return Ok(());
    }
    let Ok(document) = fhir::parse_document(raw.get()) else {
        slot.prefetch_problem = Some(Failure::PrefetchUnreadable(Unusable::NotFhir));
        return Ok(());
    };
    if document.top.resource_type == "OperationOutcome" {
        slot.prefetch_problem = Some(Failure::PrefetchError);
        return Ok(());
    }
    let resources = if document.top.resource_type == "Bundle" { document.resources } else { vec![document.top] };
    let resources = match keys::usable(slot.spec, resources, document.unreadable.len()) {
        Ok(resources) => resources,
        Err(problem) => {
            slot.prefetch_problem = Some(Failure::PrefetchUnreadable(problem));
            return Ok(());
        }
    };
    for resource in &resources {
        if !is_about_patient(resource, &record.patient_id) {
            return Err(GatherError::WrongPatient { key: slot.spec.key.to_owned(), reference: resource.reference() });
        }
    }
    slot.resources = resources;
    record.unreadable.extend(document.unreadable);
    slot.state = Some(KeyState::Prefetched);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_resources_are_joined_in_key_order_around_the_largest() {
        let resources = |ids: &[&str]| -> Vec<fhir::Resource> {
            ids.iter().map(|id| fhir::Resource { id: Some((*id).to_owned()), ..fhir::Resource::default() }).collect()
        };
        let ids = |resources: Vec<fhir::Resource>| -> Vec<String> {
            resources.into_iter().filter_map(|resource| resource.id).collect()
        };
        let parts = vec![resources(&["a"]), resources(&["b", "c", "d"]), resources(&[]), resources(&["e"])];
        assert_eq!(ids(concatenate(parts)), ["a", "b", "c", "d", "e"]);
        assert_eq!(ids(concatenate(vec![resources(&["x"]), resources(&["y"])])), ["x", "y"]);
        assert!(concatenate(Vec::new()).is_empty());
    }
}
