//! HTTPS: the system's CA store is read at the first `https` handshake, not before (a broken
//! CA configuration must not stop a plain-HTTP flow), a server the system trusts passes, one it
//! does not is refused with a message that says why, and `--cacert` / `--insecure` still work.

mod common;

use common::{dmflow, passes, write_flow};
use std::sync::Arc;

/// A TLS server on 127.0.0.1 answering `{"ok":true}`; returns its port and its certificate (PEM).
fn tls_server() -> (u16, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("a self-signed certificate");
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .expect("the server's certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr").port())
                .expect("send");
            let app = axum::Router::new().route(
                "/",
                axum::routing::get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
            );
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: not an error here.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    (rx.recv().expect("server started"), pem)
}

/// A flow of one GET that expects a 200 (and, when `json_ok`, the body `{"ok":true}`).
fn flow(dir: &std::path::Path, url: &str, json_ok: bool) -> std::path::PathBuf {
    let json = if json_ok {
        "      json:\n        $.ok: { equals: true }\n"
    } else {
        ""
    };
    write_flow(
        dir,
        "get.yaml",
        &format!(
            "steps:\n  - name: get\n    http:\n      url: {url}\n    expect:\n      status: 200\n{json}"
        ),
    )
}

#[test]
fn a_broken_ca_store_does_not_stop_plain_http() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = flow(dir.path(), &format!("{}/items/7", common::server()), false);
    std::fs::write(dir.path().join("broken.pem"), "not a certificate\n").expect("write");
    passes(
        dmflow(dir.path())
            .args(["run", "--no-store"])
            .arg(&path)
            .env("SSL_CERT_FILE", dir.path().join("broken.pem"))
            .env("SSL_CERT_DIR", dir.path().join("no such dir")),
    );
}

#[test]
fn https_trusts_the_system_store_and_refuses_an_unknown_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, pem) = tls_server();
    let cert_file = dir.path().join("server.pem");
    std::fs::write(&cert_file, &pem).expect("write the certificate");
    let path = flow(dir.path(), &format!("https://127.0.0.1:{port}/"), true);

    // Trusted through the system store's own environment variable.
    passes(
        dmflow(dir.path())
            .args(["run", "--no-store"])
            .arg(&path)
            .env("SSL_CERT_FILE", &cert_file)
            .env("SSL_CERT_DIR", dir.path().join("none")),
    );
    // Trusted through --cacert.
    passes(
        dmflow(dir.path())
            .args(["run", "--no-store", "--cacert"])
            .arg(&cert_file)
            .arg(&path),
    );
    // Not trusted (the system store holds another certificate): a network error (exit 3)
    // that says why and what to do.
    let other = rcgen::generate_simple_self_signed(vec!["example.test".into()]).expect("cert");
    std::fs::write(dir.path().join("other.pem"), other.cert.pem()).expect("write");
    let refused = |store: &str, why: &str| {
        let out = dmflow(dir.path())
            .args(["run", "--no-store"])
            .arg(&path)
            .env("SSL_CERT_DIR", dir.path().join("none"))
            .env("SSL_CERT_FILE", dir.path().join(store))
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(
            stderr.contains(why) && stderr.contains("--cacert FILE"),
            "{stderr}"
        );
    };
    refused("other.pem", "the server's certificate is refused: ");
    refused(
        "none.pem",
        "TLS handshake failed: No CA certificates were loaded from the system",
    );
    // --insecure accepts it, with a warning.
    let out = passes(
        dmflow(dir.path())
            .args(["run", "--no-store", "--insecure"])
            .arg(&path)
            .env("SSL_CERT_FILE", dir.path().join("none.pem")),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure"));
}
