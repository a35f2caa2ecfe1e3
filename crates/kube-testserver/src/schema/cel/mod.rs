//! A small interpreter for the CEL subset CRD validation rules use (`x-kubernetes-validations`):
//! literals, `self`/`oldSelf`, field selection and indexing, `has()`, `size()`, `int()`,
//! `! && || == != < <= > >= + - * / % in`, `.startsWith/.endsWith/.contains/.matches`, the
//! strings extension's `.split()`, and the macros `all`, `exists`, `exists_one`, `filter`, `map`.
//! A rule outside the subset fails to parse (or its evaluation errs) and is not enforced.

mod eval;
mod parse;

use std::collections::HashMap;

use serde_json::Value;

pub use eval::eval;
pub use parse::parse;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    }

    #[test]
    fn arithmetic_int_conversion_and_split() {
        assert_eq!(check("2 + 3 * 4 == 14", json!(null), None), Ok(true));
        assert_eq!(check("(2 + 3) * 4 == 20", json!(null), None), Ok(true));
        assert_eq!(
            check("7 / 2 == 3 && 7 % 2 == 1", json!(null), None),
            Ok(true)
        );
        assert_eq!(
            check("-7 / 2 == -3 && -7 % 2 == -1", json!(null), None),
            Ok(true)
        );
        assert!(check("1 / 0 == 0", json!(null), None).is_err());
        assert!(check("1 % 0 == 0", json!(null), None).is_err());
        assert!(
            check("9223372036854775807 + 1 > 0", json!(null), None).is_err(),
            "int overflow is an error in CEL"
        );
        assert!(check("1.5 % 1.0 == 0.5", json!(null), None).is_err());
        assert_eq!(check("int('42') == 42", json!(null), None), Ok(true));
        assert_eq!(check("int('-3') == -3", json!(null), None), Ok(true));
        assert_eq!(
            check("int(2.9) == 2 && int(-2.9) == -2", json!(null), None),
            Ok(true)
        );
        assert!(check("int('4x') == 4", json!(null), None).is_err());
        assert!(check("int(' 4') == 4", json!(null), None).is_err());
        assert_eq!(
            check(
                "self.split('.') == ['10', '0', '0', '1']",
                json!("10.0.0.1"),
                None
            ),
            Ok(true)
        );
        assert_eq!(
            check("self.split('.', 2) == ['a', 'b.c']", json!("a.b.c"), None),
            Ok(true)
        );
        assert_eq!(
            check("self.split('.', 0).size() == 0", json!("a.b"), None),
            Ok(true)
        );
        assert_eq!(
            check("self.split('') == ['a', 'b']", json!("ab"), None),
            Ok(true)
        );
        assert_eq!(
            check("self.split('', 2) == ['a', 'bc']", json!("abc"), None),
            Ok(true)
        );
        assert_eq!(check("self.split(',') == ['']", json!(""), None), Ok(true));
        assert_eq!(
            check(
                "int(self.split('.')[0]) * 16777216 + int(self.split('.')[3]) == 167772161",
                json!("10.0.0.1"),
                None
            ),
            Ok(true)
        );
        assert!(uses_old_self(
            &parse("self == oldSelf").unwrap_or(Expr::Lit(Value::Null))
        ));
    }
}
