//! Micro-benchmarks of the hot path from bytes in memory, with the library's public APIs:
//! framing the stream (`xml::Framer`), decoding the roster result (`roster_decode`), building the
//! indexed roster (`Roster::from_items`), all three in a row over the whole stanza, and the
//! client's path for fetch results: items decoded straight from the framer's buffer as they arrive.
//! Sizes: 1k and 50k items of the generated roster (`xmpp_roster_bench::roster`).
//!
//! Run: `cargo bench --manifest-path bench/Cargo.toml` (BENCH_QUICK=1 shortens the measurement).
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use xmpp_roster::roster_decode::{decode_common_shape, decode_items_ahead, decode_roster_iq, DecodeScratch, WireItem};
use xmpp_roster::xml::element::Scope;
use xmpp_roster::xml::{Frame, Framer};
use xmpp_roster::{Roster, RosterItem};
use xmpp_roster_bench::{result_stanza, roster};

const SIZES: &[usize] = &[1_000, 50_000];
/// The socket read size the client uses.
const CHUNK: usize = 64 * 1024;

fn stream_bytes(n: usize) -> Vec<u8> {
    let header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' from='localhost' version='1.0'>";
    let mut s = String::from(header);
    s.push_str(&result_stanza(&roster(n), "r1", "bench@localhost/bench"));
    s.into_bytes()
}

/// Feeds `bytes` in 64 KiB pieces and returns the length of the stanza framed.
fn frame(bytes: &[u8]) -> usize {
    let mut framer = Framer::new(64 << 20);
    let mut stanza = 0;
    for piece in bytes.chunks(CHUNK) {
        framer.push(piece);
        while let Some(f) = framer.next_frame().expect("well-formed") {
            if let Frame::Stanza(s) = f {
                stanza = s.len();
            }
        }
    }
    stanza
}

fn items_of(bytes: &[u8]) -> Vec<RosterItem> {
    decode_common_shape(bytes)
        .expect("common shape")
        .items
        .into_iter()
        .filter_map(|i| if let WireItem::Item(it) = i { Some(it) } else { None })
        .collect()
}

/// Short, bounded measurements (the machine is shared); command-line options still apply
/// (`criterion_group!` calls `configure_from_args` after this).
fn config() -> Criterion {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(if quick { 200 } else { 1000 }))
        .measurement_time(Duration::from_millis(if quick { 500 } else { 3000 }))
}

fn micro(c: &mut Criterion) {
    for &n in SIZES {
        let stream = stream_bytes(n);
        let stanza = result_stanza(&roster(n), "r1", "bench@localhost/bench").into_bytes();
        let items = items_of(&stanza);
        let scope = Scope::client_stream();
        let mut g = c.benchmark_group(format!("roster_{n}"));
        g.throughput(Throughput::Bytes(stanza.len() as u64));
        g.bench_function(BenchmarkId::new("framer", n), |b| b.iter(|| frame(black_box(&stream))));
        g.bench_function(BenchmarkId::new("decode_common_shape", n), |b| b.iter(|| decode_common_shape(black_box(&stanza)).map(|i| i.items.len())));
        g.bench_function(BenchmarkId::new("decode_roster_iq", n), |b| b.iter(|| decode_roster_iq(black_box(&stanza), &scope).map(|i| i.map(|i| i.items.len()))));
        g.bench_function(BenchmarkId::new("from_items", n), |b| {
            b.iter_batched(|| items.clone(), |v| Roster::from_items(Some("1".into()), v).len(), criterion::BatchSize::LargeInput)
        });
        g.bench_function(BenchmarkId::new("frame_decode_index", n), |b| {
            b.iter(|| {
                let mut framer = Framer::new(64 << 20);
                let mut len = 0;
                for piece in stream.chunks(CHUNK) {
                    framer.push(piece);
                    while let Some(f) = framer.next_frame().expect("well-formed") {
                        if let Frame::Stanza(s) = f {
                            let iq = decode_common_shape(s).expect("common shape");
                            let items = iq.items.into_iter().filter_map(|i| if let WireItem::Item(it) = i { Some(it) } else { None }).collect();
                            len = Roster::from_items(iq.ver, items).len();
                        }
                    }
                }
                len
            })
        });
        // The client's path for a fetch result: the head, then whole items decoded straight from
        // the framer's buffer as each 64 KiB piece arrives (the stanza is never buffered whole).
        g.bench_function(BenchmarkId::new("streamed_decode_index", n), |b| {
            b.iter(|| {
                let mut framer = Framer::new(64 << 20);
                framer.want_heads(true);
                let (mut items, mut scratch) = (Vec::new(), DecodeScratch::default());
                let mut done = false;
                for piece in stream.chunks(CHUNK) {
                    framer.push(piece);
                    loop {
                        if let Some(ahead) = framer.children_ahead() {
                            let taken = decode_items_ahead(ahead, &mut scratch, |it| items.push(it));
                            framer.take_children(taken).expect("within the limit");
                        }
                        match framer.next_frame().expect("well-formed") {
                            Some(Frame::Head(_)) => framer.split_children(),
                            Some(Frame::Tail(_)) => done = true,
                            Some(_) => {}
                            None => break,
                        }
                    }
                }
                assert!(done);
                Roster::from_items(Some("1".into()), items).len()
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = micro
}
criterion_main!(benches);
