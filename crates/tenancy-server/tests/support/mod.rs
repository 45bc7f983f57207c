//! Running the real `tenancy` binary in a sandbox: its own data folder, its own working
//! directory (so no stray `tenancy.toml` is read) and no `TENANCY_*` variables from outside.

#![allow(dead_code)] // Each test file uses a different part of this module.

pub mod network;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// How long anything in these tests may take before it counts as hung. Generous on purpose:
/// the tests run on a loaded 2-core machine, and none of them measures speed.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A temporary folder the binary runs in, with `data/` as its data folder.
pub struct Sandbox {
    dir: TempDir,
    env: Vec<(String, String)>,
}

impl Sandbox {
    /// A fresh, empty sandbox.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        Sandbox {
            dir,
            env: Vec::new(),
        }
    }

    /// The same sandbox, with `name=value` set for every command it runs from now on.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The sandbox folder, also the binary's working directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The data folder passed as `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }

    /// Where a tenant's SQLite database lives.
    pub fn tenant_file(&self, database: &str) -> PathBuf {
        self.data_dir()
            .join("tenants")
            .join(format!("{database}.sqlite"))
    }

    /// The catalog database file.
    pub fn catalog_file(&self) -> PathBuf {
        self.data_dir().join("catalog.sqlite")
    }

    /// `tenancy --data-dir <sandbox>/data <args…>`, ready to run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tenancy"));
        command
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .current_dir(self.path())
            .stdin(Stdio::null());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("TENANCY_") {
                command.env_remove(name);
            }
        }
        command.envs(self.env.iter().map(|(name, value)| (name, value)));
        command
    }

    /// Runs the binary to completion.
    pub fn run(&self, args: &[&str]) -> Outcome {
        Outcome::of(self.command(args))
    }

    /// Runs the binary with extra environment variables.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        Outcome::of(command)
    }

    /// Runs the binary with `--json`, expects success and parses what it printed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        self.run(&with_json).succeeded().json()
    }

    /// The tenant's status as `tenants show --json` reports it.
    pub fn status_of(&self, id: &str) -> String {
        let shown = self.json(&["tenants", "show", id]);
        shown["tenant"]["status"]
            .as_str()
            .expect("a shown tenant has a status")
            .to_owned()
    }

    /// Starts `tenancy serve --listen 127.0.0.1:0 <args…>` and waits for its listening line.
    pub fn serve(&self, args: &[&str]) -> Server {
        self.serve_with_env(args, &[])
    }

    /// [`Sandbox::serve`] with extra environment variables.
    pub fn serve_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut serve_args = vec!["serve", "--listen", "127.0.0.1:0"];
        serve_args.extend_from_slice(args);
        let mut command = self.command(&serve_args);
        command
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Server::start(command)
    }
}

/// What a finished run of the binary left behind.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code, `None` when a signal ended the process.
    pub code: Option<i32>,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

impl Outcome {
    fn of(mut command: Command) -> Outcome {
        let output: Output = command.output().expect("the tenancy binary runs");
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts exit code 0 and returns the outcome.
    #[track_caller]
    pub fn succeeded(self) -> Outcome {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }

    /// Asserts a non-zero exit code and returns the outcome.
    #[track_caller]
    pub fn failed(self) -> Outcome {
        assert!(
            matches!(self.code, Some(code) if code != 0),
            "expected failure: {self:#?}"
        );
        self
    }

    /// Asserts this exit code and returns the outcome.
    #[track_caller]
    pub fn exited_with(self, code: i32) -> Outcome {
        assert_eq!(self.code, Some(code), "unexpected exit code: {self:#?}");
        self
    }

    /// Asserts that stderr is exactly one line, `error: …`, containing every one of
    /// `needles`, and returns the line.
    #[track_caller]
    pub fn error_line(&self, needles: &[&str]) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one error line: {self:#?}");
        let line = lines[0];
        assert!(line.starts_with("error: "), "not an error line: {line}");
        for needle in needles {
            assert!(line.contains(needle), "'{needle}' missing from: {line}");
        }
        line.to_owned()
    }

    /// Asserts that stderr mentions every one of `needles` (clap's usage errors are several
    /// lines: the error, a usage line and a hint).
    #[track_caller]
    pub fn stderr_mentions(&self, needles: &[&str]) {
        assert!(
            self.stderr.starts_with("error: "),
            "no error first: {self:#?}"
        );
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "'{needle}' missing: {self:#?}"
            );
        }
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {self:#?}"))
    }
}

/// A running `tenancy serve`, killed when dropped so that no test leaves a server behind.
pub struct Server {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(mut command: Command) -> Server {
        let mut child = command.spawn().expect("tenancy serve starts");
        let stdout = lines_of(child.stdout.take().expect("stdout is piped"));
        let stderr = collect_lines(child.stderr.take().expect("stderr is piped"));
        let mut server = Server {
            child,
            port: 0,
            stdout,
            stderr,
        };
        server.port = server.wait_for_listening_line();
        server
    }

    fn wait_for_listening_line(&mut self) -> u16 {
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.stdout.recv_timeout(left) else {
                break;
            };
            if let Some(port) = listening_port(&line) {
                return port;
            }
        }
        let status = self.child.try_wait();
        panic!(
            "tenancy serve printed no listening line ({status:?}); stderr: {:#?}",
            self.stderr_lines()
        );
    }

    /// The next line the server prints on stdout after its listening line, waiting at most
    /// [`PATIENCE`].
    pub fn next_stdout_line(&self) -> Option<String> {
        self.stdout.recv_timeout(PATIENCE).ok()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every stderr line so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().expect("stderr lines lock").clone()
    }

    /// Sends an HTTP request for `host` and returns the answer.
    pub fn request(&self, method: &str, host: &str, path: &str) -> Response {
        http(self.port, method, host, path, None)
    }

    /// Sends a `GET` with extra header lines.
    pub fn get_with(&self, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        http_with(self.port, "GET", host, path, None, headers)
    }

    /// Sends an HTTP request with a JSON body.
    pub fn request_json(&self, method: &str, host: &str, path: &str, body: &[u8]) -> Response {
        http(self.port, method, host, path, Some(body))
    }

    /// Sends SIGTERM and waits (bounded) for the exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = wait_bounded(&mut self.child).expect("tenancy serve exits after SIGTERM");
        status.code()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for a child to exit, at most [`PATIENCE`].
pub fn wait_bounded(child: &mut Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Kills a child when dropped, for processes other than `serve`.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `within`.
pub fn eventually<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn listening_port(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("listening on http://127.0.0.1:")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn lines_of(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn collect_lines(stream: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            sink.lock().expect("stderr lines lock").push(line);
        }
    });
    lines
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Response {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {self:#?}"))
    }

    /// Asserts a problem answer: this status, `application/problem+json` and this code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:#?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:#?}"
        );
        assert_eq!(self.json()["code"], code, "{self:#?}");
    }
}

/// One HTTP/1.1 request on its own connection, closed afterwards; a deliberately small
/// client so the tests control the `Host` header and the raw body bytes.
pub fn http(port: u16, method: &str, host: &str, path: &str, body: Option<&[u8]>) -> Response {
    http_with(port, method, host, path, body, &[])
}

/// [`http`] with extra header lines.
pub fn http_with(
    port: u16,
    method: &str,
    host: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the server accepts");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("a read timeout can be set");

    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str("Content-Type: application/json\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    // The server may answer (413) and close before reading everything; the answer is what
    // counts, so a failed write is not an error here.
    let _ = stream.write_all(&bytes);

    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete HTTP answer: {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    let body = match chunked {
        true => dechunk(body),
        false => body.to_owned(),
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

/// Runs a future to completion on a small runtime of its own.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime starts")
        .block_on(future)
}

/// Opens a SQLite database the binary made, waiting on its locks like the binary does.
pub async fn open_sqlite(path: &Path) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions;

    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(PATIENCE)
        .connect()
        .await
        .unwrap_or_else(|error| panic!("cannot open {}: {error}", path.display()))
}

/// Runs SQL statements against a SQLite file, outside the binary (to make states by hand).
pub fn execute_sql(path: &Path, sql: &str) {
    block_on(async {
        let mut conn = open_sqlite(path).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
        sqlx::Connection::close(conn).await.ok();
    })
}

/// Runs a query that answers one integer.
pub fn query_i64(path: &Path, sql: &str) -> i64 {
    block_on(async {
        let mut conn = open_sqlite(path).await;
        let value = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
        sqlx::Connection::close(conn).await.ok();
        value
    })
}
