//! The harness the server's black-box tests share: `keyport serve` on a free port with a
//! TOML configuration, and a JSON client over a plain socket.
#![allow(dead_code, reason = "each test binary uses a part of the harness")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process stopped when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The process, stopped when dropped.
    pub process: Running,
}

/// Starts `keyport serve` with a TOML configuration on a free port (and a `public_url`
/// naming it, unless the configuration mentions `public_url`, e.g. in a `# no public_url`
/// comment). Tests run in parallel,
/// so a port found free can be taken by another test's server before ours binds it: a
/// server that exits is started again on another port, and readiness only counts while our
/// process is the one running.
pub fn serve(config: &str, dir: &Path) -> Server {
    serve_logging(config, dir, None)
}

/// Like [`serve`], writing the server's log (stderr) into `log` when given.
pub fn serve_logging(config: &str, dir: &Path, log: Option<&Path>) -> Server {
    for _ in 0..5 {
        let port = free_port();
        let file = dir.join(format!("keyport-{port}.toml"));
        std::fs::write(
            &file,
            if config.contains("public_url") {
                format!("listen = \"127.0.0.1:{port}\"\n{config}")
            } else {
                format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n{config}")
            },
        )
        .unwrap();
        let mut process = Running(
            Command::new(env!("CARGO_BIN_EXE_keyport"))
                .args(["serve", "--config"])
                .arg(&file)
                .env_remove("KEYPORT_DATABASE_URL")
                .env_remove("KEYPORT_DATA_DIR")
                .env_remove("KEYPORT_LISTEN")
                .stdout(Stdio::null())
                .stderr(match log {
                    Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
                    None => Stdio::null(),
                })
                .spawn()
                .unwrap(),
        );
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        let mut exited = false;
        while start.elapsed() < Duration::from_secs(60) {
            if process.0.try_wait().unwrap().is_some() {
                exited = true;
                break;
            }
            if request(&base, "GET", "/readyz", None, None).0 == 200 {
                std::thread::sleep(Duration::from_millis(200));
                if process.0.try_wait().unwrap().is_none() {
                    return Server { base, process };
                }
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(exited, "keyport did not start");
    }
    panic!("keyport could not find a free port");
}

/// A JSON request over a plain socket: (status, headers, body).
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String, Value) {
    let address = base.trim_start_matches("http://");
    let Ok(mut stream) = TcpStream::connect(address) else { return (0, String::new(), Value::Null) };
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let _ = write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, content) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let content = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(content)
    } else {
        content.to_owned()
    };
    (status, head.to_owned(), serde_json::from_str(&content).unwrap_or(Value::Null))
}

pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The peak resident memory of a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}
