//! Mapping files (`--mapping FILE`): input columns for each field, timestamp format and zone, labels.

use crate::error::{Error, Result};
use crate::schema::Field;
use crate::timestamp::TimestampFormat;
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::path::Path;

/// What a mapping file says. The default mapping names nothing and relies on recognised names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapping {
    /// Input column (or dotted JSON key) for each field named in `[columns]`.
    pub columns: BTreeMap<Field, String>,
    pub timestamp_format: TimestampFormat,
    /// How to read timestamps that carry no offset.
    pub timezone: Option<Tz>,
    /// Labels for credentials: fingerprint or id → human name.
    pub labels: BTreeMap<String, String>,
    /// Known partners' networks and ASes (`[allow] cidr = [...]`, `asn = [...]`): never
    /// reported as unfamiliar.
    pub allow_cidrs: Vec<ipnet::IpNet>,
    pub allow_asns: Vec<u32>,
    /// When keys were rotated (`[rotated]` key or label = RFC 3339 time), UTC µs.
    pub rotated: BTreeMap<String, i64>,
    /// Keys the mapping has that leakhound does not use (shown so that typos are noticed).
    pub ignored_keys: Vec<String>,
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text).map_err(|message| Error::Config { path: path.to_path_buf(), message })
    }

    /// Parses mapping TOML; the error says which key is wrong and what is expected.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let table: toml::Table =
            text.parse().map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message()))?;
        let mut mapping = Mapping::default();
        for (section, value) in &table {
            match section.as_str() {
                "columns" => {
                    let cols = value.as_table().ok_or("`columns` must be a table: [columns]")?;
                    for (key, v) in cols {
                        let field = Field::from_key(key).ok_or_else(|| {
                            let known: Vec<_> = Field::ALL.iter().map(|f| f.key()).collect();
                            format!("unknown field `{key}` in [columns]; known fields: {}", known.join(", "))
                        })?;
                        let name =
                            v.as_str().ok_or_else(|| format!("[columns] {key} must be a string (a column name)"))?;
                        mapping.columns.insert(field, name.to_string());
                    }
                }
                "timestamp" => {
                    let t = value.as_table().ok_or("`timestamp` must be a table: [timestamp]")?;
                    for (key, v) in t {
                        let s = v.as_str().ok_or_else(|| format!("[timestamp] {key} must be a string"))?;
                        match key.as_str() {
                            "format" => mapping.timestamp_format = s.parse()?,
                            "timezone" => mapping.timezone = Some(parse_zone(s)?),
                            _ => mapping.ignored_keys.push(format!("timestamp.{key}")),
                        }
                    }
                }
                "labels" => {
                    let t = value.as_table().ok_or("`labels` must be a table: [labels]")?;
                    for (key, v) in t {
                        let s = v.as_str().ok_or_else(|| format!("[labels] {key} must be a string"))?;
                        mapping.labels.insert(key.clone(), s.to_string());
                    }
                }
                "allow" => {
                    let t = value.as_table().ok_or("`allow` must be a table: [allow]")?;
                    for (key, v) in t {
                        let items = v.as_array().ok_or_else(|| format!("[allow] {key} must be a list"))?;
                        for item in items {
                            match key.as_str() {
                                "cidr" => {
                                    let s = item
                                        .as_str()
                                        .ok_or("[allow] cidr entries must be strings like \"10.0.0.0/8\"")?;
                                    let net = s
                                        .parse()
                                        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                                        .map_err(|_| {
                                            format!("[allow] cidr `{s}` is not a network such as 203.0.113.0/24")
                                        })?;
                                    mapping.allow_cidrs.push(net);
                                }
                                "asn" => {
                                    let n = item
                                        .as_integer()
                                        .and_then(|n| u32::try_from(n).ok())
                                        .ok_or("[allow] asn entries must be AS numbers like 16509")?;
                                    mapping.allow_asns.push(n);
                                }
                                _ => mapping.ignored_keys.push(format!("allow.{key}")),
                            }
                        }
                    }
                }
                "rotated" => {
                    let t = value.as_table().ok_or("`rotated` must be a table: [rotated]")?;
                    for (key, v) in t {
                        let at =
                            v.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()).ok_or_else(|| {
                                format!("[rotated] {key} must be an RFC 3339 time such as \"2026-10-20T09:00:00Z\"")
                            })?;
                        mapping.rotated.insert(key.clone(), at.timestamp_micros());
                    }
                }
                other => mapping.ignored_keys.push(other.to_string()),
            }
        }
        Ok(mapping)
    }
}

/// Parses an IANA zone name, with a message that says what is expected.
pub fn parse_zone(name: &str) -> std::result::Result<Tz, String> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| format!("unknown time zone `{name}`: use an IANA name such as `Europe/Berlin` or `UTC`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_shape_parses() {
        let m = Mapping::parse(
            r#"
[columns]
timestamp = "when"
source_ip = "client"
credential = "auth_header"     # raw secret: fingerprinted at ingest, then dropped
credential_id = "key_name"     # non-secret identifier, used as is
method = "verb"
path = "uri"
status = "code"
bytes = "resp_bytes"
user_agent = "agent"
count = "n"
[timestamp]
format = "rfc3339"
timezone = "Europe/Berlin"
[labels]
"fc1:3f9a1c0b7e2d" = "prod-bot"
[allow]
cidr = ["10.0.0.0/8", "203.0.113.7"]
asn = [16509]
[rotated]
prod-bot = "2026-10-20T09:00:00+02:00"
[extra]
x = 1
"#,
        )
        .unwrap();
        assert_eq!(m.columns.len(), 10);
        assert_eq!(m.columns[&Field::Timestamp], "when");
        assert_eq!(m.columns[&Field::Count], "n");
        assert_eq!(m.timestamp_format, TimestampFormat::Rfc3339);
        assert_eq!(m.timezone, Some(chrono_tz::Europe::Berlin));
        assert_eq!(m.labels["fc1:3f9a1c0b7e2d"], "prod-bot");
        assert_eq!(m.allow_cidrs.len(), 2);
        assert_eq!(m.allow_asns, vec![16509]);
        assert_eq!(m.ignored_keys, vec!["extra".to_string()]);
        assert_eq!(m.rotated["prod-bot"], 1_792_479_600_000_000);
        assert!(Mapping::parse("[allow]\ncidr = [\"nonsense\"]").unwrap_err().contains("not a network"));
    }

    #[test]
    fn mistakes_are_named() {
        let e = Mapping::parse("[columns]\ntimestmp = \"x\"").unwrap_err();
        assert!(e.contains("unknown field `timestmp`"), "{e}");
        let e = Mapping::parse("[timestamp]\ntimezone = \"Mars/Olympus\"").unwrap_err();
        assert!(e.contains("unknown time zone"), "{e}");
        let e = Mapping::parse("[timestamp]\nformat = \"weird\"").unwrap_err();
        assert!(e.contains("unknown timestamp format"), "{e}");
        let e = Mapping::parse("[columns\n").unwrap_err();
        assert!(e.contains("not valid TOML"), "{e}");
        let e = Mapping::parse("[columns]\ntimestamp = 3").unwrap_err();
        assert!(e.contains("must be a string"), "{e}");
    }
}
