//! GeoIP: MaxMind's test databases and the full databases from ../shared, and the demo's own.

use crate::common::*;
use leakhound::enrich::geoip::{open, GeoDatabases, IpClass, Kind, Sources};
use std::path::PathBuf;

fn test_db(name: &str) -> Option<PathBuf> {
    shared(&format!("geoip/maxmind-test/{name}"))
}

fn dbs(city: Option<PathBuf>, asn: Option<PathBuf>, anonymous: Option<PathBuf>) -> GeoDatabases {
    let (dbs, problems) = GeoDatabases::discover(&Sources { city, asn, anonymous, dirs: Vec::new() });
    assert!(problems.is_empty(), "{problems:?}");
    dbs
}

#[test]
fn maxmind_test_databases() {
    let (Some(city), Some(asn), Some(anon)) =
        (test_db("GeoIP2-City-Test.mmdb"), test_db("GeoLite2-ASN-Test.mmdb"), test_db("GeoIP2-Anonymous-IP-Test.mmdb"))
    else {
        return;
    };
    // Regression: without an Anonymous-IP database nothing is said about anonymisers (the
    // flags were `false`).
    let no_anonymity = dbs(Some(city.clone()), None, None);
    assert_eq!(no_anonymity.lookup("1.124.213.1".parse().unwrap()).unwrap().anonymous, None);
    let dbs = dbs(Some(city), Some(asn), Some(anon));
    let look = |ip: &str| dbs.lookup(ip.parse().unwrap()).unwrap();

    let london = look("81.2.69.142");
    assert_eq!((london.country.as_deref(), london.city.as_deref()), (Some("GB"), Some("London")));
    assert_eq!(london.country_name.as_deref(), Some("United Kingdom"));
    assert!(london.latitude.is_some() && london.accuracy_km.is_some());
    assert_eq!(london.network.as_deref(), Some("81.2.69.142/31"));

    let telstra = look("1.128.0.0");
    assert_eq!((telstra.asn, telstra.as_org.as_deref()), (Some(1221), Some("Telstra Pty Ltd")));

    let vpn = look("1.124.213.1").anonymous.unwrap();
    assert!(vpn.anonymous && vpn.vpn && vpn.tor_exit);
    assert!(!vpn.hosting);

    // IPv6, and IPv4-mapped IPv6 (parsed to IPv4 at ingest; the reader sees the same address).
    let san_diego = look("2001:480:10::1");
    assert_eq!((san_diego.country.as_deref(), san_diego.city.as_deref()), (Some("US"), Some("San Diego")));
    let mapped = leakhound::ingest::parse_ip("::ffff:81.2.69.142").unwrap();
    assert_eq!(dbs.lookup(mapped).unwrap().city.as_deref(), Some("London"));

    // Not in the databases: public but unknown; special ranges need no lookup.
    let google = look("8.8.8.8");
    assert_eq!((google.class, google.country.clone(), google.asn), (IpClass::Public, None, None));
    assert_eq!(google.anonymous, Some(Default::default()), "not listed: no anonymiser");
    assert_eq!(look("127.0.0.1").class, IpClass::Loopback);
    assert_eq!(look("10.1.2.3").class, IpClass::Private);
    assert_eq!(look("fe80::1").class, IpClass::LinkLocal);
}

#[test]
fn databases_are_recognised_by_metadata() {
    let Some(country) = test_db("GeoLite2-Country-Test.mmdb") else { return };
    let db = open(&country).unwrap();
    assert_eq!((db.kind, db.database_type.as_str()), (Kind::Location, "GeoLite2-Country"));
    // A Country database named as the ASN database is refused with both kinds named.
    let (_, problems) = GeoDatabases::discover(&Sources { asn: Some(country), ..Sources::default() });
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].to_string().contains("is a city database (GeoLite2-Country), not a asn database"),
        "{}",
        problems[0]
    );
}

#[test]
fn broken_databases_are_errors_naming_the_file() {
    let (Some(node_count), Some(double), Some(tree)) = (
        test_db("GeoIP2-City-Test-Invalid-Node-Count.mmdb"),
        test_db("GeoIP2-City-Test-Broken-Double-Format.mmdb"),
        test_db("MaxMind-DB-test-broken-search-tree-24.mmdb"),
    ) else {
        return;
    };
    let e = open(&node_count).err().unwrap().to_string();
    assert!(e.contains("GeoIP2-City-Test-Invalid-Node-Count.mmdb: not a readable MaxMind database"), "{e}");
    let e = open(&tree).err().unwrap().to_string();
    assert!(e.contains("MaxMind-DB-test-broken-search-tree-24.mmdb"), "{e}");
    // Opens, then fails on one lookup: an error, not a panic.
    let dbs = dbs(Some(double.clone()), None, None);
    let e = dbs.lookup("81.2.69.160".parse().unwrap()).err().unwrap().to_string();
    assert!(e.contains("GeoIP2-City-Test-Broken-Double-Format.mmdb: lookup of 81.2.69.160 failed"), "{e}");

    // Through the binary: every problem of a directory at once, before any log is read.
    let dir = test_db("").unwrap();
    let log = fixture_path("access.log");
    let scan = scan(&[&log], &["--geoip-dir", dir.to_str().unwrap()]);
    assert_eq!(scan.run.status, 2, "{}", scan.run.stderr);
    assert!(
        scan.run.stderr.contains("Invalid-Node-Count.mmdb") && scan.run.stderr.contains("broken-search-tree-24.mmdb"),
        "{}",
        scan.run.stderr
    );
    assert!(!scan.out.join("summary.json").exists(), "nothing is written when the databases are broken");
    // A lookup that fails during the scan stops it with the file named.
    let ip_log = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        ip_log.path(),
        "81.2.69.160 - - [02/Mar/2026:12:00:00 +0100] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n",
    )
    .unwrap();
    let scan2 = scan_clf(ip_log.path(), &["--geoip-city", double.to_str().unwrap()]);
    assert_eq!(scan2.run.status, 2, "{}", scan2.run.stderr);
    assert!(
        scan2.run.stderr.contains("Broken-Double-Format.mmdb: lookup of 81.2.69.160 failed"),
        "{}",
        scan2.run.stderr
    );
}

fn scan_clf(path: &std::path::Path, extra: &[&str]) -> Scan {
    let mut args = vec!["--format", "clf"];
    args.extend_from_slice(extra);
    scan(&[path], &args)
}

#[test]
fn full_databases_realistic_lookups() {
    let (Some(city), Some(asn)) =
        (shared("geoip/full/GeoLite2-City-2018-07-03.mmdb"), shared("geoip/full/ipdb-ASN-2026-06-17.mmdb"))
    else {
        return;
    };
    let dbs = dbs(Some(city), Some(asn), None);
    let look = |ip: &str| dbs.lookup(ip.parse().unwrap()).unwrap();
    let aws = look("54.152.40.7");
    assert_eq!((aws.country.as_deref(), aws.city.as_deref(), aws.asn), (Some("US"), Some("Ashburn"), Some(14618)));
    let dio = look("128.199.100.50");
    assert_eq!((dio.country.as_deref(), dio.asn), (Some("SG"), Some(14061)));
    assert_eq!(look("8.8.8.8").asn, Some(15169));
    assert_eq!(look("1.1.1.1").asn, Some(13335));
    // Many distinct addresses: every lookup answers, in well under a second each.
    let start = std::time::Instant::now();
    let mut located = 0;
    for i in 0..20_000u32 {
        let ip = std::net::IpAddr::from((i.wrapping_mul(2_654_435_761)).to_be_bytes());
        located += usize::from(dbs.lookup(ip).unwrap().asn.is_some());
    }
    eprintln!("20,000 lookups in {:?}, {located} with an AS", start.elapsed());
    assert!(located > 10_000, "most of the address space is announced: {located}");
}

#[test]
fn geoip_command_prints_what_the_databases_say() {
    let (Some(city), Some(asn)) = (test_db("GeoIP2-City-Test.mmdb"), test_db("GeoLite2-ASN-Test.mmdb")) else { return };
    let run = leakhound(&[
        "geoip",
        "--geoip-city",
        city.to_str().unwrap(),
        "--geoip-asn",
        asn.to_str().unwrap(),
        "81.2.69.142",
        "1.128.0.0",
        "8.8.8.8",
        "192.168.1.1",
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            "81.2.69.142  public  GB (United Kingdom)  London  51.5142,-0.0931 ±10 km  network 81.2.69.142/31",
            "1.128.0.0  public  AS1221 Telstra Pty Ltd  network 1.128.0.0/11",
            "8.8.8.8  public  not in the databases",
            "192.168.1.1  private",
        ]
    );
}

#[test]
fn without_databases_the_scan_says_geo_is_off() {
    let log = fixture_path("access.log");
    let empty = tempfile::tempdir().unwrap();
    let scan = scan(&[&log], &["--geoip-dir", empty.path().to_str().unwrap()]);
    assert_eq!(scan.run.status, 0, "{}", scan.run.stderr);
    let summary = scan.summary();
    assert_eq!(summary["geoip"]["enabled"], false);
    assert!(summary["geoip"]["reason"].as_str().unwrap().contains("no GeoIP database found"));
    assert!(scan.run.stdout.contains("geolocation is off"), "{}", scan.run.stdout);
}

/// Every event written to `events.parquet` carries the answers of its own address: the
/// GeoIP columns, made per distinct address and written row group by row group, agree row by
/// row with a lookup of the row's `source_ip` (in memory and streaming, whose events are
/// ordered otherwise).
#[test]
fn every_written_event_has_its_own_address_answers() {
    let (dbs, problems) =
        GeoDatabases::discover(&Sources { dirs: vec![project_root().join("data/geoip")], ..Sources::default() });
    assert!(problems.is_empty(), "{problems:?}");
    for extra in [&[][..], &["--streaming"][..]] {
        let (_tmp, out, run) = demo_scan(extra);
        assert_eq!(run.status, 0, "{}", run.stderr);
        let events = read_events(&out);
        let text = |n: &str| events.column(n).unwrap().str().unwrap().clone();
        let (ip, class, country, city, org, network) =
            (text("source_ip"), text("ip_class"), text("country"), text("city"), text("as_org"), text("network"));
        let asn = events.column("asn").unwrap().i64().unwrap().clone();
        let lat = events.column("latitude").unwrap().f64().unwrap().clone();
        let hosting = events.column("is_hosting_provider").unwrap().bool().unwrap().clone();
        let tor = events.column("is_tor_exit_node").unwrap().bool().unwrap().clone();
        let mut located = 0;
        for i in 0..events.height() {
            let Some(address) = ip.get(i) else { continue };
            let r = dbs.lookup(address.parse().unwrap()).unwrap();
            let row = format!("{extra:?} row {i} ({address})");
            assert_eq!(class.get(i), Some(r.class.name()), "{row}");
            assert_eq!(country.get(i), r.country.as_deref(), "{row}");
            assert_eq!(city.get(i), r.city.as_deref(), "{row}");
            assert_eq!(asn.get(i), r.asn.map(i64::from), "{row}");
            assert_eq!(org.get(i), r.as_org.as_deref(), "{row}");
            assert_eq!(network.get(i), r.network.as_deref(), "{row}");
            assert_eq!(lat.get(i), r.latitude, "{row}");
            assert_eq!(hosting.get(i), r.anonymous.map(|a| a.hosting), "{row}");
            assert_eq!(tor.get(i), r.anonymous.map(|a| a.tor_exit), "{row}");
            located += usize::from(r.country.is_some());
        }
        assert!(located > events.height() / 2, "{extra:?}: most demo events are located ({located})");
        assert!(events.column("address_id").is_err(), "the address ids stay in memory");
    }
}
