//! Durations as users write them: `30s`, `500ms`, `2m`, `1h 30m`, or a bare number of seconds.

use std::time::Duration;

pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        return Ok(Duration::from_secs_f64(seconds));
    }
    let span: jiff::SignedDuration = text.parse().map_err(|_| {
        format!("`{text}` is not a duration: write it like 30s, 500ms, 2m or 1h 30m")
    })?;
    if span.is_negative() {
        return Err(format!("`{text}` is negative: durations must be positive"));
    }
    Ok(span.unsigned_abs())
}

/// Parses a rendered duration, pointing at its template on failure.
pub fn parse_at(
    rendered: &str,
    pos: crate::diagnostic::Pos,
) -> Result<Duration, super::error::StepError> {
    parse(rendered).map_err(|message| super::error::StepError::Invalid {
        message,
        pos: Some(pos),
        help: None,
    })
}

/// A duration as people read it: `850 ms`, `2.4 s`, `3 min`.
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} min", d.as_secs() / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse("soon").is_err());
        assert!(parse("-3s").is_err());
    }
}
