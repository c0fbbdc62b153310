// A real Better Auth app that signs users in with authserver (its genericOAuth plugin), for
// tests/better_auth/test_sign_in_with_authserver.py.
//
// The provider config is the README's ("Using with Better Auth", authserver as the sign-in
// provider): our discovery URL, a client from `authserver clients create`, PKCE on (its default),
// and otherwise the plugin's defaults (client_secret_post at our token endpoint, the ID token
// verified against our JWKS with a nonce, userinfo). Listens on 127.0.0.1 on a port the OS picks and
// prints `LISTENING <base URL>`. Environment:
//   BETTER_AUTH_SECRET   at least 32 random characters
//   BA_DATABASE          path of the SQLite file (a fresh one per test run)
//   AUTHSERVER_ISSUER    authserver's issuer URL
//   AUTHSERVER_CLIENT_ID / AUTHSERVER_CLIENT_SECRET   the client registered there
// Stops on SIGTERM / SIGINT or when stdin closes.
import http from "node:http";

import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { genericOAuth } from "better-auth/plugins";

const env = process.env;
for (const name of ["BETTER_AUTH_SECRET", "BA_DATABASE", "AUTHSERVER_ISSUER", "AUTHSERVER_CLIENT_ID", "AUTHSERVER_CLIENT_SECRET"]) {
  if (!env[name]) {
    console.error(`set ${name}`);
    process.exit(2);
  }
}

let handler = null;
const server = http.createServer((req, res) => {
  if (handler === null) {
    res.writeHead(503).end();
    return;
  }
  handler(req, res);
});

server.listen(0, "127.0.0.1", async () => {
  const baseURL = `http://127.0.0.1:${server.address().port}`;
  const auth = betterAuth({
    database: new Database(env.BA_DATABASE),
    secret: env.BETTER_AUTH_SECRET,
    baseURL,
    emailAndPassword: { enabled: true },
    plugins: [
      genericOAuth({
        config: [
          {
            providerId: "authserver",
            discoveryUrl: `${process.env.AUTHSERVER_ISSUER}/.well-known/openid-configuration`,
            clientId: process.env.AUTHSERVER_CLIENT_ID,
            clientSecret: process.env.AUTHSERVER_CLIENT_SECRET,
            scopes: ["openid", "profile", "email"],
            pkce: true,
            // We hold no real name; our `profile` scope gives `preferred_username`.
            mapProfileToUser: (profile) => ({ name: profile.preferred_username }),
          },
        ],
      }),
    ],
  });
  const { runMigrations } = await getMigrations(auth.options);
  await runMigrations();
  handler = toNodeHandler(auth);
  process.stdout.write(`LISTENING ${baseURL}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
