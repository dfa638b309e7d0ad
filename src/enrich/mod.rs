//! Enrichment: what the events' source addresses are (GeoIP location, network owner,
//! anonymity), added to the events frame as columns.

pub mod geoip;
pub mod table_db;

use crate::error::{Error, Result};
use crate::ingest::Addresses;
use crate::schema::col;
use geoip::{GeoDatabases, GeoRecord};
use polars::prelude::*;
use rayon::prelude::*;
use std::net::IpAddr;

/// Column names added by [`geolocate`].
pub mod geo_col {
    pub const IP_CLASS: &str = "ip_class";
    pub const COUNTRY: &str = "country";
    pub const COUNTRY_NAME: &str = "country_name";
    pub const CITY: &str = "city";
    pub const LATITUDE: &str = "latitude";
    pub const LONGITUDE: &str = "longitude";
    pub const ACCURACY_KM: &str = "accuracy_km";
    pub const ASN: &str = "asn";
    pub const AS_ORG: &str = "as_org";
    pub const NETWORK: &str = "network";
    pub const IS_ANONYMOUS: &str = "is_anonymous";
    pub const IS_ANONYMOUS_VPN: &str = "is_anonymous_vpn";
    pub const IS_HOSTING_PROVIDER: &str = "is_hosting_provider";
    pub const IS_PUBLIC_PROXY: &str = "is_public_proxy";
    pub const IS_RESIDENTIAL_PROXY: &str = "is_residential_proxy";
    pub const IS_TOR_EXIT_NODE: &str = "is_tor_exit_node";
}

/// The GeoIP columns of an events frame, each absent when no database provided it.
pub struct GeoColumns {
    pub country: Option<StringChunked>,
    pub city: Option<StringChunked>,
    pub asn: Option<Int64Chunked>,
    pub as_org: Option<StringChunked>,
    pub lat: Option<Float64Chunked>,
    pub lon: Option<Float64Chunked>,
    pub accuracy: Option<Int64Chunked>,
    /// Tor exit, anonymous VPN, public proxy, residential proxy (in that order, those present).
    pub anonymous: Vec<(&'static str, BooleanChunked)>,
    pub hosting: Option<BooleanChunked>,
}

impl GeoColumns {
    pub fn read(df: &DataFrame) -> Self {
        let text = |n: &str| df.column(n).ok().and_then(|c| c.str().ok().cloned());
        let int = |n: &str| df.column(n).ok().and_then(|c| c.i64().ok().cloned());
        let float = |n: &str| df.column(n).ok().and_then(|c| c.f64().ok().cloned());
        let flag = |n: &str| df.column(n).ok().and_then(|c| c.bool().ok().cloned());
        use geo_col::*;
        GeoColumns {
            country: text(COUNTRY),
            city: text(CITY),
            asn: int(ASN),
            as_org: text(AS_ORG),
            lat: float(LATITUDE),
            lon: float(LONGITUDE),
            accuracy: int(ACCURACY_KM),
            anonymous: [
                ("a Tor exit", IS_TOR_EXIT_NODE),
                ("an anonymous VPN", IS_ANONYMOUS_VPN),
                ("a public proxy", IS_PUBLIC_PROXY),
                ("a residential proxy", IS_RESIDENTIAL_PROXY),
            ]
            .into_iter()
            .filter_map(|(what, n)| flag(n).map(|c| (what, c)))
            .collect(),
            hosting: flag(IS_HOSTING_PROVIDER),
        }
    }

    pub fn country(&self, i: usize) -> Option<&str> {
        self.country.as_ref().and_then(|c| c.get(i))
    }

    pub fn city(&self, i: usize) -> Option<&str> {
        self.city.as_ref().and_then(|c| c.get(i))
    }

    pub fn asn(&self, i: usize) -> Option<i64> {
        self.asn.as_ref().and_then(|c| c.get(i))
    }

    pub fn as_org(&self, i: usize) -> Option<&str> {
        self.as_org.as_ref().and_then(|c| c.get(i))
    }

    /// Longitude and latitude.
    pub fn position(&self, i: usize) -> Option<(f64, f64)> {
        Some((self.lon.as_ref()?.get(i)?, self.lat.as_ref()?.get(i)?))
    }

    pub fn accuracy_km(&self, i: usize) -> Option<i64> {
        self.accuracy.as_ref().and_then(|c| c.get(i))
    }

    /// The kind of anonymiser the address is, if the database says it is one.
    pub fn anonymiser(&self, i: usize) -> Option<&'static str> {
        self.anonymous.iter().find(|(_, c)| c.get(i) == Some(true)).map(|(what, _)| *what)
    }

    pub fn is_hosting(&self, i: usize) -> bool {
        self.hosting.as_ref().and_then(|c| c.get(i)) == Some(true)
    }
}

/// How the lookups went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeoStats {
    /// Distinct source addresses looked up (each once).
    pub distinct_ips: usize,
    /// Of those, the ones some database knew.
    pub located: usize,
}

/// The distinct addresses of the `source_ip` column and each row's (text that is not an
/// address has none).
fn addresses_of(events: &DataFrame) -> PolarsResult<Addresses> {
    let ips = events.column(col::SOURCE_IP)?.str()?.clone();
    let mut index: PlHashMap<&str, Option<u32>> = PlHashMap::default();
    let mut distinct = Vec::new();
    let rows = ips
        .iter()
        .map(|ip| {
            let ip = ip?;
            *index.entry(ip).or_insert_with(|| {
                let parsed = ip.parse::<IpAddr>().ok()?;
                distinct.push(parsed);
                Some((distinct.len() - 1) as u32)
            })
        })
        .collect();
    Ok(Addresses { distinct, rows })
}

/// How a GeoIP column is read from a record.
#[derive(Clone, Copy)]
enum Value {
    Text(fn(&GeoRecord) -> Option<&str>),
    Float(fn(&GeoRecord) -> Option<f64>),
    Int(fn(&GeoRecord) -> Option<i64>),
    Flag(fn(&GeoRecord) -> bool),
}

/// Adds the GeoIP columns to the events frame. Each distinct address is looked up once (in
/// parallel) and the answers are gathered back to the rows. `addresses`, when given, are the
/// rows' addresses as ingest found them; otherwise the `source_ip` column is read.
pub fn geolocate(events: &mut DataFrame, dbs: &GeoDatabases, addresses: Option<&Addresses>) -> Result<GeoStats> {
    let frame_err = |source| Error::Frame { context: "adding GeoIP columns", source };
    let found;
    let addresses = match addresses.filter(|a| a.rows.len() == events.height()) {
        Some(a) => a,
        None => {
            found = addresses_of(events).map_err(frame_err)?;
            &found
        }
    };
    let mut cache = GeoCache::new(&addresses.distinct);
    geolocate_rows(events, &addresses.rows, dbs, &mut cache)?;
    Ok(cache.stats())
}

/// The GeoIP answers for a run's distinct addresses, each looked up once, the first time a
/// frame has it (a streaming scan geolocates one bucket of keys at a time).
pub struct GeoCache<'a> {
    distinct: &'a [IpAddr],
    records: Vec<Option<GeoRecord>>,
}

impl<'a> GeoCache<'a> {
    pub fn new(distinct: &'a [IpAddr]) -> Self {
        Self { distinct, records: vec![None; distinct.len()] }
    }

    /// Looks up (in parallel) the addresses of `rows` not looked up yet.
    fn fill(&mut self, rows: &[Option<u32>], dbs: &GeoDatabases) -> Result<()> {
        let mut wanted = vec![false; self.distinct.len()];
        for &i in rows.iter().flatten() {
            wanted[i as usize] = self.records[i as usize].is_none();
        }
        let found: Vec<(usize, GeoRecord)> = wanted
            .par_iter()
            .enumerate()
            .filter(|(_, w)| **w)
            .map(|(i, _)| Ok((i, dbs.lookup(self.distinct[i])?)))
            .collect::<Result<_>>()?;
        for (i, record) in found {
            self.records[i] = Some(record);
        }
        Ok(())
    }

    /// The addresses looked up so far (those some row has), and how many a database knew.
    pub fn stats(&self) -> GeoStats {
        let looked_up = self.records.iter().flatten();
        GeoStats {
            distinct_ips: looked_up.clone().count(),
            located: looked_up.filter(|r| r.country.is_some() || r.asn.is_some()).count(),
        }
    }
}

/// Adds the GeoIP columns to the events frame, whose rows have the addresses `rows` (ids into
/// the cache's distinct addresses).
pub fn geolocate_rows(
    events: &mut DataFrame,
    rows: &[Option<u32>],
    dbs: &GeoDatabases,
    cache: &mut GeoCache<'_>,
) -> Result<()> {
    let frame_err = |source| Error::Frame { context: "adding GeoIP columns", source };
    cache.fill(rows, dbs)?;
    let records = &cache.records;
    let rec = |i: &Option<u32>| i.and_then(|i| records[i as usize].as_ref());
    use geo_col::*;
    let columns: [(&str, Value); 16] = [
        (IP_CLASS, Value::Text(|r| Some(r.class.name()))),
        (COUNTRY, Value::Text(|r| r.country.as_deref())),
        (COUNTRY_NAME, Value::Text(|r| r.country_name.as_deref())),
        (CITY, Value::Text(|r| r.city.as_deref())),
        (LATITUDE, Value::Float(|r| r.latitude)),
        (LONGITUDE, Value::Float(|r| r.longitude)),
        (ACCURACY_KM, Value::Int(|r| r.accuracy_km.map(i64::from))),
        (ASN, Value::Int(|r| r.asn.map(i64::from))),
        (AS_ORG, Value::Text(|r| r.as_org.as_deref())),
        (NETWORK, Value::Text(|r| r.network.as_deref())),
        (IS_ANONYMOUS, Value::Flag(|r| r.anonymous.anonymous)),
        (IS_ANONYMOUS_VPN, Value::Flag(|r| r.anonymous.vpn)),
        (IS_HOSTING_PROVIDER, Value::Flag(|r| r.anonymous.hosting)),
        (IS_PUBLIC_PROXY, Value::Flag(|r| r.anonymous.public_proxy)),
        (IS_RESIDENTIAL_PROXY, Value::Flag(|r| r.anonymous.residential_proxy)),
        (IS_TOR_EXIT_NODE, Value::Flag(|r| r.anonymous.tor_exit)),
    ];
    // The columns are gathered to the rows in parallel.
    let columns: Vec<Column> = columns
        .par_iter()
        .map(|&(name, value)| -> PolarsResult<Column> {
            Ok(match value {
                // Text is gathered from the distinct addresses' records: rows are views, not copies.
                Value::Text(f) => {
                    let dict = crate::ingest::dictionary(records.iter().map(|r| r.as_ref().and_then(f)));
                    crate::ingest::gather(&dict, name, rows.iter().copied())?
                }
                Value::Float(f) => {
                    Float64Chunked::from_iter_options(name.into(), rows.iter().map(|i| rec(i).and_then(f)))
                        .into_series()
                        .into_column()
                }
                Value::Int(f) => Int64Chunked::from_iter_options(name.into(), rows.iter().map(|i| rec(i).and_then(f)))
                    .into_series()
                    .into_column(),
                Value::Flag(f) => BooleanChunked::from_iter_options(name.into(), rows.iter().map(|i| rec(i).map(f)))
                    .into_series()
                    .into_column(),
            })
        })
        .collect::<PolarsResult<_>>()
        .map_err(frame_err)?;
    for c in columns {
        events.with_column(c).map_err(frame_err)?;
    }
    Ok(())
}
