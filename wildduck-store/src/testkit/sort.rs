//! Conformance check of SORT and THREAD: the orderings come from the store's rule
//! (`crate::sort`) over what each engine reads back, so both engines must answer alike.

use crate::model::*;
use crate::sort::{SortCriterion, SortKey, ThreadAlgorithm, ThreadNode};
use crate::store::Store;

use super::{inbox, user};

fn message(from: &str, to: &str, subject: &str, date: Option<&str>, extra: &str) -> Vec<u8> {
    let date = date.map(|d| format!("Date: {d}\r\n")).unwrap_or_default();
    format!("From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n{date}{extra}\r\nbody\r\n")
        .into_bytes()
}

fn by(key: SortKey, reverse: bool) -> SortCriterion {
    SortCriterion { key, reverse }
}

fn leaf(uid: Uid) -> ThreadNode {
    ThreadNode {
        uid: Some(uid),
        children: Vec::new(),
    }
}

fn parent(uid: Option<Uid>, children: Vec<ThreadNode>) -> ThreadNode {
    ThreadNode { uid, children }
}

/// SORT by each key (ties in UID order, REVERSE not reversing ties), on a search's result
/// (also one of many UID ranges); THREAD by REFERENCES and ORDEREDSUBJECT, again after an
/// expunge leaves a parent missing.
pub async fn sort_and_thread(store: Store) {
    let u = user(&store, "sorter").await;
    let inbox = inbox(&store, &u).await;
    let day = 1_700_000_000;
    let messages = [
        // uid 1
        message(
            "Zed <zed@example.com>",
            "b@example.com",
            "Lunch",
            Some("Tue, 14 Nov 2023 22:00:00 +0000"),
            "Message-ID: <root@x>\r\n",
        ),
        // uid 2: a reply, Date earlier than uid 1's
        message(
            "=?utf-8?q?=C3=84rne?= <arne@example.com>",
            "a@example.com",
            "Re: lunch",
            Some("Tue, 14 Nov 2023 21:00:00 +0000"),
            "Message-ID: <r1@x>\r\nIn-Reply-To: <root@x>\r\n",
        ),
        // uid 3: no Date (its internal date counts), child of uid 2 by References
        message(
            "bob@example.com",
            "Carla <c@example.com>",
            "[list] Fwd: Lunch (fwd)",
            None,
            "Message-ID: <r2@x>\r\nReferences: <root@x> <r1@x>\r\n",
        ),
        // uid 4: replies to a message that is not there
        message(
            "amy@example.com",
            "group: d@example.com;",
            "Other",
            Some("Tue, 14 Nov 2023 20:00:00 +0000"),
            "Message-ID: <o1@x>\r\nReferences: <missing@x>\r\n",
        ),
        // uid 5: same subject as uid 4, no references
        message(
            "amy@example.com",
            "e@example.com",
            "Re: other",
            Some("Tue, 14 Nov 2023 23:00:00 +0000"),
            "Message-ID: <o2@x>\r\n",
        ),
    ];
    for (i, raw) in messages.iter().enumerate() {
        let internal = day + 1000 * (5 - i as i64);
        store
            .append(inbox.id, raw, &Flags::new(), Some(internal))
            .await
            .unwrap();
    }
    let all = SearchKey::All;
    let sort = |criteria: Vec<SortCriterion>, key: SearchKey| {
        let store = store.clone();
        async move { store.sort(inbox.id, &key, &criteria).await.unwrap() }
    };
    assert_eq!(
        sort(vec![by(SortKey::Arrival, false)], all.clone()).await,
        [5, 4, 3, 2, 1]
    );
    // uid 3 has no Date: its internal date (day + 3000) is later than every Date: field.
    assert_eq!(
        sort(vec![by(SortKey::Date, false)], all.clone()).await,
        [4, 2, 1, 5, 3]
    );
    assert_eq!(
        sort(vec![by(SortKey::From, false)], all.clone()).await,
        [4, 5, 2, 3, 1]
    );
    assert_eq!(
        sort(vec![by(SortKey::From, true)], all.clone()).await,
        [1, 3, 2, 4, 5]
    );
    // DISPLAYFROM: decoded names, else the address: amy, amy, Ärne, bob, Zed.
    assert_eq!(
        sort(vec![by(SortKey::DisplayFrom, false)], all.clone()).await,
        [4, 5, 2, 3, 1]
    );
    // TO: a group's name counts as its first address.
    assert_eq!(
        sort(vec![by(SortKey::To, false)], all.clone()).await,
        [2, 1, 3, 5, 4]
    );
    assert_eq!(
        sort(vec![by(SortKey::DisplayTo, false)], all.clone()).await,
        [2, 1, 3, 5, 4]
    );
    assert_eq!(
        sort(
            vec![by(SortKey::Subject, false), by(SortKey::Arrival, false)],
            all.clone()
        )
        .await,
        [3, 2, 1, 5, 4]
    );
    assert_eq!(
        sort(
            vec![by(SortKey::Subject, false)],
            SearchKey::Not(Box::new(SearchKey::Uids(UidSet::from_ranges([(2, 3)]))))
        )
        .await,
        [1, 4, 5]
    );

    // THREAD=REFERENCES: 1 ← 2 ← 3; 4's parent is missing, 5 shares its subject as a reply.
    let threads = store
        .thread(inbox.id, &all, ThreadAlgorithm::References)
        .await
        .unwrap();
    assert_eq!(
        threads,
        [
            parent(Some(4), vec![leaf(5)]),
            parent(Some(1), vec![parent(Some(2), vec![leaf(3)])]),
        ]
    );
    let threads = store
        .thread(inbox.id, &all, ThreadAlgorithm::OrderedSubject)
        .await
        .unwrap();
    assert_eq!(
        threads,
        [
            parent(Some(4), vec![leaf(5)]),
            parent(Some(2), vec![leaf(1), leaf(3)]),
        ]
    );
    // With 2 gone, 1 and 3 are still one thread through 3's References.
    let two = UidSet::from_ranges([(2, 2)]);
    store
        .store_flags(
            inbox.id,
            &two,
            FlagOp::Add,
            &[Flag::Deleted].into_iter().collect(),
            None,
        )
        .await
        .unwrap();
    store.expunge(inbox.id, Some(&two)).await.unwrap();
    let threads = store
        .thread(inbox.id, &all, ThreadAlgorithm::References)
        .await
        .unwrap();
    assert_eq!(
        threads,
        [
            parent(Some(4), vec![leaf(5)]),
            parent(Some(1), vec![leaf(3)]),
        ]
    );

    // Many UID ranges (a scan, not a query per range): SIZE, largest first.
    let big = store.create_mailbox(u.id, "Sizes", None).await.unwrap();
    for n in 0..80usize {
        let raw = message(
            "s@example.com",
            "t@example.com",
            "size",
            None,
            &"X: y\r\n".repeat(n % 7),
        );
        store
            .append(big.id, &raw, &Flags::new(), None)
            .await
            .unwrap();
    }
    let odd: UidSet = (1..=80).filter(|uid| uid % 2 == 1).collect();
    let sorted = store
        .sort(
            big.id,
            &SearchKey::Uids(odd.clone()),
            &[by(SortKey::Size, true)],
        )
        .await
        .unwrap();
    let mut expected: Vec<(usize, Uid)> = (1..=80u32)
        .filter(|uid| odd.contains(*uid))
        .map(|uid| ((uid as usize - 1) % 7, uid))
        .collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(
        sorted,
        expected.into_iter().map(|(_, uid)| uid).collect::<Vec<_>>()
    );
}
