//! HTML escaping for the pages dmflow serves (the callback page, the emulator's pages).

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            super::escape("<b>\"x\"&'"),
            "&lt;b&gt;&quot;x&quot;&amp;&#39;"
        );
    }
}
