import { describe, expect, it } from "vitest";
import { staleGeneratedFiles } from "../scripts/check-generated.js";

describe("src/gen is what `npm run generate` makes from proto/", () => {
  it("buf generate in a scratch copy reproduces src/gen exactly", () => {
    expect(staleGeneratedFiles()).toEqual([]);
  });
});
