// Another project depends on the client from a checkout: `npm install
// <path>` (a fresh checkout, no node_modules nor dist: the prepare script
// builds it) and `npm install` of the `npm pack` tarball. The installed
// package is then imported (ESM), required (CommonJS) and used against a
// real agent.

import { before, after } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";

import { Agent, agentTest, clientDir } from "./helpers.js";

const run = promisify(execFile);

let agent: Agent;
let scratch: string;
const A = (): Agent => agent;

before(async () => {
  agent = new Agent({ node: "install" });
  await agent.start();
  scratch = fs.mkdtempSync("/tmp/wts-install-");
});
after(async () => {
  await agent?.stop();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/** The environment of a user's shell: none of the npm_* variables of the npm running this test. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith("npm_")) env[k] = v;
  env["WARDEN_SOCKET"] = agent.socket;
  return env;
}

async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env: userEnv(), timeout: 120000 });
    return stdout;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} (in ${cwd}) failed: ${x.message}\n${x.stdout ?? ""}\n${x.stderr ?? ""}`);
  }
}

/** A copy of the client's files as git has them: no node_modules, no dist. */
function freshCheckout(): string {
  const dest = path.join(scratch, "warden", "clients", "typescript");
  fs.mkdirSync(dest, { recursive: true });
  for (const f of ["package.json", "package-lock.json", "prepare.mjs", "tsconfig.json", "README.md", "src"]) {
    fs.cpSync(path.join(clientDir, f), path.join(dest, f), { recursive: true });
  }
  return dest;
}

/** A new project with programs that use the client through its package name. */
function app(name: string): string {
  const dir = path.join(scratch, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true }));
  fs.writeFileSync(
    path.join(dir, "esm.mjs"),
    `import { connect, text } from "@warden/client";
const c = await connect();
await c.create("/${name}-esm", "from esm");
console.log(text((await c.get("/${name}-esm")).data));
await c.close();
`,
  );
  fs.writeFileSync(
    path.join(dir, "cjs.cjs"),
    `const { connect, text } = require("@warden/client");
(async () => {
  const c = await connect();
  await c.create("/${name}-cjs", "from cjs");
  console.log(text((await c.get("/${name}-cjs")).data));
  await c.close();
})().catch((e) => { console.error(e); process.exit(1); });
`,
  );
  return dir;
}

async function usesClient(dir: string): Promise<void> {
  assert.equal((await sh(process.execPath, ["esm.mjs"], dir)).trim(), "from esm");
  assert.equal((await sh(process.execPath, ["cjs.cjs"], dir)).trim(), "from cjs");
}

agentTest(
  A,
  "npm install <path> of a fresh checkout builds the client; then npm pack's tarball installs; both import and require",
  async () => {
    const checkout = freshCheckout();
    const linked = app("linked");
    await sh("npm", ["install", "--no-audit", "--no-fund", "../warden/clients/typescript"], linked);
    assert.ok(fs.existsSync(path.join(checkout, "dist", "index.js")), "prepare built dist/ in the checkout");
    assert.ok(fs.existsSync(path.join(checkout, "dist", "index.d.ts")), "with its type declarations");
    await usesClient(linked);

    // npm pack runs prepare too; the tarball holds dist/, not src/.
    const packed = await sh("npm", ["pack", "--json", "--pack-destination", scratch], checkout);
    const [info] = JSON.parse(packed) as { filename: string; files: { path: string }[] }[];
    const files = info!.files.map((f) => f.path);
    assert.ok(files.includes("dist/index.js") && !files.some((f) => f.startsWith("src/")), files.join(" "));
    const fromTarball = app("tarball");
    await sh("npm", ["install", "--no-audit", "--no-fund", path.join(scratch, info!.filename)], fromTarball);
    assert.ok(!fs.lstatSync(path.join(fromTarball, "node_modules", "@warden", "client")).isSymbolicLink());
    await usesClient(fromTarball);
  },
  240000,
);
