//! Users and their addresses (see [`Accounts`]).

use super::*;

#[async_trait]
impl Accounts for MongoBackend {
    async fn create_user(
        &self,
        record: UserRecord,
        mailboxes: Vec<NewMailbox>,
        address: Option<Address>,
    ) -> Result<()> {
        if self.user_by_unameview(&record.unameview).await?.is_some() {
            return Err(UserError::AlreadyExists.into());
        }
        let user = record.user.id;
        // Address and mailboxes first, the user document last: the account becomes
        // visible complete, and its unique unameview is the final guard.
        if let Some(address) = &address {
            match self.addresses.insert_one(AddressDoc::from(address)).await {
                Ok(_) => {}
                Err(e) if is_duplicate_key(&e) => return Err(AddressError::AlreadyExists.into()),
                Err(e) => return Err(db_error(e)),
            }
        }
        let mut result = Ok(());
        for mailbox in &mailboxes {
            if let Err(e) = self.insert_mailbox(user, mailbox).await {
                result = Err(e);
                break;
            }
        }
        if result.is_ok() {
            result = match self.users.insert_one(UserDoc::from_record(&record)).await {
                Ok(_) => Ok(()),
                Err(e) if is_duplicate_key(&e) => Err(UserError::AlreadyExists.into()),
                Err(e) => Err(db_error(e)),
            };
        }
        if result.is_err() {
            let _ = self.mailboxes.delete_many(doc! {"user": id_is(user)}).await;
            let _ = self.addresses.delete_many(doc! {"user": id_is(user)}).await;
            return result;
        }
        self.log_event(&crate::events::user_created(&record.user, address.as_ref()))
            .await
    }

    async fn user_by_id(&self, user: UserId) -> Result<Option<UserRecord>> {
        Ok(self
            .users
            .find_one(doc! {"_id": ObjectId::from(user)})
            .await
            .map_err(db_error)?
            .map(UserDoc::into_record))
    }

    async fn user_by_unameview(&self, unameview: &str) -> Result<Option<UserRecord>> {
        Ok(self
            .users
            .find_one(doc! {"unameview": unameview})
            .await
            .map_err(db_error)?
            .map(UserDoc::into_record))
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let docs: Vec<UserDoc> = self
            .users
            .find(doc! {})
            .sort(doc! {"unameview": 1})
            .all()
            .await?;
        Ok(docs.into_iter().map(|d| d.into_record().user).collect())
    }

    async fn update_user(&self, user: UserId, update: UserUpdate) -> Result<()> {
        let set = match update {
            UserUpdate::PasswordHash(hash) => doc! {"password": hash},
            UserUpdate::Quota(quota) => {
                doc! {"quota": quota.map(|q| q.min(i64::MAX as u64) as i64)}
            }
            UserUpdate::Disabled(disabled) => doc! {"disabled": disabled},
            UserUpdate::Suspended(suspended) => doc! {"suspended": suspended},
            UserUpdate::DisabledScopes(scopes) => {
                doc! {"disabled_scopes": scopes.iter().map(|s| s.name()).collect::<Vec<_>>()}
            }
        };
        let result = self
            .users
            .update_one(doc! {"_id": ObjectId::from(user)}, doc! {"$set": set})
            .await
            .map_err(db_error)?;
        if result.matched_count == 0 {
            return Err(UserError::NotFound.into());
        }
        Ok(())
    }

    async fn delete_user(&self, user: UserId) -> Result<Vec<Wake>> {
        self.user_doc(user).await?;
        let mailboxes: Vec<MailboxDoc> = self
            .mailboxes
            .find(doc! {"user": id_is(user)})
            .all()
            .await?;
        // The user document goes first: quota reservations for new mail fail from now on.
        self.users
            .delete_one(doc! {"_id": ObjectId::from(user)})
            .await
            .map_err(db_error)?;
        let addresses: Vec<AddressDoc> = self
            .addresses
            .find(doc! {"user": id_is(user)})
            .all()
            .await?;
        self.addresses
            .delete_many(doc! {"user": id_is(user)})
            .await
            .map_err(db_error)?;
        let addresses = addresses.into_iter().map(|a| Address::from(a).id).collect();
        self.drop_address_details(addresses).await?;
        self.drop_user_profile(user).await?;
        self.drop_address_register(user).await?;
        self.asps
            .delete_many(doc! {"user": id_is(user)})
            .await
            .map_err(db_error)?;
        self.delete_user_rules(user).await?;
        self.delete_totp(user).await?;
        self.subscriptions
            .delete_many(doc! {"user": id_is(user)})
            .await
            .map_err(db_error)?;
        let mut wakes = Vec::new();
        for mailbox in &mailboxes {
            match self.drop_mailbox(mailbox, false).await {
                Ok(()) | Err(Error::Mailbox(MailboxError::NotFound)) => {}
                Err(e) => return Err(e),
            }
            wakes.push(Wake {
                user,
                mailbox: MailboxId::from(mailbox.id),
                modseq: mailbox.modseq as u64 + 1,
            });
        }
        self.log_event(&crate::events::user_deleted(user)).await?;
        Ok(wakes)
    }

    async fn add_address(&self, address: Address) -> Result<()> {
        self.user_doc(address.user).await?;
        if self.forwarded_view_taken(&address.addrview).await? {
            return Err(AddressError::AlreadyExists.into());
        }
        match self.addresses.insert_one(AddressDoc::from(&address)).await {
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => return Err(AddressError::AlreadyExists.into()),
            Err(e) => return Err(db_error(e)),
        }
        self.log_event(&crate::events::address_created(&address))
            .await
    }

    async fn remove_address(&self, user: UserId, addrview: &str) -> Result<()> {
        let filter = doc! {"user": id_is(user), "addrview": addrview};
        let found = self
            .addresses
            .find_one(filter.clone())
            .await
            .map_err(db_error)?
            .ok_or(AddressError::NotFound)?;
        let removed = self.addresses.delete_one(filter).await.map_err(db_error)?;
        if removed.deleted_count == 0 {
            return Err(AddressError::NotFound.into());
        }
        let found = Address::from(found);
        self.drop_address_details(vec![found.id]).await?;
        self.log_event(&crate::events::address_deleted(&found))
            .await
    }

    async fn list_addresses(&self, user: UserId) -> Result<Vec<Address>> {
        self.user_doc(user).await?;
        let docs: Vec<AddressDoc> = self
            .addresses
            .find(doc! {"user": id_is(user)})
            .sort(doc! {"address": 1})
            .all()
            .await?;
        Ok(docs.into_iter().map(Address::from).collect())
    }

    async fn address_by_view(&self, addrview: &str) -> Result<Option<Address>> {
        Ok(self
            .addresses
            .find_one(doc! {"addrview": addrview})
            .await
            .map_err(db_error)?
            .map(Address::from))
    }
}
