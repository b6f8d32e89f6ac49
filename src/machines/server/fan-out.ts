import type { Store } from "../../store/store.js";

/** How many users one step looks at, across walks: each costs a membership lookup or a page row. */
const USERS_PER_STEP = 256;

/** Walks no longer than this are done within the request that published the event (a group of a few hundred). */
const WALKED_AT_ONCE = 128;

interface Job {
  readonly conversationId: string;
  readonly seq: number;
  /** Walk the connected users (fewer than the members), checked one by one: as they are at the first step. */
  readonly byConnection: boolean;
  connected?: readonly string[];
  next: number;
  /** Otherwise the members, paged by user id (CONV-10's order). */
  afterUserId: string;
}

/**
 * Finds, for each event published under read fan-out (CUR-7), the users
 * with a connected device who may see it, so that their devices are pushed
 * it: per member at most a push, never a stored entry. Whichever is smaller
 * is walked, the connected users or the members. A large conversation is
 * walked a step at a time, on later turns, so that the request that
 * published the event is answered first and no input waits behind a
 * 100,000-member walk.
 */
export class PushFanOut {
  readonly #jobs: Job[] = [];

  constructor(
    private readonly store: Store,
    private readonly connectedUsers: () => ReadonlyMap<string, unknown>,
    private readonly grown: (userId: string) => void,
  ) {}

  get pending(): boolean {
    return this.#jobs.length > 0;
  }

  /**
   * An event was published: walk its readers now when they are few, else
   * queue the walk for the next ticks, so that the request is answered
   * before any of them is looked at.
   */
  published(conversationId: string, seq: number): void {
    const connected = this.connectedUsers();
    const members = this.store.memberCount(conversationId);
    const walk = Math.min(connected.size, members);
    const job: Job = { conversationId, seq, byConnection: connected.size <= members, next: 0, afterUserId: "" };
    if (this.#jobs.length > 0 || walk > WALKED_AT_ONCE || !this.#step(job)) this.#jobs.push(job);
  }

  /** Walk one step's worth of users, oldest walks first; true when none is left. */
  step(): boolean {
    let budget = USERS_PER_STEP;
    while (budget > 0 && this.#jobs.length > 0) {
      const job = this.#jobs[0]!;
      const before = job.next;
      const done = this.#step(job, budget);
      budget -= job.byConnection ? job.next - before : budget;
      if (done) this.#jobs.shift();
    }
    return this.#jobs.length === 0;
  }

  /** Up to `budget` users of a walk; true when it is done. */
  #step(job: Job, budget = USERS_PER_STEP): boolean {
    const { store } = this;
    if (job.byConnection) {
      // Taken at the first step: a user who connected since is pushed anyway, at its authentication.
      job.connected ??= [...this.connectedUsers().keys()];
      const end = Math.min(job.connected.length, job.next + budget);
      for (; job.next < end; job.next++) {
        const userId = job.connected[job.next]!;
        const membership = store.membership(job.conversationId, userId);
        // A LEFT event is published while its sender is still a member: it is the last it sees.
        if (membership && (membership.lastVisibleSeq === 0 || membership.lastVisibleSeq >= job.seq)) this.grown(userId);
      }
      return job.next >= job.connected.length;
    }
    const connected = this.connectedUsers();
    const page = store.membersPage(job.conversationId, job.afterUserId, budget);
    for (const member of page) if (connected.has(member.userId)) this.grown(member.userId);
    if (page.length < budget) return true;
    job.afterUserId = page[page.length - 1]!.userId;
    return false;
  }
}
