import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LogFields, Logger, LogLevel } from '../../src/observe/log.ts';

export interface LogLine {
  level: LogLevel;
  msg: string;
  fields: LogFields;
}

/** A Logger that records every line (all levels) for assertions. */
export function recordingLogger(lines: LogLine[] = [], base: LogFields = {}): Logger & { lines: LogLine[] } {
  const log = (level: LogLevel) => (msg: string, fields?: LogFields) => lines.push({ level, msg, fields: { ...base, ...fields } });
  return {
    lines,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    enabled: () => true,
    child: (fields: LogFields) => recordingLogger(lines, { ...base, ...fields }),
  };
}

export function tempDir(prefix = 'portico-manifests-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Polls `pred` until it returns true; throws after `timeoutMs`. */
export async function waitFor(pred: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
