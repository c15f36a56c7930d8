//! Getting the user's browser to the authorization URL: the system browser (the `webbrowser`
//! crate honours `$BROWSER`), a command of the user's (`--browser CMD` / `DMFLOW_BROWSER`),
//! nothing (`--no-browser`, over SSH, without a display), or under `--mock` a built-in stand-in
//! that follows the emulator's redirect into the callback.

use std::process::Stdio;

#[derive(Debug, Clone, Default)]
pub enum Browser {
    /// The system browser, unless there is no display or the session is remote.
    #[default]
    System,
    /// A command run as `CMD URL` (through `sh -c`, the URL passed as an argument).
    Command(String),
    /// Only print the URL.
    Off,
    /// Fetch the URL and follow redirects (for the emulator, which approves without a human).
    Internal,
}

/// What happened when we tried to open the browser.
pub enum Opened {
    Yes(String),
    No(String),
    Task(tokio::task::JoinHandle<()>),
}

/// Why the system browser should not be opened here, if it should not.
fn headless_reason() -> Option<&'static str> {
    if std::env::var_os("SSH_CONNECTION").is_some() || std::env::var_os("SSH_TTY").is_some() {
        return Some("this is an SSH session");
    }
    if cfg!(target_os = "linux")
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
        && std::env::var_os("BROWSER").is_none()
    {
        return Some("there is no display");
    }
    None
}

pub fn open(browser: &Browser, url: &str, internal_target: Option<url::Url>) -> Opened {
    match browser {
        Browser::Off => Opened::No("--no-browser: open the URL yourself".into()),
        Browser::System => match headless_reason() {
            Some(reason) => Opened::No(format!("{reason}: open the URL in a browser")),
            None => match webbrowser::open(url) {
                Ok(()) => Opened::Yes("opened the browser".into()),
                Err(e) => Opened::No(format!(
                    "could not open a browser ({e}): open the URL yourself"
                )),
            },
        },
        Browser::Command(command) => {
            let spawned = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{command} \"$1\""))
                .arg("dmflow-browser")
                .arg(url)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            match spawned {
                Ok(mut child) => {
                    std::thread::spawn(move || child.wait());
                    Opened::Yes(format!("ran the browser command `{command}`"))
                }
                Err(e) => Opened::No(format!(
                    "could not run `{command}` ({e}): open the URL yourself"
                )),
            }
        }
        Browser::Internal => {
            let target = internal_target
                .unwrap_or_else(|| url::Url::parse(url).expect("authorize URL parses"));
            Opened::Task(tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .redirect(reqwest::redirect::Policy::limited(5))
                    .build();
                if let Ok(client) = client {
                    let _ = client.get(target).send().await;
                }
            }))
        }
    }
}
