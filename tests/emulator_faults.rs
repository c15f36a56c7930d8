//! Fault injection that fits tests: canned failures for any route (status, body, `Retry-After`,
//! count), `fail-next-token` as its alias, and `expire-tokens` by kind, so a client's retry
//! and auto-refresh paths can be exercised.

mod emu;

use emu::{auto, emulator, read, runtime};
use serde_json::json;

#[test]
fn fail_next_answers_the_chosen_routes_count_times_then_lets_them_through() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        let token = emu.access_token("userinfo").await;
        let (status, body, _) = emu
            .post(
                "/_mock/fail-next",
                None,
                &[
                    ("path", "/me"),
                    ("status", "429"),
                    ("retry_after", "2"),
                    ("count", "2"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        for _ in 0..2 {
            let (status, body, headers) = emu.get("/me", Some(&token)).await;
            assert_eq!(
                (status, headers["retry-after"].to_str().unwrap()),
                (429, "2")
            );
            assert_eq!(
                (
                    body["error"]["code"].as_u64(),
                    body["error"]["type"].as_str()
                ),
                (Some(429), Some("rate_limit_exceeded"))
            );
        }
        assert_eq!(
            emu.get("/me", Some(&token)).await.0,
            200,
            "only count answers fail"
        );
        assert_eq!(
            emu.get("/echo?message=x", None).await.0,
            200,
            "other routes untouched"
        );

        emu.post(
            "/_mock/fail-next",
            None,
            &[
                ("path", "/video/*"),
                ("method", "GET"),
                ("status", "500"),
                ("format", "html"),
            ],
        )
        .await;
        let page = emu
            .client
            .get(emu.url("/video/x7a00001"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 500);
        assert!(
            page.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("Quelque chose s'est mal passé")
        );

        emu.post(
            "/_mock/fail-next",
            None,
            &[
                ("status", "503"),
                ("body", r#"{"error":"down for maintenance"}"#),
            ],
        )
        .await;
        let (status, body, headers) = emu.get("/user/x7dmflw", None).await;
        assert_eq!(
            (status, body),
            (503, json!({"error": "down for maintenance"})),
            "no path: the next request of any route"
        );
        assert_eq!(headers["content-type"], "application/json");

        emu.post(
            "/_mock/fail-next",
            None,
            &[("path", "/oauth/token"), ("status", "502"), ("count", "5")],
        )
        .await;
        let (status, _, _) = emu.post("/_mock/reset", None, &[]).await;
        assert_eq!(status, 200);
        assert_eq!(
            emu.token(&[("grant_type", "client_credentials")]).await.0,
            200,
            "reset clears pending failures"
        );

        let (status, _, _) = emu
            .post("/_mock/fail-next", None, &[("status", "99")])
            .await;
        assert_eq!(status, 400, "a status must be an HTTP status");
        let (status, _, _) = emu.post("/_mock/fail-next", None, &[("count", "0")]).await;
        assert_eq!(status, 400);
    });
}

#[test]
fn fail_next_token_still_gives_the_html_500_count_times() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        emu.post("/_mock/fail-next-token?count=2", None, &[]).await;
        for _ in 0..2 {
            let response = emu
                .client
                .post(emu.url("/oauth/v1/token"))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 500);
            assert!(
                response
                    .text()
                    .await
                    .unwrap()
                    .starts_with("<!doctype html>")
            );
        }
        assert_eq!(
            emu.token(&[("grant_type", "client_credentials")]).await.0,
            200
        );
    });
}

#[test]
fn expire_tokens_by_kind_leaves_the_refresh_path_open_by_default() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        let tokens = emu.sign_in().await;
        let access = tokens["access_token"].as_str().unwrap();
        let (status, body, _) = emu.post("/_mock/expire-tokens", None, &[]).await;
        assert_eq!(
            (status, body["kind"].as_str()),
            (200, Some("access")),
            "access by default"
        );
        let (status, _, headers) = emu.get("/me", Some(access)).await;
        assert_eq!(status, 401);
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("The access token has expired.")
        );
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let (status, renewed) = emu.refresh(refresh).await;
        assert_eq!(status, 200, "the refresh token still works: {renewed}");
        assert_eq!(
            emu.get("/me", renewed["access_token"].as_str()).await.0,
            200
        );

        let response = emu
            .client
            .post(emu.url("/_mock/expire-tokens?kind=refresh"))
            .send()
            .await
            .unwrap();
        assert_eq!(read(response).await.0, 200);
        assert_eq!(
            emu.get("/me", renewed["access_token"].as_str()).await.0,
            200,
            "access tokens untouched"
        );
        let (status, body) = emu
            .refresh(renewed["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );

        let fresh = emu.sign_in().await;
        emu.post("/_mock/expire-tokens", None, &[("kind", "all")])
            .await;
        assert_eq!(emu.get("/me", fresh["access_token"].as_str()).await.0, 401);
        let (status, _) = emu.refresh(fresh["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 400);
        let (status, _, _) = emu
            .post("/_mock/expire-tokens", None, &[("kind", "some")])
            .await;
        assert_eq!(status, 400);
    });
}
