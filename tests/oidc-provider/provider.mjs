#!/usr/bin/env node
// A real OpenID Connect provider (the `oidc-provider` package) for StateSight's integration
// tests, plus a few test-only control endpoints under /test/ (approve/deny device codes, force
// slow_down, rotate the signing key, count requests, sign arbitrary JWTs).
//
// Contract with the test harness (see README.md for details):
//   * once listening it prints exactly one JSON line to stdout: {"issuer":"...","port":N};
//     everything else (oidc-provider warnings, logs) goes to stderr;
//   * it exits when stdin reaches EOF, so a provider can never outlive the test process that
//     spawned it (that process holds our stdin open), and on SIGTERM / SIGINT.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { parseArgs } from 'node:util';

// stdout is reserved for the single "ready" line. oidc-provider prints its NOTICEs with
// console.info, so route every console method that would write to stdout to stderr instead,
// before oidc-provider is even loaded (it may print while being imported).
for (const method of ['log', 'info', 'debug']) {
  console[method] = (...args) => console.error(...args);
}

const { default: Provider, errors } = await import('oidc-provider');

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

const USAGE = `usage: node provider.mjs [--port N] [--host ADDR] [--issuer-host HOST]
       [--audience URL] [--console-client-id ID] [--machine-client-id ID]
       [--machine-client-secret SECRET] [--tls-cert PATH --tls-key PATH]
       [--device-interval SECS] [--device-code-ttl SECS] [--access-token-ttl SECS]
       [--refresh-token-ttl SECS] [--verbose] [--ignore-stdin]`;

function fail(message) {
  process.stderr.write(`oidc test provider: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'issuer-host': { type: 'string' },
      audience: { type: 'string', default: 'https://statesight.test/api' },
      'console-client-id': { type: 'string', default: 'statesight-console' },
      'machine-client-id': { type: 'string', default: 'statesight-ci' },
      'machine-client-secret': { type: 'string', default: 'statesight-ci-secret' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'device-interval': { type: 'string' },
      'device-code-ttl': { type: 'string', default: '600' },
      'access-token-ttl': { type: 'string', default: '300' },
      'refresh-token-ttl': { type: 'string', default: '3600' },
      verbose: { type: 'boolean', default: false },
      'ignore-stdin': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err.message);
}
if (args.help) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(0);
}

function integerArg(name, { min }) {
  const raw = args[name];
  if (!/^\d+$/.test(raw) || Number(raw) < min) fail(`--${name} must be an integer >= ${min}, got "${raw}"`);
  return Number(raw);
}

const PORT = integerArg('port', { min: 0 });
if (PORT > 65535) fail('--port must be at most 65535');
const HOST = args.host;
const ISSUER_HOST = args['issuer-host'] ?? HOST;
const AUDIENCE = args.audience;
if (!URL.canParse(AUDIENCE) || AUDIENCE.includes('#')) fail('--audience must be an absolute URL without a fragment');
const CONSOLE_CLIENT_ID = args['console-client-id'];
const MACHINE_CLIENT_ID = args['machine-client-id'];
const MACHINE_CLIENT_SECRET = args['machine-client-secret'];
const ACCESS_TOKEN_TTL = integerArg('access-token-ttl', { min: 1 });
const REFRESH_TOKEN_TTL = integerArg('refresh-token-ttl', { min: 1 });
const DEVICE_CODE_TTL = integerArg('device-code-ttl', { min: 1 });
const DEVICE_INTERVAL = args['device-interval'] === undefined
  ? undefined
  : integerArg('device-interval', { min: 0 });
const VERBOSE = args.verbose;
if (Boolean(args['tls-cert']) !== Boolean(args['tls-key'])) fail('--tls-cert and --tls-key go together');
let TLS;
if (args['tls-cert']) {
  try {
    TLS = { cert: fs.readFileSync(args['tls-cert']), key: fs.readFileSync(args['tls-key']) };
  } catch (err) {
    fail(`cannot read the TLS certificate or key: ${err.message}`);
  }
}

function log(message) {
  process.stderr.write(`[oidc test provider] ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// Storage shared by every Provider instance
// ---------------------------------------------------------------------------------------------
//
// oidc-provider reads its signing keys once, in the Provider constructor. Key rotation
// (POST /test/keys/rotate) therefore builds a brand-new Provider and swaps the request handler.
// For device codes, grants and refresh tokens to survive that swap, all instances must share one
// store: that is this adapter (oidc-provider's built-in memory adapter keeps a separate store
// per Provider, and caps it at 1000 entries).
//
// The data set of a test run is small, so the secondary lookups (by user code, session uid and
// grant id) simply scan instead of maintaining indexes that could drift.

const store = new Map(); // `${model}:${id}` -> { payload, expiresAt (ms epoch or Infinity) }
// Seconds an expired device code stays findable (see upsert).
const DEVICE_CODE_GRACE = 600;

// Models whose entries belong to a grant and die with it (revokeByGrantId).
const GRANT_BOUND = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'ClientCredentials',
]);

function liveEntry(key) {
  const entry = store.get(key);
  if (entry && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry;
}

function sweepExpired() {
  const now = Date.now();
  for (const [key, entry] of store) {
    if (entry.expiresAt <= now) store.delete(key);
  }
}
setInterval(sweepExpired, 30_000).unref();

class SharedMemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  // Copies in and out, so that a model instance mutating its payload never changes what is
  // stored without a save (a real database would behave the same way).
  async upsert(id, payload, expiresIn) {
    // Device codes are kept a while past their expiry: oidc-provider then finds the expired
    // code and answers a poll with `expired_token` (RFC 8628) instead of `invalid_grant`. The
    // code's own `exp` still decides when it expires.
    const grace = this.model === 'DeviceCode' ? DEVICE_CODE_GRACE : 0;
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + (expiresIn + grace) * 1000 : Infinity;
    store.set(this.key(id), { payload: structuredClone(payload), expiresAt });
  }

  async find(id) {
    const entry = liveEntry(this.key(id));
    return entry ? structuredClone(entry.payload) : undefined;
  }

  async findBy(field, value) {
    const prefix = `${this.model}:`;
    for (const key of store.keys()) {
      if (!key.startsWith(prefix)) continue;
      const entry = liveEntry(key);
      if (entry && entry.payload[field] === value) return structuredClone(entry.payload);
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    return this.findBy('userCode', userCode);
  }

  async findByUid(uid) {
    return this.findBy('uid', uid);
  }

  async consume(id) {
    const entry = liveEntry(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, entry] of store) {
      const model = key.slice(0, key.indexOf(':'));
      if (GRANT_BOUND.has(model) && entry.payload.grantId === grantId) store.delete(key);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Signing keys
// ---------------------------------------------------------------------------------------------

function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  // A random kid (not the thumbprint) so that every generated key is obviously distinct.
  return { ...jwk, kid: crypto.randomBytes(12).toString('base64url'), use: 'sig', alg: 'RS256' };
}

// Private JWKs, the current signing key FIRST: oidc-provider signs with the first key that
// matches the algorithm, so order decides which key signs.
let signingKeys = [newSigningKey()];

const currentKeyObject = () => crypto.createPrivateKey({ key: signingKeys[0], format: 'jwk' });

// ---------------------------------------------------------------------------------------------
// oidc-provider configuration
// ---------------------------------------------------------------------------------------------

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
// Scopes the console client may use that oidc-provider treats as OpenID Connect scopes.
const OIDC_SCOPES = new Set(['openid', 'email', 'profile', 'offline_access']);
// Scopes the API resource server accepts (any of them may end up in an access token).
const RESOURCE_SCOPES = 'openid email profile offline_access api';
// Cookie signing keys must not change when the Provider is rebuilt, or in-flight browser state
// (none in these tests, but cheap to keep right) would be lost.
const COOKIE_KEYS = [crypto.randomBytes(32).toString('base64url')];

function account(id) {
  return {
    accountId: id,
    // oidc-provider picks from this what the scopes / claims requests allow.
    async claims() {
      return {
        sub: id, email: `${id}@example.test`, email_verified: true, name: id,
      };
    },
  };
}

function configuration() {
  return {
    adapter: SharedMemoryAdapter,
    clients: [
      {
        client_id: CONSOLE_CLIENT_ID,
        token_endpoint_auth_method: 'none',
        application_type: 'native',
        grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
        // A device-flow-only client: no authorization endpoint use, hence no redirect URIs.
        response_types: [],
        redirect_uris: [],
        scope: 'openid email profile offline_access',
      },
      {
        client_id: MACHINE_CLIENT_ID,
        client_secret: MACHINE_CLIENT_SECRET,
        // oidc-provider accepts client_secret_post as well for a client_secret_basic client.
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: { keys: signingKeys },
    cookies: { keys: COOKIE_KEYS },
    findAccount: async (_ctx, id) => (typeof id === 'string' && id ? account(id) : undefined),
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    features: {
      // Device codes are approved through POST /test/device/approve, never by a browser.
      devInteractions: { enabled: false },
      deviceFlow: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: {
        enabled: true,
        // A client may revoke only its own tokens (what the default does; spelled out so
        // oidc-provider does not print a notice asking for it).
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      resourceIndicators: {
        enabled: true,
        // Requests without `resource` are for the API: so device flow, refresh and client
        // credentials all work without the parameter.
        defaultResource: async (_ctx, _client, oneOf) => {
          if (oneOf) return oneOf.includes(AUDIENCE) ? AUDIENCE : oneOf;
          return AUDIENCE;
        },
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          if (resourceIndicator !== AUDIENCE) throw new errors.InvalidTarget();
          return {
            scope: RESOURCE_SCOPES,
            audience: AUDIENCE,
            accessTokenFormat: 'jwt', // signed with typ "at+jwt" (RFC 9068)
            accessTokenTTL: ACCESS_TOKEN_TTL,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // The console client gets a refresh token on every device_code grant, whether or not
    // offline_access was requested: the CLI always wants to stay signed in.
    issueRefreshToken: async (_ctx, client) => client.clientId === CONSOLE_CLIENT_ID
      && client.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      ClientCredentials: ACCESS_TOKEN_TTL,
      RefreshToken: REFRESH_TOKEN_TTL,
      IdToken: ACCESS_TOKEN_TTL,
      DeviceCode: DEVICE_CODE_TTL,
      // The grant must outlive every token issued from it.
      Grant: Math.max(REFRESH_TOKEN_TTL, ACCESS_TOKEN_TTL, 24 * 3600),
      Session: 24 * 3600,
      Interaction: 3600,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Provider instances
// ---------------------------------------------------------------------------------------------

let ISSUER; // known once the server listens (the port may be ephemeral)
let current; // { provider, handler, paths } of the Provider instance serving requests

function buildProvider() {
  const provider = new Provider(ISSUER, configuration());

  // The issuer is served directly (no reverse proxy); koa must not trust X-Forwarded-*.
  provider.proxy = false;

  // RFC 8628 lets the server tell the device how often to poll.
  if (DEVICE_INTERVAL !== undefined) {
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.oidc?.route === 'device_authorization' && ctx.status === 200 && ctx.body) {
        ctx.body.interval = DEVICE_INTERVAL;
      }
    });
  }

  provider.on('server_error', (_ctx, err) => log(`server_error: ${err?.stack ?? err}`));
  if (VERBOSE) {
    provider.on('grant.error', (_ctx, err) => log(`grant.error: ${err.message} ${err.error_description ?? ''}`));
  }
  // The paths the stats count and the slow_down switch watches, as this provider routes them.
  const path = (name) => new URL(provider.urlFor(name)).pathname;
  const paths = {
    token: path('token'),
    jwks: path('jwks'),
    // oidc-provider serves the same metadata at both well-known locations; count both.
    discovery: new Set(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']),
  };
  return { provider, handler: provider.callback(), paths };
}

// ---------------------------------------------------------------------------------------------
// Test-only state and endpoints
// ---------------------------------------------------------------------------------------------

const stats = { jwks_requests: 0, discovery_requests: 0, token_requests: 0 };
let slowDownRemaining = 0;

class HttpError extends Error {
  constructor(status, error, description) {
    super(description);
    this.status = status;
    this.body = { error, error_description: description };
  }
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function readJson(req) {
  const text = (await readBody(req)).toString('utf8').trim();
  if (!text) return {};
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_request', 'body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'invalid_request', 'body must be a JSON object');
  }
  return value;
}

// Same normalisation oidc-provider applies to typed-in user codes: case-insensitive, dashes and
// spaces ignored.
const normalizeUserCode = (input) => input.toUpperCase().replace(/\W/g, '');

async function findPendingDeviceCode(provider, body) {
  if (typeof body.user_code !== 'string' || !body.user_code) {
    throw new HttpError(400, 'invalid_request', 'user_code (string) is required');
  }
  const code = await provider.DeviceCode.findByUserCode(
    normalizeUserCode(body.user_code),
    { ignoreExpiration: true },
  );
  if (!code) throw new HttpError(404, 'not_found', `unknown user_code ${body.user_code}`);
  if (code.isExpired) throw new HttpError(410, 'expired_token', 'the device code has expired');
  if (code.accountId || code.error || code.consumed) {
    throw new HttpError(409, 'already_used', 'the device code was already approved or denied');
  }
  return code;
}

// Completes a device code as oidc-provider's own code_verification + consent would: a Grant
// holding the requested OpenID scopes, the account claims and the API resource scopes, and the
// device code pointing at the account and that grant. The next token poll issues tokens.
async function approveDevice(body) {
  const { provider } = current;
  const accountId = body.account_id ?? 'alice';
  if (typeof accountId !== 'string' || !accountId) {
    throw new HttpError(400, 'invalid_request', 'account_id must be a non-empty string');
  }
  const code = await findPendingDeviceCode(provider, body);

  const requested = (code.params?.scope ?? 'openid').split(' ').filter(Boolean);
  let resource = code.params?.resource ?? AUDIENCE;
  if (Array.isArray(resource)) resource = resource.includes(AUDIENCE) ? AUDIENCE : resource[0];

  const grant = new provider.Grant({ accountId, clientId: code.clientId });
  grant.addOIDCScope(requested.filter((s) => OIDC_SCOPES.has(s)).join(' '));
  // ID tokens always carry email and name (see the claims request below), so grant them.
  grant.addOIDCClaims(['sub', 'email', 'email_verified', 'name']);
  const resourceScopes = new Set(RESOURCE_SCOPES.split(' '));
  grant.addResourceScope(resource, requested.filter((s) => resourceScopes.has(s)).join(' '));
  const grantId = await grant.save();

  Object.assign(code, {
    accountId,
    grantId,
    scope: requested.join(' '),
    resource,
    authTime: Math.floor(Date.now() / 1000),
    // As if the client had sent a claims request for these: puts them in every ID token
    // (including the ones issued on refresh) regardless of the email/profile scopes.
    claims: { id_token: { email: null, name: null }, rejected: [] },
  });
  await code.save();
  log(`device code ${code.userCode} approved for account ${accountId}`);
  return { approved: true, user_code: body.user_code, account_id: accountId, scope: code.scope };
}

// Same error the code_verification endpoint records when the user presses "abort".
async function denyDevice(body) {
  const code = await findPendingDeviceCode(current.provider, body);
  Object.assign(code, { error: 'access_denied', errorDescription: 'End-User aborted interaction' });
  await code.save();
  log(`device code ${code.userCode} denied`);
  return { denied: true, user_code: body.user_code };
}

function rotateKeys(body) {
  const keepOld = body.keep_old ?? true;
  if (typeof keepOld !== 'boolean') throw new HttpError(400, 'invalid_request', 'keep_old must be a boolean');
  const oldKid = signingKeys[0].kid;
  const fresh = newSigningKey();
  signingKeys = keepOld ? [fresh, ...signingKeys] : [fresh];
  // Rebuild the provider around the new key set; requests already running finish on the old
  // instance, every new request goes to the new one. The store is shared, so nothing is lost.
  current = buildProvider();
  log(`signing key rotated: ${oldKid} -> ${fresh.kid} (keep_old=${keepOld})`);
  return { kid: fresh.kid, old_kid: oldKid, kids: signingKeys.map((k) => k.kid) };
}

function signJws(body) {
  const header = body.header ?? {};
  const claims = body.claims ?? {};
  for (const [name, value] of [['header', header], ['claims', claims]]) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new HttpError(400, 'invalid_request', `${name} must be a JSON object`);
    }
  }
  const protectedHeader = { alg: 'RS256', kid: signingKeys[0].kid, ...header };
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode(protectedHeader)}.${encode(claims)}`;
  // alg "none" yields an unsecured JWS (empty signature) so tests can check it is refused;
  // any other alg in the header is only a label: the signature is always RS256 by the current key.
  const signature = protectedHeader.alg === 'none'
    ? ''
    : crypto.sign('sha256', Buffer.from(signingInput), currentKeyObject()).toString('base64url');
  return { token: `${signingInput}.${signature}` };
}

async function handleTest(req, res, path) {
  const routes = {
    'GET /test/health': () => ({ ok: true }),
    'GET /test/stats': () => ({ ...stats }),
    'POST /test/stats/reset': () => {
      for (const key of Object.keys(stats)) stats[key] = 0;
      return { ...stats };
    },
    'POST /test/device/approve': async () => approveDevice(await readJson(req)),
    'POST /test/device/deny': async () => denyDevice(await readJson(req)),
    'POST /test/device/slow-down': async () => {
      const { times = 1 } = await readJson(req);
      if (!Number.isInteger(times) || times < 0) throw new HttpError(400, 'invalid_request', 'times must be a non-negative integer');
      slowDownRemaining = times;
      return { times };
    },
    'POST /test/keys/rotate': async () => rotateKeys(await readJson(req)),
    'POST /test/sign': async () => signJws(await readJson(req)),
    'GET /test/public-key.pem': () => {
      const pem = crypto.createPublicKey(currentKeyObject()).export({ type: 'spki', format: 'pem' });
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(pem);
      return undefined;
    },
  };
  const route = routes[`${req.method} ${path}`];
  if (!route) {
    const known = Object.keys(routes).some((key) => key.endsWith(` ${path}`));
    throw known
      ? new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${path}`)
      : new HttpError(404, 'not_found', `no test endpoint ${path}`);
  }
  const result = await route();
  if (result !== undefined) sendJson(res, 200, result);
}

// ---------------------------------------------------------------------------------------------
// HTTP(S) server
// ---------------------------------------------------------------------------------------------

async function onRequest(req, res) {
  const path = new URL(req.url, 'http://localhost').pathname;
  if (VERBOSE) res.on('finish', () => log(`${req.method} ${req.url} -> ${res.statusCode}`));
  try {
    if (path.startsWith('/test/')) {
      await handleTest(req, res, path);
      return;
    }

    const { handler, paths: known } = current;
    if (path === known.jwks) stats.jwks_requests += 1;
    if (known.discovery.has(path)) stats.discovery_requests += 1;
    if (path === known.token) stats.token_requests += 1;

    // Forced slow_down: only then is the token request body read here. oidc-provider then
    // takes the already-read body from req.body (it logs one warning about that, harmless).
    if (slowDownRemaining > 0 && path === known.token && req.method === 'POST') {
      const raw = await readBody(req);
      const grantType = new URLSearchParams(raw.toString('utf8')).get('grant_type');
      if (grantType === DEVICE_CODE_GRANT) {
        slowDownRemaining -= 1;
        sendJson(res, 400, { error: 'slow_down' }, { pragma: 'no-cache' });
        return;
      }
      req.body = raw;
    }

    handler(req, res);
  } catch (err) {
    if (err instanceof HttpError) {
      sendJson(res, err.status, err.body);
    } else {
      log(`test endpoint error: ${err?.stack ?? err}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err?.message ?? err) });
    }
  }
}

const server = TLS ? https.createServer(TLS, onRequest) : http.createServer(onRequest);

function shutdown(reason) {
  log(`shutting down (${reason})`);
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (!args['ignore-stdin']) {
  // The harness holds our stdin open for as long as it lives: EOF means it is gone.
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}

server.on('error', (err) => {
  log(`cannot listen on ${HOST}:${PORT}: ${err.message}`);
  process.exit(1);
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const hostForUrl = ISSUER_HOST.includes(':') ? `[${ISSUER_HOST}]` : ISSUER_HOST;
  ISSUER = `${TLS ? 'https' : 'http'}://${hostForUrl}:${port}`;
  try {
    current = buildProvider();
  } catch (err) {
    log(`cannot configure oidc-provider: ${err?.stack ?? err}`);
    process.exit(1);
  }
  log(`issuer ${ISSUER}, audience ${AUDIENCE}, console client ${CONSOLE_CLIENT_ID}, machine client ${MACHINE_CLIENT_ID}`);
  process.stdout.write(`${JSON.stringify({ issuer: ISSUER, port })}\n`);
});
