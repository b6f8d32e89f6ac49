// The imwire command's entry point (bin/imwire.js runs the compiled copy).
import { main } from "./main.js";

process.exitCode = await main(process.argv.slice(2));
