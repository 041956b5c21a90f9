//! Bulk seeding for benchmarks and load tests: many licenses in a few statements.

use diesel::sql_types::{BigInt, Text, Timestamp};

use crate::db::DbConn;
use crate::schema::licenses;
use crate::{Context, Store, StoreResult, stored_time};

/// Rows per statement.
const BATCH: u64 = 100_000;

impl Store {
    /// Adds `count` licenses of the item `sku` on a ticket of their own (registered to
    /// nobody): data that is there but that no customer sees. Their ids are `filler-...`,
    /// not UUIDs, and they are never activated.
    pub fn seed_filler_licenses(&self, ctx: &Context, sku: &str, count: u64) -> StoreResult<()> {
        use diesel::prelude::*;
        let number = format!("filler-{}", crate::new_id());
        let request = keyport_core::OrderRequest::new(
            keyport_core::ShopName::parse("bench")?,
            keyport_core::ExternalOrderNumber::parse(&number)?,
            keyport_core::OrderCustomer::None,
            vec![keyport_core::OrderLine::new(1, keyport_core::Sku::parse(sku)?, 1)?],
        )?;
        let order = self.create_order(ctx, &request)?;
        let license = order.order.lines[0].license_ids[0].to_string();
        let (ticket, line, item): (String, String, String) = self.read(|conn| {
            Ok(licenses::table
                .filter(licenses::id.eq(&license))
                .select((licenses::ticket_id, licenses::order_line_id, licenses::item_id))
                .first(conn)?)
        })?;
        let now = stored_time(ctx.now);
        let mut done = 0;
        while done < count {
            let n = BATCH.min(count - done);
            let prefix = format!("{number}-{done}-");
            self.write(|conn| {
                let sql = match conn {
                    DbConn::Sqlite(_) => {
                        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?) \
                         INSERT INTO licenses (id, ticket_id, order_line_id, item_id, starts_at, created_at, lock_version) \
                         SELECT ? || n, ?, ?, ?, ?, ?, 0 FROM seq"
                    }
                    DbConn::Pg(_) => {
                        "INSERT INTO licenses (id, ticket_id, order_line_id, item_id, starts_at, created_at, lock_version) \
                         SELECT $2 || n, $3, $4, $5, $6, $7, 0 FROM generate_series(1, $1) AS n"
                    }
                };
                diesel::sql_query(sql)
                    .bind::<BigInt, _>(i64::try_from(n).unwrap_or(i64::MAX))
                    .bind::<Text, _>(&prefix)
                    .bind::<Text, _>(&ticket)
                    .bind::<Text, _>(&line)
                    .bind::<Text, _>(&item)
                    .bind::<Timestamp, _>(now)
                    .bind::<Timestamp, _>(now)
                    .execute(conn)?;
                Ok(())
            })?;
            done += n;
        }
        Ok(())
    }
}
