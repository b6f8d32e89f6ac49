import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * What installing each package costs and brings: the portable core is packed
 * and installed into an empty project, as a codec-only user would, and the
 * imwire tarball's file list is read. Figures go to stdout for README.md.
 */

const ROOT = new URL("../", import.meta.url).pathname;
const PROTOCOL_DIR = join(ROOT, "packages/protocol");
const SOURCE_ROOT = "imwire:///src/";
/** Test-only code under src/ that must never ship (tsconfig.build.json excludes it; package.json "files" drops stale copies). */
const TEST_ONLY = [/^dist\/conformance\/fuzz\//, /^dist\/codec\/reference-decoder\./, /^dist\/codec\/mistyped-fields\./, /^dist\/codec\/wire-structure\./];

interface PackResult {
  readonly filename: string;
  readonly size: number;
  readonly unpackedSize: number;
  readonly files: readonly { readonly path: string; readonly size: number }[];
}

/** npm run by the test: no npm_* variables of the npm that may be running vitest, which would redirect it (its prefix, its package). */
function npm(args: readonly string[], cwd: string): string {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("npm_") || key === "npm_config_cache" || key === "npm_config_registry"));
  return execFileSync("npm", [...args], { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function pack(dir: string, destination: string, extra: readonly string[] = []): PackResult {
  const [result] = JSON.parse(npm(["pack", "--json", "--pack-destination", destination, ...extra], dir)) as PackResult[];
  return result!;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

function footprint(dirs: readonly string[]): { bytes: number; files: number } {
  const files = dirs.flatMap(walk);
  return { bytes: files.reduce((sum, file) => sum + statSync(file).size, 0), files: files.length };
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

/**
 * Every shipped .js has a map whose source is inline, under the virtual root.
 * The source is not compared with src/: a build may predate an edit.
 */
function checkSourceMaps(files: readonly string[], read: (path: string) => string): number {
  const scripts = files.filter((path) => path.endsWith(".js") && path.startsWith("dist/"));
  for (const script of scripts) {
    expect(read(script), script).toMatch(new RegExp(`//# sourceMappingURL=${script.split("/").pop()}\\.map\\s*$`));
    expect(files, `${script}'s map ships`).toContain(`${script}.map`);
    const map = JSON.parse(read(`${script}.map`)) as { sourceRoot?: string; sources: string[]; sourcesContent?: (string | null)[] };
    expect(map.sourceRoot, script).toBe(SOURCE_ROOT);
    expect(map.sources).toHaveLength(1);
    const source = map.sources[0]!;
    expect(source, "a path inside src/, not outside the package").not.toMatch(/^\.\.|^\//);
    const content = map.sourcesContent?.[0];
    expect(typeof content === "string" && content.length > 0, `${script}'s map carries its source`).toBe(true);
  }
  return scripts.length;
}

describe("@imwire/protocol installed into an empty project", () => {
  let work: string;
  let packed: PackResult;
  let consumer: string;

  beforeAll(() => {
    if (!existsSync(join(PROTOCOL_DIR, "dist/index.js"))) throw new Error("packages/protocol/dist/ is not built: run npm run build:protocol");
    work = mkdtempSync(join(tmpdir(), "imwire-footprint-"));
    // --ignore-scripts: the dist/ that npm ci (prepare) and .ci/run built, not a rebuild (the package's prepack) on every test run.
    packed = pack(PROTOCOL_DIR, work, ["--ignore-scripts"]);
    consumer = join(work, "consumer");
    mkdirSync(consumer);
    writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    npm(["install", "--prefix", consumer, "--prefer-offline", "--no-audit", "--no-fund", join(work, packed.filename)], consumer);
  }, 60_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("brings exactly one dependency, @bufbuild/protobuf, and runs no install script", () => {
    const lock = JSON.parse(readFileSync(join(consumer, "package-lock.json"), "utf8")) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const installed = Object.keys(lock.packages).filter((path) => path !== "").sort();
    expect(installed).toEqual(["node_modules/@bufbuild/protobuf", "node_modules/@imwire/protocol"]);
    for (const [path, entry] of Object.entries(lock.packages)) expect(entry.hasInstallScript, path).toBeUndefined();
    const protocol = footprint([join(consumer, "node_modules/@imwire/protocol")]);
    const all = footprint([join(consumer, "node_modules")]);
    console.log(
      `@imwire/protocol: tarball ${kib(packed.size)}, ${packed.files.length} files, unpacked ${kib(packed.unpackedSize)}; ` +
        `installed with its dependency: 2 packages, ${all.files} files, ${kib(all.bytes)} (@imwire/protocol itself ${kib(protocol.bytes)})`,
    );
  });

  it("ships dist/, its licence and package.json only, with maps carrying their sources", () => {
    const files = packed.files.map((f) => f.path);
    expect(files.filter((path) => !path.startsWith("dist/")).sort()).toEqual(["LICENSE", "README.md", "package.json"]);
    expect(readFileSync(join(PROTOCOL_DIR, "LICENSE"), "utf8")).toBe(readFileSync(join(ROOT, "LICENSE"), "utf8"));
    const installedDir = join(consumer, "node_modules/@imwire/protocol");
    expect(checkSourceMaps(files, (path) => readFileSync(join(installedDir, path), "utf8"))).toBeGreaterThan(40);
  });

  it("every subpath resolves, loads under plain Node ESM and codes a frame", () => {
    const script = `
      import assert from "node:assert/strict";
      import { create } from "@bufbuild/protobuf";
      import { frame, encodeFrame, decodeFrame, FrameReader, encodeFramed, ConversationEventSchema } from "@imwire/protocol";
      import { encodeConversationEvent, decodeConversationEvent } from "@imwire/protocol/fast";
      import { ClientMachine, defaultClientOptions } from "@imwire/protocol/client";
      import { ServerMachine, MemoryStore } from "@imwire/protocol/server";
      import { Simulation, runScenario } from "@imwire/protocol/sim";
      import * as transports from "@imwire/protocol/transports";
      const ping = frame({ requestId: 9, body: { case: "ping", value: { nonce: 77n } } });
      assert.deepEqual(decodeFrame(encodeFrame(ping)), ping);
      const reader = new FrameReader({ maxFrameSize: 65_536 });
      reader.push(encodeFramed(ping));
      assert.deepEqual(reader.next(), ping);
      assert.equal(decodeConversationEvent(encodeConversationEvent(create(ConversationEventSchema, { conversationId: "c", seq: 3n }))).seq, 3n);
      for (const value of [ClientMachine, ServerMachine, MemoryStore, Simulation, runScenario]) assert.equal(typeof value, "function");
      assert.equal(defaultClientOptions.versions[0], 1);
      console.log(JSON.stringify(Object.keys(transports)));
    `;
    writeFileSync(join(consumer, "check.mjs"), script);
    expect(() => execFileSync(process.execPath, ["check.mjs"], { cwd: consumer, encoding: "utf8" })).not.toThrow();
  });

  it("its declarations type-check for a consumer with no @types/node", () => {
    const source = `
      import { frame, encodeFrame, type Frame } from "@imwire/protocol";
      import { sizeFrame } from "@imwire/protocol/fast";
      import { ClientMachine, type ClientEvent } from "@imwire/protocol/client";
      import { MemoryStore, type Store } from "@imwire/protocol/server";
      import { Simulation, type SimulationConfig } from "@imwire/protocol/sim";
      import type { FrameTransport } from "@imwire/protocol/transports";
      const f: Frame = frame({ requestId: 1, body: { case: "ping", value: { nonce: 1n } } });
      const size: number = sizeFrame(f) + encodeFrame(f).length;
      const store: Store = new MemoryStore();
      const config: SimulationConfig = { seed: 1, users: 2, devicesPerUser: 1 };
      export const used: unknown[] = [size, store, config, ClientMachine, Simulation, null as ClientEvent | null, null as FrameTransport | null];
    `;
    writeFileSync(join(consumer, "consumer.ts"), source);
    // skipLibCheck: the .d.ts files themselves came out of the build without @types/node, so they name no Node type;
    // what is checked here is that each subpath's "types" resolves and offers what a consumer uses.
    const compilerOptions = { noEmit: true, strict: true, skipLibCheck: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022", "dom"], types: [] };
    writeFileSync(join(consumer, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["consumer.ts"] }));
    let output = "";
    try {
      execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: consumer, encoding: "utf8" });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout);
    }
    expect(output).toBe("");
  }, 30_000);
});

describe("the imwire package's tarball", () => {
  let packed: PackResult;
  let work: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "imwire-footprint-"));
    // --dry-run --ignore-scripts: list what dist/ (built by npm ci) would ship, without rebuilding it under other tests.
    packed = pack(ROOT, work, ["--dry-run", "--ignore-scripts"]);
  }, 30_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("holds no test-only code, no tests and no sources", () => {
    const files = packed.files.map((f) => f.path);
    expect(files.filter((path) => TEST_ONLY.some((pattern) => pattern.test(path)))).toEqual([]);
    expect(files.filter((path) => /^(test|src|bench|mutation|scripts|codegen|packages|proto-baseline)\//.test(path))).toEqual([]);
    for (const path of ["LICENSE", "SPEC.md", "bin/imwire.js", "dist/index.js", "dist/entry/node-server.js", "conformance/vectors/manifest.json"]) expect(files).toContain(path);
  });

  it("ships maps that carry their sources and point at no unshipped file", () => {
    const files = packed.files.map((f) => f.path);
    expect(checkSourceMaps(files, (path) => readFileSync(join(ROOT, path), "utf8"))).toBeGreaterThan(100);
  });

  it("measures what installing imwire brings (its production dependency tree)", () => {
    const parseable = npm(["ls", "--omit=dev", "--all", "--parseable"], ROOT).trim().split("\n");
    const dependencies = [...new Set(parseable.filter((path) => path !== ROOT.replace(/\/$/, "")))];
    const tree = footprint(dependencies.filter((path) => !dependencies.some((other) => other !== path && path.startsWith(`${other}/`))));
    const natives = dependencies.filter((path) => readdirSync(path).includes("binding.gyp")).map((path) => relative(join(ROOT, "node_modules"), path));
    expect(natives).toEqual(["better-sqlite3"]);
    console.log(
      `imwire: tarball ${kib(packed.size)}, ${packed.files.length} files, unpacked ${kib(packed.unpackedSize)}; ` +
        `its dependencies: ${dependencies.length} packages, ${tree.files} files, ${kib(tree.bytes)} (native: ${natives.join(", ")})`,
    );
  });
});
