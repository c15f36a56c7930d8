//! Nothing a server sends can act on the terminal: escape sequences (`ESC[2J`, OSC titles),
//! C1 controls, bare CRs, backspaces and bidirectional overrides in a body, an API error
//! message, a token endpoint's error description, or a header under `-v` are shown as visible
//! escapes on stderr, with colour on or off; with colour on, only dmflow's own colour
//! sequences remain. `--json` stays JSON, the text escaped by serde.

mod common;
mod raw_server;

use raw_server::{Answer, serve};
use serde_json::json;
use std::collections::HashMap;

/// What a hostile server puts in its text: clear the screen, set the title, a C1 CSI, a bare
/// CR that would overwrite the line, backspaces, a right-to-left override, DEL.
const HOSTILE: &str =
    "\x1b[2J\x1b]0;owned\x07 \u{9b}31m red \rovertyped back\x08\x08 \u{202e}desrever \x7f end";

fn server() -> String {
    let body = HOSTILE.as_bytes().to_vec();
    serve(HashMap::from([
        ("/text", Answer::text("200 OK", &body)),
        (
            "/api-error",
            Answer::json("400 Bad Request", &json!({"error": {"message": HOSTILE}})),
        ),
        (
            "/token",
            Answer::json(
                "400 Bad Request",
                &json!({"error": "invalid_grant", "error_description": HOSTILE}),
            ),
        ),
        (
            "/header",
            // A header may carry bytes above 0x7f: here U+009B (CSI) and U+202E, in UTF-8.
            Answer::json("200 OK", &json!({"ok": true}))
                .header("X-Evil", "\u{9b}2J \u{202e}gnp.exe".as_bytes()),
        ),
    ]))
}

/// One flow per place server text shows up (a failed flow stops at its failed step).
fn flows(dir: &std::path::Path, base: &str) -> Vec<std::path::PathBuf> {
    let steps = [
        (
            "text",
            "http: { url: <<base>>/text }\n    expect: { json: { $.x: { exists: true } } }",
        ),
        ("api-error", "http: { url: <<base>>/api-error }"),
        ("header", "http: { url: <<base>>/header }"),
        (
            "token",
            "token: { grant: client_credentials, url: <<base>>/token, client_id: c }",
        ),
    ];
    steps
        .iter()
        .map(|(name, step)| {
            common::write_flow(
                dir,
                &format!("{name}.yaml"),
                &format!("vars:\n  base: {base}\nsteps:\n  - name: {name}\n    {step}\n"),
            )
        })
        .collect()
}

/// `text` without the colour sequences dmflow writes (SGR with reset, bold, dim, italic,
/// underline, foreground colours).
fn uncoloured(text: &str) -> String {
    let param = "(?:[0-4]|2[2-4]|3[0-7]|39|9[0-7])";
    let colour = regex::Regex::new(&format!(r"\x1b\[(?:{param};)*{param}?m")).unwrap();
    colour.replace_all(text, "").into_owned()
}

/// Whether `text` holds anything that acts on a terminal other than the harmless colour
/// sequences (SGR with reset, bold, dim, italic, underline, foreground colours).
fn acting(text: &str) -> Option<String> {
    let without_colour = uncoloured(text);
    without_colour
        .char_indices()
        .find(|(_, c)| {
            (c.is_control() && *c != '\n' && *c != '\t')
                || ('\u{202a}'..='\u{202e}').contains(c)
                || ('\u{2066}'..='\u{2069}').contains(c)
        })
        .map(|(at, c)| {
            let around: String = without_colour[at.saturating_sub(40)..]
                .chars()
                .take(80)
                .collect();
            format!("{c:?} in …{around:?}")
        })
}

#[test]
fn server_text_reaches_the_terminal_as_visible_escapes() {
    let base = server();
    let dir = tempfile::tempdir().unwrap();
    let flows = flows(dir.path(), &base);
    for colour in ["never", "always"] {
        let output = common::dmflow(dir.path())
            .args(["run", "--no-store", "-v", "--color", colour])
            .args(&flows)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "the checks fail");
        let stderr = String::from_utf8(output.stderr).unwrap();
        if let Some(found) = acting(&stderr) {
            panic!("--color {colour}: {found}\n{stderr}");
        }
        for shown in [
            r"\u{1b}[2J\u{1b}]0;owned\u{7}",
            r"\u{9b}31m red \rovertyped back\u{8}\u{8} \u{202e}desrever \u{7f} end",
            r"x-evil: \u{9b}2J \u{202e}gnp.exe",
        ] {
            assert!(
                stderr.contains(shown),
                "--color {colour}: no {shown} in\n{stderr}"
            );
        }
        // Each place: the body quoted by a failed check, the API's message, the token
        // endpoint's description, the body under -v.
        let plain = uncoloured(&stderr);
        assert!(
            plain.contains("the response body is not JSON (it starts with \\u{1b}[2J"),
            "{stderr}"
        );
        assert!(plain.contains("the server said: \\u{1b}[2J"), "{stderr}");
        assert!(plain.contains("invalid_grant: \\u{1b}[2J"), "{stderr}");
        assert!(plain.contains("< \\u{1b}[2J"), "{stderr}");
        if colour == "always" {
            assert!(
                stderr.contains("\x1b[32m") || stderr.contains("\x1b[31m"),
                "colour stays: {stderr}"
            );
        }
    }
}

#[test]
fn json_output_stays_json_with_the_text_escaped() {
    let base = server();
    let dir = tempfile::tempdir().unwrap();
    let flows = flows(dir.path(), &base);
    let output = common::dmflow(dir.path())
        .args(["run", "--no-store", "--json"])
        .args(&flows)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains('\x1b'), "serde escapes ESC: {stdout}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert!(
        doc.to_string().contains("\\u001b[2J"),
        "the text itself is kept"
    );
}

#[test]
fn command_errors_quoting_a_server_are_cleaned_too() {
    let base = server();
    let state = tempfile::tempdir().unwrap();
    // An expired access token: `dmflow token` refreshes it, and the endpoint refuses.
    common::write_store(
        state.path(),
        &json!({
            "version": 1,
            "profile": "default",
            "values": {"ACCESS_TOKEN": "at-0123456789", "REFRESH_TOKEN": "rt-0123456789", "EXPIRES_AT": 1},
            "endpoint": {"token_url": format!("{base}/token"), "client_id": "c", "client_auth": "form"},
            "updated_at": 0,
        }),
    );
    let output = common::dmflow(state.path()).arg("token").output().unwrap();
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr).unwrap();
    if let Some(found) = acting(&stderr) {
        panic!("{found}\n{stderr}");
    }
    assert!(stderr.contains(r"\u{1b}[2J"), "{stderr}");
}
