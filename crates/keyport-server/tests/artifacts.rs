//! A real `keyport serve` taking a 300 MB artifact and handing it out again: both are
//! streamed, so the server's peak memory stays far below the file's size.
#![expect(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;

use common::{peak_rss_mib, request, serve};
use serde_json::json;
use sha2::{Digest, Sha256};

const SIZE: usize = 300 * 1024 * 1024;
const CHUNK: usize = 1024 * 1024;

/// Chunk `n` of the file: bytes that differ from chunk to chunk.
fn chunk(n: usize) -> Vec<u8> {
    let seed = Sha256::digest(n.to_le_bytes());
    (0..CHUNK).map(|i| seed[i % 32] ^ (i / 32) as u8).collect()
}

/// Reads an HTTP/1.1 response head: the status and the lower-case headers.
fn head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        match line.trim_end().split_once(':') {
            Some((name, value)) => headers.push((name.to_ascii_lowercase(), value.trim().to_owned())),
            None => break,
        }
    }
    (status, headers)
}

#[test]
fn a_300_mb_artifact_streams_in_and_out_with_the_server_s_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&format!("data_dir = \"{}\"\n", dir.path().display()), dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(["admin", "create-api-key", "--role", "admin", "--name", "ops", "--data-dir"])
        .arg(dir.path())
        .env_remove("KEYPORT_DATABASE_URL")
        .output()
        .unwrap();
    let admin = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let k = Some(admin.as_str());
    let base = server.base.as_str();
    assert_eq!(
        request(base, "POST", "/api/v1/products", k, Some(json!({"code": "cad", "name": "CAD"}))).0,
        201
    );
    let rules = json!({"name": "std", "seats": 1, "deactivation_allowed": true, "offline_allowed": false,
        "initial_credits": 0, "blocking_days": 0, "replenish_credits": 0, "replenish_every_days": 0, "credit_cap": 0,
        "emergency_days": 0, "emergency_per_year": 0, "checkin_interval_days": null, "checkin_grace_days": 0});
    assert_eq!(request(base, "POST", "/api/v1/rule-sets", k, Some(rules)).0, 201);
    let item = json!({"sku": "CAD-5", "product_code": "cad", "name": "CAD 5", "license_model": "perpetual",
        "version_min": 5, "rule_set": "std"});
    assert_eq!(request(base, "POST", "/api/v1/items", k, Some(item)).0, 201);
    let customer = json!({"email": "big@example.com", "name": "Big"});
    assert_eq!(request(base, "POST", "/api/v1/customers", k, Some(customer)).0, 201);
    let order = json!({"shop": "web", "external_order_number": "W-1", "customer": {"email": "big@example.com"},
        "lines": [{"line_number": 1, "sku": "CAD-5", "quantity": 1}]});
    let order = request(base, "POST", "/api/v1/orders", k, Some(order));
    assert_eq!(order.0, 201);
    // A ticket login (no password hash, whose memory would hide the transfer's).
    let ticket = json!({"ticket_code": order.2["order"]["ticket_code"]});
    let token = request(base, "POST", "/api/v1/auth/ticket-login", None, Some(ticket)).2["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let release =
        request(base, "POST", "/api/v1/releases", k, Some(json!({"product": "cad", "version": "5.0.0"})));
    let release = release.2["id"].as_str().unwrap().to_owned();

    eprintln!("peak RSS before the upload: {} MiB", peak_rss_mib(server.process.0.id()));
    // The upload: 300 MB written in 1 MB pieces, hashed on the way.
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /api/v1/releases/{release}/artifacts?os=linux&arch=x86_64&file_name=big.bin HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/octet-stream\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut sent = Sha256::new();
    for n in 0..SIZE / CHUNK {
        let piece = chunk(n);
        sent.update(&piece);
        stream.write_all(&piece).unwrap();
    }
    let sent = hex::encode(sent.finalize());
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{}", &answer[..answer.len().min(500)]);
    assert!(answer.contains(&sent), "the stored digest is the sent file's");
    let after_upload = peak_rss_mib(server.process.0.id());
    eprintln!("peak RSS after a 300 MB upload: {after_upload} MiB");
    assert!(after_upload < 150, "peak RSS {after_upload} MiB after the upload");
    assert_eq!(
        request(base, "POST", &format!("/api/v1/releases/{release}/publish"), k, Some(json!({}))).0,
        200
    );

    // The download, through the customer's link: the same bytes.
    let listed = request(base, "GET", "/api/v1/me/downloads", Some(&token), None).2;
    let url =
        listed["products"][0]["releases"][0]["artifacts"][0]["download_url"].as_str().unwrap().to_owned();
    let path = url.trim_start_matches(base);
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reader = BufReader::with_capacity(CHUNK, stream);
    let (status, headers) = head(&mut reader);
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-length".to_owned(), SIZE.to_string())), "{headers:?}");
    let mut received = Sha256::new();
    let mut total = 0usize;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = reader.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        received.update(&buffer[..n]);
        total += n;
    }
    assert_eq!((total, hex::encode(received.finalize())), (SIZE, sent));
    let after_download = peak_rss_mib(server.process.0.id());
    eprintln!("peak RSS after its download: {after_download} MiB");
    assert!(after_download < 150, "peak RSS {after_download} MiB after the download");
}
