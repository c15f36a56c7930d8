// An independent OAuth 2.0 / OpenID Connect server for dmflow's tests: panva's oidc-provider
// with PKCE required, single-use codes, rotating refresh tokens, and a Dailymotion-like
// `/echo` that answers only to a valid bearer token.
//
//   node server.mjs [PORT]    prints the issuer URL on stdout, serves on 127.0.0.1 until killed
import Provider from 'oidc-provider';
import http from 'node:http';

const port = Number(process.argv[2] || 0);
const server = http.createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'dmflow-test',
      client_secret: 'dmflow-test-secret-7f3a9c',
      application_type: 'native',
      token_endpoint_auth_method: 'client_secret_post',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
  ],
  scopes: ['openid', 'offline_access'],
  features: { devInteractions: { enabled: true }, revocation: { enabled: true } },
  pkce: { required: () => true },
  issueRefreshToken: () => true,
  rotateRefreshToken: () => true,
  ttl: { AccessToken: 120, AuthorizationCode: 120, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600 },
  findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
});
provider.proxy = false;

// GET /echo?message=... with `Authorization: Bearer <token>`: the message back, or a 401 with
// an RFC 6750 challenge, as Dailymotion answers.
provider.use(async (ctx, next) => {
  if (ctx.path !== '/echo') return next();
  const header = ctx.get('authorization');
  const token = header.startsWith('Bearer ') ? header.slice(7) : '';
  const found = token ? await provider.AccessToken.find(token) : undefined;
  if (!found || found.isExpired) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Bearer realm="oidc", error="invalid_token", error_description="The access token is invalid."');
    ctx.body = { error: { code: 401, message: 'invalid token', type: 'invalid_token' } };
    return;
  }
  ctx.body = { message: ctx.query.message };
});

server.on('request', provider.callback());
process.stdout.write(`${issuer}\n`);
