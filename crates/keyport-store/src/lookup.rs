//! Finding a customer by a unique value: the lookups several use cases share, below them
//! all (they use only the schema and the rows).

use diesel::prelude::*;
use keyport_core::{CustomerNumber, Email};

use crate::StoreResult;
use crate::db::DbConn;
use crate::rows::CustomerRow;
use crate::schema::customers;

pub(crate) fn by_email(conn: &mut DbConn, email: &Email) -> StoreResult<Option<CustomerRow>> {
    Ok(customers::table
        .filter(customers::email.eq(email.as_str()))
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?)
}

pub(crate) fn by_number(conn: &mut DbConn, number: &CustomerNumber) -> StoreResult<Option<CustomerRow>> {
    Ok(customers::table
        .filter(customers::customer_number.eq(number.as_str()))
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?)
}

/// A name as search compares it: lower case as Rust folds it, the same on both backends
/// (SQL's `lower` folds only ASCII on SQLite and follows the locale on PostgreSQL).
pub(crate) fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// Takes a customer's row lock (a no-op update) in the caller's transaction, so writers
/// that read and then change what belongs to the customer (bonus points, marketing
/// consent) queue up on PostgreSQL; `not_found` for an unknown id.
pub(crate) fn lock_customer(conn: &mut DbConn, customer: &str) -> StoreResult<()> {
    let found = diesel::update(customers::table.find(customer))
        .set(customers::language.eq(customers::language))
        .execute(conn)?;
    if found == 0 {
        return Err(keyport_core::CoreError::not_found("customer").into());
    }
    Ok(())
}
