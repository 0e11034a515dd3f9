//! The byte stream under XMPP: TCP, optionally wrapped in TLS, with every wait bounded by a
//! deadline and cut short by an [`Interrupter`].
//!
//! Sockets are non-blocking; waiting is `poll(2)` on the socket and on the read end of a socket
//! pair that [`Interrupter::interrupt`] writes to. For TLS, a read is always tried before waiting,
//! so bytes OpenSSL already decrypted are never left waiting for the socket.

use crate::error::{Error, Result};
use native_tls::{HandshakeError, TlsConnector, TlsStream};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

struct WakeShared {
    pending: AtomicBool,
    tx: UnixStream,
}

/// Cuts a blocking call of its client short from any thread. Clone it freely; it stays valid
/// (and harmless) after the client is gone.
#[derive(Clone)]
pub struct Interrupter {
    shared: Arc<WakeShared>,
}

impl Interrupter {
    /// Makes the call now waiting on the network return [`Error::Interrupted`]. If no call is
    /// waiting, the next one that would wait returns it instead (the request is not lost in a
    /// race with a call that is just starting). Several interrupts before a wait count as one.
    pub fn interrupt(&self) {
        self.shared.pending.store(true, Ordering::SeqCst);
        // Non-blocking: if the pair's buffer is full a wake-up is already pending.
        let _ = (&self.shared.tx).write(&[1]);
    }
}

/// The waiting side of an [`Interrupter`], owned by the client.
pub(crate) struct Waker {
    shared: Arc<WakeShared>,
    rx: UnixStream,
}

impl Waker {
    pub(crate) fn new() -> Result<Waker> {
        let (tx, rx) = UnixStream::pair().map_err(|e| Error::Io(format!("cannot create the interrupt pipe: {e}")))?;
        tx.set_nonblocking(true).map_err(|e| Error::Io(e.to_string()))?;
        rx.set_nonblocking(true).map_err(|e| Error::Io(e.to_string()))?;
        Ok(Waker { shared: Arc::new(WakeShared { pending: AtomicBool::new(false), tx }), rx })
    }

    pub(crate) fn interrupter(&self) -> Interrupter {
        Interrupter { shared: Arc::clone(&self.shared) }
    }

    /// Consumes a pending interrupt, if any.
    fn take(&self) -> bool {
        let mut sink = [0u8; 64];
        while matches!((&self.rx).read(&mut sink), Ok(n) if n > 0) {}
        self.shared.pending.swap(false, Ordering::SeqCst)
    }

    /// Returns `Err(Interrupted)` if an interrupt is pending, consuming it.
    pub(crate) fn check(&self) -> Result<()> {
        if self.take() {
            return Err(Error::Interrupted);
        }
        Ok(())
    }
}

/// What to wait for on the socket.
#[derive(Clone, Copy)]
enum Want {
    Read,
    Write,
}

/// Waits until `fd` is ready, the deadline passes, or an interrupt arrives.
fn wait_fd(fd: RawFd, want: Want, deadline: Instant, waker: &Waker, interruptible: bool) -> Result<()> {
    loop {
        if interruptible {
            waker.check()?;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout);
        }
        let ms = (deadline - now).as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        let events = match want {
            Want::Read => libc::POLLIN,
            Want::Write => libc::POLLOUT,
        };
        let mut fds = [
            libc::pollfd { fd, events, revents: 0 },
            libc::pollfd { fd: waker.rx.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        let count = if interruptible { 2 } else { 1 };
        // SAFETY: `fds` is a valid array of `count` pollfd structs for the duration of the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), count as libc::nfds_t, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::Io(format!("poll failed: {e}")));
        }
        if fds[0].revents != 0 {
            return Ok(());
        }
    }
}

/// Opens a TCP connection to `host:port`, trying each resolved address until one answers.
pub(crate) fn connect_tcp(host: &str, port: u16, deadline: Instant, waker: &Waker) -> Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::Io(format!("cannot resolve {host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(Error::Io(format!("{host} has no address")));
    }
    let mut last = None;
    for addr in addrs {
        match connect_addr(addr, deadline, waker) {
            Ok(s) => return Ok(s),
            Err(e @ (Error::Interrupted | Error::Timeout)) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Io(format!("cannot connect to {host}:{port}"))))
}

/// A non-blocking connect, so that both the deadline and an interrupt can end it.
fn connect_addr(addr: SocketAddr, deadline: Instant, waker: &Waker) -> Result<TcpStream> {
    let io_err = |what: &str, e: io::Error| Error::Io(format!("{what} {addr}: {e}"));
    let domain = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket(2) call; the descriptor is owned by `stream` right after.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
    if fd < 0 {
        return Err(io_err("cannot create a socket for", io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh socket we own; TcpStream closes it on drop.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let (storage, len) = sockaddr_of(&addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes for this address family.
    let rc = unsafe { libc::connect(fd, &storage as *const _ as *const libc::sockaddr, len) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(io_err("cannot connect to", e));
        }
        wait_fd(fd, Want::Write, deadline, waker, true)?;
        if let Some(e) = stream.take_error().map_err(|e| io_err("cannot connect to", e))? {
            return Err(io_err("cannot connect to", e));
        }
    }
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn sockaddr_of(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            (storage, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_in6 is plain old data.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (storage, std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

/// TLS settings derived from the configuration.
pub(crate) struct TlsSettings {
    pub ca_pem: Option<Vec<u8>>,
    pub server_name: String,
    pub danger_accept_invalid_certs: bool,
}

/// A connection: plain TCP or TLS over TCP.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    fn fd(&self) -> RawFd {
        match self {
            Conn::Plain(s) => s.as_raw_fd(),
            Conn::Tls(s) => s.get_ref().as_raw_fd(),
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }

    /// Reads some bytes into `framer`; `Ok(0)` is the end of the stream.
    pub(crate) fn read_into(&mut self, framer: &mut crate::xml::Framer, deadline: Instant, waker: &Waker) -> Result<usize> {
        loop {
            waker.check()?;
            let r = match self {
                Conn::Plain(s) => framer.fill_from(s),
                Conn::Tls(s) => framer.fill_from(s.as_mut()),
            };
            match r {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_fd(self.fd(), Want::Read, deadline, waker, true)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e, self.is_tls())),
            }
        }
    }

    /// Writes all of `data`. Not interruptible: a half-written stanza would corrupt the stream.
    pub(crate) fn write_all(&mut self, mut data: &[u8], deadline: Instant, waker: &Waker) -> Result<()> {
        while !data.is_empty() {
            let r = match self {
                Conn::Plain(s) => s.write(data),
                Conn::Tls(s) => s.write(data),
            };
            match r {
                Ok(0) => return Err(Error::Disconnected("the connection closed while writing".into())),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_fd(self.fd(), Want::Write, deadline, waker, false)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Disconnected(format!("write failed: {e}"))),
            }
        }
        Ok(())
    }

    /// Best-effort close: TLS close_notify, then the socket closes on drop.
    pub(crate) fn shutdown(&mut self) {
        match self {
            Conn::Plain(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            Conn::Tls(s) => {
                let _ = s.shutdown();
                let _ = s.get_ref().shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

fn read_error(e: io::Error, tls: bool) -> Error {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof => {
            Error::Disconnected(format!("connection lost: {e}"))
        }
        _ if tls => Error::Tls(format!("TLS read failed: {e}")),
        _ => Error::Io(format!("read failed: {e}")),
    }
}

/// Runs the TLS handshake over `tcp` (already non-blocking), verifying the certificate against
/// `settings.server_name` unless the caller opted out for tests.
pub(crate) fn start_tls(tcp: TcpStream, settings: &TlsSettings, alpn: bool, deadline: Instant, waker: &Waker) -> Result<Conn> {
    let mut builder = TlsConnector::builder();
    builder.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
    if let Some(pem) = &settings.ca_pem {
        let certs = native_tls::Certificate::stack_from_pem(pem).map_err(|e| Error::Tls(format!("cannot read the CA file: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Tls("the CA file holds no certificate".into()));
        }
        for c in certs {
            builder.add_root_certificate(c);
        }
    }
    if settings.danger_accept_invalid_certs {
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
    if alpn {
        builder.request_alpns(&["xmpp-client"]);
    }
    let connector = builder.build().map_err(|e| Error::Tls(format!("cannot set up TLS: {e}")))?;
    let fd = tcp.as_raw_fd();
    let mut attempt = connector.connect(&settings.server_name, tcp);
    loop {
        match attempt {
            Ok(s) => return Ok(Conn::Tls(Box::new(s))),
            Err(HandshakeError::Failure(e)) => return Err(Error::Tls(format!("TLS handshake with {} failed: {e}", settings.server_name))),
            Err(HandshakeError::WouldBlock(mid)) => {
                // The handshake needs the peer: wait for data (writes are small and rarely block).
                wait_fd(fd, Want::Read, deadline, waker, true)?;
                attempt = mid.handshake();
            }
        }
    }
}
