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
