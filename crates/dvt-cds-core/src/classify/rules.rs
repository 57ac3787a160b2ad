//! Every rule the classifier can fire: a stable id and one line that says what it means.

use serde::{Serialize, Serializer};

macro_rules! rules {
    ($($variant:ident = $id:literal : $description:literal,)*) => {
        /// A rule of the classifier. Ids are stable: cards, fixtures and logs name them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $($variant,)*
        }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            pub fn id(self) -> &'static str {
                match self {
                    $(Rule::$variant => $id,)*
                }
            }

            pub fn description(self) -> &'static str {
                match self {
                    $(Rule::$variant => $description,)*
                }
            }
        }
    };
}

rules! {
    DvtConfirmedActive = "dvt-confirmed-active":
        "An active DVT diagnosis that is not refuted is on record",
    DvtNotCountedRefuted = "dvt-not-counted-refuted":
        "A DVT diagnosis is refuted or entered in error and is not counted",
    DvtNotCountedInactive = "dvt-not-counted-inactive":
        "A DVT diagnosis is resolved, inactive or abated and is not counted",
    DvtSuspectedOnly = "dvt-suspected-only":
        "DVT is recorded only as suspected (provisional, differential or unconfirmed)",
    SegmentIliofemoralCode = "segment-iliofemoral-code":
        "The DVT code names the iliac veins or an iliofemoral thrombosis",
    SegmentIliofemoralBodySite = "segment-iliofemoral-body-site":
        "A femoral or unspecified DVT code whose body site or duplex finding names the common femoral or iliac vein",
    SegmentFemoropopliteal = "segment-femoropopliteal":
        "Femoral or popliteal DVT without iliac or common femoral involvement: femoropopliteal",
    SegmentFemoralAmbiguous = "segment-femoral-ambiguous":
        "A femoral-vein code alone cannot tell the common femoral vein (iliofemoral) from the femoral vein (femoropopliteal)",
    SegmentUnspecified = "segment-unspecified":
        "The DVT code does not say which veins are involved",
    SegmentDistalOnly = "segment-distal-only":
        "Only calf (distal) veins: outside the iliofemoral topic",
    SegmentIvcOnly = "segment-ivc-only":
        "Inferior vena cava thrombosis with no leg segment recorded: outside the iliofemoral variants",
    AgeAcute = "age-acute":
        "Thrombus under 14 days old (acute)",
    AgeFromRecordedDate = "age-from-recorded-date":
        "No onset on the DVT diagnosis: its age is counted from the date it was recorded",
    AgeUnknown = "age-unknown":
        "Neither an onset nor a recorded date: the age of the thrombus is unknown",
    AgeImprecise = "age-imprecise":
        "The onset date is too imprecise to tell on which side of 14 days or 3 months it falls",
    AgeSubacuteOutsideAcr = "age-subacute-outside-acr":
        "Thrombus 14 days to 3 months old: outside every ACR variant; lysis loses efficacy after 14-28 days",
    AgeChronic = "age-chronic":
        "Thrombus at least 3 months old, or coded chronic",
    PhlegmasiaV5 = "phlegmasia-v5":
        "Phlegmasia cerulea dolens asserted: variant 5, whatever the severity or timing",
    PregnancyV7 = "pregnancy-v7":
        "Pregnant, with acute iliofemoral DVT and moderate or severe symptoms: variant 7",
    MayThurnerV4 = "may-thurner-v4":
        "Iliac vein compression (May-Thurner) on imaging with acute iliofemoral DVT: variant 4",
    MayThurnerCodeNotLeft = "may-thurner-code-not-left":
        "ICD-10-CM I87.1 (compression of vein) is taken as May-Thurner only with a left iliofemoral DVT",
    MildV1 = "mild-v1":
        "Acute iliofemoral DVT with mild symptoms, otherwise healthy: variant 1",
    ModerateSevereV2 = "moderate-severe-v2":
        "Acute iliofemoral DVT with moderate or severe symptoms, otherwise healthy: variant 2",
    FemoropoplitealV3 = "femoropopliteal-v3":
        "Acute femoropopliteal DVT with mild or moderate symptoms, otherwise healthy: variant 3",
    FemoropoplitealSevereOutside = "femoropopliteal-severe-outside":
        "Acute femoropopliteal DVT with severe symptoms: outside variant 3, which covers mild to moderate",
    FemoropoplitealNotAcute = "femoropopliteal-not-acute":
        "Femoropopliteal DVT 14 days or older: no ACR variant covers it",
    SeverityMissing = "severity-missing":
        "Symptom severity is not recorded on the DVT diagnosis",
    PersistentV6 = "persistent-v6":
        "Iliofemoral DVT with moderate or severe symptoms at least 3 months after anticoagulation alone began: variant 6",
    ChronicNoAnticoagulation = "chronic-no-anticoagulation":
        "Chronic iliofemoral DVT with no anticoagulant on record: outside variant 6",
    ChronicAnticoagulationUnder3Months = "chronic-anticoagulation-under-3-months":
        "Anticoagulation began less than 3 months ago: outside variant 6",
    ChronicThrombusRemoved = "chronic-thrombus-removed":
        "Thrombus removal since anticoagulation began: outside variant 6 (anticoagulation alone)",
    ChronicMild = "chronic-mild":
        "Persistent symptoms are mild: outside variant 6 (moderate symptoms)",
    NotOtherwiseHealthyCancer = "not-otherwise-healthy-cancer":
        "Active cancer: not 'otherwise healthy', outside variants 1-3",
    NotOtherwiseHealthyLysisContraindication = "not-otherwise-healthy-lysis-contraindication":
        "An absolute contraindication to thrombolysis: not 'otherwise healthy', outside variants 1-3",
    RelativeContraindicationKept = "relative-contraindication-kept":
        "A relative contraindication to thrombolysis keeps the variant and adds a warning",
    IvcV1 = "ivc-v1":
        "Acute proximal DVT or pulmonary embolism with no contraindication to anticoagulation: IVC filter variant 1",
    IvcV2 = "ivc-v2":
        "Acute proximal DVT or pulmonary embolism with a contraindication to anticoagulation: IVC filter variant 2",
    IvcV3 = "ivc-v3":
        "Isolated acute distal DVT: IVC filter variant 3",
    IvcV6 = "ivc-v6":
        "Proximal DVT with catheter-directed thrombolysis ordered or under way: IVC filter variant 6",
    StentWithoutRemoval = "stent-without-removal":
        "A venous stent ordered without thrombus removal over a thrombus under 3 months old: ACR rates stenting only with CDT/PMT or surgical thrombectomy",
    ThrombolyticRouteUnknown = "thrombolytic-route-unknown":
        "A thrombolytic drug order does not say whether it is systemic or catheter-directed: no ACR row rates it",
    OrderOtherLeg = "order-other-leg":
        "The order names the leg opposite to the only DVT on record",
    OrderNotInTables = "order-not-in-tables":
        "The order is for (suspected) DVT or leg swelling, but no ACR table this service uses rates its code: it is not rated",
    NoVariantMatches = "no-variant-matches":
        "A DVT is on record, but it matches none of the variants of the topic that rates the order",
    FilterAnticoagulationPossible = "filter-anticoagulation-possible":
        "IVC filter with no contraindication to anticoagulation on record: anticoagulation is usually appropriate, a filter at most may be",
    SuspectedDvtImagingV1 = "suspected-dvt-imaging-v1":
        "Imaging for suspected DVT or leg swelling, with no confirmed DVT: suspected lower-extremity DVT, initial imaging",
}

impl Rule {
    /// The topic whose decision the rule is part of, so a card explains a topic by its own rules; `None` for
    /// the rules that read the DVT itself, which every topic rests on, and an order's own rules.
    pub fn topic(self) -> Option<u32> {
        match self {
            Rule::IvcV1 | Rule::IvcV2 | Rule::IvcV3 | Rule::IvcV6 | Rule::FilterAnticoagulationPossible => Some(6),
            Rule::SuspectedDvtImagingV1 => Some(75),
            Rule::DvtConfirmedActive
            | Rule::DvtNotCountedRefuted
            | Rule::DvtNotCountedInactive
            | Rule::DvtSuspectedOnly
            | Rule::SegmentIliofemoralCode
            | Rule::SegmentIliofemoralBodySite
            | Rule::SegmentFemoropopliteal
            | Rule::SegmentFemoralAmbiguous
            | Rule::SegmentUnspecified
            | Rule::SegmentDistalOnly
            | Rule::SegmentIvcOnly
            | Rule::AgeAcute
            | Rule::AgeFromRecordedDate
            | Rule::AgeUnknown
            | Rule::AgeImprecise
            | Rule::AgeSubacuteOutsideAcr
            | Rule::AgeChronic
            // An order's own rule: it explains the order whatever topic frames its card.
            | Rule::OrderNotInTables => None,
            _ => Some(193),
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn rule_ids_are_unique_kebab_case() {
        let mut seen = HashSet::new();
        for rule in Rule::ALL {
            assert!(seen.insert(rule.id()), "{} twice", rule.id());
            assert!(rule.id().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            assert!(!rule.description().ends_with('.'));
        }
    }
}
