// The imwire command's entry point (bin/imwire.js runs the compiled copy).
import { main } from "./main.js";

// A reader that went away (`imwire tail | head -1`) ends the command quietly, as SIGPIPE ends a C tool.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(0);
});

process.exitCode = await main(process.argv.slice(2));
