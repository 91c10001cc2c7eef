/**
 * Why a new agent session was refused: its source address, or the gateway as
 * a whole, is over its rate; or as many sessions as allowed are still waiting
 * for the answer to their first message ("connecting").
 */
export type AdmissionRefusal = "per-source" | "total" | "connecting";

export interface NewAgentAdmissionOptions {
  /** New agents per second from one source address; 0: no limit. */
  perSource: number;
  /** New agents per second in total; 0: no limit. */
  total: number;
  /**
   * Sessions admitted whose first message is not answered yet, at most;
   * 0: no limit. See NewAgentAdmission.answered.
   */
  connecting?: number;
  /** Instance UIDs remembered as admitted (oldest forgotten first). Default 50,000. */
  rememberedUids?: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Source addresses with a bucket at most; beyond it full buckets are dropped, then the oldest. */
const MAX_SOURCES = 50_000;

/**
 * Admission control for new agents: one client created 17,698 agents in 45 s
 * and every one was stored. Decided once per connection (the first message
 * of a WebSocket, the poll that opens an HTTP session), never per message,
 * with no store lookup: an instance UID this gateway admitted recently passes
 * at once (an agent that reconnects, a poll of a known agent); any other takes
 * a token from its source address's bucket and from the gateway's, each
 * holding one second's worth and refilled at its rate.
 *
 * The rates bound how fast agents come in, not how fast they are answered: a
 * new session's first message (a full report, a connection save) crosses to
 * agent-service, and in a flood faster than it answers, those messages piled
 * up in the gateway — 47,000 agents connected to six gateway workers within
 * 80 s, agent-service answered 15 of them, and the server grew to 3.7 GiB.
 * So every session (a returning agent's too: its first message costs the
 * same) also takes one of `connecting` places, given back when its first
 * message is answered (`answered`); while all are taken, sessions are refused
 * like those over a rate, and agents come back after the retry interval. New
 * agents are then admitted at the rate agent-service answers, whatever it is.
 */
export class NewAgentAdmission {
  /** Admitted UIDs, oldest first (a Set keeps insertion order). */
  private readonly known = new Set<string>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly overall: Bucket;
  private readonly now: () => number;
  private readonly remembered: number;
  private inFlight = 0;

  constructor(private readonly o: NewAgentAdmissionOptions) {
    this.now = o.now ?? Date.now;
    this.remembered = o.rememberedUids ?? 50_000;
    this.overall = { tokens: capacity(o.total), at: this.now() };
  }

  /**
   * Admits a session of the agent `uid` (hex) connecting from `source`, or
   * says why not. Admitted, it holds a `connecting` place until `answered()`.
   */
  admit(uid: string, source: string): AdmissionRefusal | undefined {
    const limit = this.o.connecting ?? 0;
    if (limit > 0 && this.inFlight >= limit) return "connecting";
    const refusal = this.admitByRate(uid, source);
    if (refusal === undefined) this.inFlight++;
    return refusal;
  }

  /**
   * The first message of a session admitted by `admit` was answered (with
   * anything: a reply, an error, a refusal), or its session ended first:
   * its place is free. Called exactly once per admitted session.
   */
  answered(): void {
    if (this.inFlight > 0) this.inFlight--;
  }

  /** Sessions admitted whose first message is still unanswered. */
  get connecting(): number {
    return this.inFlight;
  }

  private admitByRate(uid: string, source: string): AdmissionRefusal | undefined {
    if (this.known.has(uid)) {
      // Refresh its age, so agents that keep reconnecting are the last forgotten.
      this.known.delete(uid);
      this.known.add(uid);
      return undefined;
    }
    const now = this.now();
    const fromSource = this.o.perSource > 0 ? this.bucketOf(source, now) : undefined;
    if (fromSource && refill(fromSource, this.o.perSource, now) < 1) return "per-source";
    if (this.o.total > 0 && refill(this.overall, this.o.total, now) < 1) return "total";
    if (fromSource) fromSource.tokens--;
    if (this.o.total > 0) this.overall.tokens--;
    this.known.add(uid);
    if (this.known.size > this.remembered) this.known.delete(this.known.values().next().value!);
    return undefined;
  }

  private bucketOf(source: string, now: number): Bucket {
    let bucket = this.buckets.get(source);
    if (bucket) return bucket;
    if (this.buckets.size >= MAX_SOURCES) this.dropIdleBuckets(now);
    bucket = { tokens: capacity(this.o.perSource), at: now };
    this.buckets.set(source, bucket);
    return bucket;
  }

  /** A full bucket is the same as none; if all are in use, the oldest goes (its source starts afresh). */
  private dropIdleBuckets(now: number): void {
    for (const [source, bucket] of this.buckets) if (refill(bucket, this.o.perSource, now) >= capacity(this.o.perSource)) this.buckets.delete(source);
    if (this.buckets.size >= MAX_SOURCES) this.buckets.delete(this.buckets.keys().next().value!);
  }
}

/** One second's worth, and at least one agent (so a rate below 1/s still admits). */
function capacity(perSecond: number): number {
  return Math.max(1, perSecond);
}

/** Tops the bucket up for the time since it was last looked at; returns its tokens. */
function refill(bucket: Bucket, perSecond: number, now: number): number {
  bucket.tokens = Math.min(capacity(perSecond), bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
  bucket.at = now;
  return bucket.tokens;
}
