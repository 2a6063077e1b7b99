//! `[server] tls`: the certificate chain and private key, read from PEM files and checked at load.
//!
//! Everything that can be wrong with the files (missing, not PEM, no certificate, no key, a key of
//! a kind the TLS library cannot sign with, a key that belongs to another certificate) is reported
//! here, naming the key path, so `switchyard check` catches it and the server never starts half-way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{Error as TlsError, InconsistentKeys};

use crate::model::Tls;
use crate::raw::RawTls;
use crate::validate::Checker;

/// Loads and checks the files named by `raw`, resolving relative paths against `base_dir`.
pub(crate) fn load(c: &mut Checker<'_>, raw: &RawTls, base_dir: Option<&Path>) -> Option<Tls> {
    let cert_path = resolve(base_dir, &raw.cert);
    let key_path = resolve(base_dir, &raw.key);
    let chain =
        read(c, "server.tls.cert", &cert_path).and_then(|pem| certificates(c, &cert_path, &pem));
    let key = read(c, "server.tls.key", &key_path).and_then(|pem| private_key(c, &key_path, &pem));
    let identity = match CertifiedKey::from_der(chain?, key?, &default_provider()) {
        Ok(identity) => identity,
        Err(TlsError::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            c.error(
                "server.tls",
                format!(
                    "the private key in `{}` does not belong to the certificate in `{}`",
                    key_path.display(),
                    cert_path.display()
                ),
            );
            return None;
        }
        Err(e) => {
            c.error(
                "server.tls",
                format!(
                    "the certificate in `{}` and the key in `{}` cannot serve TLS: {e}",
                    cert_path.display(),
                    key_path.display()
                ),
            );
            return None;
        }
    };
    Some(Tls {
        cert_path,
        key_path,
        identity: Arc::new(identity),
    })
}

fn resolve(base_dir: Option<&Path>, path: &str) -> PathBuf {
    match base_dir {
        Some(dir) => dir.join(path),
        None => PathBuf::from(path),
    }
}

fn read(c: &mut Checker<'_>, key: &str, path: &Path) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            c.error(key, format!("cannot read `{}`: {e}", path.display()));
            None
        }
    }
}

/// Every certificate in the file, leaf first, as servers send them.
fn certificates(
    c: &mut Checker<'_>,
    path: &Path,
    pem: &[u8],
) -> Option<Vec<CertificateDer<'static>>> {
    match CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() {
        Ok(chain) if chain.is_empty() => {
            c.error(
                "server.tls.cert",
                format!(
                    "`{}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                ),
            );
            None
        }
        Ok(chain) => Some(chain),
        Err(e) => {
            c.error(
                "server.tls.cert",
                format!(
                    "`{}` is not readable PEM: {}",
                    path.display(),
                    pem_error(&e)
                ),
            );
            None
        }
    }
}

/// The first private key in the file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn private_key(c: &mut Checker<'_>, path: &Path, pem: &[u8]) -> Option<PrivateKeyDer<'static>> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Some(key),
        Err(pem::Error::NoItemsFound) => {
            c.error(
                "server.tls.key",
                format!(
                    "`{}` holds no PEM private key (PKCS#8, RSA or EC)",
                    path.display()
                ),
            );
            None
        }
        Err(e) => {
            c.error(
                "server.tls.key",
                format!(
                    "`{}` is not readable PEM: {}",
                    path.display(),
                    pem_error(&e)
                ),
            );
            None
        }
    }
}

/// The parser's error, without echoing file contents (a key file's bytes are secret).
fn pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed".to_owned(),
        pem::Error::Base64Decode(_) => "a section is not valid base64".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::{ConfigErrors, MapEnv, load_str};

    /// A directory of its own for one test, removed when the test ends.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("sy-config-tls-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, contents: &str) {
            std::fs::write(self.0.join(name), contents).unwrap();
        }

        /// Loads a config file in this directory that serves TLS from `cert` and `key`.
        fn load(&self, cert: &str, key: &str) -> Result<crate::Config, ConfigErrors> {
            let text = format!(
                "[server]\ntls = {{ cert = \"{cert}\", key = \"{key}\" }}\n\
                 [providers.sim]\nkind = \"simulator\"\n\
                 [[models]]\nname = \"m\"\ndeployments = [{{ provider = \"sim\", model = \"m\" }}]\n"
            );
            load_str(
                &text,
                Some(&self.0.join("switchyard.toml")),
                &MapEnv::default(),
            )
        }

        fn errors(&self, cert: &str, key: &str) -> Vec<String> {
            match self.load(cert, key) {
                Ok(_) => panic!("expected the TLS files to be refused"),
                Err(e) => e.0.iter().map(ToString::to_string).collect(),
            }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn self_signed() -> (String, String) {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (generated.cert.pem(), generated.signing_key.serialize_pem())
    }

    #[test]
    fn files_resolve_beside_the_config_and_load() {
        let dir = Scratch::new("ok");
        let (cert, key) = self_signed();
        std::fs::create_dir_all(dir.0.join("tls")).unwrap();
        dir.write("tls/cert.pem", &cert);
        dir.write("tls/key.pem", &key);
        let config = dir.load("tls/cert.pem", "tls/key.pem").unwrap();
        let tls = config.server.tls.unwrap();
        assert_eq!(tls.cert_path, dir.0.join("tls/cert.pem"));
        assert_eq!(tls.key_path, dir.0.join("tls/key.pem"));
        assert_eq!(tls.identity.cert.len(), 1);
        let printed = format!("{tls:?}");
        assert!(
            printed.contains("cert.pem") && printed.len() < 400,
            "{printed}"
        );
    }

    #[test]
    fn a_key_file_may_also_hold_the_certificate() {
        let dir = Scratch::new("combined");
        let (cert, key) = self_signed();
        dir.write("both.pem", &format!("{cert}{key}"));
        assert!(dir.load("both.pem", "both.pem").is_ok());
    }

    #[test]
    fn missing_files_are_named_with_their_key() {
        let dir = Scratch::new("missing");
        let errs = dir.errors("nope.pem", "/nowhere/key.pem");
        let cert = dir.0.join("nope.pem");
        assert!(
            errs.iter().any(|e| e.contains("server.tls.cert")
                && e.contains("cannot read")
                && e.contains(&cert.display().to_string())),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("server.tls.key") && e.contains("/nowhere/key.pem")),
            "{errs:?}"
        );
    }

    #[test]
    fn files_without_the_right_pem_sections_are_refused() {
        let dir = Scratch::new("sections");
        let (cert, key) = self_signed();
        dir.write("cert.pem", &cert);
        dir.write("key.pem", &key);
        dir.write("text.pem", "not a certificate\n");

        let errs = dir.errors("key.pem", "cert.pem");
        assert!(
            errs.iter()
                .any(|e| e.contains("server.tls.cert") && e.contains("no PEM certificate")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("server.tls.key") && e.contains("no PEM private key")),
            "{errs:?}"
        );
        let errs = dir.errors("text.pem", "key.pem");
        assert!(
            errs.iter().any(|e| e.contains("no PEM certificate")),
            "{errs:?}"
        );
    }

    #[test]
    fn broken_pem_is_refused_without_echoing_the_key() {
        let dir = Scratch::new("broken");
        let (cert, key) = self_signed();
        dir.write("cert.pem", &cert);
        let cut = &key[..key.len() / 2];
        dir.write("key.pem", cut);
        let errs = dir.errors("cert.pem", "key.pem");
        assert!(
            errs.iter()
                .any(|e| e.contains("server.tls.key") && e.contains("not readable PEM")),
            "{errs:?}"
        );
        let body_line = cut.lines().nth(1).unwrap();
        assert!(!errs.iter().any(|e| e.contains(body_line)), "{errs:?}");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let dir = Scratch::new("mismatch");
        let (cert, _) = self_signed();
        let (_, other_key) = self_signed();
        dir.write("cert.pem", &cert);
        dir.write("key.pem", &other_key);
        let errs = dir.errors("cert.pem", "key.pem");
        assert!(
            errs.iter()
                .any(|e| e.contains("server.tls:") && e.contains("does not belong")),
            "{errs:?}"
        );
    }

    #[test]
    fn without_a_config_file_paths_are_taken_as_given() {
        let base: Option<&Path> = None;
        assert_eq!(super::resolve(base, "cert.pem"), PathBuf::from("cert.pem"));
        assert_eq!(
            super::resolve(Some(Path::new("/etc/sy")), "/abs/cert.pem"),
            PathBuf::from("/abs/cert.pem")
        );
    }
}
