//! The `sshpty` command: `install` writes a kernelspec, `kernel` is what Jupyter runs.

use std::path::PathBuf;
use std::process::ExitCode;

mod install;
mod kernel;

use engine::Options;
use engine::magics::parse_target;
use engine::secret_command::AllowedCommands;
use install::{InstallOptions, Location};

const HELP: &str = "\
sshpty: a Jupyter kernel whose cells run in a terminal on a server over SSH, or on this machine

Usage:
  sshpty install [--user | --sys-prefix | --prefix DIR] [--name NAME] [--display-name TEXT]
                 [--login TARGET] [--no-header] [--no-sudo-cache] [--no-local]
                 [--secret-command PREFIX]...
      Write a kernelspec so Jupyter (Lab, Notebook, console, nbclient, papermill) finds the kernel.
      --user          into the user's Jupyter data directory (the default)
      --sys-prefix    into the prefix of the `jupyter` found on PATH (the sys.prefix of the
                      Python named in its #! line)
      --prefix DIR    into DIR/share/jupyter/kernels/NAME
      --name NAME     kernelspec name (default: sshpty)
      --display-name  name shown in Jupyter (default: \"SSH (sshpty)\")
      --login TARGET  log in to TARGET (`local`, or a host) at the first cell
      --no-header     no per-cell header (user, host, directory, time)
      --no-sudo-cache never remember sudo passwords
      --no-local      nothing a cell does runs or reads on this machine: no `!` commands, no
                      `%login local`, no %upload/%download, no sudo password command, no
                      `%login -F` or -o ProxyCommand (a cell cannot turn it back on)
      --secret-command PREFIX
                      with --no-local: `%sudo password-from-command` may still run commands
                      starting with these words, without a shell (`'pass show'`,
                      `'vault kv get'`); repeatable
  sshpty kernel --connection-file FILE [--login TARGET] [--no-header] [--no-sudo-cache]
                [--no-local] [--secret-command PREFIX]...
      Run the kernel (Jupyter does this, from the kernelspec).
  sshpty --version | --help

In a notebook, %help lists the magics. Logging: SSHPTY_LOG=error|warn|info|debug (stderr).
Host marks (production, staging, ...): $SSHPTY_MARKS, else $XDG_CONFIG_HOME/sshpty/marks,
else ~/.config/sshpty/marks; one `PATTERNS MARK [COLOUR]` per line (README, \"Marks\").
";

struct StderrLog(log::LevelFilter);

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.0
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("[sshpty {}] {}", r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

fn init_log() {
    let level = match std::env::var("SSHPTY_LOG").as_deref() {
        Ok("error") => log::LevelFilter::Error,
        Ok("info") => log::LevelFilter::Info,
        Ok("debug") | Ok("trace") => log::LevelFilter::Debug,
        Ok("off") => log::LevelFilter::Off,
        _ => log::LevelFilter::Warn,
    };
    let logger: &'static StderrLog = Box::leak(Box::new(StderrLog(level)));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("sshpty: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    init_log();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("-h") | Some("--help") | Some("help") => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Some("-V") | Some("--version") => {
            println!("sshpty {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("install") => install(&args[1..]),
        Some("kernel") => kernel(&args[1..]),
        Some(other) => fail(&format!("unknown command {other:?}; see sshpty --help")),
    }
}

fn value<'a>(it: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<String, String> {
    it.next()
        .cloned()
        .ok_or_else(|| format!("{flag} needs a value"))
}

fn install(args: &[String]) -> ExitCode {
    let mut o = InstallOptions::default();
    let mut it = args.iter();
    let parsed: Result<(), String> = (|| {
        while let Some(a) = it.next() {
            match a.as_str() {
                "--user" => o.location = Location::User,
                "--sys-prefix" => o.location = Location::SysPrefix,
                "--prefix" => o.location = Location::Prefix(PathBuf::from(value(&mut it, a)?)),
                "--name" => o.name = value(&mut it, a)?,
                "--display-name" => o.display_name = value(&mut it, a)?,
                "--login" => {
                    let v = value(&mut it, a)?;
                    // Checked now, so a kernelspec never carries a login its kernel refuses.
                    parse_target(&v).map_err(|e| format!("--login {v}: {e}"))?;
                    o.login = Some(v);
                }
                "--no-header" => o.header = false,
                "--no-sudo-cache" => o.sudo_cache = false,
                "--no-local" => o.local = false,
                "--secret-command" => o.secret_commands.push(value(&mut it, a)?),
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown option {other:?} for install")),
            }
        }
        Ok(())
    })();
    match parsed {
        Err(e) if e.is_empty() => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(&e),
        Ok(()) => {}
    }
    let secret_commands = match AllowedCommands::new(o.secret_commands.iter().map(String::as_str)) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let flags = Options {
        login: o.login.as_deref().and_then(|t| parse_target(t).ok()),
        no_local: !o.local,
        secret_commands,
        ..Default::default()
    };
    if let Some(why) = flags.contradiction() {
        return fail(why);
    }
    match install::install(&o) {
        Ok(dir) => {
            println!("Installed kernelspec {} in {}", o.name, dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// The user's marks file: `$SSHPTY_MARKS`, else `$XDG_CONFIG_HOME/sshpty/marks`, else
/// `~/.config/sshpty/marks`. Read from the kernel's own environment, which a notebook cannot
/// change: a shared notebook must not point the kernel at marks of its own.
fn marks_path() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(p) = var("SSHPTY_MARKS") {
        return Some(PathBuf::from(p));
    }
    let config = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("sshpty").join("marks"))
}

/// A `%on` cell keeps a connection (one fd) per host: the soft limit on open files (often
/// 1024) is raised to the hard one, as far as the administrator allows; what the kernel
/// starts gets the old one back (`targets::limits`).
fn raise_open_file_limit() {
    if let Err(e) = engine::limits::raise_open_files() {
        log::warn!("{e}");
    }
}

fn kernel(args: &[String]) -> ExitCode {
    let mut file: Option<PathBuf> = None;
    let mut opts = Options {
        header: true,
        sudo_cache: true,
        marks_path: marks_path(),
        ..Default::default()
    };
    let mut secrets: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let r = match a.as_str() {
            "--connection-file" | "-f" => value(&mut it, a).map(|v| file = Some(PathBuf::from(v))),
            "--login" => value(&mut it, a).and_then(|v| {
                let target = parse_target(&v).map_err(|e| format!("--login {v}: {e}"))?;
                opts.login = Some(target);
                Ok(())
            }),
            "--no-header" => {
                opts.header = false;
                Ok(())
            }
            "--no-sudo-cache" => {
                opts.sudo_cache = false;
                Ok(())
            }
            "--no-local" => {
                opts.no_local = true;
                Ok(())
            }
            "--secret-command" => value(&mut it, a).map(|v| secrets.push(v)),
            other => Err(format!("unknown option {other:?} for kernel")),
        };
        if let Err(e) = r {
            return fail(&e);
        }
    }
    match AllowedCommands::new(secrets.iter().map(String::as_str)) {
        Ok(c) => opts.secret_commands = c,
        Err(e) => return fail(&e),
    }
    if let Some(why) = opts.contradiction() {
        return fail(why);
    }
    let Some(file) = file else {
        return fail("kernel needs --connection-file FILE (Jupyter passes it from the kernelspec)");
    };
    raise_open_file_limit();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match rt.block_on(kernel::run(&file, opts)) {
        Ok(()) => {
            // Cells' helper tasks may still hold the runtime: do not wait for them.
            rt.shutdown_background();
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}
