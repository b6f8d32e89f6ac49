// The package's entry points, loaded from the built dist/ by package name
// (Node resolves a package's own name through its "exports"): what a user
// importing "imwire" and "imwire/fast" gets. Run after `npm run build`.
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";

const main = await import("imwire");
const fast = await import("imwire/fast");
const frame = main.frame({ requestId: 7, body: { case: "ping", value: { nonce: 42n } } });
const bytes = fast.encodeFrame(frame);
assert.deepEqual(main.decodeFrame(bytes), frame);
assert.deepEqual(fromBinary(main.FrameSchema, bytes), fast.decodeFrame(bytes));
assert.equal(fast.sizeFrame(frame), bytes.length);
assert.equal(fast.missingInFrame(main.frame({})), "body");
console.log("imwire and imwire/fast load from dist/ and agree");
