//! The ACR variants, by their stable ids.

use std::fmt;

use serde::{Serialize, Serializer};

/// Every variant of the three topics. The classifier assigns 193 v1-v7, 6 v1/v2/v3/v6 and 75 v1; the
/// others exist so the knowledge tables are complete and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    Acr193V1,
    Acr193V2,
    Acr193V3,
    Acr193V4,
    Acr193V5,
    Acr193V6,
    Acr193V7,
    Acr6V1,
    Acr6V2,
    Acr6V3,
    Acr6V4,
    Acr6V5,
    Acr6V6,
    Acr6V7,
    Acr6V8,
    Acr6V9,
    Acr75V1,
}

impl Variant {
    pub const ALL: [Variant; 17] = [
        Variant::Acr193V1,
        Variant::Acr193V2,
        Variant::Acr193V3,
        Variant::Acr193V4,
        Variant::Acr193V5,
        Variant::Acr193V6,
        Variant::Acr193V7,
        Variant::Acr6V1,
        Variant::Acr6V2,
        Variant::Acr6V3,
        Variant::Acr6V4,
        Variant::Acr6V5,
        Variant::Acr6V6,
        Variant::Acr6V7,
        Variant::Acr6V8,
        Variant::Acr6V9,
        Variant::Acr75V1,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Variant::Acr193V1 => "acr-193-v1",
            Variant::Acr193V2 => "acr-193-v2",
            Variant::Acr193V3 => "acr-193-v3",
            Variant::Acr193V4 => "acr-193-v4",
            Variant::Acr193V5 => "acr-193-v5",
            Variant::Acr193V6 => "acr-193-v6",
            Variant::Acr193V7 => "acr-193-v7",
            Variant::Acr6V1 => "acr-6-v1",
            Variant::Acr6V2 => "acr-6-v2",
            Variant::Acr6V3 => "acr-6-v3",
            Variant::Acr6V4 => "acr-6-v4",
            Variant::Acr6V5 => "acr-6-v5",
            Variant::Acr6V6 => "acr-6-v6",
            Variant::Acr6V7 => "acr-6-v7",
            Variant::Acr6V8 => "acr-6-v8",
            Variant::Acr6V9 => "acr-6-v9",
            Variant::Acr75V1 => "acr-75-v1",
        }
    }

    /// The acsearch topic id: 193, 6 or 75.
    pub fn topic(self) -> u32 {
        match self {
            Variant::Acr193V1
            | Variant::Acr193V2
            | Variant::Acr193V3
            | Variant::Acr193V4
            | Variant::Acr193V5
            | Variant::Acr193V6
            | Variant::Acr193V7 => 193,
            Variant::Acr75V1 => 75,
            _ => 6,
        }
    }

    /// The variant's number within its topic.
    pub fn number(self) -> u32 {
        self.id().rsplit('v').next().and_then(|n| n.parse().ok()).unwrap_or(0)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for Variant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

crate::ids::deserialize_by_id!(Variant: "variant");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_name_their_topic_and_number() {
        for variant in Variant::ALL {
            let read: Variant = serde_json::from_value(serde_json::json!(variant.id())).unwrap();
            assert_eq!(read, variant);
        }
        assert_eq!((Variant::Acr193V7.topic(), Variant::Acr193V7.number()), (193, 7));
        assert_eq!((Variant::Acr6V9.topic(), Variant::Acr6V9.number()), (6, 9));
        assert_eq!((Variant::Acr75V1.topic(), Variant::Acr75V1.number()), (75, 1));
    }
}
