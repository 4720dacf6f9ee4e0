// A real OpenID Connect provider for the portal's tests (the npm package `oidc-provider`).
//
//   OIDC_PORT=9100 OIDC_ISSUER=http://127.0.0.1:9100 \
//   OIDC_CLIENTS='[{"client_id":"asn-portal","client_secret":"...","redirect_uris":["http://127.0.0.1:8005/masuk/callback"]}]' \
//   OIDC_ACCOUNTS=accounts.json node tools/oidc/provider.mjs
//
// OIDC_ACCOUNTS is a JSON file: [{"sub", "name", "nip", "roles": [...], "kode_opd"}]. The claims name, nip, roles
// and kode_opd come with scope "profile" and are also put in the ID token (the portal reads them from there).
// Only the authorization code flow, and PKCE (S256) is required of every client.
//
// Sign-in is a tiny page of our own, simple enough for a headless browser and for a plain HTTP client:
// GET /interaction/<uid> is a form (label "ID akun", input #login name=login, button #masuk), POSTed back to
// /interaction/<uid>/login. Every authorization asks again (no single sign-on across sign-ins, so one browser can
// sign in as different people one after the other); consent is granted at once (the clients are first-party).
// Prints "listening <issuer>" on stdout when ready.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider, { interactionPolicy } from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 9100);
const issuer = process.env.OIDC_ISSUER || `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OIDC_CLIENTS || '[]');
const accounts = new Map(
  JSON.parse(readFileSync(process.env.OIDC_ACCOUNTS || required('OIDC_ACCOUNTS'), 'utf8'))
    .map((account) => [String(account.sub), account]),
);

function required(name) {
  console.error(`${name} is required`);
  process.exit(2);
}

const PROFILE_CLAIMS = ['name', 'nip', 'roles', 'kode_opd'];

// The login prompt is asked on every authorization unless this very interaction has just signed someone in.
const { Check, base } = interactionPolicy;
const policy = base();
policy.get('login').checks.add(new Check('always_login', 'Every authorization asks who signs in', (ctx) => (
  ctx.oidc.result?.login ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT
)), 0);

// A fresh signing key per run (the tests read it from the provider's JWKS).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-1', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    ...client,
  })),
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], profile: PROFILE_CLAIMS },
  conformIdTokenClaims: false, // the profile claims go into the ID token too
  pkce: { required: () => true },
  responseTypes: ['code'],
  features: {
    devInteractions: { enabled: false },
    // sign-out from a client (end_session_endpoint): a confirmation form, button #keluar-sso
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Keluar', `<h1>Keluar dari SSO uji?</h1>${form}
<p><button id="keluar-sso" type="submit" form="op.logoutForm" value="yes" name="logout">Ya, keluar</button>
<button id="tetap-masuk" type="submit" form="op.logoutForm">Tidak, tetap masuk</button></p>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Keluar', '<h1 id="sudah-keluar">Anda sudah keluar dari SSO uji</h1>');
      },
    },
  },
  interactions: {
    policy,
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  // First-party clients: consent is granted for whatever the client asked for.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const existing = await ctx.oidc.provider.Grant.find(grantId);
      if (existing) return existing;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
    await grant.save();
    return grant;
  },
  findAccount: async (_ctx, id) => {
    const account = accounts.get(String(id));
    if (!account) return undefined;
    return {
      accountId: String(account.sub),
      claims: async () => ({
        sub: String(account.sub),
        name: account.name,
        nip: account.nip,
        roles: account.roles || [],
        kode_opd: account.kode_opd ?? null,
      }),
    };
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Kesalahan', `<h1>Kesalahan</h1><p id="error">${escape(out.error)}: ${escape(out.error_description || '')}</p>`);
  },
  ttl: { Session: 600, Interaction: 600, Grant: 600, AuthorizationCode: 60, AccessToken: 600, IdToken: 600 },
});
provider.proxy = false;

function escape(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

function page(title, body) {
  return `<!doctype html>
<html lang="id">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} – SSO uji</title></head>
<body><main>${body}</main></body>
</html>`;
}

function loginPage(uid, { hint = '', error = '' } = {}) {
  return page('Masuk', `
<h1>Masuk ke SSO uji</h1>
${error ? `<p id="login-error" role="alert">${escape(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${escape(uid)}/login">
  <p><label for="login">ID akun</label>
  <input id="login" name="login" type="text" autocomplete="username" required value="${escape(hint)}"></p>
  <p><button id="masuk" type="submit">Masuk</button></p>
</form>`);
}

const clientOrigins = [...new Set(clients.flatMap((client) => client.redirect_uris || [])
  .map((uri) => new URL(uri).origin))].join(' ');

function send(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    // no script at all on these pages; the form's answer redirects on to a client
    'content-security-policy': `default-src 'none'; form-action 'self' ${clientOrigins}; frame-ancestors 'none'`,
  });
  res.end(html);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16384) throw new Error('body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Someone else signing in from the same browser: the provider would first show its logout confirmation (an
// auto-submitting page); the earlier person is simply forgotten instead, as a shared test browser needs.
async function forgetOtherAccount(details, login) {
  const previous = details.session;
  if (!previous?.cookie || !previous.accountId || previous.accountId === login) return;
  const session = await provider.Session.find(previous.cookie);
  if (session) {
    delete session.accountId;
    delete session.loginTs;
    session.authorizations = {};
    await session.persist();
  }
  // the interaction remembers who was signed in when it began; it must agree with the session
  details.session = { uid: previous.uid, cookie: previous.cookie };
  await details.save(details.exp - Math.floor(Date.now() / 1000));
}

const oidc = provider.callback();

const server = createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) {
    oidc(req, res);
    return;
  }
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== match[1]) {
      send(res, 400, page('Kesalahan', '<h1>Kesalahan</h1><p id="error">interaksi tidak cocok</p>'));
      return;
    }
    if (req.method === 'GET' && !match[2]) {
      send(res, 200, loginPage(details.uid, { hint: details.params.login_hint || '' }));
      return;
    }
    if (req.method === 'POST' && match[2]) {
      const form = await readForm(req);
      const login = (form.get('login') || '').trim();
      if (!accounts.has(login)) {
        send(res, 200, loginPage(details.uid, { hint: login, error: 'Akun tidak dikenal' }));
        return;
      }
      await forgetOtherAccount(details, login);
      await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      return;
    }
    res.writeHead(405, { allow: 'GET, POST' });
    res.end();
  } catch (error) {
    console.error(error);
    send(res, 400, page('Kesalahan', `<h1>Kesalahan</h1><p id="error">${escape(error.message)}</p>`));
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
