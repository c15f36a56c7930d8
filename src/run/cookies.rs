//! The cookie jar of one flow run: what a response's `Set-Cookie` headers store goes back,
//! as one `Cookie` header, on the later requests to the sites it belongs to (the domain,
//! path, expiry and `Secure` rules of RFC 6265, applied by the `cookie_store` crate).

use reqwest::header::HeaderValue;
use std::sync::Mutex;
use url::Url;

#[derive(Default)]
pub struct Jar(Mutex<cookie_store::CookieStore>);

impl Jar {
    /// Stores the cookies of a response from `url`; values that are not cookies are ignored,
    /// as browsers do.
    pub fn store<'h>(&self, set_cookie: impl Iterator<Item = &'h HeaderValue>, url: &Url) {
        let cookies = set_cookie
            .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
            .filter_map(|text| cookie::Cookie::parse(text).ok())
            .map(cookie::Cookie::into_owned);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .store_response_cookies(cookies, url);
    }

    /// The `Cookie` header for a request to `url`, when the jar holds cookies for it.
    pub fn header(&self, url: &Url) -> Option<HeaderValue> {
        let store = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut header = String::new();
        for (name, value) in store.get_request_values(url) {
            if !header.is_empty() {
                header.push_str("; ");
            }
            header.push_str(name);
            header.push('=');
            header.push_str(value);
        }
        (!header.is_empty())
            .then(|| HeaderValue::from_str(&header).ok())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn cookies_go_back_to_their_site_and_path_only() {
        let jar = Jar::default();
        let set = [
            HeaderValue::from_static("session=abc; Path=/"),
            HeaderValue::from_static("admin=1; Path=/admin"),
            HeaderValue::from_static("not a cookie"),
        ];
        jar.store(set.iter(), &url("http://127.0.0.1:8090/login"));
        assert_eq!(
            jar.header(&url("http://127.0.0.1:8090/me")).unwrap(),
            "session=abc"
        );
        let admin = jar.header(&url("http://127.0.0.1:8090/admin/x")).unwrap();
        let mut pairs: Vec<&str> = admin.to_str().unwrap().split("; ").collect();
        pairs.sort();
        assert_eq!(pairs, ["admin=1", "session=abc"]);
        assert_eq!(jar.header(&url("http://127.0.0.2:8090/me")), None);
    }

    #[test]
    fn an_expired_cookie_is_removed() {
        let jar = Jar::default();
        let site = url("http://127.0.0.1:8090/");
        jar.store([HeaderValue::from_static("s=1")].iter(), &site);
        jar.store([HeaderValue::from_static("s=; Max-Age=0")].iter(), &site);
        assert_eq!(jar.header(&site), None);
    }
}
