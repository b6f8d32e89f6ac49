// Every entry point of both packages, loaded from its built dist/: what a
// user importing "imwire/…" or "@imwire/protocol/…" gets. "imwire" is
// resolved by name (Node resolves a package's own name through its
// "exports"); @imwire/protocol, which is not installed here, through its
// package.json's "exports" read by hand (test/package-footprint.test.ts
// installs its tarball and resolves it for real). Run after `npm run build`.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fromBinary } from "@bufbuild/protobuf";

const root = new URL("../", import.meta.url);
const protocolDir = new URL("packages/protocol/", root);
const protocolExports = JSON.parse(readFileSync(new URL("package.json", protocolDir), "utf8")).exports;
const imwireExports = JSON.parse(readFileSync(new URL("package.json", root), "utf8")).exports;

async function loadProtocol(subpath) {
  const target = protocolExports[subpath];
  assert.ok(existsSync(new URL(target.types, protocolDir)), `@imwire/protocol ${subpath}: ${target.types} is missing`);
  return import(new URL(target.default, protocolDir).href);
}

async function loadImwire(subpath) {
  const target = imwireExports[subpath];
  assert.ok(existsSync(new URL(target.types, root)), `imwire ${subpath}: ${target.types} is missing`);
  return import(subpath === "." ? "imwire" : `imwire/${subpath.slice(2)}`);
}

// What each entry point must offer; a name lost in a refactoring fails here.
const expected = {
  ".": ["frame", "decodeFrame", "encodeFrame", "parseFrame", "validateFrame", "FrameReader", "FrameSplitter", "encodeFramed", "ImwireError", "isImwireError", "FrameSchema", "ErrorCode", "frameCatalogue", "PROTOCOL_VERSION"],
  "./fast": ["decodeFrame", "encodeFrame", "sizeFrame", "missingInFrame", "decodeConversationEvent", "encodeConversationEvent"],
  "./client": ["ClientMachine", "defaultClientOptions", "ClientDriver", "clockTimers", "virtualTimers", "MessageView", "MemoryClientStore"],
  "./server": ["ServerMachine", "newServerMachine", "defaultServerOptions", "MemoryStore", "WriteBehindStore", "applyWrite"],
  "./sim": ["Simulation", "runScenario", "checkOrderAndDuplicates", "checkNoLoss", "perfectLink", "Random"],
  "./transports": ["connectWebSocket", "memoryLink", "MemoryTransport"],
};
const nodeOnly = {
  "./client": ["ClientRunner", "FileClientStore"],
  "./transports": ["dial", "SCHEMES", "StreamTransport", "WebSocketTransport", "WS_CLOSE"],
  "./node-server": ["startReferenceServer", "ServerRunner", "SqliteStore", "FileJournal", "JournalCorrupt", "issueToken", "verifyToken"],
};
// Internals: test oracles and allocator plumbing, not API.
const internals = ["SlabAllocator", "findMissingField", "referenceParseFrame"];

const portableSubpaths = Object.keys(protocolExports);
assert.deepEqual(portableSubpaths, Object.keys(expected), "@imwire/protocol's entry points");
assert.deepEqual(
  Object.keys(imwireExports).filter((s) => s !== "./package.json"),
  [...Object.keys(expected), "./node-server"],
  "imwire's entry points",
);

for (const subpath of portableSubpaths) {
  const portable = await loadProtocol(subpath);
  const full = await loadImwire(subpath);
  for (const name of expected[subpath]) assert.ok(name in portable, `@imwire/protocol ${subpath} lacks ${name}`);
  for (const name of internals) assert.ok(!(name in portable) && !(name in full), `${subpath} exports the internal ${name}`);
  // The same subpath offers the same API in both packages; imwire only adds the Node parts.
  const added = Object.keys(full).filter((name) => !(name in portable)).sort();
  assert.deepEqual(added, [...(nodeOnly[subpath] ?? [])].sort(), `imwire ${subpath}: the names it adds to @imwire/protocol ${subpath}`);
  assert.deepEqual(Object.keys(portable).filter((name) => !(name in full)), [], `imwire ${subpath} lacks some of @imwire/protocol ${subpath}`);
}
const nodeServer = await loadImwire("./node-server");
for (const name of nodeOnly["./node-server"]) assert.ok(name in nodeServer, `imwire/node-server lacks ${name}`);

// The two builds agree byte for byte.
const main = await import("imwire");
const fast = await import("imwire/fast");
const portable = await loadProtocol(".");
const f = main.frame({ requestId: 7, body: { case: "ping", value: { nonce: 42n } } });
const bytes = fast.encodeFrame(f);
assert.deepEqual(main.decodeFrame(bytes), f);
assert.deepEqual(portable.encodeFrame(portable.frame({ requestId: 7, body: { case: "ping", value: { nonce: 42n } } })), main.encodeFrame(f));
assert.deepEqual(fromBinary(main.FrameSchema, bytes), fast.decodeFrame(bytes));
assert.equal(fast.sizeFrame(f), bytes.length);
assert.equal(fast.missingInFrame(main.frame({})), "body");
console.log(`imwire (${Object.keys(imwireExports).length - 1} entry points) and @imwire/protocol (${portableSubpaths.length}) load from dist/ and agree`);
