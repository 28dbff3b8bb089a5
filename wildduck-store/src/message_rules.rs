//! What a change of messages *means*, written once for every engine: which messages a STORE
//! changes under UNCHANGEDSINCE, whether an append or copy fits the quota, who is charged
//! and which UIDs a copy or move hands out, which messages an EXPUNGE removes, and what
//! `verify` calls consistent. Plain functions over records and counters; the engines
//! (`backend/sqlite`, `backend/mongo`) read the records, call these and write the answer in
//! their own atomic unit.

pub(crate) mod flags;
pub(crate) mod quota;
pub(crate) mod transfer;
pub(crate) mod verify;
