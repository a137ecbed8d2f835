//! TLS on the listener, so that browsers, which speak HTTP/2 only over TLS,
//! keep many searches' streams on one connection instead of HTTP/1.1's six
//! per site. ALPN offers `h2`, then `http/1.1`.
//!
//! The certificate and key are read at start, where a missing, unreadable
//! or mismatched pair stops the server; afterwards both files are checked
//! for changes once a second (a modification time and length poll, as for
//! the keys file: no watcher to lose on a Kubernetes secret's symlink swap)
//! and read again. A good pair serves every handshake from then on; a bad
//! one is logged and counted, and the pair in force keeps serving.
//!
//! Messages name the setting, the file and what is wrong, never a file's
//! content: a PEM parser's own messages can quote a line of the key.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::shutdown::Shutdown;

/// How often the certificate and key files are checked for changes.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long changed files must stay the same before they are read, so a
/// tool that writes the certificate and then the key is seen once, whole.
const SETTLE: Duration = Duration::from_millis(200);

/// Why TLS cannot start: a file of the pair, or the pair together, cannot
/// be used.
#[derive(Debug, thiserror::Error)]
#[error("`{setting}` ({}): {problem}", path.display())]
pub struct TlsError {
    /// The setting naming the file: `tls.cert_file` or `tls.key_file`.
    pub setting: &'static str,
    /// The file.
    pub path: PathBuf,
    /// What is wrong, in plain words.
    pub problem: String,
}

/// The certificate in force, handed to every handshake, and the files it
/// came from.
pub struct Certificates {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// Both files' stamps when last read (or found unusable).
    seen: Mutex<Stamps>,
}

type Stamps = (Option<(SystemTime, u64)>, Option<(SystemTime, u64)>);

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// The crypto provider every TLS part of the server uses: aws-lc-rs, named
/// here rather than taken from a process default that another crate could
/// install first.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl Certificates {
    /// Reads and checks the pair; the server cannot start without it.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<Self>, TlsError> {
        let provider = provider();
        let stamps = (stamp(cert_file), stamp(key_file));
        let pair = load_pair(cert_file, key_file, &provider)?;
        Ok(Arc::new(Self {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(pair)),
            seen: Mutex::new(stamps),
        }))
    }

    /// The acceptor of every connection: TLS 1.2 and 1.3, no client
    /// certificates, ALPN `h2` then `http/1.1`, the certificate from
    /// `self` at each handshake.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError {
                setting: "tls.cert_file",
                path: self.cert_file.clone(),
                problem: format!("TLS cannot be set up: {e}"),
            })?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Reads the pair again when either file changed, until shutdown.
    pub async fn watch(self: Arc<Self>, shutdown: Shutdown) {
        // Both series exist from the start, so a dashboard (and a test)
        // sees them at zero before the first reload.
        for outcome in ["ok", "error"] {
            metrics::counter!(crate::metrics::TLS_RELOADS, "outcome" => outcome).increment(0);
        }
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.wait() => return,
            }
            let now = (stamp(&self.cert_file), stamp(&self.key_file));
            if now == *self.seen.lock().unwrap_or_else(|e| e.into_inner()) {
                continue;
            }
            tokio::time::sleep(SETTLE).await;
            if (stamp(&self.cert_file), stamp(&self.key_file)) != now {
                continue;
            }
            // Not read again until a file changes once more, good or bad.
            *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = now;
            self.reload();
        }
    }

    /// Reads the pair and puts it in force if it is good.
    fn reload(&self) {
        match load_pair(&self.cert_file, &self.key_file, &self.provider) {
            Ok(pair) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(pair);
                metrics::counter!(crate::metrics::TLS_RELOADS, "outcome" => "ok").increment(1);
                tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate read again; new connections use it");
            }
            Err(e) => {
                metrics::counter!(crate::metrics::TLS_RELOADS, "outcome" => "error").increment(1);
                tracing::warn!(error = %e, "TLS certificate files changed but cannot be used; the certificate in force keeps serving");
            }
        }
    }
}

/// When a file was last changed and its length, to notice a change.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reads a certificate chain and its key, and checks that they belong
/// together.
fn load_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_error = |problem: String| TlsError {
        setting: "tls.cert_file",
        path: cert_file.to_path_buf(),
        problem,
    };
    let key_error = |problem: String| TlsError {
        setting: "tls.key_file",
        path: key_file.to_path_buf(),
        problem,
    };
    let chain = read(cert_file).map_err(cert_error)?;
    let chain = CertificateDer::pem_slice_iter(&chain)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(pem_problem(&e)))?;
    if chain.is_empty() {
        return Err(cert_error(
            "holds no PEM certificate (a `-----BEGIN CERTIFICATE-----` section)".into(),
        ));
    }
    let key = read(key_file).map_err(key_error)?;
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| match e {
        pem::Error::NoItemsFound => key_error(
            "holds no PEM private key (a `-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` section)".into(),
        ),
        e => key_error(pem_problem(&e)),
    })?;
    let signer = provider.key_provider.load_private_key(key).map_err(|_| {
        key_error("the private key is not an RSA, ECDSA or Ed25519 key this server can use".into())
    })?;
    let pair = CertifiedKey::new(chain, signer);
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(key_error(format!(
                "the private key does not match the certificate in `tls.cert_file` ({})",
                cert_file.display()
            )))
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(pair),
        Err(_) => Err(cert_error(
            "the first certificate is not a valid X.509 certificate".into(),
        )),
    }
}

/// A file's bytes, or why it cannot be read (never what it holds).
fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "cannot be read: permission denied".to_string(),
        _ => format!("cannot be read: {e}"),
    })
}

/// A PEM parser's error in plain words, without the line it may quote.
fn pem_problem(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no `-----END` line".into(),
        pem::Error::IllegalSectionStart { .. } => "a PEM `-----BEGIN` line is malformed".into(),
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64".into(),
        pem::Error::SectionTooLarge => "a PEM section is too large".into(),
        pem::Error::NoItemsFound => "holds nothing usable in PEM".into(),
        _ => "is not valid PEM".into(),
    }
}

/// The TLS handshake of one connection, within `deadline` (a client that
/// opens a socket and never finishes it holds a connection slot no longer
/// than a slow request header would) and only until shutdown. A failure
/// is the client's: logged at debug, without anything it sent.
pub async fn handshake<IO>(
    acceptor: &TlsAcceptor,
    io: IO,
    deadline: Duration,
    peer: std::net::SocketAddr,
    shutdown: &Shutdown,
) -> Option<TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    tokio::select! {
        done = tokio::time::timeout(deadline, acceptor.accept(io)) => match done {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake not finished in time");
                None
            }
        },
        () = shutdown.wait() => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_good_pair_loads_and_a_bad_one_is_named_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed("localhost");
        let cert_file = write(dir.path(), "cert.pem", &cert);
        let key_file = write(dir.path(), "key.pem", &key);
        let certs = Certificates::load(&cert_file, &key_file).unwrap();
        assert!(certs.acceptor().is_ok());

        let (_, other_key) = self_signed("localhost");
        let other = write(dir.path(), "other.pem", &other_key);
        let e = Certificates::load(&cert_file, &other).unwrap_err();
        assert_eq!(e.setting, "tls.key_file");
        assert!(e.to_string().contains("does not match"), "{e}");

        let secret =
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGtleSBieXRlcyE$$\n-----END PRIVATE KEY-----\n";
        let garbage = write(dir.path(), "garbage.pem", secret);
        let e = Certificates::load(&cert_file, &garbage).unwrap_err();
        assert_eq!(e.setting, "tls.key_file");
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
        let e = Certificates::load(&garbage, &key_file).unwrap_err();
        assert_eq!(e.setting, "tls.cert_file");
        assert!(e.to_string().contains("not valid base64"), "{e}");
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
        let prose = write(dir.path(), "prose.pem", "a certificate, honest\n");
        let e = Certificates::load(&prose, &key_file).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        assert!(!e.to_string().contains("honest"), "{e}");

        let e = Certificates::load(&dir.path().join("absent.pem"), &key_file).unwrap_err();
        assert!(e.to_string().contains("no such file"), "{e}");
        assert!(e.to_string().contains("absent.pem"), "{e}");
    }

    #[test]
    fn a_bad_reload_keeps_the_pair_in_force_and_a_good_one_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed("localhost");
        let cert_file = write(dir.path(), "cert.pem", &cert);
        let key_file = write(dir.path(), "key.pem", &key);
        let certs = Certificates::load(&cert_file, &key_file).unwrap();
        let in_force = || certs.current.read().unwrap().cert[0].clone();
        let first = in_force();

        std::fs::write(&cert_file, "not a certificate").unwrap();
        certs.reload();
        assert_eq!(in_force(), first);

        let (cert, key) = self_signed("localhost");
        std::fs::write(&cert_file, &cert).unwrap();
        std::fs::write(&key_file, &key).unwrap();
        certs.reload();
        assert_ne!(in_force(), first);
    }
}
