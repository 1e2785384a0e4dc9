//! Talking to systemd (sd_notify(3)) without linking libsystemd: one datagram per
//! state change to the socket in `$NOTIFY_SOCKET`. With `Type=notify` the unit is
//! "started" only once we say READY=1; with `WatchdogSec=` systemd restarts us when the
//! WATCHDOG=1 pings stop, which they do if the runtime is wedged.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends one state ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=…"); does nothing
/// outside systemd. Errors are logged, never fatal: supervision is a courtesy.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = UnixDatagram::unbound().and_then(|socket| {
        let bytes = path.as_encoded_bytes();
        match bytes.strip_prefix(b"@") {
            // An abstract socket (the usual case under systemd).
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(state.as_bytes(), &addr)
            }
            None => socket.send_to(state.as_bytes(), &path),
        }
    });
    if let Err(e) = result {
        tracing::warn!("Cannot notify systemd ({state}): {e}");
    }
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC`, if systemd set one for
/// this process.
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        && pid != std::process::id()
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}
