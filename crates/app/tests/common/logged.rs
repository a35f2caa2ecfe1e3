//! A `pgbroker` process whose standard error is read line by line as it runs, so a test can
//! wait for a line, then stop the process (SIGTERM) and look at every line it wrote.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Logged {
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: Option<JoinHandle<()>>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Logged {
    /// Starts `command` with standard error captured (standard output discarded).
    pub fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pgbroker starts");
        let stderr = child.stderr.take().expect("standard error is piped");
        let (tx, lines) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            lines,
            reader: Some(reader),
            seen: Vec::new(),
        }
    }

    /// The first line (from now on) for which `pick` gives a value, within a minute.
    pub fn wait_for<T>(&mut self, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no such line; log so far:\n{}", self.seen.join("\n")));
            self.seen.push(line.clone());
            if let Some(found) = pick(&line) {
                return found;
            }
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, waits for the exit and returns it with every line written.
    pub fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM could not be sent");
        let exit = self.child.wait().expect("the process ends");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the reader ends");
        }
        self.seen.extend(self.lines.try_iter());
        (exit, std::mem::take(&mut self.seen))
    }
}
