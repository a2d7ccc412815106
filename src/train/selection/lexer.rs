//! Tokens of the selection language (see [`super::expr`]) and the errors that point at them.

use crate::Error;

/// A byte range of the expression text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A number literal.
    Number(f64),
    /// A column, function or bit name.
    Name(String),
    /// An operator or punctuation: `|| && ! < <= > >= == != + - * / ( ) [ ] ,`.
    Symbol(&'static str),
    /// The end of the text.
    End,
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub span: Span,
}

impl Token {
    /// How the token reads in a message: `'&&'`, `'SNR'`, `the end of the expression`.
    pub fn describe(&self, text: &str) -> String {
        match self.kind {
            Kind::End => "the end of the expression".into(),
            _ => format!("'{}'", &text[self.span.start..self.span.end]),
        }
    }
}

/// Symbols, longest first so that `<=` is not read as `<` then `=`.
const SYMBOLS: [&str; 18] = [
    "||", "&&", "<=", ">=", "==", "!=", "<", ">", "!", "+", "-", "*", "/", "(", ")", "[", "]", ",",
];

/// Splits `text` into tokens, ending with [`Kind::End`].
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, Error> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        if c.is_whitespace() {
            at += c.len_utf8();
            continue;
        }
        let (kind, len) = if c.is_ascii_digit() || (c == '.' && starts_digit(text, at + 1)) {
            number(text, at)?
        } else if c.is_ascii_alphabetic() || c == '_' {
            let len = text[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len() - at);
            (Kind::Name(text[at..at + len].to_string()), len)
        } else if let Some(symbol) = SYMBOLS.iter().find(|s| text[at..].starts_with(**s)) {
            (Kind::Symbol(symbol), symbol.len())
        } else {
            return Err(unexpected_character(text, at, c));
        };
        tokens.push(Token {
            kind,
            span: Span {
                start: at,
                end: at + len,
            },
        });
        at += len;
    }
    tokens.push(Token {
        kind: Kind::End,
        span: Span {
            start: text.len(),
            end: text.len(),
        },
    });
    Ok(tokens)
}

/// Whether the byte at `at` is an ASCII digit.
fn starts_digit(text: &str, at: usize) -> bool {
    text.as_bytes().get(at).is_some_and(u8::is_ascii_digit)
}

/// A number literal at `at`: digits, an optional fraction and an optional exponent
/// (`12`, `0.5`, `.5`, `1e-3`, `2.5E+2`).
fn number(text: &str, at: usize) -> Result<(Kind, usize), Error> {
    let bytes = text.as_bytes();
    let digits = |mut i: usize| {
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut end = digits(at);
    if bytes.get(end) == Some(&b'.') {
        end = digits(end + 1);
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
        if !starts_digit(text, end + 1 + sign) {
            let span = Span {
                start: at,
                end: end + 1 + sign,
            };
            return Err(pointed(text, span, "a number's exponent needs digits"));
        }
        end = digits(end + 1 + sign);
    }
    // A name glued to a number (`2abc`) is a typo, not two tokens.
    if bytes
        .get(end)
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_' || *b == b'.')
    {
        let span = Span {
            start: at,
            end: end + 1,
        };
        return Err(pointed(text, span, "a malformed number"));
    }
    let value = text[at..end]
        .parse::<f64>()
        .map_err(|_| pointed(text, Span { start: at, end }, "a malformed number"))?;
    Ok((Kind::Number(value), end - at))
}

/// The error for a character that starts no token, with a hint for the usual mistakes.
fn unexpected_character(text: &str, at: usize, c: char) -> Error {
    let hint = match c {
        '=' => ": compare with '=='",
        '&' => ": 'and' is '&&'",
        '|' => ": 'or' is '||'",
        '"' | '\'' => ": the language has no strings",
        _ => "",
    };
    let span = Span {
        start: at,
        end: at + c.len_utf8(),
    };
    pointed(text, span, &format!("unexpected character '{c}'{hint}"))
}

/// An error about `span` of `text`: the message, then the expression and a line of carets
/// under the span (one caret past the end for the end of the text).
pub(crate) fn pointed(text: &str, span: Span, message: &str) -> Error {
    Error::Invalid(format!("{message}\n{}", caret_lines(text, span)))
}

/// The expression (whitespace shown as spaces, so that the carets line up) and the caret line
/// under `span`, both indented by two spaces.
pub(crate) fn caret_lines(text: &str, span: Span) -> String {
    let echo: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let column = text[..span.start].chars().count();
    let width = text[span.start..span.end].chars().count().max(1);
    format!("  {echo}\n  {}{}", " ".repeat(column), "^".repeat(width))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Kind> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn tokens_of_a_selection() {
        assert_eq!(
            kinds("SNR>=2e2&&!STARFLAG[ bad_pixels ]"),
            vec![
                Kind::Name("SNR".into()),
                Kind::Symbol(">="),
                Kind::Number(200.0),
                Kind::Symbol("&&"),
                Kind::Symbol("!"),
                Kind::Name("STARFLAG".into()),
                Kind::Symbol("["),
                Kind::Name("bad_pixels".into()),
                Kind::Symbol("]"),
                Kind::End,
            ]
        );
        assert_eq!(
            kinds(".5 1. 1e-3 2.5E+1"),
            vec![
                Kind::Number(0.5),
                Kind::Number(1.0),
                Kind::Number(1e-3),
                Kind::Number(25.0),
                Kind::End
            ]
        );
    }

    #[test]
    fn errors_point_at_the_character() {
        let err = tokenize("SNR = 2").unwrap_err().to_string();
        assert_eq!(
            err,
            "unexpected character '=': compare with '=='\n  SNR = 2\n      ^"
        );
        let err = tokenize("1e+ > x").unwrap_err().to_string();
        assert!(err.ends_with("\n  1e+ > x\n  ^^^"), "{err}");
        let err = tokenize("2abc").unwrap_err().to_string();
        assert!(err.starts_with("a malformed number"), "{err}");
        // Columns count characters, not bytes.
        let err = tokenize("é > ‰").unwrap_err().to_string();
        assert!(err.ends_with("\n  é > ‰\n  ^"), "{err}");
    }
}
