// A real Better Auth server for authserver's integration tests (tests/better_auth/).
//
// Listens on 127.0.0.1 on a port the OS picks (or on PORT, to try the README by hand), then prints one
// line `LISTENING <base URL>` on stdout so the test learns where it is without a port race. Environment:
//   BETTER_AUTH_SECRET  at least 32 random characters (Better Auth signs session cookies with it)
//   BA_DATABASE         path of the SQLite file (a fresh one per test run)
// Stops on SIGTERM / SIGINT or when stdin closes (so it never outlives the test that started it).
// Versions are exact (package.json, package-lock.json): better-sqlite3 stays on 12.x, as 13.x needs
// Node 22 and crashes on Node 20; its native build is allowed by `allowScripts`.
import http from "node:http";

import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt } from "better-auth/plugins";

const secret = process.env.BETTER_AUTH_SECRET;
const file = process.env.BA_DATABASE;
if (!secret || secret.length < 32 || !file) {
  console.error("set BETTER_AUTH_SECRET (32+ characters) and BA_DATABASE");
  process.exit(2);
}

let handler = null;
const server = http.createServer((req, res) => {
  if (handler === null) {
    res.writeHead(503).end();
    return;
  }
  handler(req, res);
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", async () => {
  const baseURL = `http://127.0.0.1:${server.address().port}`;
  const auth = betterAuth({
    database: new Database(file),
    secret,
    baseURL,
    emailAndPassword: { enabled: true },
    plugins: [jwt(), bearer()],
  });
  const { runMigrations } = await getMigrations(auth.options);
  await runMigrations();
  handler = toNodeHandler(auth);
  process.stdout.write(`LISTENING ${baseURL}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (!process.env.PORT) {
  // Started by a test: stop with it. Started by hand on PORT (perhaps in the background), stdin is
  // the terminal's or nothing, so it is left alone.
  process.stdin.on("end", stop);
  process.stdin.resume();
}
