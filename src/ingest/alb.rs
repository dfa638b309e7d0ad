//! AWS Application Load Balancer access logs (trailing fields of newer versions are ignored).
//!
//! `type time elb client:port target:port rpt tpt spt elb_status target_status received sent
//! "request" "user_agent" …`

use super::linewise::{self, Row};
use super::table::{Problem, RawTable};
use super::tokens::{self, non_dash, split_request, text};
use crate::schema::Field;
use std::borrow::Cow;

const FIELDS: [Field; 7] =
    [Field::Timestamp, Field::SourceIp, Field::Method, Field::Path, Field::Status, Field::Bytes, Field::UserAgent];

/// Request types an ALB writes in the first field.
pub const TYPES: [&str; 6] = ["http", "https", "h2", "grpcs", "ws", "wss"];

pub fn read(bytes: &[u8]) -> RawTable<'_> {
    linewise::parse(bytes, &FIELDS, parse_line)
}

fn parse_line<'a>(line: &'a [u8], row: &mut Row<'a>) -> Result<(), Problem> {
    let mut pos = 0;
    let mut tokens: Vec<Cow<'a, str>> = Vec::with_capacity(14);
    while tokens.len() < 14 {
        match tokens::next(line, &mut pos) {
            Some(Ok(t)) => tokens.push(text(t)),
            Some(Err(())) => return Err(Problem::new("malformed_line", "not an ALB log line: unclosed quote")),
            None => {
                return Err(Problem::new(
                    "malformed_line",
                    format!("not an ALB log line: {} fields where at least 14 are expected", tokens.len()),
                ))
            }
        }
    }
    if !TYPES.contains(&tokens[0].as_ref()) {
        return Err(Problem::new("malformed_line", "not an ALB log line: unknown request type"));
    }
    let mut t = tokens.into_iter();
    let mut take = || t.next().unwrap_or(Cow::Borrowed(""));
    let _type = take();
    let time = take();
    let _elb = take();
    let client = take();
    for _ in 0..4 {
        take(); // target:port and the three processing times
    }
    let elb_status = take();
    let _target_status = take();
    let _received = take();
    let sent = take();
    let request = take();
    let user_agent = take();

    let (method, path) = match split_request(&request) {
        (Some(m), Some(p)) => (Some(Cow::Owned(m.to_string())), Some(Cow::Owned(p.to_string()))),
        _ => (None, None),
    };
    row[0] = Some(time);
    row[1] = non_dash(strip_port(client));
    row[2] = method;
    row[3] = path;
    row[4] = non_dash(elb_status);
    row[5] = non_dash(sent);
    row[6] = non_dash(user_agent);
    Ok(())
}

/// Whether a line parses as an ALB log line (for format detection).
pub fn looks_like(line: &[u8]) -> bool {
    let mut row = vec![None; FIELDS.len()];
    parse_line(line, &mut row).is_ok()
}

/// `1.2.3.4:5678` → `1.2.3.4`, `[2001:db8::1]:443` → `2001:db8::1`; a bare address stays.
pub fn strip_port(addr: Cow<'_, str>) -> Cow<'_, str> {
    if addr.parse::<std::net::IpAddr>().is_ok() {
        return addr;
    }
    let stripped = if let Some(rest) = addr.strip_prefix('[') {
        rest.split_once(']').map(|(ip, _)| ip.to_string())
    } else {
        addr.rsplit_once(':').map(|(ip, _)| ip.to_string())
    };
    match stripped {
        Some(ip) => Cow::Owned(ip),
        None => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/v2/users?api_key=abc HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_123 "-" "-""#;

    fn cells(line: &'static str) -> Result<Vec<Option<String>>, Problem> {
        let mut row = vec![None; FIELDS.len()];
        parse_line(line.as_bytes(), &mut row)?;
        Ok(row.into_iter().map(|c| c.map(|c| c.into_owned())).collect())
    }

    #[test]
    fn alb_line_with_newer_trailing_fields() {
        let r = cells(LINE).unwrap();
        assert_eq!(r[0].as_deref(), Some("2018-07-02T22:23:00.186641Z"));
        assert_eq!(r[1].as_deref(), Some("192.168.131.39"));
        assert_eq!(r[2].as_deref(), Some("GET"));
        assert_eq!(r[3].as_deref(), Some("https://www.example.com:443/v2/users?api_key=abc"));
        assert_eq!(r[4].as_deref(), Some("200"));
        assert_eq!(r[5].as_deref(), Some("57"));
        assert_eq!(r[6].as_deref(), Some("curl/7.46.0"));
    }

    #[test]
    fn short_or_foreign_lines_are_malformed() {
        assert_eq!(cells("https 2018-07-02T22:23:00Z app/x 1.2.3.4:1").unwrap_err().code, "malformed_line");
        assert_eq!(
            cells(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua" a b c d"#)
                .unwrap_err()
                .code,
            "malformed_line"
        );
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("1.2.3.4:80".into()), "1.2.3.4");
        assert_eq!(strip_port("[2001:db8::1]:443".into()), "2001:db8::1");
        assert_eq!(strip_port("2001:db8::1".into()), "2001:db8::1");
        assert_eq!(strip_port("-".into()), "-");
    }
}
