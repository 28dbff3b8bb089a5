//! The model of DESIGN §3.4 the store is checked against: random sequences of mailbox and
//! message operations, a plain in-memory model that applies them, and a harness that runs
//! them on a store and compares. Shared by `model.rs` (store against model after every
//! step) and `storage_faults.rs` (the same after a storage failure and a reopen).
// Each test binary uses part of it.
#![allow(dead_code)]

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
pub enum Op {
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

pub fn op() -> impl Strategy<Value = Op> {
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

pub fn bodies() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..400), 1..5)
}

fn flags_from_bits(bits: u8) -> Flags {
    FLAG_POOL
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, make)| make())
        .collect()
}

const FLAG_OPS: [FlagOp; 3] = [FlagOp::Add, FlagOp::Remove, FlagOp::Replace];

/// UNCHANGEDSINCE relative to the mailbox's current MODSEQ, so both outcomes occur.
fn unchanged_since(b: &ModelBox, since: Option<u8>) -> Option<ModSeq> {
    since.map(|s| b.highest_modseq.saturating_sub(s as u64))
}

/// What an operation answers, as the model and the store both state it.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Created(String),
    Done,
    /// A delete of INBOX or a special-use folder, refused (the store's reason varies).
    Protected,
    Appended {
        uid: Uid,
        modseq: ModSeq,
        uidvalidity: u32,
        size: u64,
    },
    Transferred(CopyOutcome),
    Flagged(FlagsOutcome),
    Expunged(ExpungeOutcome),
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

#[derive(Clone, Debug)]
pub struct Model {
    boxes: Vec<ModelBox>,
    bodies: Vec<Vec<u8>>,
}

/// What can be observed of one mailbox.
#[derive(Debug, PartialEq)]
pub struct MailboxView {
    pub path: String,
    pub id: Option<MailboxId>,
    pub uidvalidity: Option<u32>,
    pub special_use: Option<SpecialUse>,
    pub uids: Vec<Uid>,
    pub uidnext: Uid,
    pub highest_modseq: ModSeq,
    pub journal: Vec<Change>,
    /// UID, flags, MODSEQ and size of each message.
    pub messages: Vec<(Uid, Flags, ModSeq, u64)>,
    /// The message count STATUS gives.
    pub count: usize,
}

/// What can be observed of the user's mail, bodies aside.
#[derive(Debug, PartialEq)]
pub struct View {
    pub mailboxes: Vec<MailboxView>,
    pub storage_used: u64,
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
    pub fn new(bodies: Vec<Vec<u8>>) -> Self {
        let boxes = DEFAULT_MAILBOXES
            .iter()
            .map(|(path, special_use)| ModelBox {
                special_use: *special_use,
                ..ModelBox::new(path.to_string())
            })
            .collect();
        let mut model = Model { boxes, bodies };
        model.sorted();
        model
    }

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

    /// Applies `op` and returns what the store must answer. Ids of mailboxes it creates stay
    /// unknown until learnt from the store.
    pub fn apply(&mut self, op: &Op) -> Result<Answer, Error> {
        let answer = match op {
            Op::Create(n) => {
                let path = normalize(NAMES[*n]);
                self.create(&path).map(|()| Answer::Created(path))
            }
            Op::Rename(i, n) => {
                let from = self.boxes[self.pick(*i)].path.clone();
                self.rename(&from, &normalize(NAMES[*n]))
                    .map(|()| Answer::Done)
            }
            Op::Delete(i) => {
                let i = self.pick(*i);
                let b = &self.boxes[i];
                if b.path == "INBOX" || b.special_use.is_some() {
                    Ok(Answer::Protected)
                } else {
                    self.boxes.remove(i);
                    Ok(Answer::Done)
                }
            }
            Op::Append(i, body, bits) => {
                let i = self.pick(*i);
                let body = body % self.bodies.len();
                let size = self.bodies[body].len() as u64;
                let b = &mut self.boxes[i];
                let (uid, modseq) = (b.uidnext, b.highest_modseq + 1);
                b.uidnext += 1;
                b.highest_modseq = modseq;
                let flags = flags_from_bits(*bits);
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
                Ok(Answer::Appended {
                    uid,
                    modseq,
                    uidvalidity: b.uidvalidity.unwrap_or(0),
                    size,
                })
            }
            Op::Copy(a, b, r) | Op::Move(a, b, r) => {
                let moving = matches!(op, Op::Move(..));
                let (src, dst) = (self.pick(*a), self.pick(*b));
                let set = UidSet::from_ranges([*r]);
                Ok(Answer::Transferred(self.transfer(src, dst, &set, moving)))
            }
            Op::Store(i, r, op_code, bits, since) => {
                let i = self.pick(*i);
                let b = &mut self.boxes[i];
                Ok(Answer::Flagged(store_flags(
                    b,
                    &UidSet::from_ranges([*r]),
                    FLAG_OPS[*op_code as usize],
                    &flags_from_bits(*bits),
                    unchanged_since(b, *since),
                )))
            }
            Op::Expunge(i, r) => {
                let i = self.pick(*i);
                let set = r.map(|r| UidSet::from_ranges([r]));
                Ok(Answer::Expunged(expunge(&mut self.boxes[i], set.as_ref())))
            }
        };
        self.sorted();
        answer
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

    fn rename(&mut self, from: &str, to: &str) -> Result<(), Error> {
        if to == "INBOX" {
            return Err(MailboxError::AlreadyExists.into());
        }
        if within(to, from) {
            return Err(
                MailboxError::InvalidName("can not move a mailbox into itself".into()).into(),
            );
        }
        if from == "INBOX" {
            self.create(to)?;
            let src = self.find("INBOX").unwrap();
            let dst = self.find(to).unwrap();
            // The new mailbox's id and UIDVALIDITY are learnt after the step.
            self.transfer(src, dst, &UidSet::all(), true);
            return Ok(());
        }
        let moving: Vec<usize> = (0..self.boxes.len())
            .filter(|&i| within(&self.boxes[i].path, from))
            .collect();
        let renamed: Vec<String> = moving
            .iter()
            .map(|&i| format!("{to}{}", &self.boxes[i].path[from.len()..]))
            .collect();
        if renamed.iter().any(|p| self.find(p).is_some()) {
            return Err(MailboxError::AlreadyExists.into());
        }
        for (&i, path) in moving.iter().zip(renamed) {
            self.boxes[i].path = path;
        }
        for parent in parents(to) {
            self.ensure(&parent);
        }
        Ok(())
    }

    fn used(&self) -> u64 {
        self.boxes
            .iter()
            .flat_map(|b| b.messages.values())
            .map(|m| self.bodies[m.body].len() as u64)
            .sum()
    }

    /// What the store must show.
    pub fn view(&self) -> View {
        let mailboxes = self
            .boxes
            .iter()
            .map(|b| MailboxView {
                path: b.path.clone(),
                id: b.id,
                uidvalidity: b.uidvalidity,
                special_use: b.special_use,
                uids: b.messages.keys().copied().collect(),
                uidnext: b.uidnext,
                highest_modseq: b.highest_modseq,
                journal: b.journal.clone(),
                messages: b
                    .messages
                    .iter()
                    .map(|(u, x)| {
                        let size = self.bodies[x.body].len() as u64;
                        (*u, x.flags.clone(), x.modseq, size)
                    })
                    .collect(),
                count: b.messages.len(),
            })
            .collect();
        View {
            mailboxes,
            storage_used: self.used(),
        }
    }
}

fn store_flags(
    b: &mut ModelBox,
    set: &UidSet,
    op: FlagOp,
    flags: &Flags,
    since: Option<ModSeq>,
) -> FlagsOutcome {
    let modseq = b.highest_modseq + 1;
    let mut outcome = FlagsOutcome {
        modseq: None,
        updated: vec![],
        modified: vec![],
    };
    for (uid, msg) in b.messages.iter_mut().filter(|(u, _)| set.contains(**u)) {
        if since.is_some_and(|s| msg.modseq > s) {
            outcome.modified.push(*uid);
            continue;
        }
        let new: Flags = match op {
            FlagOp::Add => msg.flags.union(flags).cloned().collect(),
            FlagOp::Remove => msg.flags.difference(flags).cloned().collect(),
            FlagOp::Replace => flags.clone(),
        };
        if new != msg.flags {
            msg.flags = new.clone();
            msg.modseq = modseq;
            outcome.modseq = Some(modseq);
            b.journal.push(Change {
                modseq,
                uid: *uid,
                kind: ChangeKind::Flags(new),
            });
        }
        outcome.updated.push((*uid, msg.flags.clone(), msg.modseq));
    }
    if outcome.modseq.is_some() {
        b.highest_modseq = modseq;
    }
    outcome
}

fn expunge(b: &mut ModelBox, set: Option<&UidSet>) -> ExpungeOutcome {
    let victims: Vec<Uid> = b
        .messages
        .iter()
        .filter(|(u, m)| set.is_none_or(|s| s.contains(**u)) && m.flags.contains(&Flag::Deleted))
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
    ExpungeOutcome {
        uids: victims,
        modseq,
    }
}

/// A store, its user, and the model of that user's mail.
pub struct Harness {
    pub store: Store,
    pub user: User,
    pub model: Model,
}

impl Harness {
    /// Creates the user (with the default mailboxes) on `store`.
    pub async fn new(store: Store, bodies: Vec<Vec<u8>>) -> Self {
        let user = store
            .create_user(NewUser {
                username: "model".into(),
                password: "pw".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
        let mut h = Harness {
            store,
            user,
            model: Model::new(bodies),
        };
        h.learn_ids().await.unwrap();
        h
    }

    fn mailbox_id(&self, i: usize) -> MailboxId {
        self.model.boxes[i].id.expect("known mailbox")
    }

    /// Takes ids and UIDVALIDITY of mailboxes the model does not know yet from the store.
    pub async fn learn_ids(&mut self) -> Result<(), Error> {
        for b in self.model.boxes.iter_mut().filter(|b| b.id.is_none()) {
            let m = self.store.get_mailbox(self.user.id, &b.path).await?;
            b.id = Some(m.id);
            b.uidvalidity = Some(m.uidvalidity);
        }
        Ok(())
    }

    /// Runs `op` on the store (with the arguments the model's state gives it).
    pub async fn call(&self, op: &Op) -> Result<Answer, Error> {
        let store = &self.store;
        let user = self.user.id;
        let model = &self.model;
        match op {
            Op::Create(n) => store
                .create_mailbox(user, NAMES[*n], None)
                .await
                .map(|m| Answer::Created(m.path)),
            Op::Rename(i, n) => {
                let from = &model.boxes[model.pick(*i)].path;
                let renamed = store.rename_mailbox(user, from, NAMES[*n]).await;
                renamed.map(|()| Answer::Done)
            }
            Op::Delete(i) => match store
                .delete_mailbox(user, &model.boxes[model.pick(*i)].path)
                .await
            {
                Ok(()) => Ok(Answer::Done),
                Err(Error::Mailbox(MailboxError::Protected(_))) => Ok(Answer::Protected),
                Err(e) => Err(e),
            },
            Op::Append(i, body, bits) => {
                let raw = &model.bodies[body % model.bodies.len()];
                let mailbox = self.mailbox_id(model.pick(*i));
                let flags = flags_from_bits(*bits);
                let got = store.append(mailbox, raw, &flags, Some(1_000_000)).await?;
                Ok(Answer::Appended {
                    uid: got.uid,
                    modseq: got.modseq,
                    uidvalidity: got.uidvalidity,
                    size: got.size,
                })
            }
            Op::Copy(a, b, r) | Op::Move(a, b, r) => {
                let set = UidSet::from_ranges([*r]);
                let (s, d) = (
                    self.mailbox_id(model.pick(*a)),
                    self.mailbox_id(model.pick(*b)),
                );
                if matches!(op, Op::Move(..)) {
                    store.move_messages(s, &set, d).await
                } else {
                    store.copy(s, &set, d).await
                }
                .map(Answer::Transferred)
            }
            Op::Store(i, r, op_code, bits, since) => {
                let b = &model.boxes[model.pick(*i)];
                let set = UidSet::from_ranges([*r]);
                let flags = flags_from_bits(*bits);
                let op = FLAG_OPS[*op_code as usize];
                let since = unchanged_since(b, *since);
                store
                    .store_flags(b.id.unwrap(), &set, op, &flags, since)
                    .await
                    .map(Answer::Flagged)
            }
            Op::Expunge(i, r) => {
                let set = r.map(|r| UidSet::from_ranges([r]));
                store
                    .expunge(self.mailbox_id(model.pick(*i)), set.as_ref())
                    .await
                    .map(Answer::Expunged)
            }
        }
    }

    /// Runs `op` on the store and the model; they must answer alike.
    pub async fn step(&mut self, op: &Op) {
        let got = self.call(op).await;
        let expected = self.model.apply(op);
        assert_eq!(got, expected, "{op:?}");
        self.learn_ids().await.unwrap();
    }

    /// What the store shows.
    pub async fn observe(&self) -> Result<View, Error> {
        let store = &self.store;
        let mut mailboxes = Vec::new();
        for m in store.list_mailboxes(self.user.id).await? {
            let snap = store.snapshot(m.id).await?;
            let meta = store
                .fetch_meta(m.id, &UidSet::all(), MetaFields::default())
                .await?;
            mailboxes.push(MailboxView {
                path: m.path,
                id: Some(m.id),
                uidvalidity: Some(m.uidvalidity),
                special_use: m.special_use,
                uids: snap.uids,
                uidnext: snap.uidnext,
                highest_modseq: snap.highest_modseq,
                journal: store.changes_since(m.id, 0).await?.changes,
                messages: meta
                    .into_iter()
                    .map(|x| (x.uid, x.flags, x.modseq, x.size))
                    .collect(),
                count: store.mailbox_status(m.id).await?.messages as usize,
            });
        }
        let storage_used = store.get_user(self.user.id).await?.storage_used;
        Ok(View {
            mailboxes,
            storage_used,
        })
    }

    /// The store and the model agree on everything observable; MODSEQ and UIDNEXT never go
    /// back from `previous`, and the journal reads from its middle as from its start.
    pub async fn compare(
        &self,
        previous: &BTreeMap<MailboxId, (Uid, ModSeq)>,
    ) -> BTreeMap<MailboxId, (Uid, ModSeq)> {
        let view = self.observe().await.unwrap();
        assert_eq!(view, self.model.view());
        let mut counters = BTreeMap::new();
        for m in &view.mailboxes {
            let id = m.id.unwrap();
            if let Some(&(uidnext, modseq)) = previous.get(&id) {
                assert!(
                    m.uidnext >= uidnext && m.highest_modseq >= modseq,
                    "counters only grow"
                );
            }
            counters.insert(id, (m.uidnext, m.highest_modseq));
            let mid = m.highest_modseq / 2;
            let tail: Vec<Change> = m
                .journal
                .iter()
                .filter(|c| c.modseq > mid)
                .cloned()
                .collect();
            assert_eq!(
                self.store.changes_since(id, mid).await.unwrap().changes,
                tail
            );
        }
        counters
    }

    /// Every message reads back byte for byte.
    pub async fn compare_bodies(&self) {
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
