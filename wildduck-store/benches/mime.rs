//! MIME engine throughput on a `gen_mbox.py` corpus (300 messages, seed 1):
//! - ingest: split + analyze (ENVELOPE, BODYSTRUCTURE, search text) + storage layout;
//! - split: the streaming splitter alone;
//! - section read: BODY[HEADER], BODY[TEXT] and BODY[1] of every message, from raw bytes
//!   (split included) and from an already split tree.
//!
//! Before measuring it prints what the storage layout does to the corpus' size.

use std::collections::HashSet;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wildduck_store::mime::layout::split_for_storage;
use wildduck_store::mime::{analyze_tree, read_section, read_section_in, split};
use wildduck_store::{Section, SectionText};

const GEN_MBOX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tools/gen_mbox.py");

fn corpus() -> Vec<Bytes> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.mbox");
    let status = std::process::Command::new("python3")
        .args([GEN_MBOX, "-n", "300", "--seed", "1", "-o"])
        .arg(&path)
        .status()
        .expect("python3");
    assert!(status.success());
    let data = std::fs::read(&path).expect("mbox");
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            messages.extend(current.take().map(Bytes::from));
            current = Some(Vec::new());
        } else if let Some(m) = current.as_mut() {
            m.extend_from_slice(line);
        }
    }
    messages.extend(current.map(Bytes::from));
    messages
}

fn stored_size(data: &[u8]) -> usize {
    let compressed = zstd::bulk::compress(data, 3).map_or(usize::MAX, |c| c.len());
    compressed.min(data.len())
}

fn print_storage_summary(messages: &[Bytes]) {
    let raw: usize = messages.iter().map(Bytes::len).sum();
    let mut skeleton = 0;
    let mut skeleton_zstd = 0;
    let mut leaves = 0;
    let mut unique = HashSet::new();
    let mut unique_bytes = 0;
    let mut unique_zstd = 0;
    for message in messages {
        let stored = split_for_storage(message);
        skeleton += stored.layout.skeleton.len();
        skeleton_zstd += stored_size(&stored.layout.skeleton);
        for body in &stored.leaf_bodies {
            leaves += 1;
            if unique.insert(blake3::hash(body)) {
                unique_bytes += body.len();
                unique_zstd += stored_size(body);
            }
        }
    }
    let stored = skeleton_zstd + unique_zstd;
    println!(
        "corpus: {} messages, {raw} raw bytes; skeletons {skeleton} ({skeleton_zstd} zstd), \
         {leaves} leaves, {} unique ({unique_bytes} decoded bytes, {unique_zstd} zstd); \
         stored {stored} = {:.1}% of raw (one copy per message)",
        messages.len(),
        unique.len(),
        100.0 * stored as f64 / raw as f64
    );
}

fn sections() -> Vec<Section> {
    vec![
        Section {
            part: vec![],
            text: SectionText::Header,
        },
        Section {
            part: vec![],
            text: SectionText::Text,
        },
        Section {
            part: vec![1],
            text: SectionText::Full,
        },
    ]
}

fn bench(c: &mut Criterion) {
    let messages = corpus();
    print_storage_summary(&messages);
    let total: u64 = messages.iter().map(|m| m.len() as u64).sum();

    let mut group = c.benchmark_group("mime");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(total));
    group.bench_function("ingest (split + analyze + layout)", |b| {
        b.iter(|| {
            for message in &messages {
                let tree = split(message);
                std::hint::black_box(analyze_tree(message, &tree));
                std::hint::black_box(split_for_storage(message));
            }
        })
    });
    group.bench_function("split only", |b| {
        b.iter(|| {
            for message in &messages {
                std::hint::black_box(split(message));
            }
        })
    });

    let sections = sections();
    let read_bytes: u64 = messages
        .iter()
        .flat_map(|m| sections.iter().map(move |s| read_section(m, s, None)))
        .map(|body| body.map_or(0, |b| b.len()))
        .sum();
    group.throughput(Throughput::Bytes(read_bytes));
    group.bench_function("section read from raw", |b| {
        b.iter(|| {
            for message in &messages {
                for section in &sections {
                    std::hint::black_box(read_section(message, section, None).ok());
                }
            }
        })
    });
    let trees: Vec<_> = messages.iter().map(|m| split(m)).collect();
    group.bench_function("section read, tree known", |b| {
        b.iter(|| {
            for (message, tree) in messages.iter().zip(&trees) {
                for section in &sections {
                    std::hint::black_box(read_section_in(message, tree, section, None).ok());
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
