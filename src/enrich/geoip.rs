//! MaxMind databases (City or Country, ASN, Anonymous-IP): finding, checking and reading them.
//!
//! Databases are recognised by their metadata `database_type`, not their file names, so that
//! GeoLite2, GeoIP2 and compatible files (DB-IP Lite, ip-location-db) all work.

use crate::error::{Error, Result};
use maxminddb::{geoip2, Reader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// What a database answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Country, city and location (a City or a Country database).
    Location,
    Asn,
    Anonymous,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Location => "city",
            Kind::Asn => "asn",
            Kind::Anonymous => "anonymous-ip",
        }
    }

    /// The kind of a database from its metadata `database_type`.
    pub fn of(database_type: &str) -> Option<Kind> {
        let t = database_type.to_ascii_lowercase();
        if t.contains("anonymous") {
            Some(Kind::Anonymous)
        } else if t.contains("asn") || t.ends_with("-isp") || t.contains("-as-") {
            Some(Kind::Asn)
        } else if t.contains("city") || t.contains("country") {
            Some(Kind::Location)
        } else {
            None
        }
    }
}

/// One opened database.
pub struct Database {
    pub path: PathBuf,
    pub kind: Kind,
    pub database_type: String,
    /// Build time, Unix seconds.
    pub build_epoch: u64,
    reader: Reader<maxminddb::Mmap>,
}

/// Where to look for databases, in order of precedence.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub city: Option<PathBuf>,
    pub asn: Option<PathBuf>,
    pub anonymous: Option<PathBuf>,
    /// Directories searched for `.mmdb` files (the first that holds a kind wins).
    pub dirs: Vec<PathBuf>,
}

/// Directories where `geoipupdate` writes databases.
pub const SYSTEM_DIRS: [&str; 3] = ["/usr/share/GeoIP", "/var/lib/GeoIP", "/usr/local/share/GeoIP"];

/// The databases found, at most one of each kind.
#[derive(Default)]
pub struct GeoDatabases {
    pub databases: Vec<Database>,
}

fn geo_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Config { path: path.to_path_buf(), message: message.into() }
}

/// Opens a database and checks it with one lookup; the error names the file.
pub fn open(path: &Path) -> Result<Database> {
    // Mapped rather than read: lookups touch a small part of a 50 MB City database, and the
    // pages come straight from the page cache (nothing copied or zeroed).
    // SAFETY: the file must not change while it is mapped. Databases are replaced, not
    // rewritten in place (`geoipupdate` writes a new file and renames it over the old one,
    // which leaves the mapped file as it was); a file truncated in place during a scan would
    // stop the process with SIGBUS.
    let reader = unsafe { Reader::open_mmap(path) }.map_err(|e| {
        geo_error(path, format!("not a readable MaxMind database ({e}); replace it with a fresh download"))
    })?;
    let meta = reader.metadata();
    let database_type = meta.database_type.clone();
    let kind = Kind::of(&database_type).ok_or_else(|| {
        geo_error(path, format!("database type `{database_type}` is not a City, Country, ASN or Anonymous-IP database"))
    })?;
    let db = Database { path: path.to_path_buf(), kind, database_type, build_epoch: meta.build_epoch, reader };
    // A probe lookup catches a broken search tree before any log is read.
    let probe: IpAddr = if db.reader.metadata().ip_version == 6 { "2001:db8::1" } else { "192.0.2.1" }
        .parse()
        .unwrap_or(IpAddr::from([192, 0, 2, 1]));
    db.lookup_checked::<serde::de::IgnoredAny>(probe)?;
    Ok(db)
}

impl GeoDatabases {
    /// Finds and opens the databases: explicit files first, then the directories. Every problem
    /// is collected, so that all of them are reported at once.
    pub fn discover(sources: &Sources) -> (Self, Vec<Error>) {
        let mut found = GeoDatabases::default();
        let mut errors = Vec::new();
        for (path, want) in
            [(&sources.city, Kind::Location), (&sources.asn, Kind::Asn), (&sources.anonymous, Kind::Anonymous)]
        {
            let Some(path) = path else { continue };
            match open(path) {
                Ok(db) if db.kind == want => found.databases.push(db),
                Ok(db) => errors.push(geo_error(
                    path,
                    format!("is a {} database ({}), not a {} database", db.kind.name(), db.database_type, want.name()),
                )),
                Err(e) => errors.push(e),
            }
        }
        for dir in &sources.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("mmdb")))
                .collect();
            files.sort();
            for path in files {
                match open(&path) {
                    Ok(db) if found.get(db.kind).is_none() => found.databases.push(db),
                    Ok(_) => {}
                    Err(e) => errors.push(e),
                }
            }
        }
        found.databases.sort_by_key(|d| d.kind);
        (found, errors)
    }

    pub fn get(&self, kind: Kind) -> Option<&Database> {
        self.databases.iter().find(|d| d.kind == kind)
    }

    pub fn is_empty(&self) -> bool {
        self.databases.is_empty()
    }

    /// Everything the databases say about one address.
    pub fn lookup(&self, ip: IpAddr) -> Result<GeoRecord> {
        // Without an Anonymous-IP database nothing is known about anonymisers; with one, an
        // address it does not list (or a private one) is none.
        let anonymous = self.get(Kind::Anonymous).map(|_| Anonymity::default());
        let mut record = GeoRecord { class: IpClass::of(ip), anonymous, ..GeoRecord::default() };
        if record.class != IpClass::Public {
            return Ok(record);
        }
        if let Some(db) = self.get(Kind::Location) {
            if let Some((city, network)) = db.lookup_checked::<geoip2::City>(ip)? {
                record.country = city.country.iso_code.map(str::to_string);
                record.country_name = city.country.names.english.map(str::to_string);
                record.city = city.city.names.english.map(str::to_string);
                record.latitude = city.location.latitude;
                record.longitude = city.location.longitude;
                record.accuracy_km = city.location.accuracy_radius;
                record.network = Some(network);
            }
        }
        if let Some(db) = self.get(Kind::Asn) {
            if let Some((asn, network)) = db.lookup_checked::<geoip2::Asn>(ip)? {
                record.asn = asn.autonomous_system_number;
                record.as_org = asn.autonomous_system_organization.map(str::to_string);
                record.network.get_or_insert(network);
            }
        }
        if let Some(db) = self.get(Kind::Anonymous) {
            if let Some((a, _)) = db.lookup_checked::<geoip2::AnonymousIp>(ip)? {
                let flag = |f: Option<bool>| f.unwrap_or(false);
                record.anonymous = Some(Anonymity {
                    anonymous: flag(a.is_anonymous),
                    vpn: flag(a.is_anonymous_vpn),
                    hosting: flag(a.is_hosting_provider),
                    public_proxy: flag(a.is_public_proxy),
                    residential_proxy: flag(a.is_residential_proxy),
                    tor_exit: flag(a.is_tor_exit_node),
                });
            }
        }
        Ok(record)
    }
}

impl Database {
    /// Looks an address up and decodes the record, with the matched network; a database that
    /// fails (or panics) on the lookup is an error naming the file.
    fn lookup_checked<'de, T: serde::Deserialize<'de>>(&'de self, ip: IpAddr) -> Result<Option<(T, String)>> {
        let path = &self.path;
        let fail = |what: String| {
            geo_error(
                path,
                format!("lookup of {ip} failed: {what}; the database is corrupt, replace it with a fresh download"),
            )
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let result = self.reader.lookup(ip).map_err(|e| e.to_string())?;
            if !result.has_data() {
                return Ok(None);
            }
            let network = result.network().map_err(|e| e.to_string())?.to_string();
            let value = result.decode::<T>().map_err(|e| e.to_string())?;
            Ok(value.map(|v| (v, network)))
        }));
        match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(fail(e)),
            Err(_) => Err(fail("the reader crashed".into())),
        }
    }
}

/// Anonymity flags from an Anonymous-IP database (all unset when the address is not listed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Anonymity {
    pub anonymous: bool,
    pub vpn: bool,
    pub hosting: bool,
    pub public_proxy: bool,
    pub residential_proxy: bool,
    pub tor_exit: bool,
}

/// What kind of address an IP is, decided without any database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IpClass {
    #[default]
    Public,
    Private,
    Loopback,
    LinkLocal,
    Documentation,
    /// Carrier-grade NAT (100.64.0.0/10).
    Shared,
    Multicast,
    Unspecified,
}

impl IpClass {
    pub fn name(self) -> &'static str {
        match self {
            IpClass::Public => "public",
            IpClass::Private => "private",
            IpClass::Loopback => "loopback",
            IpClass::LinkLocal => "link_local",
            IpClass::Documentation => "documentation",
            IpClass::Shared => "shared",
            IpClass::Multicast => "multicast",
            IpClass::Unspecified => "unspecified",
        }
    }

    pub fn of(ip: IpAddr) -> IpClass {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                if v4.is_unspecified() {
                    IpClass::Unspecified
                } else if v4.is_loopback() {
                    IpClass::Loopback
                } else if v4.is_private() {
                    IpClass::Private
                } else if v4.is_link_local() {
                    IpClass::LinkLocal
                } else if v4.is_documentation() {
                    IpClass::Documentation
                } else if o[0] == 100 && (64..128).contains(&o[1]) {
                    IpClass::Shared
                } else if v4.is_multicast() || v4.is_broadcast() {
                    IpClass::Multicast
                } else {
                    IpClass::Public
                }
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                if v6.is_unspecified() {
                    IpClass::Unspecified
                } else if v6.is_loopback() {
                    IpClass::Loopback
                } else if (s[0] & 0xfe00) == 0xfc00 {
                    IpClass::Private
                } else if (s[0] & 0xffc0) == 0xfe80 {
                    IpClass::LinkLocal
                } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                    IpClass::Documentation
                } else if v6.is_multicast() {
                    IpClass::Multicast
                } else {
                    IpClass::Public
                }
            }
        }
    }
}

/// Everything known about one address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoRecord {
    pub class: IpClass,
    pub country: Option<String>,
    pub country_name: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub accuracy_km: Option<u16>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
    /// What the Anonymous-IP database says; `None` without one.
    pub anonymous: Option<Anonymity>,
    /// The network prefix that matched, e.g. `81.2.69.142/31`.
    pub network: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_metadata() {
        assert_eq!(Kind::of("GeoLite2-City"), Some(Kind::Location));
        assert_eq!(Kind::of("GeoIP2-Country"), Some(Kind::Location));
        assert_eq!(Kind::of("GeoLite2-ASN"), Some(Kind::Asn));
        assert_eq!(Kind::of("GeoIP2-Anonymous-IP"), Some(Kind::Anonymous));
        assert_eq!(Kind::of("DBIP-City-Lite"), Some(Kind::Location));
        assert_eq!(Kind::of("MaxMind-DB-Test"), None);
    }

    #[test]
    fn special_ranges_need_no_database() {
        let c = |s: &str| IpClass::of(s.parse().unwrap());
        assert_eq!(c("10.1.2.3"), IpClass::Private);
        assert_eq!(c("192.168.0.1"), IpClass::Private);
        assert_eq!(c("127.0.0.1"), IpClass::Loopback);
        assert_eq!(c("::1"), IpClass::Loopback);
        assert_eq!(c("169.254.1.1"), IpClass::LinkLocal);
        assert_eq!(c("fe80::1"), IpClass::LinkLocal);
        assert_eq!(c("203.0.113.9"), IpClass::Documentation);
        assert_eq!(c("2001:db8::1"), IpClass::Documentation);
        assert_eq!(c("100.64.0.1"), IpClass::Shared);
        assert_eq!(c("fd00::1"), IpClass::Private);
        assert_eq!(c("::ffff:10.0.0.1"), IpClass::Private);
        assert_eq!(c("8.8.8.8"), IpClass::Public);
        assert_eq!(c("2a02:cf40::1"), IpClass::Public);
    }
}
