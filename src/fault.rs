//! Errors that keep their cause. A [`Fault`] is what went wrong in words,
//! with the error behind it (a Redis error, a JSON error) kept as its
//! source rather than flattened into the words; [`Chain`] writes an error
//! with every cause behind it, for a log line.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

/// An error cause, as a [`Fault`] keeps it.
pub type Cause = Box<dyn Error + Send + Sync + 'static>;

/// What went wrong, in the words a message shows, and the error behind it.
#[derive(Debug, thiserror::Error)]
#[error("{words}")]
pub struct Fault {
    words: Cow<'static, str>,
    #[source]
    cause: Option<Cause>,
}

impl Fault {
    /// A fault with no error behind it (a broken record, a bug).
    pub fn new(words: impl Into<Cow<'static, str>>) -> Self {
        Self {
            words: words.into(),
            cause: None,
        }
    }

    /// A fault described by `words`, caused by `cause`.
    pub fn caused_by(words: impl Into<Cow<'static, str>>, cause: impl Into<Cause>) -> Self {
        Self {
            words: words.into(),
            cause: Some(cause.into()),
        }
    }

    /// A fault that says what `cause` says, and keeps it.
    pub fn of(cause: impl Error + Send + Sync + 'static) -> Self {
        Self::caused_by(cause.to_string(), cause)
    }
}

/// An error followed by each error behind it, `: `-separated, for a log
/// line. A cause whose message its parent's already quotes is not repeated.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut said = self.0.to_string();
        f.write_str(&said)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !said.contains(&text) {
                write!(f, ": {text}")?;
            }
            said = text;
            next = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading the search failed: {0}")]
    struct Outer(#[source] Fault);

    #[test]
    fn the_chain_names_every_cause_once() {
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let json_text = json.to_string();
        let outer = Outer(Fault::caused_by("bad record", json));
        assert_eq!(
            Chain(&outer).to_string(),
            format!("reading the search failed: bad record: {json_text}")
        );
        // A cause already quoted by its parent is said once.
        let io = std::io::Error::other("connection reset");
        let outer = Outer(Fault::of(io));
        assert_eq!(
            Chain(&outer).to_string(),
            "reading the search failed: connection reset"
        );
        assert!(
            outer.source().unwrap().source().is_some(),
            "the cause is kept"
        );
    }

    #[test]
    fn a_fault_shows_its_words() {
        assert_eq!(Fault::new("bug").to_string(), "bug");
        assert!(Fault::new("bug").source().is_none());
    }
}
