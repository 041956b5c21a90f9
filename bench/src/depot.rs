//! The web depot's license overview (`GET /depot/licenses`, an HTML page rendered on the
//! server) for a customer with 50 licenses, against `GET /api/v1/me/licenses` of the same
//! customer on the same server in the same run (the JSON a portal reads for the same page).

use std::time::Duration;

use crate::load::{self, Stats};
use crate::world::World;

const EMAIL: &str = "depot@bench.example";
const PASSWORD: &str = "bench password 1";
/// Licenses of the customer.
pub const LICENSES: u32 = 50;

/// Logs in through the depot's form as a browser does: the login page for the CSRF cookie
/// and token, then the form; answers the `Cookie` header of the session.
async fn depot_login(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let page = client.get(format!("{base}/depot/login")).send().await?.error_for_status()?;
    let csrf_cookie = cookie(&page, "kp_csrf")?;
    let html = page.text().await?;
    let at =
        html.find("name=\"csrf\" value=\"").ok_or_else(|| anyhow::anyhow!("no form on the login page"))?;
    let token = html.get(at + 19..at + 19 + 64).ok_or_else(|| anyhow::anyhow!("no CSRF token"))?;
    let answer = client
        .post(format!("{base}/depot/login"))
        .header("Cookie", format!("kp_csrf={csrf_cookie}"))
        .form(&[("csrf", token), ("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await?;
    anyhow::ensure!(answer.status().as_u16() == 303, "the depot login answered {}", answer.status());
    Ok(format!("kp_csrf={csrf_cookie}; kp_depot={}", cookie(&answer, "kp_depot")?))
}

fn cookie(response: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_owned())
        })
        .ok_or_else(|| anyhow::anyhow!("no {name} cookie"))
}

/// Answers `[("depot-list-licenses", ..), ("depot-licenses-page", ..)]`.
pub async fn measure(
    world: &World,
    duration: Duration,
    concurrency: usize,
) -> anyhow::Result<Vec<(String, Stats)>> {
    let sku = world.sku().to_owned();
    world
        .blocking(move |store, ctx| {
            World::customer_with_licenses(store, &ctx, (EMAIL, "Depot", PASSWORD), "D", &sku, LICENSES)
        })
        .await?;
    world.analyze().await?;
    let server = world.serve_clients(false).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let token = crate::world::login(&server.base, EMAIL, PASSWORD).await?;
    let cookies = depot_login(&client, &server.base).await?;
    // What the customer sees, once: the run is void unless the page lists every license.
    let page = client
        .get(format!("{}/depot/licenses", server.base))
        .header("Cookie", &cookies)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let listed = page.matches("data-license=").count();
    anyhow::ensure!(listed == LICENSES as usize, "the overview lists {listed} licenses, not {LICENSES}");
    // Each is measured twice, alternating, and the second round is kept: the first round
    // warms the server and the database for both (a page measured first came out slower
    // than the same page measured second).
    let mut out = Vec::new();
    let scenarios = [
        ("depot-list-licenses", "/api/v1/me/licenses", false),
        ("depot-licenses-page", "/depot/licenses", true),
    ];
    for (round, (label, path, depot)) in scenarios.iter().chain(scenarios.iter()).copied().enumerate() {
        let (client, url, token, cookies) =
            (client.clone(), format!("{}{path}", server.base), token.clone(), cookies.clone());
        let stats = load::run(concurrency, duration, move |_| {
            let request = match depot {
                true => client.get(&url).header("Cookie", &cookies),
                false => client.get(&url).bearer_auth(&token),
            };
            load::send(request, |status| status.as_u16() == 200)
        })
        .await;
        if round >= scenarios.len() {
            out.push((label.to_owned(), Stats { peak_rss_mb: server.peak_rss_mb(), ..stats }));
        }
    }
    Ok(out)
}
