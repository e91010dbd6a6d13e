import type { ApprovalRequest, ApprovalStatus, Approvals, LockResult, Locks } from '../ports.js';

/** Target locks for a single process (local mode). */
export class MemoryLocks implements Locks {
  private readonly held = new Map<string, { id: string; description: string }>();

  async acquire(key: string, holderId: string, description: string): Promise<LockResult> {
    const current = this.held.get(key);
    if (current && current.id !== holderId) return { acquired: false, heldBy: current.description };
    this.held.set(key, { id: holderId, description });
    return {
      acquired: true,
      release: async () => {
        if (this.held.get(key)?.id === holderId) this.held.delete(key);
      },
    };
  }
}

/** Approval requests for a single process (local mode). */
export class MemoryApprovals implements Approvals {
  private readonly requests = new Map<string, ApprovalRequest>();

  async create(request: ApprovalRequest): Promise<void> {
    if (!this.requests.has(request.id)) this.requests.set(request.id, structuredClone(request));
  }

  async attachMessage(id: string, messageTs: string): Promise<void> {
    const request = this.requests.get(id);
    if (!request) return;
    request.messageTs = messageTs;
    request.job.progressTs = messageTs;
  }

  async get(id: string): Promise<ApprovalRequest | undefined> {
    const found = this.requests.get(id);
    return found ? structuredClone(found) : undefined;
  }

  async decide(
    id: string,
    status: Exclude<ApprovalStatus, 'pending'>,
    by?: { id: string; name?: string | undefined },
    deliveryId?: string,
  ) {
    const request = this.requests.get(id);
    if (!request) return undefined;
    const previous = structuredClone(request);
    if (request.status !== 'pending') return { previous, won: false };
    request.status = status;
    if (by) request.decidedBy = by;
    if (deliveryId) request.decidedVia = deliveryId;
    return { previous, won: true };
  }
}
