//! The event log on MongoDB (see [`EventLog`]): the `events` collection, written as the last
//! step of the change it describes (`log_event`), and `event_deliveries`, `_id` =
//! `<event>:<webhook>` (so handing an event out twice makes no second delivery; settled
//! ones stay until their event is trimmed), leased with one `findOneAndUpdate` each as the
//! outbound queue is.

use mongodb::bson::{Document, doc};

use super::*;

fn oid(id: RecordId) -> ObjectId {
    ObjectId::from_bytes(id.bytes())
}

fn record(id: ObjectId) -> RecordId {
    RecordId::from_bytes(id.bytes())
}

fn malformed(what: &'static str, doc: &Document) -> Error {
    Defect::Malformed {
        what,
        detail: format!("{doc}"),
    }
    .into()
}

fn event_from_doc(doc: &Document) -> Result<Event> {
    let bad = || malformed("event document", doc);
    Ok(Event {
        id: record(doc.get_object_id("_id").map_err(|_| bad())?),
        kind: doc.get_str("kind").map_err(|_| bad())?.to_string(),
        user: doc.get_object_id("user").ok().map(UserId::from),
        created: int_field(doc, "created")?,
        data: doc.get_str("data").map_err(|_| bad())?.to_string(),
    })
}

impl MongoBackend {
    fn events(&self) -> Collection<Document> {
        self.named_collection("events")
    }

    fn event_deliveries(&self) -> Collection<Document> {
        self.named_collection("event_deliveries")
    }

    fn named_collection(&self, name: &str) -> Collection<Document> {
        let namespace = self.users.namespace();
        self.users.client().database(&namespace.db).collection(name)
    }

    pub(super) async fn create_event_indexes(&self) -> Result<()> {
        for keys in [doc! {"pending": 1}, doc! {"created": 1}] {
            self.events()
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(db_error)?;
        }
        for keys in [doc! {"next_attempt": 1}, doc! {"event": 1}] {
            self.event_deliveries()
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }

    /// Appends `event`: the last step of the change it describes.
    pub(super) async fn log_events(&self, events: &[Event]) -> Result<()> {
        for event in events {
            self.log_event(event).await?;
        }
        Ok(())
    }

    pub(super) async fn log_event(&self, event: &Event) -> Result<()> {
        self.events()
            .insert_one(doc! {
                "_id": oid(event.id),
                "kind": &event.kind,
                "user": event.user.map(ObjectId::from),
                "created": event.created,
                "data": &event.data,
                "pending": true,
            })
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

#[async_trait]
impl EventLog for MongoBackend {
    async fn pending_events(&self, limit: usize) -> Result<Vec<Event>> {
        let docs: Vec<Document> = self
            .events()
            .find(doc! {"pending": true})
            .sort(doc! {"_id": 1})
            .limit(limit as i64)
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        docs.iter().map(event_from_doc).collect()
    }

    async fn hand_out_event(
        &self,
        event: RecordId,
        webhooks: Vec<RecordId>,
        due: Timestamp,
    ) -> Result<()> {
        // Deliveries first, the mark last: a worker stopped between the two leaves the event
        // pending, and the next one's inserts find the deliveries there already.
        for webhook in webhooks {
            let inserted = self
                .event_deliveries()
                .insert_one(doc! {
                    "_id": format!("{event}:{webhook}"),
                    "event": oid(event),
                    "webhook": oid(webhook),
                    "attempts": 0i64,
                    "next_attempt": due,
                    "lease": Bson::Null,
                    "lease_until": 0i64,
                })
                .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(db_error(e)),
            }
        }
        self.events()
            .update_one(doc! {"_id": oid(event)}, doc! {"$set": {"pending": false}})
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn claim_event_deliveries(
        &self,
        now: Timestamp,
        until: Timestamp,
        lease: RecordId,
        limit: usize,
    ) -> Result<Vec<EventDelivery>> {
        let due = doc! {"next_attempt": {"$lte": now}, "lease_until": {"$lte": now}};
        let mut claimed = Vec::new();
        while claimed.len() < limit {
            let taken = self
                .event_deliveries()
                .find_one_and_update(
                    due.clone(),
                    doc! {"$set": {"lease_until": until, "lease": lease.to_string()}},
                )
                .sort(doc! {"next_attempt": 1, "_id": 1})
                .return_document(ReturnDocument::After)
                .await
                .map_err(db_error)?;
            let Some(taken) = taken else { break };
            let bad = || malformed("event delivery document", &taken);
            let event = taken.get_object_id("event").map_err(|_| bad())?;
            let webhook = record(taken.get_object_id("webhook").map_err(|_| bad())?);
            let attempts = u32::try_from(int_field(&taken, "attempts")?).unwrap_or(u32::MAX);
            match self
                .events()
                .find_one(doc! {"_id": event})
                .await
                .map_err(db_error)?
            {
                Some(found) => claimed.push(EventDelivery {
                    event: event_from_doc(&found)?,
                    webhook,
                    attempts,
                    lease,
                }),
                // Its event was trimmed.
                None => {
                    self.event_deliveries()
                        .delete_one(doc! {"_id": taken.get("_id").cloned().unwrap_or(Bson::Null)})
                        .await
                        .map_err(db_error)?;
                }
            }
        }
        Ok(claimed)
    }

    async fn finish_event_delivery(
        &self,
        delivery: &EventDelivery,
        retry_at: Option<Timestamp>,
    ) -> Result<bool> {
        let held = doc! {
            "_id": format!("{}:{}", delivery.event.id, delivery.webhook),
            "lease": delivery.lease.to_string(),
        };
        let next = retry_at.unwrap_or(SETTLED);
        let changed = self
            .event_deliveries()
            .update_one(
                held,
                doc! {
                    "$inc": {"attempts": 1i64},
                    "$set": {"next_attempt": next, "lease": Bson::Null, "lease_until": 0i64},
                },
            )
            .await
            .map_err(db_error)?;
        Ok(changed.matched_count == 1)
    }

    async fn trim_events(&self, before: Timestamp) -> Result<u64> {
        let old = doc! {"pending": false, "created": {"$lt": before}};
        let ids: Vec<Document> = self
            .events()
            .find(old)
            .projection(doc! {"_id": 1})
            .await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)?;
        let ids: Vec<Bson> = ids
            .into_iter()
            .filter_map(|d| d.get("_id").cloned())
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        // The deliveries go first: an event is never gone while a delivery points at it.
        self.event_deliveries()
            .delete_many(doc! {"event": {"$in": ids.clone()}})
            .await
            .map_err(db_error)?;
        let removed = self
            .events()
            .delete_many(doc! {"_id": {"$in": ids}})
            .await
            .map_err(db_error)?;
        Ok(removed.deleted_count)
    }
}
