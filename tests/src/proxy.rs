//! A TCP proxy in front of a database server that a test can cut and restore, so one test
//! can take "the database" away without disturbing the others that share the server.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// A running proxy. While cut, it closes every piped connection and leaves new ones
/// hanging without an answer, like a network that drops packets.
pub struct Proxy {
    port: u16,
    url: String,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Proxies the host and port of the PostgreSQL URL `target`.
    pub fn start(target: &str) -> Proxy {
        let (scheme, rest) = target.split_once("://").unwrap_or_else(|| panic!("not a URL: {target}"));
        let (userinfo, hostpath) = match rest.split_once('@') {
            Some((u, h)) => (format!("{u}@"), h),
            None => (String::new(), rest),
        };
        let (hostport, path) = hostpath.split_once('/').unwrap_or((hostpath, ""));
        let upstream = if hostport.contains(':') { hostport.to_owned() } else { format!("{hostport}:5432") };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c, o) = (cut.clone(), open.clone());
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if c.load(Ordering::SeqCst) {
                    // Hold the socket without answering.
                    lock(&o).push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                for s in [&client, &server] {
                    if let Ok(clone) = s.try_clone() {
                        lock(&o).push(clone);
                    }
                }
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        let url = format!("{scheme}://{userinfo}127.0.0.1:{port}/{path}");
        Proxy { port, url, cut, open }
    }

    /// The database URL through the proxy.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every connection and stops answering new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in lock(&self.open).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Lets new connections through again (connections held while cut are closed).
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
        for stream in lock(&self.open).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

fn lock(open: &Mutex<Vec<TcpStream>>) -> std::sync::MutexGuard<'_, Vec<TcpStream>> {
    open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else { return };
    thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
