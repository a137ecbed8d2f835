//! Why an upstream call gave no offers, and how much of an airline's answer
//! the log may keep.

/// Why an upstream call gave no offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The airline failed or answered something unusable.
    Error(String),
    /// The deadline passed.
    Timeout(String),
}

/// The start of an answer's body (its first 200 bytes), for the log only:
/// passed on, an airline's words could tell a client anything.
pub fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        format!("`{}`", text.replace('\n', " "))
    }
}
