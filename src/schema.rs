//! The canonical event schema: the fields leakhound understands and the columns of its frames.

/// A field of an input record that leakhound understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Timestamp,
    SourceIp,
    /// A raw secret (API key, `Authorization` header): fingerprinted at ingest, then dropped.
    Credential,
    /// A non-secret identifier of the credential (key name or id), used as is.
    CredentialId,
    Method,
    Path,
    Status,
    Bytes,
    UserAgent,
    /// How many requests the row stands for (pre-aggregated exports).
    Count,
}

impl Field {
    pub const ALL: [Field; 10] = [
        Field::Timestamp,
        Field::SourceIp,
        Field::Credential,
        Field::CredentialId,
        Field::Method,
        Field::Path,
        Field::Status,
        Field::Bytes,
        Field::UserAgent,
        Field::Count,
    ];

    /// The key naming this field in a mapping file's `[columns]` table.
    pub fn key(self) -> &'static str {
        match self {
            Field::Timestamp => "timestamp",
            Field::SourceIp => "source_ip",
            Field::Credential => "credential",
            Field::CredentialId => "credential_id",
            Field::Method => "method",
            Field::Path => "path",
            Field::Status => "status",
            Field::Bytes => "bytes",
            Field::UserAgent => "user_agent",
            Field::Count => "count",
        }
    }

    pub fn from_key(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.key() == key)
    }

    /// Input names recognised without a mapping, in order of preference (ECS names first),
    /// compared case-insensitively.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::Timestamp => &["@timestamp", "timestamp", "time", "ts", "date"],
            Field::SourceIp => &["source.ip", "client.ip", "client_ip", "ip", "remote_addr", "clientip"],
            Field::Credential => &["authorization", "api_key", "apikey", "token", "access_token", "x-api-key"],
            Field::CredentialId => &["credential.id", "key_id", "api_key_id", "credential"],
            Field::Method => &["http.request.method", "method"],
            Field::Path => &["url.path", "url.original", "path", "uri", "request"],
            Field::Status => &["http.response.status_code", "status", "status_code"],
            Field::Bytes => &["http.response.bytes", "bytes", "body_bytes_sent", "response_bytes"],
            Field::UserAgent => &["user_agent.original", "user_agent", "useragent", "ua"],
            Field::Count => &["count"],
        }
    }
}

/// Column names of the canonical events frame (`events.parquet`), in output order.
pub mod col {
    pub const TIMESTAMP: &str = "timestamp";
    pub const CREDENTIAL: &str = "credential";
    pub const CREDENTIAL_HINT: &str = "credential_hint";
    pub const CREDENTIAL_LABEL: &str = "credential_label";
    pub const SOURCE_IP: &str = "source_ip";
    pub const METHOD: &str = "method";
    pub const PATH: &str = "path";
    pub const STATUS: &str = "status";
    pub const BYTES: &str = "bytes";
    pub const USER_AGENT: &str = "user_agent";
    pub const COUNT: &str = "count";
    pub const SOURCE_FILE: &str = "source_file";
    pub const SOURCE_LINE: &str = "source_line";
}

/// The credential of rows that carry none and got none from `--credential`.
pub const UNKNOWN_CREDENTIAL: &str = "unknown";
