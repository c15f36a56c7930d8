//! RFC 6749 errors (§4.1.2.1 on the redirect, §5.2 from the token endpoint) in words that say
//! what to do next.

use crate::run::StepError;

/// Which request got the error, for the advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    AuthorizationCode,
    Password,
    ClientCredentials,
    Refresh,
}

/// The advice for a token-endpoint error code.
pub fn token_advice(error: &str, grant: Grant) -> String {
    match (error, grant) {
        ("invalid_grant", Grant::Refresh) => {
            "the refresh token is no longer valid (revoked, expired, or already used after a rotation): sign in again with flows/login.yaml".into()
        }
        ("invalid_grant", Grant::AuthorizationCode) => {
            "authorization codes are single-use and short-lived, and must come with the same redirect_uri and PKCE verifier as the authorize step: sign in again with flows/login.yaml".into()
        }
        ("invalid_grant", Grant::Password) => {
            "check the username and password (Dailymotion wants the account's email address as the username)".into()
        }
        ("invalid_grant", Grant::ClientCredentials) => "the provider refused these client credentials for this grant".into(),
        ("invalid_client", _) => {
            "the API key or secret was refused: check DM_API_KEY and DM_API_SECRET, and whether the provider wants them in the form (client_auth: form) or as HTTP Basic (client_auth: basic)".into()
        }
        ("redirect_uri_mismatch", _) => {
            "the redirect URI must equal, byte for byte, the Callback URL registered with your API key; set oauth.redirect_uri to it".into()
        }
        ("unauthorized_client", _) => "this API key is not allowed to use this grant type; check the key's settings with the provider".into(),
        ("unsupported_grant_type", _) => "the provider does not offer this grant; check `grant:` in the token step".into(),
        ("invalid_scope", _) => "one of the requested scopes is unknown or not allowed for this key; check `scope:`".into(),
        ("invalid_request", _) => "the request is missing a parameter the provider wants; check the step's fields".into(),
        ("server_error" | "temporarily_unavailable", _) => "the provider has a problem; try again in a moment".into(),
        _ => "see the provider's documentation for this error".into(),
    }
}

/// A refused token request.
pub fn token_refused(
    status: u16,
    error: &str,
    description: Option<&str>,
    grant: Grant,
) -> StepError {
    let detail = description.map(|d| format!(": {d}")).unwrap_or_default();
    StepError::Refused {
        message: format!("the token endpoint refused ({status} {error}{detail})"),
        help: Some(token_advice(error, grant)),
    }
}

/// An error the provider sent back on the redirect instead of a code.
pub fn authorization_refused(error: &str, description: Option<&str>) -> StepError {
    let detail = description.map(|d| format!(": {d}")).unwrap_or_default();
    let help = match error {
        "access_denied" => {
            "the sign-in was denied (the user clicked Deny, or closed the consent page); run the flow again to retry"
        }
        "invalid_scope" => {
            "a requested scope is unknown or not allowed for this key; check `scope:`"
        }
        "unauthorized_client" => "this API key may not use the authorization code grant",
        "unsupported_response_type" => {
            "the provider does not accept response_type=code for this key"
        }
        "redirect_uri_mismatch" => {
            "the redirect URI must equal the Callback URL registered with your API key, byte for byte"
        }
        "server_error" | "temporarily_unavailable" => {
            "the provider has a problem; try again in a moment"
        }
        _ => "the provider refused the authorization request",
    };
    StepError::Refused {
        message: format!("the provider refused the sign-in ({error}{detail})"),
        help: Some(help.into()),
    }
}
