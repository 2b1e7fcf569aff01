//! The `clerk-emulator` command line (also `latchkey emulator`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::{Emulator, EmulatorConfig, Local, Seed};

/// A local, Clerk-compatible Frontend + Backend API server.
#[derive(Debug, Parser)]
#[command(name = "clerk-emulator", version, about)]
pub struct Args {
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on; loopback only unless --allow-non-loopback.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Permit a non-loopback --host.
    #[arg(long)]
    allow_non_loopback: bool,
    /// Seed for a new instance: `demo`, `empty`, or a path to a TOML file.
    #[arg(long, default_value = "demo")]
    seed: String,
    /// Persist state here; a second start on the same dir attaches.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print one JSON object with the URLs and keys, then keep serving.
    #[arg(long)]
    json: bool,
    /// Session token lifetime in seconds (Clerk: 60).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    token_lifetime: u64,
    /// Allow only one signed-in session per client.
    #[arg(long)]
    single_session: bool,
    /// Turn Clerk's per-IP rate limits off (load tests).
    #[arg(long)]
    no_rate_limits: bool,
    /// Require a factor verified within this many minutes to revoke
    /// sessions (Clerk's reverification).
    #[arg(long)]
    reverification_minutes: Option<i64>,
    /// Which factor reverification asks for: first_factor or second_factor.
    #[arg(long, value_parser = ["first_factor", "second_factor"])]
    reverification_level: Option<String>,
    /// Strict reverification: a second factor within 10 minutes.
    #[arg(long, conflicts_with_all = ["reverification_minutes", "reverification_level"])]
    reverification_strict: bool,
    /// Hold new sessions as pending with a task until it is done
    /// (repeatable): TASK or EMAIL=TASK, TASK one of choose-organization,
    /// reset-password, setup-mfa.
    #[arg(long = "session-task")]
    session_tasks: Vec<crate::SessionTaskRule>,
    /// Give this user (by email) a second factor (repeatable; code 424242).
    #[arg(long = "mfa")]
    mfa_users: Vec<String>,
    /// Clerk's Client Trust: ticket and OAuth sign-ins on a new client come
    /// back `needs_client_trust`.
    #[arg(long)]
    client_trust: bool,
    /// Extra allowed redirect URL (repeatable), besides Latchkey's callbacks.
    #[arg(long = "allow-redirect")]
    allow_redirect: Vec<String>,
}

/// Runs the command line with these arguments (the first is the program
/// name); returns the exit code.
pub fn run<I, T>(argv: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "clerk_emulator=info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let seed = match Seed::load(&args.seed) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = EmulatorConfig {
        bind: SocketAddr::new(args.host, args.port),
        allow_non_loopback: args.allow_non_loopback,
        seed,
        data_dir: args.data_dir,
        token_lifetime: Duration::from_secs(args.token_lifetime),
        single_session_mode: args.single_session.then_some(true),
        rate_limits: !args.no_rate_limits,
        reverification_minutes: if args.reverification_strict {
            Some(10)
        } else {
            args.reverification_minutes
        },
        reverification_level: if args.reverification_strict
            || args.reverification_level.as_deref() == Some("second_factor")
        {
            crate::ReverificationLevel::SecondFactor
        } else {
            crate::ReverificationLevel::FirstFactor
        },
        session_tasks: args.session_tasks,
        mfa_users: args.mfa_users,
        client_trust: args.client_trust,
        ..EmulatorConfig::default()
    };
    config.redirect_allowlist.extend(args.allow_redirect);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        // Listening before the ready line is printed: a signal sent right
        // after it is not lost (it would kill the process instead).
        let stop = shutdown_signal();
        let handle = match Emulator::start_or_attach(config).await {
            Ok(Local::Started(h)) => h,
            Ok(Local::Attached(info)) => {
                if args.json {
                    println!("{}", serde_json::to_string(&info).unwrap_or_default());
                } else {
                    println!("Already running (pid {}):\n{info}", info.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()));
                }
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let info = handle.info().clone();
        if args.json {
            println!("{}", serde_json::to_string(&info).unwrap_or_default());
        } else {
            println!("Local Clerk is running.\n{info}\n\nHosted sign-in and the demo web app: {}/demo\nCtrl-C to stop.", info.frontend_api_url);
        }
        stop.await;
        handle.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called (in
/// the runtime), not when the future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        let wait = |s: Option<Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        async move {
            tokio::select! {
                _ = wait(term) => {},
                _ = wait(int) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
