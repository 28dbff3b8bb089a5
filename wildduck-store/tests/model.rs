//! Model-based property test: random sequences of mailbox and message operations run against
//! the store and against a plain in-memory model of DESIGN §3.4; after every step the two
//! must agree on mailboxes, UIDs, MODSEQs, flags, journal, quota and bytes.

use std::collections::BTreeMap;

use proptest::prelude::*;
use wildduck_store::*;

const NAMES: [&str; 8] = [
    "A",
    "B",
    "A/C",
    "B/D",
    "C/E/F",
    "inbox/Sub",
    "Trash/Old",
    "Sent Mail/X",
];
const FLAG_POOL: [fn() -> Flag; 4] = [
    || Flag::Seen,
    || Flag::Deleted,
    || Flag::Flagged,
    || Flag::Keyword("$Work".into()),
];

#[derive(Clone, Debug)]
enum Op {
    Create(usize),
    Rename(usize, usize),
    Delete(usize),
    Append(usize, usize, u8),
    Copy(usize, usize, (Uid, Uid)),
    Move(usize, usize, (Uid, Uid)),
    Store(usize, (Uid, Uid), u8, u8, Option<u8>),
    Expunge(usize, Option<(Uid, Uid)>),
}

fn range() -> impl Strategy<Value = (Uid, Uid)> {
    (1u32..12, 0u32..6).prop_map(|(a, len)| (a, a + len))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..NAMES.len()).prop_map(Op::Create),
        1 => (any::<usize>(), 0..NAMES.len()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => any::<usize>().prop_map(Op::Delete),
        5 => (any::<usize>(), any::<usize>(), any::<u8>()).prop_map(|(m, b, f)| Op::Append(m, b, f)),
        2 => (any::<usize>(), any::<usize>(), range()).prop_map(|(a, b, r)| Op::Copy(a, b, r)),
        2 => (any::<usize>(), any::<usize>(), range()).prop_map(|(a, b, r)| Op::Move(a, b, r)),
        3 => (any::<usize>(), range(), 0u8..3, any::<u8>(), proptest::option::of(0u8..20))
            .prop_map(|(m, r, o, f, u)| Op::Store(m, r, o, f, u)),
        2 => (any::<usize>(), proptest::option::of(range())).prop_map(|(m, r)| Op::Expunge(m, r)),
    ]
}

fn flags_from_bits(bits: u8) -> Flags {
    FLAG_POOL
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, make)| make())
        .collect()
}

#[derive(Clone, Debug)]
struct Msg {
    body: usize,
    flags: Flags,
    modseq: ModSeq,
}

#[derive(Clone, Debug)]
struct ModelBox {
    /// None until the store has told us (right after the step that created it).
    id: Option<MailboxId>,
    uidvalidity: Option<u32>,
    path: String,
    special_use: Option<SpecialUse>,
    uidnext: Uid,
    highest_modseq: ModSeq,
    messages: BTreeMap<Uid, Msg>,
    journal: Vec<Change>,
}

impl ModelBox {
    fn new(path: String) -> Self {
        ModelBox {
            id: None,
            uidvalidity: None,
            path,
            special_use: None,
            uidnext: 1,
            highest_modseq: 0,
            messages: BTreeMap::new(),
            journal: Vec::new(),
        }
    }
}

struct Model {
    boxes: Vec<ModelBox>,
    bodies: Vec<Vec<u8>>,
}

fn normalize(path: &str) -> String {
    match path.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        _ if path.eq_ignore_ascii_case("INBOX") => "INBOX".into(),
        _ => path.to_string(),
    }
}

fn parents(path: &str) -> Vec<String> {
    path.match_indices('/')
        .map(|(i, _)| path[..i].to_string())
        .collect()
}

fn within(path: &str, ancestor: &str) -> bool {
    path == ancestor || path.starts_with(&format!("{ancestor}/"))
}

impl Model {
    fn sorted(&mut self) {
        self.boxes.sort_by(|a, b| a.path.cmp(&b.path));
    }

    fn pick(&self, i: usize) -> usize {
        i % self.boxes.len()
    }

    fn find(&self, path: &str) -> Option<usize> {
        self.boxes.iter().position(|b| b.path == path)
    }

    fn ensure(&mut self, path: &str) {
        if self.find(path).is_none() {
            self.boxes.push(ModelBox::new(path.to_string()));
        }
    }

    fn create(&mut self, path: &str) -> Result<(), Error> {
        if self.find(path).is_some() {
            return Err(MailboxError::AlreadyExists.into());
        }
        for parent in parents(path) {
            self.ensure(&parent);
        }
        self.ensure(path);
        Ok(())
    }

    /// Copy or move; returns the outcome the store must report.
    fn transfer(&mut self, src: usize, dst: usize, set: &UidSet, moving: bool) -> CopyOutcome {
        let picked: Vec<(Uid, Msg)> = self.boxes[src]
            .messages
            .iter()
            .filter(|(uid, _)| set.contains(**uid))
            .map(|(u, m)| (*u, m.clone()))
            .collect();
        let target = &mut self.boxes[dst];
        if picked.is_empty() {
            return CopyOutcome {
                uidvalidity: target.uidvalidity.unwrap_or(0),
                pairs: vec![],
                modseq: None,
            };
        }
        let modseq = target.highest_modseq + 1;
        let mut pairs = Vec::new();
        for (uid, msg) in &picked {
            let new_uid = target.uidnext;
            target.uidnext += 1;
            target.messages.insert(
                new_uid,
                Msg {
                    modseq,
                    ..msg.clone()
                },
            );
            target.journal.push(Change {
                modseq,
                uid: new_uid,
                kind: ChangeKind::Exists,
            });
            pairs.push((*uid, new_uid));
        }
        target.highest_modseq = modseq;
        let uidvalidity = target.uidvalidity.unwrap_or(0);
        if moving {
            let source = &mut self.boxes[src];
            let source_modseq = source.highest_modseq + 1;
            for (uid, _) in &picked {
                source.messages.remove(uid);
                source.journal.push(Change {
                    modseq: source_modseq,
                    uid: *uid,
                    kind: ChangeKind::Expunge,
                });
            }
            source.highest_modseq = source_modseq;
        }
        CopyOutcome {
            uidvalidity,
            pairs,
            modseq: Some(modseq),
        }
    }

    fn used(&self) -> u64 {
        self.boxes
            .iter()
            .flat_map(|b| b.messages.values())
            .map(|m| self.bodies[m.body].len() as u64)
            .sum()
    }
}

struct Harness {
    store: Store,
    user: User,
    model: Model,
    /// Keeps the store's backing (a temporary directory) alive as long as the harness.
    _backing: Box<dyn std::any::Any + Send>,
}

impl Harness {
    async fn new(
        store: Store,
        backing: Box<dyn std::any::Any + Send>,
        bodies: Vec<Vec<u8>>,
    ) -> Self {
        let user = store
            .create_user(NewUser {
                username: "model".into(),
                password: "pw".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
        let boxes = DEFAULT_MAILBOXES
            .iter()
            .map(|(path, special_use)| ModelBox {
                special_use: *special_use,
                ..ModelBox::new(path.to_string())
            })
            .collect();
        let mut h = Harness {
            store,
            user,
            model: Model { boxes, bodies },
            _backing: backing,
        };
        h.learn_ids().await;
        h
    }

    fn mailbox_id(&self, i: usize) -> MailboxId {
        self.model.boxes[i].id.expect("known mailbox")
    }

    /// Takes ids and UIDVALIDITY of mailboxes the last step created from the store.
    async fn learn_ids(&mut self) {
        self.model.sorted();
        for b in self.model.boxes.iter_mut().filter(|b| b.id.is_none()) {
            let m = self.store.get_mailbox(self.user.id, &b.path).await.unwrap();
            b.id = Some(m.id);
            b.uidvalidity = Some(m.uidvalidity);
        }
    }

    async fn step(&mut self, op: &Op) {
        let store = self.store.clone();
        let user = self.user.id;
        match op {
            Op::Create(n) => {
                let path = normalize(NAMES[*n]);
                let expected = self.model.create(&path);
                let got = store.create_mailbox(user, NAMES[*n], None).await;
                assert_eq!(got.map(|m| m.path), expected.map(|_| path));
            }
            Op::Rename(i, n) => {
                let i = self.model.pick(*i);
                let from = self.model.boxes[i].path.clone();
                let to = normalize(NAMES[*n]);
                let expected = self.rename_model(&from, &to);
                let got = store.rename_mailbox(user, &from, NAMES[*n]).await;
                assert_eq!(got, expected, "rename {from} -> {to}");
            }
            Op::Delete(i) => {
                let i = self.model.pick(*i);
                let b = &self.model.boxes[i];
                let path = b.path.clone();
                let protected = path == "INBOX" || b.special_use.is_some();
                let got = store.delete_mailbox(user, &path).await;
                if protected {
                    assert!(matches!(
                        got,
                        Err(Error::Mailbox(MailboxError::Protected(_)))
                    ));
                } else {
                    got.unwrap();
                    self.model.boxes.remove(i);
                }
            }
            Op::Append(i, body, bits) => {
                let i = self.model.pick(*i);
                let body = body % self.model.bodies.len();
                let flags = flags_from_bits(*bits);
                let raw = self.model.bodies[body].clone();
                let got = store
                    .append(self.mailbox_id(i), &raw, &flags, Some(1_000_000))
                    .await
                    .unwrap();
                let b = &mut self.model.boxes[i];
                let (uid, modseq) = (b.uidnext, b.highest_modseq + 1);
                assert_eq!((got.uid, got.modseq), (uid, modseq));
                assert_eq!(got.uidvalidity, b.uidvalidity.unwrap());
                assert_eq!(got.size, raw.len() as u64);
                b.uidnext += 1;
                b.highest_modseq = modseq;
                b.messages.insert(
                    uid,
                    Msg {
                        body,
                        flags,
                        modseq,
                    },
                );
                b.journal.push(Change {
                    modseq,
                    uid,
                    kind: ChangeKind::Exists,
                });
            }
            Op::Copy(a, b, r) | Op::Move(a, b, r) => {
                let moving = matches!(op, Op::Move(..));
                let (src, dst) = (self.model.pick(*a), self.model.pick(*b));
                let set = UidSet::from_ranges([*r]);
                let (s, d) = (self.mailbox_id(src), self.mailbox_id(dst));
                let got = if moving {
                    store.move_messages(s, &set, d).await
                } else {
                    store.copy(s, &set, d).await
                }
                .unwrap();
                let expected = self.model.transfer(src, dst, &set, moving);
                assert_eq!(got, expected);
            }
            Op::Store(i, r, op_code, bits, since) => {
                let i = self.model.pick(*i);
                let set = UidSet::from_ranges([*r]);
                let op = [FlagOp::Add, FlagOp::Remove, FlagOp::Replace][*op_code as usize];
                let flags = flags_from_bits(*bits);
                // UNCHANGEDSINCE relative to the current MODSEQ, so both outcomes occur.
                let b = &mut self.model.boxes[i];
                let since = since.map(|s| b.highest_modseq.saturating_sub(s as u64));
                let got = store
                    .store_flags(b.id.unwrap(), &set, op, &flags, since)
                    .await
                    .unwrap();
                let modseq = b.highest_modseq + 1;
                let mut expected = FlagsOutcome {
                    modseq: None,
                    updated: vec![],
                    modified: vec![],
                };
                for (uid, msg) in b.messages.iter_mut().filter(|(u, _)| set.contains(**u)) {
                    if since.is_some_and(|s| msg.modseq > s) {
                        expected.modified.push(*uid);
                        continue;
                    }
                    let new: Flags = match op {
                        FlagOp::Add => msg.flags.union(&flags).cloned().collect(),
                        FlagOp::Remove => msg.flags.difference(&flags).cloned().collect(),
                        FlagOp::Replace => flags.clone(),
                    };
                    if new != msg.flags {
                        msg.flags = new.clone();
                        msg.modseq = modseq;
                        expected.modseq = Some(modseq);
                        b.journal.push(Change {
                            modseq,
                            uid: *uid,
                            kind: ChangeKind::Flags(new),
                        });
                    }
                    expected.updated.push((*uid, msg.flags.clone(), msg.modseq));
                }
                if expected.modseq.is_some() {
                    b.highest_modseq = modseq;
                }
                assert_eq!(got, expected);
            }
            Op::Expunge(i, r) => {
                let i = self.model.pick(*i);
                let set = r.map(|r| UidSet::from_ranges([r]));
                let got = store
                    .expunge(self.mailbox_id(i), set.as_ref())
                    .await
                    .unwrap();
                let b = &mut self.model.boxes[i];
                let victims: Vec<Uid> = b
                    .messages
                    .iter()
                    .filter(|(u, m)| {
                        set.as_ref().is_none_or(|s| s.contains(**u))
                            && m.flags.contains(&Flag::Deleted)
                    })
                    .map(|(u, _)| *u)
                    .collect();
                let modseq = (!victims.is_empty()).then(|| b.highest_modseq + 1);
                for uid in &victims {
                    b.messages.remove(uid);
                    b.journal.push(Change {
                        modseq: modseq.unwrap(),
                        uid: *uid,
                        kind: ChangeKind::Expunge,
                    });
                }
                if let Some(m) = modseq {
                    b.highest_modseq = m;
                }
                assert_eq!(
                    got,
                    ExpungeOutcome {
                        uids: victims,
                        modseq
                    }
                );
            }
        }
        self.learn_ids().await;
    }

    fn rename_model(&mut self, from: &str, to: &str) -> Result<(), Error> {
        if to == "INBOX" {
            return Err(MailboxError::AlreadyExists.into());
        }
        if within(to, from) {
            return Err(
                MailboxError::InvalidName("can not move a mailbox into itself".into()).into(),
            );
        }
        if from == "INBOX" {
            self.model.create(to)?;
            let src = self.model.find("INBOX").unwrap();
            let dst = self.model.find(to).unwrap();
            // The new mailbox's id and UIDVALIDITY are learnt after the step.
            self.model.transfer(src, dst, &UidSet::all(), true);
            return Ok(());
        }
        let moving: Vec<usize> = (0..self.model.boxes.len())
            .filter(|&i| within(&self.model.boxes[i].path, from))
            .collect();
        let renamed: Vec<String> = moving
            .iter()
            .map(|&i| format!("{to}{}", &self.model.boxes[i].path[from.len()..]))
            .collect();
        if renamed.iter().any(|p| self.model.find(p).is_some()) {
            return Err(MailboxError::AlreadyExists.into());
        }
        for (&i, path) in moving.iter().zip(renamed) {
            self.model.boxes[i].path = path;
        }
        for parent in parents(to) {
            self.model.ensure(&parent);
        }
        Ok(())
    }

    /// The store and the model agree on everything observable.
    async fn compare(
        &self,
        previous: &BTreeMap<MailboxId, (Uid, ModSeq)>,
    ) -> BTreeMap<MailboxId, (Uid, ModSeq)> {
        let store = &self.store;
        let listed = store.list_mailboxes(self.user.id).await.unwrap();
        let paths: Vec<&str> = listed.iter().map(|m| m.path.as_str()).collect();
        let model_paths: Vec<&str> = self.model.boxes.iter().map(|b| b.path.as_str()).collect();
        assert_eq!(paths, model_paths);
        let mut counters = BTreeMap::new();
        for (m, b) in listed.iter().zip(&self.model.boxes) {
            assert_eq!(Some(m.id), b.id, "{}", b.path);
            assert_eq!(
                Some(m.uidvalidity),
                b.uidvalidity,
                "UIDVALIDITY kept: {}",
                b.path
            );
            assert_eq!(m.special_use, b.special_use);
            let snap = store.snapshot(m.id).await.unwrap();
            let uids: Vec<Uid> = b.messages.keys().copied().collect();
            assert_eq!(snap.uids, uids, "{}", b.path);
            assert_eq!(
                (snap.uidnext, snap.highest_modseq),
                (b.uidnext, b.highest_modseq)
            );
            if let Some(&(uidnext, modseq)) = previous.get(&m.id) {
                assert!(
                    snap.uidnext >= uidnext && snap.highest_modseq >= modseq,
                    "counters only grow"
                );
            }
            counters.insert(m.id, (snap.uidnext, snap.highest_modseq));
            let changes = store.changes_since(m.id, 0).await.unwrap();
            assert_eq!(changes.changes, b.journal, "journal of {}", b.path);
            let mid = b.highest_modseq / 2;
            let tail: Vec<Change> = b
                .journal
                .iter()
                .filter(|c| c.modseq > mid)
                .cloned()
                .collect();
            assert_eq!(store.changes_since(m.id, mid).await.unwrap().changes, tail);
            let meta = store
                .fetch_meta(m.id, &UidSet::all(), MetaFields::default())
                .await
                .unwrap();
            let got: Vec<(Uid, Flags, ModSeq, u64)> = meta
                .into_iter()
                .map(|x| (x.uid, x.flags, x.modseq, x.size))
                .collect();
            let want: Vec<(Uid, Flags, ModSeq, u64)> = b
                .messages
                .iter()
                .map(|(u, x)| {
                    (
                        *u,
                        x.flags.clone(),
                        x.modseq,
                        self.model.bodies[x.body].len() as u64,
                    )
                })
                .collect();
            assert_eq!(got, want);
            let status = store.mailbox_status(m.id).await.unwrap();
            assert_eq!(status.messages as usize, b.messages.len());
        }
        let user = store.get_user(self.user.id).await.unwrap();
        assert_eq!(user.storage_used, self.model.used(), "quota = sum of sizes");
        counters
    }

    async fn compare_bodies(&self) {
        for b in &self.model.boxes {
            for (uid, msg) in &b.messages {
                let got = self
                    .store
                    .read_section(b.id.unwrap(), *uid, &Section::full(), None)
                    .await
                    .unwrap();
                assert_eq!(
                    got.to_vec(),
                    self.model.bodies[msg.body],
                    "BODY[] of {}:{uid}",
                    b.path
                );
            }
        }
    }
}

/// Runs one generated case on `store` and checks it against the model after every step.
fn run_case(
    open: impl std::future::Future<Output = (Store, Box<dyn std::any::Any + Send>)>,
    bodies: Vec<Vec<u8>>,
    ops: &[Op],
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (store, backing) = open.await;
        let mut h = Harness::new(store, backing, bodies).await;
        let mut counters = h.compare(&BTreeMap::new()).await;
        for op in ops {
            h.step(op).await;
            counters = h.compare(&counters).await;
        }
        h.compare_bodies().await;
        let report = h.store.verify(false).await.unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    });
}

async fn open_sqlite() -> (Store, Box<dyn std::any::Any + Send>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .unwrap();
    (store, Box::new(dir))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..400), 1..5),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run_case(open_sqlite(), bodies, &ops);
    }
}

#[cfg(all(feature = "mongodb", feature = "redis"))]
mod servers;

#[cfg(all(feature = "mongodb", feature = "redis"))]
proptest! {
    // Fewer cases: every step is several round trips to a server.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn mongodb_store_matches_model(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..400), 1..5),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run_case(
            async { (servers::fresh_store().await, Box::new(()) as Box<dyn std::any::Any + Send>) },
            bodies,
            &ops,
        );
    }
}
