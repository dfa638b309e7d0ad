//! Choosing which input column holds each canonical field: the mapping first, then known names.

use crate::error::{Error, Result};
use crate::mapping::Mapping;
use crate::schema::Field;
use std::path::Path;

/// For each field, the index into `available` of the column that holds it.
pub fn resolve(path: &Path, available: &[String], mapping: &Mapping) -> Result<Vec<(Field, usize)>> {
    let find = |name: &str| {
        available.iter().position(|a| a == name).or_else(|| available.iter().position(|a| a.eq_ignore_ascii_case(name)))
    };
    let found = || {
        let mut names: Vec<_> = available.iter().map(|a| format!("`{a}`")).collect();
        if names.len() > 30 {
            names.truncate(30);
            names.push("…".into());
        }
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    let mut out = Vec::new();
    for field in Field::ALL {
        let index = match mapping.columns.get(&field) {
            Some(name) => Some(find(name).ok_or_else(|| Error::MappedColumnMissing {
                path: path.to_path_buf(),
                field: field.key(),
                column: name.clone(),
                found: found(),
            })?),
            None => field.aliases().iter().find_map(|alias| find(alias)),
        };
        if let Some(i) = index {
            // One column serves one field: an explicit mapping wins over a recognised name.
            if let Some(pos) = out.iter().position(|(_, j)| *j == i) {
                if mapping.columns.contains_key(&field) {
                    out.remove(pos);
                } else {
                    continue;
                }
            }
            out.push((field, i));
        }
    }
    if !out.iter().any(|(f, _)| *f == Field::Timestamp) {
        return Err(Error::NoTimestamp { path: path.to_path_buf(), found: found() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn recognised_names_are_case_insensitive_and_ecs_first() {
        let cols = names(&["IP", "Timestamp", "source.ip", "Status", "x"]);
        let r = resolve(Path::new("f"), &cols, &Mapping::default()).unwrap();
        assert!(r.contains(&(Field::Timestamp, 1)));
        assert!(r.contains(&(Field::SourceIp, 2)), "ECS name preferred: {r:?}");
        assert!(r.contains(&(Field::Status, 3)));
    }

    #[test]
    fn mapping_wins_and_missing_mapped_column_is_an_error() {
        let mut m = Mapping::default();
        m.columns.insert(Field::Timestamp, "when".into());
        m.columns.insert(Field::CredentialId, "ts".into());
        let r = resolve(Path::new("f"), &names(&["when", "ts"]), &m).unwrap();
        assert_eq!(r, vec![(Field::Timestamp, 0), (Field::CredentialId, 1)]);
        m.columns.insert(Field::SourceIp, "client".into());
        let e = resolve(Path::new("f"), &names(&["when"]), &m).unwrap_err();
        assert!(e.to_string().contains("`client`"), "{e}");
    }

    #[test]
    fn no_timestamp_is_an_error_naming_the_columns() {
        let e = resolve(Path::new("x.csv"), &names(&["a", "b"]), &Mapping::default()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("x.csv") && msg.contains("`a`, `b`") && msg.contains("--mapping"), "{msg}");
    }
}
