//! The command line: arguments, commands, and what is printed. The only place that uses anyhow.

mod progress;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use leakhound::audit::{audit, AuditOptions};
use leakhound::detect::calendar::{parse_days, parse_holidays, parse_hours, WorkCalendar};
use leakhound::detect::off_hours::OffHoursConfig;
use leakhound::detect::rate::RateConfig;
use leakhound::detect::rotation::RotationConfig;
use leakhound::detect::unfamiliar::{Baseline, UnfamiliarConfig};
use leakhound::detect::Severity;
use leakhound::enrich::geoip::{GeoDatabases, Sources, SYSTEM_DIRS};
use leakhound::ingest::{Format, IngestOptions};
use leakhound::inventory::{inventory, InventoryOptions};
use leakhound::mapping::{parse_zone, Mapping};
use leakhound::report::{Output, OutputDir};
use leakhound::scan::Streaming;
use leakhound::{scan, ScanOptions};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Exit statuses: 0 done, 1 findings at or above `--fail-on`, 2 error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Done,
    /// Findings at or above `--fail-on`.
    Findings,
    Error,
}

impl From<Status> for std::process::ExitCode {
    fn from(s: Status) -> Self {
        match s {
            Status::Done => std::process::ExitCode::SUCCESS,
            Status::Findings => std::process::ExitCode::from(1),
            Status::Error => std::process::ExitCode::from(2),
        }
    }
}

#[derive(Parser)]
#[command(name = "leakhound", version, about = "Was our API key leaked, and is someone else using it?", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Review access and API-usage logs for abuse of API keys: unfamiliar sources, rate spikes,
    /// off-hours use, use after rotation; write incidents, flagged events, a report and charts.
    Scan(Box<ScanArgs>),
    /// The nightly audit: judge only logs not seen before against the history kept in a state
    /// directory, write the report for them, then remember them. Prints one line; exit status
    /// 0 when nothing reaches --fail-on, 1 when something does, 2 on errors.
    Audit(Box<AuditArgs>),
    /// List the clients that use each key (network and user agent, first and last seen, volume,
    /// typical hours, endpoints): the services that break when a key is rotated.
    Inventory(Box<InventoryArgs>),
    /// Show what the GeoIP databases say about addresses.
    Geoip {
        /// IPv4 or IPv6 addresses.
        #[arg(required = true, value_name = "IP")]
        ips: Vec<String>,
        #[command(flatten)]
        geo: GeoArgs,
    },
    /// Write the demo data set (deterministic; used to produce `data/`).
    #[command(hide = true)]
    GenerateDemo {
        /// Directory to write `logs/`, `networks.csv` and `truth.json` into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// One directory of logs per UTC day, as a nightly audit receives them.
        #[arg(long)]
        daily: bool,
    },
    /// Write a synthetic benchmark input of N events (deterministic; see benches/README.md).
    #[command(hide = true)]
    GenerateBench {
        /// Number of events.
        #[arg(long)]
        events: u64,
        /// csv or jsonl.
        #[arg(long, default_value = "csv")]
        format: String,
        #[arg(long, default_value_t = 8)]
        keys: usize,
        /// Distinct client addresses (about).
        #[arg(long, default_value_t = 5000)]
        addresses: usize,
        /// File to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct ScanArgs {
    #[command(flatten)]
    input: InputArgs,

    /// Output directory (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    #[command(flatten)]
    detect: DetectArgs,

    /// Exit with status 1 when an incident is at least this severe (info, low, medium, high, critical).
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    fail_on: Option<Severity>,

    /// Judge events after this time against the history before it (RFC 3339), instead of
    /// against everything before each event.
    #[arg(long, value_name = "TIMESTAMP", value_parser = parse_instant, conflicts_with = "baseline_days")]
    baseline_until: Option<i64>,

    /// Use the first N days of the input as the baseline.
    #[arg(long, value_name = "N")]
    baseline_days: Option<u32>,

    /// Print where the time went (read, geolocate, detect, report) on standard error.
    #[arg(long)]
    timings: bool,

    /// Read the events to disk (in the output directory) grouped by key and judge one group of
    /// keys at a time: for inputs larger than memory. Chosen by itself when the events do not
    /// fit in --max-memory.
    #[arg(long, conflicts_with = "no_streaming")]
    streaming: bool,

    /// Hold every event in memory, however large the inputs.
    #[arg(long)]
    no_streaming: bool,

    /// Memory a scan may use before it streams (e.g. 4G; K, M, G, T are powers of 1024).
    /// Default: half of the memory available when it starts.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, conflicts_with_all = ["streaming", "no_streaming"])]
    max_memory: Option<u64>,

    /// Streaming with this many groups of keys (for tests).
    #[arg(long, value_name = "N", hide = true, conflicts_with = "no_streaming", value_parser = clap::value_parser!(u16).range(1..))]
    streaming_buckets: Option<u16>,

    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
struct AuditArgs {
    #[command(flatten)]
    input: InputArgs,

    /// The state directory: the history new logs are judged against (created if needed).
    #[arg(long, value_name = "DIR")]
    state: PathBuf,

    /// Output directory for this audit's report (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    #[command(flatten)]
    detect: DetectArgs,

    /// Exit with status 1 when an incident is at least this severe (info, low, medium, high, critical).
    #[arg(long, value_name = "SEVERITY", default_value = "high", value_parser = parse_severity)]
    fail_on: Severity,

    /// Forget history older than this many days before the latest event.
    #[arg(long, value_name = "DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3660))]
    retain_days: u32,

    /// Print where the time went (read, geolocate, detect, report) on standard error.
    #[arg(long)]
    timings: bool,
}

/// How events are judged: shared by `scan` and `audit`.
#[derive(clap::Args)]
struct DetectArgs {
    /// The organisation's time zone for working hours (IANA name).
    #[arg(long, value_name = "ZONE", default_value = "UTC", value_parser = parse_tz)]
    tz: chrono_tz::Tz,

    #[command(flatten)]
    geo: GeoArgs,

    /// Working hours in --tz, e.g. 08:00-18:00.
    #[arg(long, value_name = "HH:MM-HH:MM", default_value = "08:00-18:00", value_parser = parse_hours)]
    work_hours: (u32, u32),

    /// Working days, e.g. Mon-Fri or Mon,Tue,Thu.
    #[arg(long, value_name = "DAYS", default_value = "Mon-Fri", value_parser = parse_days)]
    work_days: [bool; 7],

    /// Holidays: a file with one YYYY-MM-DD date per line.
    #[arg(long, value_name = "FILE")]
    holidays: Option<PathBuf>,

    /// Rate buckets in minutes (default: 15 for busy keys, 60 for quiet ones).
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(i64).range(1..=1440))]
    bucket: Option<i64>,

    /// A key (fingerprint, id or label) rotated at a time: `prod-bot=2026-10-20T09:00:00Z`
    /// (repeatable). Any later use of the old key is a finding.
    #[arg(long = "rotated", value_name = "KEY=TIMESTAMP", value_parser = parse_rotation)]
    rotated: Vec<(String, i64)>,

    /// Every key in the input was rotated at this time (RFC 3339).
    #[arg(long, value_name = "TIMESTAMP", value_parser = parse_instant)]
    rotated_at: Option<i64>,

    /// A known partner's network, never reported as unfamiliar (repeatable).
    #[arg(long = "allow-cidr", value_name = "CIDR", value_parser = parse_cidr)]
    allow_cidrs: Vec<ipnet::IpNet>,

    /// A known partner's AS number, never reported as unfamiliar (repeatable).
    #[arg(long = "allow-asn", value_name = "ASN", value_parser = parse_asn)]
    allow_asns: Vec<u32>,
}

impl DetectArgs {
    /// Everything a run needs, from these settings, the inputs and the output directory.
    fn options(self, input: InputArgs, out: PathBuf, baseline: Baseline, quiet: bool) -> anyhow::Result<ScanOptions> {
        let ingest = input.options(quiet)?;
        let (allow_cidrs, allow_asns) = (ingest.mapping.allow_cidrs.clone(), ingest.mapping.allow_asns.clone());
        let mut rotated = ingest.mapping.rotated.clone();
        rotated.extend(self.rotated);
        let calendar = calendar(self.tz, self.work_hours, self.work_days, self.holidays.as_deref())?;
        if out.exists() && !out.is_dir() {
            bail!("{}: --out must be a directory, and this is a file", out.display());
        }
        Ok(ScanOptions {
            inputs: input.inputs,
            out_dir: out,
            ingest,
            timezone: self.tz,
            geoip: self.geo.sources()?,
            unfamiliar: UnfamiliarConfig {
                baseline,
                allow_cidrs: [self.allow_cidrs, allow_cidrs].concat(),
                allow_asns: [self.allow_asns, allow_asns].concat(),
                ..UnfamiliarConfig::default()
            },
            rate: RateConfig { calendar: calendar.clone(), bucket_minutes: self.bucket, ..RateConfig::default() },
            off_hours: OffHoursConfig { calendar, ..OffHoursConfig::default() },
            rotation: RotationConfig { rotated, all_rotated_at: self.rotated_at },
            streaming: Streaming::default(),
        })
    }
}

#[derive(clap::Args)]
struct InventoryArgs {
    #[command(flatten)]
    input: InputArgs,

    /// List the clients in an audit's state directory instead of reading logs.
    #[arg(long, value_name = "DIR", conflicts_with = "inputs")]
    state: Option<PathBuf>,

    #[command(flatten)]
    geo: GeoArgs,

    /// The organisation's time zone, for the clients' typical hours (IANA name).
    #[arg(long, value_name = "ZONE", default_value = "UTC", value_parser = parse_tz)]
    tz: chrono_tz::Tz,

    /// Also write inventory.csv and inventory.json into this directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// What to read and how: shared by `scan`, `audit` and `inventory`.
#[derive(clap::Args)]
struct InputArgs {
    /// Log files, directories (read recursively), glob patterns, or `-` for standard input (not
    /// for `audit`, which must find its inputs again).
    /// `.gz` files are decompressed.
    #[arg(value_name = "INPUT")]
    inputs: Vec<String>,

    /// Read every input as this format instead of detecting it: jsonl, json, csv, tsv, clf, alb.
    #[arg(long, value_name = "F", value_parser = parse_format)]
    format: Option<Format>,

    /// TOML file naming the input columns, the timestamp format and zone, and key labels.
    #[arg(long, value_name = "FILE")]
    mapping: Option<PathBuf>,

    /// Credential for rows that carry none (one log file per key).
    #[arg(long, value_name = "LABEL")]
    credential: Option<String>,

    /// Time zone for timestamps without a UTC offset (IANA name, e.g. Europe/Berlin).
    #[arg(long, value_name = "ZONE", value_parser = parse_tz)]
    assume_tz: Option<chrono_tz::Tz>,

    /// A name for a key: `fc1:3f9a1c0b7e2d=prod-bot` (repeatable).
    #[arg(long = "key-label", value_name = "FINGERPRINT=NAME", value_parser = parse_label)]
    key_labels: Vec<(String, String)>,

    /// Leave out a file when more than this share of its rows is rejected (0 to 1).
    #[arg(long, value_name = "RATIO", default_value_t = 0.5, value_parser = parse_ratio)]
    max_reject_ratio: f64,
}

impl InputArgs {
    /// The mapping file and the ingest options; notes unused mapping keys unless quiet.
    fn options(&self, quiet: bool) -> anyhow::Result<IngestOptions> {
        if self.inputs.is_empty() {
            bail!("no INPUT given: name log files, directories or glob patterns (see --help)");
        }
        let mapping = match &self.mapping {
            Some(path) => Mapping::load(path)?,
            None => Mapping::default(),
        };
        if !quiet && !mapping.ignored_keys.is_empty() {
            eprintln!("leakhound: note: the mapping's {} not used", mapping.ignored_keys.join(", "));
        }
        Ok(IngestOptions {
            format: self.format,
            mapping,
            credential: self.credential.clone(),
            assume_tz: self.assume_tz,
            max_reject_ratio: self.max_reject_ratio,
            key_labels: self.key_labels.iter().cloned().collect::<BTreeMap<_, _>>(),
            ..IngestOptions::default()
        })
    }
}

/// Where the MaxMind databases are: explicit files, then `--geoip-dir`, then
/// `LEAKHOUND_GEOIP_DIR`, then the directories `geoipupdate` writes to.
#[derive(clap::Args)]
struct GeoArgs {
    /// Directory holding MaxMind databases (recognised by their metadata).
    #[arg(long, value_name = "DIR")]
    geoip_dir: Option<PathBuf>,
    /// City or Country database.
    #[arg(long, value_name = "FILE")]
    geoip_city: Option<PathBuf>,
    /// ASN database.
    #[arg(long, value_name = "FILE")]
    geoip_asn: Option<PathBuf>,
    /// Anonymous-IP database.
    #[arg(long, value_name = "FILE")]
    geoip_anon: Option<PathBuf>,
}

impl GeoArgs {
    fn sources(self) -> anyhow::Result<Sources> {
        if let Some(dir) = &self.geoip_dir {
            if !dir.is_dir() {
                bail!("{}: --geoip-dir must be a directory holding .mmdb files", dir.display());
            }
        }
        let mut dirs: Vec<PathBuf> = self.geoip_dir.into_iter().collect();
        dirs.extend(std::env::var_os("LEAKHOUND_GEOIP_DIR").map(PathBuf::from));
        dirs.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
        Ok(Sources { city: self.geoip_city, asn: self.geoip_asn, anonymous: self.geoip_anon, dirs })
    }
}

/// The organisation's working time from the command line.
fn calendar(
    tz: chrono_tz::Tz,
    (start_minute, end_minute): (u32, u32),
    days: [bool; 7],
    holidays: Option<&std::path::Path>,
) -> anyhow::Result<WorkCalendar> {
    let holidays = match holidays {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read the holidays file", path.display()))?;
            parse_holidays(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Default::default(),
    };
    Ok(WorkCalendar { tz, start_minute, end_minute, days, holidays })
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

fn parse_tz(s: &str) -> Result<chrono_tz::Tz, String> {
    parse_zone(s)
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
            Ok((k.trim().to_string(), v.trim().to_string()))
        }
        _ => Err(format!("`{s}` is not FINGERPRINT=NAME, e.g. fc1:3f9a1c0b7e2d=prod-bot")),
    }
}

/// `4G`, `512M`, `1.5GiB`, `100000` (bytes); K, M, G and T are powers of 1024.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let power = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        _ => return Err(format!("`{s}`: use a size such as 512M or 4G")),
    };
    let value: f64 = number.parse().map_err(|_| format!("`{s}`: use a size such as 512M or 4G"))?;
    let bytes = value * 1024f64.powi(power);
    if !(1.0..1.0e19).contains(&bytes) {
        return Err(format!("`{s}`: use a size of at least one byte, such as 512M or 4G"));
    }
    Ok(bytes as u64)
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

fn parse_instant(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_micros())
        .map_err(|_| format!("`{s}` is not an RFC 3339 time such as 2026-10-01T00:00:00Z"))
}

fn parse_rotation(s: &str) -> Result<(String, i64), String> {
    let (key, at) =
        s.split_once('=').ok_or_else(|| format!("`{s}` is not KEY=TIMESTAMP, e.g. prod-bot=2026-10-20T09:00:00Z"))?;
    Ok((key.trim().to_string(), parse_instant(at.trim())?))
}

fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is not a network such as 203.0.113.0/24"))
}

fn parse_asn(s: &str) -> Result<u32, String> {
    s.trim_start_matches(['A', 'S', 'a', 's']).parse().map_err(|_| format!("`{s}` is not an AS number such as 16509"))
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{s}` is not a ratio between 0 and 1")),
    }
}

pub fn run() -> anyhow::Result<Status> {
    let cli = Cli::parse();
    match cli.command {
        Command::Scan(args) => run_scan(*args),
        Command::Audit(args) => run_audit(*args),
        Command::Inventory(args) => run_inventory(*args),
        Command::Geoip { ips, geo } => run_geoip(&ips, geo),
        Command::GenerateBench { events, format, keys, addresses, out } => {
            use leakhound::synth::{write, Spec, SynthFormat};
            let format = match format.as_str() {
                "csv" => SynthFormat::Csv,
                "jsonl" => SynthFormat::Jsonl,
                other => bail!("--format {other}: use csv or jsonl"),
            };
            let file = std::fs::File::create(&out).with_context(|| format!("{}: cannot write", out.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
            write(&Spec { events, keys, addresses, format }, &mut w)
                .with_context(|| format!("{}: cannot write", out.display()))?;
            Ok(Status::Done)
        }
        Command::GenerateDemo { out, daily } => {
            let split = if daily { leakhound::demo::Split::Daily } else { leakhound::demo::Split::Whole };
            leakhound::demo::generate_split(&out, split)?;
            Ok(Status::Done)
        }
    }
}

fn run_scan(args: ScanArgs) -> anyhow::Result<Status> {
    let baseline = match (args.baseline_until, args.baseline_days) {
        (Some(t), _) => Baseline::Until(t),
        (None, Some(d)) => Baseline::Days(d),
        (None, None) => Baseline::Rolling,
    };
    let mut opts = args.detect.options(args.input, args.out, baseline, args.quiet)?;
    opts.streaming = match (args.streaming_buckets, args.streaming, args.no_streaming) {
        (Some(n), _, _) => Streaming::Buckets(usize::from(n)),
        (None, true, _) => Streaming::Buckets(leakhound::scan::streaming::BUCKETS),
        (None, _, true) => Streaming::Never,
        _ => Streaming::Auto { max_memory: args.max_memory },
    };
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let bar = progress::Bar::new(show_progress);
    let outcome = scan(&opts, &bar).context("scan failed")?;
    for e in &outcome.errors {
        eprintln!("leakhound: error: {e}");
    }
    if !args.quiet {
        print!("{}", outcome.text);
    }
    if outcome.streamed && matches!(opts.streaming, Streaming::Auto { .. }) && !args.quiet {
        eprintln!(
            "leakhound: note: the events did not fit in the memory a scan may use (--max-memory, default half of what is available), so they were read to disk and judged one group of keys at a time (--no-streaming holds them in memory)"
        );
    }
    if args.timings {
        eprintln!("leakhound: timings: {}", outcome.timings);
    }
    Ok(if !outcome.errors.is_empty() {
        Status::Error
    } else if args.fail_on.is_some_and(|f| outcome.worst.is_some_and(|w| w >= f)) {
        Status::Findings
    } else {
        Status::Done
    })
}

fn run_audit(args: AuditArgs) -> anyhow::Result<Status> {
    if args.state.exists() && !args.state.is_dir() {
        bail!("{}: --state must be a directory, and this is a file", args.state.display());
    }
    let scan = args.detect.options(args.input, args.out, Baseline::Rolling, false)?;
    let opts = AuditOptions { scan, state_dir: args.state, retain_days: args.retain_days };
    let bar = progress::Bar::new(std::io::stderr().is_terminal());
    let outcome = audit(&opts, &bar).context("audit failed")?;
    for e in &outcome.errors {
        eprintln!("leakhound: error: {e}");
    }
    if args.timings {
        eprintln!("leakhound: timings: {}", outcome.timings);
    }
    println!("{}", outcome.one_line(args.fail_on));
    Ok(if !outcome.errors.is_empty() {
        Status::Error
    } else if outcome.worst().is_some_and(|w| w >= args.fail_on) {
        Status::Findings
    } else {
        Status::Done
    })
}

fn run_geoip(ips: &[String], geo: GeoArgs) -> anyhow::Result<Status> {
    let (dbs, problems) = GeoDatabases::discover(&geo.sources()?);
    for p in &problems {
        eprintln!("leakhound: error: {p}");
    }
    if !problems.is_empty() {
        return Ok(Status::Error);
    }
    if dbs.is_empty() {
        bail!("no GeoIP database found: pass --geoip-dir DIR or --geoip-city/--geoip-asn/--geoip-anon FILE");
    }
    let mut status = Status::Done;
    for raw in ips {
        let Some(ip) = leakhound::ingest::parse_ip(raw) else {
            eprintln!("leakhound: error: `{raw}` is not an IPv4 or IPv6 address");
            status = Status::Error;
            continue;
        };
        let r = dbs.lookup(ip)?;
        let mut parts = vec![ip.to_string(), r.class.name().to_string()];
        if let Some(c) = &r.country {
            parts.push(format!("{c} ({})", r.country_name.as_deref().unwrap_or("?")));
        }
        parts.extend(r.city.clone());
        if let (Some(lat), Some(lon)) = (r.latitude, r.longitude) {
            let radius = r.accuracy_km.map(|k| format!(" ±{k} km")).unwrap_or_default();
            parts.push(format!("{lat:.4},{lon:.4}{radius}"));
        }
        if let Some(asn) = r.asn {
            parts.push(format!("AS{asn} {}", r.as_org.as_deref().unwrap_or("")).trim_end().to_string());
        }
        let a = r.anonymous.unwrap_or_default();
        let flags: Vec<&str> = [
            (a.anonymous, "anonymous"),
            (a.vpn, "vpn"),
            (a.hosting, "hosting"),
            (a.public_proxy, "public-proxy"),
            (a.residential_proxy, "residential-proxy"),
            (a.tor_exit, "tor-exit"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        if !flags.is_empty() {
            parts.push(flags.join(","));
        }
        match &r.network {
            Some(n) => parts.push(format!("network {n}")),
            None if r.class.name() == "public" => parts.push("not in the databases".into()),
            None => {}
        }
        println!("{}", parts.join("  "));
    }
    Ok(status)
}

fn run_inventory(args: InventoryArgs) -> anyhow::Result<Status> {
    let calendar = WorkCalendar { tz: args.tz, ..WorkCalendar::default() };
    let (clients, errors) = match &args.state {
        Some(dir) => (leakhound::inventory::inventory_of_state(dir, &calendar)?, Vec::new()),
        None => {
            let ingest = args.input.options(args.quiet)?;
            let sources = args.geo.sources()?;
            let opts =
                InventoryOptions { inputs: &args.input.inputs, ingest: &ingest, geoip: &sources, calendar: &calendar };
            let bar = progress::Bar::new(!args.quiet && std::io::stderr().is_terminal());
            inventory(&opts, &bar).context("inventory failed")?
        }
    };
    for e in &errors {
        eprintln!("leakhound: error: {e}");
    }
    if let Some(dir) = &args.out {
        let out = OutputDir::create(dir)?;
        out.commit(&[
            Output::new("inventory.csv", leakhound::inventory::to_csv(&clients)),
            Output::new("inventory.json", leakhound::inventory::to_json(&clients)),
        ])?;
    }
    if !args.quiet {
        print!("{}", leakhound::inventory::to_text(&clients));
    }
    Ok(if errors.is_empty() { Status::Done } else { Status::Error })
}
