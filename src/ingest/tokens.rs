//! Splitting access-log lines (CLF, ALB) into space-separated, `"quoted"` or `[bracketed]` tokens.

use std::borrow::Cow;

/// The next token of `line` starting at `*pos`, or `None` at the end of the line.
/// Quoted tokens have their quotes removed and `\"`/`\\` escapes undone; a quoted token that is
/// not closed is an error (`Err(())`).
pub fn next<'a>(line: &'a [u8], pos: &mut usize) -> Option<Result<Cow<'a, [u8]>, ()>> {
    while line.get(*pos) == Some(&b' ') {
        *pos += 1;
    }
    let start = *pos;
    match line.get(start)? {
        b'"' => {
            let mut i = start + 1;
            let mut escaped = false;
            while i < line.len() {
                match line[i] {
                    b'\\' => {
                        escaped = true;
                        i += 2;
                        continue;
                    }
                    b'"' => {
                        *pos = i + 1;
                        let inner = &line[start + 1..i];
                        return Some(Ok(if escaped { Cow::Owned(unescape(inner)) } else { Cow::Borrowed(inner) }));
                    }
                    _ => i += 1,
                }
            }
            *pos = line.len();
            Some(Err(()))
        }
        // A bracketed token ends at `]` followed by a space or the end of the line, so that an
        // address such as `[2001:db8::1]:443` stays one plain token.
        b'[' => match bracket_end(&line[start..]) {
            Some(end) => {
                *pos = start + end + 1;
                Some(Ok(Cow::Borrowed(&line[start + 1..start + end])))
            }
            None if memchr::memchr(b']', &line[start..]).is_some() => Some(Ok(plain(line, pos, start))),
            None => {
                *pos = line.len();
                Some(Err(()))
            }
        },
        _ => Some(Ok(plain(line, pos, start))),
    }
}

fn plain<'a>(line: &'a [u8], pos: &mut usize, start: usize) -> Cow<'a, [u8]> {
    let end = memchr::memchr(b' ', &line[start..]).map_or(line.len(), |e| start + e);
    *pos = end;
    Cow::Borrowed(&line[start..end])
}

/// Position of the `]` that closes a bracketed token at the start of `s`.
fn bracket_end(s: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b']', s).find(|&i| matches!(s.get(i + 1), None | Some(b' ')))
}

fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() && matches!(s[i + 1], b'"' | b'\\') {
            out.push(s[i + 1]);
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Text of a token; invalid UTF-8 is replaced (log writers escape bytes, but not all of them).
pub fn text(token: Cow<'_, [u8]>) -> Cow<'_, str> {
    match token {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
    }
}

/// `-` is the access-log placeholder for "no value".
pub fn non_dash(s: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// Splits a request line `GET /path HTTP/1.1` into method and target. Anything else (`-`, TLS
/// bytes sent to a plain-HTTP port) has neither.
pub fn split_request(request: &str) -> (Option<&str>, Option<&str>) {
    let mut parts = request.splitn(3, ' ');
    match (parts.next(), parts.next()) {
        (Some(m), Some(t)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) && !t.is_empty() => {
            (Some(m), Some(t))
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(line: &[u8]) -> Vec<Result<String, ()>> {
        let mut pos = 0;
        std::iter::from_fn(|| next(line, &mut pos))
            .map(|t| t.map(|b| String::from_utf8_lossy(&b).into_owned()))
            .collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            all(br#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a\"b HTTP/1.0" 200  -"#),
            vec![
                Ok("1.2.3.4".into()),
                Ok("-".into()),
                Ok("-".into()),
                Ok("10/Oct/2000:13:55:36 -0700".into()),
                Ok("GET /a\"b HTTP/1.0".into()),
                Ok("200".into()),
                Ok("-".into()),
            ]
        );
        assert_eq!(all(b"a \"open"), vec![Ok("a".into()), Err(())]);
        assert_eq!(all(b"[open"), vec![Err(())]);
        assert_eq!(all(b"[2001:db8::1]:443 x"), vec![Ok("[2001:db8::1]:443".into()), Ok("x".into())]);
        assert_eq!(all(b"[a] b"), vec![Ok("a".into()), Ok("b".into())]);
        assert_eq!(all(br#""\\""#), vec![Ok("\\".into())]);
    }

    #[test]
    fn requests() {
        assert_eq!(split_request("GET /x?y=1 HTTP/1.1"), (Some("GET"), Some("/x?y=1")));
        assert_eq!(split_request("DELETE /v2/users/1"), (Some("DELETE"), Some("/v2/users/1")));
        assert_eq!(split_request("-"), (None, None));
        assert_eq!(split_request("\\x16\\x03\\x01"), (None, None));
    }
}
