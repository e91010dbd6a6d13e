import { describe, expect, it } from 'vitest';
import { defineIncidentNotes } from '../../src/alerts/start.js';
import { MemoryBackend } from '../../src/queue/memory-backend.js';
import { silentLog } from '../helpers/fake-ports.js';
import { rollbackRecord } from '../helpers/records.js';

const record = rollbackRecord({
  id: 'cmd-7-executed',
  time: '2026-12-01T10:00:00.000Z',
  channel: { id: 'CINC1' },
  incident: { repo: 'acme/incidents', issue: 3 },
});

describe('incident notes', () => {
  it('retries noting an action on its incident until it lands, instead of dropping it', async () => {
    const backend = new MemoryBackend(silentLog);
    const noted: string[] = [];
    let failures = 2;
    const queue = defineIncidentNotes(backend, {
      async noteAction(r) {
        // The incident store is briefly unreachable, twice.
        if (failures-- > 0) throw new Error('Redis connection lost');
        noted.push(r.id);
      },
    });
    await queue.add(`note-${record.id}`, record);
    // Redelivered by the audit worker after a crash: still one note.
    expect((await queue.add(`note-${record.id}`, record)).duplicate).toBe(true);
    const deadline = Date.now() + 10_000;
    while (noted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(noted).toEqual(['cmd-7-executed']);
    await backend.stopWorkers();
  });
});
