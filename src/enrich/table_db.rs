//! GeoIP databases built from a network table (CSV), in MaxMind's City, ASN and Anonymous-IP
//! layouts: the demo's own databases, and a way to describe one's own known networks.
//!
//! Columns: `network,country,country_name,city,latitude,longitude,accuracy_km,asn,as_org,flags`,
//! where `flags` holds `hosting`, `tor`, `vpn`, `proxy` or `residential_proxy` (space-separated).

use mmdb_writer::{ipnet::IpNet, Value, Writer};
use std::time::SystemTime;

/// The three databases, as MMDB bytes.
pub struct TableDatabases {
    pub city: Vec<u8>,
    pub asn: Vec<u8>,
    pub anonymous: Vec<u8>,
}

const COLUMNS: [&str; 10] =
    ["network", "country", "country_name", "city", "latitude", "longitude", "accuracy_km", "asn", "as_org", "flags"];

/// Builds the databases; `name` prefixes the database types (`NAME-City`, `NAME-ASN`,
/// `NAME-Anonymous-IP`). Errors name the table line.
pub fn build(table: &str, name: &str, built: SystemTime) -> Result<TableDatabases, String> {
    let writer = |kind: &str| Writer::builder(format!("{name}-{kind}")).build_epoch(built).build();
    let (mut city, mut asn, mut anon) = (writer("City"), writer("ASN"), writer("Anonymous-IP"));
    let mut lines = table.lines().enumerate();
    let header = lines.next().map(|(_, h)| crate::ingest::split_csv_record(h.as_bytes(), b',')).unwrap_or_default();
    if header != COLUMNS {
        return Err(format!("line 1: the header must be {}", COLUMNS.join(",")));
    }
    for (i, line) in lines {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f = crate::ingest::split_csv_record(line.as_bytes(), b',');
        if f.len() != COLUMNS.len() {
            return Err(format!("line {line_no}: {} fields where {} are expected", f.len(), COLUMNS.len()));
        }
        let bad = |what: &str| format!("line {line_no}: {what}");
        let net: IpNet = f[0].parse().map_err(|_| bad("not a network (CIDR)"))?;
        let number = |s: &str, what: &str| s.parse::<f64>().map_err(|_| bad(what));
        let mut record = vec![
            (
                "country",
                Value::map([("iso_code", Value::from(f[1].as_str())), ("names", Value::map([("en", f[2].as_str())]))]),
            ),
            (
                "location",
                Value::map([
                    ("latitude", Value::from(number(&f[4], "latitude is not a number")?)),
                    ("longitude", Value::from(number(&f[5], "longitude is not a number")?)),
                    (
                        "accuracy_radius",
                        Value::from(f[6].parse::<u16>().map_err(|_| bad("accuracy_km is not a whole number"))?),
                    ),
                ]),
            ),
        ];
        if !f[3].is_empty() {
            record.push(("city", Value::map([("names", Value::map([("en", f[3].as_str())]))])));
        }
        city.insert_value(net, Value::map(record)).map_err(|e| bad(&e.to_string()))?;
        let number = f[7].parse::<u32>().map_err(|_| bad("asn is not a whole number"))?;
        asn.insert_value(
            net,
            Value::map([
                ("autonomous_system_number", Value::from(number)),
                ("autonomous_system_organization", Value::from(f[8].as_str())),
            ]),
        )
        .map_err(|e| bad(&e.to_string()))?;
        let mut flags: Vec<(&str, Value)> = Vec::new();
        for flag in f[9].split_whitespace() {
            let key = match flag {
                "hosting" => "is_hosting_provider",
                "tor" => "is_tor_exit_node",
                "vpn" => "is_anonymous_vpn",
                "proxy" => "is_public_proxy",
                "residential_proxy" => "is_residential_proxy",
                other => return Err(bad(&format!("unknown flag `{other}`"))),
            };
            flags.push((key, Value::from(true)));
        }
        if !flags.is_empty() {
            flags.push(("is_anonymous", Value::from(true)));
            anon.insert_value(net, Value::map(flags)).map_err(|e| bad(&e.to_string()))?;
        }
    }
    let bytes = |w: &Writer| w.to_bytes().map_err(|e| format!("cannot write the database: {e}"));
    Ok(TableDatabases { city: bytes(&city)?, asn: bytes(&asn)?, anonymous: bytes(&anon)? })
}
