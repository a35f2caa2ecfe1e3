//! What an operator's server spec asks for, as types that cannot hold a malformed value: the
//! front door parses its wire fields with the constructors here, so a quantity, an address or a
//! time that does not parse is refused with a message naming the field before anything runs.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// A PostgreSQL server as a team declares it (the `PostgreSQLServer` spec, already parsed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerRequest {
    /// The backend asked for; `None` takes the policy's default backend.
    pub backend: Option<String>,
    /// Major PostgreSQL version.
    pub version: Option<u32>,
    pub size: Size,
    pub backup: Backup,
    /// Extensions to create in the server's database.
    pub extensions: Vec<String>,
    pub firewall_rules: Vec<FirewallRule>,
    /// `postgresql.conf` settings by name.
    pub server_parameters: BTreeMap<String, String>,
    pub maintenance: Option<MaintenanceWindow>,
    pub high_availability: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Size {
    /// A plan's name (or `service/plan`, or its id) on the chosen backend.
    pub class: Option<String>,
    pub cpu: Option<Cpu>,
    /// Memory in MiB (the larger reading of "MB", so a fit is never smaller than asked).
    pub memory_mb: Option<u64>,
    /// Storage in GiB.
    pub storage_gb: u32,
    pub storage_auto_grow: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Backup {
    pub retention_days: Option<u32>,
    pub geo_redundant: bool,
}

impl Backup {
    /// Whether the spec asks for anything about backups at all.
    pub fn is_requested(&self) -> bool {
        self.retention_days.is_some() || self.geo_redundant
    }
}

/// CPU in millicores, read like a Kubernetes quantity (`500m`, `2`, `1.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cpu {
    millicores: u32,
}

impl Cpu {
    pub fn from_millicores(millicores: u32) -> Option<Self> {
        (millicores > 0).then_some(Self { millicores })
    }

    pub fn millicores(self) -> u32 {
        self.millicores
    }

    /// `500m`, `2`, `1.5` (at most millicore precision, more than zero).
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let bad = || {
            InvalidField::new(
                "size.cpu",
                format!("{raw:?} is not a CPU quantity such as 500m, 2 or 1.5"),
            )
        };
        let raw = raw.trim();
        let millicores: u64 = if let Some(milli) = raw.strip_suffix('m') {
            digits(milli).ok_or_else(bad)?
        } else {
            let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
            if fraction.len() > 3 || (whole.is_empty() && fraction.is_empty()) {
                return Err(bad());
            }
            let whole = if whole.is_empty() {
                0
            } else {
                digits(whole).ok_or_else(bad)?
            };
            let fraction = if fraction.is_empty() {
                0
            } else {
                let padded = format!("{fraction:0<3}");
                digits(&padded).ok_or_else(bad)?
            };
            whole
                .checked_mul(1000)
                .and_then(|w| w.checked_add(fraction))
                .ok_or_else(bad)?
        };
        u32::try_from(millicores)
            .ok()
            .and_then(Self::from_millicores)
            .ok_or_else(bad)
    }
}

impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.millicores.is_multiple_of(1000) {
            write!(f, "{}", self.millicores / 1000)
        } else {
            write!(f, "{}m", self.millicores)
        }
    }
}

fn digits(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// Addresses allowed to connect, `start_ip` to `end_ip` inclusive, of one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallRule {
    pub name: String,
    pub start_ip: IpAddr,
    pub end_ip: IpAddr,
}

impl FirewallRule {
    pub fn parse(name: &str, start_ip: &str, end_ip: &str) -> Result<Self, InvalidField> {
        let field = "network.firewallRules";
        let ip = |raw: &str| {
            raw.trim().parse::<IpAddr>().map_err(|_| {
                InvalidField::new(
                    field,
                    format!("rule {name:?}: {raw:?} is not an IP address"),
                )
            })
        };
        let (start, end) = (ip(start_ip)?, ip(end_ip)?);
        let ordered = match (start, end) {
            (IpAddr::V4(a), IpAddr::V4(b)) => a <= b,
            (IpAddr::V6(a), IpAddr::V6(b)) => a <= b,
            _ => {
                return Err(InvalidField::new(
                    field,
                    format!("rule {name:?}: startIp and endIp are of different address families"),
                ));
            }
        };
        if !ordered {
            return Err(InvalidField::new(
                field,
                format!("rule {name:?}: startIp {start} comes after endIp {end}"),
            ));
        }
        Ok(Self {
            name: name.to_string(),
            start_ip: start,
            end_ip: end,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceWindow {
    pub weekday: Weekday,
    pub start: TimeOfDay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    const ALL: [(Self, &'static str); 7] = [
        (Self::Monday, "Mon"),
        (Self::Tuesday, "Tue"),
        (Self::Wednesday, "Wed"),
        (Self::Thursday, "Thu"),
        (Self::Friday, "Fri"),
        (Self::Saturday, "Sat"),
        (Self::Sunday, "Sun"),
    ];

    /// `Mon` .. `Sun` (the hybrid-cloud operator's spelling) or the full English name, any case.
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let raw = raw.trim();
        Self::ALL
            .into_iter()
            .find(|(day, short)| {
                raw.eq_ignore_ascii_case(short) || raw.eq_ignore_ascii_case(&format!("{day:?}"))
            })
            .map(|(day, _)| day)
            .ok_or_else(|| {
                InvalidField::new(
                    "maintenance.window.weekday",
                    format!("{raw:?} is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"),
                )
            })
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .into_iter()
            .find(|(day, _)| *day == self)
            .map_or("", |(_, short)| short)
    }
}

/// A time of day in UTC, minute precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
}

impl TimeOfDay {
    /// `HH:MM`, 24-hour clock.
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let bad = || {
            InvalidField::new(
                "maintenance.window.starttime",
                format!("{raw:?} is not a time of day as HH:MM (00:00 to 23:59)"),
            )
        };
        let (h, m) = raw.trim().split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let hour = u8::try_from(digits(h).ok_or_else(bad)?).map_err(|_| bad())?;
        let minute = u8::try_from(digits(m).ok_or_else(bad)?).map_err(|_| bad())?;
        if hour > 23 || minute > 59 {
            return Err(bad());
        }
        Ok(Self { hour, minute })
    }
}

impl std::fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// A spec field whose value does not parse; `field` is its path below `spec`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.{field}: {why}")]
pub struct InvalidField {
    pub field: &'static str,
    pub why: String,
}

impl InvalidField {
    pub fn new(field: &'static str, why: impl Into<String>) -> Self {
        Self {
            field,
            why: why.into(),
        }
    }
}

/// Parses a major version as the spec spells it (`"17"`, or `"17.2"` whose minor is ignored
/// because backends choose minors).
pub fn parse_major_version(raw: &str) -> Result<u32, InvalidField> {
    let raw = raw.trim();
    let major = raw.split_once('.').map_or(raw, |(major, _)| major);
    digits(major)
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| *m > 0)
        .ok_or_else(|| {
            InvalidField::new(
                "version",
                format!("{raw:?} is not a PostgreSQL major version such as 17"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_reads_kubernetes_quantities() {
        let m = |raw: &str| Cpu::parse(raw).map(Cpu::millicores);
        assert_eq!(m("500m"), Ok(500));
        assert_eq!(m("2"), Ok(2000));
        assert_eq!(m("1.5"), Ok(1500));
        assert_eq!(m("0.25"), Ok(250));
        assert_eq!(m(".5"), Ok(500));
        for bad in [
            "", "m", "0", "0m", "-1", "1.2345", "2 cores", "1e3", "1.5m", "99999999",
        ] {
            let err = Cpu::parse(bad).unwrap_err();
            assert_eq!(err.field, "size.cpu", "{bad}");
        }
        assert_eq!(Cpu::parse("1500m").unwrap().to_string(), "1500m");
        assert_eq!(Cpu::parse("2").unwrap().to_string(), "2");
    }

    #[test]
    fn firewall_rules_are_ordered_ranges_of_one_family() {
        let rule = FirewallRule::parse("office", "10.0.0.1", "10.0.0.255").unwrap();
        assert_eq!(rule.start_ip.to_string(), "10.0.0.1");
        assert!(FirewallRule::parse("one", "::1", "::1").is_ok());
        let err = FirewallRule::parse("x", "10.0.0.9", "10.0.0.1").unwrap_err();
        assert!(err.to_string().contains("comes after"), "{err}");
        let err = FirewallRule::parse("x", "10.0.0.1", "::1").unwrap_err();
        assert!(err.to_string().contains("families"), "{err}");
        let err = FirewallRule::parse("x", "10.0.0", "10.0.0.1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.network.firewallRules: rule \"x\": \"10.0.0\" is not an IP address"
        );
    }

    #[test]
    fn maintenance_windows_parse_days_and_times() {
        assert_eq!(Weekday::parse("Mon"), Ok(Weekday::Monday));
        assert_eq!(Weekday::parse("sunday"), Ok(Weekday::Sunday));
        assert_eq!(Weekday::Saturday.as_str(), "Sat");
        assert!(Weekday::parse("Funday").is_err());
        assert_eq!(
            TimeOfDay::parse("03:30"),
            Ok(TimeOfDay {
                hour: 3,
                minute: 30
            })
        );
        assert_eq!(TimeOfDay::parse("23:59").unwrap().to_string(), "23:59");
        for bad in ["24:00", "3:30", "03:60", "0330", "ab:cd", "03:3"] {
            assert!(TimeOfDay::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_are_majors() {
        assert_eq!(parse_major_version("17"), Ok(17));
        assert_eq!(parse_major_version("16.4"), Ok(16));
        for bad in ["", "v17", "0", "seventeen", "-1"] {
            assert!(parse_major_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backup_counts_as_asked_only_when_set() {
        assert!(!Backup::default().is_requested());
        assert!(
            Backup {
                retention_days: Some(7),
                geo_redundant: false
            }
            .is_requested()
        );
    }
}
