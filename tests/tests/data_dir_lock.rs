//! One broker per data directory: a second `moldau serve` on a directory in use exits
//! at once with a message naming it, and leaves the running broker untouched.

use moldau_e2e::{moldau_bin, BrokerProcess, RawConnection};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A refused start-up must be quick; a broker that starts instead would run forever.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn second_broker_on_the_same_data_dir_exits_naming_it() {
    let mut first = BrokerProcess::start(&[]);
    let mut second = Command::new(moldau_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--console",
            "off",
            "--data-dir",
        ])
        .arg(&first.data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + REFUSAL_TIMEOUT;
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("second broker on the same data directory did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "second broker must fail: {stderr}");
    let dir = first.data_dir.display().to_string();
    assert!(
        stderr.contains(&dir) && stderr.contains(".lock"),
        "message must name the directory and its lock: {stderr}"
    );
    // The first broker still serves and, once stopped, frees the directory.
    assert_serves(&first);
    first.stop();
    first.restart();
    assert_serves(&first);
    first.stop();
}

/// ApiVersions v0 gets an answer without error.
fn assert_serves(broker: &BrokerProcess) {
    let answer = RawConnection::connect(&broker.addr).call(18, 0, false, &[]);
    assert_eq!(&answer[..2], &[0, 0], "ApiVersions error code");
}
