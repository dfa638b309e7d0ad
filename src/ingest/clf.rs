//! nginx/Apache combined (and common) log format, with optional extra quoted fields.
//!
//! `host ident user [time] "request" status bytes ["referer" "user-agent" ["x-forwarded-for" …]]`.
//! Behind a load balancer `host` is the balancer's private address; then the client is the
//! right-most public address in the first extra field (`$http_x_forwarded_for`), the one the
//! balancer itself appended. Left-most entries are set by the client and can be forged.

use super::linewise::{self, Row};
use super::table::{Problem, RawTable};
use super::tokens::{self, non_dash, split_request, text};
use crate::schema::Field;
use std::borrow::Cow;
use std::net::IpAddr;

const FIELDS: [Field; 7] =
    [Field::Timestamp, Field::SourceIp, Field::Method, Field::Path, Field::Status, Field::Bytes, Field::UserAgent];

pub fn read(bytes: &[u8]) -> RawTable<'_> {
    linewise::parse(bytes, &FIELDS, parse_line)
}

fn malformed(what: &str) -> Problem {
    Problem::new("malformed_line", format!("not a combined-log line: {what}"))
}

fn parse_line<'a>(line: &'a [u8], row: &mut Row<'a>) -> Result<(), Problem> {
    let mut pos = 0;
    let next = |pos: &mut usize, what: &str| match tokens::next(line, pos) {
        Some(Ok(t)) => Ok(text(t)),
        Some(Err(())) => Err(malformed(&format!("unclosed quote or bracket in {what}"))),
        None => Err(malformed(&format!("the line ends before {what}"))),
    };
    let host = next(&mut pos, "the client address")?;
    next(&mut pos, "the ident field")?;
    next(&mut pos, "the user field")?;
    while line.get(pos) == Some(&b' ') {
        pos += 1;
    }
    if line.get(pos) != Some(&b'[') {
        return Err(malformed("no [time] field after the client, ident and user fields"));
    }
    let time = next(&mut pos, "the [time] field")?;
    let request = next(&mut pos, "the \"request\"")?;
    let status = next(&mut pos, "the status")?;
    let bytes = next(&mut pos, "the byte count")?;
    // Referer, user agent and extra fields are optional, but a started one must be complete:
    // an unclosed quote means the line was cut off.
    let mut optional = |what: &str| match tokens::next(line, &mut pos) {
        Some(Ok(t)) => Ok(Some(text(t))),
        Some(Err(())) => Err(malformed(&format!("unclosed quote in {what} (truncated line?)"))),
        None => Ok(None),
    };
    let _referer = optional("the referer")?;
    let user_agent = optional("the user agent")?;
    let forwarded = optional("the forwarded-for field")?;

    let (method, path) = match split_request(&request) {
        (Some(m), Some(p)) => (Some(Cow::Owned(m.to_string())), Some(Cow::Owned(p.to_string()))),
        _ => (None, None),
    };
    row[0] = Some(time);
    row[1] = Some(client_address(host, forwarded.and_then(non_dash)));
    row[2] = method;
    row[3] = path;
    row[4] = non_dash(status);
    row[5] = non_dash(bytes);
    row[6] = user_agent.and_then(non_dash);
    Ok(())
}

/// Whether a line parses as combined/common log format (for format detection).
pub fn looks_like(line: &[u8]) -> bool {
    let mut row = vec![None; FIELDS.len()];
    parse_line(line, &mut row).is_ok()
}

/// The address of the real client: `host`, unless `host` is a private or loopback address
/// (a proxy or balancer) and X-Forwarded-For names a public address after it.
fn client_address<'a>(host: Cow<'a, str>, forwarded: Option<Cow<'a, str>>) -> Cow<'a, str> {
    let is_internal = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    let host_internal = host.parse::<IpAddr>().is_ok_and(|ip| is_internal(&ip));
    if !host_internal {
        return host;
    }
    let Some(forwarded) = forwarded else { return host };
    forwarded
        .rsplit(',')
        .map(str::trim)
        .find(|entry| entry.parse::<IpAddr>().is_ok_and(|ip| !is_internal(&ip)))
        .map_or(host.clone(), |e| Cow::Owned(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(line: &str) -> Result<Vec<Option<String>>, Problem> {
        let mut row = vec![None; FIELDS.len()];
        let line: &'static str = Box::leak(line.to_string().into_boxed_str());
        parse_line(line.as_bytes(), &mut row)?;
        Ok(row.into_iter().map(|c| c.map(|c| c.into_owned())).collect())
    }

    #[test]
    fn combined_line() {
        let r = cells(r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /a.png HTTP/1.1" 200 203023 "http://x/" "Mozilla/5.0 (X)""#).unwrap();
        assert_eq!(
            r,
            vec![
                Some("17/May/2015:10:05:03 +0000".into()),
                Some("83.149.9.216".into()),
                Some("GET".into()),
                Some("/a.png".into()),
                Some("200".into()),
                Some("203023".into()),
                Some("Mozilla/5.0 (X)".into()),
            ]
        );
    }

    #[test]
    fn common_format_and_odd_requests() {
        let r = cells(r#"::1 - frank [10/Oct/2000:13:55:36 -0700] "-" 400 -"#).unwrap();
        assert_eq!(r[1].as_deref(), Some("::1"));
        assert_eq!((r[2].clone(), r[3].clone(), r[5].clone(), r[6].clone()), (None, None, None, None));
        let r = cells(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01" 400 0 "-" "-""#).unwrap();
        assert_eq!(r[3], None);
    }

    #[test]
    fn forwarded_for_behind_a_private_balancer() {
        let line = r#"10.0.0.5 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua" "6.6.6.6, 203.0.113.9, 10.0.0.7""#;
        assert_eq!(cells(line).unwrap()[1].as_deref(), Some("203.0.113.9"));
        let public = r#"198.51.100.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua" "6.6.6.6""#;
        assert_eq!(
            cells(public).unwrap()[1].as_deref(),
            Some("198.51.100.1"),
            "a public peer is not overridden by a forgeable header"
        );
    }

    #[test]
    fn malformed_lines() {
        for line in [
            "",
            "garbage",
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "Mozilla/5.0 (cut"#,
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1"#,
            r#"1.2.3.4 - - "GET /" 200 1 2"#,
        ] {
            let e = cells(line).unwrap_err();
            assert_eq!(e.code, "malformed_line", "{line}");
        }
    }
}
