//! Ids as types. Each kind of id has its own type, so a procedure id cannot be passed where a flag id is
//! meant, and the ids the code itself names are constants, so a typo in one is a compile error.
//!
//! Procedures and safety flags are defined by the knowledge files, so their ids are open sets: the loader
//! checks at start-up that every constant here names a row that exists. Services are defined by
//! `cds-services.json`, hook instances by the caller; both are parsed at the edge.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A procedure of `knowledge/procedures.toml`: `cdt-pmt`, `us-duplex`, ...
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcedureId(Cow<'static, str>);

impl ProcedureId {
    /// Catheter-directed thrombolysis or pharmacomechanical thrombectomy.
    pub const CDT_PMT: ProcedureId = ProcedureId(Cow::Borrowed("cdt-pmt"));
    pub const SURGICAL_THROMBECTOMY: ProcedureId = ProcedureId(Cow::Borrowed("surgical-thrombectomy"));
    pub const IVC_FILTER_RETRIEVABLE: ProcedureId = ProcedureId(Cow::Borrowed("ivc-filter-retrievable"));
    /// Venous duplex ultrasound: its LOINC codes are also the study results the classifier reads.
    pub const US_DUPLEX: ProcedureId = ProcedureId(Cow::Borrowed("us-duplex"));

    /// Every procedure the code names; the knowledge loader refuses files that lack one.
    pub const NAMED_IN_CODE: [ProcedureId; 4] = [
        ProcedureId::CDT_PMT,
        ProcedureId::SURGICAL_THROMBECTOMY,
        ProcedureId::IVC_FILTER_RETRIEVABLE,
        ProcedureId::US_DUPLEX,
    ];
}

/// A safety flag of `knowledge/safety.toml`: `lysis-absolute-active-bleeding`, ...
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlagId(Cow<'static, str>);

/// A CDS service of `cds-services.json`: `dvt-order-select`, ...
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(Cow<'static, str>);

/// The caller's `hookInstance`: one call of a hook. CDS Hooks 2.0 says it is a UUID, but the caller writes
/// it, so it is only checked to be short and printable (it seeds card and suggestion ids, and the log may
/// show it), then compared and hashed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HookInstance(String);

/// Why a `hookInstance` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadHookInstance {
    Blank,
    /// Longer than `HookInstance::MAX_LEN` bytes, or holding a control character.
    Unprintable,
}

impl HookInstance {
    /// A UUID's 36 characters with room for braces or a `urn:uuid:` prefix.
    pub const MAX_LEN: usize = 128;

    pub fn parse(value: String) -> Result<HookInstance, BadHookInstance> {
        if value.trim().is_empty() {
            Err(BadHookInstance::Blank)
        } else if value.len() > HookInstance::MAX_LEN || value.chars().any(char::is_control) {
            Err(BadHookInstance::Unprintable)
        } else {
            Ok(HookInstance(value))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text ids: written and read as plain strings, shown as themselves.
macro_rules! text_id {
    ($($id:ident),+) => {$(
        impl $id {
            /// An id read from a file or a request (the loader or the parser checks it is known).
            pub fn new(value: impl Into<String>) -> $id {
                $id(Cow::Owned(value.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $id {
            fn eq(&self, other: &str) -> bool {
                *self.0 == *other
            }
        }

        impl PartialEq<&str> for $id {
            fn eq(&self, other: &&str) -> bool {
                *self.0 == **other
            }
        }

        impl Serialize for $id {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $id {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$id, D::Error> {
                String::deserialize(deserializer).map($id::new)
            }
        }
    )+};
}

text_id!(ProcedureId, FlagId, ServiceId);

impl fmt::Display for HookInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Closed sets of ids (an enum with `ALL` and `id()`), read from the knowledge files by the same `id()` the
/// responses write, so a file and the code cannot spell one differently. An unknown id is a deserialization
/// error, which `toml` reports with its line and column.
macro_rules! deserialize_by_id {
    ($($kind:ty: $what:literal),+ $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $kind {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$kind, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                <$kind>::ALL.into_iter().find(|known| known.id() == text).ok_or_else(|| {
                    let known: Vec<&str> = <$kind>::ALL.iter().map(|known| known.id()).collect();
                    serde::de::Error::custom(format!(
                        concat!("unknown ", $what, " `{}`; known: {}"),
                        text,
                        known.join(", ")
                    ))
                })
            }
        }
    )+};
}

pub(crate) use deserialize_by_id;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_read_from_text_equals_the_constant_that_names_it() {
        let read: ProcedureId = serde_json::from_str("\"cdt-pmt\"").unwrap();
        assert_eq!(read, ProcedureId::CDT_PMT);
        assert_eq!(serde_json::to_string(&ProcedureId::US_DUPLEX).unwrap(), "\"us-duplex\"");
        let mut set = std::collections::HashSet::new();
        set.insert(ProcedureId::new("us-duplex"));
        assert!(set.contains(&ProcedureId::US_DUPLEX), "an owned and a constant id hash alike");
    }

    #[test]
    fn a_hook_instance_is_short_and_printable() {
        assert_eq!(HookInstance::parse(" ".to_owned()), Err(BadHookInstance::Blank));
        assert_eq!(HookInstance::parse("a\nb".to_owned()), Err(BadHookInstance::Unprintable));
        assert_eq!(HookInstance::parse("x".repeat(129)), Err(BadHookInstance::Unprintable));
        let uuid = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea";
        assert_eq!(HookInstance::parse(uuid.to_owned()).map(|id| id.as_str().to_owned()), Ok(uuid.to_owned()));
    }
}
