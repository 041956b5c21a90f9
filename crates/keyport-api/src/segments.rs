//! Newsletter segments: a targeting rule with a name, and the consenting customers it holds
//! for, as exported to a newsletter tool.

use chrono::{DateTime, Utc};
use keyport_core::targeting::Rule;
use keyport_core::{CoreError, DisplayName};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A segment to define (or, on `PUT`, what it becomes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SegmentRequest {
    /// What staff call it (unique), e.g. "CAD Pro 4 owners, German".
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    /// Who is in it: a targeting rule as for offers, e.g.
    /// `{"all": [{"owns_product": {"product": "cad-pro"}}, {"language": ["de"]}]}`. The
    /// products and items it names must exist.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rule: Value,
}

impl SegmentRequest {
    /// The checked name and rule.
    pub fn parse(&self) -> Result<(DisplayName, Rule), CoreError> {
        Ok((DisplayName::parse(&self.name)?, Rule::parse(&self.rule)?))
    }
}

/// A segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentView {
    /// The segment's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its rule.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rule: Value,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One customer of a segment's export: only customers who confirmed marketing consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentMember {
    /// The customer's id (the cursor of the pages).
    pub customer_id: Uuid,
    /// The address to write to.
    pub email: String,
    /// The customer's name.
    pub name: String,
    /// `en` or `de`: the language to write in.
    pub language: String,
    /// The shop's customer number, if any.
    pub customer_number: Option<String>,
    /// The products the rule names that the customer owns (what made them match), sorted.
    pub products: Vec<String>,
    /// The customer's one-click unsubscribe URL: put it in the newsletter's
    /// `List-Unsubscribe` header (with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`,
    /// RFC 8058) and its footer.
    pub unsubscribe_url: String,
}

/// A page of a segment's export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentMemberPage {
    /// The members, by customer id.
    pub items: Vec<SegmentMember>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// How to read a segment's members.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct SegmentExportQuery {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// Members per page, 1 to 1000 (default 1000).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
}
