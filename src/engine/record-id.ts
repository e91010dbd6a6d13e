import { createHash } from 'node:crypto';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * The short ids a job's record may take, in order: 8 base32 characters of a hash of the job id
 * (40 bits), then other hashes should one belong to another job already. Derived, not drawn, so
 * every retry of a job arrives at the same id.
 */
export function recordIdCandidates(jobId: string, count = 4): string[] {
  return Array.from({ length: count }, (_, n) => {
    const digest = createHash('sha256')
      .update(n === 0 ? jobId : `${jobId}#${n}`)
      .digest();
    let id = '';
    for (let i = 0; i < 8; i++) id += BASE32[digest[i]! & 31];
    return id;
  });
}
