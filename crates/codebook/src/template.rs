//! A code's text as a template: `{name}` inserts the parameter `name`, `{{` and `}}` are
//! literal braces. Parsed once when the codebook is read; rendering only walks the pieces.

use parley_proto::value::is_param_name;

use crate::error::CodebookErrorKind;
use crate::schema::Piece;

/// Splits `text` into literal pieces and parameter names.
pub(crate) fn parse(text: &str) -> Result<Vec<Piece>, CodebookErrorKind> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, next)| next) == Some('{') => {
                chars.next();
                literal.push('{');
            }
            '{' => {
                let rest = &text[at + 1..];
                let Some(end) = rest.find('}') else {
                    return Err(CodebookErrorKind::BadPlaceholder("a `{` is never closed"));
                };
                let name = &rest[..end];
                if !is_param_name(name) {
                    return Err(CodebookErrorKind::BadPlaceholder(
                        "a placeholder must be a parameter name, like {time}",
                    ));
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Param(name.to_owned()));
                // Skip the name and its closing brace: all ASCII, one char per byte.
                for _ in 0..=name.len() {
                    chars.next();
                }
            }
            '}' if chars.peek().map(|&(_, next)| next) == Some('}') => {
                chars.next();
                literal.push('}');
            }
            '}' => return Err(CodebookErrorKind::BadPlaceholder("a lone `}`")),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Result<Vec<Piece>, &str>) {
        let got = parse(text).map_err(|kind| kind.to_string());
        let expect = expect.map_err(str::to_owned);
        assert_eq!(got, expect, "{text:?}");
    }

    fn lit(text: &str) -> Piece {
        Piece::Literal(text.into())
    }

    fn param(name: &str) -> Piece {
        Piece::Param(name.into())
    }

    #[test]
    fn templates() {
        check("", Ok(vec![]));
        check("plain", Ok(vec![lit("plain")]));
        check("at {time}.", Ok(vec![lit("at "), param("time"), lit(".")]));
        check("{a}{b}", Ok(vec![param("a"), param("b")]));
        check("{{x}} {{", Ok(vec![lit("{x} {")]));
        check("в {time} ч", Ok(vec![lit("в "), param("time"), lit(" ч")]));
        check("{{{a}}}", Ok(vec![lit("{"), param("a"), lit("}")]));
        let unclosed = "a `{` is never closed; write {{ and }} for literal braces";
        check("at {time", Err(unclosed));
        check("{", Err(unclosed));
        let lone = "a lone `}`; write {{ and }} for literal braces";
        check("a } b", Err(lone));
        check("{a}}", Err(lone));
        let not_name = "a placeholder must be a parameter name, like {time}; write {{ and }} for literal braces";
        check("{}", Err(not_name));
        check("{Time}", Err(not_name));
        check("{a b}", Err(not_name));
        check("{время}", Err(not_name));
        check("{a{b}", Err(not_name));
    }
}
