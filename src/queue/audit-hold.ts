/**
 * Audit records GitHub refuses for now because of who we are or what we may touch (401, 403,
 * 404): they stay queued and are retried; this is what /readyz and /metrics say about them.
 */
export class AuditHold {
  private readonly held = new Map<string, { since: number; error: string }>();

  hold(recordId: string, error: string, now: number): void {
    this.held.set(recordId, { since: this.held.get(recordId)?.since ?? now, error });
  }

  release(recordId: string): void {
    this.held.delete(recordId);
  }

  get count(): number {
    return this.held.size;
  }

  /** The record held longest, with the latest error GitHub gave for it. */
  oldest(): { since: number; error: string } | undefined {
    let oldest: { since: number; error: string } | undefined;
    for (const entry of this.held.values()) if (!oldest || entry.since < oldest.since) oldest = entry;
    return oldest;
  }
}
