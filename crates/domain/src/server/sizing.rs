//! Which plan of a backend serves a server spec: the one `size.class` names, or else the
//! smallest that gives at least the CPU and memory asked for. Never a smaller one: when no plan
//! is big enough the spec is refused with the classes that exist.

use crate::catalog::{Plan, Service};
use crate::reason::Reason;

use super::request::{Cpu, ServerRequest};
use super::terms::{PlanSize, ServerField, SpecRejected, Unsupported};

/// A plan of the chosen backend, with its size as the backend reads it.
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    pub service: &'a Service,
    pub plan: &'a Plan,
    pub size: Option<PlanSize>,
}

impl Offer<'_> {
    fn cpu(&self) -> Option<u32> {
        self.size.and_then(|s| s.cpu_millicores)
    }

    fn memory(&self) -> Option<u64> {
        self.size.and_then(|s| s.memory_mb)
    }

    fn instances(&self) -> Option<u32> {
        self.size.and_then(|s| s.instances)
    }

    fn is_sized(&self) -> bool {
        self.cpu().is_some() && self.memory().is_some()
    }

    /// Fewest instances first, then least CPU, memory and storage.
    fn order(&self) -> (u32, u32, u64, u32) {
        let size = self.size.unwrap_or_default();
        (
            size.instances.unwrap_or(1),
            size.cpu_millicores.unwrap_or(0),
            size.memory_mb.unwrap_or(0),
            size.storage_gb.unwrap_or(0),
        )
    }
}

/// How a class names a plan: its name, `service/plan` (when two services of the backend use
/// the same plan name) or its id.
fn is_named(offer: &Offer<'_>, class: &str) -> bool {
    offer.plan.name == class
        || offer.plan.id.as_str() == class
        || format!("{}/{}", offer.service.name, offer.plan.name) == class
}

/// The class names to show: plan names, qualified by service where two share a name.
fn class_name(offer: &Offer<'_>, all: &[Offer<'_>]) -> String {
    let shared = all
        .iter()
        .filter(|o| o.plan.name == offer.plan.name)
        .count()
        > 1;
    if shared {
        format!("{}/{}", offer.service.name, offer.plan.name)
    } else {
        offer.plan.name.clone()
    }
}

fn classes(offers: &[Offer<'_>], all: &[Offer<'_>]) -> String {
    if offers.is_empty() {
        return "none".into();
    }
    offers
        .iter()
        .map(|o| match o.size.filter(|_| o.is_sized()) {
            Some(size) => format!("{} ({})", class_name(o, all), describe(&size)),
            None => class_name(o, all),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(size: &PlanSize) -> String {
    let mut parts = Vec::new();
    if let Some(cpu) = size.cpu_millicores {
        parts.push(format!("{} CPU", millicores(cpu)));
    }
    if let Some(mb) = size.memory_mb {
        parts.push(format!("{mb} MiB memory"));
    }
    if let Some(n) = size.instances {
        parts.push(format!("{n} instance{}", if n == 1 { "" } else { "s" }));
    }
    parts.join(", ")
}

fn millicores(m: u32) -> String {
    Cpu::from_millicores(m).map_or_else(|| "0".into(), |cpu| cpu.to_string())
}

fn asked(request: &ServerRequest) -> String {
    let mut parts = Vec::new();
    if let Some(cpu) = request.size.cpu {
        parts.push(format!("{cpu} CPU"));
    }
    if let Some(mb) = request.size.memory_mb {
        parts.push(format!("{mb} MiB memory"));
    }
    if request.high_availability {
        parts.push("2 or more instances".into());
    }
    parts.join(", ")
}

/// Whether `offer` gives what `request` asks for; `Err` says what it lacks.
fn shortfall(offer: &Offer<'_>, request: &ServerRequest) -> Result<Option<String>, Unsupported> {
    let mut short = Vec::new();
    if let Some(cpu) = request.size.cpu {
        match offer.cpu() {
            None => {
                return Err(Unsupported::new(
                    ServerField::Cpu,
                    format!(
                        "backend {} does not size its plans in CPU; leave it unset and choose with size.class",
                        offer.plan.backend
                    ),
                ));
            }
            Some(have) if have < cpu.millicores() => {
                short.push(format!("{} CPU", millicores(have)));
            }
            Some(_) => {}
        }
    }
    if let Some(mb) = request.size.memory_mb {
        match offer.memory() {
            None => {
                return Err(Unsupported::new(
                    ServerField::MemoryMb,
                    format!(
                        "backend {} does not size its plans in memory; leave it unset and choose with size.class",
                        offer.plan.backend
                    ),
                ));
            }
            Some(have) if have < mb => short.push(format!("{have} MiB memory")),
            Some(_) => {}
        }
    }
    if request.high_availability
        && let Some(n) = offer.instances()
        && n < 2
    {
        short.push(format!("{n} instance"));
    }
    Ok((!short.is_empty()).then(|| short.join(", ")))
}

/// The plan for `request` among `offers` (the bindable and unbindable plans of `backend`).
pub fn choose<'a>(
    backend: &str,
    offers: &[Offer<'a>],
    request: &ServerRequest,
) -> Result<Offer<'a>, SpecRejected> {
    let bindable: Vec<Offer<'a>> = offers.iter().copied().filter(|o| o.plan.bindable).collect();
    if bindable.is_empty() {
        return Err(SpecRejected::new(
            Reason::NoFittingPlan,
            format!("backend {backend} has no plans with credentials in the catalog"),
        ));
    }
    match &request.size.class {
        Some(class) => by_class(backend, class, offers, &bindable, request),
        None => by_size(backend, &bindable, request),
    }
}

fn by_class<'a>(
    backend: &str,
    class: &str,
    offers: &[Offer<'a>],
    bindable: &[Offer<'a>],
    request: &ServerRequest,
) -> Result<Offer<'a>, SpecRejected> {
    let named: Vec<Offer<'a>> = offers
        .iter()
        .copied()
        .filter(|o| is_named(o, class))
        .collect();
    let offer = match named.as_slice() {
        [] => {
            return Err(SpecRejected::new(
                Reason::NoFittingPlan,
                format!(
                    "spec.size.class {class:?} is not a plan of backend {backend} (classes: {})",
                    classes(bindable, offers)
                ),
            ));
        }
        [one] => *one,
        several => {
            let qualified: Vec<String> = several
                .iter()
                .map(|o| format!("{}/{}", o.service.name, o.plan.name))
                .collect();
            return Err(SpecRejected::new(
                Reason::InvalidSpec,
                format!(
                    "spec.size.class {class:?} names {} plans of backend {backend}; write one of {}",
                    several.len(),
                    qualified.join(", ")
                ),
            ));
        }
    };
    if !offer.plan.bindable {
        return Err(SpecRejected::new(
            Reason::InvalidSpec,
            format!(
                "spec.size.class {class:?} is a plan without credentials, which a server needs (classes: {})",
                classes(bindable, offers)
            ),
        ));
    }
    if let Some(lacks) = shortfall(&offer, request)? {
        let fitting: Vec<Offer<'a>> = bindable
            .iter()
            .copied()
            .filter(|o| matches!(shortfall(o, request), Ok(None)))
            .collect();
        return Err(SpecRejected::new(
            Reason::NoFittingPlan,
            format!(
                "spec.size.class {class:?} gives {lacks}, less than the {} asked for (classes that fit: {})",
                asked(request),
                classes(&fitting, offers)
            ),
        ));
    }
    Ok(offer)
}

fn by_size<'a>(
    backend: &str,
    bindable: &[Offer<'a>],
    request: &ServerRequest,
) -> Result<Offer<'a>, SpecRejected> {
    let sizes_asked = request.size.cpu.is_some() || request.size.memory_mb.is_some();
    if sizes_asked && !bindable.iter().any(Offer::is_sized) {
        return Err(SpecRejected::new(
            Reason::NoFittingPlan,
            format!(
                "backend {backend} does not size its plans in CPU and memory; choose one with spec.size.class (classes: {})",
                classes(bindable, bindable)
            ),
        ));
    }
    let fitting: Vec<Offer<'a>> = bindable
        .iter()
        .copied()
        .filter(|o| !sizes_asked || o.is_sized())
        .filter(|o| matches!(shortfall(o, request), Ok(None)))
        .collect();
    match fitting.as_slice() {
        [] => Err(SpecRejected::new(
            Reason::NoFittingPlan,
            format!(
                "no plan of backend {backend} gives {} (classes: {})",
                asked(request),
                classes(bindable, bindable)
            ),
        )),
        [one] => Ok(*one),
        several if several.iter().all(Offer::is_sized) => several
            .iter()
            .copied()
            .min_by_key(Offer::order)
            .ok_or_else(|| SpecRejected::new(Reason::NoFittingPlan, "no plan fits")),
        several => Err(SpecRejected::new(
            Reason::InvalidSpec,
            format!(
                "backend {backend} has several plans and does not size them in CPU and memory; choose one with spec.size.class (classes: {})",
                classes(several, bindable)
            ),
        )),
    }
}
