import { newServerMachine, type ServerMachineFactory } from "../../src/machines/server/server-machine.js";
import type { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import type { Store } from "../../src/store/store.js";
import { closeTestPostgresStore, freshSchema, openTestPostgresStore } from "./postgres.js";

/**
 * The simulated server's store on PostgreSQL, on a fresh schema, whose
 * server restarts are real crashes: the process's connection is closed (an
 * open transaction would roll back with it) and a new PostgresStore is
 * opened on the same schema, so the restarted machine has only what
 * PostgreSQL committed.
 *
 * The simulation holds one Store object for its whole life (its checks read
 * through it too), so what it is given forwards every call to the
 * connection open now.
 */
export class ReopeningPostgresStore {
  /** What the simulation and its server machines hold. */
  readonly store: Store;
  /** Connections opened after the first: one per restart. */
  reopens = 0;
  #schema = freshSchema();
  #current: PostgresStore;
  /** Schemas left behind by a planted empty reopen, dropped at close. */
  readonly #abandoned: PostgresStore[] = [];
  /** A server machine has run on it: the next one is a restart. */
  #served = false;

  constructor(private readonly planted: PlantedFault | undefined) {
    this.#current = openTestPostgresStore({ schema: this.#schema });
    this.store = new Proxy({} as Store, {
      get: (_, name) => {
        const value: unknown = Reflect.get(this.#current, name);
        return typeof value === "function" ? value.bind(this.#current) : value;
      },
    });
  }

  /** A server machine is made on this store: from the second on, the process crashed and comes back. */
  serverStarting(): void {
    if (this.#served) this.#reopen();
    this.#served = true;
  }

  #reopen(): void {
    if (this.planted === "reopenOnEmptySchema") {
      this.#abandoned.push(this.#current);
      this.#schema = freshSchema();
    } else {
      this.#current.close();
    }
    this.#current = openTestPostgresStore({ schema: this.#schema });
    this.reopens++;
  }

  /** Close the connection and drop the schema. */
  close(): void {
    for (const store of [...this.#abandoned.splice(0), this.#current]) closeTestPostgresStore(store);
  }
}

/** Bugs the tests plant to show the simulation's checks catch them. */
export type PlantedFault =
  /** A restart that loses what was committed: the new connection opens an empty schema (and a new epoch). */
  "reopenOnEmptySchema";

/**
 * The stores one simulation run opens: SimulationConfig.store (a fresh
 * schema each time the simulation asks, which a restart losing state does;
 * the simulation's epoch is not used, PostgresStore makes its own, CUR-4),
 * and SimulationConfig.serverMachine, which turns each restart that keeps
 * state into a crash and reopen of the store the new machine runs on.
 */
export class PostgresSimulationStores {
  readonly opened: ReopeningPostgresStore[] = [];

  constructor(private readonly planted?: PlantedFault) {}

  readonly open = (): Store => {
    const store = new ReopeningPostgresStore(this.planted);
    this.opened.push(store);
    return store.store;
  };

  machine(inner: ServerMachineFactory = newServerMachine): ServerMachineFactory {
    return (deps, options) => {
      this.opened.find((s) => s.store === deps.store)?.serverStarting();
      return inner(deps, options);
    };
  }

  /** Every restart that kept state, across the stores. */
  get reopens(): number {
    return this.opened.reduce((n, s) => n + s.reopens, 0);
  }

  /** Close every connection and drop every schema. */
  closeAll(): void {
    for (const store of this.opened.splice(0)) store.close();
  }
}
