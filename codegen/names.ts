import type { DescFile, DescMessage } from "./descriptors.js";
import type { GeneratedFile, Printable } from "@bufbuild/protoplugin";

/** The runtime the generated code calls, relative to the output directory (src/gen). */
const RUNTIME = "../codec/fast";

/** Identifiers for generated code; printing an imported one adds its import. */
export interface Names {
  /** The identifier of a message's shape type, as protoc-gen-es names it (nested messages as Outer_Inner). */
  shapeName(message: DescMessage): string;
  shape(message: DescMessage): Printable;
  /** A generated function of a message, imported from its *_fast file when that is another file. */
  fn(kind: "read" | "measure" | "write" | "decode" | "encode" | "missingIn", message: DescMessage): Printable;
  /** A runtime export, or a type from @bufbuild/protobuf. */
  runtime(name: string, module: "wire-reader" | "wire-writer" | "@bufbuild/protobuf", typeOnly?: boolean): Printable;
  /** `export function <name>`. */
  exported(name: string): Printable;
}

export function namesFor(f: GeneratedFile, file: DescFile): Names {
  const shapeName = (message: DescMessage) => f.importShape(message).name;
  return {
    shapeName,
    shape: (message) => f.importShape(message),
    fn: (kind, message) => {
      const name = `${kind}${shapeName(message)}`;
      return message.file === file ? name : f.import(name, `./${message.file.name}_fast.js`);
    },
    runtime: (name, module, typeOnly = false) => f.import(name, module.startsWith("@") ? module : `${RUNTIME}/${module}.js`, typeOnly),
    exported: (name) => f.export("function", name),
  };
}
