import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { root } from "./support/spec.js";

function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path, "utf8"));
    }
  };
  walk(dir);
  return out;
}

describe("src/gen is what `npm run generate` makes from proto/", () => {
  it("buf generate in a scratch copy reproduces src/gen exactly", () => {
    const scratch = mkdtempSync(join(tmpdir(), "imwire-gen-"));
    try {
      for (const name of ["buf.yaml", "buf.gen.yaml", "proto"]) cpSync(join(root, name), join(scratch, name), { recursive: true });
      const bin = join(root, "node_modules", ".bin");
      execFileSync(join(bin, "buf"), ["generate"], {
        cwd: scratch,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
        stdio: "pipe",
      });
      const expected = filesUnder(join(scratch, "src", "gen"));
      const actual = filesUnder(join(root, "src", "gen"));
      expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [path, text] of expected) expect(actual.get(path), `${path} is stale: run npm run generate`).toBe(text);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
