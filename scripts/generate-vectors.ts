// Writes conformance/vectors/manifest.json from the vector definitions in
// conformance/vectors/definitions/ (npm run vectors:generate). With --check it
// writes nothing and fails when the committed file differs.
import { readFileSync, writeFileSync } from "node:fs";
import { defaultManifestPath } from "../src/conformance/codec-harness/manifest.js";
import { renderManifest } from "../conformance/vectors/definitions/build-manifest.js";

const check = process.argv.includes("--check");
const text = renderManifest();
const manifest = JSON.parse(text) as { vectors: { kind: string }[]; suiteVersion: string };
const valid = manifest.vectors.filter((v) => v.kind === "valid").length;
const summary = `${manifest.vectors.length} vectors (${valid} valid, ${manifest.vectors.length - valid} invalid), suite ${manifest.suiteVersion}`;

if (check) {
  let committed = "";
  try {
    committed = readFileSync(defaultManifestPath, "utf8");
  } catch {
    // A missing file is stale too.
  }
  if (committed !== text) {
    console.error(`conformance/vectors/manifest.json is stale: run npm run vectors:generate (${summary})`);
    process.exit(1);
  }
  console.log(`conformance/vectors/manifest.json is up to date: ${summary}`);
} else {
  writeFileSync(defaultManifestPath, text);
  console.log(`wrote conformance/vectors/manifest.json: ${summary}`);
}
