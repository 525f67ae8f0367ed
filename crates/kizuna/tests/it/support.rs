//! Running the binary, and a tiny HTTP/1.1 client over `std::net::TcpStream`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// How long a started server may take to answer, and a failing one to exit.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// `kizuna` with a clean environment (no `KIZUNA_*` variables from the caller).
pub fn kizuna() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kizuna"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("KIZUNA_") {
            command.env_remove(&name);
        }
    }
    command.env("KIZUNA_LOG", "warn").stdin(Stdio::null());
    command
}

/// Runs `kizuna <args>` to completion.
pub fn run(args: &[&str]) -> Output {
    kizuna().args(args).output().expect("kizuna runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("an ephemeral port")
        .local_addr()
        .expect("its address")
        .port()
}

/// A running `kizuna`, killed when dropped (also when a test panics).
pub struct Running {
    pub child: Child,
    /// Lines of the child's stdout as they come.
    pub lines: Receiver<String>,
    /// Everything the child wrote to stderr, once it is gone.
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    pub fn spawn(args: &[&str]) -> Running {
        let mut child = kizuna()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kizuna starts");
        let out = child.stdout.take().expect("piped stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Running {
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    /// The next stdout line containing `needle`, waiting at most `PATIENCE`.
    pub fn line_containing(&self, needle: &str) -> Option<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Waits at most `PATIENCE` for the child to exit; kills it otherwise.
    pub fn wait_for_exit(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }

    /// Kills the child if needed and returns all it wrote to stderr.
    pub fn finish(&mut self) -> String {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `GET` with `Connection: close`: the status code and the body.
pub fn http_get(
    address: SocketAddr,
    path: &str,
    key: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    if let Some(key) = key {
        request.push_str(&format!("Authorization: {key}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end in {response:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {head:?}")))?;
    let chunked = head.lines().any(|line| {
        line.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

/// Polls `GET /servers/getVersion` until the server answers 200 (at most `PATIENCE`).
pub fn wait_until_serving(
    address: SocketAddr,
    key: &str,
    running: &mut Running,
) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(status) = running.child.try_wait().expect("try_wait") {
            panic!(
                "kizuna serve exited early with {status}: {}",
                running.finish()
            );
        }
        match http_get(address, "/servers/getVersion", Some(key)) {
            Ok((200, body)) => return serde_json::from_str(&body).expect("JSON from getVersion"),
            Ok((status, body)) => last = format!("{status}: {body}"),
            Err(error) => last = error.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no answer from {address} within {PATIENCE:?}; last: {last}");
}
