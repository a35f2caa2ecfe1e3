//! Patterns and CEL rules the schemas share: what a structural schema cannot say on its own.

/// A dotted-quad IPv4 address, each octet 0-255 without leading zeros.
pub const IPV4_PATTERN: &str = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$";

/// `HH:MM` on a 24-hour clock.
pub const STARTTIME_PATTERN: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";

/// A Secret name: a DNS-1123 subdomain (lower-case alphanumerics, `-` and `.`).
pub const SECRET_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// CEL for "`startIp` is not after `endIp`" on a firewall rule: both addresses as 32-bit numbers
/// (the CEL `ip()` library has no ordering). Addresses that do not match [`IPV4_PATTERN`] are left
/// to the pattern's own error instead of failing the evaluation.
pub fn ipv4_order_rule() -> String {
    let number = |field: &str| {
        let octet = |i: usize| format!("int(self.{field}.split('.')[{i}])");
        format!(
            "{} * 16777216 + {} * 65536 + {} * 256 + {}",
            octet(0),
            octet(1),
            octet(2),
            octet(3)
        )
    };
    let pattern = IPV4_PATTERN.replace('\\', "\\\\");
    format!(
        "!self.startIp.matches('{pattern}') || !self.endIp.matches('{pattern}') || {} <= {}",
        number("startIp"),
        number("endIp")
    )
}
