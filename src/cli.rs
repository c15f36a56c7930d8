//! The whole command-line surface (clap derive).

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

const ABOUT: &str =
    "Run declarative YAML flows of HTTP steps: OAuth2 sign-in, token refresh and API calls.";

const LONG_ABOUT: &str =
    "Run declarative YAML flows of HTTP steps: OAuth2 sign-in, token refresh and API calls.

A flow is a YAML file: default `vars:`, the `inputs:` it expects from outside, and a list of
`steps:` (http, authorize, callback, token, refresh, echo) whose string values are templates:
<< expr >> for values, <% %> for blocks, <# #> for comments. Steps `save:` values for later
steps and `expect:` what responses must look like.";

const EXAMPLES: &str = "Examples:
  dmflow run --mock flows/login.yaml          sign in against the built-in emulator
  dmflow run flows/login.yaml --env-file .env  sign in to Dailymotion (DM_API_KEY, DM_API_SECRET)
  dmflow run flows/me.yaml --var ACCESS_TOKEN=... --json | jq .flows[0].outputs
  dmflow check flows/*.yaml                    validate without sending anything";

#[derive(Debug, Parser)]
#[command(name = "dmflow", version, about = ABOUT, long_about = LONG_ABOUT)]
#[command(after_help = format!("{EXAMPLES}\n\n{}", dmflow::exit::HELP))]
pub struct Cli {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// How the command line talks: colour and amount of progress on stderr (every command).
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Colour on stderr: auto (on a terminal, unless NO_COLOR is set or TERM=dumb;
    /// CLICOLOR_FORCE=1 forces it), always, or never.
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        default_value = "auto",
        global = true
    )]
    pub color: ColorChoice,
    /// Print only problems (failed flows with their steps, errors, warnings) and the summary
    /// on stderr; passed flows, notes and progress stay silent. stdout is unchanged.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run flows in order; one line per step on stderr, results on stdout with --json.
    #[command(after_help = dmflow::exit::HELP)]
    Run(Deferred<RunArgs>),
    /// Run flows and compare their redacted transcripts with stored snapshots.
    #[command(
        after_help = format!("A differing snapshot fails its flow (✗ and a diff, exit 1, \"ok\": false in --json, a failing\n`snapshot` case in JUnit). A missing snapshot is written, except under CI=true where it fails.\n\nExamples:\n  dmflow test --mock flows/*.yaml\n  dmflow test --mock --update flows/me.yaml\n  dmflow test --mock --shard 2/3 flows/*.yaml --report junit=out.xml\n\n{}", dmflow::exit::HELP)
    )]
    Test(Deferred<TestArgs>),
    /// Validate flows without sending anything: YAML, fields, templates and variables.
    #[command(after_help = dmflow::exit::HELP)]
    Check(Deferred<CheckArgs>),
    /// Serve the Dailymotion emulator on 127.0.0.1 until Ctrl-C.
    #[command(
        after_help = "It shares its state (signing key, revocations) with `dmflow run --mock` on the same state\ndirectory, so tokens of either work with the other and survive restarts.\nExamples:\n  dmflow mock                                  # port 8090, consent page with Allow/Deny\n  dmflow mock --port 0 --auto-approve          # any free port, sign-ins approved at once\n  dmflow mock --ephemeral --encoding-time 3s   # a throwaway provider, uploads processed in 3s\nFault injection: curl -X POST 'http://127.0.0.1:8090/_mock/fail-next?path=/me&status=503&retry_after=2'"
    )]
    Mock(Deferred<MockArgs>),
    /// Print the stored outputs as environment variables: eval "$(dmflow env)".
    #[command(
        after_help = "Examples:\n  eval \"$(dmflow env)\"\n  dmflow env --format dotenv > .env.tokens\n  dmflow env --format github        # in GitHub Actions: masked, appended to $GITHUB_ENV"
    )]
    Env(Deferred<EnvArgs>),
    /// Print a valid access token (refreshed first if needed), for scripts.
    #[command(
        after_help = "Examples:\n  curl -H \"Authorization: Bearer $(dmflow token)\" https://api.dailymotion.com/me\n  dmflow token --json | jq -r .expires_at"
    )]
    Token(Deferred<ProfileJsonArgs>),
    /// Run a command with the stored outputs in its environment; exits with its code.
    #[command(after_help = "Example:\n  dmflow exec -- node upload.js")]
    Exec(Deferred<ExecArgs>),
    /// Show what the token store holds for a profile (tokens masked) and when it expires.
    Status(Deferred<ProfileJsonArgs>),
    /// Revoke the stored tokens with the provider (Dailymotion: /logout) and delete them.
    Logout(Deferred<ProfileArgs>),
    /// Print a shell completion script on stdout.
    #[command(
        after_help = "Examples:\n  source <(dmflow completions bash)                       # bash, this shell\n  dmflow completions bash > ~/.local/share/bash-completion/completions/dmflow\n  dmflow completions zsh > \"${fpath[1]}/_dmflow\"\n  dmflow completions fish > ~/.config/fish/completions/dmflow.fish\n  dmflow completions powershell >> $PROFILE"
    )]
    Completions(Deferred<CompletionsArgs>),
    /// Print the manual page (roff) on stdout: dmflow man | man -l -
    #[command(
        after_help = "Examples:\n  dmflow man | man -l -\n  dmflow man run | man -l -\n  dmflow man --dir /usr/local/share/man/man1   # dmflow.1 and one page per command"
    )]
    Man(Deferred<ManArgs>),
    /// Print the JSON Schema of flow files on stdout, for editors and validators.
    #[command(
        after_help = "Flow files point editors at it with a first line such as\n  # yaml-language-server: $schema=../schemas/flow.schema.json\n\nExamples:\n  dmflow schema > schemas/flow.schema.json\n  dmflow schema | jq '.[\"$defs\"].Step.properties | keys'"
    )]
    Schema,
    /// Start a project: a sign-in flow, a flow that uses it, the schema, .env.example and
    /// .gitignore entries. Existing files are left alone.
    #[command(
        after_help = "Examples:\n  dmflow init my-project && cd my-project && dmflow run --mock flows/me.yaml\n  dmflow init            # in the current directory"
    )]
    Init(Deferred<InitArgs>),
}

/// A command's options, added to the command line's definition only when clap enters that
/// command (to parse it, or for its help, completions or manual page): a start of `dmflow run`
/// does not build the options of every other command too.
#[derive(Debug)]
pub struct Deferred<T>(pub T);

impl<T: Args> Args for Deferred<T> {
    fn augment_args(command: clap::Command) -> clap::Command {
        command.defer(keeping_about::<T>)
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        command.defer(keeping_about_for_update::<T>)
    }

    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// [`keep_about`] with `T`'s options.
fn keeping_about<T: Args>(command: clap::Command) -> clap::Command {
    keep_about(command, T::augment_args)
}

/// [`keep_about`] with `T`'s options as clap's `update_from` takes them (none required).
fn keeping_about_for_update<T: Args>(command: clap::Command) -> clap::Command {
    keep_about(command, T::augment_args_for_update)
}

/// Options added to `command` by `augment`, its description staying the command's own: the doc
/// comment of a struct the options flatten in would otherwise replace it, now that it comes
/// last.
fn keep_about(
    command: clap::Command,
    augment: fn(clap::Command) -> clap::Command,
) -> clap::Command {
    let about = command.get_about().cloned();
    let long_about = command.get_long_about().cloned();
    let command = augment(command);
    let command = match about {
        Some(about) => command.about(about),
        None => command,
    };
    match long_about {
        Some(long_about) => command.long_about(long_about),
        None => command.long_about(None::<&str>),
    }
}

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Deferred)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// The project directory (created if needed; default: the current directory).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args, Clone)]
pub struct ManArgs {
    /// The page of one command (`run`, `test`...) instead of the main page.
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Option<String>,
    /// Write dmflow.1 and dmflow-COMMAND.1 for every command into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// A token store profile, for the commands that use it without a flow.
#[derive(Debug, Args, Clone)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Use the emulator's profile (`mock`), refreshing against the built-in emulator.
    #[arg(long)]
    pub mock: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

/// A profile, for the commands that can answer in JSON (`token`, `status`).
#[derive(Debug, Args, Clone)]
pub struct ProfileJsonArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Print one JSON document on stdout (also when the command fails).
    #[arg(long)]
    pub json: bool,
}

/// How requests reach servers: TLS trust and proxy. Loopback (127.0.0.1, [::1], localhost,
/// the emulator) never goes through a proxy.
#[derive(Debug, Args, Clone, Default)]
pub struct NetArgs {
    /// Also trust the CA certificates of this PEM file (besides the system's, or SSL_CERT_FILE).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Do not check TLS certificates at all (a warning says so on every run). For a test server
    /// with a self-signed certificate; prefer --cacert.
    #[arg(long)]
    pub insecure: bool,
    /// Send every request that is not loopback through this HTTP(S) proxy, e.g.
    /// http://proxy.corp:3128, NO_PROXY notwithstanding (default: HTTPS_PROXY, HTTP_PROXY or
    /// ALL_PROXY, except for the hosts in NO_PROXY).
    #[arg(long, value_name = "URL", value_parser = parse_proxy)]
    pub proxy: Option<String>,
}

fn parse_proxy(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim())
        .map_err(|e| format!("`{text}` is not a URL ({e}); write http://HOST:PORT"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{text}`: the proxy scheme is http or https, not {}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` names no host; write http://HOST:PORT"));
    }
    Ok(text.trim().to_string())
}

#[derive(Debug, Args, Clone)]
pub struct EnvArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// sh (bash, zsh), fish, dotenv, json, or github ($GITHUB_ENV with ::add-mask::).
    #[arg(long, value_enum, default_value = "sh")]
    pub format: ExportFormat,
}

#[derive(Debug, Args, Clone)]
pub struct ExecArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// The command and its arguments (after --).
    #[arg(trailing_var_arg = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Variables given on the command line.
#[derive(Debug, Args, Clone, Default)]
pub struct VarArgs {
    /// Set a variable (wins over the flow's vars:, the environment and --env-file).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from a dotenv file; they also answer env("NAME").
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

/// `--limit NAME=VALUE`: what one run may cost at most.
#[derive(Debug, Args, Clone, Default)]
pub struct LimitArgs {
    #[arg(long = "limit", value_name = "NAME=VALUE", value_parser = parse_limit, help = limit_help())]
    pub limits: Vec<String>,
}

fn limit_help() -> String {
    let defaults = dmflow::limits::Limits::default();
    let names: Vec<String> = dmflow::limits::NAMES
        .iter()
        .map(|(name, what)| format!("{name} ({what}; {})", defaults.show(name)))
        .collect();
    format!(
        "Change a limit (repeatable): {}. Sizes take units: 64MiB, 20MB.",
        names.join(", ")
    )
}

fn parse_limit(text: &str) -> Result<String, String> {
    dmflow::limits::Limits::default().set(text)?;
    Ok(text.to_string())
}

/// What `run` and `test` share: which flows, how to run them, where results go.
#[derive(Debug, Args)]
pub struct RunCommon {
    /// Flow files. A flow takes each input another listed flow outputs from one provider (the
    /// nearest flow listed before it that outputs it, else after it) and runs after it;
    /// otherwise the order given is kept.
    #[arg(required = true, value_name = "FLOW")]
    pub flows: Vec<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Show each request and response (headers and bodies, secrets masked).
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print the results as one JSON document on stdout (also when the flows are invalid).
    #[arg(long)]
    pub json: bool,
    /// Show secrets (tokens, client secret, codes) instead of masking them.
    #[arg(long)]
    pub reveal: bool,
    /// Run against the built-in Dailymotion emulator instead of the real API.
    #[arg(long)]
    pub mock: bool,
    /// Do not open a browser: print the sign-in URL (and accept a pasted redirect URL).
    #[arg(long, conflicts_with = "mock")]
    pub no_browser: bool,
    /// Open the sign-in URL with this command (called as `CMD URL`); default $DMFLOW_BROWSER,
    /// else the system's browser. Not with --mock, which signs in by itself.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["mock", "no_browser"])]
    pub browser: Option<String>,
    /// With --mock: the emulator's access-token lifetime in seconds (default 36000).
    #[arg(long, value_name = "SECS", requires = "mock")]
    pub token_ttl: Option<u64>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub net: NetArgs,
    /// Neither read inputs from nor write outputs to the token store.
    #[arg(long)]
    pub no_store: bool,
    /// Also keep the client secret in the token store (file mode 0600), so `dmflow env`,
    /// `token` and `exec` can refresh without DM_API_SECRET. Off by default.
    #[arg(long)]
    pub store_client_secret: bool,
    /// Write a report: junit=PATH (one test case per step) or json=PATH. Repeatable.
    #[arg(long, value_name = "KIND=PATH", value_parser = parse_report)]
    pub report: Vec<Report>,
    /// Run up to N independent flows at once, each on a thread of its own (output stays in
    /// order); the flow files are read and checked on up to N threads too.
    #[arg(short, long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Run only slice I of N (1-based) of the flows, for CI matrices: --shard 2/4. A flow
    /// stays in the shard of the flows it takes inputs from.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Run each flow N times (soak runs) and report the timing distribution.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub repeat: u32,
}

/// A `--report` destination.
#[derive(Debug, Clone)]
pub enum Report {
    Junit(PathBuf),
    Json(PathBuf),
}

fn parse_report(text: &str) -> Result<Report, String> {
    match text.split_once('=') {
        Some(("junit", path)) if !path.is_empty() => Ok(Report::Junit(path.into())),
        Some(("json", path)) if !path.is_empty() => Ok(Report::Json(path.into())),
        _ => Err("write junit=PATH or json=PATH".into()),
    }
}

fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let (i, n) = text.split_once('/').ok_or("write I/N, such as 2/4")?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| "I is a number")?,
        n.trim().parse().map_err(|_| "N is a number")?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(format!("{i}/{n}: I goes from 1 to N"));
    }
    Ok((i, n))
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: RunCommon,
    /// After the run, print the outputs as environment variables in this format (with --json,
    /// write them to --export-file, or use github: stdout holds the JSON document).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub export: Option<ExportFormat>,
    /// Write the --export text to this file instead of stdout (default format: dotenv).
    #[arg(long, value_name = "PATH")]
    pub export_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub common: RunCommon,
    /// Write the transcripts as the new snapshots instead of comparing.
    #[arg(long, env = "DMFLOW_UPDATE", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false")]
    pub update: bool,
    /// Where snapshots live: DIR/<flow name>.snap.
    #[arg(long, value_name = "DIR", default_value = "snapshots")]
    pub snapshots: PathBuf,
}

/// Which token store to use.
#[derive(Debug, Args, Clone, Default)]
pub struct StoreArgs {
    /// The token store profile (default `default`; `mock` under --mock).
    #[arg(long, value_name = "NAME", env = "DMFLOW_PROFILE")]
    pub profile: Option<String>,
    /// Where dmflow keeps its state (default $DMFLOW_STATE_DIR, else ~/.local/state/dmflow).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Flow files to validate.
    #[arg(required = true, value_name = "FLOW")]
    pub flows: Vec<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Print the problems as one JSON document on stdout (file, line, column, message, help).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct MockArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8090)]
    pub port: u16,
    /// Lifetime of access tokens, in seconds (Dailymotion: 36000, ten hours).
    #[arg(long, default_value_t = 36000, value_name = "SECS")]
    pub token_ttl: u64,
    /// Accept only the registered redirect URI (and its /SLUG forms), not any loopback port.
    #[arg(long)]
    pub strict_redirect: bool,
    /// Approve sign-ins at once instead of showing the consent page.
    #[arg(long)]
    pub auto_approve: bool,
    /// Add this delay to every answer (fault injection), e.g. 200ms.
    #[arg(long, value_name = "DURATION")]
    pub latency: Option<String>,
    /// The state directory whose emulator state to use (the one `dmflow run --mock` uses):
    /// <DIR>/mock/emulator.json. Default: $DMFLOW_STATE_DIR, else ~/.local/state/dmflow.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Keep the emulator's state (signing key, revocations) in this file instead.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["state_dir", "ephemeral"])]
    pub state_file: Option<PathBuf>,
    /// A throwaway provider: a new key in memory, nothing read or written; its tokens die
    /// with it.
    #[arg(long, conflicts_with = "state_dir")]
    pub ephemeral: bool,
    /// How long an uploaded video's processing takes before it is published, e.g. 3s.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub encoding_time: String,
    /// Finish processing at the N-th read of the video instead (deterministic, for tests).
    #[arg(long, value_name = "N", conflicts_with = "encoding_time")]
    pub encoding_polls: Option<u32>,
    /// The largest file an upload may carry, e.g. 512MiB, 20MB or 1048576 (bytes).
    #[arg(long, value_name = "SIZE", default_value = "512MiB")]
    pub max_upload_size: String,
    /// Close keep-alive connections idle this long.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub idle_timeout: String,
}

/// The formats of `--export` and `dmflow env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// `export NAME='value'` lines for sh, bash and zsh (`eval "$(dmflow env)"`).
    Sh,
    /// `set -gx NAME 'value';` lines for fish.
    Fish,
    /// `NAME='value'` lines for dotenv files.
    Dotenv,
    /// One JSON object.
    Json,
    /// Appended to `$GITHUB_ENV`, with `::add-mask::` lines on stdout.
    Github,
}

impl From<ExportFormat> for dmflow::export::Format {
    fn from(format: ExportFormat) -> Self {
        match format {
            ExportFormat::Sh => dmflow::export::Format::Sh,
            ExportFormat::Fish => dmflow::export::Format::Fish,
            ExportFormat::Dotenv => dmflow::export::Format::Dotenv,
            ExportFormat::Json => dmflow::export::Format::Json,
            ExportFormat::Github => dmflow::export::Format::Github,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn a_command_gets_its_options_only_when_clap_enters_it_and_keeps_its_own_description() {
        let unbuilt = Cli::command();
        let run = unbuilt.find_subcommand("run").unwrap();
        assert_eq!(run.get_arguments().count(), 0, "built at start");

        let mut built = Cli::command();
        built.build();
        built.clone().debug_assert();
        let run = built.find_subcommand("run").unwrap();
        assert!(run.get_arguments().any(|a| a.get_id() == "mock"));
        // The description is the command's, not that of a struct its options flatten in.
        let about = |name: &str| {
            let command = built.find_subcommand(name).unwrap();
            let long = command.get_long_about().map(ToString::to_string);
            (command.get_about().unwrap().to_string(), long)
        };
        assert!(
            about("run").0.starts_with("Run flows in order"),
            "{:?}",
            about("run")
        );
        assert!(
            about("check").0.starts_with("Validate flows"),
            "{:?}",
            about("check")
        );
        assert!(about("token").0.starts_with("Print a valid access token"));
        assert_eq!(about("token").1, None);
        assert!(about("init").0.starts_with("Start a project"));
    }
}
