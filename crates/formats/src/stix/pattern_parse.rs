//! Reading STIX 2.1 patterns (stix-taxii-reference A.6; the grammar is OASIS's
//! `STIXPattern.g4`), and the MISP attributes a pattern expresses when it is nothing more
//! than equality tests on observables Kizuna knows.
//!
//! The parser is complete: observation expressions joined by `AND`, `OR` and `FOLLOWEDBY`
//! with their qualifiers, comparison expressions with every operator (`NOT` included),
//! object paths with quoted and indexed steps, and every literal kind. Errors name the
//! column (1-based, in characters) where reading failed.
//!
//! Mapping to MISP is deliberately narrow: a pattern becomes attributes only when every
//! comparison is an equality (or `ISSUBSET` on an address, or `IN` a set of values) on a
//! path in the table below. Anything else — `LIKE`, `MATCHES`, `NOT`, orderings,
//! `FOLLOWEDBY`, qualifiers, unknown paths — is reported with the reason instead of being
//! approximated.

use kizuna_model::attribute_types::attribute_type;
use std::fmt;
use std::net::IpAddr;

// ---------------------------------------------------------------------------------------
// Syntax tree
// ---------------------------------------------------------------------------------------

/// An observation expression: the whole pattern, or a part of it.
#[derive(Clone, Debug, PartialEq)]
pub enum ObservationExpression {
    /// `[ comparison-expression ]`
    Observation(ComparisonExpression),
    /// Observations joined by `AND` (all must be observed).
    And(Vec<ObservationExpression>),
    /// Observations joined by `OR`.
    Or(Vec<ObservationExpression>),
    /// Observations joined by `FOLLOWEDBY` (in this order in time).
    FollowedBy(Vec<ObservationExpression>),
    /// An expression with a qualifier (`WITHIN`, `REPEATS`, `START … STOP`).
    Qualified(Box<ObservationExpression>, Qualifier),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Qualifier {
    /// `WITHIN <n> SECONDS`, the number as written.
    Within(String),
    /// `REPEATS <n> TIMES`
    Repeats(u64),
    /// `START t'…' STOP t'…'`
    StartStop { start: String, stop: String },
}

/// The inside of one `[…]`: comparisons on one observed object.
#[derive(Clone, Debug, PartialEq)]
pub enum ComparisonExpression {
    And(Vec<ComparisonExpression>),
    Or(Vec<ComparisonExpression>),
    Comparison(Comparison),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub path: ObjectPath,
    /// `NOT` written before the operator (or before `EXISTS`).
    pub negated: bool,
    pub test: Test,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    Compare(Operator, Literal),
    In(Vec<Literal>),
    Like(String),
    Matches(String),
    IsSubset(String),
    IsSuperset(String),
    Exists,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObjectPath {
    /// `file`, `ipv4-addr`, …
    pub object_type: String,
    pub steps: Vec<PathStep>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PathStep {
    /// A property or dictionary key, quoted or not (`hashes`, `'SHA-256'`).
    Key(String),
    /// `[n]`
    Index(i64),
    /// `[*]`
    AnyIndex,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// Escapes already resolved.
    String(String),
    Int(i64),
    /// As written (`1.5`, `-.25`).
    Float(String),
    Bool(bool),
    /// The text between `t'` and `'`.
    Timestamp(String),
    /// The hex digits between `h'` and `'`.
    Hex(String),
    /// The base64 text between `b'` and `'`.
    Binary(String),
}

/// Why a pattern could not be read, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// 1-based, counted in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for PatternError {}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (index, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Key(key) => {
                    if index > 0 {
                        f.write_str(".")?;
                    }
                    let plain = key
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if plain {
                        f.write_str(key)?;
                    } else {
                        write!(f, "'{}'", key.replace('\\', "\\\\").replace('\'', "\\'"))?;
                    }
                }
                PathStep::Index(position) => write!(f, "[{position}]")?,
                PathStep::AnyIndex => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Token {
    LeftBracket,
    RightBracket,
    LeftParen,
    RightParen,
    Colon,
    Dot,
    Comma,
    Star,
    Operator(Operator),
    Keyword(Keyword),
    Bool(bool),
    Identifier { text: String, hyphenated: bool },
    String(String),
    Int(i64),
    Float(String),
    Timestamp(String),
    Hex(String),
    Binary(String),
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keyword {
    And,
    Or,
    Not,
    FollowedBy,
    Like,
    Matches,
    IsSuperset,
    IsSubset,
    Exists,
    Last,
    In,
    Start,
    Stop,
    Seconds,
    Within,
    Repeats,
    Times,
}

impl Keyword {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "AND" => Self::And,
            "OR" => Self::Or,
            "NOT" => Self::Not,
            "FOLLOWEDBY" => Self::FollowedBy,
            "LIKE" => Self::Like,
            "MATCHES" => Self::Matches,
            "ISSUPERSET" => Self::IsSuperset,
            "ISSUBSET" => Self::IsSubset,
            "EXISTS" => Self::Exists,
            "LAST" => Self::Last,
            "IN" => Self::In,
            "START" => Self::Start,
            "STOP" => Self::Stop,
            "SECONDS" => Self::Seconds,
            "WITHIN" => Self::Within,
            "REPEATS" => Self::Repeats,
            "TIMES" => Self::Times,
            _ => return None,
        })
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::LeftBracket => f.write_str("'['"),
            Token::RightBracket => f.write_str("']'"),
            Token::LeftParen => f.write_str("'('"),
            Token::RightParen => f.write_str("')'"),
            Token::Colon => f.write_str("':'"),
            Token::Dot => f.write_str("'.'"),
            Token::Comma => f.write_str("','"),
            Token::Star => f.write_str("'*'"),
            Token::Operator(operator) => write!(f, "'{}'", operator_text(*operator)),
            Token::Keyword(keyword) => write!(f, "{}", format!("{keyword:?}").to_ascii_uppercase()),
            Token::Bool(flag) => write!(f, "{flag}"),
            Token::Identifier { text, .. } => write!(f, "'{text}'"),
            Token::String(_) => f.write_str("a string"),
            Token::Int(number) => write!(f, "{number}"),
            Token::Float(text) => f.write_str(text),
            Token::Timestamp(_) => f.write_str("a timestamp"),
            Token::Hex(_) => f.write_str("a hex literal"),
            Token::Binary(_) => f.write_str("a binary literal"),
            Token::End => f.write_str("the end of the pattern"),
        }
    }
}

fn operator_text(operator: Operator) -> &'static str {
    match operator {
        Operator::Equal => "=",
        Operator::NotEqual => "!=",
        Operator::Less => "<",
        Operator::LessOrEqual => "<=",
        Operator::Greater => ">",
        Operator::GreaterOrEqual => ">=",
    }
}

struct Lexer {
    chars: Vec<char>,
    position: usize,
}

fn error(column: usize, message: impl Into<String>) -> PatternError {
    PatternError {
        column,
        message: message.into(),
    }
}

/// The grammar's whitespace: ASCII blanks plus the Unicode spaces it lists.
fn is_pattern_space(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '\r'
            | '\n'
            | '\u{0B}'
            | '\u{0C}'
            | '\u{85}'
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

impl Lexer {
    fn tokens(text: &str) -> Result<Vec<(Token, usize)>, PatternError> {
        let mut lexer = Lexer {
            chars: text.chars().collect(),
            position: 0,
        };
        let mut tokens = Vec::new();
        loop {
            lexer.skip_blanks()?;
            let column = lexer.position + 1;
            let token = lexer.next_token()?;
            let done = token == Token::End;
            tokens.push((token, column));
            if done {
                return Ok(tokens);
            }
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.position + offset).copied()
    }

    fn skip_blanks(&mut self) -> Result<(), PatternError> {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(c), _) if is_pattern_space(c) => self.position += 1,
                (Some('/'), Some('*')) => {
                    let start = self.position + 1;
                    self.position += 2;
                    loop {
                        match (self.peek(), self.peek_at(1)) {
                            (Some('*'), Some('/')) => {
                                self.position += 2;
                                break;
                            }
                            (Some(_), _) => self.position += 1,
                            (None, _) => return Err(error(start, "unterminated /* comment")),
                        }
                    }
                }
                (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n' && c != '\r') {
                        self.position += 1;
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, PatternError> {
        let column = self.position + 1;
        let Some(c) = self.peek() else {
            return Ok(Token::End);
        };
        let single = |lexer: &mut Lexer, token: Token| {
            lexer.position += 1;
            Ok(token)
        };
        match c {
            '[' => single(self, Token::LeftBracket),
            ']' => single(self, Token::RightBracket),
            '(' => single(self, Token::LeftParen),
            ')' => single(self, Token::RightParen),
            ':' => single(self, Token::Colon),
            ',' => single(self, Token::Comma),
            '*' => single(self, Token::Star),
            '=' => {
                self.position += 1;
                if self.peek() == Some('=') {
                    self.position += 1;
                }
                Ok(Token::Operator(Operator::Equal))
            }
            '!' => {
                if self.peek_at(1) == Some('=') {
                    self.position += 2;
                    Ok(Token::Operator(Operator::NotEqual))
                } else {
                    Err(error(
                        column,
                        "'!' must be followed by '=' (the operator is !=)",
                    ))
                }
            }
            '<' => match self.peek_at(1) {
                Some('=') => {
                    self.position += 2;
                    Ok(Token::Operator(Operator::LessOrEqual))
                }
                Some('>') => {
                    self.position += 2;
                    Ok(Token::Operator(Operator::NotEqual))
                }
                _ => single(self, Token::Operator(Operator::Less)),
            },
            '>' => {
                if self.peek_at(1) == Some('=') {
                    self.position += 2;
                    Ok(Token::Operator(Operator::GreaterOrEqual))
                } else {
                    single(self, Token::Operator(Operator::Greater))
                }
            }
            '\'' => {
                self.position += 1;
                Ok(Token::String(self.string_body(column)?))
            }
            't' | 'h' | 'b' if self.peek_at(1) == Some('\'') => {
                self.position += 2;
                let body = self.string_body(column)?;
                match c {
                    't' => check_timestamp(&body, column).map(|()| Token::Timestamp(body)),
                    'h' => check_hex(&body, column).map(|()| Token::Hex(body)),
                    _ => check_base64(&body, column).map(|()| Token::Binary(body)),
                }
            }
            '.' if self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) => self.number(column),
            '.' => single(self, Token::Dot),
            '+' | '-'
                if self
                    .peek_at(1)
                    .is_some_and(|d| d.is_ascii_digit() || d == '.') =>
            {
                self.number(column)
            }
            '0'..='9' => self.number(column),
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.position;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    self.position += 1;
                }
                let text: String = self.chars[start..self.position].iter().collect();
                if let Some(keyword) = Keyword::from_word(&text) {
                    return Ok(Token::Keyword(keyword));
                }
                match text.as_str() {
                    "true" => Ok(Token::Bool(true)),
                    "false" => Ok(Token::Bool(false)),
                    _ => {
                        let hyphenated = text.contains('-');
                        Ok(Token::Identifier { text, hyphenated })
                    }
                }
            }
            other => Err(error(column, format!("unexpected character {other:?}"))),
        }
    }

    /// The characters up to the closing quote, with `\'` and `\\` resolved.
    fn string_body(&mut self, column: usize) -> Result<String, PatternError> {
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(error(column, "unterminated string (missing the closing ')")),
                Some('\'') => {
                    self.position += 1;
                    return Ok(text);
                }
                Some('\\') => match self.peek_at(1) {
                    Some(escaped @ ('\'' | '\\')) => {
                        text.push(escaped);
                        self.position += 2;
                    }
                    other => {
                        let shown = other
                            .map_or_else(|| "end of pattern".to_string(), |c| format!("{c:?}"));
                        return Err(error(
                            self.position + 1,
                            format!(
                                "invalid escape before {shown} in a string: only \\' and \\\\ are allowed"
                            ),
                        ));
                    }
                },
                Some(c) => {
                    text.push(c);
                    self.position += 1;
                }
            }
        }
    }

    fn number(&mut self, column: usize) -> Result<Token, PatternError> {
        let start = self.position;
        if matches!(self.peek(), Some('+' | '-')) {
            self.position += 1;
        }
        let digits_start = self.position;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.position += 1;
        }
        let integer_digits = self.position - digits_start;
        let is_float =
            self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit());
        if is_float {
            self.position += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.position += 1;
            }
        }
        let text: String = self.chars[start..self.position].iter().collect();
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            return Err(error(
                self.position + 1,
                format!("a number ({text}) runs into a name; separate them with a space"),
            ));
        }
        if is_float {
            return Ok(Token::Float(text));
        }
        if integer_digits > 1 && self.chars[digits_start] == '0' {
            return Err(error(column, format!("integer {text} has a leading zero")));
        }
        text.trim_start_matches('+')
            .parse::<i64>()
            .map(Token::Int)
            .map_err(|_| error(column, format!("integer {text} is out of range")))
    }
}

fn check_timestamp(body: &str, column: usize) -> Result<(), PatternError> {
    let bytes = body.as_bytes();
    let two = |at: usize| -> Option<u32> {
        let slice = bytes.get(at..at + 2)?;
        if slice.iter().all(u8::is_ascii_digit) {
            Some(u32::from(slice[0] - b'0') * 10 + u32::from(slice[1] - b'0'))
        } else {
            None
        }
    };
    let well_formed = (|| {
        if !bytes.get(..4)?.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let month = two(5)?;
        let day = two(8)?;
        let hour = two(11)?;
        let minute = two(14)?;
        let second = two(17)?;
        let separators = bytes.get(4) == Some(&b'-')
            && bytes.get(7) == Some(&b'-')
            && bytes.get(10) == Some(&b'T')
            && bytes.get(13) == Some(&b':')
            && bytes.get(16) == Some(&b':');
        let in_range = (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && hour <= 23
            && minute <= 59
            && second <= 60;
        let rest = bytes.get(19..)?;
        let fraction_ok = match rest {
            [b'Z'] => true,
            [b'.', digits @ .., b'Z'] => {
                !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
            }
            _ => false,
        };
        (separators && in_range && fraction_ok).then_some(())
    })();
    well_formed.ok_or_else(|| {
        error(
            column,
            format!("timestamp t'{body}' is not of the form YYYY-MM-DDTHH:MM:SS[.s]Z"),
        )
    })
}

fn check_hex(body: &str, column: usize) -> Result<(), PatternError> {
    if body.len().is_multiple_of(2) && body.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(error(
            column,
            format!("hex literal h'{body}' must hold pairs of hex digits"),
        ))
    }
}

fn check_base64(body: &str, column: usize) -> Result<(), PatternError> {
    let bytes = body.as_bytes();
    let padding = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    let data = &bytes[..bytes.len() - padding];
    let valid = !bytes.is_empty()
        && bytes.len().is_multiple_of(4)
        && padding <= 2
        && data
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/');
    if valid {
        Ok(())
    } else {
        Err(error(
            column,
            format!("binary literal b'{body}' is not valid base64"),
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_NESTING: usize = 64;

/// Reads a STIX pattern into its syntax tree.
pub fn parse_pattern(text: &str) -> Result<ObservationExpression, PatternError> {
    let tokens = Lexer::tokens(text)?;
    let mut parser = Parser {
        tokens,
        position: 0,
        depth: 0,
    };
    if parser.peek() == &Token::End {
        return Err(error(1, "the pattern is empty"));
    }
    let expression = parser.observation_expressions()?;
    match parser.peek() {
        Token::End => Ok(expression),
        Token::RightBracket | Token::RightParen => Err(error(
            parser.column(),
            format!("unbalanced {}", parser.peek()),
        )),
        other => Err(error(
            parser.column(),
            format!("expected AND, OR or FOLLOWEDBY between observations, found {other}"),
        )),
    }
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    position: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.position].0
    }

    fn column(&self) -> usize {
        self.tokens[self.position].1
    }

    fn advance(&mut self) -> Token {
        let token = self.tokens[self.position].0.clone();
        if token != Token::End {
            self.position += 1;
        }
        token
    }

    fn eat_keyword(&mut self, keyword: Keyword) -> bool {
        if self.peek() == &Token::Keyword(keyword) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, expected: Token, context: &str) -> Result<(), PatternError> {
        if self.peek() == &expected {
            self.advance();
            Ok(())
        } else {
            Err(error(
                self.column(),
                format!("expected {expected} {context}, found {}", self.peek()),
            ))
        }
    }

    fn enter(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            Err(error(
                self.column(),
                format!("nested deeper than {MAX_NESTING} levels"),
            ))
        } else {
            Ok(())
        }
    }

    fn observation_expressions(&mut self) -> Result<ObservationExpression, PatternError> {
        let mut parts = vec![self.observation_or()?];
        while self.eat_keyword(Keyword::FollowedBy) {
            parts.push(self.observation_or()?);
        }
        Ok(single_or(parts, ObservationExpression::FollowedBy))
    }

    fn observation_or(&mut self) -> Result<ObservationExpression, PatternError> {
        let mut parts = vec![self.observation_and()?];
        while self.eat_keyword(Keyword::Or) {
            parts.push(self.observation_and()?);
        }
        Ok(single_or(parts, ObservationExpression::Or))
    }

    fn observation_and(&mut self) -> Result<ObservationExpression, PatternError> {
        let mut parts = vec![self.qualified_observation()?];
        while self.eat_keyword(Keyword::And) {
            parts.push(self.qualified_observation()?);
        }
        Ok(single_or(parts, ObservationExpression::And))
    }

    fn qualified_observation(&mut self) -> Result<ObservationExpression, PatternError> {
        let mut expression = self.observation()?;
        loop {
            let qualifier = match self.peek() {
                Token::Keyword(Keyword::Within) => {
                    self.advance();
                    let column = self.column();
                    let seconds = match self.advance() {
                        Token::Int(number) if number > 0 => number.to_string(),
                        Token::Float(text)
                            if !text.starts_with('-')
                                && !text.trim_start_matches(['+', '0', '.']).is_empty() =>
                        {
                            text.trim_start_matches('+').to_string()
                        }
                        other => {
                            return Err(error(
                                column,
                                format!("WITHIN needs a positive number of seconds, found {other}"),
                            ));
                        }
                    };
                    self.expect(
                        Token::Keyword(Keyword::Seconds),
                        "after the WITHIN duration",
                    )?;
                    Qualifier::Within(seconds)
                }
                Token::Keyword(Keyword::Repeats) => {
                    self.advance();
                    let column = self.column();
                    let times = match self.advance() {
                        Token::Int(number) if number > 0 => number.unsigned_abs(),
                        other => {
                            return Err(error(
                                column,
                                format!("REPEATS needs a positive whole number, found {other}"),
                            ));
                        }
                    };
                    self.expect(Token::Keyword(Keyword::Times), "after the REPEATS count")?;
                    Qualifier::Repeats(times)
                }
                Token::Keyword(Keyword::Start) => {
                    self.advance();
                    let start = self.timestamp("START")?;
                    self.expect(Token::Keyword(Keyword::Stop), "after the START timestamp")?;
                    let stop = self.timestamp("STOP")?;
                    Qualifier::StartStop { start, stop }
                }
                _ => return Ok(expression),
            };
            expression = ObservationExpression::Qualified(Box::new(expression), qualifier);
        }
    }

    fn timestamp(&mut self, after: &str) -> Result<String, PatternError> {
        let column = self.column();
        match self.advance() {
            Token::Timestamp(text) => Ok(text),
            other => Err(error(
                column,
                format!("{after} needs a timestamp literal t'…', found {other}"),
            )),
        }
    }

    fn observation(&mut self) -> Result<ObservationExpression, PatternError> {
        let column = self.column();
        match self.advance() {
            Token::LeftBracket => {
                self.enter()?;
                let comparison = self.comparison_or()?;
                self.depth -= 1;
                self.expect(Token::RightBracket, "to close the observation")?;
                Ok(ObservationExpression::Observation(comparison))
            }
            Token::LeftParen => {
                self.enter()?;
                let inner = self.observation_expressions()?;
                self.depth -= 1;
                self.expect(Token::RightParen, "to close the parenthesis")?;
                Ok(inner)
            }
            other => Err(error(
                column,
                format!("expected '[' or '(' to start an observation, found {other}"),
            )),
        }
    }

    fn comparison_or(&mut self) -> Result<ComparisonExpression, PatternError> {
        let mut parts = vec![self.comparison_and()?];
        while self.eat_keyword(Keyword::Or) {
            parts.push(self.comparison_and()?);
        }
        Ok(single_or(parts, ComparisonExpression::Or))
    }

    fn comparison_and(&mut self) -> Result<ComparisonExpression, PatternError> {
        let mut parts = vec![self.property_test()?];
        while self.eat_keyword(Keyword::And) {
            parts.push(self.property_test()?);
        }
        Ok(single_or(parts, ComparisonExpression::And))
    }

    fn property_test(&mut self) -> Result<ComparisonExpression, PatternError> {
        if self.peek() == &Token::LeftParen {
            self.advance();
            self.enter()?;
            let inner = self.comparison_or()?;
            self.depth -= 1;
            self.expect(Token::RightParen, "to close the parenthesis")?;
            return Ok(inner);
        }
        let mut negated = self.eat_keyword(Keyword::Not);
        if self.eat_keyword(Keyword::Exists) {
            let path = self.object_path()?;
            return Ok(ComparisonExpression::Comparison(Comparison {
                path,
                negated,
                test: Test::Exists,
            }));
        }
        if negated {
            return Err(error(
                self.column(),
                format!(
                    "NOT at the start of a comparison must be followed by EXISTS, found {}",
                    self.peek()
                ),
            ));
        }
        let path = self.object_path()?;
        negated = self.eat_keyword(Keyword::Not);
        let column = self.column();
        let test = match self.advance() {
            Token::Operator(operator) => {
                let literal_column = self.column();
                let literal = self.literal()?;
                let orderable = !matches!(literal, Literal::Bool(_));
                if !orderable && !matches!(operator, Operator::Equal | Operator::NotEqual) {
                    return Err(error(
                        literal_column,
                        format!("'{}' cannot compare a boolean", operator_text(operator)),
                    ));
                }
                Test::Compare(operator, literal)
            }
            Token::Keyword(Keyword::In) => Test::In(self.set_literal()?),
            Token::Keyword(Keyword::Like) => Test::Like(self.string_operand("LIKE")?),
            Token::Keyword(Keyword::Matches) => Test::Matches(self.string_operand("MATCHES")?),
            Token::Keyword(Keyword::IsSubset) => Test::IsSubset(self.string_operand("ISSUBSET")?),
            Token::Keyword(Keyword::IsSuperset) => {
                Test::IsSuperset(self.string_operand("ISSUPERSET")?)
            }
            other => {
                return Err(error(
                    column,
                    format!(
                        "expected a comparison operator (=, !=, <, <=, >, >=, IN, LIKE, MATCHES, ISSUBSET, ISSUPERSET) after {path}, found {other}"
                    ),
                ));
            }
        };
        Ok(ComparisonExpression::Comparison(Comparison {
            path,
            negated,
            test,
        }))
    }

    fn string_operand(&mut self, operator: &str) -> Result<String, PatternError> {
        let column = self.column();
        match self.advance() {
            Token::String(text) => Ok(text),
            other => Err(error(
                column,
                format!("{operator} needs a string literal, found {other}"),
            )),
        }
    }

    fn literal(&mut self) -> Result<Literal, PatternError> {
        let column = self.column();
        Ok(match self.advance() {
            Token::String(text) => Literal::String(text),
            Token::Int(number) => Literal::Int(number),
            Token::Float(text) => Literal::Float(text),
            Token::Bool(flag) => Literal::Bool(flag),
            Token::Timestamp(text) => Literal::Timestamp(text),
            Token::Hex(text) => Literal::Hex(text),
            Token::Binary(text) => Literal::Binary(text),
            other => {
                return Err(error(
                    column,
                    format!("expected a literal value, found {other}"),
                ));
            }
        })
    }

    fn set_literal(&mut self) -> Result<Vec<Literal>, PatternError> {
        self.expect(Token::LeftParen, "to open the IN set")?;
        let mut values = Vec::new();
        if self.peek() == &Token::RightParen {
            self.advance();
            return Ok(values);
        }
        loop {
            values.push(self.literal()?);
            match self.peek() {
                Token::Comma => {
                    self.advance();
                }
                Token::RightParen => {
                    self.advance();
                    return Ok(values);
                }
                other => {
                    return Err(error(
                        self.column(),
                        format!("expected ',' or ')' in the IN set, found {other}"),
                    ));
                }
            }
        }
    }

    fn object_path(&mut self) -> Result<ObjectPath, PatternError> {
        let column = self.column();
        let object_type = match self.advance() {
            Token::Identifier { text, .. } => text,
            other => {
                return Err(error(
                    column,
                    format!(
                        "expected an object type (like ipv4-addr) to start a comparison, found {other}"
                    ),
                ));
            }
        };
        self.expect(
            Token::Colon,
            &format!("after the object type {object_type}"),
        )?;
        let mut steps = vec![self.key_step("the first property")?];
        loop {
            match self.peek() {
                Token::Dot => {
                    self.advance();
                    steps.push(self.key_step("a property after '.'")?);
                }
                // A number right after a property (`.5`) lexes as a float; say what happened.
                Token::Float(text) if text.starts_with('.') => {
                    return Err(error(
                        self.column(),
                        format!(
                            "property names cannot start with a digit ({text}); list positions are written [n]"
                        ),
                    ));
                }
                Token::LeftBracket => {
                    self.advance();
                    let index_column = self.column();
                    let step = match self.advance() {
                        Token::Int(position) => PathStep::Index(position),
                        Token::Star => PathStep::AnyIndex,
                        other => {
                            return Err(error(
                                index_column,
                                format!(
                                    "expected a list position or '*' inside [ ], found {other}"
                                ),
                            ));
                        }
                    };
                    self.expect(Token::RightBracket, "to close the list position")?;
                    steps.push(step);
                }
                _ => {
                    return Ok(ObjectPath { object_type, steps });
                }
            }
        }
    }

    fn key_step(&mut self, what: &str) -> Result<PathStep, PatternError> {
        let column = self.column();
        match self.advance() {
            Token::Identifier {
                text,
                hyphenated: false,
            } => Ok(PathStep::Key(text)),
            Token::Identifier {
                text,
                hyphenated: true,
            } => Err(error(
                column,
                format!("property {text} contains '-' and must be quoted: '{text}'"),
            )),
            Token::String(text) => Ok(PathStep::Key(text)),
            // Keywords are fine as property names only when quoted; say so.
            Token::Keyword(keyword) => Err(error(
                column,
                format!(
                    "{} is a keyword; quote it to use it as a property name",
                    format!("{keyword:?}").to_ascii_uppercase()
                ),
            )),
            other => Err(error(column, format!("expected {what}, found {other}"))),
        }
    }
}

fn single_or<T>(mut parts: Vec<T>, combine: impl FnOnce(Vec<T>) -> T) -> T {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        combine(parts)
    }
}

// ---------------------------------------------------------------------------------------
// From patterns to MISP attributes
// ---------------------------------------------------------------------------------------

/// One MISP attribute a pattern (or an observable) expresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternIndicator {
    /// The MISP type (`ip-dst`, `filename|sha256`, …).
    pub attr_type: String,
    pub value: String,
}

impl PatternIndicator {
    fn new(attr_type: &str, value: impl Into<String>) -> Self {
        Self {
            attr_type: attr_type.to_string(),
            value: value.into(),
        }
    }
}

/// One `path = value` fact: from an equality in a pattern, or a property of an observable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathValue {
    /// The canonical path (see [`canonical_path`]).
    pub path: String,
    pub value: String,
}

/// The path as a comparable key: `type:step.step`, list positions dropped, quotes gone,
/// hash names in one spelling (`file:hashes.SHA256` for `'SHA-256'`, `sha256`, …), e-mail
/// header names as `reply_to`/`x_mailer`, HTTP header names lower-case (`user-agent`).
pub fn canonical_path(object_type: &str, keys: &[&str]) -> String {
    let mut out = String::from(object_type);
    out.push(':');
    let mut previous = "";
    for (index, key) in keys.iter().enumerate() {
        if index > 0 {
            out.push('.');
        }
        match previous {
            "hashes" => out.extend(
                key.chars()
                    .filter(|c| *c != '-' && *c != '_')
                    .map(|c| c.to_ascii_uppercase()),
            ),
            "additional_header_fields" => out.extend(key.chars().map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })),
            "request_header" => out.extend(key.chars().map(|c| {
                if c == '_' {
                    '-'
                } else {
                    c.to_ascii_lowercase()
                }
            })),
            _ => out.push_str(key),
        }
        previous = key;
    }
    out
}

fn path_key(path: &ObjectPath) -> String {
    let keys: Vec<&str> = path
        .steps
        .iter()
        .filter_map(|step| match step {
            PathStep::Key(key) => Some(key.as_str()),
            PathStep::Index(_) | PathStep::AnyIndex => None,
        })
        .collect();
    canonical_path(&path.object_type, &keys)
}

/// Above this many `path = value` facts, expanding `AND`s over `OR`s is refused.
const MAX_EXPANDED_FACTS: usize = 4096;

/// The equality facts of a pattern, one list per alternative an observation stands for:
/// `[a = 1 AND (b = 2 OR c = 3)]` gives `[[a=1, b=2], [a=1, c=3]]`, `[a = 1] OR [b = 2]`
/// gives `[[a=1], [b=2]]` (and so does `AND` between observations: both are indicators).
/// Anything that is not an equality on a value is an error naming what it is.
pub fn equality_groups(expression: &ObservationExpression) -> Result<Vec<Vec<PathValue>>, String> {
    let mut groups = Vec::new();
    collect_observations(expression, &mut groups)?;
    Ok(groups)
}

fn collect_observations(
    expression: &ObservationExpression,
    groups: &mut Vec<Vec<PathValue>>,
) -> Result<(), String> {
    match expression {
        ObservationExpression::Observation(comparison) => {
            groups.extend(alternatives(comparison)?);
            if groups.iter().map(Vec::len).sum::<usize>() > MAX_EXPANDED_FACTS {
                return Err(format!(
                    "the pattern expands to more than {MAX_EXPANDED_FACTS} comparisons"
                ));
            }
            Ok(())
        }
        ObservationExpression::And(parts) | ObservationExpression::Or(parts) => {
            for part in parts {
                collect_observations(part, groups)?;
            }
            Ok(())
        }
        ObservationExpression::FollowedBy(_) => Err(
            "FOLLOWEDBY describes a sequence of events, which no MISP attribute expresses"
                .to_string(),
        ),
        ObservationExpression::Qualified(_, qualifier) => {
            let name = match qualifier {
                Qualifier::Within(_) => "WITHIN",
                Qualifier::Repeats(_) => "REPEATS",
                Qualifier::StartStop { .. } => "START/STOP",
            };
            Err(format!(
                "the {name} qualifier restricts when the observation counts, which no MISP attribute expresses"
            ))
        }
    }
}

/// Disjunctive normal form of one bracket.
fn alternatives(expression: &ComparisonExpression) -> Result<Vec<Vec<PathValue>>, String> {
    match expression {
        ComparisonExpression::Comparison(comparison) => comparison_facts(comparison),
        ComparisonExpression::Or(parts) => {
            let mut out = Vec::new();
            for part in parts {
                out.extend(alternatives(part)?);
            }
            Ok(out)
        }
        ComparisonExpression::And(parts) => {
            let mut product: Vec<Vec<PathValue>> = vec![Vec::new()];
            for part in parts {
                let options = alternatives(part)?;
                let size: usize =
                    product.iter().map(Vec::len).sum::<usize>().max(1) * options.len().max(1);
                if size > MAX_EXPANDED_FACTS {
                    return Err(format!(
                        "the pattern expands to more than {MAX_EXPANDED_FACTS} comparisons"
                    ));
                }
                let mut next = Vec::with_capacity(product.len() * options.len());
                for left in &product {
                    for right in &options {
                        let mut combined = left.clone();
                        combined.extend(right.iter().cloned());
                        next.push(combined);
                    }
                }
                product = next;
            }
            Ok(product)
        }
    }
}

fn comparison_facts(comparison: &Comparison) -> Result<Vec<Vec<PathValue>>, String> {
    let path = path_key(&comparison.path);
    let shown = comparison.path.to_string();
    if comparison.negated {
        return Err(format!(
            "{shown}: a negated comparison (NOT) excludes values instead of naming one"
        ));
    }
    let fact = |literal: &Literal| -> Result<Vec<PathValue>, String> {
        Ok(vec![PathValue {
            path: path.clone(),
            value: literal_text(literal, &shown)?,
        }])
    };
    match &comparison.test {
        Test::Compare(Operator::Equal, literal) => Ok(vec![fact(literal)?]),
        Test::Compare(operator, _) => Err(format!(
            "{shown}: the '{}' comparison describes a range, not a value",
            operator_text(*operator)
        )),
        Test::In(values) => {
            if values.is_empty() {
                return Err(format!("{shown}: IN () names no value"));
            }
            values.iter().map(fact).collect()
        }
        Test::Like(_) => Err(format!(
            "{shown}: LIKE matches a wildcard pattern, not one value"
        )),
        Test::Matches(_) => Err(format!(
            "{shown}: MATCHES is a regular expression, not one value"
        )),
        Test::IsSubset(network) => {
            if is_address_path(&path) && parse_address(network).is_some() {
                Ok(vec![vec![PathValue {
                    path,
                    value: network.clone(),
                }]])
            } else {
                Err(format!(
                    "{shown}: ISSUBSET is only mapped for IP addresses and networks"
                ))
            }
        }
        Test::IsSuperset(_) => Err(format!(
            "{shown}: ISSUPERSET matches every network containing a value, not one value"
        )),
        Test::Exists => Err(format!("{shown}: EXISTS tests presence, not a value")),
    }
}

fn literal_text(literal: &Literal, shown: &str) -> Result<String, String> {
    match literal {
        Literal::String(text) | Literal::Float(text) | Literal::Timestamp(text) => Ok(text.clone()),
        Literal::Int(number) => Ok(number.to_string()),
        Literal::Bool(flag) => Ok(flag.to_string()),
        Literal::Hex(digits) => Ok(digits.to_ascii_lowercase()),
        Literal::Binary(_) => Err(format!(
            "{shown}: binary content (b'…') is not an attribute value"
        )),
    }
}

fn is_address_path(path: &str) -> bool {
    matches!(
        path,
        "ipv4-addr:value"
            | "ipv6-addr:value"
            | "network-traffic:dst_ref.value"
            | "network-traffic:src_ref.value"
            | "domain-name:resolves_to_refs.value"
    )
}

/// An IP address or CIDR network, as Kizuna stores it.
fn parse_address(text: &str) -> Option<IpAddr> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address.trim().parse().ok()?;
    if let Some(prefix) = prefix {
        let bits: u8 = prefix.trim().parse().ok()?;
        let limit = if address.is_ipv4() { 32 } else { 128 };
        if bits > limit {
            return None;
        }
    }
    Some(address)
}

/// [`equality_groups`] of the pattern `text`; a pattern that cannot be read is an error
/// starting `invalid pattern: `.
pub fn pattern_equality_groups(text: &str) -> Result<Vec<Vec<PathValue>>, String> {
    if let Some(fact) = one_string_equality(text) {
        return Ok(vec![vec![fact]]);
    }
    let expression = parse_pattern(text).map_err(|error| format!("invalid pattern: {error}"))?;
    equality_groups(&expression)
}

/// The fact of a pattern that is a single equality with a string, `[type:path = 'value']`,
/// read straight from the text; `None` for any other pattern, which the parser then reads.
/// Nearly every indicator a TAXII client posts has this shape, and the lexer and parser
/// took about a fifth of converting such an envelope. This reader is stricter than the
/// grammar (plain spaces only, no comments, no escapes, no blanks inside the path), so
/// whatever it accepts the parser reads to the same fact (a test compares the two).
fn one_string_equality(text: &str) -> Option<PathValue> {
    let bytes = text.as_bytes();
    let mut at = 0;
    skip_spaces(bytes, &mut at);
    expect_byte(bytes, &mut at, b'[')?;
    skip_spaces(bytes, &mut at);
    let object_type = plain_word(text, &mut at)?;
    expect_byte(bytes, &mut at, b':')?;
    let mut keys: Vec<&str> = Vec::with_capacity(2);
    loop {
        let key = if bytes.get(at) == Some(&b'\'') {
            quoted_text(text, &mut at)?
        } else {
            plain_word(text, &mut at).filter(|word| !word.contains('-'))?
        };
        keys.push(key);
        if bytes.get(at) != Some(&b'.') {
            break;
        }
        at += 1;
    }
    skip_spaces(bytes, &mut at);
    expect_byte(bytes, &mut at, b'=')?;
    if bytes.get(at) == Some(&b'=') {
        at += 1;
    }
    skip_spaces(bytes, &mut at);
    let value = quoted_text(text, &mut at)?;
    skip_spaces(bytes, &mut at);
    expect_byte(bytes, &mut at, b']')?;
    skip_spaces(bytes, &mut at);
    (at == bytes.len()).then(|| PathValue {
        path: canonical_path(object_type, &keys),
        value: value.to_string(),
    })
}

fn skip_spaces(bytes: &[u8], at: &mut usize) {
    while matches!(bytes.get(*at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        *at += 1;
    }
}

fn expect_byte(bytes: &[u8], at: &mut usize, expected: u8) -> Option<()> {
    (bytes.get(*at) == Some(&expected)).then(|| *at += 1)
}

/// A name as the lexer reads one (a letter or `_`, then letters, digits, `_` and `-`) that
/// is neither a keyword nor a boolean.
fn plain_word<'t>(text: &'t str, at: &mut usize) -> Option<&'t str> {
    let bytes = text.as_bytes();
    let start = *at;
    if !bytes
        .get(start)
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
    {
        return None;
    }
    let mut end = start + 1;
    while bytes
        .get(end)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
    {
        end += 1;
    }
    let word = &text[start..end];
    if Keyword::from_word(word).is_some() || word == "true" || word == "false" {
        return None;
    }
    *at = end;
    Some(word)
}

/// The text between a quote at `at` and the next one, when it holds no backslash.
fn quoted_text<'t>(text: &'t str, at: &mut usize) -> Option<&'t str> {
    let bytes = text.as_bytes();
    let start = *at + 1;
    let length = bytes
        .get(start..)?
        .iter()
        .position(|b| *b == b'\'' || *b == b'\\')?;
    let end = start + length;
    if bytes[end] != b'\'' {
        return None;
    }
    *at = end + 1;
    Some(&text[start..end])
}

/// The MISP attributes a pattern stands for (see the module documentation for what maps).
pub fn indicators_from_pattern(pattern: &str) -> Result<Vec<PatternIndicator>, String> {
    let groups = pattern_equality_groups(pattern)?;
    let mut out: Vec<PatternIndicator> = Vec::new();
    for group in &groups {
        for indicator in attributes_from_facts(group, true)? {
            if !out.contains(&indicator) {
                out.push(indicator);
            }
        }
    }
    if out.is_empty() {
        return Err("the pattern names no value Kizuna can store".to_string());
    }
    Ok(out)
}

/// MISP type of a hash name in canonical spelling (`SHA256`, `SHA3256`, `SSDEEP`).
pub fn misp_hash_type(canonical_name: &str) -> Option<&'static str> {
    Some(match canonical_name {
        "MD5" => "md5",
        "SHA1" => "sha1",
        "SHA224" => "sha224",
        "SHA256" => "sha256",
        "SHA384" => "sha384",
        "SHA512" => "sha512",
        "SHA512/224" | "SHA512224" => "sha512/224",
        "SHA512/256" | "SHA512256" => "sha512/256",
        "SHA3224" => "sha3-224",
        "SHA3256" => "sha3-256",
        "SHA3384" => "sha3-384",
        "SHA3512" => "sha3-512",
        "SSDEEP" => "ssdeep",
        "TLSH" => "tlsh",
        "IMPHASH" => "imphash",
        "IMPFUZZY" => "impfuzzy",
        "AUTHENTIHASH" => "authentihash",
        "VHASH" => "vhash",
        "PEHASH" => "pehash",
        "TELFHASH" => "telfhash",
        "CDHASH" => "cdhash",
        _ => return None,
    })
}

/// Paths that narrow which object is meant without naming an IoC of their own
/// (`network-traffic:dst_ref.type = 'ipv4-addr'`). Skipped when mapping, also in patterns.
fn is_qualifying_path(path: &str) -> bool {
    matches!(
        path,
        "network-traffic:dst_ref.type"
            | "network-traffic:src_ref.type"
            | "network-traffic:protocols"
            | "email-message:is_multipart"
            | "email-message:body_multipart.content_disposition"
            | "file:parent_directory_ref.path"
            | "user-account:account_type"
    )
}

/// The MISP attributes one observed object stands for, from its `path = value` facts
/// (an `AND` group of a pattern, or the properties of an observable).
///
/// `strict` (patterns): a fact this function does not know is an error, because dropping
/// it would widen what the indicator matches. Not strict (observables): unknown properties
/// (sizes, flags, custom `x_` properties) are simply not IoCs and are skipped.
pub fn attributes_from_facts(
    facts: &[PathValue],
    strict: bool,
) -> Result<Vec<PatternIndicator>, String> {
    let mut by_type: Vec<(&str, Vec<(&str, &str)>)> = Vec::new();
    for fact in facts {
        let Some((object_type, property)) = fact.path.split_once(':') else {
            continue;
        };
        match by_type.iter_mut().find(|(name, _)| *name == object_type) {
            Some((_, properties)) => properties.push((property, fact.value.as_str())),
            None => by_type.push((object_type, vec![(property, fact.value.as_str())])),
        }
    }
    // misp-stix writes hostname|port as a domain-name and a port in one bracket.
    let domain_port = by_type.iter().any(|(name, _)| *name == "domain-name")
        && by_type.iter().any(|(name, properties)| {
            *name == "network-traffic"
                && properties
                    .iter()
                    .all(|(property, _)| matches!(*property, "dst_port" | "protocols"))
                && properties
                    .iter()
                    .any(|(property, _)| *property == "dst_port")
        });
    let mut out = Vec::new();
    for (object_type, properties) in &by_type {
        let mut mapper = ObjectFacts {
            object_type,
            properties,
            used: vec![false; properties.len()],
        };
        if domain_port && *object_type == "network-traffic" {
            continue;
        }
        let produced = match *object_type {
            "ipv4-addr" | "ipv6-addr" => mapper.values("value", "ip-dst"),
            "domain-name" => {
                let ports = if domain_port {
                    by_type
                        .iter()
                        .filter(|(name, _)| *name == "network-traffic")
                        .flat_map(|(_, properties)| properties.iter())
                        .filter(|(property, _)| *property == "dst_port")
                        .map(|(_, value)| *value)
                        .collect()
                } else {
                    Vec::new()
                };
                mapper.domain(&ports)
            }
            "url" => mapper.values("value", "url"),
            "email-addr" => {
                let mut out = mapper.values("value", "email");
                out.extend(mapper.values("display_name", "email-src-display-name"));
                out
            }
            "email-message" => mapper.email_message(),
            "file" => mapper.file(),
            "network-traffic" => mapper.network_traffic(),
            "mac-addr" => mapper.values("value", "mac-address"),
            "autonomous-system" => mapper.values("number", "AS"),
            "windows-registry-key" => mapper.registry_key(),
            "mutex" => mapper.values("name", "mutex"),
            "x509-certificate" => mapper.x509(),
            "user-account" => mapper.user_account(),
            _ => Vec::new(),
        };
        out.extend(produced);
        if strict && let Some(unknown) = mapper.first_unused() {
            return Err(format!(
                "{object_type}:{unknown} has no MISP attribute type; the indicator cannot be imported without changing its meaning"
            ));
        }
    }
    Ok(out)
}

struct ObjectFacts<'a> {
    object_type: &'a str,
    properties: &'a [(&'a str, &'a str)],
    used: Vec<bool>,
}

impl ObjectFacts<'_> {
    /// Every value of `property`, marked as used.
    fn take(&mut self, property: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (index, (name, value)) in self.properties.iter().enumerate() {
            if *name == property {
                self.used[index] = true;
                out.push((*value).to_string());
            }
        }
        out
    }

    fn values(&mut self, property: &str, attr_type: &str) -> Vec<PatternIndicator> {
        self.take(property)
            .into_iter()
            .map(|value| PatternIndicator::new(attr_type, value))
            .collect()
    }

    fn first_unused(&self) -> Option<&str> {
        self.properties
            .iter()
            .zip(&self.used)
            .find(|((property, _), used)| {
                !**used && !is_qualifying_path(&format!("{}:{property}", self.object_type))
            })
            .map(|((property, _), _)| *property)
    }

    fn domain(&mut self, ports: &[&str]) -> Vec<PatternIndicator> {
        let domains = self.take("value");
        let addresses = self.take("resolves_to_refs.value");
        let mut out = Vec::new();
        for domain in &domains {
            if !ports.is_empty() {
                out.extend(ports.iter().map(|port| {
                    PatternIndicator::new("hostname|port", format!("{domain}|{port}"))
                }));
            } else if addresses.is_empty() {
                out.push(PatternIndicator::new("domain", domain.clone()));
            } else {
                out.extend(addresses.iter().map(|address| {
                    PatternIndicator::new("domain|ip", format!("{domain}|{address}"))
                }));
            }
        }
        if domains.is_empty() {
            out.extend(
                addresses
                    .into_iter()
                    .map(|address| PatternIndicator::new("ip-dst", address)),
            );
        }
        out
    }

    fn email_message(&mut self) -> Vec<PatternIndicator> {
        let mut out = Vec::new();
        for (property, attr_type) in [
            ("from_ref.value", "email-src"),
            ("sender_ref.value", "email-src"),
            ("from_ref.display_name", "email-src-display-name"),
            ("to_refs.value", "email-dst"),
            ("cc_refs.value", "email-dst"),
            ("bcc_refs.value", "email-dst"),
            ("to_refs.display_name", "email-dst-display-name"),
            ("cc_refs.display_name", "email-dst-display-name"),
            ("bcc_refs.display_name", "email-dst-display-name"),
            ("subject", "email-subject"),
            ("message_id", "email-message-id"),
            ("body", "email-body"),
            ("body_multipart.body_raw_ref.name", "email-attachment"),
            ("additional_header_fields.reply_to", "email-reply-to"),
            ("additional_header_fields.x_mailer", "email-x-mailer"),
            ("received_lines", "email-header"),
        ] {
            out.extend(self.values(property, attr_type));
        }
        out
    }

    fn file(&mut self) -> Vec<PatternIndicator> {
        let names = self.take("name");
        let mut hashes: Vec<(&'static str, String)> = Vec::new();
        for (index, (property, value)) in self.properties.iter().enumerate() {
            if let Some(attr_type) = property.strip_prefix("hashes.").and_then(misp_hash_type) {
                self.used[index] = true;
                hashes.push((attr_type, (*value).to_string()));
            }
        }
        let mut out = Vec::new();
        for (attr_type, hash) in &hashes {
            let composite = format!("filename|{attr_type}");
            match names.first() {
                Some(_) if attribute_type(&composite).is_some() => {
                    out.extend(
                        names.iter().map(|name| {
                            PatternIndicator::new(&composite, format!("{name}|{hash}"))
                        }),
                    );
                }
                _ => out.push(PatternIndicator::new(attr_type, hash.clone())),
            }
        }
        let hashes_took_names = hashes
            .iter()
            .any(|(attr_type, _)| attribute_type(&format!("filename|{attr_type}")).is_some());
        if !hashes_took_names {
            out.extend(
                names
                    .into_iter()
                    .map(|name| PatternIndicator::new("filename", name)),
            );
        }
        let sizes = self.take("size");
        if out.is_empty() {
            out.extend(
                sizes
                    .into_iter()
                    .map(|size| PatternIndicator::new("size-in-bytes", size)),
            );
        }
        out
    }

    fn network_traffic(&mut self) -> Vec<PatternIndicator> {
        let mut out = Vec::new();
        for (side, port_property) in [("dst", "dst_port"), ("src", "src_port")] {
            let addresses = self.take(&format!("{side}_ref.value"));
            let ports = self.take(port_property);
            for address in &addresses {
                let kind = if parse_address(address).is_some() {
                    format!("ip-{side}")
                } else {
                    "hostname".to_string()
                };
                if ports.is_empty() {
                    out.push(PatternIndicator::new(&kind, address.clone()));
                } else {
                    out.extend(ports.iter().map(|port| {
                        PatternIndicator::new(&format!("{kind}|port"), format!("{address}|{port}"))
                    }));
                }
            }
            if addresses.is_empty() {
                out.extend(
                    ports
                        .into_iter()
                        .map(|port| PatternIndicator::new("port", port)),
                );
            }
        }
        out.extend(self.values(
            "extensions.http-request-ext.request_header.user-agent",
            "user-agent",
        ));
        out.extend(self.values("extensions.http-request-ext.request_method", "http-method"));
        out
    }

    fn registry_key(&mut self) -> Vec<PatternIndicator> {
        let keys = self.take("key");
        let data = self.take("values.data");
        let mut out = Vec::new();
        for key in &keys {
            if data.is_empty() {
                out.push(PatternIndicator::new("regkey", key.clone()));
            } else {
                out.extend(
                    data.iter().map(|value| {
                        PatternIndicator::new("regkey|value", format!("{key}|{value}"))
                    }),
                );
            }
        }
        out
    }

    fn x509(&mut self) -> Vec<PatternIndicator> {
        let mut out = Vec::new();
        for (algorithm, attr_type) in [
            ("MD5", "x509-fingerprint-md5"),
            ("SHA1", "x509-fingerprint-sha1"),
            ("SHA256", "x509-fingerprint-sha256"),
        ] {
            out.extend(self.values(&format!("hashes.{algorithm}"), attr_type));
        }
        out
    }

    fn user_account(&mut self) -> Vec<PatternIndicator> {
        let is_github = self.properties.iter().any(|(property, value)| {
            *property == "account_type" && value.eq_ignore_ascii_case("github")
        });
        if is_github {
            self.values("account_login", "github-username")
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ObservationExpression {
        parse_pattern(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn fails(text: &str) -> PatternError {
        parse_pattern(text).expect_err(text)
    }

    #[test]
    fn reads_every_construct_of_the_grammar() {
        for text in [
            "[ipv4-addr:value = '198.51.100.3']",
            "[file:hashes.'SHA-256' = 'e3b0c442']",
            "[file:hashes.MD5 == 'd41d8cd98f00b204e9800998ecf8427e']",
            "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
            "[domain-name:value LIKE '%.example.com']",
            "[email-message:subject MATCHES '^[IMPORTANT] Please']",
            "[x:a != 1 AND x:b <> 2 AND x:c < 3 AND x:d <= -4 AND x:e > .5 AND x:f >= +6.25]",
            "[x:a IN ('a', 'b', 3)] OR [x:b IN ()]",
            "[x:a NOT IN (1)] AND [x:b NOT LIKE 'a'] AND [x:c NOT = 1]",
            "[EXISTS x:a] AND [NOT EXISTS x:b]",
            "[x:a ISSUPERSET '10.0.0.1']",
            "[email-message:body_multipart[*].body_raw_ref.name = 'a'] AND [x:list[0].y[-1] = true]",
            "[x:'quoted key'.'a-b' = false]",
            "[x:t = t'2024-01-01T00:00:00Z'] AND [x:h = h'0a0B'] AND [x:b = b'AQID']",
            "([file:hashes.MD5 = 'a'] FOLLOWEDBY [url:value = 'b']) WITHIN 300 SECONDS",
            "[x:a = 1] REPEATS 5 TIMES WITHIN 1.5 SECONDS",
            "[x:a = 1] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00.123Z'",
            "[x:a = 1 OR (x:b = 2 AND x:c = 3)] AND ([x:d = 4] OR [x:e = 5])",
            "/* comment */ [x:a = 1] // trailing comment",
            "[ x:a = 'it\\'s a \\\\ backslash' ]",
        ] {
            parse(text);
        }
    }

    #[test]
    fn precedence_and_structure() {
        let tree = parse("[a:x = 1] OR [a:y = 2] AND [a:z = 3] FOLLOWEDBY [a:w = 4]");
        let ObservationExpression::FollowedBy(parts) = tree else {
            panic!("FOLLOWEDBY binds loosest");
        };
        assert!(
            matches!(&parts[0], ObservationExpression::Or(or) if matches!(or[1], ObservationExpression::And(_)))
        );
        let tree = parse("[file:hashes.'SHA-256' = 'ab' OR file:name = 'x' AND file:size = 3]");
        let ObservationExpression::Observation(ComparisonExpression::Or(parts)) = tree else {
            panic!("OR binds looser than AND inside brackets");
        };
        assert!(matches!(parts[1], ComparisonExpression::And(_)));
        let ComparisonExpression::Comparison(first) = &parts[0] else {
            panic!()
        };
        assert_eq!(
            first.path.steps,
            vec![
                PathStep::Key("hashes".into()),
                PathStep::Key("SHA-256".into())
            ]
        );
        assert_eq!(first.path.to_string(), "file:hashes.'SHA-256'");
        assert_eq!(
            first.test,
            Test::Compare(Operator::Equal, Literal::String("ab".into()))
        );
    }

    #[test]
    fn string_escapes_are_resolved() {
        let tree = parse(r"[windows-registry-key:key = 'HKLM\\Software\\it\'s']");
        let ObservationExpression::Observation(ComparisonExpression::Comparison(comparison)) = tree
        else {
            panic!()
        };
        assert_eq!(
            comparison.test,
            Test::Compare(
                Operator::Equal,
                Literal::String(r"HKLM\Software\it's".into())
            )
        );
    }

    #[test]
    fn errors_name_the_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("[file:hashes.SHA-256 = 'a']", 14, "must be quoted"),
            ("[ipv4-addr:value = '1.2.3.4'", 29, "expected ']'"),
            ("[ipv4-addr:value = '1.2.3.4]", 20, "unterminated string"),
            ("[ipv4-addr:value = 'a\\b']", 22, "invalid escape"),
            ("[ipv4-addr:value '1.2.3.4']", 18, "comparison operator"),
            ("ipv4-addr:value = '1.2.3.4'", 1, "expected '['"),
            (
                "[x:a = 1] and [x:b = 2]",
                11,
                "expected AND, OR or FOLLOWEDBY",
            ),
            ("[x:a = 01]", 8, "leading zero"),
            ("[x:a = t'2024-13-01T00:00:00Z']", 8, "timestamp"),
            ("[x:a = h'abc']", 8, "hex literal"),
            ("[x:a = b'abc']", 8, "base64"),
            ("[x:a < true]", 8, "boolean"),
            ("[x:a = 1] WITHIN 0 SECONDS", 18, "positive"),
            ("[x:a = 1] REPEATS 2", 20, "expected TIMES"),
            ("[x:a LIKE 1]", 11, "string literal"),
            ("[x:a = 1]]", 10, "unbalanced"),
            ("", 1, "empty"),
            ("[x:a = 1 # 2]", 10, "unexpected character"),
            ("[x:AND = 1]", 4, "keyword"),
            ("[NOT x:a = 1]", 6, "EXISTS"),
        ];
        for (text, column, fragment) in cases {
            let failure = fails(text);
            assert_eq!(failure.column, *column, "{text}: {failure}");
            assert!(failure.message.contains(fragment), "{text}: {failure}");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}[x:a = 1]{}", "(".repeat(200), ")".repeat(200));
        assert!(fails(&text).message.contains("nested deeper"));
    }

    fn indicators(pattern: &str) -> Vec<(String, String)> {
        indicators_from_pattern(pattern)
            .unwrap_or_else(|reason| panic!("{pattern}: {reason}"))
            .into_iter()
            .map(|indicator| (indicator.attr_type, indicator.value))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(t, v)| (t.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn common_ioc_patterns_map_to_attributes() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "[ipv4-addr:value = '198.51.100.3']",
                &[("ip-dst", "198.51.100.3")],
            ),
            (
                "[ipv6-addr:value = '2001:db8::1']",
                &[("ip-dst", "2001:db8::1")],
            ),
            (
                "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
                &[("ip-dst", "198.51.100.0/24")],
            ),
            (
                "[ipv4-addr:value = '223.166.0.0/15']",
                &[("ip-dst", "223.166.0.0/15")],
            ),
            (
                "[domain-name:value = 'example.com']",
                &[("domain", "example.com")],
            ),
            (
                "[url:value = 'https://example.com/evil']",
                &[("url", "https://example.com/evil")],
            ),
            (
                "[email-addr:value = 'bad@example.com']",
                &[("email", "bad@example.com")],
            ),
            (
                "[email-message:from_ref.value = 'bad@example.com']",
                &[("email-src", "bad@example.com")],
            ),
            (
                "[email-message:subject = 'Invoice']",
                &[("email-subject", "Invoice")],
            ),
            ("[file:hashes.'SHA-256' = 'ab']", &[("sha256", "ab")]),
            ("[file:hashes.md5 = 'ab']", &[("md5", "ab")]),
            ("[file:hashes.'SHA512-256' = 'ab']", &[("sha512/256", "ab")]),
            ("[file:name = 'evil.exe']", &[("filename", "evil.exe")]),
            (
                "[file:name = 'evil.exe' AND file:hashes.MD5 = 'ab']",
                &[("filename|md5", "evil.exe|ab")],
            ),
            (
                "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '5.6.7.8']",
                &[("ip-dst", "5.6.7.8")],
            ),
            (
                "[network-traffic:dst_ref.value = '5.6.7.8' AND network-traffic:dst_port = 443]",
                &[("ip-dst|port", "5.6.7.8|443")],
            ),
            (
                "[domain-name:value = 'circl.lu' AND network-traffic:dst_port = '8443']",
                &[("hostname|port", "circl.lu|8443")],
            ),
            (
                "[domain-name:value = 'circl.lu' AND domain-name:resolves_to_refs[*].value = '149.13.33.14']",
                &[("domain|ip", "circl.lu|149.13.33.14")],
            ),
            (
                r"[windows-registry-key:key = 'HKLM\\Run']",
                &[("regkey", r"HKLM\Run")],
            ),
            ("[mutex:name = 'Global\\\\x']", &[("mutex", "Global\\x")]),
            (
                "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'Mozilla']",
                &[("user-agent", "Mozilla")],
            ),
            (
                "[x509-certificate:hashes.'SHA-1' = 'ab']",
                &[("x509-fingerprint-sha1", "ab")],
            ),
            ("[autonomous-system:number = 174]", &[("AS", "174")]),
            (
                "[mac-addr:value = '12:34:56:78:90:ab']",
                &[("mac-address", "12:34:56:78:90:ab")],
            ),
            (
                "[domain-name:value = 'a.example' OR ipv4-addr:value = '10.0.0.1'] OR [url:value = 'http://b.example/']",
                &[
                    ("domain", "a.example"),
                    ("ip-dst", "10.0.0.1"),
                    ("url", "http://b.example/"),
                ],
            ),
            (
                "[ipv4-addr:value IN ('10.0.0.1', '10.0.0.2')]",
                &[("ip-dst", "10.0.0.1"), ("ip-dst", "10.0.0.2")],
            ),
        ];
        for (pattern, expected) in cases {
            assert_eq!(indicators(pattern), pairs(expected), "{pattern}");
        }
    }

    #[test]
    fn what_cannot_be_mapped_says_why() {
        let cases: &[(&str, &str)] = &[
            ("[domain-name:value LIKE '%.example.com']", "LIKE"),
            ("[email-message:subject MATCHES '^x']", "MATCHES"),
            ("[ipv4-addr:value != '10.0.0.1']", "range"),
            ("[ipv4-addr:value NOT = '10.0.0.1']", "negated"),
            ("[file:size > 100]", "range"),
            ("[a:b = 1] FOLLOWEDBY [a:c = 2]", "FOLLOWEDBY"),
            ("[ipv4-addr:value = '10.0.0.1'] WITHIN 5 SECONDS", "WITHIN"),
            (
                "[x509-certificate:issuer = 'CN=WEBMAIL']",
                "x509-certificate:issuer",
            ),
            (
                "[file:name = 'a' AND file:mime_type = 'x']",
                "file:mime_type",
            ),
            ("[process:name = 'evil']", "process:name"),
            ("[domain-name:value ISSUBSET 'example.com']", "ISSUBSET"),
            ("[file:hashes.MD5 = b'AAAA']", "binary"),
            ("[ipv4-addr:value = '1.2.3.4'", "invalid pattern: column"),
        ];
        for (pattern, fragment) in cases {
            let reason = indicators_from_pattern(pattern).expect_err(pattern);
            assert!(reason.contains(fragment), "{pattern}: {reason}");
        }
    }

    /// The patterns of every STIX file under `dir`, at any depth of the JSON.
    fn patterns_in_files(dir: &std::path::Path, into: &mut Vec<String>) {
        fn walk(value: &serde_json::Value, into: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(pattern)) = map.get("pattern") {
                        into.push(pattern.clone());
                    }
                    map.values().for_each(|inner| walk(inner, into));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|inner| walk(inner, into)),
                _ => {}
            }
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                patterns_in_files(&path, into);
            } else if path.extension().is_some_and(|ext| ext == "json")
                && let Ok(text) = std::fs::read(&path)
                && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&text)
            {
                walk(&value, into);
            }
        }
    }

    #[test]
    fn the_one_equality_reader_agrees_with_the_parser() {
        let mut patterns: Vec<String> = Vec::new();
        patterns_in_files(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"),
            &mut patterns,
        );
        let from_files = patterns.len();
        assert!(
            from_files > 20,
            "only {from_files} patterns in the test data"
        );
        // Each part of `[type:path = 'value']` in shapes the reader must take, and shapes
        // it must leave to the parser; the mix covers every pair of them.
        let leads = ["", " ", "\t\n", "\u{A0}", "/**/", "x"];
        let types = [
            "ipv4-addr",
            "file",
            "x",
            "t",
            "_x",
            "AND",
            "true",
            "9a",
            "a-",
            "url",
        ];
        let colons = [":", " :", "::"];
        let paths = [
            "value",
            "hashes.'SHA-256'",
            "hashes.MD5",
            "hashes.sha_256",
            "a-b",
            "'a-b'",
            "a.b.c",
            "a[0]",
            "a[*].b",
            "a.5",
            "a.",
            "AND",
            "'AND'",
            "''",
            "'q\\'d'",
            "'unterminated",
            " value",
            "value ",
            "a. b",
            "true",
            "b'AQID'",
            "additional_header_fields.'X-Mailer'",
            "request_header.User_Agent",
        ];
        let operators = [
            "=", "==", " = ", "= =", "===", "!=", " IN ", " NOT =", "=\n",
        ];
        let values = [
            "'v'",
            "''",
            "'198.51.100.3'",
            "'it\\'s'",
            "'a\\\\b'",
            "'unterminated",
            "1",
            "true",
            "'é \u{1F600}'",
            "t'2020-01-01T00:00:00Z'",
            "h'0A'",
            "'a]'",
            "('a')",
        ];
        let closes = [
            "]",
            "] ",
            " ]\r\n",
            "]]",
            "",
            "] AND [x:a = 'b']",
            "] WITHIN 5 SECONDS",
            "] //",
            "]\u{3000}",
        ];
        let base =
            |lead: &str,
             kind: &str,
             colon: &str,
             path: &str,
             op: &str,
             value: &str,
             close: &str| { format!("{lead}[{kind}{colon}{path}{op}{value}{close}") };
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut pick = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..40_000 {
            patterns.push(base(
                leads[pick(leads.len())],
                types[pick(types.len())],
                colons[pick(colons.len())],
                paths[pick(paths.len())],
                operators[pick(operators.len())],
                values[pick(values.len())],
                closes[pick(closes.len())],
            ));
        }
        let mut taken = 0;
        let mut taken_from_files = 0;
        for (index, pattern) in patterns.iter().enumerate() {
            let Some(fact) = one_string_equality(pattern) else {
                continue;
            };
            taken += 1;
            if index < from_files {
                taken_from_files += 1;
            }
            let parsed = parse_pattern(pattern)
                .map_err(|error| error.to_string())
                .and_then(|expression| equality_groups(&expression));
            assert_eq!(parsed, Ok(vec![vec![fact]]), "{pattern:?}");
        }
        assert!(
            taken_from_files > 10,
            "{taken_from_files} of the files' patterns"
        );
        assert!(taken > 150, "the reader took {taken} patterns");
    }
}
