//! Numbers and durations as people read them in explanations and summaries.

/// `1234567` → `1,234,567`; negative numbers count as 0.
pub fn thousands(n: f64) -> String {
    let n = n.max(0.0).round() as u64;
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// At most `max` characters of a text for a terminal line, control characters escaped, `…` when
/// cut.
pub fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `1.5 MB`, `830 kB`, `12 B` (decimal units).
pub fn bytes(n: f64) -> String {
    let n = n.max(0.0);
    match n {
        n if n >= 1e9 => format!("{:.1} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.0} kB", n / 1e3),
        n => format!("{n:.0} B"),
    }
}

/// "1 h 30 min", "4 min", "12 s", "2 d 3 h" for a span in microseconds.
pub fn duration(micros: i64) -> String {
    let s = micros.max(0) / 1_000_000;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// Bytes as lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(-5.0), "0");
        assert_eq!(thousands(2.6), "3");
    }

    #[test]
    fn clipping() {
        assert_eq!(clip("python-requests/2.32.3", 40), "python-requests/2.32.3");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("a\u{1b}[31m", 10), "a\\u{1b}[31m");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes(12.0), "12 B");
        assert_eq!(bytes(830_400.0), "830 kB");
        assert_eq!(bytes(145_600_000.0), "145.6 MB");
        assert_eq!(bytes(2.5e9), "2.5 GB");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(59_000_000), "59 s");
        assert_eq!(duration(240_000_000), "4 min");
        assert_eq!(duration(5_400_000_000), "1 h 30 min");
        assert_eq!(duration(7_200_000_000), "2 h");
        assert_eq!(duration(183_600_000_000), "2 d 3 h");
    }
}
