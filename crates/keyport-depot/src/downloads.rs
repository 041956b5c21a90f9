//! Downloads: per owned product the releases the customer's licenses entitle them to, for
//! their operating system (read from the browser's `User-Agent`, with a switch), each file
//! with a short-lived signed link (the API's download route serves it).

use actix_web::http::StatusCode;
use actix_web::http::header::USER_AGENT;
use actix_web::{HttpRequest, HttpResponse, web};
use keyport_core::release::Os;
use keyport_store::DownloadLinks;
use serde::Deserialize;
use serde_json::json;

use crate::Depot;
use crate::render::{self, page, run};
use crate::session::Visitor;

/// Releases listed per product.
const RELEASES: usize = 5;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/downloads", web::get().to(downloads));
}

/// The operating system a browser runs on, from its `User-Agent` (none when it does not say).
pub(crate) fn os_of_user_agent(agent: &str) -> Option<Os> {
    // Android and iOS name Linux and Mac OS X too; neither runs desktop installers.
    if agent.contains("Android") || agent.contains("iPhone") || agent.contains("iPad") {
        None
    } else if agent.contains("Windows") {
        Some(Os::Windows)
    } else if agent.contains("Macintosh") || agent.contains("Mac OS X") {
        Some(Os::Macos)
    } else if agent.contains("Linux") || agent.contains("X11") {
        Some(Os::Linux)
    } else {
        None
    }
}

#[derive(Debug, Deserialize)]
struct DownloadsQuery {
    os: Option<String>,
}

async fn downloads(
    depot: web::Data<Depot>,
    visitor: Visitor,
    req: HttpRequest,
    query: web::Query<DownloadsQuery>,
) -> HttpResponse {
    let Some(login) = visitor.login.clone() else { return render::to_login() };
    // Without artifact storage this instance has no downloads page.
    let Some(base) = depot.settings.download_links.clone() else {
        return render::not_found(depot, visitor).await;
    };
    let os = match query.os.as_deref() {
        Some("all") => None,
        Some(name) => match Os::parse(name) {
            Ok(os) => Some(os),
            Err(e) => return render::refusal(&depot, &visitor, &e),
        },
        None => req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).and_then(os_of_user_agent),
    };
    let links = DownloadLinks { base: format!("{}/api/v1", base.origin(&req)), ttl: base.ttl };
    let (store, scope) = (depot.store.clone(), login.scope());
    match run(move || store.list_downloads(scope, None, os, RELEASES, &links, store.now())).await {
        Ok(view) => {
            let data = json!({"products": view.products, "os": os.map(Os::as_str).unwrap_or("all")});
            page(&depot, &visitor, StatusCode::OK, "downloads.html", data)
        }
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_os_is_read_from_common_browsers() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
                Some(Os::Windows),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.0 Safari/605.1.15",
                Some(Os::Macos),
            ),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", Some(Os::Linux)),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
                None,
            ),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15", None),
            ("curl/8.5.0", None),
        ];
        for (agent, os) in cases {
            assert_eq!(os_of_user_agent(agent), os, "{agent}");
        }
    }
}
