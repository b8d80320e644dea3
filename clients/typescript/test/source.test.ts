// Checks of the client's source itself: no module imports itself through
// others (type-only imports included), no hand-written source file grows
// past 800 lines. (That no file of the clients names a recipe's nodes is
// checked by the wire package's TestClientsKnowNoRecipeNodeNames.)

import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

import { clientDir } from "./helpers.js";

const srcDir = path.join(clientDir, "src");
const MAX_LINES = 800;

function sources(): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of fs.readdirSync(srcDir).sort()) {
    if (name.endsWith(".ts")) out.set(name, fs.readFileSync(path.join(srcDir, name), "utf8"));
  }
  return out;
}

/** The modules of src a source imports or re-exports from, by file name (x.ts). */
export function importsOf(text: string): string[] {
  const out = new Set<string>();
  const re = /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*["']\.\/([^"']+)["']|(?:^|\n)\s*import\s*["']\.\/([^"']+)["']|\bimport\(\s*["']\.\/([^"']+)["']\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    out.add(spec.replace(/\.js$/, ".ts"));
  }
  return [...out];
}

/** Every cycle of the graph, each as the path that closes it (a, b, ..., a). */
export function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, "open");
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      const s = state.get(m);
      if (s === "open") found.push([...stack.slice(stack.indexOf(m)), m]);
      else if (s === undefined) visit(m);
    }
    stack.pop();
    state.set(n, "done");
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return found;
}

test("source: the cycle finder finds a cycle, and the import reader reads every form", () => {
  const g = new Map([
    ["a.ts", ["b.ts"]],
    ["b.ts", ["c.ts"]],
    ["c.ts", ["a.ts"]],
    ["d.ts", ["a.ts"]],
  ]);
  assert.deepEqual(cycles(g), [["a.ts", "b.ts", "c.ts", "a.ts"]]);
  const text = [
    'import { x } from "./one.js";',
    'import type { Y } from "./two.js";',
    "import {\n  z,\n  type W,\n} from './three.js';",
    'export { v } from "./four.js";',
    'export * from "./five.js";',
    'import "./six.js";',
    'import * as net from "node:net";',
  ].join("\n");
  assert.deepEqual(importsOf(text).sort(), ["five.ts", "four.ts", "one.ts", "six.ts", "three.ts", "two.ts"]);
});

test("source: no import cycles in src (type-only imports count too)", () => {
  const src = sources();
  const graph = new Map<string, string[]>();
  for (const [name, text] of src) {
    const deps = importsOf(text);
    for (const d of deps) assert.ok(src.has(d), `${name} imports ./${d}, which is not in src`);
    graph.set(name, deps);
  }
  assert.ok(graph.get("index.ts")!.length > 0, "index.ts imports nothing: the reader is broken");
  assert.deepEqual(cycles(graph).map((c) => c.join(" -> ")), []);
});

/** A file written by a generator (protocol.ts, the protocol's tables), by its first line. */
function generated(text: string): boolean {
  return /^\/\/ Code generated .* DO NOT EDIT\.$/m.test(text.split("\n", 1)[0]!);
}

test(`source: no hand-written file in src is over ${MAX_LINES} lines`, () => {
  const long: string[] = [];
  for (const [name, text] of sources()) {
    if (generated(text)) continue;
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (lines > MAX_LINES) long.push(`${name}: ${lines} lines`);
  }
  assert.deepEqual(long, []);
});
