//! A small interpreter for the CEL subset CRD validation rules use (`x-kubernetes-validations`):
//! literals, `self`/`oldSelf`, field selection, `has()`, `size()`, `! && || == != < <= > >= + -`,
//! `in`, `.startsWith/.endsWith/.contains/.matches`, and the macros `all`, `exists`,
//! `exists_one`, `filter`, `map`. A rule outside the subset fails to parse and is not enforced.

use std::collections::HashMap;

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Value),
    Ident(String),
    Select(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Call {
        target: Option<Box<Expr>>,
        name: String,
        args: Vec<Expr>,
    },
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(String, Box<Expr>, Box<Expr>),
}

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
            } else if "!<>()[].,+-".contains(c) {
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
        self.binary(&["+", "-"], Self::unary)
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

/// Whether the rule mentions `oldSelf` (a transition rule, checked only on update).
pub fn uses_old_self(expr: &Expr) -> bool {
    match expr {
        Expr::Lit(_) => false,
        Expr::Ident(name) => name == "oldSelf",
        Expr::Select(e, _) | Expr::Not(e) | Expr::Neg(e) => uses_old_self(e),
        Expr::Index(a, b) | Expr::Binary(_, a, b) => uses_old_self(a) || uses_old_self(b),
        Expr::Call { target, args, .. } => {
            target.as_deref().is_some_and(uses_old_self) || args.iter().any(uses_old_self)
        }
    }
}

pub type Env = HashMap<String, Value>;

pub fn eval(expr: &Expr, env: &Env) -> Result<Value, String> {
    match expr {
        Expr::Lit(v) => Ok(v.clone()),
        Expr::Ident(name) => env
            .get(name)
            .cloned()
            .ok_or_else(|| format!("undeclared reference to {name}")),
        Expr::Select(target, field) => {
            let value = eval(target, env)?;
            value
                .get(field)
                .cloned()
                .ok_or_else(|| format!("no such key: {field}"))
        }
        Expr::Index(target, index) => {
            let (value, index) = (eval(target, env)?, eval(index, env)?);
            match (&value, &index) {
                (Value::Array(items), Value::Number(n)) => {
                    let i = n.as_u64().ok_or("bad index")?;
                    items
                        .get(usize::try_from(i).map_err(|e| e.to_string())?)
                        .cloned()
                        .ok_or_else(|| "index out of range".into())
                }
                (Value::Object(map), Value::String(k)) => map
                    .get(k)
                    .cloned()
                    .ok_or_else(|| format!("no such key: {k}")),
                _ => Err("unsupported index".into()),
            }
        }
        Expr::Not(e) => Ok(json!(!as_bool(&eval(e, env)?)?)),
        Expr::Neg(e) => Ok(json!(-as_f64(&eval(e, env)?)?)),
        Expr::Binary(op, a, b) => binary(op, a, b, env),
        Expr::Call { target, name, args } => call(target.as_deref(), name, args, env),
    }
}

fn as_bool(v: &Value) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| format!("{v} is not a bool"))
}

fn as_f64(v: &Value) -> Result<f64, String> {
    v.as_f64().ok_or_else(|| format!("{v} is not a number"))
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn binary(op: &str, a: &Expr, b: &Expr, env: &Env) -> Result<Value, String> {
    match op {
        "&&" => {
            if !as_bool(&eval(a, env)?)? {
                return Ok(json!(false));
            }
            Ok(json!(as_bool(&eval(b, env)?)?))
        }
        "||" => {
            if as_bool(&eval(a, env)?)? {
                return Ok(json!(true));
            }
            Ok(json!(as_bool(&eval(b, env)?)?))
        }
        _ => {
            let (x, y) = (eval(a, env)?, eval(b, env)?);
            match op {
                "==" => Ok(json!(equal(&x, &y))),
                "!=" => Ok(json!(!equal(&x, &y))),
                "in" => match &y {
                    Value::Array(items) => Ok(json!(items.iter().any(|i| equal(i, &x)))),
                    Value::Object(map) => {
                        Ok(json!(x.as_str().is_some_and(|k| map.contains_key(k))))
                    }
                    _ => Err("'in' needs a list or map".into()),
                },
                "+" => match (&x, &y) {
                    (Value::String(s), Value::String(t)) => Ok(json!(format!("{s}{t}"))),
                    (Value::Array(s), Value::Array(t)) => {
                        Ok(Value::Array(s.iter().chain(t).cloned().collect()))
                    }
                    _ => Ok(json!(as_f64(&x)? + as_f64(&y)?)),
                },
                "-" => Ok(json!(as_f64(&x)? - as_f64(&y)?)),
                _ => {
                    let ordering = match (&x, &y) {
                        (Value::String(s), Value::String(t)) => s.cmp(t),
                        _ => as_f64(&x)?
                            .partial_cmp(&as_f64(&y)?)
                            .ok_or("incomparable")?,
                    };
                    Ok(json!(match op {
                        "<" => ordering.is_lt(),
                        "<=" => ordering.is_le(),
                        ">" => ordering.is_gt(),
                        _ => ordering.is_ge(),
                    }))
                }
            }
        }
    }
}

fn size(v: &Value) -> Result<Value, String> {
    match v {
        Value::String(s) => Ok(json!(s.chars().count())),
        Value::Array(a) => Ok(json!(a.len())),
        Value::Object(m) => Ok(json!(m.len())),
        _ => Err("size() of a scalar".into()),
    }
}

fn call(target: Option<&Expr>, name: &str, args: &[Expr], env: &Env) -> Result<Value, String> {
    let Some(target) = target else {
        return match (name, args) {
            ("has", [Expr::Select(object, field)]) => Ok(json!(
                eval(object, env)?
                    .as_object()
                    .is_some_and(|m| m.contains_key(field))
            )),
            ("size", [arg]) => size(&eval(arg, env)?),
            ("__list", items) => Ok(Value::Array(
                items
                    .iter()
                    .map(|i| eval(i, env))
                    .collect::<Result<_, _>>()?,
            )),
            _ => Err(format!("unsupported function {name}")),
        };
    };
    let value = eval(target, env)?;
    if let ("all" | "exists" | "exists_one" | "filter" | "map", [Expr::Ident(var), body]) =
        (name, args)
    {
        let items: Vec<Value> = match &value {
            Value::Array(items) => items.clone(),
            Value::Object(map) => map.keys().map(|k| json!(k)).collect(),
            _ => return Err(format!("{name}() over a scalar")),
        };
        let mut scope = env.clone();
        let mut results = Vec::new();
        for item in &items {
            scope.insert(var.clone(), item.clone());
            results.push(eval(body, &scope)?);
        }
        let truths = || {
            results
                .iter()
                .map(as_bool)
                .collect::<Result<Vec<bool>, String>>()
        };
        return match name {
            "all" => Ok(json!(truths()?.iter().all(|t| *t))),
            "exists" => Ok(json!(truths()?.iter().any(|t| *t))),
            "exists_one" => Ok(json!(truths()?.iter().filter(|t| **t).count() == 1)),
            "filter" => {
                let keep = truths()?;
                Ok(Value::Array(
                    items
                        .into_iter()
                        .zip(keep)
                        .filter(|(_, k)| *k)
                        .map(|(i, _)| i)
                        .collect(),
                ))
            }
            _ => Ok(Value::Array(results)),
        };
    }
    let text = |i: usize| -> Result<String, String> {
        let arg = args.get(i).ok_or("missing argument")?;
        eval(arg, env)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "argument is not a string".into())
    };
    let this = || {
        value
            .as_str()
            .ok_or_else(|| format!("{name}() on a non-string"))
    };
    match name {
        "size" => size(&value),
        "startsWith" => Ok(json!(this()?.starts_with(&text(0)?))),
        "endsWith" => Ok(json!(this()?.ends_with(&text(0)?))),
        "contains" => Ok(json!(this()?.contains(&text(0)?))),
        "matches" => {
            let re = regex::Regex::new(&text(0)?).map_err(|e| e.to_string())?;
            Ok(json!(re.is_match(this()?)))
        }
        _ => Err(format!("unsupported method {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(rule: &str, this: Value, old: Option<Value>) -> Result<bool, String> {
        let mut env = Env::new();
        env.insert("self".into(), this);
        if let Some(old) = old {
            env.insert("oldSelf".into(), old);
        }
        eval(&parse(rule)?, &env)?
            .as_bool()
            .ok_or_else(|| "not a bool".into())
    }

    #[test]
    fn the_rules_cnpg_crds_use() {
        let spec = json!({ "imageName": "x", "imageCatalogRef": { "kind": "ImageCatalog" } });
        assert_eq!(
            check(
                "!(has(self.imageCatalogRef) && has(self.imageName))",
                spec,
                None
            ),
            Ok(false)
        );
        assert_eq!(
            check(
                "!(has(self.imageCatalogRef) && has(self.imageName))",
                json!({ "imageName": "x" }),
                None
            ),
            Ok(true)
        );
        assert_eq!(
            check("self == oldSelf", json!("a"), Some(json!("b"))),
            Ok(false)
        );
        assert_eq!(
            check(
                "self.name == oldSelf.name",
                json!({ "name": "a" }),
                Some(json!({ "name": "a" }))
            ),
            Ok(true)
        );
        assert_eq!(
            check(
                "!self.name.startsWith('pg_')",
                json!({ "name": "pg_x" }),
                None
            ),
            Ok(false)
        );
        assert_eq!(
            check("self.name.size() != 0", json!({ "name": "" }), None),
            Ok(false)
        );
        assert_eq!(
            check(
                "self.kind == 'ImageCatalog' || self.kind == 'ClusterImageCatalog'",
                json!({ "kind": "Other" }),
                None
            ),
            Ok(false)
        );
        let images = json!([{ "major": 16 }, { "major": 17 }, { "major": 16 }]);
        assert_eq!(
            check(
                "self.all(e, self.filter(f, f.major==e.major).size() == 1)",
                images,
                None
            ),
            Ok(false)
        );
        assert_eq!(
            check(
                "!self.exists(a, a.startsWith('--log-level'))",
                json!(["--x", "--log-level=debug"]),
                None
            ),
            Ok(false)
        );
        assert_eq!(
            check(
                "!has(self.passwordSecret) || !has(self.disablePassword) || !self.disablePassword",
                json!({ "passwordSecret": { "name": "s" }, "disablePassword": true }),
                None
            ),
            Ok(false)
        );
        assert_eq!(check("self > 0", json!(0), None), Ok(false));
        assert_eq!(
            check(
                "'a' in ['a', 'b'] && 1 + 1 == 2 && -1 < 0",
                json!(null),
                None
            ),
            Ok(true)
        );
        assert!(
            check("self.missing == 1", json!({}), None).is_err(),
            "errors are reported, not guessed"
        );
        assert!(parse("self ? 1 : 2").is_err());
        assert!(uses_old_self(
            &parse("self == oldSelf").unwrap_or(Expr::Lit(Value::Null))
        ));
    }
}
