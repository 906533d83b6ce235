//! Child processes that die with the test binary.
//!
//! Every child gets `prctl(PR_SET_PDEATHSIG, SIGKILL)` before `exec`, so the kernel kills it when
//! its parent goes away, whether the binary exits, panics or is killed with SIGKILL. The signal
//! fires when the *thread* that forked the child exits, so long-lived components are spawned
//! from one dedicated thread that lives as long as the process (test threads come and go).
//! Each child also gets its own process group, so a terminal's Ctrl-C reaches only the parent,
//! which then stops the children in order.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError, mpsc};

use crate::error::{Error, Result};

/// Makes `command`'s child die with this process (see the module docs) and puts it in its own
/// process group.
pub(crate) fn die_with_parent(command: &mut Command) {
    // Checked in the child to close the race where we die between fork and prctl.
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    command.process_group(0);
    // SAFETY: the closure runs in the forked child before exec; it calls only prctl and getppid,
    // which are async-signal-safe, and it does not allocate (errors are raw OS errors).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) == -1
            {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `command` from the process-lifetime spawner thread.
fn spawn_from_spawner_thread(command: Command) -> io::Result<Child> {
    static SPAWNER: Mutex<Option<mpsc::Sender<SpawnJob>>> = Mutex::new(None);
    let sender = {
        let mut slot = SPAWNER.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.as_ref() {
            Some(sender) => sender.clone(),
            None => {
                let (sender, jobs) = mpsc::channel::<SpawnJob>();
                std::thread::Builder::new()
                    .name("smi-testenv-spawner".into())
                    .spawn(move || {
                        // Runs until the process exits: the sender lives in a static.
                        for (mut command, reply) in jobs {
                            let _ = reply.send(command.spawn());
                        }
                    })?;
                *slot = Some(sender.clone());
                sender
            }
        }
    };
    let (reply, result) = mpsc::channel();
    sender
        .send((command, reply))
        .map_err(|_| io::Error::other("the smi-testenv spawner thread is gone"))?;
    result
        .recv()
        .map_err(|_| io::Error::other("the smi-testenv spawner thread is gone"))?
}

/// A long-running component (etcd, kube-apiserver, kube-controller-manager) whose output goes
/// to a log file. Killed on drop.
#[derive(Debug)]
pub(crate) struct Component {
    name: &'static str,
    child: Mutex<Child>,
    log: PathBuf,
}

impl Component {
    /// Starts `program args…`, writing stdout and stderr to `log`.
    pub(crate) fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        log: PathBuf,
    ) -> Result<Self> {
        let out = File::create(&log).map_err(|e| Error::io("creating a log file", &log, e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io("opening a log file", &log, e))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        die_with_parent(&mut command);
        tracing::debug!(component = name, ?args, "starting");
        let child = spawn_from_spawner_thread(command)
            .map_err(|e| Error::io("starting the program", program, e))?;
        Ok(Self {
            name,
            child: Mutex::new(child),
            log,
        })
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// How the component exited, if it has.
    pub(crate) fn exit_status(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        child.try_wait().ok().flatten()
    }

    /// Kills the component (SIGKILL) and reaps it. Usable from an `atexit` handler: it never
    /// blocks on a lock held elsewhere.
    pub(crate) fn kill(&self) {
        if let Ok(mut child) = self.child.try_lock() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// The last `lines` lines of the component's log, headed by its name and path.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        format!(
            "----- {} (last {lines} lines of {}) -----\n{}",
            self.name,
            self.log.display(),
            tail(&self.log, lines)
        )
    }

    /// Whether the log mentions `needle` (used to detect a port taken by someone else).
    pub(crate) fn log_contains(&self, needle: &str) -> bool {
        tail(&self.log, 200).contains(needle)
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `lines` lines of a file, reading at most its last 64 KiB.
fn tail(path: &Path, lines: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MAX)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}
