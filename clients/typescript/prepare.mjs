// The package's "prepare" script: builds dist/ from src/ whenever the
// package is installed from a checkout (`npm install ../warden/clients/typescript`,
// which links the folder), and before `npm ci` or `npm pack` finish.
// npm links a folder without installing its devDependencies, so when the
// TypeScript compiler is missing this installs the locked dependencies
// first (without scripts, so this does not run again).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tsc = join(here, "node_modules", "typescript", "bin", "tsc");

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: here, stdio: "inherit" });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`@warden/client prepare: ${[cmd, ...args].join(" ")} exited with ${r.status ?? r.signal}`);
    process.exit(1);
  }
}

if (!existsSync(tsc)) {
  // npm_execpath is the npm running this script; use it rather than
  // whichever npm is first on PATH.
  const npm = process.env.npm_execpath;
  const args = ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"];
  if (npm && npm.endsWith(".js")) run(process.execPath, [npm, ...args]);
  else run(npm || "npm", args);
}
run(process.execPath, [tsc, "-p", "tsconfig.json"]);
