import { describe, expect, it } from "vitest";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { newServerMachine, type ServerMachineFactory } from "../src/machines/server/server-machine.js";
import type { Store } from "../src/store/store.js";
import { allTests, select } from "../src/conformance/suite/catalogue.js";
import { ofStatus, runConformance } from "./support/conformance-run.js";

/**
 * The runner's delete-for-me tests (HID-1 to HID-3): the reference server
 * passes them; a server without FEATURE_DELETE_FOR_ME has them unsupported,
 * never failed; a server whose pages forget hidden seqs, or whose hides
 * reach no other device, fails the test of the requirement it breaks.
 */

const run = (machine?: ServerMachineFactory) => runConformance(["--only", "HID"], machine);

/** The reference machine on a store whose `method` is replaced. */
function withStore(method: keyof Store, replacement: (target: Store) => (...args: never[]) => unknown): ServerMachineFactory {
  return (deps, options) =>
    newServerMachine({ ...deps, store: new Proxy(deps.store, { get: (target, property) => (property === method ? replacement(target) : (Reflect.get(target, property) as { bind?: (t: unknown) => unknown }).bind?.(target) ?? Reflect.get(target, property)) }) }, options);
}

describe("the conformance runner's delete-for-me tests (HID-1 to HID-3)", () => {
  it("pass on the reference server, are unsupported without the feature, and catch planted bugs", async () => {
    const hidTests = select(allTests, ["HID"], []);
    expect(hidTests.length).toBeGreaterThanOrEqual(3);
    const reference = await run();
    expect(ofStatus(reference.results, "fail"), reference.output).toEqual([]);
    expect(reference.results.filter((r) => r.outcome.status === "pass")).toHaveLength(hidTests.length * 2);

    const withoutFeature: ServerMachineFactory = (deps, options) => {
      const machine = newServerMachine(deps, options);
      const frameReceived = machine.frameReceived.bind(machine);
      machine.frameReceived = (id, frame, now, size) => {
        if (frame.body.case === "hello") frame.body.value.features = frame.body.value.features.filter((f) => f !== Feature.DELETE_FOR_ME);
        frameReceived(id, frame, now, size);
      };
      return machine;
    };
    const without = await run(withoutFeature);
    expect(ofStatus(without.results, "fail")).toEqual([]);
    expect(ofStatus(without.results, "unsupported")).toHaveLength(hidTests.length * 2);

    const noHiddenSeqs = await run(withStore("hiddenSeqs", () => () => []));
    // Pages forget what was hidden (HID-3's part of HID-1), and hiding again looks new, so the stream is told twice (HID-2).
    expect(ofStatus(noHiddenSeqs.results, "fail")).toEqual(["tcp HID-1/hidden-for-me-only", "tcp HID-2/other-devices-told-by-the-stream", "ws HID-1/hidden-for-me-only", "ws HID-2/other-devices-told-by-the-stream"]);
    expect(noHiddenSeqs.status).toBe(1);
  }, 60_000);
});
