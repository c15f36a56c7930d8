//! The Dailymotion emulator: every endpoint's success and error shapes, the grant rules, fault
//! injection, and the `dmflow mock` command.

mod common;
mod emu;

use dmflow::mock::state::{Config, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI};
use dmflow::oauth::pkce;
use emu::{auto, emulator, runtime};
use serde_json::{Value, json};

#[test]
fn authorization_code_grant_with_pkce_follows_the_documented_shape() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        let verifier = pkce::new_verifier();
        let challenge = pkce::s256(&verifier);
        let query = emu.authorize(&[("code_challenge", &challenge), ("code_challenge_method", "S256")]).await;
        assert_eq!(query["state"], "s-1", "state is echoed");
        let code = query["code"].clone();
        let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", DEMO_REDIRECT_URI), ("code_verifier", verifier.as_str())];
        let (status, body) = emu.token(&exchange).await;
        assert_eq!(status, 200);
        let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["access_token", "token_type", "expires_in", "scope", "refresh_token", "uid"]);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 36000);
        assert_eq!(body["scope"], "userinfo manage_videos");
        assert_eq!(body["uid"], "x7dmflw");
        let (status, body) = emu.token(&exchange).await;
        assert_eq!((status, body), (400, json!({"error": "invalid_grant", "error_description": "Invalid authorization code."})), "a code is single-use");
    });
}

#[test]
fn a_wrong_verifier_or_redirect_uri_is_refused() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        let challenge = pkce::s256(&pkce::new_verifier());
        let query = emu
            .authorize(&[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        let (status, body) = emu
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &query["code"]),
                ("redirect_uri", DEMO_REDIRECT_URI),
                ("code_verifier", &pkce::new_verifier()),
            ])
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let query = emu.authorize(&[]).await;
        let (status, body) = emu
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &query["code"]),
                ("redirect_uri", "http://127.0.0.1:8080/callback/other"),
            ])
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("redirect_uri_mismatch"))
        );
        let query = emu
            .authorize(&[
                (
                    "code_challenge",
                    "plain-verifier-value-long-enough-0123456789",
                ),
                ("code_challenge_method", "plain"),
            ])
            .await;
        let (status, _) = emu
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &query["code"]),
                ("redirect_uri", DEMO_REDIRECT_URI),
                (
                    "code_verifier",
                    "plain-verifier-value-long-enough-0123456789",
                ),
            ])
            .await;
        assert_eq!(status, 200, "plain PKCE works too");
    });
}

#[test]
fn refresh_rotates_and_the_old_token_is_refused() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        let first = emu.sign_in().await;
        let old = first["refresh_token"].as_str().unwrap();
        let (status, second) = emu.refresh(old).await;
        assert_eq!(status, 200);
        assert_ne!(second["refresh_token"], first["refresh_token"]);
        let (status, body) = emu.refresh(old).await;
        assert_eq!(
            (status, body),
            (
                400,
                json!({"error": "invalid_grant", "error_description": "Invalid refresh token."})
            )
        );
        let (status, _) = emu.refresh(second["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "the rotated token works");
    });
}

#[test]
fn password_client_credentials_and_client_authentication() {
    runtime().block_on(async {
        let emu = emulator(Config::default()).await;
        let (status, body) = emu
            .token(&[
                ("grant_type", "password"),
                ("username", "demo@dmflow.test"),
                ("password", "demo-password"),
                ("scope", "userinfo"),
            ])
            .await;
        assert_eq!(status, 200);
        assert!(body["refresh_token"].is_string());
        let (status, body) = emu
            .token(&[
                ("grant_type", "password"),
                ("username", "demo@dmflow.test"),
                ("password", "nope"),
            ])
            .await;
        assert_eq!(
            (status, body["error_description"].as_str()),
            (400, Some("Invalid credentials."))
        );
        let (status, body) = emu.token(&[("grant_type", "client_credentials")]).await;
        assert_eq!(status, 200);
        assert!(
            body.get("refresh_token").is_none() && body.get("uid").is_none(),
            "{body}"
        );
        let (status, body) = emu.token(&[("grant_type", "shiny")]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unsupported_grant_type"))
        );
        let basic = emu
            .client
            .post(format!("{}/oauth/token", emu.base))
            .basic_auth(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            basic.status().as_u16(),
            200,
            "HTTP Basic client authentication"
        );
        let bad = emu
            .client
            .post(format!("{}/oauth/token", emu.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", "wrong"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status().as_u16(), 401);
        assert_eq!(
            bad.json::<Value>().await.unwrap()["error"],
            "invalid_client"
        );
    });
}

#[test]
fn authorize_checks_client_redirect_and_scope_and_offers_a_consent_page() {
    runtime().block_on(async {
        let emu = emulator(Config {
            strict_redirect: true,
            ..Config::default()
        })
        .await;
        let get = |query: Vec<(&'static str, &'static str)>| {
            let request = emu
                .client
                .get(format!("{}/oauth/authorize", emu.base))
                .query(&query);
            async move { request.send().await.unwrap() }
        };
        let base = vec![
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT_ID),
            ("state", "st"),
        ];
        let unknown = get(vec![
            ("response_type", "code"),
            ("client_id", "nope"),
            ("redirect_uri", DEMO_REDIRECT_URI),
        ])
        .await;
        assert_eq!(unknown.status().as_u16(), 400);
        let mut q = base.clone();
        q.push(("redirect_uri", "http://127.0.0.1:9999/callback"));
        let mismatch = get(q).await;
        assert_eq!(
            mismatch.status().as_u16(),
            400,
            "strict: another port is refused"
        );
        assert!(
            mismatch
                .text()
                .await
                .unwrap()
                .contains("isn&#39;t allowed by `client_id&#39; configuration")
        );
        let mut q = base.clone();
        q.extend([
            ("redirect_uri", "http://127.0.0.1:8080/callback/my-slug"),
            ("scope", "bogus"),
        ]);
        let bad_scope = get(q).await;
        assert!(
            bad_scope.headers()["location"]
                .to_str()
                .unwrap()
                .contains("error=invalid_scope")
        );
        let mut q = base.clone();
        q.extend([("redirect_uri", DEMO_REDIRECT_URI), ("scope", "userinfo")]);
        let page = get(q).await;
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("Allow") && html.contains("Deny"));
        let request_id = html
            .split("name=\"request\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let deny = emu
            .client
            .post(format!("{}/oauth/authorize", emu.base))
            .form(&[("request", request_id.as_str()), ("decision", "deny")])
            .send()
            .await
            .unwrap();
        let location = deny.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location.starts_with(DEMO_REDIRECT_URI)
                && location.contains("error=access_denied")
                && location.contains("state=st"),
            "{location}"
        );
        let again = emu
            .client
            .post(format!("{}/oauth/authorize", emu.base))
            .form(&[("request", request_id.as_str()), ("decision", "allow")])
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 400, "a consent is answered once");
    });
}

#[test]
fn api_routes_answer_with_dailymotion_shapes() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        let token = emu.sign_in().await["access_token"].as_str().unwrap().to_string();
        let (status, body, _) = emu.get("/echo?message=hi%20there", None).await;
        assert_eq!((status, body), (200, json!({"message": "hi there"})));
        let (status, body, _) = emu.get("/echo", None).await;
        assert_eq!((status, body["error"]["type"].as_str(), body["error"]["code"].as_u64()), (400, Some("missing_required_parameter"), Some(400)));
        let (status, body, _) = emu.get("/auth", Some(&token)).await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"id": "x7dmflw", "scope": ["userinfo", "manage_videos"], "roles": [], "username": "dmflow-demo", "screenname": "dmflow Demo"}));
        let (_, body, _) = emu.get("/me?fields=id,username,videos_total", Some(&token)).await;
        assert_eq!(body, json!({"id": "x7dmflw", "username": "dmflow-demo", "videos_total": 57}));
        let (status, _, _) = emu.get("/me", None).await;
        assert_eq!(status, 403, "/me needs a user token");
        let (status, body, _) = emu.get("/me?fields=nope", Some(&token)).await;
        assert_eq!((status, body["error"]["type"].as_str()), (400, Some("invalid_parameter")));
        let (_, body, _) = emu.get("/user/x7dmflw", None).await;
        assert_eq!(body, json!({"id": "x7dmflw", "screenname": "dmflow Demo"}));
        let (_, body, _) = emu.get("/video/x7a00003", None).await;
        assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), ["id", "title", "channel", "owner"]);
        let (status, body, _) = emu.get("/video/xnotfound", None).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["error_data"], json!({"reason": "object_not_found", "object_type": "video", "object_id": "xnotfound", "param": "id"}));
        let (status, body, _) = emu.get("/user/x7dmflw/players", Some(&token)).await;
        assert_eq!(status, 403);
        assert_eq!(body["error"]["message"], "Insufficient rights for route GET /user/x7dmflw/players");
        let (status, _, _) = emu.get("/nowhere", None).await;
        assert_eq!(status, 404);
    });
}

#[test]
fn lists_page_with_the_envelope() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        let (_, first, _) = emu
            .get("/user/x7dmflw/videos?limit=25&fields=id", None)
            .await;
        assert_eq!(
            (
                first["page"].as_u64(),
                first["limit"].as_u64(),
                first["total"].as_u64(),
                first["has_more"].as_bool()
            ),
            (Some(1), Some(25), Some(57), Some(true))
        );
        assert_eq!(first["list"].as_array().unwrap().len(), 25);
        assert_eq!(first["list"][0], json!({"id": "x7a00001"}));
        let (_, last, _) = emu
            .get("/user/x7dmflw/videos?limit=25&page=3&fields=id", None)
            .await;
        assert_eq!(
            (
                last["has_more"].as_bool(),
                last["list"].as_array().unwrap().len()
            ),
            (Some(false), 7)
        );
        let (_, default, _) = emu.get("/user/x2cooks/videos", None).await;
        assert_eq!(default["limit"], 10, "limit defaults to 10");
        let (status, _, _) = emu.get("/user/x7dmflw/videos?limit=101", None).await;
        assert_eq!(status, 400, "limit is at most 100");
        let token = emu.sign_in().await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, mine, _) = emu.get("/me/videos?limit=5", Some(&token)).await;
        assert_eq!(mine["total"], 57);
    });
}

#[test]
fn tokens_travel_three_ways_and_bad_ones_get_invalid_token() {
    runtime().block_on(async {
        let emu = emulator(Config {
            auto_approve: true,
            token_ttl: 1,
            ..Config::default()
        })
        .await;
        let token = emu.sign_in().await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let oauth = emu
            .client
            .get(format!("{}/me", emu.base))
            .header("Authorization", format!("OAuth {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(oauth.status().as_u16(), 200);
        let (status, _, _) = emu.get(&format!("/me?access_token={token}"), None).await;
        assert_eq!(status, 200);
        let (status, body, headers) = emu.get("/me", Some("not-a-token")).await;
        assert_eq!((status, body["error"]["code"].as_u64()), (401, Some(401)));
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let (status, _, headers) = emu.get("/me", Some(&token)).await;
        assert_eq!(status, 401);
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("The access token has expired.")
        );
    });
}

#[test]
fn logout_revokes_the_whole_grant() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        let tokens = emu.sign_in().await;
        let access = tokens["access_token"].as_str().unwrap();
        let (status, body, _) = emu.get("/logout", Some(access)).await;
        assert_eq!((status, body), (200, json!({})));
        assert_eq!(emu.get("/me", Some(access)).await.0, 401);
        let (status, body) = emu.refresh(tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(
            (status, body["error_description"].as_str()),
            (400, Some("Invalid refresh token."))
        );
    });
}

#[test]
fn fault_injection() {
    runtime().block_on(async {
        let emu = emulator(auto()).await;
        let tokens = emu.sign_in().await;
        let post = |path: &str, form: Vec<(&str, String)>| {
            emu.client
                .post(format!("{}{path}", emu.base))
                .form(&form)
                .send()
        };
        assert_eq!(
            post("/_mock/fail-next-token", vec![])
                .await
                .unwrap()
                .status()
                .as_u16(),
            200
        );
        let failed = emu
            .client
            .post(format!("{}/oauth/token", emu.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(failed.status().as_u16(), 500);
        assert!(failed.text().await.unwrap().starts_with("<!doctype html>"));
        assert_eq!(
            emu.token(&[("grant_type", "client_credentials")]).await.0,
            200,
            "only the next one fails"
        );
        post(
            "/_mock/revoke",
            vec![(
                "token",
                tokens["refresh_token"].as_str().unwrap().to_string(),
            )],
        )
        .await
        .unwrap();
        assert_eq!(
            emu.refresh(tokens["refresh_token"].as_str().unwrap())
                .await
                .0,
            400
        );
        let fresh = emu.sign_in().await;
        post("/_mock/expire-tokens", vec![]).await.unwrap();
        assert_eq!(
            emu.get("/me", Some(fresh["access_token"].as_str().unwrap()))
                .await
                .0,
            401
        );
        post("/_mock/latency", vec![("ms", "150".to_string())])
            .await
            .unwrap();
        let started = std::time::Instant::now();
        emu.get("/echo?message=x", None).await;
        assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    });
}

#[test]
fn the_mock_command_prints_its_app_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dmflow"))
        .args(["mock", "--port", "0"])
        .env("DMFLOW_STATE_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let (status, body) = runtime().block_on(async {
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("{base}/echo?message=curl"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    });
    assert_eq!((status, body), (200, json!({"message": "curl"})));
    interrupt(child.id());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(DEMO_CLIENT_ID)
            && stderr.contains(DEMO_REDIRECT_URI)
            && stderr.contains("emulator stopped"),
        "{stderr}"
    );
}

fn interrupt(pid: u32) {
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
}
