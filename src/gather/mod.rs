//! Gathering: turns the request's prefetch (and, when keys are missing, the EHR's FHIR server) into
//! `Evidence`. The only layer that talks to FHIR servers or reads FHIR JSON.
