//! The value rules the documentation states and the JSON schema cannot express.

use super::reply::Refusal;

/// Server names: 3–63 characters, lowercase letters, digits and hyphens, not starting or ending
/// with a hyphen (the `--name` rule of `az postgres flexible-server`; the spec's
/// ServerNameParameter, specification/postgresql/resource-manager/types/common-types.json,
/// has the length and the no-edge-hyphen pattern).
pub(crate) fn server_name(name: &str) -> Result<(), Refusal> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Refusal::rule(
            400,
            "InvalidResourceName",
            format!(
                "The resource name '{name}' is invalid. A server name must be 3 to 63 characters of lowercase letters, numbers and hyphens, and may not start or end with a hyphen."
            ),
        ))
    }
}

/// Firewall rule and database names: the spec's pattern `^[-\w\._]+$`
/// (FirewallRules.json FirewallRuleNameParameter, Databases.json DatabaseNameParameter).
pub(crate) fn child_name(kind: &str, name: &str) -> Result<(), Refusal> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(Refusal::rule(
            400,
            "InvalidResourceName",
            format!(
                "The {kind} name '{name}' is invalid: it may contain letters, digits, '-', '_' and '.' only."
            ),
        ))
    }
}

/// Lock names (locks.json): at most 260 characters, none of `<>*%&:\?/` and no control characters.
pub(crate) fn lock_name(name: &str) -> Result<(), Refusal> {
    let ok = !name.is_empty()
        && name.chars().count() <= 260
        && !name
            .chars()
            .any(|c| "<>*%&:\\?/".contains(c) || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Refusal::rule(
            400,
            "InvalidLockName",
            format!("The lock name '{name}' is invalid."),
        ))
    }
}

/// The administrator login rules of the flexible server docs (quickstart / `--admin-user`):
/// 1–63 characters, not one of the reserved names and not starting with `pg_`.
pub(crate) fn admin_login(login: &str) -> Result<(), Refusal> {
    const RESERVED: [&str; 7] = [
        "azure_superuser",
        "azure_pg_admin",
        "admin",
        "administrator",
        "root",
        "guest",
        "public",
    ];
    let lower = login.to_ascii_lowercase();
    let shape_ok = (1..=63).contains(&login.len())
        && login
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !shape_ok || RESERVED.contains(&lower.as_str()) || lower.starts_with("pg_") {
        return Err(Refusal::invalid_value(format!(
            "The administrator login '{login}' is not allowed. It must be 1 to 63 letters, digits or underscores, cannot be azure_superuser, azure_pg_admin, admin, administrator, root, guest or public, and cannot start with pg_."
        )));
    }
    Ok(())
}

/// The password rule of the flexible server docs: 8–128 characters, from three of the four
/// classes uppercase, lowercase, digits, non-alphanumeric.
pub(crate) fn password(password: &str) -> Result<(), Refusal> {
    let len = password.chars().count();
    let classes = [
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|present| **present)
    .count();
    if (8..=128).contains(&len) && classes >= 3 {
        Ok(())
    } else {
        Err(Refusal::rule(
            400,
            "PasswordNotComplex",
            "The administrator login password must be 8 to 128 characters long and contain characters from three of the following categories: English uppercase letters, English lowercase letters, numbers (0-9), and non-alphanumeric characters (!, $, #, %, etc.).",
        ))
    }
}

/// Premium SSD sizes a flexible server can be given (storage docs, "Storage" in
/// concepts-storage), with the disk tier and IOPS each comes with by default.
pub(crate) const PREMIUM_SIZES: [(i64, &str, i64); 11] = [
    (32, "P4", 120),
    (64, "P6", 240),
    (128, "P10", 500),
    (256, "P15", 1100),
    (512, "P20", 2300),
    (1024, "P30", 5000),
    (2048, "P40", 7500),
    (4096, "P50", 7500),
    (8192, "P60", 16000),
    (16384, "P70", 18000),
    (32767, "P80", 20000),
];

pub(crate) fn premium_size(gb: i64) -> Option<(&'static str, i64)> {
    PREMIUM_SIZES
        .iter()
        .find(|(size, _, _)| *size == gb)
        .map(|(_, tier, iops)| (*tier, *iops))
}

/// The compute docs name SKUs per tier: Burstable Standard_B*, General Purpose Standard_D*,
/// Memory Optimized Standard_E*.
pub(crate) fn sku_fits_tier(name: &str, tier: &str) -> bool {
    let prefix = match tier {
        "Burstable" => "Standard_B",
        "GeneralPurpose" => "Standard_D",
        "MemoryOptimized" => "Standard_E",
        _ => return false,
    };
    name.starts_with(prefix) && name.len() > prefix.len()
}

/// An IPv4 address as the spec's pattern has it (no leading zeros), as a number for ordering.
pub(crate) fn ipv4(text: &str) -> Option<u32> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut n: u32 = 0;
    for part in parts {
        let leading_zero = part.len() > 1 && part.starts_with('0');
        if part.is_empty()
            || part.len() > 3
            || leading_zero
            || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let octet: u32 = part.parse().ok().filter(|o| *o <= 255)?;
        n = (n << 8) | octet;
    }
    Some(n)
}

/// ARM's tag limits (azure-resource-manager/management/tag-resources): 50 tags, names up to
/// 512 characters without `<>%&\?/`, values up to 256 characters.
pub(crate) fn tag(name: &str, value: &str) -> Result<(), Refusal> {
    if name.is_empty() || name.chars().count() > 512 || name.chars().any(|c| "<>%&\\?/".contains(c))
    {
        return Err(Refusal::rule(
            400,
            "InvalidTagNameCharacters",
            format!("The tag name '{name}' is invalid."),
        ));
    }
    if value.chars().count() > 256 {
        return Err(Refusal::rule(
            400,
            "InvalidTagValueLength",
            format!("The value of tag '{name}' is longer than 256 characters."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_need_three_classes_and_length() {
        assert!(password("Abcdefg1").is_ok());
        assert!(password("abcdefg1!").is_ok());
        assert!(password("abcdefgh1").is_err());
        assert!(password("Ab1!").is_err());
        assert!(password(&"Ab1!".repeat(33)).is_err());
    }

    #[test]
    fn names_and_addresses() {
        assert!(server_name("pg-1").is_ok());
        assert!(server_name("Pg-1").is_err());
        assert!(server_name("-pg").is_err());
        assert!(server_name("pg").is_err());
        assert!(admin_login("pgadmin").is_ok());
        assert!(admin_login("pg_admin").is_err());
        assert!(admin_login("Admin").is_err());
        assert_eq!(ipv4("10.0.0.1"), Some(0x0a00_0001));
        assert_eq!(ipv4("10.0.0.01"), None);
        assert_eq!(ipv4("10.0.0.256"), None);
        assert!(sku_fits_tier("Standard_B1ms", "Burstable"));
        assert!(!sku_fits_tier("Standard_D2ds_v5", "Burstable"));
    }
}
