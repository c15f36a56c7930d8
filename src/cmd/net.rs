//! `--cacert`, `--insecure` and `--proxy`: checked before anything is sent (a bad file or URL
//! is a usage error), then handed to the process's one HTTP client.

use super::Failure;
use crate::cli::NetArgs;
use dmflow::Category;
use dmflow::run::http::{Client, ClientConfig};

/// The HTTP client the command line's options ask for.
pub fn client(args: &NetArgs) -> Result<Client, Failure> {
    if let Some(file) = &args.cacert {
        check_ca_file(file)?;
    }
    if args.insecure {
        eprintln!(
            "warning: --insecure: TLS certificates are not checked; anyone on the network path can read and change this traffic, tokens included"
        );
    }
    Ok(Client::with_config(ClientConfig {
        proxy: args.proxy.clone(),
        ca_file: args.cacert.clone(),
        insecure: args.insecure,
        max_body: Some(dmflow::limits::current().response_body),
    }))
}

/// A `--cacert` file must hold at least one PEM certificate.
fn check_ca_file(file: &std::path::Path) -> Result<(), Failure> {
    let usage = |message: String| {
        Failure::new(
            Category::Invalid,
            message,
            Some("--cacert takes a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)"),
        )
    };
    let max = dmflow::limits::current().env_file;
    let pem = dmflow::limits::read_input(file, max, true).map_err(|e| {
        let name = format!("--cacert {}", file.display());
        usage(e.describe(&name, "a --cacert file", "env-file").0)
    })?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(()),
        Ok(_) => Err(usage(format!(
            "--cacert {} holds no PEM certificate",
            file.display()
        ))),
        Err(e) => Err(usage(format!(
            "--cacert {} holds an invalid certificate: {e}",
            file.display()
        ))),
    }
}
