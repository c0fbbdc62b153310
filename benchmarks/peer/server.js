// node-oidc-provider as the benchmark's peer: one Node process, in-memory adapter, RS256 JWT access tokens.
//
//   node benchmarks/peer/server.js PORT CONFIG.json
//
// CONFIG.json names the clients the harness drives (ids and secrets it chose). The harness only talks to
// 127.0.0.1. Besides the provider's own routes this process answers POST /_bench/refresh-chains?n=N with
// N fresh refresh tokens of one client, each in its own grant: oidc-provider issues refresh tokens only
// from an interactive flow (code, device, CIBA), and the benchmark times the rotation, not the login.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

const [port, configPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

// RS256 signing key made at start, 2048 bits like authserver's default.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'bench-rs256' };

// Two resource servers: JWT access tokens (the default resource), and opaque ones, which are the only
// kind oidc-provider introspects (lib/shared/reject_structured_tokens.js refuses JWTs at /token/introspection).
const RESOURCES = {
  [config.resource]: { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } },
  [config.opaqueResource]: { accessTokenFormat: 'opaque' },
};

// oidc-provider's own in-memory adapter over its own store, but one that does not evict: the default
// store keeps 1,000 entries, and at 256 connections the refresh workload's grants were evicted between
// two uses of a chain (invalid_grant). Entries still expire with their tokens.
const store = new LRU({ maxSize: 100_000_000 });

const provider = new Provider(issuer, {
  adapter: (model) => new MemoryAdapter(model, store),
  clients: config.clients,
  jwks: { keys: [signingJwk] },
  cookies: { keys: [config.cookieKey] },
  scopes: ['openid', 'offline_access', 'read'],
  // Rotate on every use, like authserver (the default rotates only past 70% of the token's lifetime).
  rotateRefreshToken: true,
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return { sub }; } };
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Any authenticated confidential client may introspect (the default, stated so it isn't a warning).
      async allowedPolicy(_ctx, client) { return client.clientAuthMethod !== 'none'; },
    },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async defaultResource(_ctx, _client, oneOf) { return oneOf ?? config.resource; },
      async useGrantedResource() { return true; },
      async getResourceServerInfo(_ctx, resourceIndicator) {
        const format = RESOURCES[resourceIndicator];
        if (!format) throw new errors.InvalidTarget();
        return { scope: 'read', audience: resourceIndicator, accessTokenTTL: 600, ...format };
      },
    },
  },
});

/** N refresh tokens for config.refreshClient, each in its own grant (one user per chain). */
async function refreshChains(n) {
  const client = await provider.Client.find(config.refreshClient);
  const tokens = [];
  for (let i = 0; i < n; i += 1) {
    const accountId = `bench-user-${i}`;
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    grant.addResourceScope(config.resource, 'read');
    const grantId = await grant.save();
    const refresh = new provider.RefreshToken({
      accountId, client, grantId, gty: 'authorization_code', scope: 'read', resource: config.resource,
    });
    tokens.push(await refresh.save());
  }
  return tokens;
}

const handle = provider.callback();
createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  if (req.method === 'POST' && url.pathname === '/_bench/refresh-chains') {
    const tokens = await refreshChains(Number(url.searchParams.get('n') || '1'));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(tokens));
    return;
  }
  handle(req, res);
}).listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
