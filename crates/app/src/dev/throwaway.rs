//! A throwaway PostgreSQL server from the system's binaries, in a temporary directory, on a
//! free port, stopped and deleted when dropped. `initdb` refuses to run as root, so as root the
//! server runs as the unprivileged user `nobody`.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. \
Install them, e.g. `apt-get install postgresql` (Debian/Ubuntu), `dnf install postgresql-server` (Fedora), \
`brew install postgresql` (macOS), or put their directory on PATH or name it with --pg-bindir; or point pgbroker dev at an existing \
server with --postgres-url postgres://USER:PASSWORD@HOST:PORT/postgres";

pub struct Throwaway {
    pub dir: PathBuf,
    pub port: u16,
    bindir: PathBuf,
    user: Option<(u32, u32)>,
    child: Option<Child>,
}

impl Throwaway {
    /// Initialises and starts the server; returns once it accepts connections.
    pub async fn start(bindir: Option<&Path>) -> anyhow::Result<Self> {
        let bindir = find_bindir(bindir).context(INSTALL_HINT)?;
        let user = if running_as_root() {
            Some(unprivileged_user().context(
                "running as root, and initdb refuses root: no user `nobody` to run PostgreSQL as (create one, or run pgbroker dev as a normal user)",
            )?)
        } else {
            None
        };
        let dir = std::env::temp_dir().join(format!("pgbroker-dev-{}", short_random()));
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
        if let Some((uid, gid)) = user {
            chown(&dir, Some(uid), Some(gid))
                .with_context(|| format!("handing {} to the unprivileged user", dir.display()))?;
        }
        let mut server = Self {
            dir,
            port: 0,
            bindir,
            user,
            child: None,
        };
        // From here on, dropping `server` removes the directory (and stops what was started).
        server.init()?;
        server.port = free_port()?;
        server.spawn()?;
        server.wait_ready().await?;
        Ok(server)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bindir.join(program));
        // The caller's directory may be closed to the unprivileged user.
        command.current_dir(&self.dir).env("LC_ALL", "C");
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn init(&self) -> anyhow::Result<()> {
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(self.data())
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .stdin(Stdio::null())
            .output()
            .context("running initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log_path = self.dir.join("postgres.log");
        let log = fs::File::create(&log_path).context("creating the server log")?;
        let err = log.try_clone().context("opening the server log")?;
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            // A group of its own: Ctrl-C in the terminal reaches only pgbroker, which stops
            // PostgreSQL after the broker has finished its in-flight work.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .context("starting postgres")?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        for _ in 0..300 {
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait().context("watching postgres")?,
                None => None,
            };
            if let Some(status) = exited {
                bail!("postgres exited ({status}): {}", self.log_tail());
            }
            let ready = Command::new(self.bindir.join("pg_isready"))
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "postgres did not accept connections within 30 seconds: {}",
            self.log_tail()
        )
    }

    /// Admin URL (trust authentication, no password).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(self.dir.join("postgres.log")) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// Stops the server (fast shutdown) and deletes its directory.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let stopped = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["stop", "-m", "fast", "-w"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !stopped {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        if let Err(e) = fs::remove_dir_all(&self.dir)
            && self.dir.exists()
        {
            eprintln!("could not remove {}: {e}", self.dir.display());
        }
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `given` (`--pg-bindir`), else the newest `/usr/lib/postgresql/<version>/bin`, else the
/// directory of `initdb` on PATH.
fn find_bindir(given: Option<&Path>) -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres", "pg_isready"]
            .iter()
            .all(|p| dir.join(p).is_file())
    };
    if let Some(dir) = given {
        return has_all(dir).then(|| dir.to_path_buf());
    }
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_all(bin))
        .collect();
    versioned.sort();
    if let Some((_, bin)) = versioned.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain(["/usr/local/pgsql/bin".into(), "/opt/homebrew/bin".into()])
        .find(|dir| has_all(dir))
}

/// The owner of `/proc/self` is the process's effective user; without procfs, ask `id`.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    match fs::metadata("/proc/self") {
        Ok(meta) => meta.uid() == 0,
        Err(_) => Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0"),
    }
}

/// uid and gid of `nobody` from /etc/passwd.
fn unprivileged_user() -> anyhow::Result<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                ["nobody", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
                _ => None,
            }
        })
        .context("/etc/passwd has no usable `nobody` entry")
}

/// A port the kernel just handed out; it is free again once the probe socket closes.
fn free_port() -> anyhow::Result<u16> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(probe.local_addr().context("finding a free port")?.port())
}

fn short_random() -> String {
    use pgbroker_domain::ports::SecretGenerator;
    pgbroker_adapters_cloud::OsRngSecrets.password().expose()[..10].to_lowercase()
}
