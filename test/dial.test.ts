import { afterEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer, type Server, type TLSSocket } from "node:tls";
import { dial } from "../src/transport/dial.js";

/**
 * dial() over TLS: the SNI server name is a host name or nothing. Node
 * warns (DEP0123) when it is an IP address, and RFC 6066 forbids that.
 */

const key = readFileSync(new URL("./fixtures/localhost-key.pem", import.meta.url));
const cert = readFileSync(new URL("./fixtures/localhost-cert.pem", import.meta.url));
let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A TLS server that records the server name each client asked for (false: none). */
async function tlsServer(): Promise<{ port: number; serverNames: (string | false | null)[] }> {
  const serverNames: (string | false | null)[] = [];
  server = createServer({ key, cert }, (socket: TLSSocket) => {
    serverNames.push(socket.servername);
    socket.end();
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, serverNames };
}

async function dialAndClose(url: string): Promise<void> {
  const transport = await dial(url, { tls: { ca: cert } });
  const closed = new Promise<void>((resolve) => (transport.onClose = resolve));
  transport.close();
  await closed;
}

describe("dial over TLS", () => {
  it("DEP0123: tls://127.0.0.1 sends no IP address as the server name, and Node prints no warning", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => void warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const { port, serverNames } = await tlsServer();
      // The certificate names IP 127.0.0.1, so verification still passes without SNI.
      await dialAndClose(`tls://127.0.0.1:${port}`);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((w) => `${(w as { code?: string }).code ?? w.name}: ${w.message}`)).toEqual([]);
      expect(serverNames).toEqual([false]);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("tls://localhost still sends the host name (SNI), and the certificate is checked against it", async () => {
    const { port, serverNames } = await tlsServer();
    await dialAndClose(`tls://localhost:${port}`);
    expect(serverNames).toEqual(["localhost"]);
  });
});
