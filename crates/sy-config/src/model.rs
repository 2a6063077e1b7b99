//! The validated configuration: typed, complete, secrets resolved. Functions take these, never raw TOML.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sy_core::Secret;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    pub server: Server,
    pub storage: Storage,
    pub auth: AuthMode,
    pub ledger: LedgerSettings,
    pub images: ImageSettings,
    /// The key that opens the admin API (`/admin/v1/...`); without one the admin API is off.
    pub admin_key: Option<Secret>,
    pub providers: Vec<Provider>,
    pub models: Vec<Model>,
    pub agreements: Vec<Agreement>,
}

impl Config {
    /// The partner agreement covering `provider`, if any (at most one may).
    pub fn agreement_for(&self, provider: &str) -> Option<&Agreement> {
        self.agreements
            .iter()
            .find(|a| a.providers.iter().any(|p| p == provider))
    }

    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Whether the built-in simulator serves any model (announced at start-up).
    pub fn uses_simulator(&self) -> bool {
        self.providers
            .iter()
            .any(|p| matches!(p.kind, ProviderKind::Simulator(_)))
    }
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// No file: built from environment variables. The notes say what was found and skipped.
    Discovered {
        notes: Vec<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: SocketAddr,
    /// Honour `x-switchyard-deployment` and `x-switchyard-region` request headers.
    pub routing_hints: bool,
    pub max_body_bytes: usize,
    /// Requests in flight beyond this are shed with 503 + Retry-After.
    pub max_concurrent_requests: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Serve HTTPS with this certificate; plain HTTP (and h2c) when absent.
    pub tls: Option<Tls>,
}

/// The server's TLS identity (`[server] tls`), read from PEM files and checked at load.
#[derive(Clone)]
pub struct Tls {
    /// The certificate chain's file, resolved against the config file's directory.
    pub cert_path: PathBuf,
    /// The private key's file, resolved the same way.
    pub key_path: PathBuf,
    /// The chain (leaf first) and its private key, known to belong together.
    pub identity: Arc<rustls::sign::CertifiedKey>,
}

impl fmt::Debug for Tls {
    // The paths say which identity this is; the DER bytes would only flood the output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Storage {
    /// `sqlite://PATH`, `sqlite::memory:` or `postgres://...` (may hold a password).
    pub url: Secret,
    /// Where a relative SQLite path is resolved: the config file's directory (or the working
    /// directory when there is no file).
    pub base_dir: Option<PathBuf>,
    /// Shared rate-limit counters, when several nodes serve together.
    pub redis: Option<Redis>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redis {
    pub url: Secret,
    pub prefix: String,
    pub policy: RedisPolicy,
}

/// What rate limits do while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisPolicy {
    /// Keep serving with per-node limits until Redis is back.
    FailOpen,
    /// Refuse requests that carry limits until Redis is back.
    FailClosed,
}

/// The usage ledger's settings (`[ledger]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerSettings {
    pub durability: Durability,
    /// Answers carry `x-switchyard-cost-usd`, the request's exact cost (non-streamed answers only:
    /// a stream's cost is known after its headers are sent).
    pub cost_header: bool,
}

/// Image URLs for targets that take only inline images (`[images]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSettings {
    /// Fetch such URLs (https only, public addresses only) and send the bytes inline; when false,
    /// a request whose image URL a target cannot take is refused for that target.
    pub fetch_urls: bool,
    /// The largest image fetched, in bytes.
    pub max_bytes: usize,
    /// The whole fetch of one image: connect, TLS, headers and body.
    pub timeout: Duration,
}

impl ImageSettings {
    pub const DEFAULT_MAX_BYTES: usize = 5 * 1024 * 1024;
    pub const MAX_MAX_BYTES: usize = 32 * 1024 * 1024;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
}

impl Default for ImageSettings {
    fn default() -> Self {
        Self {
            fetch_urls: false,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

/// When a request's usage record reaches the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Queued and written in batches off the request path (at most ~a second behind); flushed on
    /// shutdown. A crash loses what was queued and not yet written.
    Batched,
    /// Written before the response completes (the last byte of a stream waits for it).
    Sync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No client authentication; only allowed on a loopback address.
    Open,
    /// Every call needs a key issued by the gateway (`switchyard keys create`).
    Keys,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    pub timeouts: Timeouts,
}

/// Upstream time limits. Each is measured from the start of its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request to the upstream's response headers.
    pub first_byte: Duration,
    /// `first_byte` was configured rather than defaulted; see [`head`](Self::head).
    pub first_byte_configured: bool,
    /// Longest silence between two chunks of a streamed body.
    pub idle: Duration,
    /// The whole upstream exchange.
    pub total: Duration,
}

impl Timeouts {
    /// How long to wait for the answer's response headers. A streamed answer's come before its
    /// first token, so the first-byte limit applies. A whole answer's come only once it is all
    /// generated (minutes, for a long reasoning answer), so by default only the total limit
    /// bounds them; a configured first-byte limit is the operator's choice and applies to both.
    pub fn head(&self, stream: bool) -> Duration {
        if stream || self.first_byte_configured {
            self.first_byte.min(self.total)
        } else {
            self.total
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            first_byte_configured: false,
            idle: Duration::from_secs(120),
            total: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone)]
pub enum ProviderKind {
    OpenAi {
        base_url: String,
        api_key: Secret,
        stream_usage: bool,
    },
    Azure {
        /// The resource endpoint, e.g. `https://contoso.openai.azure.com`.
        endpoint: String,
        api_key: Secret,
        api: AzureApi,
        stream_usage: bool,
    },
    OpenAiCompatible {
        base_url: String,
        api_key: Option<Secret>,
        stream_usage: bool,
    },
    /// Amazon Bedrock Runtime (`bedrock-runtime.{region}.amazonaws.com`).
    Bedrock {
        /// The region requests are signed for (and, by default, sent to).
        region: String,
        /// `https://bedrock-runtime.{region}.amazonaws.com`, or the configured `base_url`.
        endpoint: String,
        auth: BedrockAuth,
    },
    /// Anthropic's Messages API.
    Anthropic {
        /// Default `https://api.anthropic.com`; the gateway appends `/v1/messages`.
        base_url: String,
        api_key: Secret,
        /// Sent as the `anthropic-version` header.
        version: String,
    },
    /// Google's Gemini API (AI Studio).
    Gemini {
        /// Default `https://generativelanguage.googleapis.com`; the gateway appends `/v1beta/models/...`.
        base_url: String,
        api_key: Secret,
    },
    Simulator(SimulatorSettings),
}

impl ProviderKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::OpenAi { .. } => "openai",
            Self::Azure { .. } => "azure",
            Self::OpenAiCompatible { .. } => "openai-compatible",
            Self::Bedrock { .. } => "bedrock",
            Self::Anthropic { .. } => "anthropic",
            Self::Gemini { .. } => "gemini",
            Self::Simulator(_) => "simulator",
        }
    }
}

/// How the gateway authenticates to Bedrock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BedrockAuth {
    /// AWS Signature Version 4 with an access key pair (and a session token for temporary
    /// credentials).
    SigV4 {
        /// Not a secret (AWS prints it in logs and errors), but it names the account's key.
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
        /// Where the credentials came from, for `switchyard check`: `config` or `environment`.
        origin: CredentialOrigin,
    },
    /// A Bedrock API key, sent as `Authorization: Bearer`; no signing.
    ApiKey {
        key: Secret,
        origin: CredentialOrigin,
    },
}

/// Whether credentials were named in the config file or taken from the standard AWS variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialOrigin {
    Config,
    Environment,
}

/// Which Azure OpenAI URL shape to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureApi {
    /// `/openai/deployments/{deployment}/chat/completions?api-version=...`
    Deployments { api_version: String },
    /// `/openai/v1/chat/completions` with the deployment in the body's `model`.
    V1,
}

/// How the built-in simulator answers.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorSettings {
    pub ttft: Duration,
    /// Streaming pace; 0 means as fast as possible.
    pub tokens_per_second: f64,
    /// Answer every request with this HTTP status and an OpenAI-style error body.
    pub fail_status: Option<u16>,
    /// Cut every stream after this many content chunks, without a clean end.
    pub fail_after_chunks: Option<u32>,
    pub embedding_dimensions: u32,
}

impl Default for SimulatorSettings {
    fn default() -> Self {
        Self {
            ttft: Duration::from_millis(150),
            tokens_per_second: 40.0,
            fail_status: None,
            fail_after_chunks: None,
            embedding_dimensions: 256,
        }
    }
}

/// A model name clients ask for, and where it is served.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub routing: Routing,
    /// Attempts per request, the first included: failover walks the deployments, then revisits them
    /// with backoff. Default 3.
    pub max_attempts: u32,
    pub deployments: Vec<Deployment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// The first healthy deployment in config order; the rest are failover, in order.
    Priority,
    /// Traffic split by `weight`, smoothly interleaved.
    Weighted,
    /// The faster of two random healthy deployments by observed latency (power of two choices).
    LeastLatency,
    /// The cheapest deployment by its current price; ties broken by config order.
    LowestCost,
}

impl Routing {
    pub fn name(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::Weighted => "weighted",
            Self::LeastLatency => "least-latency",
            Self::LowestCost => "lowest-cost",
        }
    }
}

/// A price per million tokens in millionths of a US dollar (exact; no floating point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MicroUsd(pub i64);

impl MicroUsd {
    /// Parses a non-negative decimal string such as `"2.50"` (at most six decimal places).
    pub fn parse(text: &str) -> Option<Self> {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() && frac.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 6
        {
            return None;
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let frac_value: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        let scale = 10i64.pow(6 - frac.len() as u32);
        whole
            .checked_mul(1_000_000)?
            .checked_add(frac_value * scale)
            .map(Self)
    }
}

/// A deployment's list price from a given instant on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricePoint {
    /// Seconds since the Unix epoch; `i64::MIN` for "always".
    pub effective_from: i64,
    /// Per million uncached input tokens.
    pub input: MicroUsd,
    /// Per million input tokens read from the provider's prompt cache (default: `input`).
    pub cache_read: MicroUsd,
    /// Per million input tokens written to the prompt cache (default: `input`).
    pub cache_write: MicroUsd,
    /// Per million output tokens, reasoning excluded.
    pub output: MicroUsd,
    /// Per million reasoning tokens (default: `output`).
    pub reasoning: MicroUsd,
}

/// One place a model is served: a provider and the upstream's own model id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Unique within the model; defaults to `provider/model`.
    pub name: String,
    pub provider: String,
    pub upstream_model: String,
    pub weight: u32,
    /// Prices for this deployment, oldest first (from `[[prices]]`).
    pub prices: Vec<PricePoint>,
    /// Where the deployment runs, for data-residency constraints (e.g. `eu-west-1`).
    pub region: Option<String>,
    /// What the deployment can do: the catalogue's entry for its model, with config overrides.
    pub capabilities: Capabilities,
    /// The provider's time limits, with this deployment's overrides (the connect timeout is the
    /// provider's: connections are pooled per provider).
    pub timeouts: Timeouts,
}

/// What a deployment can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub chat: bool,
    pub streaming: bool,
    pub tools: bool,
    pub vision: bool,
    pub json_schema: bool,
    pub embeddings: bool,
    pub max_context_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// Whether this came from the built-in catalogue or config (false: assumed, model unknown).
    pub known: bool,
}

impl Capabilities {
    /// For a model the catalogue does not know: assume it can do everything, without limits.
    pub const UNKNOWN: Self = Self {
        chat: true,
        streaming: true,
        tools: true,
        vision: true,
        json_schema: true,
        embeddings: true,
        max_context_tokens: None,
        max_output_tokens: None,
        known: false,
    };
}

/// A partner agreement: which providers it covers, when they may be used, and (for settlement) the
/// revenue share terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub name: String,
    pub providers: Vec<String>,
    /// The partner is the primary cloud: preferred under every routing strategy while healthy.
    pub primary: bool,
    /// Unix seconds; the licence is in force in `[licensed_from, licensed_until)`.
    pub licensed_from: i64,
    pub licensed_until: i64,
    /// Share of the charge basis paid to the partner, in millionths (200000 = 20 %).
    pub revenue_share: Option<MicroUsd>,
    /// Cumulative cap on the share, in micro-dollars.
    pub cap: Option<MicroUsd>,
    /// Payments accrue only for usage before this instant (Unix seconds).
    pub share_until: Option<i64>,
    pub payment_term_days: Option<u32>,
}

impl Agreement {
    pub fn in_force(&self, now_unix: i64) -> bool {
        self.licensed_from <= now_unix && now_unix < self.licensed_until
    }
}
