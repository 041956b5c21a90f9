//! A customer's offers: `GET /me/offers` for a customer with 50 licenses while 200 offers
//! are defined (half of them target the customer, through rules of every shape), against
//! `GET /me/licenses` of the same customer on the same server in the same run (the anchor:
//! the read every portal page makes).

use std::time::Duration;

use keyport_api::OfferRequest;
use serde_json::json;

use crate::load::{self, Stats};
use crate::world::World;

const EMAIL: &str = "offers@bench.example";
const PASSWORD: &str = "bench password 1";
/// Offers defined.
pub const OFFERS: usize = 200;
/// Licenses of the customer.
pub const LICENSES: u32 = 50;

/// The rule of the `i`-th offer: every other one matches the customer (who owns product
/// `bench` for a few minutes, in English), through ownership, `any`, `not` and age.
fn rule(i: usize, sku: &str) -> serde_json::Value {
    match i % 4 {
        0 => json!({"owns_product": {"product": "bench", "versions": {"from": 1}}}),
        1 => json!({"not": {"owns_product": {"product": "bench"}}}),
        2 => json!({"any": [{"owns_item": {"sku": sku}}, {"language": ["de"]}]}),
        _ => json!({"all": [{"license_older_than": {"days": 30}}, {"owns_product": {"product": "bench"}}]}),
    }
}

/// Answers `[("offers-list-licenses", ..), ("me-offers", ..)]`.
pub async fn measure(
    world: &World,
    duration: Duration,
    concurrency: usize,
) -> anyhow::Result<Vec<(String, Stats)>> {
    let sku = world.sku().to_owned();
    world
        .blocking(move |store, ctx| {
            // Five orders of ten: what a customer who bought over the years holds.
            World::customer_with_licenses(store, &ctx, (EMAIL, "Offers", PASSWORD), "O", &sku, LICENSES)?;
            for i in 0..OFFERS {
                let request = OfferRequest {
                    kind: ["update", "upgrade", "cross_sell", "renewal"][i % 4].to_owned(),
                    rule: rule(i, &sku),
                    title_en: format!("Offer {i}"),
                    title_de: format!("Angebot {i}"),
                    text_en: Some("A text of a few words, as offers have.".to_owned()),
                    text_de: None,
                    link: Some(format!("https://shop.example.com/offers/{i}")),
                    coupon_code: Some(format!("BENCH-{i}")),
                    starts_at: None,
                    ends_at: None,
                    priority: Some(i64::try_from(i % 7)?),
                    max_days_shown: None,
                };
                store.create_offer(&ctx, &request.parse()?)?;
            }
            Ok(())
        })
        .await?;
    // Planner statistics after the bulk seeding, as a database in service has them.
    world.analyze().await?;
    let server = world.serve_clients(false).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let token = crate::world::login(&server.base, EMAIL, PASSWORD).await?;
    // What the customer sees, once: the run is void unless it lists offers and licenses.
    let offers: serde_json::Value = client
        .get(format!("{}/api/v1/me/offers", server.base))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    anyhow::ensure!(
        offers.as_array().is_some_and(|o| o.len() == 10),
        "the customer sees ten offers: {offers}"
    );
    let mut out = Vec::new();
    for (label, path) in [("offers-list-licenses", "/api/v1/me/licenses"), ("me-offers", "/api/v1/me/offers")]
    {
        let (client, url, token) = (client.clone(), format!("{}{path}", server.base), token.clone());
        let stats = load::run(concurrency, duration, move |_| {
            let request = client.get(&url).bearer_auth(&token);
            load::send(request, |status| status.is_success())
        })
        .await;
        out.push((label.to_owned(), Stats { peak_rss_mb: server.peak_rss_mb(), ..stats }));
    }
    Ok(out)
}
