//! The `Authorization` header of a SigV4 request, and every check that needs no secret: its
//! syntax, the credential scope, the request time against the clock, and session tokens.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::AUTHORIZATION;
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use super::error::SigV4Error;
use sy_provider::bedrock::canonical::ALGORITHM;

/// The signing name of Bedrock Runtime: boto3 signs `bedrock`, not `bedrock-runtime`.
pub const SERVICE: &str = "bedrock";
/// How far a request's `x-amz-date` may be from the gateway's clock, either way, as on AWS.
pub const CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

const TERMINATOR: &str = "aws4_request";
/// `YYYYMMDD'T'HHMMSS'Z'`, the form of `x-amz-date` and of AWS's skew messages.
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// A parsed SigV4 `Authorization` header whose scope and time have been checked; only the
/// signature is left to verify ([`Authorization::verify`](super::Authorization::verify)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub access_key_id: &'a str,
    /// The credential scope's date, `YYYYMMDD`.
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// The signed header names as the client listed them (`content-type;host;x-amz-date`).
    pub signed_headers_text: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
    /// `x-amz-date` as sent.
    pub amz_date: &'a str,
    pub signed_at: SystemTime,
}

impl<'a> Authorization<'a> {
    /// Reads the header and checks it against `now`.
    pub fn parse(headers: &'a HeaderMap, now: SystemTime) -> Result<Self, SigV4Error> {
        let value = headers
            .get(AUTHORIZATION)
            .ok_or(SigV4Error::MissingAuthenticationToken)?;
        let value = value.to_str().map_err(|_| {
            SigV4Error::Incomplete("The Authorization header is not ASCII.".to_owned())
        })?;
        let fields = value
            .strip_prefix(ALGORITHM)
            .filter(|rest| rest.starts_with([' ', '\t']))
            .ok_or_else(|| {
                // The value is never echoed: it could be a bearer secret sent here by mistake.
                SigV4Error::Incomplete(format!(
                    "Authorization header must be '{ALGORITHM} Credential=..., SignedHeaders=..., Signature=...'."
                ))
            })?;
        let fields = Fields::parse(fields)?;
        if headers.contains_key("x-amz-security-token") {
            return Err(SigV4Error::SessionToken);
        }
        let (access_key_id, date, region, service, terminator) = credential(fields.credential)?;
        let signed_headers = signed_headers(fields.signed_headers)?;
        let amz_date = headers
            .get("x-amz-date")
            .ok_or_else(|| {
                SigV4Error::Incomplete(
                    "Authorization header requires existence of a 'X-Amz-Date' header.".to_owned(),
                )
            })?
            .to_str()
            .unwrap_or_default();
        let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
            SigV4Error::Incomplete(format!(
                "X-Amz-Date must be in the ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z', got '{amz_date}'."
            ))
        })?;
        check_scope(date, region, service, terminator, amz_date)?;
        check_clock(signed_at, now)?;
        Ok(Self {
            access_key_id,
            date,
            region,
            service,
            signed_headers_text: fields.signed_headers,
            signed_headers,
            signature: fields.signature,
            amz_date,
            signed_at,
        })
    }

    /// `DATE/REGION/SERVICE/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.service
        )
    }
}

/// The three `Name=value` fields after the algorithm, comma-separated with optional spaces.
struct Fields<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

impl<'a> Fields<'a> {
    fn parse(text: &'a str) -> Result<Self, SigV4Error> {
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for field in text.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let (name, value) = field.split_once('=').unwrap_or((field, ""));
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        let mut missing = String::new();
        for (name, value) in [
            ("Credential", credential),
            ("Signature", signature),
            ("SignedHeaders", signed_headers),
        ] {
            if value.is_none_or(str::is_empty) {
                missing.push_str(&format!(
                    "Authorization header requires '{name}' parameter. "
                ));
            }
        }
        match (credential, signed_headers, signature) {
            (Some(credential), Some(signed_headers), Some(signature)) if missing.is_empty() => {
                Ok(Self {
                    credential,
                    signed_headers,
                    signature,
                })
            }
            _ => Err(SigV4Error::Incomplete(missing.trim_end().to_owned())),
        }
    }
}

/// `AKID/DATE/REGION/SERVICE/TERMINATOR`.
fn credential(value: &str) -> Result<(&str, &str, &str, &str, &str), SigV4Error> {
    let parts: Vec<&str> = value.split('/').collect();
    match parts[..] {
        [key, date, region, service, terminator] if !key.is_empty() => {
            Ok((key, date, region, service, terminator))
        }
        _ => Err(SigV4Error::Incomplete(format!(
            "Credential should have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{value}'."
        ))),
    }
}

/// The names must be non-empty, and `host` must be among them: without it a signature could be
/// replayed against any host that shares the key.
fn signed_headers(value: &str) -> Result<Vec<&str>, SigV4Error> {
    let names: Vec<&str> = value.split(';').collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(SigV4Error::Incomplete(format!(
            "SignedHeaders must be header names separated by ';', got '{value}'."
        )));
    }
    if !names.iter().any(|n| n.eq_ignore_ascii_case("host")) {
        return Err(SigV4Error::Incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    Ok(names)
}

fn check_scope(
    date: &str,
    region: &str,
    service: &str,
    terminator: &str,
    amz_date: &str,
) -> Result<(), SigV4Error> {
    let day = amz_date.get(..8).unwrap_or_default();
    if date != day {
        return Err(SigV4Error::WrongScope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{day}', from 'x-amz-date'."
        )));
    }
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(SigV4Error::WrongScope(
            "Credential should be scoped to a valid region.".to_owned(),
        ));
    }
    if service != SERVICE {
        return Err(SigV4Error::WrongScope(format!(
            "Credential should be scoped to correct service: '{SERVICE}'."
        )));
    }
    if terminator != TERMINATOR {
        return Err(SigV4Error::WrongScope(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'."
        )));
    }
    Ok(())
}

fn check_clock(signed_at: SystemTime, now: SystemTime) -> Result<(), SigV4Error> {
    let earliest = now
        .checked_sub(CLOCK_SKEW)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let latest = now + CLOCK_SKEW;
    if signed_at < earliest {
        return Err(SigV4Error::Expired {
            signed: format_amz_date(signed_at),
            earliest: format_amz_date(earliest),
            now: format_amz_date(now),
        });
    }
    if signed_at > latest {
        return Err(SigV4Error::NotYetCurrent {
            signed: format_amz_date(signed_at),
            latest: format_amz_date(latest),
            now: format_amz_date(now),
        });
    }
    Ok(())
}

/// Exactly `YYYYMMDD'T'HHMMSS'Z'`, in UTC.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    if text.len() != 16 || !text.is_ascii() {
        return None;
    }
    let civil = DateTime::strptime(AMZ_DATE_FORMAT, text).ok()?;
    let seconds = TimeZone::UTC.to_timestamp(civil).ok()?.as_second();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

fn format_amz_date(time: SystemTime) -> String {
    Timestamp::try_from(time)
        .map(|t| t.strftime(AMZ_DATE_FORMAT).to_string())
        .unwrap_or_default()
}
