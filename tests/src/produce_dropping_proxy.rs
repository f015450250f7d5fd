//! A TCP forwarder between Kafka clients and a broker that loses the responses to the
//! first few Produce requests: it forwards the request, and when the broker's answer
//! comes back it closes the connection instead. The broker has stored the batch; the
//! client never learns it, and retries on a new connection — the case idempotent
//! producers exist for.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Largest frame the proxy forwards (far above any test's request).
const FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Kafka's api key of Produce.
const PRODUCE_API_KEY: i16 = 0;

/// The running proxy; stops accepting when dropped.
pub struct ProduceDroppingProxy {
    /// `host:port` clients connect to (and the broker must advertise).
    pub addr: String,
    drops_left: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

/// Reads one size-prefixed frame; `None` at end of stream or on a bad size.
fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let size = usize::try_from(i32::from_be_bytes(size)).ok()?;
    if size > FRAME_BYTES_MAX {
        return None;
    }
    let mut frame = vec![0u8; 4 + size];
    frame[..4].copy_from_slice(&(size as i32).to_be_bytes());
    stream.read_exact(&mut frame[4..]).ok()?;
    Some(frame)
}

fn close(streams: &[&TcpStream]) {
    for s in streams {
        let _ = s.shutdown(Shutdown::Both);
    }
}

impl ProduceDroppingProxy {
    /// Binds a local port now, so the broker can be told to advertise it before the
    /// proxy knows where the broker listens.
    pub fn bind() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").expect("bind proxy")
    }

    /// Forwards `listener`'s connections to `target`, losing the responses to the
    /// first `drops` Produce requests (over all connections).
    pub fn start(listener: TcpListener, target: &str, drops: usize) -> Self {
        let addr = listener.local_addr().expect("proxy address").to_string();
        let drops_left = Arc::new(AtomicUsize::new(drops));
        let dropped = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (drops_left, dropped, stopping) =
                (drops_left.clone(), dropped.clone(), stopping.clone());
            let target = target.to_string();
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stopping.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(broker) = TcpStream::connect(&target) else {
                        close(&[&client]);
                        continue;
                    };
                    forward(client, broker, drops_left.clone(), dropped.clone());
                }
            })
        };
        ProduceDroppingProxy {
            addr,
            drops_left,
            dropped,
            stopping,
            acceptor: Some(acceptor),
        }
    }

    /// How many Produce responses were lost so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::Acquire)
    }

    /// How many more Produce responses will be lost.
    pub fn drops_left(&self) -> usize {
        self.drops_left.load(Ordering::Acquire)
    }
}

/// One client connection: requests flow as they are; a response to a doomed Produce
/// request closes both sides instead.
fn forward(
    client: TcpStream,
    broker: TcpStream,
    drops_left: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
) {
    let doomed: Arc<Mutex<HashSet<i32>>> = Arc::default();
    let (Ok(mut client_in), Ok(mut broker_out)) = (client.try_clone(), broker.try_clone()) else {
        close(&[&client, &broker]);
        return;
    };
    {
        let doomed = doomed.clone();
        std::thread::spawn(move || {
            while let Some(frame) = read_frame(&mut client_in) {
                if frame.len() >= 12 {
                    let api_key = i16::from_be_bytes([frame[4], frame[5]]);
                    let correlation =
                        i32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
                    let take = api_key == PRODUCE_API_KEY
                        && drops_left
                            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                            .is_ok();
                    if take {
                        if let Ok(mut d) = doomed.lock() {
                            d.insert(correlation);
                        }
                    }
                }
                if broker_out.write_all(&frame).is_err() {
                    break;
                }
            }
            close(&[&client_in, &broker_out]);
        });
    }
    let (mut broker_in, mut client_out) = (broker, client);
    std::thread::spawn(move || {
        while let Some(frame) = read_frame(&mut broker_in) {
            if frame.len() >= 8 {
                let correlation = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                let lose = doomed
                    .lock()
                    .map(|d| d.contains(&correlation))
                    .unwrap_or(false);
                if lose {
                    dropped.fetch_add(1, Ordering::AcqRel);
                    break;
                }
            }
            if client_out.write_all(&frame).is_err() {
                break;
            }
        }
        close(&[&broker_in, &client_out]);
    });
}

impl Drop for ProduceDroppingProxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}
