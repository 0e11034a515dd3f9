//! A replay XMPP server on 127.0.0.1 for measuring a client's cost alone. It answers the login
//! (SASL PLAIN accepted for anyone, resource binding to `bench@localhost/bench`, optional session)
//! and answers the roster get with a prerecorded result of N generated items, written at wire
//! speed: the whole stanza is built before the first client connects, so the server costs next
//! to nothing. With `--pushes M` it then streams M roster pushes back to back (from a second
//! thread, while this one reads and counts the client's answers).
//!
//! Usage: xr-replay --items N [--pushes M] [--port-file PATH] [--max-connections K] [--lifetime-s S]
//! Bounded: it exits after K connections (default 1000) or S seconds (default 600).
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xmpp_roster::xml::element::{parse_element, Scope};
use xmpp_roster::xml::{ns, Frame, Framer};
use xmpp_roster_bench::{push_stanza, query_xml, roster};

const FULL_JID: &str = "bench@localhost/bench";
const BARE_JID: &str = "bench@localhost";

struct Recording {
    /// `<query>...</query>` of the roster result.
    query: Vec<u8>,
    /// All pushes, back to back.
    pushes: Vec<u8>,
    push_count: usize,
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    match args.iter().position(|a| a == name) {
        Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            eprintln!("xr-replay: {name} needs a value");
            std::process::exit(2)
        }),
        None => default,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let items: usize = arg(&args, "--items", 1000);
    let push_count: usize = arg(&args, "--pushes", 0);
    let max_connections: usize = arg(&args, "--max-connections", 1000);
    let lifetime: u64 = arg(&args, "--lifetime-s", 600);
    let port_file: String = arg(&args, "--port-file", String::new());

    let base = roster(items);
    let query = query_xml(&base).into_bytes();
    let mut pushes = String::with_capacity(push_count * 220);
    for k in 0..push_count {
        push_stanza(&mut pushes, &base, k, FULL_JID);
    }
    let rec = Arc::new(Recording { query, pushes: pushes.into_bytes(), push_count });

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("local addr").port();
    if port_file.is_empty() {
        println!("{port}");
    } else {
        // Written whole then renamed, so a reader never sees half a number.
        let tmp = format!("{port_file}.tmp");
        std::fs::write(&tmp, format!("{port}\n")).expect("write port file");
        std::fs::rename(&tmp, &port_file).expect("rename port file");
    }
    eprintln!("xr-replay: 127.0.0.1:{port}, {items} items ({} bytes of <query/>), {push_count} pushes ({} bytes)", rec.query.len(), rec.pushes.len());
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(lifetime));
        eprintln!("xr-replay: lifetime of {lifetime} s reached, exiting");
        std::process::exit(0);
    });
    let mut handles = Vec::new();
    for (n, conn) in listener.incoming().take(max_connections).enumerate() {
        let Ok(stream) = conn else { continue };
        let rec = Arc::clone(&rec);
        handles.push(std::thread::spawn(move || {
            if let Err(e) = serve(stream, &rec) {
                eprintln!("xr-replay: connection {n}: {e}");
            }
        }));
        handles.retain(|h| !h.is_finished());
    }
    for h in handles {
        let _ = h.join();
    }
}

fn attr_of(el: &xmpp_roster::xml::Element, name: &str) -> String {
    el.attr(name).unwrap_or_default().to_string()
}

fn serve(mut stream: TcpStream, rec: &Arc<Recording>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_write_timeout(Some(Duration::from_secs(120)))?;
    let mut framer = Framer::new(16 << 20);
    let mut authed = false;
    let mut answered = 0usize;
    let mut presences = 0usize;
    let mut pusher: Option<std::thread::JoinHandle<std::io::Result<()>>> = None;
    let mut push_started: Option<Instant> = None;
    let mut out: Vec<u8> = Vec::new();
    let mut reader = stream.try_clone()?;
    loop {
        // Handle every complete frame, collecting the answers, then write them at once.
        loop {
            let frame = match framer.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(std::io::Error::other(format!("bad XML from the client: {e}"))),
            };
            match frame {
                Frame::StreamStart(_) => {
                    out.extend_from_slice(
                        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='replay' from='localhost' version='1.0' xml:lang='en'>",
                    );
                    if authed {
                        out.extend_from_slice(b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>");
                    } else {
                        out.extend_from_slice(b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
                    }
                }
                Frame::StreamEnd => {
                    out.extend_from_slice(b"</stream:stream>");
                    stream.write_all(&out)?;
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                    finish(pusher, answered, presences, push_started, rec);
                    return Ok(());
                }
                // The replay server never asks for heads.
                Frame::Head(_) | Frame::Child(_) | Frame::Tail(_) => {}
                Frame::Stanza(bytes) => {
                    if bytes.starts_with(b"<auth") {
                        // The client restarts the stream only after reading <success/>, so
                        // nothing after </auth> is buffered yet.
                        authed = true;
                        out.extend_from_slice(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
                        stream.write_all(&out)?;
                        out.clear();
                        framer.reset();
                        break;
                    }
                    if bytes.starts_with(b"<presence") {
                        presences += 1;
                        continue;
                    }
                    if !bytes.starts_with(b"<iq") {
                        continue;
                    }
                    // Answers to pushes are the hot path: count them without a parse.
                    let head = &bytes[..bytes.len().min(200)];
                    if memfind(head, b"type='result'") || memfind(head, b"type=\"result\"") {
                        answered += 1;
                        if answered == rec.push_count {
                            if let Some(t) = push_started {
                                eprintln!("xr-replay: all {answered} pushes answered {:.3} s after the first was sent", t.elapsed().as_secs_f64());
                            }
                        }
                        continue;
                    }
                    let el = parse_element(bytes, &Scope::client_stream()).map_err(|e| std::io::Error::other(e.to_string()))?;
                    let id = attr_of(&el, "id");
                    let mut id_esc = String::new();
                    xmpp_roster_bench::escape_into(&mut id_esc, &id);
                    let kind = attr_of(&el, "type");
                    if el.child("bind", ns::BIND).is_some() {
                        out.extend_from_slice(
                            format!("<iq type='result' id='{id_esc}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>{FULL_JID}</jid></bind></iq>").as_bytes(),
                        );
                    } else if el.child("session", ns::SESSION).is_some() {
                        out.extend_from_slice(format!("<iq type='result' id='{id_esc}'/>").as_bytes());
                    } else if kind == "get" && el.child("query", ns::ROSTER).is_some() {
                        out.extend_from_slice(format!("<iq from='{BARE_JID}' to='{FULL_JID}' id='{id_esc}' type='result'>").as_bytes());
                        stream.write_all(&out)?;
                        out.clear();
                        stream.write_all(&rec.query)?;
                        stream.write_all(b"</iq>")?;
                        if rec.push_count > 0 && pusher.is_none() {
                            let mut w = stream.try_clone()?;
                            let rec = Arc::clone(rec);
                            push_started = Some(Instant::now());
                            pusher = Some(std::thread::spawn(move || w.write_all(&rec.pushes)));
                        }
                    } else if kind == "get" || kind == "set" {
                        out.extend_from_slice(
                            format!("<iq type='error' id='{id_esc}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>").as_bytes(),
                        );
                    }
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
        match framer.fill_from(&mut reader) {
            Ok(0) => {
                finish(pusher, answered, presences, push_started, rec);
                return Ok(());
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn finish(pusher: Option<std::thread::JoinHandle<std::io::Result<()>>>, answered: usize, presences: usize, started: Option<Instant>, rec: &Recording) {
    if let Some(p) = pusher {
        let _ = p.join();
    }
    if presences > 0 {
        eprintln!("xr-replay: WARNING: the client sent {presences} presence stanza(s); benchmark clients must not");
    }
    if rec.push_count > 0 && started.is_some() {
        eprintln!("xr-replay: {answered}/{} pushes answered", rec.push_count);
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
