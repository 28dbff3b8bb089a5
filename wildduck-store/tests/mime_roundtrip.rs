//! Byte-exactness over real messages: the fixtures (as given and in CRLF form) and 300
//! messages of `gen_mbox.py`. For each: every section equals the reference computation,
//! storage split + reassemble gives back the input, and the streaming splitter gives the
//! same tree whatever the chunk sizes.

mod common;

use common::{check_message, crlf, fixtures, gen_mbox};

#[test]
fn fixtures_are_byte_exact() {
    for (stem, raw) in fixtures() {
        check_message(&stem, &raw);
        check_message(&format!("{stem} (crlf)"), &crlf(&raw));
    }
}

#[test]
fn gen_mbox_messages_are_byte_exact() {
    let messages = gen_mbox(300, 1);
    let mut leaves = 0;
    for (i, raw) in messages.iter().enumerate() {
        leaves += check_message(&format!("gen_mbox #{i}"), raw);
    }
    // The corpus has base64 attachments: the layout must have cut some out.
    assert!(leaves > 50, "only {leaves} leaves in 300 messages");
}
