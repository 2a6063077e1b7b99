//! What every lane does between reading a request and dispatching it: the caller's key, its
//! permission for the model and its rate limits, routing hints and residency, the plan of
//! deployments to try, and the hold on the caller's budgets. Dialect-free: each lane renders the
//! errors in its caller's shape.

use http::HeaderMap;
use http::header::HeaderName;
use sy_core::{ErrorKind, GatewayError};
use sy_router::{Needs, PlanError, Target};

use crate::auth::Caller;
use crate::dispatch::plan_input;
use crate::request::RequestContext;
use crate::state::{Gateway, Snapshot};

/// The deployments to try, in order, and how many attempts the route allows.
pub struct Planned<'s> {
    pub targets: Vec<&'s Target>,
    pub max_attempts: u32,
}

/// Checks the caller may use `model` and has room in its limits and budgets, then plans.
pub async fn admit_and_plan<'s>(
    gateway: &Gateway,
    ctx: &mut RequestContext,
    snapshot: &'s Snapshot,
    headers: &HeaderMap,
    model: &str,
    needs: &Needs<'static>,
) -> Result<Planned<'s>, GatewayError> {
    if let Some(caller) = &ctx.caller {
        if !caller.may_use(model) {
            return Err(GatewayError::new(
                ErrorKind::PermissionDenied {
                    code: "model_not_allowed",
                },
                format!("this API key may not use the model `{model}`"),
            ));
        }
        let tokens = needs.input_tokens + needs.output_tokens.unwrap_or(0);
        let admitted =
            crate::limits::admit(gateway.limiter(), caller, tokens, ctx.id.as_str()).await;
        match admitted {
            Ok(Some(grant)) => ctx.hold(grant),
            Ok(None) => {}
            Err(refusal) => {
                ctx.rate = refusal.status;
                return Err(refusal.error);
            }
        }
    }
    let caller = ctx.caller.as_ref();
    let hints = RoutingHints::read(headers, caller, snapshot.config.server.routing_hints)?;
    let regions = residency(caller, &hints.regions)?;
    let regions: Option<Vec<&str>> = regions
        .as_ref()
        .map(|r| r.iter().map(String::as_str).collect());
    let routed_needs = Needs {
        regions: regions.as_deref(),
        deployment: hints.deployment.as_deref(),
        ..needs.clone()
    };
    let max_attempts = snapshot
        .table
        .route(model)
        .map_or(1, |route| route.max_attempts);
    let targets = snapshot
        .table
        .plan_at_most(model, &plan_input(), &routed_needs, max_attempts as usize)
        .map_err(|e| plan_error(model, e))?;
    hold_budget(gateway, ctx, &targets, needs).await?;
    Ok(Planned {
        targets,
        max_attempts,
    })
}

/// Resolves the caller in `keys` mode (a no-op in open mode).
pub async fn authenticate(
    gateway: &Gateway,
    ctx: &mut RequestContext,
    headers: &HeaderMap,
) -> Result<(), GatewayError> {
    if let Some(auth) = gateway.auth() {
        ctx.caller = Some(auth.authenticate(headers).await?);
    }
    Ok(())
}

/// Routing hints from request headers, honoured only when the caller may give them: in open mode
/// when the operator enables `server.routing_hints`, in keys mode when the caller's key allows it.
struct RoutingHints {
    deployment: Option<String>,
    regions: Vec<String>,
}

impl RoutingHints {
    fn read(
        headers: &HeaderMap,
        caller: Option<&Caller>,
        open_allows: bool,
    ) -> Result<Self, GatewayError> {
        static DEPLOYMENT: HeaderName = HeaderName::from_static("x-switchyard-deployment");
        static REGION: HeaderName = HeaderName::from_static("x-switchyard-region");
        let get = |name: &HeaderName| headers.get(name).map(|v| v.to_str().map(str::trim));
        let deployment = get(&DEPLOYMENT);
        let region = get(&REGION);
        if deployment.is_some() || region.is_some() {
            match caller {
                Some(caller) if !caller.may_hint() => {
                    return Err(GatewayError::new(
                        ErrorKind::PermissionDenied {
                            code: "routing_hints_not_allowed",
                        },
                        "this API key may not send routing hints (x-switchyard-deployment, x-switchyard-region); an operator allows them per key with routing_hints",
                    ));
                }
                None if !open_allows => {
                    return Err(GatewayError::invalid(
                        "routing hints (x-switchyard-deployment, x-switchyard-region) are not allowed on this gateway; the operator enables them with server.routing_hints",
                    ));
                }
                _ => {}
            }
        }
        let bad = |name: &str| {
            GatewayError::invalid_param(name, format!("`{name}` must be visible ASCII"))
        };
        let deployment = deployment
            .transpose()
            .map_err(|_| bad("x-switchyard-deployment"))?
            .map(str::to_owned);
        let regions = region
            .transpose()
            .map_err(|_| bad("x-switchyard-region"))?
            .map(|r| {
                r.split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            deployment,
            regions,
        })
    }
}

/// The regions a request may be served from: the tenant's residency, narrowed (never widened) by
/// the request's `x-switchyard-region`.
fn residency(
    caller: Option<&Caller>,
    asked: &[String],
) -> Result<Option<Vec<String>>, GatewayError> {
    let allowed = caller.and_then(Caller::regions);
    match allowed {
        None if asked.is_empty() => Ok(None),
        None => Ok(Some(asked.to_vec())),
        Some(allowed) if asked.is_empty() => Ok(Some(allowed.to_vec())),
        Some(allowed) => {
            let both: Vec<String> = asked
                .iter()
                .filter(|r| allowed.contains(r))
                .cloned()
                .collect();
            if both.is_empty() {
                let tenant = caller.map_or("", |c| &*c.tenant.id);
                return Err(GatewayError::invalid_param(
                    "x-switchyard-region",
                    format!(
                        "none of the regions asked for ({}) is among those the tenant `{tenant}` may use ({})",
                        asked.join(", "),
                        allowed.join(", ")
                    ),
                ));
            }
            Ok(Some(both))
        }
    }
}

/// Why no plan could be made, for the client.
fn plan_error(model: &str, e: PlanError) -> GatewayError {
    match e {
        PlanError::UnknownModel => GatewayError::new(
            ErrorKind::ModelNotFound,
            format!(
                "the model `{model}` does not exist on this gateway; GET /v1/models lists the models you can use"
            ),
        ),
        PlanError::UnknownDeployment(name) => GatewayError::invalid_param(
            "x-switchyard-deployment",
            format!("the model `{model}` has no deployment named `{name}`"),
        ),
        PlanError::Unsatisfied(reasons) => {
            let why: Vec<String> = reasons
                .iter()
                .map(|(d, why)| format!("{d} {why}"))
                .collect();
            GatewayError::invalid(format!(
                "no deployment of `{model}` can serve this request: {}",
                why.join("; ")
            ))
        }
        PlanError::NotLicensed => GatewayError::new(
            ErrorKind::NotRoutable,
            format!(
                "no deployment of `{model}` may be used now: every one is outside its partner agreement's licence window"
            ),
        ),
    }
}

/// Holds the most the request can cost on its plan against the caller's budgets (keys mode).
async fn hold_budget(
    gateway: &Gateway,
    ctx: &mut RequestContext,
    plan: &[&Target],
    needs: &Needs<'_>,
) -> Result<(), GatewayError> {
    let (Some(caller), Some(store)) = (&ctx.caller, gateway.store()) else {
        return Ok(());
    };
    if !caller.has_budget() {
        return Ok(());
    }
    let amount = crate::budget::upper_bound_nano(
        plan,
        needs.input_tokens,
        needs.output_tokens,
        ctx.started_unix_ms.div_euclid(1000),
    );
    let admitted = gateway
        .budgets()
        .admit(store, caller, amount, ctx.started_unix_ms)
        .await?;
    ctx.budget_hold = admitted.hold;
    ctx.over_soft_budgets = admitted.over_soft;
    Ok(())
}
