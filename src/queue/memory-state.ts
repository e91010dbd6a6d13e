import type { CommandJobInput } from '../core/command-job.js';
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
      lost: () => false,
      release: async () => {
        if (this.held.get(key)?.id === holderId) this.held.delete(key);
      },
    };
  }
}

/** Approval requests for a single process (local mode). */
export class MemoryApprovals implements Approvals {
  private readonly requests = new Map<string, ApprovalRequest>();
  private readonly pending = new Map<string, CommandJobInput>();

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
    options: { startJob?: CommandJobInput | undefined; deliveryId?: string | undefined } = {},
  ) {
    const request = this.requests.get(id);
    if (!request) return undefined;
    const previous = structuredClone(request);
    if (request.status !== 'pending') return { previous, won: false };
    request.status = status;
    if (by) request.decidedBy = by;
    if (options.startJob) this.pending.set(id, structuredClone(options.startJob));
    if (options.deliveryId) request.decidedVia = options.deliveryId;
    return { previous, won: true };
  }

  async outbox(): Promise<{ approvalId: string; job: CommandJobInput }[]> {
    return [...this.pending].map(([approvalId, job]) => ({ approvalId, job: structuredClone(job) }));
  }

  async settle(approvalId: string): Promise<void> {
    this.pending.delete(approvalId);
  }
}
