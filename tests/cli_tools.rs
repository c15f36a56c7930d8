//! The command line's tools around the runs: shell completions, the manual page, and the
//! TLS and proxy options.

mod common;

use common::{dmflow, passes, write_flow};
use std::io::{BufRead, BufReader, Write};
use std::process::Command;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asks bash for the completions of a command line whose last word is being typed.
fn bash_completions(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}' || exit 9\n\
         complete -p dmflow >/dev/null || exit 8\n\
         COMP_WORDS=({})\n\
         COMP_CWORD={}\n\
         COMP_LINE='{}'\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         _dmflow dmflow '{}' '{}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "the completion script sources and runs cleanly ({:?}):\n{}",
        output.status.code(),
        stderr(&output)
    );
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_offers_commands_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let output = passes(dmflow(dir.path()).args(["completions", "bash"]));
    let script = dir.path().join("dmflow.bash");
    std::fs::write(&script, &output.stdout).unwrap();
    let commands = bash_completions(&script, &["dmflow", ""]);
    for wanted in ["run", "check", "test", "env", "completions", "man"] {
        assert!(
            commands.iter().any(|c| c == wanted),
            "{wanted} in {commands:?}"
        );
    }
    let options = bash_completions(&script, &["dmflow", "run", "--mo"]);
    assert_eq!(options, ["--mock"]);
    let shells = bash_completions(&script, &["dmflow", "completions", "f"]);
    assert_eq!(shells, ["fish"]);
}

#[test]
fn other_shells_get_their_own_scripts() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker, option) in [
        ("zsh", "#compdef dmflow", "--snapshots"),
        ("fish", "complete -c dmflow", "-l snapshots"),
        ("powershell", "Register-ArgumentCompleter", "--snapshots"),
    ] {
        let output = passes(dmflow(dir.path()).args(["completions", shell]));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains(marker), "{shell}:\n{text}");
        assert!(text.contains(option), "{shell} completes test's options");
    }
    let bad = dmflow(dir.path())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// Renders a page with `man -l` (man-db), as a reader would.
fn man(page: &std::path::Path) -> String {
    let output = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .expect("man runs: install man-db (apt-get install man-db; .ci/run does)");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        output.stderr.is_empty(),
        "man renders without warnings:\n{}",
        stderr(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_manual_renders_with_man() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("dmflow.1");
    std::fs::write(&main, passes(dmflow(dir.path()).arg("man")).stdout).unwrap();
    let text = man(&main);
    for wanted in [
        "NAME",
        "dmflow",
        "SUBCOMMANDS",
        "dmflow-run(1)",
        "--color",
        "Exit codes",
    ] {
        assert!(text.contains(wanted), "{wanted}:\n{text}");
    }
    let run = dir.path().join("dmflow-run.1");
    std::fs::write(&run, passes(dmflow(dir.path()).args(["man", "run"])).stdout).unwrap();
    let text = man(&run);
    assert!(
        text.contains("dmflow-run") && text.contains("--shard"),
        "{text}"
    );
    let pages = dir.path().join("pages");
    passes(dmflow(dir.path()).args(["man", "--dir"]).arg(&pages));
    for page in ["dmflow.1", "dmflow-test.1", "dmflow-env.1", "dmflow-man.1"] {
        assert!(man(&pages.join(page)).contains("NAME"), "{page}");
    }
    let unknown = dmflow(dir.path()).args(["man", "nope"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("the commands are: run, test"));
}

/// A proxy that answers one request itself and reports the request line it received.
fn one_shot_proxy() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let body = r#"{"via":"proxy"}"#;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        tx.send(first.trim_end().to_string()).unwrap();
    });
    (address, rx)
}

#[test]
fn proxy_carries_the_requests_that_are_not_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "far.yaml",
        "name: far\nsteps:\n  - name: far\n    http: { url: 'http://api.example.invalid/thing?x=1' }\n    expect:\n      json:\n        $.via: proxy\n",
    );
    let (proxy, seen) = one_shot_proxy();
    passes(
        dmflow(dir.path())
            .args(["run", "--no-store", "--proxy", &proxy])
            .arg(&flow),
    );
    assert_eq!(
        seen.recv_timeout(std::time::Duration::from_secs(5))
            .unwrap(),
        "GET http://api.example.invalid/thing?x=1 HTTP/1.1"
    );
}

#[test]
fn bad_tls_and_proxy_options_are_usage_errors_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "t.yaml",
        &format!(
            "name: t\nsteps:\n  - http: {{ url: '{}/tracked/tls' }}\n",
            common::server()
        ),
    );
    let refused = |args: &[&str], wanted: &str| {
        let output = dmflow(dir.path())
            .args(["run", "--no-store"])
            .args(args)
            .arg(&flow)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(wanted),
            "{args:?}: {}",
            stderr(&output)
        );
    };
    refused(&["--proxy", "not a url"], "is not a URL");
    refused(&["--proxy", "socks5://127.0.0.1:1080"], "http or https");
    let missing = dir.path().join("missing.pem");
    refused(
        &["--cacert", missing.to_str().unwrap()],
        "cannot read --cacert",
    );
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    refused(
        &["--cacert", garbage.to_str().unwrap()],
        "holds no PEM certificate",
    );
    assert_eq!(common::hits("tls"), 0, "nothing was sent");
    let bad = dmflow(dir.path())
        .args(["token", "--proxy", "ftp://x"])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "the token commands take them too"
    );
}

#[test]
fn insecure_warns_even_when_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "i.yaml",
        &format!(
            "name: i\nsteps:\n  - http: {{ url: '{}/items/1' }}\n",
            common::server()
        ),
    );
    let output = passes(
        dmflow(dir.path())
            .args(["run", "--no-store", "--insecure", "--quiet"])
            .arg(&flow),
    );
    let err = stderr(&output);
    assert!(
        err.contains("warning: --insecure: TLS certificates are not checked"),
        "{err}"
    );
}

#[test]
fn init_scaffolds_a_project_that_runs_and_never_overwrites() {
    let state = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("my project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join(".gitignore"), "target\n.env").unwrap();
    passes(dmflow(state.path()).arg("init").arg(&project));
    for file in [
        "flows/login.yaml",
        "flows/me.yaml",
        "schemas/flow.schema.json",
        ".env.example",
    ] {
        assert!(project.join(file).is_file(), "{file} is written");
    }
    let gitignore = std::fs::read_to_string(project.join(".gitignore")).unwrap();
    assert!(gitignore.starts_with("target\n.env\n"), "{gitignore}");
    assert_eq!(gitignore.matches(".env\n").count(), 1, "{gitignore}");
    for line in [".env.*", "!.env.example", "*.tokens"] {
        assert!(
            gitignore.lines().any(|l| l == line),
            "{line} in {gitignore}"
        );
    }
    let schema = std::fs::read_to_string(project.join("schemas/flow.schema.json")).unwrap();
    let generated = passes(dmflow(state.path()).arg("schema")).stdout;
    assert_eq!(schema.as_bytes(), generated.as_slice());
    // The scaffold runs on the emulator as it is.
    passes(dmflow(state.path()).current_dir(&project).args([
        "run",
        "--mock",
        "flows/login.yaml",
        "flows/me.yaml",
    ]));
    // A second init keeps the user's edits and adds nothing twice.
    std::fs::write(project.join("flows/me.yaml"), "# mine\n").unwrap();
    let again = passes(dmflow(state.path()).arg("init").arg(&project));
    assert!(stderr(&again).contains("exists, left alone"));
    assert_eq!(
        std::fs::read_to_string(project.join("flows/me.yaml")).unwrap(),
        "# mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(project.join(".gitignore")).unwrap(),
        gitignore
    );
}
