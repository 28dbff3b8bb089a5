//! Conformance check of the engines' fast paths: each default method of the engine traits
//! that an engine may override (the generic rules of `backend::generic`) runs both ways, the
//! engine's and the generic rule's, over the same random operations, and the answers must
//! be equal. On an engine without overrides both ways are the same code and agree trivially.

use super::*;
use crate::backend::{Backend, BlobSelector, NewMessage, generic};
use search::{Xorshift, stored_flags, varied_message};

const ROUNDS: u64 = 16;

pub(super) async fn fast_paths_agree_with_generic_rules(store: Store) {
    let owner = user(&store, "fastpaths").await;
    // Twin mailboxes: every operation is applied to both, batches through the engine's
    // `append_batch` into the first and through the generic rule into the second.
    let engine_box = store
        .create_mailbox(owner.id, "Engine", None)
        .await
        .expect("create Engine");
    let generic_box = store
        .create_mailbox(owner.id, "Generic", None)
        .await
        .expect("create Generic");
    let twins = [engine_box.id, generic_box.id];
    let backend = store.backend();
    let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
    let mut views = vec!["nobody@example.com".to_string()];
    for n in 0..6 {
        let address = store
            .add_address(owner.id, &format!("fast{n}@example.com"))
            .await
            .expect("add address");
        views.push(address.addrview);
    }
    let mut sent = 0u64;
    for round in 0..ROUNDS {
        let batch = random_batch(&store, &mut rng, &mut sent).await;
        let again = batch
            .iter()
            .map(|message| NewMessage {
                id: MessageId::new(),
                ..message.clone()
            })
            .collect();
        let (fast, _) = backend
            .append_batch(engine_box.id, batch)
            .await
            .expect("engine append_batch");
        let (plain, _) = generic::append_batch(backend, generic_box.id, again)
            .await
            .expect("generic append_batch");
        assert!(fast.stopped.is_none() && plain.stopped.is_none());
        let placed = |outcome: &BatchOutcome| -> Vec<(Uid, ModSeq, u64)> {
            outcome
                .stored
                .iter()
                .map(|s| (s.uid, s.modseq, s.size))
                .collect()
        };
        assert_eq!(placed(&fast), placed(&plain), "append_batch, round {round}");

        change_both(backend, &twins, &mut rng, sent).await;

        let mut seen = Vec::new();
        for mailbox in twins {
            let fast = backend.select_view(mailbox).await.expect("select_view");
            let plain = generic::select_view(backend, mailbox)
                .await
                .expect("generic select_view");
            assert_eq!(fast, plain, "select_view, round {round}");
            seen.push(fast);
        }
        // The twins hold the same messages, so only their UIDVALIDITY may differ.
        seen[1].snapshot.uidvalidity = seen[0].snapshot.uidvalidity;
        assert_eq!(seen[0], seen[1], "twin mailboxes, round {round}");

        if !seen[0].snapshot.uids.is_empty() {
            let uid = *rng.pick(&seen[0].snapshot.uids);
            let whole = backend
                .load_content(engine_box.id, uid)
                .await
                .expect("content");
            let positions: Vec<usize> = (0..whole.blobs.len())
                .filter(|_| rng.below(2) == 0)
                .collect();
            let mut picked = Vec::new();
            for mailbox in twins {
                let fast = backend
                    .load_content_selected(mailbox, uid, pick(&positions))
                    .await
                    .expect("load_content_selected");
                let plain = generic::load_content_selected(backend, mailbox, uid, pick(&positions))
                    .await
                    .expect("generic load_content_selected");
                assert_eq!(fast.layout, plain.layout, "layout, round {round}");
                assert_eq!(fast.blobs, plain.blobs, "picked blobs, round {round}");
                assert_eq!(fast.blobs.len(), positions.len(), "round {round}");
                picked.push(fast.blobs);
            }
            assert_eq!(picked[0], picked[1], "twin contents, round {round}");
        }

        let asked: Vec<String> = views
            .iter()
            .filter(|_| rng.below(2) == 0)
            .cloned()
            .collect();
        let sorted = |mut found: Vec<Address>| {
            found.sort_by(|a, b| a.addrview.cmp(&b.addrview));
            found
        };
        let fast = backend
            .addresses_by_views(asked.clone())
            .await
            .expect("addresses_by_views");
        let plain = generic::addresses_by_views(backend, asked.clone())
            .await
            .expect("generic addresses_by_views");
        assert_eq!(sorted(fast), sorted(plain), "addresses_by_views {asked:?}");
    }
}

/// One to four messages, analysed as `Store::append` would: generated ones of varied
/// structure and the sample message, whose body is a blob of its own.
async fn random_batch(store: &Store, rng: &mut Xorshift, sent: &mut u64) -> Vec<NewMessage> {
    let mut batch = Vec::new();
    for _ in 0..=rng.below(4) {
        *sent += 1;
        let raw = if rng.below(3) == 0 {
            sample_message(*sent as usize)
        } else {
            varied_message(rng, *sent)
        };
        let flags = stored_flags()
            .into_iter()
            .filter(|_| rng.below(3) == 0)
            .collect();
        batch.push(
            store
                .analyse_for_append(raw, flags)
                .await
                .expect("analyse message"),
        );
    }
    batch
}

/// The same random flag change, and now and then an expunge, on both mailboxes.
async fn change_both(backend: &dyn Backend, twins: &[MailboxId; 2], rng: &mut Xorshift, sent: u64) {
    let first = 1 + rng.below(sent) as Uid;
    let uids = UidSet::from_ranges([(first, first + rng.below(4) as Uid)]);
    let op = *rng.pick(&[FlagOp::Add, FlagOp::Remove, FlagOp::Replace]);
    let given: Flags = stored_flags()
        .into_iter()
        .filter(|_| rng.below(2) == 0)
        .collect();
    let expunge = rng.below(4) == 0;
    for &mailbox in twins {
        backend
            .store_flags(mailbox, &uids, op, &given, None)
            .await
            .expect("store flags");
        if expunge {
            backend.expunge(mailbox, None).await.expect("expunge");
        }
    }
}

/// A selector that picks `positions` whatever the layout says.
fn pick(positions: &[usize]) -> BlobSelector {
    let positions = positions.to_vec();
    Box::new(move |_| positions)
}
