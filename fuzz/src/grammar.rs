//! Generators every grammar uses: words, numbers, strings with hostile bytes, and byte-level
//! mutation of a grammar-shaped input (so the parsers also meet near-misses).

use proptest::prelude::*;
use proptest::sample::Index;

/// A byte-level change to a generated input.
#[derive(Clone, Debug)]
enum Mutation {
    /// Replace one byte.
    Set(Index, u8),
    /// Insert a byte that parsers trip on.
    Insert(Index, u8),
    /// Cut the input short.
    Truncate(Index),
    /// Repeat a slice of the input.
    Repeat(Index, Index),
    /// Delete one byte.
    Remove(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let hostile = prop_oneof![
        Just(0u8),
        Just(b'\r'),
        Just(b'\n'),
        Just(b'"'),
        Just(b'\\'),
        Just(b'{'),
        Just(b'('),
        Just(b')'),
        Just(b'['),
        Just(b' '),
        Just(0xff),
        Just(0xc3),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
        (any::<Index>(), hostile).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Repeat(a, b)),
        any::<Index>().prop_map(Mutation::Remove),
    ]
}

fn apply(mut input: Vec<u8>, mutations: Vec<Mutation>) -> Vec<u8> {
    for m in mutations {
        let len = input.len();
        match m {
            Mutation::Set(at, byte) if len > 0 => input[at.index(len)] = byte,
            Mutation::Insert(at, byte) => input.insert(at.index(len + 1), byte),
            Mutation::Truncate(at) => input.truncate(at.index(len + 1)),
            Mutation::Repeat(a, b) if len > 0 => {
                let (a, b) = (a.index(len), b.index(len));
                let slice = input[a.min(b)..=a.max(b)].to_vec();
                input.splice(a.max(b) + 1..a.max(b) + 1, slice);
            }
            Mutation::Remove(at) if len > 0 => {
                input.remove(at.index(len));
            }
            _ => {}
        }
    }
    input
}

/// Mostly the grammar's inputs as they are, some with a few byte-level mutations, a few
/// plain random bytes.
pub fn with_mutations(grammar: BoxedStrategy<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        6 => grammar.clone(),
        3 => (grammar, prop::collection::vec(mutation(), 1..4))
            .prop_map(|(input, mutations)| apply(input, mutations)),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
    .boxed()
}

/// A word of letters and digits, the common case of every grammar.
pub fn word() -> BoxedStrategy<String> {
    "[A-Za-z0-9]{1,12}".boxed()
}

/// Numbers where parsers overflow: small, limits of u32/u64, and beyond.
pub fn number() -> BoxedStrategy<String> {
    prop_oneof![
        4 => (0u32..20).prop_map(|n| n.to_string()),
        1 => Just("0".to_string()),
        1 => Just("4294967295".to_string()),
        1 => Just("4294967296".to_string()),
        1 => Just("18446744073709551616".to_string()),
        1 => Just("1000000000000".to_string()),
        1 => Just("-1".to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
    ]
    .boxed()
}

/// Text with the characters that break quoting and decoding: quotes, backslashes, controls,
/// non-ASCII, invalid UTF-8 written as Latin-1 bytes.
pub fn text() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => "[ -~]{0,24}".prop_map(String::into_bytes),
        1 => "[a-zé€😀\"\\\\]{0,12}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..24),
    ]
    .boxed()
}

/// Concatenates byte strings with `separator` between them.
pub fn join(parts: &[Vec<u8>], separator: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(separator);
        }
        out.extend_from_slice(part);
    }
    out
}
