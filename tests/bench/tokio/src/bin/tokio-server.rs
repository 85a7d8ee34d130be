//! The benchmark's tokio peer: the workbook's server, written the way a tokio user would write
//! it, on tokio's `current_thread` runtime (one thread, like the Asio peer and our runtime).
//!
//! It is not a stage of the workbook. It follows the same contract as every stage (docs/README.md,
//! "The server contract"): `--port N` (0 picks a free port), `--quiet`, the readiness line
//! `listening on http://127.0.0.1:PORT`, read until the blank line into at most 1024 bytes,
//! answer the exact 200 response (or 431 when the buffer fills without one), close.
//!
//! `--keep-alive` serves HTTP/1.1 persistent connections instead, for tests/bench/run's
//! keep-alive cells: each request gets `HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello
//! world!` and the connection stays open; pipelined requests are answered in order (the
//! answers to every request already read go out in one write); a request with
//! `Connection: close` (or an HTTP/1.0 one) gets the usual close response, then the
//! connection closes; one that has sent nothing for 5 s (`--idle-ms N`: N ms, stage 15's
//! option) is closed.
//!
//! Simplification: a failed accept (out of file descriptors) is logged and retried 10 ms
//! later, without the reserve-fd trick of common/net.cpp. The benchmark never runs it out of
//! descriptors.
use std::future::{poll_fn, Future};
use std::io::Write;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nHello world!";
const KEEP_ALIVE_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello world!";
const TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\
                           Connection: close\r\n\r\n";
const CAPACITY: usize = 1024; // common/http.hpp's RequestBuffer::capacity
const IDLE_MS: u64 = 5000; // --idle-ms's default

const USAGE: &str = "usage: server [--port N] [--quiet] [--keep-alive] [--idle-ms N] [--help]

tokio-peer: the benchmark's peer: tokio, one current_thread runtime on one thread

Serves \"Hello world!\" to every HTTP request on 127.0.0.1.

options:
  --port N       port to listen on (default 3000; 0 picks a free port)
  --quiet, -q    do not log each request on stdout
  --keep-alive   keep connections open (HTTP/1.1), close those idle for 5 s
  --idle-ms N    with --keep-alive, close a connection idle for N ms (default 5000)
  --help, -h     show this help

Once it accepts connections it prints: listening on http://127.0.0.1:PORT
";

struct Args {
    port: u16,
    quiet: bool,
    keep_alive: bool,
    idle: Duration,
}

fn usage_error(message: &str) -> ! {
    eprintln!("server: {message}\nTry 'server --help' for more information.");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = Args {
        port: 3000,
        quiet: false,
        keep_alive: false,
        idle: Duration::from_millis(IDLE_MS),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        match name.as_str() {
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--quiet" | "-q" => args.quiet = true,
            "--keep-alive" => args.keep_alive = true,
            "--port" => {
                let value = inline
                    .or_else(|| argv.next())
                    .unwrap_or_else(|| usage_error("--port needs a value"));
                args.port = value.parse().unwrap_or_else(|_| {
                    usage_error(&format!("--port needs a number from 0 to 65535, got '{value}'"))
                });
            }
            "--idle-ms" => {
                let value = inline
                    .or_else(|| argv.next())
                    .unwrap_or_else(|| usage_error("--idle-ms needs a value"));
                let ms = value
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| (1..=86_400_000).contains(ms))
                    .unwrap_or_else(|| {
                        usage_error(&format!(
                            "--idle-ms needs a number from 1 to 86400000, got '{value}'"
                        ))
                    });
                args.idle = Duration::from_millis(ms);
            }
            _ => usage_error(&format!("unknown argument '{arg}'")),
        }
    }
    args
}

/// "GET / HTTP/1.1 -> 200", in one write, like common/log.cpp (control bytes shown as '?').
fn log_request(quiet: bool, request: &[u8], response: &[u8]) {
    if quiet {
        return;
    }
    let first = request.split(|&b| b == b'\r' || b == b'\n').next().unwrap_or(b"");
    let mut line: Vec<u8> =
        first.iter().map(|&c| if (0x20..0x7f).contains(&c) { c } else { b'?' }).collect();
    line.extend_from_slice(b" -> ");
    line.extend_from_slice(&response[9..12]);
    line.push(b'\n');
    let _ = std::io::stdout().lock().write_all(&line); // a server keeps serving if nobody reads
}

/// Where the first request in `bytes` ends (just after its "\r\n\r\n"), if it is complete.
fn request_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Whether the client asks to close after this request: `Connection: close`, or HTTP/1.0.
fn wants_close(request: &[u8]) -> bool {
    let mut lines = request.split(|&b| b == b'\n');
    if lines.next().map_or(false, |line| line.trim_ascii_end().ends_with(b"HTTP/1.0")) {
        return true;
    }
    lines.any(|line| match line.iter().position(|&b| b == b':') {
        Some(colon) if line[..colon].eq_ignore_ascii_case(b"connection") => line[colon + 1..]
            .split(|&b| b == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close")),
        _ => false,
    })
}

fn failed(error: std::io::Error) {
    // A reset costs this connection only; a client that closes early is not an error.
    eprintln!("connection failed: {error}");
}

/// The contract: one request, one answer, close (when `stream` drops).
async fn serve_one(mut stream: TcpStream, quiet: bool) {
    let mut buffer = [0u8; CAPACITY];
    let mut filled = 0;
    loop {
        match stream.read(&mut buffer[filled..]).await {
            Ok(0) => return, // the client went away before finishing its request
            Ok(n) => filled += n,
            Err(error) => return failed(error),
        }
        let complete = request_end(&buffer[..filled]).is_some();
        if complete || filled == CAPACITY {
            let response = if complete { RESPONSE } else { TOO_LARGE };
            match stream.write_all(response).await {
                Ok(()) => log_request(quiet, &buffer[..filled], response),
                Err(error) => failed(error),
            }
            return;
        }
    }
}

/// Reads into `buffer`, or gives up when `idle` expires first: Ok(None).
async fn read_or_idle(
    stream: &mut TcpStream,
    buffer: &mut [u8],
    mut idle: Pin<&mut Sleep>,
) -> std::io::Result<Option<usize>> {
    poll_fn(|cx| {
        let mut unfilled = ReadBuf::new(buffer);
        if let Poll::Ready(result) = Pin::new(&mut *stream).poll_read(cx, &mut unfilled) {
            return Poll::Ready(result.map(|()| Some(unfilled.filled().len())));
        }
        idle.as_mut().poll(cx).map(|()| Ok(None))
    })
    .await
}

/// --keep-alive: requests answered in order until the client asks to close, closes, or idles.
async fn serve_keep_alive(mut stream: TcpStream, quiet: bool, idle_timeout: Duration) {
    let mut buffer = [0u8; CAPACITY];
    let mut filled = 0;
    let mut out = Vec::with_capacity(4 * KEEP_ALIVE_RESPONSE.len());
    // One timer per connection, pushed back before each read: tokio only re-registers it
    // when the new deadline is earlier than the one it holds.
    let mut idle = pin!(tokio::time::sleep(idle_timeout));
    loop {
        // Answer every complete request already read, in order, in one write.
        let mut start = 0;
        let mut close = false;
        while let Some(end) = request_end(&buffer[start..filled]) {
            let request = &buffer[start..start + end];
            close = wants_close(request);
            let response = if close { RESPONSE } else { KEEP_ALIVE_RESPONSE };
            out.extend_from_slice(response);
            log_request(quiet, request, response);
            start += end;
            if close {
                break;
            }
        }
        if !close && start == 0 && filled == CAPACITY {
            out.extend_from_slice(TOO_LARGE);
            log_request(quiet, &buffer[..filled], TOO_LARGE);
            close = true;
        }
        if !out.is_empty() {
            if let Err(error) = stream.write_all(&out).await {
                return failed(error);
            }
            out.clear();
        }
        if close {
            return;
        }
        buffer.copy_within(start..filled, 0); // the start of the next request, if any
        filled -= start;

        idle.as_mut().reset(Instant::now() + idle_timeout);
        match read_or_idle(&mut stream, &mut buffer[filled..], idle.as_mut()).await {
            Ok(Some(0)) | Ok(None) => return, // closed by the client, or idle too long
            Ok(Some(n)) => filled += n,
            Err(error) => return failed(error),
        }
    }
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| {
            eprintln!("server: {error}");
            std::process::exit(1);
        });
    // The accept loop is block_on's future, where #[tokio::main] would put it. (In tokio 1.24
    // that costs an eventfd write per accepted connection: the I/O driver wakes block_on's
    // future through the runtime's unpark. A spawned accept loop would not pay it.)
    runtime.block_on(async {
        let listener = match TcpListener::bind(("127.0.0.1", args.port)).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("server: bind 127.0.0.1:{}: {error}", args.port);
                std::process::exit(1);
            }
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(args.port);
        let _ = std::io::stdout()
            .lock()
            .write_all(format!("listening on http://127.0.0.1:{port}\n").as_bytes());
        loop {
            match listener.accept().await {
                Ok((stream, _)) if args.keep_alive => {
                    tokio::spawn(serve_keep_alive(stream, args.quiet, args.idle));
                }
                Ok((stream, _)) => {
                    tokio::spawn(serve_one(stream, args.quiet));
                }
                Err(error) => {
                    // Out of fds, say. Waiting a moment, as hyper's and axum's accept loops do,
                    // lets the connection tasks run and close theirs: tokio 1.24's accept does
                    // not yield by itself while it keeps failing, so retrying at once would
                    // spin here forever, with nothing else run.
                    eprintln!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
}
