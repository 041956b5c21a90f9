//! Use cases of customer accounts.

use diesel::prelude::*;
use keyport_core::{CoreError, CustomerNumber, DisplayName, Email, ErrorCode, EventKind, Password};
use serde_json::json;
use uuid::Uuid;

use crate::events::{Subject, append};
use crate::lookup::{by_email, by_number};
use crate::rows::CustomerRow;
use crate::schema::customers;
use crate::{
    Context, CustomerSearch, CustomerView, Page, Paging, Store, StoreResult, new_id, stored_time, utc,
    uuid_of,
};

/// A customer account to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    /// The e-mail address; unique.
    pub email: Email,
    /// The display name.
    pub name: DisplayName,
    /// The shop's customer number; unique when given.
    pub customer_number: Option<CustomerNumber>,
    /// A password to log in with, if the account gets one now.
    pub password: Option<Password>,
}

/// What a customer update changes; `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerChanges {
    /// A new e-mail address.
    pub email: Option<Email>,
    /// A new display name.
    pub name: Option<DisplayName>,
    /// A new customer number.
    pub customer_number: Option<CustomerNumber>,
}

impl Store {
    /// Creates a customer; the e-mail address and the customer number must be new.
    pub fn create_customer(&self, ctx: &Context, new: &NewCustomer) -> StoreResult<CustomerView> {
        self.create_customer_inviting(ctx, new, None)
    }

    /// Creates a customer like [`Store::create_customer`] and, with `invite`, mails an
    /// invitation to set a first password, in the same transaction.
    pub fn create_customer_inviting(
        &self,
        ctx: &Context,
        new: &NewCustomer,
        invite: Option<&crate::mail::MailLinks>,
    ) -> StoreResult<CustomerView> {
        let password_hash = new.password.as_ref().map(crate::passwords::hash).transpose()?;
        self.write(|conn| {
            if by_email(conn, &new.email)?.is_some() {
                return Err(taken("email"));
            }
            if let Some(number) = &new.customer_number
                && by_number(conn, number)?.is_some()
            {
                return Err(taken("customer_number"));
            }
            let row = CustomerRow {
                id: new_id(),
                email: new.email.as_str().to_owned(),
                name: new.name.as_str().to_owned(),
                customer_number: new.customer_number.as_ref().map(|n| n.as_str().to_owned()),
                created_at: stored_time(ctx.now),
                name_folded: Some(crate::lookup::fold(new.name.as_str())),
            };
            diesel::insert_into(customers::table).values(&row).execute(conn)?;
            // A shop or support knows the address: the account counts as verified.
            diesel::update(customers::table.find(&row.id))
                .set(customers::email_verified_at.eq(stored_time(ctx.now)))
                .execute(conn)?;
            if let Some(hash) = &password_hash {
                diesel::update(customers::table.find(&row.id))
                    .set(customers::password_hash.eq(hash))
                    .execute(conn)?;
            }
            let subject = Subject { customer_id: Some(&row.id), ..Subject::of("customer", &row.id) };
            append(conn, ctx, EventKind::CustomerCreated, subject, json!({"email": row.email}))?;
            if let Some(links) = invite {
                crate::identity::invite_in(conn, ctx, links, &row.id)?;
            }
            customer_view(row)
        })
    }

    /// Changes a customer's e-mail address, name or customer number; new values must not
    /// belong to another customer.
    pub fn update_customer(
        &self,
        ctx: &Context,
        id: Uuid,
        changes: &CustomerChanges,
    ) -> StoreResult<CustomerView> {
        let key = id.to_string();
        self.write(|conn| {
            let row: CustomerRow = customers::table
                .find(&key)
                .select(CustomerRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| CoreError::not_found("customer"))?;
            let mut updated = row.clone();
            if let Some(email) = &changes.email {
                if by_email(conn, email)?.is_some_and(|other| other.id != key) {
                    return Err(taken("email"));
                }
                updated.email = email.as_str().to_owned();
            }
            if let Some(name) = &changes.name {
                updated.name = name.as_str().to_owned();
            }
            if let Some(number) = &changes.customer_number {
                if by_number(conn, number)?.is_some_and(|other| other.id != key) {
                    return Err(taken("customer_number"));
                }
                updated.customer_number = Some(number.as_str().to_owned());
            }
            if updated.email != row.email {
                crate::consent::address_changed(conn, ctx, &key, &row.email)?;
            }
            diesel::update(customers::table.find(&key))
                .set((
                    customers::email.eq(&updated.email),
                    customers::name.eq(&updated.name),
                    customers::name_folded.eq(crate::lookup::fold(&updated.name)),
                    customers::customer_number.eq(&updated.customer_number),
                ))
                .execute(conn)?;
            let subject = Subject { customer_id: Some(&key), ..Subject::of("customer", &key) };
            let data = json!({"before": {"email": row.email, "name": row.name, "customer_number": row.customer_number}});
            append(conn, ctx, EventKind::CustomerUpdated, subject, data)?;
            customer_view(updated)
        })
    }

    /// A customer changes their own name and the language their mails (and the depot after
    /// a login) come in.
    pub fn update_profile(
        &self,
        ctx: &Context,
        customer: Uuid,
        name: &DisplayName,
        lang: keyport_core::Lang,
    ) -> StoreResult<CustomerView> {
        let key = customer.to_string();
        self.write(|conn| {
            let found: Option<(CustomerRow, String)> = customers::table
                .find(&key)
                .select((CustomerRow::as_select(), customers::language))
                .first(conn)
                .optional()?;
            let (row, language) = found.ok_or_else(|| CoreError::not_found("customer"))?;
            diesel::update(customers::table.find(&key))
                .set((
                    customers::name.eq(name.as_str()),
                    customers::name_folded.eq(crate::lookup::fold(name.as_str())),
                    customers::language.eq(lang.code()),
                ))
                .execute(conn)?;
            let subject = Subject { customer_id: Some(&key), ..Subject::of("customer", &key) };
            let data = json!({"by": "customer", "before": {"name": row.name, "language": language}});
            append(conn, ctx, EventKind::CustomerUpdated, subject, data)?;
            customer_view(CustomerRow { name: name.as_str().to_owned(), ..row })
        })
    }

    /// A customer by id.
    pub fn get_customer(&self, id: Uuid) -> StoreResult<CustomerView> {
        self.read(|conn| {
            let row: Option<CustomerRow> = customers::table
                .find(id.to_string())
                .select(CustomerRow::as_select())
                .first(conn)
                .optional()?;
            customer_view(row.ok_or_else(|| CoreError::not_found("customer"))?)
        })
    }

    /// The customer named by e-mail address or customer number; naming none is
    /// `invalid_input`.
    pub fn find_customer(&self, who: &keyport_core::OrderCustomer) -> StoreResult<CustomerView> {
        match who {
            keyport_core::OrderCustomer::ByEmail(email) => self.find_customer_by_email(email),
            keyport_core::OrderCustomer::ByNumber(number) => self.find_customer_by_number(number),
            keyport_core::OrderCustomer::None => {
                Err(CoreError::invalid("customer", "give an e-mail address or a customer number").into())
            }
        }
    }

    /// A customer by e-mail address.
    pub fn find_customer_by_email(&self, email: &Email) -> StoreResult<CustomerView> {
        self.read(|conn| {
            customer_view(by_email(conn, email)?.ok_or_else(|| CoreError::not_found("customer"))?)
        })
    }

    /// A customer by the shop's customer number.
    pub fn find_customer_by_number(&self, number: &CustomerNumber) -> StoreResult<CustomerView> {
        self.read(|conn| {
            customer_view(by_number(conn, number)?.ok_or_else(|| CoreError::not_found("customer"))?)
        })
    }
}

/// The most names folded per call of [`Store::fold_names`].
const FOLD_BATCH: i64 = 1000;

/// A LIKE pattern that matches `text` literally (`\` escapes `%`, `_` and itself).
fn literal(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

impl Store {
    /// Folds the names of accounts written before names were folded, a batch at a time;
    /// answers how many it folded (0 when none is left). Run at start.
    pub fn fold_names(&self) -> StoreResult<usize> {
        self.write(|conn| {
            let rows: Vec<(String, String)> = customers::table
                .filter(customers::name_folded.is_null())
                .select((customers::id, customers::name))
                .limit(FOLD_BATCH)
                .load(conn)?;
            for (id, name) in &rows {
                diesel::update(customers::table.find(id))
                    .set(customers::name_folded.eq(crate::lookup::fold(name)))
                    .execute(conn)?;
            }
            Ok(rows.len())
        })
    }

    /// The customers that match every given filter, by creation, one page at a time (no
    /// filter: every customer).
    pub fn search_customers(
        &self,
        search: &CustomerSearch,
        paging: &Paging,
    ) -> StoreResult<Page<CustomerView>> {
        self.read(|conn| {
            let mut query = customers::table.order(customers::id.asc()).into_boxed();
            if let Some(email) = &search.email {
                query = query.filter(customers::email.eq(email.as_str().to_owned()));
            }
            if let Some(prefix) = &search.email_prefix {
                let pattern = format!("{}%", literal(&prefix.to_lowercase()));
                query = query.filter(customers::email.like(pattern).escape('\\'));
            }
            if let Some(name) = &search.name {
                let pattern = format!("%{}%", literal(&name.to_lowercase()));
                query = query.filter(customers::name_folded.like(pattern).escape('\\'));
            }
            if let Some(number) = &search.customer_number {
                query = query.filter(customers::customer_number.eq(number.as_str().to_owned()));
            }
            if let Some(code) = &search.ticket {
                let owner = crate::schema::tickets::table
                    .filter(crate::schema::tickets::code.eq(code.as_str().to_owned()))
                    .select(crate::schema::tickets::customer_id.assume_not_null());
                query = query.filter(customers::id.eq_any(owner));
            }
            if let Some(after) = &paging.after {
                query = query.filter(customers::id.gt(after.clone()));
            }
            let rows: Vec<CustomerRow> =
                query.limit(paging.fetch()).select(CustomerRow::as_select()).load(conn)?;
            Page::of(rows, paging, |r| r.id.clone()).try_map(customer_view)
        })
    }
}

fn taken(field: &'static str) -> crate::StoreError {
    CoreError::new(ErrorCode::AlreadyExists).with("resource", "customer").with("field", field).into()
}

pub(crate) fn customer_view(row: CustomerRow) -> StoreResult<CustomerView> {
    Ok(CustomerView {
        id: uuid_of(&row.id)?,
        email: row.email,
        name: row.name,
        customer_number: row.customer_number,
        created_at: utc(row.created_at),
    })
}
