//! FHIR dates at the precision they were written.

use serde::{Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, UtcOffset};

/// The time zone calendar days are counted in: the deployment's (an IANA name), UTC by default. A FHIR
/// dateTime is the day it was there; a date is the day written.
#[derive(Debug, Clone, PartialEq)]
pub struct DayZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl DayZone {
    pub fn utc() -> DayZone {
        DayZone { name: "UTC".to_owned(), zone: jiff::tz::TimeZone::UTC }
    }

    /// An IANA time zone (`America/Chicago`), from the bundled tz database; `None` when unknown.
    pub fn named(name: &str) -> Option<DayZone> {
        let zone = jiff::tz::TimeZone::get(name.trim()).ok()?;
        Some(DayZone { name: name.trim().to_owned(), zone })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone's offset from UTC at `instant` (daylight saving time included).
    pub fn offset_at(&self, instant: OffsetDateTime) -> UtcOffset {
        jiff::Timestamp::from_second(instant.unix_timestamp())
            .ok()
            .map(|timestamp| self.zone.to_offset(timestamp).seconds())
            .and_then(|seconds| UtcOffset::from_whole_seconds(seconds).ok())
            .unwrap_or(UtcOffset::UTC)
    }

    /// The calendar day `instant` falls on in this zone.
    pub fn day_of(&self, instant: OffsetDateTime) -> Date {
        instant.to_offset(self.offset_at(instant)).date()
    }
}

/// A FHIR `date`, `dateTime` or `instant` as the range of calendar days (UTC) it can mean:
/// `2026` is a whole year, `2026-11` a month, `2026-11-20` or a full instant a single day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FhirDate {
    earliest: Date,
    latest: Date,
    text: String,
}

impl FhirDate {
    /// Parses FHIR date syntax, a dateTime taken as its UTC day; anything else (free text, a bad month) is `None`.
    pub fn parse(text: &str) -> Option<FhirDate> {
        FhirDate::parse_in(text, &DayZone::utc())
    }

    /// The same date with its days counted in `zone`: a dateTime may fall on another day there; a date, a
    /// month or a computed range stays as it is.
    pub fn in_zone(&self, zone: &DayZone) -> FhirDate {
        if self.text.len() > 10
            && let Some(date) = FhirDate::parse_in(&self.text, zone)
        {
            return date;
        }
        self.clone()
    }

    /// Parses FHIR date syntax, a dateTime with a zone taken as its day in `zone`.
    pub fn parse_in(text: &str, zone: &DayZone) -> Option<FhirDate> {
        let text = text.trim();
        let (earliest, latest) = if text.len() > 10 {
            // A dateTime or instant: with a zone it is converted to the day in `zone`; without one (not valid
            // FHIR, but seen) its date part is taken as written.
            match OffsetDateTime::parse(text, &Rfc3339) {
                Ok(instant) => {
                    let day = zone.day_of(instant);
                    (day, day)
                }
                Err(_) if text.as_bytes().get(10) == Some(&b'T') => {
                    let day = parse_day(text.get(..10)?)?;
                    (day, day)
                }
                Err(_) => return None,
            }
        } else {
            match text.len() {
                4 => {
                    let year = parse_number(text)?;
                    (
                        Date::from_calendar_date(year, Month::January, 1).ok()?,
                        Date::from_calendar_date(year, Month::December, 31).ok()?,
                    )
                }
                7 => {
                    let year = parse_number(text.get(..4)?)?;
                    let month = month_of(text.get(5..7)?)?;
                    if text.as_bytes().get(4) != Some(&b'-') {
                        return None;
                    }
                    let first = Date::from_calendar_date(year, month, 1).ok()?;
                    let last = Date::from_calendar_date(year, month, time::util::days_in_month(month, year)).ok()?;
                    (first, last)
                }
                10 => {
                    let day = parse_day(text)?;
                    (day, day)
                }
                _ => return None,
            }
        };
        Some(FhirDate { earliest, latest, text: text.to_owned() })
    }

    /// A range computed from other data (an onset age and a birth date), with the text to show for it.
    pub fn between(earliest: Date, latest: Date, text: String) -> FhirDate {
        if earliest <= latest {
            FhirDate { earliest, latest, text }
        } else {
            FhirDate { earliest: latest, latest: earliest, text }
        }
    }

    pub fn earliest(&self) -> Date {
        self.earliest
    }

    pub fn latest(&self) -> Date {
        self.latest
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// A date with no time (`2026-11-10`): the hour is unknown, so the time elapsed since is not.
    pub fn is_date_only(&self) -> bool {
        self.text.len() == 10 && self.earliest == self.latest
    }

    /// Whole days from this date to `today`, as (fewest, most) over the days the date can mean.
    pub fn days_before(&self, today: Date) -> (i64, i64) {
        ((today - self.latest).whole_days(), (today - self.earliest).whole_days())
    }
}

impl Serialize for FhirDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// `date` plus `months` calendar months; a day past the end of the target month becomes its last day
/// (31 January + 1 month = 28 or 29 February).
pub fn add_months(date: Date, months: u32) -> Date {
    let total = i64::from(date.month() as u8) - 1 + i64::from(months);
    let year = date.year() + i32::try_from(total / 12).unwrap_or(0);
    let month = Month::try_from(u8::try_from(total % 12 + 1).unwrap_or(1)).unwrap_or(Month::January);
    let day = date.day().min(time::util::days_in_month(month, year));
    Date::from_calendar_date(year, month, day).unwrap_or(date)
}

fn parse_day(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    let year = parse_number(text.get(..4)?)?;
    let month = month_of(text.get(5..7)?)?;
    let day = u8::try_from(parse_number(text.get(8..10)?)?).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

fn month_of(text: &str) -> Option<Month> {
    Month::try_from(u8::try_from(parse_number(text)?).ok()?).ok()
}

fn parse_number(text: &str) -> Option<i32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn every_fhir_precision_becomes_a_range_of_days() {
        let cases = [
            ("2026", date!(2026 - 01 - 01), date!(2026 - 12 - 31)),
            ("2024-02", date!(2024 - 02 - 01), date!(2024 - 02 - 29)),
            ("2026-11-20", date!(2026 - 11 - 20), date!(2026 - 11 - 20)),
            ("2026-11-20T23:30:00-05:00", date!(2026 - 11 - 21), date!(2026 - 11 - 21)),
            ("2026-11-20T10:00:00Z", date!(2026 - 11 - 20), date!(2026 - 11 - 20)),
            ("2026-11-20T10:00", date!(2026 - 11 - 20), date!(2026 - 11 - 20)),
        ];
        for (text, earliest, latest) in cases {
            let date = FhirDate::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!((date.earliest(), date.latest()), (earliest, latest), "{text}");
        }
        for bad in ["", "yesterday", "2026-13", "2026-02-30", "20261120", "2026-11-20X", "about 3 weeks ago"] {
            assert_eq!(FhirDate::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_before_spans_the_precision() {
        let today = date!(2026 - 11 - 24);
        assert_eq!(FhirDate::parse("2026-11-10").unwrap().days_before(today), (14, 14));
        assert_eq!(FhirDate::parse("2026-11").unwrap().days_before(today), (-6, 23));
    }

    #[test]
    fn a_date_time_is_the_day_it_was_in_the_deployment_zone() {
        let chicago = DayZone::named("America/Chicago").unwrap();
        let evening = FhirDate::parse_in("2026-11-24T03:30:00Z", &chicago).unwrap();
        assert_eq!(evening.earliest(), date!(2026 - 11 - 23), "21:30 in Chicago the day before");
        assert_eq!(FhirDate::parse("2026-11-24T03:30:00Z").unwrap().earliest(), date!(2026 - 11 - 24));
        assert_eq!(FhirDate::parse_in("2026-11-10", &chicago).unwrap().earliest(), date!(2026 - 11 - 10));
        let summer = FhirDate::parse_in("2026-07-01T04:30:00Z", &chicago).unwrap();
        assert_eq!(summer.earliest(), date!(2026 - 06 - 30), "daylight saving time: UTC-5");
        assert_eq!(FhirDate::parse("2026-11-24T03:30:00Z").unwrap().in_zone(&chicago), evening);
        assert!(DayZone::named("Mars/Olympus_Mons").is_none());
    }

    #[test]
    fn months_are_calendar_months() {
        assert_eq!(add_months(date!(2026 - 08 - 24), 3), date!(2026 - 11 - 24));
        assert_eq!(add_months(date!(2026 - 11 - 30), 3), date!(2027 - 02 - 28));
        assert_eq!(add_months(date!(2023 - 11 - 30), 3), date!(2024 - 02 - 29));
        assert_eq!(add_months(date!(2026 - 12 - 01), 1), date!(2027 - 01 - 01));
    }
}
