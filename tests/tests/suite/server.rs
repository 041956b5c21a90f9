use std::net::TcpListener;

use keyport_server::Application;
use keyport_tests::Fixture;

/// Serves the fixture's store on port 0 and returns its base URL.
async fn spawn(f: &Fixture) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::with_store(listener, f.store.clone()).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

#[test]
fn readyz_answers_when_the_database_does_and_every_answer_carries_a_request_id() {
    Fixture::each(|f| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let base = spawn(f).await;
            let client = reqwest::Client::new();
            let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
            assert_eq!(ready.status(), 200);
            let id = ready.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
            assert!(id.is_some_and(|id| id.len() >= 32), "a request id header");
            assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["status"], "ready");
            let health = client.get(format!("{base}/healthz")).send().await.unwrap();
            assert_eq!(health.status(), 200);
        });
    });
}
