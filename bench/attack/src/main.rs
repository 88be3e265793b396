//! Hostile clients for `bench/hostile.sh`: keeps N attack connections open against a hookflow
//! server for a while, re-opening each one the server closes, and prints what happened.
//!
//! ```text
//! hookflow-attack MODE HOST:PORT N SECONDS [--from-ips K] [--webhook ID] [--reconnect-delay S]
//! ```
//!
//! MODE (the probes of issue 9):
//! - `headers`: `GET /healthz` with an `X-Pad` header of 400,000 `a`s, never finishing the headers;
//! - `idle`: a third send nothing, a third half a header section, a third half a body;
//! - `wrongkey`: `POST /webhooks/ID` with `X-Api-Key: wrong` and `Content-Length: 1048576`, one
//!   body byte, then stall.
//!
//! A connection the server closes is opened again after `--reconnect-delay` seconds (default 1;
//! 0 turns the attack into a connection flood). Connections come from 127.0.0.2, or are spread
//! over 127.0.0.2 ..= 127.0.0.(K+1) with `--from-ips K`. Loopback only; it stops by itself after
//! SECONDS. One thread: the attacker takes at most one of the machine's cores, and far fewer
//! cycles per connection than the Python attacker it replaces (`bench/lib/attack.py`).
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::time::{Instant, sleep, timeout, timeout_at};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Headers,
    Idle,
    WrongKey,
}

struct Args {
    mode: Mode,
    addr: SocketAddr,
    n: usize,
    seconds: f64,
    from_ips: usize,
    webhook: String,
    reconnect_delay: f64,
}

fn usage() -> ! {
    eprintln!(
        "usage: hookflow-attack headers|idle|wrongkey 127.0.0.1:PORT N SECONDS \
         [--from-ips K] [--webhook ID] [--reconnect-delay S]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = match it.next().as_deref() {
        Some("headers") => Mode::Headers,
        Some("idle") => Mode::Idle,
        Some("wrongkey") => Mode::WrongKey,
        _ => usage(),
    };
    let addr: SocketAddr = it.next().and_then(|a| a.parse().ok()).unwrap_or_else(|| usage());
    if !addr.ip().is_loopback() {
        eprintln!("hookflow-attack: refusing a non-loopback target {addr}");
        std::process::exit(2);
    }
    let n = it.next().and_then(|a| a.parse().ok()).unwrap_or_else(|| usage());
    let seconds = it.next().and_then(|a| a.parse().ok()).unwrap_or_else(|| usage());
    let mut args = Args {
        mode,
        addr,
        n,
        seconds,
        from_ips: 1,
        webhook: "00000000-0000-0000-0000-000000000000".into(),
        reconnect_delay: 1.0,
    };
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--from-ips" => args.from_ips = value.parse().unwrap_or_else(|_| usage()),
            "--webhook" => args.webhook = value,
            "--reconnect-delay" => args.reconnect_delay = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if args.from_ips == 0 || args.from_ips > 250 {
        usage();
    }
    args
}

/// What an attack connection sends (and then never finishes); `opened` picks the idle kind.
fn request_bytes(mode: Mode, webhook: &str, opened: u64) -> Vec<u8> {
    match mode {
        Mode::Headers => {
            let mut b = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
            b.resize(b.len() + 400_000, b'a');
            b
        }
        Mode::Idle => match opened % 3 {
            1 => b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ".to_vec(),
            2 => format!(
                "POST /webhooks/{webhook} HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
            )
            .into_bytes(),
            _ => Vec::new(),
        },
        Mode::WrongKey => format!(
            "POST /webhooks/{webhook} HTTP/1.1\r\nHost: x\r\nX-Api-Key: wrong\r\n\
             Accept: application/json\r\nContent-Type: application/json\r\n\
             Content-Length: 1048576\r\n\r\n{{"
        )
        .into_bytes(),
    }
}

type Stats = BTreeMap<String, u64>;

/// One attack connection, re-opened until `stop_at`; counts what happened to each.
async fn one(args: &Args, src: Ipv4Addr, stop_at: Instant) -> Stats {
    let mut stats = Stats::new();
    let bump = |stats: &mut Stats, k: &str| *stats.entry(k.to_string()).or_default() += 1;
    let mut first = true;
    while Instant::now() < stop_at {
        if !first {
            sleep(Duration::from_secs_f64(args.reconnect_delay)).await;
        }
        first = false;
        let connected = async {
            let sock = TcpSocket::new_v4()?;
            sock.bind(SocketAddr::new(src.into(), 0))?;
            sock.connect(args.addr).await
        };
        let mut stream = match timeout(Duration::from_secs(5), connected).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                bump(&mut stats, &format!("connect_error:{:?}", e.kind()));
                sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(_) => {
                bump(&mut stats, "connect_error:TimedOut");
                continue;
            }
        };
        let opened = stats.get("opened").copied().unwrap_or(0) + 1;
        bump(&mut stats, "opened");
        let data = request_bytes(args.mode, &args.webhook, opened);
        let outcome = async {
            if !data.is_empty() {
                // A write the server stops reading stalls here until the time is up.
                if timeout_at(stop_at, stream.write_all(&data)).await.is_err() {
                    return "still_open_at_end".to_string();
                }
            }
            // Wait for the server to answer or close, never sending more.
            let mut buf = [0u8; 256];
            match timeout_at(stop_at, stream.read(&mut buf)).await {
                Err(_) => "still_open_at_end".to_string(),
                Ok(Ok(0)) => "closed_unanswered".to_string(),
                Ok(Ok(n)) if buf[..n].starts_with(b"HTTP/1.1 ") && n >= 12 => {
                    format!("answered_{}", String::from_utf8_lossy(&buf[9..12]))
                }
                Ok(Ok(_)) => "closed_unanswered".to_string(),
                Ok(Err(_)) => "reset".to_string(),
            }
        }
        .await;
        bump(&mut stats, &outcome);
    }
    stats
}

fn main() {
    let args = parse_args();
    let mode = match args.mode {
        Mode::Headers => "headers",
        Mode::Idle => "idle",
        Mode::WrongKey => "wrongkey",
    };
    let n = args.n;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let total: Stats = rt.block_on(async {
        let args = std::sync::Arc::new(args);
        let stop_at = Instant::now() + Duration::from_secs_f64(args.seconds);
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let tasks: Vec<_> = (0..args.n)
                    .map(|i| {
                        let args = args.clone();
                        let src = Ipv4Addr::new(127, 0, 0, 2 + (i % args.from_ips) as u8);
                        tokio::task::spawn_local(async move { one(&args, src, stop_at).await })
                    })
                    .collect();
                let mut total = Stats::new();
                for t in tasks {
                    for (k, v) in t.await.expect("attack task") {
                        *total.entry(k).or_default() += v;
                    }
                }
                total
            })
            .await
    });
    let parts: Vec<String> = total.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "ATTACK mode={mode} n={n} {} cpu_ms={}",
        parts.join(" "),
        own_cpu_ms()
    );
}

/// CPU time this process used so far (user + system), from `/proc/self/stat`, in milliseconds.
fn own_cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces; ticks
    // are 100 per second on Linux.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    // `after` starts with the state letter: utime and stime are its 12th and 13th fields.
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) * 10
}
