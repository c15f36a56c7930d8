//! The emulator's OAuth answers as real client code reads them: every token-endpoint error
//! carries `WWW-Authenticate: Bearer error="…", error_description="…"` (where the official
//! SDKs look) matching its JSON body, and scopes are read by one parser for every grant, the
//! lesson's comma-separated list included.

mod emu;

use dmflow::mock::state::{Config, DEMO_CLIENT_ID, DEMO_REDIRECT_URI};
use dmflow::oauth::pkce;
use emu::{Emu, auto, emulator, redirect_query, runtime, sdk_reads};
use serde_json::{Value, json};

/// The 21 scopes the lesson's Express app requests, as it writes them.
const LESSON_SCOPE: &str = "email, feed, manage_analytics, manage_app_connections, manage_applications, manage_claim_rules, manage_domains, manage_features, manage_history, manage_likes, manage_player, manage_players, manage_playlists, manage_podcasts, manage_records, manage_subscriptions, manage_subtitles, manage_user_settings, manage_videos, read_insights, userinfo";

fn lesson_names() -> Vec<&'static str> {
    LESSON_SCOPE.split(", ").collect()
}

/// Asserts a token error: status, JSON pair, and the same pair in `WWW-Authenticate` as the
/// Python SDK's pattern reads it.
fn token_error(
    answer: (u16, Value, reqwest::header::HeaderMap),
    status: u16,
    error: &str,
    description: &str,
) {
    let (got, body, headers) = answer;
    assert_eq!(got, status, "{body}");
    assert_eq!(
        body,
        json!({"error": error, "error_description": description})
    );
    let challenge = headers
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("no WWW-Authenticate on {error}"))
        .to_str()
        .unwrap();
    assert_eq!(
        challenge,
        format!(r#"Bearer error="{error}", error_description="{description}""#)
    );
    assert_eq!(
        sdk_reads(challenge),
        Some((error.to_string(), Some(description.to_string()))),
        "what the SDKs parse"
    );
    assert_eq!(headers["cache-control"], "no-store");
}

#[test]
fn every_token_error_carries_www_authenticate_with_its_json_pair() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        let wrong_password = emu
            .token_full(&[
                ("grant_type", "password"),
                ("username", "demo@dmflow.test"),
                ("password", "nope"),
            ])
            .await;
        token_error(wrong_password, 400, "invalid_grant", "Invalid credentials.");

        let verifier = pkce::new_verifier();
        let query = emu
            .authorize(&[
                ("code_challenge", &pkce::s256(&verifier)),
                ("code_challenge_method", "S256"),
            ])
            .await;
        let exchange = [
            ("grant_type", "authorization_code"),
            ("code", query["code"].as_str()),
            ("redirect_uri", DEMO_REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ];
        assert_eq!(emu.token_full(&exchange).await.0, 200);
        token_error(
            emu.token_full(&exchange).await,
            400,
            "invalid_grant",
            "Invalid authorization code.",
        );
        let unknown = [
            ("grant_type", "authorization_code"),
            ("code", "dmc.bogus.code"),
            ("redirect_uri", DEMO_REDIRECT_URI),
        ];
        token_error(
            emu.token_full(&unknown).await,
            400,
            "invalid_grant",
            "Invalid authorization code.",
        );

        let bad_client = emu
            .post(
                "/oauth/token",
                None,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", DEMO_CLIENT_ID),
                    ("client_secret", "not-the-secret"),
                ],
            )
            .await;
        token_error(
            bad_client,
            401,
            "invalid_client",
            "Invalid client credentials.",
        );

        let bad_refresh = emu
            .token_full(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "dmr.forged.token"),
            ])
            .await;
        token_error(bad_refresh, 400, "invalid_grant", "Invalid refresh token.");
        let unsupported = emu.token_full(&[("grant_type", "shiny")]).await;
        token_error(
            unsupported,
            400,
            "unsupported_grant_type",
            "Unsupported grant_type `shiny'.",
        );
        let no_grant = emu.token_full(&[]).await;
        token_error(
            no_grant,
            400,
            "invalid_request",
            "Missing grant_type parameter.",
        );
        let bad_scope = emu
            .token_full(&[
                ("grant_type", "client_credentials"),
                ("scope", "userinfo, root"),
            ])
            .await;
        token_error(bad_scope, 400, "invalid_scope", "Unknown scope `root'.");
    });
}

/// The consent page's request id, and the page.
async fn consent(
    emu: &Emu,
    scope: &str,
    challenge: &str,
) -> (String, String, reqwest::header::HeaderMap) {
    let response = emu
        .client
        .get(emu.url("/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT_ID),
            ("redirect_uri", DEMO_REDIRECT_URI),
            ("state", "st-9"),
            ("scope", scope),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    let page = response.text().await.unwrap();
    let request = page
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the consent form carries its request")
        .to_string();
    (request, page, headers)
}

#[test]
fn the_lessons_scope_string_works_through_consent_token_and_auth() {
    runtime().block_on(async {
        let emu = emulator(Config::default()).await;
        let verifier = pkce::new_verifier();
        let (request, page, headers) = consent(&emu, LESSON_SCOPE, &pkce::s256(&verifier)).await;
        assert_eq!(headers["cache-control"], "no-store");
        for name in lesson_names() {
            assert!(
                page.contains(&format!("<li><code>{name}</code></li>")),
                "the consent page lists {name}"
            );
        }
        let allowed = emu
            .client
            .post(emu.url("/oauth/authorize"))
            .form(&[("request", request.as_str()), ("decision", "allow")])
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status().as_u16(), 302);
        let query = redirect_query(&allowed);
        assert_eq!(query["state"], "st-9");
        let (status, tokens) = emu.exchange(&query["code"], &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(
            tokens["scope"],
            lesson_names().join(" "),
            "clean names, one space between"
        );
        let (_, auth, _) = emu.get("/auth", tokens["access_token"].as_str()).await;
        assert_eq!(
            auth["scope"],
            json!(lesson_names()),
            "/auth lists the 21 names"
        );
        assert_eq!(auth["scope"].as_array().unwrap().len(), 21);

        let (status, refreshed) = emu
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("scope", LESSON_SCOPE),
            ])
            .await;
        assert_eq!(
            (status, &refreshed["scope"]),
            (200, &tokens["scope"]),
            "a refresh keeps the granted scope"
        );
    });
}

#[test]
fn every_grant_reads_scopes_the_same_way() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        let emu = &emu;
        let password = |scope: &'static str| async move {
            emu.token(&[
                ("grant_type", "password"),
                ("username", "demo@dmflow.test"),
                ("password", "demo-password"),
                ("scope", scope),
            ])
            .await
        };
        let (status, body) = password(LESSON_SCOPE).await;
        assert_eq!(
            (status, body["scope"].as_str()),
            (200, Some(lesson_names().join(" ").as_str()))
        );
        let (_, auth, _) = emu.get("/auth", body["access_token"].as_str()).await;
        assert_eq!(auth["scope"], json!(lesson_names()));
        let (status, body) = emu
            .token(&[
                ("grant_type", "client_credentials"),
                ("scope", "userinfo,manage_videos"),
            ])
            .await;
        assert_eq!(
            (status, body["scope"].as_str()),
            (200, Some("userinfo manage_videos"))
        );

        let (status, body) = password("userinfo, bogus").await;
        assert_eq!(
            (
                status,
                body["error"].as_str(),
                body["error_description"].as_str()
            ),
            (400, Some("invalid_scope"), Some("Unknown scope `bogus'."))
        );
        let refused = emu
            .client
            .get(emu.url("/oauth/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", DEMO_CLIENT_ID),
                ("redirect_uri", DEMO_REDIRECT_URI),
                ("scope", "userinfo, bogus"),
            ])
            .send()
            .await
            .unwrap();
        let query = redirect_query(&refused);
        assert_eq!(
            (query["error"].as_str(), query["error_description"].as_str()),
            ("invalid_scope", "Unknown scope `bogus'.")
        );
        let legacy = emu.sign_in_with("read write delete").await;
        assert_eq!(
            legacy["scope"], "read write delete",
            "legacy scopes are known"
        );
    });
}
