//! TLS on the listener: where its certificate and key are.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// TLS on the listener. With both files set the listener speaks TLS only,
/// offering HTTP/2 and HTTP/1.1 by ALPN (browsers speak HTTP/2 only over
/// TLS); with neither it speaks plain HTTP/1.1 and HTTP/2 with prior
/// knowledge.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM file of the server's certificate, followed by the intermediate
    /// certificates clients need (leaf first). Read again when it changes.
    pub cert_file: Option<PathBuf>,
    /// PEM file of that certificate's private key (PKCS#8, PKCS#1 or
    /// SEC1). Read again when it changes.
    pub key_file: Option<PathBuf>,
}

impl TlsSettings {
    /// The certificate and key files, when TLS is on.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        Some((self.cert_file.as_deref()?, self.key_file.as_deref()?))
    }

    /// What is wrong with these settings, in plain words.
    pub fn problems(&self) -> Vec<String> {
        let one = |set: &str, missing: &str| {
            format!(
                "`tls.{set}` is set but `tls.{missing}` is not: TLS needs both the certificate and its key, or neither"
            )
        };
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => vec![one("cert_file", "key_file")],
            (None, Some(_)) => vec![one("key_file", "cert_file")],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_without_the_other_is_named() {
        let cert_only = TlsSettings {
            cert_file: Some("cert.pem".into()),
            key_file: None,
        };
        let problems = cert_only.problems();
        assert!(
            problems[0].contains("`tls.key_file` is not"),
            "{problems:?}"
        );
        assert_eq!(cert_only.files(), None);
        let both = TlsSettings {
            key_file: Some("key.pem".into()),
            ..cert_only
        };
        assert!(both.problems().is_empty());
        assert!(both.files().is_some());
        assert!(TlsSettings::default().problems().is_empty());
    }
}
