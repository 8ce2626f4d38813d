// EndpointSlots in memory: the cap, first come first served, and the upload share (uploads
// hold at most half of the slots; other requests may use all and are admitted first).

import { describe, expect, it } from 'vitest';
import { cancelWait, EndpointSlots, type SlotWaiter } from '../../src/proxy/slots.ts';

function waiter(name: string, log: string[]): SlotWaiter {
  return { waitingFor: null, admitted: () => log.push(name) };
}

describe('EndpointSlots', () => {
  it('hands out up to the cap, then queues in order; a released slot goes to the first live waiter', () => {
    const log: string[] = [];
    const s = new EndpointSlots(2);
    expect(s.acquire(waiter('a', log))).toBe(true);
    expect(s.acquire(waiter('b', log))).toBe(true);
    const c = waiter('c', log);
    const d = waiter('d', log);
    expect(s.acquire(c)).toBe(false);
    expect(s.acquire(d)).toBe(false);
    expect(s.queued).toBe(2);
    cancelWait(c); // gave up: skipped
    s.release();
    expect(log).toEqual(['d']);
    expect(s.busy).toBe(2);
    expect(d.waitingFor).toBeNull();
  });

  it('uploads take at most half of the slots; other requests still get the rest', () => {
    const log: string[] = [];
    const s = new EndpointSlots(4);
    expect(s.acquire(waiter('up1', log), true)).toBe(true);
    expect(s.acquire(waiter('up2', log), true)).toBe(true);
    // a third upload waits although two slots are free
    expect(s.acquire(waiter('up3', log), true)).toBe(false);
    expect(s.acquire(waiter('get1', log))).toBe(true);
    expect(s.acquire(waiter('get2', log))).toBe(true);
    expect([s.busy, s.uploads]).toEqual([4, 2]);
    // a queued request without a body goes before the queued upload
    expect(s.acquire(waiter('get3', log))).toBe(false);
    s.release(); // get1 done: get3, not up3 (uploads are still at their share)
    expect(log).toEqual(['get3']);
    s.release(true); // up1 done: up3 may go now
    expect(log).toEqual(['get3', 'up3']);
    expect([s.busy, s.uploads]).toEqual([4, 2]);
  });

  it('a freed slot goes to a waiting request first, then to a waiting upload within the share', () => {
    const log: string[] = [];
    const s = new EndpointSlots(2);
    expect(s.acquire(waiter('up1', log), true)).toBe(true);
    expect(s.acquire(waiter('get1', log))).toBe(true);
    expect(s.acquire(waiter('up2', log), true)).toBe(false);
    expect(s.acquire(waiter('get2', log))).toBe(false);
    s.release(true); // up1 done: get2 first
    expect(log).toEqual(['get2']);
    s.release(); // get1 done: up2
    expect(log).toEqual(['get2', 'up2']);
  });

  it('a cap of 1 still lets one upload through', () => {
    const log: string[] = [];
    const s = new EndpointSlots(1);
    expect(s.acquire(waiter('up', log), true)).toBe(true);
    s.release(true);
    expect([s.busy, s.uploads]).toEqual([0, 0]);
  });
});
