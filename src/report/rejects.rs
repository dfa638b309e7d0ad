//! `rejects.csv`: every rejected row with its file, line and reason (never the raw line).

use super::csv_field;
use crate::ingest::Reject;

pub fn to_bytes(rejects: &[Reject]) -> Vec<u8> {
    let mut out = String::from("file,line,code,reason\n");
    for r in rejects {
        out.push_str(&format!("{},{},{},{}\n", csv_field(&r.file), r.line, r.code, csv_field(&r.reason)));
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_quoted() {
        let r = Reject {
            file: "a,b.csv".into(),
            line: 3,
            code: "bad_status",
            reason: "status \"x\" is not an HTTP status code".into(),
        };
        assert_eq!(
            String::from_utf8(to_bytes(&[r])).unwrap(),
            "file,line,code,reason\n\"a,b.csv\",3,bad_status,\"status \"\"x\"\" is not an HTTP status code\"\n"
        );
    }
}
