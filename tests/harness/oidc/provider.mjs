// A real OAuth2 authorization server for the tests (tests/harness/oidc.rs):
// oidc-provider (a certified OpenID Connect implementation) on 127.0.0.1 with the
// device authorization grant (RFC 8628), refresh-token rotation, token
// introspection (RFC 7662, which Dovecot's passdb oauth2 calls) and revocation.
// Everything lives in memory: a restart forgets every grant.
//
// Environment: OIDC_PORT, OIDC_ACCESS_TTL (seconds), OIDC_NODE_MODULES (where
// `npm install oidc-provider` put the package), and the two clients' secrets.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.OIDC_NODE_MODULES, 'x.js'));
const { default: Provider } = await import(require.resolve('oidc-provider'));

const port = Number(process.env.OIDC_PORT);
const ttl = Number(process.env.OIDC_ACCESS_TTL || '3600');
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      // Switchboard: a confidential client, secret in the request body as
      // Microsoft and Google take it.
      client_id: 'switchboard',
      client_secret: process.env.OIDC_CLIENT_SECRET,
      grant_types: [
        'urn:ietf:params:oauth:grant-type:device_code',
        'refresh_token',
        'client_credentials',
      ],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    },
    {
      // App-only access (Microsoft's IMAP.AccessAsApp): the client credentials grant.
      // Its id is the mailbox's address, which Dovecot compares with the login name
      // (`username_attribute = client_id`).
      client_id: process.env.OIDC_APP_CLIENT_ID,
      client_secret: process.env.OIDC_CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    },
    {
      // Dovecot's passdb oauth2: it only introspects, with HTTP Basic in the URL.
      client_id: 'dovecot',
      client_secret: process.env.OIDC_DOVECOT_SECRET,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  scopes: ['openid', 'offline_access', 'mail'],
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  // Without it the same refresh token comes back every time; Microsoft rotates.
  rotateRefreshToken: true,
  issueRefreshToken: async (ctx, client, source) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: ttl,
    ClientCredentials: ttl,
    DeviceCode: 600,
    Grant: 86400,
    Interaction: 3600,
    RefreshToken: 86400,
    Session: 86400,
  },
  // Opaque tokens whose introspection names the account as `sub`.
  extraTokenClaims: async () => ({}),
});
provider.proxy = false;

// Each grant event on stderr: the test log shows what the server decided.
for (const event of ['grant.success', 'grant.error', 'grant.revoked', 'introspection.error', 'server_error']) {
  provider.on(event, (ctx, err) => {
    const e = err || ctx;
    process.stderr.write(`oidc ${event}${e && e.message ? `: ${e.message}` : ''}\n`);
  });
}

// Every token issued, by value (an opaque token's value is its jti), so that the
// test can look for each one in Switchboard's logs and output — and find none.
for (const kind of ['access_token', 'refresh_token', 'client_credentials']) {
  provider.on(`${kind}.saved`, (token) => {
    process.stderr.write(`oidc issued ${kind} ${token.jti}\n`);
  });
}

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening on ${issuer}\n`);
});
