//! FHIR dates at the precision they were written.

use serde::{Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

/// A FHIR `date`, `dateTime` or `instant` as the range of calendar days (UTC) it can mean:
/// `2026` is a whole year, `2026-11` a month, `2026-11-20` or a full instant a single day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirDate {
    earliest: Date,
    latest: Date,
    text: String,
}

impl FhirDate {
    /// Parses FHIR date syntax; anything else (free text, a bad month) is `None`.
    pub fn parse(text: &str) -> Option<FhirDate> {
        let text = text.trim();
        let (earliest, latest) = if text.len() > 10 {
            // A dateTime or instant: with a zone it is converted to the UTC day; without one (not valid FHIR,
            // but seen) its date part is taken as written.
            match OffsetDateTime::parse(text, &Rfc3339) {
                Ok(instant) => {
                    let day = instant.to_offset(time::UtcOffset::UTC).date();
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
    fn months_are_calendar_months() {
        assert_eq!(add_months(date!(2026 - 08 - 24), 3), date!(2026 - 11 - 24));
        assert_eq!(add_months(date!(2026 - 11 - 30), 3), date!(2027 - 02 - 28));
        assert_eq!(add_months(date!(2023 - 11 - 30), 3), date!(2024 - 02 - 29));
        assert_eq!(add_months(date!(2026 - 12 - 01), 1), date!(2027 - 01 - 01));
    }
}
