//! RFC 6749 errors (§4.1.2.1 on the redirect, §5.2 from the token endpoint) in words that say
//! what to do next. Provider-specific advice comes from the provider's profile, and "sign in
//! again" names the sign-in the user actually ran.

use crate::provider::Profile;
use crate::run::error::StepError;

/// Which request got the error, for the advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    AuthorizationCode,
    Password,
    ClientCredentials,
    Refresh,
}

impl Grant {
    pub fn name(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::Password => "password",
            Grant::ClientCredentials => "client_credentials",
            Grant::Refresh => "refresh_token",
        }
    }
}

/// What helps after an error: the provider (if known) and how the user signs in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Advice<'a> {
    pub provider: Option<&'static Profile>,
    /// The command that signs in again (`dmflow run flows/login.yaml`), when known.
    pub sign_in: Option<&'a str>,
}

impl Advice<'_> {
    /// "sign in again" with the command when it is known.
    pub fn sign_in_again(&self) -> String {
        match self.sign_in {
            Some(command) => format!("sign in again: {command}"),
            None => "sign in again (run the flow that signs in)".to_string(),
        }
    }

    /// The advice for a token-endpoint error code.
    pub fn token(&self, error: &str, grant: Grant) -> String {
        match (error, grant) {
            ("invalid_grant", Grant::Refresh) => format!(
                "the refresh token is no longer valid (revoked, expired, or already used after a rotation): {}",
                self.sign_in_again()
            ),
            ("invalid_grant", Grant::AuthorizationCode) => format!(
                "authorization codes are single-use and short-lived, and must come with the same redirect_uri and PKCE verifier as the authorize step: {}",
                self.sign_in_again()
            ),
            ("invalid_grant", Grant::Password) => match self.provider {
                Some(p) => format!("check the username and password ({})", p.password_hint),
                None => "check the username and password".into(),
            },
            ("invalid_grant", Grant::ClientCredentials) => {
                "the provider refused these client credentials for this grant".into()
            }
            ("invalid_client", _) => {
                let keys = match self.provider {
                    Some(p) => format!("check {} and {}", p.key_env, p.secret_env),
                    None => "check the client_id and client_secret".into(),
                };
                format!(
                    "the client id or secret was refused: {keys}, and whether the provider wants them in the form (client_auth: form) or as HTTP Basic (client_auth: basic)"
                )
            }
            ("redirect_uri_mismatch", _) => {
                "the redirect URI must equal, byte for byte, the one registered for the client; set oauth.redirect_uri to it".into()
            }
            ("unauthorized_client", _) => {
                "this client is not allowed to use this grant type; check its settings with the provider".into()
            }
            ("unsupported_grant_type", _) => {
                "the provider does not offer this grant; check `grant:` in the token step".into()
            }
            ("invalid_scope", _) => {
                "one of the requested scopes is unknown or not allowed for this client; check `scope:`".into()
            }
            ("invalid_request", _) => {
                "the request is missing a parameter the provider wants; check the step's fields".into()
            }
            ("server_error" | "temporarily_unavailable", _) => {
                "the provider has a problem; try again in a moment".into()
            }
            _ => "see the provider's documentation for this error".into(),
        }
    }

    /// A refused token request.
    pub fn token_refused(
        &self,
        status: u16,
        error: &str,
        description: Option<&str>,
        grant: Grant,
    ) -> StepError {
        let detail = description.map(|d| format!(": {d}")).unwrap_or_default();
        let message = format!("the token endpoint refused ({status} {error}{detail})");
        let help = Some(self.token(error, grant));
        if status >= 500 {
            StepError::Runtime { message, help }
        } else {
            StepError::Refused { message, help }
        }
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
            "a requested scope is unknown or not allowed for this client; check `scope:`"
        }
        "unauthorized_client" => "this client may not use the authorization code grant",
        "unsupported_response_type" => {
            "the provider does not accept response_type=code for this client"
        }
        "redirect_uri_mismatch" => {
            "the redirect URI must equal the one registered for the client, byte for byte"
        }
        "server_error" | "temporarily_unavailable" => {
            "the provider has a problem; try again in a moment"
        }
        _ => "the provider refused the authorization request",
    };
    StepError::refused(
        format!("the provider refused the sign-in ({error}{detail})"),
        Some(help),
    )
}
