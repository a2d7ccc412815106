//! FITS header records read as text: `(keyword, value)` pairs, strings unquoted and long
//! strings joined back from their `CONTINUE` records. Below both readers of headers, CFITSIO's
//! (`fits`) and the stream of raw records (`fits_stream`).

/// Parses header records into `(keyword, value text)` (see `read_primary_cards`).
pub fn parse_cards(records: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    // Whether the previous card was a string ending in '&' that CONTINUE may extend.
    let mut continuable = false;
    for record in records {
        let record = record.trim_end_matches('\0');
        let key_field: String = record.chars().take(8).collect();
        let key = key_field.trim().to_string();
        if key == "END" {
            break;
        }
        let rest: String = record.chars().skip(8).collect();
        if key == "CONTINUE" {
            if continuable {
                if let (value, true) = parse_value(&rest) {
                    if let Some(last) = out.last_mut() {
                        last.1.pop(); // the '&'
                        last.1.push_str(&value);
                        continuable = last.1.ends_with('&');
                        continue;
                    }
                }
            }
            continuable = false;
            out.push((key, rest.trim().to_string()));
            continue;
        }
        if key == "HIERARCH" {
            if let Some(eq) = rest.find('=') {
                let name = rest[..eq].trim().to_string();
                let (value, is_str) = parse_value(&rest[eq + 1..]);
                continuable = is_str && value.ends_with('&');
                out.push((name, value));
                continue;
            }
        }
        if let Some(field) = rest.strip_prefix("= ") {
            let (value, is_str) = parse_value(field);
            continuable = is_str && value.ends_with('&');
            out.push((key, value));
        } else {
            continuable = false;
            out.push((key, rest.trim_end().to_string()));
        }
    }
    out
}

/// The value in a card's value field: `(text, is_string)`.
fn parse_value(field: &str) -> (String, bool) {
    let field = field.trim_start();
    if let Some(body) = field.strip_prefix('\'') {
        let mut value = String::new();
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    value.push('\'');
                    chars.next();
                } else {
                    break;
                }
            } else {
                value.push(c);
            }
        }
        (value.trim_end().to_string(), true)
    } else {
        let end = field.find('/').unwrap_or(field.len());
        (field[..end].trim().to_string(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cards_and_joins_continue() {
        let records = vec![
            "SIMPLE  =                    T / conforms".to_string(),
            "NAME    = 'it''s a &'".to_string(),
            "CONTINUE  'long &'".to_string(),
            "CONTINUE  'value'".to_string(),
            "X       =                  1.5 / comment".to_string(),
            "COMMENT some text".to_string(),
            "HIERARCH LONG KEY NAME = 'v'".to_string(),
        ];
        let cards = parse_cards(&records);
        assert_eq!(
            cards,
            vec![
                ("SIMPLE".into(), "T".into()),
                ("NAME".into(), "it's a long value".into()),
                ("X".into(), "1.5".into()),
                ("COMMENT".into(), "some text".into()),
                ("LONG KEY NAME".into(), "v".into()),
            ]
        );
    }
}
