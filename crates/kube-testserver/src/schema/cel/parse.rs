//! Tokenizer and recursive-descent parser for the CEL subset.

use serde_json::{Value, json};

use super::Expr;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Lit(Value),
    Op(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            tokens.push(match word.as_str() {
                "true" => Token::Lit(json!(true)),
                "false" => Token::Lit(json!(false)),
                "null" => Token::Lit(Value::Null),
                "in" => Token::Op("in".into()),
                _ => Token::Ident(word),
            });
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            let value = match number.parse::<i64>() {
                Ok(n) => json!(n),
                Err(_) => json!(
                    number
                        .parse::<f64>()
                        .map_err(|e| format!("number {number}: {e}"))?
                ),
            };
            tokens.push(Token::Lit(value));
        } else if c == '\'' || c == '"' {
            let mut out = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                out.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err("unterminated string".into());
            }
            i += 1;
            tokens.push(Token::Lit(json!(out)));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["==", "!=", "<=", ">=", "&&", "||"].contains(&two.as_str()) {
                tokens.push(Token::Op(two));
                i += 2;
            } else if "!<>()[].,+-*/%".contains(c) {
                tokens.push(Token::Op(c.to_string()));
                i += 1;
            } else {
                return Err(format!("unexpected character {c:?}"));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Op(o)) if o == op)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let found = self.peek_op(op);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect_op(&mut self, op: &str) -> Result<(), String> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(format!("expected {op:?}"))
        }
    }

    fn binary(
        &mut self,
        ops: &[&str],
        next: fn(&mut Self) -> Result<Expr, String>,
    ) -> Result<Expr, String> {
        let mut left = next(self)?;
        while let Some(op) = ops.iter().find(|op| self.peek_op(op)) {
            self.pos += 1;
            let right = next(self)?;
            left = Expr::Binary((*op).to_owned(), Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.binary(&["||"], Self::and)
    }

    fn and(&mut self) -> Result<Expr, String> {
        self.binary(&["&&"], Self::relation)
    }

    fn relation(&mut self) -> Result<Expr, String> {
        self.binary(&["==", "!=", "<=", ">=", "<", ">", "in"], Self::additive)
    }

    fn additive(&mut self) -> Result<Expr, String> {
        self.binary(&["+", "-"], Self::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Expr, String> {
        self.binary(&["*", "/", "%"], Self::unary)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat_op("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat_op("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.postfix()
    }

    fn args(&mut self) -> Result<Vec<Expr>, String> {
        let mut args = Vec::new();
        if !self.eat_op(")") {
            loop {
                args.push(self.or()?);
                if self.eat_op(")") {
                    break;
                }
                self.expect_op(",")?;
            }
        }
        Ok(args)
    }

    fn postfix(&mut self) -> Result<Expr, String> {
        let mut expr = self.primary()?;
        loop {
            if self.eat_op(".") {
                let Some(Token::Ident(name)) = self.tokens.get(self.pos).cloned() else {
                    return Err("expected a field or method name".into());
                };
                self.pos += 1;
                expr = if self.eat_op("(") {
                    Expr::Call {
                        target: Some(Box::new(expr)),
                        name,
                        args: self.args()?,
                    }
                } else {
                    Expr::Select(Box::new(expr), name)
                };
            } else if self.eat_op("[") {
                let index = self.or()?;
                self.expect_op("]")?;
                expr = Expr::Index(Box::new(expr), Box::new(index));
            } else {
                return Ok(expr);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let token = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or("unexpected end of rule")?;
        self.pos += 1;
        match token {
            Token::Lit(v) => Ok(Expr::Lit(v)),
            Token::Ident(name) if self.eat_op("(") => Ok(Expr::Call {
                target: None,
                name,
                args: self.args()?,
            }),
            Token::Ident(name) => Ok(Expr::Ident(name)),
            Token::Op(op) if op == "(" => {
                let inner = self.or()?;
                self.expect_op(")")?;
                Ok(inner)
            }
            Token::Op(op) if op == "[" => {
                let mut items = Vec::new();
                if !self.eat_op("]") {
                    loop {
                        items.push(self.or()?);
                        if self.eat_op("]") {
                            break;
                        }
                        self.expect_op(",")?;
                    }
                }
                Ok(Expr::Call {
                    target: None,
                    name: "__list".into(),
                    args: items,
                })
            }
            Token::Op(op) => Err(format!("unexpected {op:?}")),
        }
    }
}

pub fn parse(rule: &str) -> Result<Expr, String> {
    let mut parser = Parser {
        tokens: tokenize(rule)?,
        pos: 0,
    };
    let expr = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err(format!("unexpected trailing input in {rule:?}"));
    }
    Ok(expr)
}
