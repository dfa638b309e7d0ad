//! Enrichment: what the events' source addresses are (GeoIP location, network owner,
//! anonymity), kept per distinct address and written out as columns of the events.

pub mod geoip;
pub mod table_db;

use crate::error::{Error, Result};
use crate::ingest::Addresses;
use crate::schema::col;
use geoip::{Anonymity, GeoDatabases, GeoRecord};
use polars::prelude::*;
use rayon::prelude::*;
use std::borrow::Cow;
use std::net::IpAddr;

/// The GeoIP columns of the events as written, and the column of address ids that stands for
/// them in memory (added by [`geolocate`]; see [`Places`]).
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
    /// The row's address, an id into the run's [`super::Places`] ([`super::NO_ADDRESS`] for
    /// none); replaced by the columns above when the events are written.
    pub const ADDRESS_ID: &str = "address_id";
}

/// An events frame and where its rows' GeoIP answers are: in the frame's own GeoIP columns
/// (an audit's history, which keeps the answers it had), or per distinct address
/// ([`Places`], the frame's [`geo_col::ADDRESS_ID`] column naming each row's address). Kept
/// per address, the answers take 4 bytes a row instead of 16 columns.
#[derive(Clone, Copy)]
pub struct Events<'a> {
    frame: &'a DataFrame,
    places: Option<&'a Places>,
}

impl<'a> Events<'a> {
    /// `places`: the answers of the addresses the frame's address ids name; `None` (or a frame
    /// without address ids) when the answers, if any, are the frame's own columns.
    pub fn new(frame: &'a DataFrame, places: Option<&'a Places>) -> Self {
        Self { frame, places: places.filter(|_| frame.column(geo_col::ADDRESS_ID).is_ok()) }
    }

    pub fn frame(&self) -> &'a DataFrame {
        self.frame
    }

    pub fn places(&self) -> Option<&'a Places> {
        self.places
    }

    /// The rows' GeoIP answers.
    pub fn geo(&self) -> GeoColumns<'a> {
        GeoColumns::read(*self)
    }

    /// The frame as written out: every GeoIP column in place of the address ids.
    pub fn materialised(&self) -> PolarsResult<DataFrame> {
        match self.places {
            Some(places) => places.expander().expand(self.frame),
            None => Ok(self.frame.clone()),
        }
    }
}

impl<'a> From<&'a DataFrame> for Events<'a> {
    fn from(frame: &'a DataFrame) -> Self {
        Events { frame, places: None }
    }
}

impl std::ops::Deref for Events<'_> {
    type Target = DataFrame;

    fn deref(&self) -> &DataFrame {
        self.frame
    }
}

/// The address id of a row without an address.
pub use crate::ingest::NO_ADDRESS;

/// The GeoIP answers of a run's distinct addresses, by address id: row `i` of an events frame
/// has the answers of address `address_id[i]` (none when the row has no address, or when the
/// address was not looked up).
#[derive(Debug, Clone, Default)]
pub struct Places {
    records: Vec<Option<GeoRecord>>,
}

impl Places {
    /// Places of the addresses `0..records.len()`.
    #[cfg(test)]
    pub(crate) fn from_records(records: Vec<Option<GeoRecord>>) -> Self {
        Self { records }
    }

    /// How many addresses there are (ids `0..len`).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The answers for address `id`.
    pub fn get(&self, id: u32) -> Option<&GeoRecord> {
        self.records.get(id as usize).and_then(Option::as_ref)
    }

    /// Something that writes the GeoIP columns of frames of these addresses.
    pub fn expander(&self) -> Expander<'_> {
        let columns = GEO_COLUMNS
            .iter()
            .map(|&(name, value)| {
                let made = match value {
                    Value::Text(f) => {
                        Made::Text(crate::ingest::dictionary(self.records.iter().map(|r| r.as_ref().and_then(f))))
                    }
                    Value::Float(f) => Made::Float(f),
                    Value::Int(f) => Made::Int(f),
                    Value::Flag(f) => Made::Flag(f),
                };
                (name, made)
            })
            .collect();
        Expander { places: self, columns }
    }
}

/// Writes a frame's GeoIP columns from its address ids (see [`Places::expander`]); the text
/// columns are views into dictionaries made once.
pub struct Expander<'a> {
    places: &'a Places,
    /// The columns of [`GEO_COLUMNS`], in order, and how each is made.
    columns: Vec<(&'static str, Made)>,
}

/// How a GeoIP column is made for rows: text gathered from its value for every address,
/// numbers and flags read from each row's record.
enum Made {
    Text(StringChunked),
    Float(fn(&GeoRecord) -> Option<f64>),
    Int(fn(&GeoRecord) -> Option<i64>),
    Flag(fn(&GeoRecord) -> Option<bool>),
}

impl Expander<'_> {
    /// `frame` with its [`geo_col::ADDRESS_ID`] column replaced by the GeoIP columns, at the
    /// end (a frame without address ids is returned as it is).
    pub fn expand(&self, frame: &DataFrame) -> PolarsResult<DataFrame> {
        let Ok(ids) = frame.column(geo_col::ADDRESS_ID) else {
            return Ok(frame.clone());
        };
        let ids = ids.u32()?;
        let mut out = frame.drop(geo_col::ADDRESS_ID)?;
        for c in self.columns(ids)? {
            out.with_column(c)?;
        }
        Ok(out)
    }

    /// The GeoIP columns of rows with the addresses `ids`, built in parallel.
    fn columns(&self, ids: &UInt32Chunked) -> PolarsResult<Vec<Column>> {
        (0..self.columns.len()).into_par_iter().map(|i| self.column(i, ids)).collect()
    }

    /// How many addresses there are (ids `0..addresses()`).
    pub fn addresses(&self) -> usize {
        self.places.len()
    }

    /// The names of the GeoIP columns, in the order they are written.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|(name, _)| *name)
    }

    /// GeoIP column `i` of rows with the addresses `ids`.
    pub fn column(&self, i: usize, ids: &UInt32Chunked) -> PolarsResult<Column> {
        let Some((name, made)) = self.columns.get(i) else {
            polars_bail!(OutOfBounds: "no GeoIP column {i}");
        };
        let name = *name;
        let records = &self.places.records;
        let rec = |i: Option<u32>| records.get(i? as usize)?.as_ref();
        let rows = ids.iter().map(|i| i.filter(|&i| i != NO_ADDRESS));
        Ok(match *made {
            // Rows are views into the dictionary's strings, not copies.
            Made::Text(ref dictionary) => crate::ingest::gather(dictionary, name, rows)?,
            Made::Float(f) => Float64Chunked::from_iter_options(name.into(), rows.map(|i| rec(i).and_then(f)))
                .into_series()
                .into_column(),
            Made::Int(f) => Int64Chunked::from_iter_options(name.into(), rows.map(|i| rec(i).and_then(f)))
                .into_series()
                .into_column(),
            Made::Flag(f) => BooleanChunked::from_iter_options(name.into(), rows.map(|i| rec(i).and_then(f)))
                .into_series()
                .into_column(),
        })
    }

    /// For a text column `i`, its value for every address (row `id` is address `id`'s).
    pub fn text_by_address(&self, i: usize) -> Option<&StringChunked> {
        match self.columns.get(i) {
            Some((_, Made::Text(dictionary))) => Some(dictionary),
            _ => None,
        }
    }
}

/// The GeoIP answers of an events frame's rows, read from its GeoIP columns or from its
/// addresses' [`Places`] (each absent when no database provided it).
pub struct GeoColumns<'a>(Source<'a>);

enum Source<'a> {
    Frame(Box<FrameColumns>),
    Places { ids: Cow<'a, [u32]>, places: &'a Places },
}

/// GeoIP columns of a frame.
struct FrameColumns {
    country: Option<StringChunked>,
    city: Option<StringChunked>,
    asn: Option<Int64Chunked>,
    as_org: Option<StringChunked>,
    network: Option<StringChunked>,
    lat: Option<Float64Chunked>,
    lon: Option<Float64Chunked>,
    accuracy: Option<Int64Chunked>,
    /// Tor exit, anonymous VPN, public proxy, residential proxy (in that order, those present).
    anonymous: Vec<(&'static str, BooleanChunked)>,
    hosting: Option<BooleanChunked>,
}

/// A kind of anonymiser: how it is named, its column, and whether an address is one.
type Anonymiser = (&'static str, &'static str, fn(&Anonymity) -> bool);

/// The kinds of anonymiser, in the order they are named when an address is several.
const ANONYMISERS: [Anonymiser; 4] = [
    ("a Tor exit", geo_col::IS_TOR_EXIT_NODE, |a| a.tor_exit),
    ("an anonymous VPN", geo_col::IS_ANONYMOUS_VPN, |a| a.vpn),
    ("a public proxy", geo_col::IS_PUBLIC_PROXY, |a| a.public_proxy),
    ("a residential proxy", geo_col::IS_RESIDENTIAL_PROXY, |a| a.residential_proxy),
];

impl<'a> GeoColumns<'a> {
    pub fn read(events: Events<'a>) -> Self {
        let df = events.frame;
        if let Some(places) = events.places {
            if let Ok(ids) = df.column(geo_col::ADDRESS_ID).and_then(|c| c.u32()) {
                let ids = match ids.cont_slice() {
                    Ok(ids) => Cow::Borrowed(ids),
                    Err(_) => Cow::Owned(ids.iter().map(|i| i.unwrap_or(NO_ADDRESS)).collect()),
                };
                return GeoColumns(Source::Places { ids, places });
            }
        }
        let text = |n: &str| df.column(n).ok().and_then(|c| c.str().ok().cloned());
        let int = |n: &str| df.column(n).ok().and_then(|c| c.i64().ok().cloned());
        let float = |n: &str| df.column(n).ok().and_then(|c| c.f64().ok().cloned());
        let flag = |n: &str| df.column(n).ok().and_then(|c| c.bool().ok().cloned());
        use geo_col::*;
        GeoColumns(Source::Frame(Box::new(FrameColumns {
            country: text(COUNTRY),
            city: text(CITY),
            asn: int(ASN),
            as_org: text(AS_ORG),
            network: text(NETWORK),
            lat: float(LATITUDE),
            lon: float(LONGITUDE),
            accuracy: int(ACCURACY_KM),
            anonymous: ANONYMISERS.iter().filter_map(|&(what, n, _)| flag(n).map(|c| (what, c))).collect(),
            hosting: flag(IS_HOSTING_PROVIDER),
        })))
    }

    /// Row `i`'s address's answers (read per address).
    fn record(ids: &[u32], places: &'a Places, i: usize) -> Option<&'a GeoRecord> {
        places.get(*ids.get(i)?)
    }

    /// Row `i`'s text answer: from its column in a frame, else from its address's record.
    fn text(
        &self,
        i: usize,
        column: fn(&FrameColumns) -> Option<&StringChunked>,
        field: fn(&GeoRecord) -> Option<&str>,
    ) -> Option<&str> {
        match &self.0 {
            Source::Frame(f) => column(f)?.get(i),
            Source::Places { ids, places } => field(Self::record(ids, places, i)?),
        }
    }

    pub fn country(&self, i: usize) -> Option<&str> {
        self.text(i, |f| f.country.as_ref(), |r| r.country.as_deref())
    }

    pub fn city(&self, i: usize) -> Option<&str> {
        self.text(i, |f| f.city.as_ref(), |r| r.city.as_deref())
    }

    pub fn asn(&self, i: usize) -> Option<i64> {
        match &self.0 {
            Source::Frame(f) => f.asn.as_ref().and_then(|c| c.get(i)),
            Source::Places { ids, places } => Self::record(ids, places, i)?.asn.map(i64::from),
        }
    }

    pub fn as_org(&self, i: usize) -> Option<&str> {
        self.text(i, |f| f.as_org.as_ref(), |r| r.as_org.as_deref())
    }

    /// The network prefix the databases matched, e.g. `81.2.69.142/31`.
    pub fn network(&self, i: usize) -> Option<&str> {
        self.text(i, |f| f.network.as_ref(), |r| r.network.as_deref())
    }

    /// Longitude and latitude.
    pub fn position(&self, i: usize) -> Option<(f64, f64)> {
        match &self.0 {
            Source::Frame(f) => Some((f.lon.as_ref()?.get(i)?, f.lat.as_ref()?.get(i)?)),
            Source::Places { ids, places } => {
                let r = Self::record(ids, places, i)?;
                Some((r.longitude?, r.latitude?))
            }
        }
    }

    pub fn accuracy_km(&self, i: usize) -> Option<i64> {
        match &self.0 {
            Source::Frame(f) => f.accuracy.as_ref().and_then(|c| c.get(i)),
            Source::Places { ids, places } => Self::record(ids, places, i)?.accuracy_km.map(i64::from),
        }
    }

    /// The kind of anonymiser the address is, if the database says it is one.
    pub fn anonymiser(&self, i: usize) -> Option<&'static str> {
        match &self.0 {
            Source::Frame(f) => f.anonymous.iter().find(|(_, c)| c.get(i) == Some(true)).map(|(what, _)| *what),
            Source::Places { ids, places } => {
                let a = Self::record(ids, places, i)?.anonymous.as_ref()?;
                ANONYMISERS.iter().find(|(_, _, is)| is(a)).map(|(what, _, _)| *what)
            }
        }
    }

    pub fn is_hosting(&self, i: usize) -> bool {
        match &self.0 {
            Source::Frame(f) => f.hosting.as_ref().and_then(|c| c.get(i)) == Some(true),
            Source::Places { ids, places } => {
                Self::record(ids, places, i).is_some_and(|r| r.anonymous.is_some_and(|a| a.hosting))
            }
        }
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
    let ips = crate::detect::Strings::of(events.column(col::SOURCE_IP)?)?;
    let mut index: PlHashMap<&str, u32> = PlHashMap::default();
    let mut distinct = Vec::new();
    let rows = (0..events.height())
        .map(|i| {
            let ip = ips.get(i);
            let Some(ip) = ip else { return NO_ADDRESS };
            *index.entry(ip).or_insert_with(|| match ip.parse::<IpAddr>() {
                Ok(parsed) => {
                    distinct.push(parsed);
                    (distinct.len() - 1) as u32
                }
                Err(_) => NO_ADDRESS,
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
    Flag(fn(&GeoRecord) -> Option<bool>),
}

/// The GeoIP columns of an events frame, in order, and how each is read from a record.
const GEO_COLUMNS: [(&str, Value); 16] = {
    use geo_col::*;
    [
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
        (IS_ANONYMOUS, Value::Flag(|r| r.anonymous.map(|a| a.anonymous))),
        (IS_ANONYMOUS_VPN, Value::Flag(|r| r.anonymous.map(|a| a.vpn))),
        (IS_HOSTING_PROVIDER, Value::Flag(|r| r.anonymous.map(|a| a.hosting))),
        (IS_PUBLIC_PROXY, Value::Flag(|r| r.anonymous.map(|a| a.public_proxy))),
        (IS_RESIDENTIAL_PROXY, Value::Flag(|r| r.anonymous.map(|a| a.residential_proxy))),
        (IS_TOR_EXIT_NODE, Value::Flag(|r| r.anonymous.map(|a| a.tor_exit))),
    ]
};

/// Looks up the events' addresses, each distinct address once (in parallel), and adds their
/// ids to the frame ([`geo_col::ADDRESS_ID`]): the answers are the returned [`Places`]
/// ([`Places::expander`] writes them as columns). `addresses`, when given, are the rows'
/// addresses as ingest found them; otherwise the `source_ip` column is read.
pub fn geolocate(
    events: &mut DataFrame,
    dbs: &GeoDatabases,
    addresses: Option<&Addresses>,
) -> Result<(GeoStats, Places)> {
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
    Ok((cache.stats(), cache.places))
}

/// The GeoIP answers for a run's distinct addresses, each looked up once, the first time a
/// frame has it (a streaming scan geolocates one bucket of keys at a time).
pub struct GeoCache<'a> {
    distinct: &'a [IpAddr],
    places: Places,
}

impl<'a> GeoCache<'a> {
    pub fn new(distinct: &'a [IpAddr]) -> Self {
        Self { distinct, places: Places { records: vec![None; distinct.len()] } }
    }

    /// The answers looked up so far.
    pub fn places(&self) -> &Places {
        &self.places
    }

    /// Looks up (in parallel) the addresses of `rows` not looked up yet.
    fn fill(&mut self, rows: &[u32], dbs: &GeoDatabases) -> Result<()> {
        let records = &mut self.places.records;
        let mut wanted = vec![false; self.distinct.len()];
        for &i in rows.iter().filter(|&&i| i != NO_ADDRESS) {
            wanted[i as usize] = records[i as usize].is_none();
        }
        let found: Vec<(usize, GeoRecord)> = wanted
            .par_iter()
            .enumerate()
            .filter(|(_, w)| **w)
            .map(|(i, _)| Ok((i, dbs.lookup(self.distinct[i])?)))
            .collect::<Result<_>>()?;
        for (i, record) in found {
            records[i] = Some(record);
        }
        Ok(())
    }

    /// The addresses looked up so far (those some row has), and how many a database knew.
    pub fn stats(&self) -> GeoStats {
        let looked_up = self.places.records.iter().flatten();
        GeoStats {
            distinct_ips: looked_up.clone().count(),
            located: looked_up.filter(|r| r.country.is_some() || r.asn.is_some()).count(),
        }
    }
}

/// Looks up the addresses of the events frame's rows, `rows` (ids into the cache's distinct
/// addresses), and adds the ids to the frame ([`geo_col::ADDRESS_ID`]).
pub fn geolocate_rows(
    events: &mut DataFrame,
    rows: &[u32],
    dbs: &GeoDatabases,
    cache: &mut GeoCache<'_>,
) -> Result<()> {
    cache.fill(rows, dbs)?;
    let ids = UInt32Chunked::from_slice(geo_col::ADDRESS_ID.into(), rows);
    events
        .with_column(ids.into_series().into_column())
        .map_err(|source| Error::Frame { context: "adding GeoIP columns", source })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::geoip::IpClass;
    use super::*;

    fn places() -> Places {
        let berlin = GeoRecord {
            class: IpClass::Public,
            country: Some("DE".into()),
            country_name: Some("Germany".into()),
            city: Some("Berlin".into()),
            latitude: Some(52.5),
            longitude: Some(13.4),
            accuracy_km: Some(20),
            asn: Some(3320),
            as_org: Some("Deutsche Telekom AG".into()),
            anonymous: Some(Anonymity::default()),
            network: Some("91.0.0.0/10".into()),
        };
        let exit = GeoRecord {
            class: IpClass::Public,
            country: Some("NL".into()),
            asn: Some(60729),
            anonymous: Some(Anonymity {
                anonymous: true,
                tor_exit: true,
                vpn: true,
                hosting: true,
                ..Default::default()
            }),
            network: Some("185.220.101.0/24".into()),
            ..Default::default()
        };
        let private = GeoRecord { class: IpClass::Private, ..Default::default() };
        // Address 3 was never looked up; address 4 without an Anonymous-IP database.
        let unknown = GeoRecord { class: IpClass::Public, country: Some("FR".into()), ..Default::default() };
        Places { records: vec![Some(berlin), Some(exit), Some(private), None, Some(unknown)] }
    }

    fn frame(ids: &[u32]) -> DataFrame {
        let n = ids.len();
        df!(
            col::SOURCE_IP => vec!["x"; n],
            geo_col::ADDRESS_ID => ids,
        )
        .unwrap()
    }

    /// Every answer read per address is the answer of the columns written from it, row by row,
    /// also for rows without an address or whose address was not looked up.
    #[test]
    fn answers_per_address_are_those_of_the_written_columns() {
        let places = places();
        let ids = [0, 1, NO_ADDRESS, 2, 0, 3, 1, 4];
        let frame = frame(&ids);
        let by_address = Events::new(&frame, Some(&places));
        let written = by_address.materialised().unwrap();
        let names: Vec<&str> = written.get_column_names().iter().map(|n| n.as_str()).collect();
        let expected: Vec<&str> = [col::SOURCE_IP].into_iter().chain(GEO_COLUMNS.iter().map(|(n, _)| *n)).collect();
        assert_eq!(names, expected, "the address ids give way to the GeoIP columns, in order");
        let (a, b) = (by_address.geo(), Events::from(&written).geo());
        for i in 0..ids.len() {
            assert_eq!(a.country(i), b.country(i), "row {i}");
            assert_eq!(a.city(i), b.city(i), "row {i}");
            assert_eq!(a.asn(i), b.asn(i), "row {i}");
            assert_eq!(a.as_org(i), b.as_org(i), "row {i}");
            assert_eq!(a.network(i), b.network(i), "row {i}");
            assert_eq!(a.position(i), b.position(i), "row {i}");
            assert_eq!(a.accuracy_km(i), b.accuracy_km(i), "row {i}");
            assert_eq!(a.anonymiser(i), b.anonymiser(i), "row {i}");
            assert_eq!(a.is_hosting(i), b.is_hosting(i), "row {i}");
        }
        assert_eq!(a.country(0), Some("DE"));
        assert_eq!(a.anonymiser(1), Some("a Tor exit"), "the first kind named, as the columns say");
        assert!(a.is_hosting(1));
        assert_eq!((a.country(2), a.asn(5)), (None, None), "no address, or not looked up: no answer");
        // Regression: without an Anonymous-IP database the flags were written `false`, a claim
        // the run could not make; they are missing. With one, an unlisted address is `false`.
        let tor = written.column(geo_col::IS_TOR_EXIT_NODE).unwrap().bool().unwrap().clone();
        assert_eq!((tor.get(0), tor.get(1), tor.get(7)), (Some(false), Some(true), None));
        assert_eq!(a.anonymiser(7), None);
        assert!(!a.is_hosting(7));
        let class = written.column(geo_col::IP_CLASS).unwrap().str().unwrap().clone();
        assert_eq!(class.get(3), Some("private"));
        assert_eq!(class.get(2), None, "a row without an address has no class");
    }

    /// Answers read per address follow a frame cut into pieces (ids in several chunks).
    #[test]
    fn address_ids_in_several_chunks() {
        let places = places();
        let mut frame = frame(&[0, 1]);
        frame.vstack_mut(&frame.clone()).unwrap();
        assert!(frame.column(geo_col::ADDRESS_ID).unwrap().u32().unwrap().chunks().len() > 1);
        let geo = Events::new(&frame, Some(&places)).geo();
        assert_eq!(
            (0..4).map(|i| geo.country(i)).collect::<Vec<_>>(),
            [Some("DE"), Some("NL"), Some("DE"), Some("NL")]
        );
    }

    /// Without address ids, the answers are the frame's own columns (an audit's history).
    #[test]
    fn frames_without_address_ids_keep_their_columns() {
        let places = places();
        let frame = df!(geo_col::COUNTRY => [Some("FR"), None]).unwrap();
        let events = Events::new(&frame, Some(&places));
        assert!(events.places().is_none());
        assert_eq!(events.geo().country(0), Some("FR"));
        assert!(events.materialised().unwrap().equals_missing(&frame));
    }
}
