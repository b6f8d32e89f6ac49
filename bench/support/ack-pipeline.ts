/**
 * A driver for durable-send benchmarks: keeps N messages in flight and times,
 * per message, send → acknowledgement (send_ack; PubAck) and send → the last
 * of its pushes (the last receiver to get it). A message is complete once it
 * is acknowledged and every receiver has it; a new one is sent for each
 * completion, so "in flight" counts messages not yet complete (as the Driver
 * in server.bench.ts). Receivers get messages in order, so a receiver's j-th
 * message is message j.
 */
export interface RunResult {
  readonly messages: number;
  readonly seconds: number;
  readonly cpuMicros: number;
  /** Send → acknowledgement, ms, per message. */
  readonly ack: number[];
  /** Send → the last receiver's push, ms, per message (empty without receivers). */
  readonly lastPush: number[];
}

const RING = 4096;

export class AckPipeline {
  readonly label: string;
  readonly receivers: number;
  #send: (k: number) => void = () => {
    throw new Error("no sender bound");
  };
  #sent = 0;
  #completed = 0;
  readonly #received: number[];
  readonly #sentAt = new Float64Array(RING);
  readonly #ackAt = new Float64Array(RING);
  readonly #lastPushAt = new Float64Array(RING);
  readonly #pushes = new Uint32Array(RING);
  readonly #acked = new Uint8Array(RING);
  #running = false;
  #deadline = 0;
  #limit = Infinity;
  #result: { ack: number[]; lastPush: number[] } | undefined;
  #finish: (() => void) | undefined;

  constructor(label: string, receivers: number) {
    this.label = label;
    this.receivers = receivers;
    this.#received = new Array<number>(receivers).fill(0);
  }

  /** The function that sends message k; it must lead to ack(k) once, and push(r) once for every receiver r. */
  bind(send: (k: number) => void): void {
    this.#send = send;
  }

  get sent(): number {
    return this.#sent;
  }

  /** Keep `depth` messages in flight for `ms` (or `count` messages, whichever ends first); resolves once all sent are complete. */
  run(depth: number, limits: { ms?: number; count?: number }): Promise<RunResult> {
    if (this.#completed !== this.#sent) throw new Error(`${this.label}: a run started while messages were in flight`);
    return new Promise((resolve) => {
      const first = this.#completed;
      const cpu = process.cpuUsage();
      const start = performance.now();
      const result = { ack: [] as number[], lastPush: [] as number[] };
      this.#result = result;
      this.#deadline = start + (limits.ms ?? Infinity);
      this.#limit = first + (limits.count ?? Infinity);
      this.#running = true;
      this.#finish = () => {
        if (this.#completed !== this.#sent) return;
        const used = process.cpuUsage(cpu);
        this.#finish = undefined;
        resolve({ messages: this.#completed - first, seconds: (performance.now() - start) / 1000, cpuMicros: used.user + used.system, ...result });
      };
      for (let i = 0; i < depth && this.#sent < this.#limit; i++) this.#sendNext();
    });
  }

  ack(k: number): void {
    const i = k % RING;
    if (k >= this.#sent || this.#acked[i]) throw new Error(`${this.label}: unexpected acknowledgement of message ${k}`);
    this.#acked[i] = 1;
    this.#ackAt[i] = performance.now();
    this.#advance();
  }

  push(receiver: number): void {
    const j = this.#received[receiver]!++;
    if (j >= this.#sent) throw new Error(`${this.label}: receiver ${receiver} got message ${j} of ${this.#sent} sent`);
    const i = j % RING;
    this.#pushes[i]!++;
    this.#lastPushAt[i] = performance.now();
    this.#advance();
  }

  #sendNext(): void {
    const k = this.#sent++;
    const i = k % RING;
    this.#acked[i] = 0;
    this.#pushes[i] = 0;
    this.#sentAt[i] = performance.now();
    this.#send(k);
  }

  #advance(): void {
    while (this.#completed < this.#sent) {
      const i = this.#completed % RING;
      if (!this.#acked[i] || this.#pushes[i] !== this.receivers) return;
      this.#result?.ack.push(this.#ackAt[i]! - this.#sentAt[i]!);
      if (this.receivers > 0) this.#result?.lastPush.push(this.#lastPushAt[i]! - this.#sentAt[i]!);
      this.#completed++;
      if (this.#running && (performance.now() >= this.#deadline || this.#sent >= this.#limit)) this.#running = false;
      if (this.#running) this.#sendNext();
      else this.#finish?.();
    }
  }
}
