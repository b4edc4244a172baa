//! A `%on PATTERN` cell with shell text (issue 15): the text on every host the pattern
//! selects, many at once. Each host runs in a task of its own (`host`), at most `--forks` at
//! once, in rolling `--batch`es, no new one once more than `--max-fail` failed
//! (`fleet::schedule`). While they run, one live line says how many are done, failed and
//! running; at the end the hosts' outputs are folded (identical ones under one header, as
//! `dshbak -c`), and a table of host, status, exit code and duration goes into the notebook
//! with the run's facts in its metadata: the saved notebook is the log of what ran where,
//! by whom, when. The notebook's current host stays current.

mod host;
mod host_output;
mod password;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet::fold::{Added, Fold, Output as FoldOutput, Progress, Status, hostlist};
use fleet::schedule::{Halt, Schedule};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use crate::failure::{Failure, Outcome, Stage};
use crate::frontend::{Display, Output, Request};
use crate::magics::OnArgs;
use crate::output::{open_private, output_dir, output_file_name};
use crate::session::Engine;
use host::{Cell, HostEnd};
use host_output::Finished;

/// Hosts at once unless `--forks` says otherwise: enough that a hundred hosts take one
/// round, few enough that the sshds behind one jump host or a NAT are not flooded.
pub const DEFAULT_FORKS: usize = 100;
/// How often the live line is brought up to date.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// Distinct output kept for the folded display when the cell has no output limit.
const FOLD_MAX: usize = 64 * 1024 * 1024;

/// How one host ended, for the table and the metadata.
struct Ran {
    host: String,
    status: Status,
    millis: u64,
    file: Option<String>,
}

impl Engine {
    /// `%on PATTERN` and shell text. Any host that failed makes the cell an error, after
    /// every host that was to run had its turn; an interrupt stops every host.
    pub(crate) async fn run_on(
        &self,
        on: &OnArgs,
        code: &str,
        req: &Request,
        silent: bool,
    ) -> Outcome {
        let hosts = self.select(&on.pattern)?;
        let total = hosts.len();
        let started = chrono::Utc::now();
        let clock = Instant::now();
        let (count, limit) = {
            let st = self.state();
            (st.execution_count, st.settings.output_limit)
        };
        let limit = limit.map_or(FOLD_MAX, |l| usize::try_from(l).unwrap_or(FOLD_MAX));
        // Interrupts that come from now on stop the fleet, also one that comes while a
        // host is still being reached.
        let mut interrupt = self.inner.interrupt.subscribe();
        interrupt.borrow_and_update();
        let names: Vec<&str> = hosts.iter().map(|(h, _)| h.as_str()).collect();
        let cell = Arc::new(Cell {
            code: code.to_owned(),
            count,
            held_max: limit,
            output_dir: output_dir(),
            password: req.asker.clone().map(|asker| {
                password::Shared(Arc::new(password::FleetPassword::new(
                    asker,
                    format!(
                        "[sudo] password for {} (asked once, given to each host's own sudo prompt):",
                        hostlist::fold(&names)
                    ),
                    interrupt.clone(),
                )))
            }),
        });
        let hosts = Arc::new(hosts);
        let mut schedule = Schedule::new(
            total,
            on.forks.unwrap_or(DEFAULT_FORKS),
            on.batch,
            on.max_fail,
        );
        let mut progress = Progress {
            total,
            ..Progress::default()
        };
        let line = LiveLine::new(req, silent, progress);
        let mut fold = Fold::new(limit);
        let mut ran: Vec<Ran> = Vec::with_capacity(total);
        let mut tasks: JoinSet<(usize, HostEnd)> = JoinSet::new();
        let mut task_host: HashMap<tokio::task::Id, usize> = HashMap::new();
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shown = progress;
        let mut interrupted = false;
        self.inner.running.send_replace(true);
        loop {
            while let Some(i) = schedule.start() {
                let (engine, cell, hosts) = (self.clone(), cell.clone(), hosts.clone());
                let interrupt = interrupt.clone();
                let handle = tasks.spawn(async move {
                    let (name, connection) = &hosts[i];
                    let end = engine
                        .on_host(name, connection.as_ref(), &cell, interrupt)
                        .await;
                    (i, end)
                });
                task_host.insert(handle.id(), i);
            }
            progress.running = schedule.running();
            if schedule.finished() {
                break;
            }
            tokio::select! {
                Some(joined) = tasks.join_next_with_id() => {
                    let (i, end) = match joined {
                        Ok((id, (i, end))) => {
                            task_host.remove(&id);
                            (i, end)
                        }
                        Err(e) => {
                            // A bug (a panic) in one host's run: that host fails, the
                            // others go on.
                            let i = task_host.remove(&e.id()).unwrap_or_default();
                            let note = format!("sshpty: this host's run ended unexpectedly: {e}\n");
                            (i, HostEnd {
                                status: Status::Failed { exit_code: -1 },
                                output: Finished::Text(note.into_bytes()),
                                millis: 0,
                                interrupted: false,
                            })
                        }
                    };
                    let ok = end.status.is_ok();
                    if ok { progress.done += 1 } else { progress.failed += 1 }
                    if end.interrupted && !interrupted {
                        interrupted = true;
                        schedule.stop();
                    }
                    schedule.ended(ok);
                    progress.running = schedule.running();
                    ran.push(add_to_fold(&mut fold, &hosts[i].0, end, count));
                }
                _ = interrupt.changed(), if !interrupted => {
                    interrupted = true;
                    schedule.stop();
                }
                _ = tick.tick() => {
                    if progress != shown {
                        line.show(progress, None);
                        shown = progress;
                    }
                }
            }
        }
        self.inner.running.send_replace(false);
        let not_started: Vec<&str> = schedule.unstarted().map(|i| hosts[i].0.as_str()).collect();
        line.show(progress, Some(clock.elapsed()));
        if !silent {
            let (plain, html) = (fleet::fold::text(&fold), fleet::fold::html(&fold));
            req.outputs.emit(Output::Display(Display {
                id: format!("sshpty-fleet-{}", uuid::Uuid::new_v4()),
                plain,
                html: Some(html),
                metadata: Map::new(),
                terminal: None,
            }));
            self.fleet_summary(on, started, &fold, &ran, &not_started, schedule.halt(), req);
        }
        let failed: Vec<&str> = ran
            .iter()
            .filter(|r| !r.status.is_ok())
            .map(|r| r.host.as_str())
            .collect();
        if interrupted {
            return Err(Failure::Interrupted { stage: Stage::Cell });
        }
        if failed.is_empty() {
            return Ok(());
        }
        let why_not_started = match schedule.halt() {
            Some(Halt::MaxFail { tolerated, .. }) if !not_started.is_empty() => format!(
                "; {} not started, as more than {tolerated} failed (--max-fail {}): {}",
                not_started.len(),
                on.max_fail.map(|m| m.to_string()).unwrap_or_default(),
                hostlist::fold(&not_started)
            ),
            _ => String::new(),
        };
        Err(Failure::FleetFailed {
            failed: failed.len(),
            of: total,
            hosts: hostlist::fold(&failed),
            not_started: why_not_started,
        })
    }

    /// The table of hosts, status, exit code and duration, with the run's facts in its
    /// metadata (the saved notebook's record of what ran where, by whom, when).
    #[allow(clippy::too_many_arguments)]
    fn fleet_summary(
        &self,
        on: &OnArgs,
        started: chrono::DateTime<chrono::Utc>,
        fold: &Fold,
        ran: &[Ran],
        not_started: &[&str],
        halt: Option<Halt>,
        req: &Request,
    ) {
        let mut plain = fleet::fold::summary_text(fold);
        let mut html = fleet::fold::summary_html(fold);
        if !not_started.is_empty() {
            let why = match halt {
                Some(Halt::MaxFail { .. }) => " (more hosts failed than --max-fail allows)",
                Some(Halt::Stopped) => " (interrupted)",
                None => "",
            };
            let line = format!("not started{why}: {}\n", hostlist::fold(not_started));
            plain.push_str(&line);
            html.push_str(&format!("<p>{}</p>", crate::display::html_escape(&line)));
        }
        let user = std::env::var("USER").unwrap_or_default();
        let mut rows: Vec<&Ran> = ran.iter().collect();
        rows.sort_by_cached_key(|r| hostlist::natural_key(&r.host));
        let hosts: Vec<Value> = rows
            .iter()
            .map(|r| {
                let (status, exit) = match &r.status {
                    Status::Ok => ("ok", json!(0)),
                    Status::Failed { exit_code } => ("failed", json!(exit_code)),
                    Status::Unreachable { .. } => ("unreachable", Value::Null),
                };
                let mut h =
                    json!({"host": r.host, "status": status, "exit_code": exit, "ms": r.millis});
                if let Some(f) = &r.file {
                    h["output_file"] = json!(f);
                }
                h
            })
            .collect();
        let mut metadata = Map::new();
        metadata.insert(
            "sshpty".into(),
            json!({"fleet": {
                "pattern": on.pattern,
                "forks": on.forks.unwrap_or(DEFAULT_FORKS),
                "batch": on.batch,
                "max_fail": on.max_fail.map(|m| m.to_string()),
                "by": user,
                "started": started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "hosts": hosts,
                "not_started": not_started,
                "halted": halt.map(|h| match h {
                    Halt::Stopped => "interrupt",
                    Halt::MaxFail { .. } => "max-fail",
                }),
            }}),
        );
        req.outputs.emit(Output::Display(Display {
            id: format!("sshpty-fleet-{}", uuid::Uuid::new_v4()),
            plain,
            html: Some(html),
            metadata,
            terminal: None,
        }));
    }
}

/// One host's end into the fold: an output over the fold's bound goes to a file named in
/// its block.
fn add_to_fold(fold: &mut Fold, host: &str, end: HostEnd, count: usize) -> Ran {
    let mut file = None;
    match &end.output {
        Finished::InFile { path, bytes } => {
            let p = path.display().to_string();
            fold.add(
                host,
                end.status.clone(),
                FoldOutput::InFile {
                    path: &p,
                    bytes: *bytes,
                },
                end.millis,
            );
            file = Some(p);
        }
        Finished::Text(text) => {
            if fold.add(host, end.status.clone(), FoldOutput::Text(text), end.millis)
                == Added::NotKept
            {
                let path = output_dir().join(output_file_name(host, count));
                let written =
                    open_private(&path).and_then(|mut f| std::io::Write::write_all(&mut f, text));
                if written.is_ok() {
                    let p = path.display().to_string();
                    fold.spilled(host, &p);
                    file = Some(p);
                }
            }
        }
    }
    Ran {
        host: host.to_owned(),
        status: end.status,
        millis: end.millis,
        file,
    }
}

/// The live line (`12 done, 1 failed, 5 running of 20`), one display updated in place.
struct LiveLine<'a> {
    req: &'a Request,
    id: Option<String>,
}

impl<'a> LiveLine<'a> {
    fn new(req: &'a Request, silent: bool, progress: Progress) -> LiveLine<'a> {
        let id = (!silent).then(|| format!("sshpty-fleet-progress-{}", uuid::Uuid::new_v4()));
        if let Some(id) = &id {
            req.outputs
                .emit(Output::Display(line_display(id, &progress.to_string())));
        }
        LiveLine { req, id }
    }

    /// `took`: the cell is over, and took this long.
    fn show(&self, p: Progress, took: Option<Duration>) {
        let Some(id) = &self.id else { return };
        let text = match took {
            None => p.to_string(),
            Some(t) => format!(
                "{} done, {} failed of {} in {:.1} s",
                p.done,
                p.failed,
                p.total,
                t.as_secs_f64()
            ),
        };
        self.req
            .outputs
            .emit(Output::Update(line_display(id, &text)));
    }
}

fn line_display(id: &str, text: &str) -> Display {
    Display {
        id: id.to_owned(),
        plain: format!("{text}\n"),
        html: None,
        metadata: Map::new(),
        terminal: None,
    }
}
