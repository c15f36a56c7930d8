//! TLS for the HTTP client: the platform's certificate verifier, loaded at the first `https`
//! handshake instead of when the client is built, so a flow that only speaks plain HTTP (the
//! emulator, a local server) never reads the system's CA files.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;

/// The TLS configuration of a client that verifies servers as the platform does, with
/// HTTP/2 and HTTP/1.1 offered through ALPN.
pub fn lazy_platform_config() -> Result<ClientConfig, rustls::Error> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = LazyVerifier {
        provider: provider.clone(),
        platform: OnceLock::new(),
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Checks signatures with the crypto provider, and certificate chains with the platform
/// verifier, which is built (reading the CA store) the first time a chain is checked.
#[derive(Debug)]
struct LazyVerifier {
    provider: Arc<CryptoProvider>,
    platform: OnceLock<Result<Verifier, rustls::Error>>,
}

impl LazyVerifier {
    fn platform(&self) -> Result<&Verifier, rustls::Error> {
        self.platform
            .get_or_init(|| Verifier::new(self.provider.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.platform()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why a TLS handshake failed, in words that say what to do, when `err`'s chain holds a rustls
/// error (reqwest wraps it in `std::io::Error`s, whose `source()` skips what they wrap).
pub fn explain(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return Some(describe(tls));
    }
    let wrapped = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .map(|inner| inner as &(dyn std::error::Error + 'static));
    wrapped.or_else(|| err.source()).and_then(explain)
}

fn describe(err: &rustls::Error) -> String {
    use rustls::CertificateError as Cert;
    let why = match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            Cert::UnknownIssuer => "it is issued by an authority this machine does not trust",
            Cert::Expired | Cert::ExpiredContext { .. } => "it has expired",
            Cert::NotValidYet | Cert::NotValidYetContext { .. } => "it is not valid yet",
            Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
                "it is not valid for this host name"
            }
            Cert::Revoked => "it is revoked",
            Cert::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                "it is self-signed"
            }
            _ => return format!("the server's certificate is refused: {err}; {HINT}"),
        },
        rustls::Error::General(message) => {
            return format!("TLS handshake failed: {message}; {HINT}");
        }
        _ => return format!("TLS handshake failed: {err}"),
    };
    format!("the server's certificate is refused: {why}; {HINT}")
}

const HINT: &str = "to trust it, pass its CA with --cacert FILE (or SSL_CERT_FILE), \
                    or skip the check with --insecure";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_error_wrapped_in_io_errors_is_explained() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped =
            std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, tls));
        let text = explain(&wrapped).expect("found through both io::Errors");
        assert!(text.contains("issued by an authority this machine does not trust"));
        assert!(text.contains("--cacert FILE"));
        assert_eq!(explain(&std::io::Error::other("refused")), None);
    }

    #[test]
    fn the_config_offers_h2_and_http1() {
        let config = lazy_platform_config().expect("a TLS config");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
