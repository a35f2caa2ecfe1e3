//! Evaluation of a parsed rule against JSON values.

use serde_json::{Value, json};

use super::{Env, Expr};

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
        Expr::Neg(e) => {
            let value = eval(e, env)?;
            match value.as_i64() {
                Some(n) => n
                    .checked_neg()
                    .map(|n| json!(n))
                    .ok_or_else(|| "integer overflow".into()),
                None => Ok(json!(-as_f64(&value)?)),
            }
        }
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
                    _ => arithmetic(op, &x, &y),
                },
                "-" | "*" | "/" | "%" => arithmetic(op, &x, &y),
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

/// `+ - * / %` on numbers. Two ints give an int as CEL computes it (overflow, division or modulo
/// by zero are errors); otherwise doubles (`%` has no double overload in CEL).
fn arithmetic(op: &str, x: &Value, y: &Value) -> Result<Value, String> {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        let result = match op {
            "+" => a.checked_add(b),
            "-" => a.checked_sub(b),
            "*" => a.checked_mul(b),
            "/" if b == 0 => return Err("division by zero".into()),
            "/" => a.checked_div(b),
            "%" if b == 0 => return Err("modulus by zero".into()),
            _ => a.checked_rem(b),
        };
        return result
            .map(|n| json!(n))
            .ok_or_else(|| "integer overflow".into());
    }
    let (a, b) = (as_f64(x)?, as_f64(y)?);
    match op {
        "+" => Ok(json!(a + b)),
        "-" => Ok(json!(a - b)),
        "*" => Ok(json!(a * b)),
        "/" => Ok(json!(a / b)),
        _ => Err("no such overload: double % double".into()),
    }
}

/// CEL's `int()`: a base-10 string (an error when it is not one), a double truncated toward zero
/// (an error outside the int64 range), an int unchanged.
fn to_int(v: &Value) -> Result<Value, String> {
    match v {
        Value::String(s) => s
            .parse::<i64>()
            .map(|n| json!(n))
            .map_err(|_| format!("cannot parse {s:?} as an int")),
        Value::Number(n) if n.is_i64() => Ok(v.clone()),
        Value::Number(n) => {
            let f = n.as_f64().ok_or("not a number")?;
            // 2^63 is exactly representable; int64 holds [-2^63, 2^63).
            if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
                #[allow(clippy::cast_possible_truncation)]
                Ok(json!(f.trunc() as i64))
            } else {
                Err("range error converting double to int".into())
            }
        }
        _ => Err(format!("no such overload: int({v})")),
    }
}

/// The strings extension's `split(separator[, limit])`, with Go's `strings.SplitN` semantics:
/// limit 0 gives an empty list, a negative limit (or none) all parts, an empty separator splits
/// into characters.
fn split(text: &str, separator: &str, limit: Option<i64>) -> Value {
    let limit = limit.unwrap_or(-1);
    if limit == 0 {
        return json!([]);
    }
    let parts: Vec<String> = if separator.is_empty() {
        let chars: Vec<char> = text.chars().collect();
        match usize::try_from(limit) {
            Ok(n) if n < chars.len() => {
                let mut parts: Vec<String> = chars[..n - 1].iter().map(char::to_string).collect();
                parts.push(chars[n - 1..].iter().collect());
                parts
            }
            _ => chars.iter().map(char::to_string).collect(),
        }
    } else {
        match usize::try_from(limit) {
            Ok(n) => text.splitn(n, separator).map(str::to_owned).collect(),
            Err(_) => text.split(separator).map(str::to_owned).collect(),
        }
    };
    json!(parts)
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
            ("int", [arg]) => to_int(&eval(arg, env)?),
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
        "split" => {
            let limit = match args.get(1) {
                Some(arg) => Some(
                    eval(arg, env)?
                        .as_i64()
                        .ok_or("split limit is not an int")?,
                ),
                None => None,
            };
            Ok(split(this()?, &text(0)?, limit))
        }
        "matches" => {
            let re = regex::Regex::new(&text(0)?).map_err(|e| e.to_string())?;
            Ok(json!(re.is_match(this()?)))
        }
        _ => Err(format!("unsupported method {name}")),
    }
}
