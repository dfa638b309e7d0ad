//! Secrets: fingerprints and hints for raw API keys, query-string scrubbing, and safe excerpts.
//!
//! A raw key must never reach a frame, an output file, a message or a chart. Raw values are
//! turned into a [`Fingerprint`] at ingest and dropped; anything echoed back to the user from a
//! log goes through [`excerpt`], which masks token-like runs.

use sha2::{Digest, Sha256};

/// Prefix of every fingerprint, versioned so that the scheme can change without ambiguity.
pub const FINGERPRINT_PREFIX: &str = "fc1:";

/// Shortest secret whose last characters are shown in a hint; shorter ones show none.
const MIN_LEN_FOR_HINT: usize = 12;

/// A stable, non-reversible identity of a secret, plus a hint a human can match against a vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `fc1:` + the first 12 hex digits of SHA-256 of the secret.
    pub id: String,
    /// `…` + the last 4 characters of the secret (only `…` for secrets shorter than 12 characters).
    pub hint: String,
}

/// Fingerprints a secret: `fc1:` + the first 12 hex digits of its SHA-256, and a `…abcd` hint.
pub fn fingerprint(secret: &str) -> Fingerprint {
    let digest = Sha256::digest(secret.as_bytes());
    let mut id = String::with_capacity(FINGERPRINT_PREFIX.len() + 12);
    id.push_str(FINGERPRINT_PREFIX);
    id.push_str(&crate::text::hex(&digest[..6]));
    let n_chars = secret.chars().count();
    let hint = if n_chars >= MIN_LEN_FOR_HINT {
        let tail: String = secret.chars().skip(n_chars - 4).collect();
        format!("…{tail}")
    } else {
        "…".to_string()
    };
    Fingerprint { id, hint }
}

/// The secret inside an `Authorization`-style value: `Bearer abc` → `abc`, `Token token=abc` →
/// `abc`, `Basic dXNlcjpwYXNz` → `dXNlcjpwYXNz`; a bare value is the secret itself.
/// Returns `None` for an empty value or a placeholder such as `-`.
pub fn secret_of(value: &str) -> Option<&str> {
    let value = value.trim();
    if value.is_empty() || value == "-" {
        return None;
    }
    let rest = match value.split_once(char::is_whitespace) {
        Some((scheme, rest))
            if ["bearer", "token", "basic", "apikey", "api-key", "key"]
                .iter()
                .any(|s| scheme.eq_ignore_ascii_case(s)) =>
        {
            rest.trim()
        }
        _ => value,
    };
    // `Token token=abc` and `Token token="abc"`.
    let rest = match rest.split_once('=') {
        Some((name, v)) if name.eq_ignore_ascii_case("token") => v.trim().trim_matches('"'),
        _ => rest,
    };
    (!rest.is_empty()).then_some(rest)
}

/// Query-string parameter names whose values are secrets (compared case-insensitively,
/// with `-` and `_` treated alike).
const SECRET_PARAMS: &[&str] = &[
    "api_key",
    "apikey",
    "key",
    "token",
    "access_token",
    "auth",
    "auth_token",
    "authorization",
    "x_api_key",
    "client_secret",
    "secret",
    "password",
    "passwd",
    "signature",
    "sig",
    "refresh_token",
    "id_token",
    "jwt",
    "session",
    "sessionid",
];

fn is_secret_param(name: &str) -> bool {
    SECRET_PARAMS.iter().any(|p| {
        p.len() == name.len()
            && p.bytes().zip(name.bytes()).all(|(a, b)| {
                let b = b.to_ascii_lowercase();
                a == b || (a == b'_' && b == b'-')
            })
    })
}

/// A path whose secret query parameters were replaced by fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrubbedPath {
    pub path: String,
    /// The first secret found in the query string (decoded), for use as the row's credential.
    pub secret: Option<String>,
}

/// Replaces the values of secret-carrying query parameters (`api_key`, `token`, …) with their
/// fingerprints, e.g. `/v2/users?api_key=s3cr3t&page=2` → `/v2/users?api_key=fc1:…&page=2`.
pub fn scrub_path(path: &str) -> ScrubbedPath {
    let Some((base, query)) = path.split_once('?') else {
        return ScrubbedPath { path: path.to_string(), secret: None };
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let mut secret = None;
    let mut out = String::with_capacity(path.len());
    out.push_str(base);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, value)) if is_secret_param(&percent_decode(name)) => {
                out.push_str(name);
                out.push('=');
                let decoded = percent_decode(value);
                if decoded.is_empty() {
                    continue;
                }
                out.push_str(&fingerprint(&decoded).id);
                if secret.is_none() {
                    secret = Some(decoded);
                }
            }
            _ => out.push_str(pair),
        }
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    ScrubbedPath { path: out, secret }
}

/// Decodes `%XX` escapes; invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Longest excerpt of a log value shown in a message.
const EXCERPT_CHARS: usize = 40;
/// A run of token characters at least this long, mixing letters and digits, is masked.
const TOKEN_RUN: usize = 16;

/// A short, quoted, secret-safe excerpt of a log value for messages and `rejects.csv`:
/// token-like runs (16+ characters of letters, digits and `-_+/=.~` mixing letters and digits)
/// are masked as `[redacted]`, control characters are escaped and the result is cut to 40
/// characters.
pub fn excerpt(value: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "-_+/=.~".contains(c);
    let mut masked = String::with_capacity(value.len().min(64));
    let mut run = String::new();
    let flush = |run: &mut String, masked: &mut String| {
        let has_alpha = run.chars().any(|c| c.is_ascii_alphabetic());
        let has_digit = run.chars().any(|c| c.is_ascii_digit());
        if run.chars().count() >= TOKEN_RUN && has_alpha && has_digit {
            masked.push_str("[redacted]");
        } else {
            masked.push_str(run);
        }
        run.clear();
    };
    for c in value.chars() {
        if is_token_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut masked);
            masked.push(c);
        }
    }
    flush(&mut run, &mut masked);
    format!("\"{}\"", crate::text::clip(&masked, EXCERPT_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_prefix_and_hint_shows_last_four() {
        // sha256("test") = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        let fp = fingerprint("test-key-abcdef1234");
        assert!(fp.id.starts_with("fc1:"));
        assert_eq!(fp.id.len(), 16);
        assert_eq!(fp.hint, "…1234");
        assert_eq!(fingerprint("test").id, "fc1:9f86d081884c");
        assert_eq!(fingerprint("test").hint, "…", "short secrets show no characters");
    }

    #[test]
    fn authorization_schemes_are_stripped() {
        assert_eq!(secret_of("Bearer abc123"), Some("abc123"));
        assert_eq!(secret_of("bearer   abc123 "), Some("abc123"));
        assert_eq!(secret_of("Token token=\"abc\""), Some("abc"));
        assert_eq!(secret_of("Basic dXNlcjpwYXNz"), Some("dXNlcjpwYXNz"));
        assert_eq!(secret_of("rawkey"), Some("rawkey"));
        assert_eq!(secret_of("-"), None);
        assert_eq!(secret_of("  "), None);
        assert_eq!(secret_of("Bearer"), Some("Bearer"));
    }

    #[test]
    fn secret_query_parameters_are_fingerprinted() {
        let s = scrub_path("/v2/users?page=2&api_key=sk_live_123&X-Api-Key=x#frag");
        let fp = fingerprint("sk_live_123").id;
        assert_eq!(s.path, format!("/v2/users?page=2&api_key={fp}&X-Api-Key={}#frag", fingerprint("x").id));
        assert_eq!(s.secret.as_deref(), Some("sk_live_123"));
        assert_eq!(scrub_path("/plain").path, "/plain");
        assert_eq!(scrub_path("/a?token=").path, "/a?token=");
        let enc = scrub_path("/a?token=ab%2Bcd");
        assert_eq!(enc.secret.as_deref(), Some("ab+cd"));
        assert!(!enc.path.contains("ab%2Bcd"));
    }

    #[test]
    fn percent_decode_keeps_invalid_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%"), "%");
    }

    #[test]
    fn excerpts_mask_tokens_and_cut_long_values() {
        assert_eq!(excerpt("2024-13-01T00:00:00Z"), "\"2024-13-01T00:00:00Z\"");
        assert_eq!(excerpt("key sk_live_4f9a8b7c6d5e4f3a"), "\"key [redacted]\"");
        assert_eq!(excerpt("a\nb"), "\"a\\nb\"");
        let long = "x ".repeat(50);
        assert!(excerpt(&long).ends_with("…\""));
    }
}
