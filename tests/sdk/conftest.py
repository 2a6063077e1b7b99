"""Session fixtures: a real `sy-mock-upstream` and a real `switchyard serve` in front of it; and,
for the translation lane, a real `sy-fake-clouds` (fake Anthropic, Bedrock and Gemini APIs) with a
second `switchyard serve` in front of that.

The binaries come from SWITCHYARD_BIN, SY_MOCK_UPSTREAM_BIN and SY_FAKE_CLOUDS_BIN (run.sh sets
them). Everything listens on 127.0.0.1 only and is torn down, by PID, when the session ends.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

STARTUP_TIMEOUT_S = 20.0

# Models served by the OpenAI-compatible mock upstream: gateway name -> upstream model.
# The mock picks its behaviour from the upstream model name it receives.
MOCK_MODELS = {
    "mock-chat": "mock-model",
    "mock-tools": "mock-tools",
    "mock-parallel-tools": "mock-parallel-tools",
    "mock-embed": "mock-embedding",
    "mock-error-400": "mock-error-400",
    "mock-error-401": "mock-error-401",
    "mock-error-404": "mock-error-404",
    "mock-error-429": "mock-error-429",
    "mock-error-500": "mock-error-500",
    "mock-error-503": "mock-error-503",
}

# Simulator providers: provider name -> extra TOML lines.
SIM_PROVIDERS = {
    "sim": ["embedding_dimensions = 32"],
    "sim-401": ["fail_status = 401"],
    "sim-429": ["fail_status = 429"],
    "sim-503": ["fail_status = 503"],
    "sim-cut": ["fail_after_chunks = 2"],
    # Paced: a ten-word answer streams over ~0.5 s, long enough for a client to walk away mid-way.
    "sim-paced": ["tokens_per_second = 20"],
    # Slower to answer than its first-byte timeout allows: the gateway answers 504.
    "sim-slow": ["first_byte_timeout_ms = 300"],
}
SIM_TTFT_MS = {"sim-slow": 3000}

# Gateway model name -> (provider, upstream model) for the simulator-backed models.
SIM_MODELS = {
    "sim": ("sim", "sim-model"),
    "sim-401": ("sim-401", "sim-model"),
    "sim-429": ("sim-429", "sim-model"),
    "sim-503": ("sim-503", "sim-model"),
    "sim-cut": ("sim-cut", "sim-model"),
    "sim-slow": ("sim-slow", "sim-model"),
    "sim-paced": ("sim-paced", "sim-model"),
}

MAX_BODY_BYTES = 65536


@dataclass
class Stack:
    """The running processes and where to reach them."""

    gateway: subprocess.Popen
    mock: subprocess.Popen
    gateway_addr: str
    mock_addr: str
    gateway_log: Path
    mock_log: Path
    config_path: Path

    @property
    def root_url(self) -> str:
        return f"http://{self.gateway_addr}"

    @property
    def base_url(self) -> str:
        return f"http://{self.gateway_addr}/v1"

    @property
    def model_names(self) -> list[str]:
        return list(MOCK_MODELS) + list(SIM_MODELS)

    def gateway_log_tail(self, lines: int = 60) -> str:
        try:
            text = self.gateway_log.read_text(errors="replace")
        except OSError:
            return "(no gateway log)"
        return "\n".join(text.splitlines()[-lines:])


_STACK: Stack | None = None


def _binary(env_name: str, default: str) -> Path:
    path = Path(os.environ.get(env_name, default))
    if not path.is_absolute():
        path = Path(__file__).resolve().parents[2] / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.exit(
            f"{env_name}: no executable at {path}; build with "
            "`cargo build -p switchyard -p sy-testkit --bins` or run via tests/sdk/run.sh",
            returncode=2,
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen | None) -> None:
    """Terminates one process we started, by its PID, and reaps it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _start_mock(binary: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Starts sy-mock-upstream on an ephemeral port; returns it and the address it announced."""
    err = open(log, "wb")
    proc = subprocess.Popen(
        [str(binary), "--listen", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=err,
    )
    err.close()
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw.decode(errors="replace").strip())
        lines.put(None)

    threading.Thread(target=pump, name="sy-mock-upstream-stdout", daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        remaining = deadline - time.monotonic()
        try:
            line = lines.get(timeout=max(remaining, 0.01))
        except queue.Empty:
            line = None
            remaining = 0
        if line is None or remaining <= 0:
            _stop(proc)
            raise RuntimeError(
                "sy-mock-upstream did not announce `listening on ADDR` "
                f"(exit status {proc.poll()}); stderr:\n{log.read_text(errors='replace')}"
            )
        if line.startswith("listening on "):
            return proc, line[len("listening on ") :].strip()


def _config(mock_addr: str) -> str:
    out = [
        "# Written by tests/sdk/conftest.py",
        "[server]",
        f"max_body_bytes = {MAX_BODY_BYTES}",
        "shutdown_grace_ms = 1000",
        "",
        "[providers.mock]",
        'kind = "openai-compatible"',
        f'base_url = "http://{mock_addr}/v1"',
        "",
    ]
    for name, extra in SIM_PROVIDERS.items():
        out += [
            f'[providers."{name}"]',
            'kind = "simulator"',
            f"ttft_ms = {SIM_TTFT_MS.get(name, 0)}",
            *([] if any(e.startswith("tokens_per_second") for e in extra) else ["tokens_per_second = 0"]),
            *extra,
            "",
        ]
    routes = {name: ("mock", upstream) for name, upstream in MOCK_MODELS.items()}
    routes.update(SIM_MODELS)
    for name, (provider, upstream) in routes.items():
        out += [
            "[[models]]",
            f'name = "{name}"',
            "[[models.deployments]]",
            f'provider = "{provider}"',
            f'model = "{upstream}"',
            "",
        ]
    return "\n".join(out)


def _healthy(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1, context=context) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _start_gateway(
    binary: Path, config: Path, log: Path, tls_ca: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """Starts `switchyard serve` on a free port and waits for GET /healthz (over https, trusting
    the certificate `tls_ca`, when given)."""
    scheme = "https" if tls_ca else "http"
    context = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else None
    last_error = ""
    for _attempt in range(3):
        addr = f"127.0.0.1:{_free_port()}"
        err = open(log, "ab")
        env = dict(os.environ)
        env.setdefault("SWITCHYARD_LOG", "info")
        env.setdefault("NO_COLOR", "1")  # plain log lines in the log file
        proc = subprocess.Popen(
            [str(binary), "serve", "--config", str(config), "--listen", addr],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            env=env,
        )
        err.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _healthy(f"{scheme}://{addr}/healthz", context):
                return proc, addr
            time.sleep(0.05)
        _stop(proc)
        last_error = log.read_text(errors="replace")
        if "cannot listen" not in last_error:
            break  # not a port race: retrying will not help
    raise RuntimeError(f"switchyard did not become healthy; its log:\n{last_error}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    global _STACK
    switchyard = _binary("SWITCHYARD_BIN", "target/debug/switchyard")
    mock_bin = _binary("SY_MOCK_UPSTREAM_BIN", "target/debug/sy-mock-upstream")
    tmp = tmp_path_factory.mktemp("switchyard-sdk")
    mock_log = tmp / "sy-mock-upstream.log"
    gateway_log = tmp / "switchyard.log"
    config_path = tmp / "switchyard.toml"

    mock, gateway = None, None
    try:
        mock, mock_addr = _start_mock(mock_bin, mock_log)
        config_path.write_text(_config(mock_addr))
        gateway, gateway_addr = _start_gateway(switchyard, config_path, gateway_log)
        _STACK = Stack(
            gateway=gateway,
            mock=mock,
            gateway_addr=gateway_addr,
            mock_addr=mock_addr,
            gateway_log=gateway_log,
            mock_log=mock_log,
            config_path=config_path,
        )
        yield _STACK
    finally:
        _STACK = None
        _stop(gateway)
        _stop(mock)


@pytest.fixture(scope="session")
def client(stack: Stack) -> openai.OpenAI:
    c = openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0, timeout=30.0)
    yield c
    c.close()


def admin_call(
    root_url: str, admin_key: str, method: str, path: str, body: dict | None = None, ca: Path | None = None
) -> dict:
    """One admin API call with the admin key; `ca` is the certificate to trust over https."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{root_url}{path}",
        data=data,
        method=method,
        headers={"authorization": f"Bearer {admin_key}", "content-type": "application/json"},
    )
    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    with urllib.request.urlopen(request, timeout=10, context=context) as resp:
        return json.loads(resp.read())


@dataclass
class KeysGateway:
    """A gateway in `keys` mode on the simulator, with an admin key to mint keys."""

    proc: subprocess.Popen
    addr: str
    admin_key: str

    @property
    def base_url(self) -> str:
        return f"http://{self.addr}/v1"

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        return admin_call(f"http://{self.addr}", self.admin_key, method, path, body)


@pytest.fixture(scope="session")
def keys_gateway(tmp_path_factory: pytest.TempPathFactory):
    switchyard = _binary("SWITCHYARD_BIN", "target/debug/switchyard")
    tmp = tmp_path_factory.mktemp("switchyard-keys")
    admin_key = "sdk-admin-" + os.urandom(8).hex()
    config = tmp / "switchyard.toml"
    config.write_text(
        "\n".join(
            [
                "[storage]",
                'url = "sqlite://state.db"',
                "[auth]",
                'mode = "keys"',
                f'admin_key = "{admin_key}"',
                "[providers.sim]",
                'kind = "simulator"',
                "ttft_ms = 0",
                "tokens_per_second = 0",
                "[[models]]",
                'name = "sim"',
                'deployments = [{ provider = "sim", model = "sim-model" }]',
                "[[models]]",
                'name = "sim-other"',
                'deployments = [{ provider = "sim", model = "sim-model" }]',
                "[[prices]]",
                'provider = "sim"',
                'model = "sim-model"',
                'input = "1.00"',
                'output = "2.00"',
                "",
            ]
        )
    )
    proc, addr = _start_gateway(switchyard, config, tmp / "switchyard.log")
    try:
        yield KeysGateway(proc=proc, addr=addr, admin_key=admin_key)
    finally:
        _stop(proc)


# The fake clouds' test credentials (sy-testkit's TEST_API_KEYs and BedrockCredentials::test()).
ANTHROPIC_TEST_KEY = "sk-ant-test-key"
GEMINI_TEST_KEY = "AIzaSy-test-key"
BEDROCK_TEST_CREDENTIALS = {
    "region": "us-east-1",
    "access_key_id": "AKIDEXAMPLE",
    "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "session_token": "TOKEN123",
}

# Gateway model name -> (provider, upstream model) on the fake clouds. sy-fake-clouds answers a
# model id containing `tool` with a get_weather call, its overload ids with the vendor's overload
# error, anything else with text.
CLOUD_MODELS = {
    "claude-via-anthropic": ("anthropic", "claude-3-5-sonnet-20241022"),
    "claude-via-bedrock": ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    "gemini-direct": ("gemini", "gemini-2.0-flash"),
    "claude-tool-via-anthropic": ("anthropic", "claude-tool"),
    "claude-tool-via-bedrock": ("bedrock", "anthropic.claude-tool-v1:0"),
    "gemini-tool": ("gemini", "gemini-tool"),
    # Gemini 3: calls carry thought signatures that must come back with them.
    "gemini-3-tool": ("gemini", "gemini-3-tool"),
    "claude-overloaded": ("anthropic", "claude-overloaded"),
    "bedrock-throttled": ("bedrock", "anthropic.overloaded-v1:0"),
    "gemini-exhausted": ("gemini", "gemini-exhausted"),
    # Streams that break off after their first piece with the vendor's mid-stream error.
    "claude-stream-overloaded": ("anthropic", "claude-stream-overloaded"),
    "bedrock-stream-throttled": ("bedrock", "anthropic.stream-throttled-v1:0"),
    # The only deployment's API is not listening.
    "claude-unreachable": ("anthropic-down", "claude-3-5-sonnet-20241022"),
}


@dataclass
class CloudsGateway:
    """A gateway whose upstreams are the fake clouds."""

    proc: subprocess.Popen
    clouds: subprocess.Popen
    addr: str
    log: Path
    cloud_urls: dict[str, str]

    @property
    def base_url(self) -> str:
        return f"http://{self.addr}/v1"

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no gateway log)"


_CLOUDS: CloudsGateway | None = None


def _start_fake_clouds(binary: Path, log: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """Starts sy-fake-clouds; returns it and the base URL it announced for each cloud."""
    err = open(log, "wb")
    proc = subprocess.Popen(
        [str(binary)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
    )
    err.close()
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw.decode(errors="replace").strip())
        lines.put(None)

    threading.Thread(target=pump, name="sy-fake-clouds-stdout", daemon=True).start()
    urls: dict[str, str] = {}
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while len(urls) < 3:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            line = None
        if line is None:
            _stop(proc)
            raise RuntimeError(
                f"sy-fake-clouds announced only {urls} (exit status {proc.poll()}); "
                f"stderr:\n{log.read_text(errors='replace')}"
            )
        name, _, url = line.partition(" ")
        urls[name] = url
    return proc, urls


def _clouds_config(urls: dict[str, str]) -> str:
    creds = BEDROCK_TEST_CREDENTIALS
    out = [
        "# Written by tests/sdk/conftest.py",
        "[providers.anthropic]",
        'kind = "anthropic"',
        f'base_url = "{urls["anthropic"]}"',
        f'api_key = "{ANTHROPIC_TEST_KEY}"',
        "",
        '[providers."anthropic-down"]',
        'kind = "anthropic"',
        f'base_url = "http://127.0.0.1:{_free_port()}"',
        f'api_key = "{ANTHROPIC_TEST_KEY}"',
        "",
        "[providers.bedrock]",
        'kind = "bedrock"',
        f'base_url = "{urls["bedrock"]}"',
        *(f'{key} = "{value}"' for key, value in creds.items()),
        "",
        "[providers.gemini]",
        'kind = "gemini"',
        f'base_url = "{urls["gemini"]}"',
        f'api_key = "{GEMINI_TEST_KEY}"',
        "",
    ]
    for name, (provider, upstream) in CLOUD_MODELS.items():
        out += [
            "[[models]]",
            f'name = "{name}"',
            "[[models.deployments]]",
            f'provider = "{provider}"',
            f'model = "{upstream}"',
            "",
        ]
    return "\n".join(out)


@pytest.fixture(scope="session")
def clouds_gateway(tmp_path_factory: pytest.TempPathFactory):
    global _CLOUDS
    switchyard = _binary("SWITCHYARD_BIN", "target/debug/switchyard")
    clouds_bin = _binary("SY_FAKE_CLOUDS_BIN", "target/debug/sy-fake-clouds")
    tmp = tmp_path_factory.mktemp("switchyard-clouds")
    clouds, gateway = None, None
    try:
        clouds, urls = _start_fake_clouds(clouds_bin, tmp / "sy-fake-clouds.log")
        config = tmp / "switchyard.toml"
        config.write_text(_clouds_config(urls))
        log = tmp / "switchyard.log"
        gateway, addr = _start_gateway(switchyard, config, log)
        _CLOUDS = CloudsGateway(proc=gateway, clouds=clouds, addr=addr, log=log, cloud_urls=urls)
        yield _CLOUDS
    finally:
        _CLOUDS = None
        _stop(gateway)
        _stop(clouds)


@pytest.fixture(scope="session")
def clouds_client(clouds_gateway: CloudsGateway) -> openai.OpenAI:
    c = openai.OpenAI(
        base_url=clouds_gateway.base_url, api_key="unused", max_retries=0, timeout=30.0
    )
    yield c
    c.close()


def write_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "switchyard sdk tests")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


# Models of the ingress gateways served by sy-mock-upstream (OpenAI dialect), besides CLOUD_MODELS.
INGRESS_MOCK_MODELS = [
    "mock-chat",
    "mock-tools",
    "mock-parallel-tools",
    "mock-error-400",
    "mock-error-503",
]
# A gateway model named as Bedrock names the model, so boto3 code runs unchanged: the colon is
# percent-encoded in the path, and twice over in what SigV4 signs.
BEDROCK_NAMED_MODEL = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"


@dataclass(frozen=True)
class Upstream:
    """One upstream behind the ingress gateways, as its answers look to any caller."""

    provider: str  # the provider name, as x-switchyard-provider reports it
    text_model: str  # a gateway model answered with text
    tool_model: str  # a gateway model answered with a call of get_weather
    text: str  # the text of a whole answer
    streamed_text: str  # the text of a streamed answer
    arguments: dict  # the arguments of the get_weather call


CLOUD_TEXT = "Hello from the cloud"
# A 1x1 PNG, base64: an image any dialect can carry inline.
PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
CLOUD_ARGUMENTS = {"city": "Paris", "unit": "celsius"}

# Every upstream dialect an ingress can reach: sy-mock-upstream (OpenAI) and the fake clouds.
UPSTREAMS = {
    "openai": Upstream(
        "mock",
        "mock-chat",
        "mock-tools",
        "Hello from the mock upstream. This is a fixed reply.",
        "Hello from the mock upstream." * 2,
        {"city": "Paris"},
    ),
    "anthropic": Upstream(
        "anthropic",
        "claude-via-anthropic",
        "claude-tool-via-anthropic",
        CLOUD_TEXT,
        CLOUD_TEXT,
        CLOUD_ARGUMENTS,
    ),
    "bedrock": Upstream(
        "bedrock",
        "claude-via-bedrock",
        "claude-tool-via-bedrock",
        CLOUD_TEXT,
        CLOUD_TEXT,
        CLOUD_ARGUMENTS,
    ),
    "gemini": Upstream(
        "gemini", "gemini-direct", "gemini-tool", CLOUD_TEXT, CLOUD_TEXT, CLOUD_ARGUMENTS
    ),
}


@dataclass
class IngressGateway:
    """A gateway in `keys` mode in front of sy-mock-upstream and the fake clouds, for callers of
    the Anthropic, Bedrock Runtime and Responses dialects; with one key minted for the tests,
    which also has an AWS access key pair for SigV4."""

    proc: subprocess.Popen
    addr: str
    log: Path
    admin_key: str
    ca: Path | None  # the certificate to trust when it serves https
    key: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""

    @property
    def root_url(self) -> str:
        return f"{'https' if self.ca else 'http'}://{self.addr}"

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        return admin_call(self.root_url, self.admin_key, method, path, body, self.ca)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no gateway log)"


_INGRESS: list[IngressGateway] = []


def _ingress_config(mock_addr: str, urls: dict[str, str], admin_key: str, tls: str) -> str:
    out = [
        "[server]",
        "shutdown_grace_ms = 1000",
        *([tls] if tls else []),
        "[storage]",
        'url = "sqlite://state.db"',
        "[auth]",
        'mode = "keys"',
        f'admin_key = "{admin_key}"',
        "",
        _clouds_config(urls),
        "[providers.mock]",
        'kind = "openai-compatible"',
        f'base_url = "http://{mock_addr}/v1"',
        "",
    ]
    for name in INGRESS_MOCK_MODELS:
        out += [
            "[[models]]",
            f'name = "{name}"',
            f'deployments = [{{ provider = "mock", model = "{MOCK_MODELS[name]}" }}]',
            "",
        ]
    # A price for the mock's chat model, so a key's budget has something to count.
    out += ["[[prices]]", 'provider = "mock"', 'model = "mock-model"', 'input = "1.00"', 'output = "2.00"', ""]
    out += [
        "[[models]]",
        f'name = "{BEDROCK_NAMED_MODEL}"',
        f'deployments = [{{ provider = "bedrock", model = "{CLOUD_MODELS["claude-via-bedrock"][1]}" }}]',
        "",
    ]
    return "\n".join(out)


def _start_ingress(
    tmp: Path, stack: Stack, clouds: CloudsGateway, tls: bool
) -> IngressGateway:
    switchyard = _binary("SWITCHYARD_BIN", "target/debug/switchyard")
    admin_key = "sdk-admin-" + os.urandom(8).hex()
    ca, tls_line = None, ""
    if tls:
        ca, key_pem = write_self_signed_cert(tmp)
        tls_line = f'tls = {{ cert = "{ca}", key = "{key_pem}" }}'
    config = tmp / "switchyard.toml"
    config.write_text(_ingress_config(stack.mock_addr, clouds.cloud_urls, admin_key, tls_line))
    log = tmp / "switchyard.log"
    proc, addr = _start_gateway(switchyard, config, log, tls_ca=ca)
    gw = IngressGateway(proc=proc, addr=addr, log=log, admin_key=admin_key, ca=ca)
    try:
        minted = gw.admin("POST", "/admin/v1/keys", {"tenant": "sdk-ingress", "aws_access_key": True})
    except BaseException:
        _stop(proc)
        raise
    gw.key = minted["key"]
    gw.access_key_id = minted["access_key_id"]
    gw.secret_access_key = minted["secret_access_key"]
    return gw


@pytest.fixture(scope="session")
def ingress_gateway(tmp_path_factory, stack: Stack, clouds_gateway: CloudsGateway):
    """Plain http: the Anthropic and OpenAI SDKs, and boto3 signing with SigV4."""
    gw = _start_ingress(tmp_path_factory.mktemp("switchyard-ingress"), stack, clouds_gateway, False)
    _INGRESS.append(gw)
    try:
        yield gw
    finally:
        _INGRESS.remove(gw)
        _stop(gw.proc)


@pytest.fixture(scope="session")
def ingress_gateway_tls(tmp_path_factory, stack: Stack, clouds_gateway: CloudsGateway):
    """HTTPS with a throwaway certificate: boto3 sends a bearer token only over https."""
    gw = _start_ingress(tmp_path_factory.mktemp("switchyard-ingress-tls"), stack, clouds_gateway, True)
    _INGRESS.append(gw)
    try:
        yield gw
    finally:
        _INGRESS.remove(gw)
        _stop(gw.proc)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the tail of the gateway's log to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _STACK is not None:
        report.sections.append(("switchyard log (tail)", _STACK.gateway_log_tail()))
    if report.failed and _CLOUDS is not None:
        report.sections.append(("switchyard (clouds) log (tail)", _CLOUDS.log_tail()))
    if report.failed:
        for gw in _INGRESS:
            report.sections.append((f"switchyard ({gw.root_url}) log (tail)", gw.log_tail()))
