//! The filter language of every listing: SCIM filter syntax (RFC 7644 §3.4.2.2) parsed into an
//! AST that surfaces build or parse and the store compiles to SQL.
//!
//! Grammar, loosest binding first: `or`, `and`, `not ( … )`, then an attribute expression
//! (`path pr`, `path op value`), a value path (`emails[type eq "work"]`) or `( … )`. Keywords
//! and operators are case-insensitive; string values are JSON strings. Inputs are bounded in
//! length, nesting and number of terms, and every error names its byte position.
//!
//! Written by hand rather than generated: the grammar is a dozen rules, and a hand-written
//! parser reports positions and enforces the budgets where they arise.

use std::fmt;

use serde_json::Number;

/// Longest accepted filter, in bytes.
pub const MAX_LENGTH: usize = 4096;
/// Deepest nesting of parentheses, `not` and value paths.
pub const MAX_DEPTH: usize = 16;
/// Most attribute expressions in one filter.
pub const MAX_TERMS: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `path pr`: the attribute has a non-empty value.
    Present(AttrPath),
    Compare(AttrPath, CompareOp, Value),
    /// `path[filter]`: some element of the multi-valued `path` matches `filter`, whose paths are
    /// relative to the element.
    Elements(AttrPath, Box<Filter>),
}

/// An attribute, e.g. `name.family`, `emails.value`, `claims.loyalty.tier`, optionally behind a
/// schema URN (`urn:ietf:params:scim:schemas:core:2.0:User:userName`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub schema: Option<String>,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Number(Number),
    Bool(bool),
    Null,
}

/// Why a filter was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct ParseError {
    /// Byte offset into the filter.
    pub position: usize,
    pub message: String,
}

impl CompareOp {
    const ALL: [(CompareOp, &'static str); 9] = [
        (CompareOp::Eq, "eq"),
        (CompareOp::Ne, "ne"),
        (CompareOp::Co, "co"),
        (CompareOp::Sw, "sw"),
        (CompareOp::Ew, "ew"),
        (CompareOp::Gt, "gt"),
        (CompareOp::Ge, "ge"),
        (CompareOp::Lt, "lt"),
        (CompareOp::Le, "le"),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(op, _)| *op == self).map_or("eq", |(_, s)| s)
    }

    fn parse(word: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, s)| s.eq_ignore_ascii_case(word)).map(|(op, _)| *op)
    }
}

impl AttrPath {
    /// A path of plain names, e.g. `AttrPath::new(["name", "family"])`.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        AttrPath { schema: None, names: names.into_iter().map(Into::into).collect() }
    }

    /// The names joined by dots, without the schema.
    pub fn dotted(&self) -> String {
        self.names.join(".")
    }
}

impl Filter {
    /// Parses a filter within the budgets.
    pub fn parse(input: &str) -> Result<Filter, ParseError> {
        if input.len() > MAX_LENGTH {
            return Err(ParseError {
                position: MAX_LENGTH,
                message: format!("longer than {MAX_LENGTH} bytes"),
            });
        }
        let tokens = lex(input)?;
        let mut parser = Parser { tokens, pos: 0, depth: 0, terms: 0, end: input.len() };
        let filter = parser.or()?;
        match parser.peek() {
            None => Ok(filter),
            Some(t) => Err(parser.error_at(t.at, format!("unexpected {}", t.kind.describe()))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A keyword, operator, attribute path or literal word (`true`, `false`, `null`).
    Word(String),
    String(String),
    Number(Number),
}

impl Kind {
    fn describe(&self) -> String {
        match self {
            Kind::LParen => "`(`".to_owned(),
            Kind::RParen => "`)`".to_owned(),
            Kind::LBracket => "`[`".to_owned(),
            Kind::RBracket => "`]`".to_owned(),
            Kind::Word(w) => format!("`{w}`"),
            Kind::String(_) => "a string".to_owned(),
            Kind::Number(_) => "a number".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    at: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '$')
}

fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        let single = match c {
            ' ' | '\t' | '\n' | '\r' => None,
            '(' => Some(Kind::LParen),
            ')' => Some(Kind::RParen),
            '[' => Some(Kind::LBracket),
            ']' => Some(Kind::RBracket),
            _ => {
                let kind = if c == '"' {
                    lex_string(input, at, &mut chars)?
                } else if c == '-' || c.is_ascii_digit() {
                    lex_number(input, at, &mut chars)?
                } else if is_word_char(c) {
                    let mut end = at;
                    while let Some(&(i, c)) = chars.peek() {
                        if !is_word_char(c) {
                            break;
                        }
                        end = i + c.len_utf8();
                        chars.next();
                    }
                    Kind::Word(input[at..end].to_owned())
                } else {
                    return Err(ParseError {
                        position: at,
                        message: format!("unexpected character {c:?}"),
                    });
                };
                tokens.push(Token { kind, at });
                continue;
            }
        };
        chars.next();
        if let Some(kind) = single {
            tokens.push(Token { kind, at });
        }
    }
    Ok(tokens)
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// A JSON string literal, unescaped by serde_json.
fn lex_string(input: &str, at: usize, chars: &mut Chars<'_>) -> Result<Kind, ParseError> {
    chars.next(); // the opening quote
    let mut escaped = false;
    for (i, c) in chars.by_ref() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => {
                return serde_json::from_str(&input[at..=i]).map(Kind::String).map_err(|_| {
                    ParseError { position: at, message: "invalid string literal".to_owned() }
                });
            }
            _ => {}
        }
    }
    Err(ParseError { position: at, message: "unterminated string".to_owned() })
}

fn lex_number(input: &str, at: usize, chars: &mut Chars<'_>) -> Result<Kind, ParseError> {
    let mut end = at;
    while let Some(&(i, c)) = chars.peek() {
        if !(c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.')) {
            break;
        }
        end = i + c.len_utf8();
        chars.next();
    }
    // Integers stay exact; other numbers go through the standard library's correctly rounded
    // float parser, so that printing and parsing again gives the same value.
    let text = &input[at..end];
    let number = text
        .parse::<i64>()
        .map(Number::from)
        .or_else(|_| text.parse::<u64>().map(Number::from))
        .ok()
        .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64));
    number
        .map(Kind::Number)
        .ok_or_else(|| ParseError { position: at, message: format!("invalid number `{text}`") })
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    terms: usize,
    /// Length of the input, the position of "end of input".
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |t| t.at)
    }

    fn error_at(&self, position: usize, message: impl Into<String>) -> ParseError {
        ParseError { position, message: message.into() }
    }

    fn keyword(&mut self, word: &str) -> bool {
        let found = matches!(self.peek(), Some(Token { kind: Kind::Word(w), .. }) if w.eq_ignore_ascii_case(word));
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, kind: Kind) -> Result<(), ParseError> {
        match self.next() {
            Some(t) if t.kind == kind => Ok(()),
            Some(t) => Err(self.error_at(
                t.at,
                format!("expected {}, found {}", kind.describe(), t.kind.describe()),
            )),
            None => {
                Err(self.error_at(self.end, format!("expected {}, found the end", kind.describe())))
            }
        }
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.here(), format!("nested deeper than {MAX_DEPTH}")));
        }
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn or(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.not()?;
        while self.keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, ParseError> {
        if self.keyword("not") {
            self.expect(Kind::LParen)?;
            let inner = self.nested(Self::or)?;
            self.expect(Kind::RParen)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Filter, ParseError> {
        let at = self.here();
        match self.next() {
            Some(Token { kind: Kind::LParen, .. }) => {
                let inner = self.nested(Self::or)?;
                self.expect(Kind::RParen)?;
                Ok(inner)
            }
            Some(Token { kind: Kind::Word(word), at }) => {
                let path = attr_path(&word)
                    .ok_or_else(|| self.error_at(at, format!("`{word}` is not an attribute")))?;
                if matches!(self.peek(), Some(Token { kind: Kind::LBracket, .. })) {
                    self.pos += 1;
                    let inner = self.nested(Self::or)?;
                    self.expect(Kind::RBracket)?;
                    return Ok(Filter::Elements(path, Box::new(inner)));
                }
                self.terms += 1;
                if self.terms > MAX_TERMS {
                    return Err(self.error_at(at, format!("more than {MAX_TERMS} terms")));
                }
                if self.keyword("pr") {
                    return Ok(Filter::Present(path));
                }
                let op_at = self.here();
                let op = match self.next() {
                    Some(Token { kind: Kind::Word(w), .. }) => CompareOp::parse(&w),
                    _ => None,
                }
                .ok_or_else(|| {
                    self.error_at(op_at, "expected an operator: eq ne co sw ew gt ge lt le pr")
                })?;
                let value_at = self.here();
                let value = match self.next().map(|t| t.kind) {
                    Some(Kind::String(s)) => Value::String(s),
                    Some(Kind::Number(n)) => Value::Number(n),
                    Some(Kind::Word(w)) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
                    Some(Kind::Word(w)) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
                    Some(Kind::Word(w)) if w.eq_ignore_ascii_case("null") => Value::Null,
                    _ => {
                        return Err(self.error_at(
                            value_at,
                            "expected a value: a string, number, true, false or null",
                        ));
                    }
                };
                Ok(Filter::Compare(path, op, value))
            }
            Some(t) => {
                Err(self
                    .error_at(t.at, format!("expected an attribute, found {}", t.kind.describe())))
            }
            None => Err(self.error_at(at, "expected an attribute, found the end")),
        }
    }
}

/// `name.family`, or `urn:…:User:name.family`. Names start with a letter and hold letters,
/// digits, `_`, `-` and `$`.
fn attr_path(word: &str) -> Option<AttrPath> {
    let (schema, rest) = match word.rfind(':') {
        Some(i) => (Some(word[..i].to_owned()), &word[i + 1..]),
        None => (None, word),
    };
    let names: Vec<String> = rest.split('.').map(str::to_owned).collect();
    let valid = names.iter().all(|n| {
        n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'))
    });
    let keyword =
        names.len() == 1 && ["and", "or", "not"].iter().any(|k| k.eq_ignore_ascii_case(&names[0]));
    (valid && !keyword && schema.as_ref().is_none_or(|s| !s.is_empty()))
        .then_some(AttrPath { schema, names })
}

// ---------------------------------------------------------------------------------------------
// Printer: the canonical text of a filter, which parses back to the same filter.

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.names.join("."))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => f.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?),
            Value::Number(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parentheses only where the grammar needs them (`and` binds tighter than `or`, both
        // associate to the left), so the tree's shape survives a round trip and a long chain
        // of `or`s prints flat: nesting it would trip the parser's depth limit.
        let operand = |f: &mut fmt::Formatter<'_>, x: &Filter, grouped: bool| {
            if grouped { write!(f, "({x})") } else { write!(f, "{x}") }
        };
        match self {
            Filter::And(a, b) => {
                operand(f, a, matches!(**a, Filter::Or(..)))?;
                f.write_str(" and ")?;
                operand(f, b, matches!(**b, Filter::And(..) | Filter::Or(..)))
            }
            Filter::Or(a, b) => {
                operand(f, a, false)?;
                f.write_str(" or ")?;
                operand(f, b, matches!(**b, Filter::Or(..)))
            }
            Filter::Not(x) => write!(f, "not ({x})"),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::Compare(p, op, v) => write!(f, "{p} {} {v}", op.as_str()),
            Filter::Elements(p, x) => write!(f, "{p}[{x}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn cmp(path: &str, op: CompareOp, value: Value) -> Filter {
        Filter::Compare(AttrPath::new(path.split('.')), op, value)
    }

    fn s(v: &str) -> Value {
        Value::String(v.to_owned())
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let parsed = Filter::parse(r#"a eq "1" or b eq "2" and not (c pr)"#).unwrap();
        let expected = Filter::Or(
            Box::new(cmp("a", CompareOp::Eq, s("1"))),
            Box::new(Filter::And(
                Box::new(cmp("b", CompareOp::Eq, s("2"))),
                Box::new(Filter::Not(Box::new(Filter::Present(AttrPath::new(["c"]))))),
            )),
        );
        assert_eq!(parsed, expected);
    }

    #[test]
    fn rfc_7644_examples_parse() {
        for example in [
            r#"userName eq "bjensen""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            "title pr",
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            "loginCount GE -1.5e3 AND active Eq TRUE and x eq null",
        ] {
            let filter = Filter::parse(example).unwrap_or_else(|e| panic!("{example}: {e}"));
            assert_eq!(Filter::parse(&filter.to_string()).unwrap(), filter, "{example}");
        }
    }

    #[test]
    fn errors_name_their_position() {
        let cases = [
            ("username eq", 11, "expected a value"),
            ("username xx \"a\"", 9, "expected an operator"),
            ("(username pr", 12, "expected `)`"),
            ("username pr )", 12, "unexpected `)`"),
            ("username eq \"open", 12, "unterminated string"),
            ("username eq 12x", 12, "invalid number"),
            ("username eq 'a'", 12, "unexpected character"),
            ("1abc pr", 0, "invalid number"),
            ("and pr", 0, "not an attribute"),
            ("", 0, "expected an attribute"),
        ];
        for (input, position, message) in cases {
            let error = Filter::parse(input).expect_err(input);
            assert_eq!(error.position, position, "{input}: {error}");
            assert!(error.message.contains(message), "{input}: {error}");
        }
    }

    #[test]
    fn budgets_are_enforced() {
        let deep = format!("{}a pr{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert!(Filter::parse(&deep).unwrap_err().message.contains("nested deeper"));
        let ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(Filter::parse(&ok).is_ok());
        let many = vec!["a pr"; MAX_TERMS + 1].join(" or ");
        assert!(Filter::parse(&many).unwrap_err().message.contains("terms"));
        let long = format!("a eq \"{}\"", "x".repeat(MAX_LENGTH));
        assert_eq!(Filter::parse(&long).unwrap_err().position, MAX_LENGTH);
    }

    fn path() -> impl Strategy<Value = AttrPath> {
        (
            proptest::option::weighted(
                0.1,
                Just("urn:ietf:params:scim:schemas:core:2.0:User".to_owned()),
            ),
            proptest::collection::vec("[a-zA-Z][a-zA-Z0-9_$-]{0,8}", 1..4),
        )
            .prop_filter("not a keyword", |(_, names)| {
                !(names.len() == 1
                    && ["and", "or", "not"].iter().any(|k| k.eq_ignore_ascii_case(&names[0])))
            })
            .prop_map(|(schema, names)| AttrPath { schema, names })
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<String>().prop_map(Value::String),
            any::<i64>().prop_map(|n| Value::Number(n.into())),
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ]
    }

    fn op() -> impl Strategy<Value = CompareOp> {
        proptest::sample::select(CompareOp::ALL.map(|(op, _)| op).to_vec())
    }

    fn filter() -> impl Strategy<Value = Filter> {
        let leaf = prop_oneof![
            path().prop_map(Filter::Present),
            (path(), op(), value()).prop_map(|(p, o, v)| Filter::Compare(p, o, v)),
        ];
        leaf.prop_recursive(6, 32, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                inner.clone().prop_map(|x| Filter::Not(Box::new(x))),
                (path(), inner).prop_map(|(p, x)| Filter::Elements(p, Box::new(x))),
            ]
        })
    }

    /// Found by the fuzzer: a flat chain of `or`s printed as nested groups, deeper than the
    /// parser takes, so its canonical text did not parse.
    #[test]
    fn long_chains_print_flat_and_parse_back() {
        let chain = vec!["username eq \"x\""; MAX_TERMS].join(" or ");
        let parsed = Filter::parse(&chain).unwrap();
        assert_eq!(parsed.to_string(), chain);
        let mixed = "a eq 1 and b eq 2 or c eq 3 and (d eq 4 or e eq 5) and not (f pr) or g pr";
        let parsed = Filter::parse(mixed).unwrap();
        assert_eq!(Filter::parse(&parsed.to_string()).unwrap(), parsed);
        assert_eq!(parsed.to_string(), mixed);
        let grouped = Filter::parse("a pr or (b pr or c pr) and (d pr and e pr)").unwrap();
        assert_eq!(grouped.to_string(), "a pr or (b pr or c pr) and (d pr and e pr)");
    }

    proptest! {
        #[test]
        fn printing_then_parsing_gives_the_same_filter(f in filter()) {
            let printed = f.to_string();
            prop_assume!(printed.len() <= MAX_LENGTH);
            prop_assert_eq!(Filter::parse(&printed).map_err(|e| e.to_string()), Ok(f));
        }

        #[test]
        fn arbitrary_input_never_panics(input in "\\PC{0,200}") {
            let _ = Filter::parse(&input);
        }

        #[test]
        fn filter_like_input_never_panics(input in r#"[a-z.\[\]() "\\0-9-]{0,120}"#) {
            let _ = Filter::parse(&input);
        }
    }
}
