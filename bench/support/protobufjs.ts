import protobuf from "protobufjs";
import { fileURLToPath } from "node:url";

/** The imwire Frame type loaded by protobufjs from proto/, an implementation independent of protobuf-es. */
export function loadProtobufjsFrame(): protobuf.Type {
  const root = new protobuf.Root();
  const protoDir = fileURLToPath(new URL("../../proto/", import.meta.url));
  const bundled = fileURLToPath(new URL("../../node_modules/protobufjs/", import.meta.url));
  root.resolvePath = (_origin, target) => (target.startsWith("google/") ? bundled + target : protoDir + target);
  root.loadSync("imwire/v1/frame.proto");
  root.resolveAll();
  return root.lookupType("imwire.v1.Frame");
}
