import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { staleGeneratedFiles } from "../scripts/check-generated.js";
import { root } from "./support/spec.js";

describe("the schemas and the code generated from them", () => {
  it("src/gen is what `npm run generate` makes from proto/", () => {
    expect(staleGeneratedFiles()).toEqual([]);
  });

  it("EXT-2: proto/ is wire- and JSON-compatible with the published v1 image (buf breaking)", () => {
    const buf = join(root, "node_modules", ".bin", "buf");
    const run = () => execFileSync(buf, ["breaking", "--against", "proto-baseline/imwire-v1.binpb"], { cwd: root, stdio: "pipe" });
    expect(run).not.toThrow();
  });
});
