import { MemoryStore } from "../src/store/memory-store.js";
import { SqliteStore } from "../src/store/sqlite-store.js";
import { storeContract } from "./support/store-contract.js";

// The same expectations for both stores: MemoryStore defines the semantics, SqliteStore must copy them.
storeContract("MemoryStore", { open: () => new MemoryStore() });
storeContract("SqliteStore", { open: () => new SqliteStore(":memory:"), close: (store) => (store as SqliteStore).close() });
