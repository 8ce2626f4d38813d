import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('../src/async-context-frame.ts', import.meta.url));

describe('src/async-context-frame.ts', () => {
  it("switches Node's async context frame to its active class when imported (before that it is lazy)", () => {
    // node internals are only visible with --expose-internals; the child reports the class
    // before and after importing the module
    const script = `
      const frame = require('internal/async_context_frame');
      const before = Object.getPrototypeOf(frame).name;
      import(${JSON.stringify(MODULE)}).then(() => console.log(before, Object.getPrototypeOf(frame).name));
    `;
    const r = spawnSync(process.execPath, ['--expose-internals', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('InactiveAsyncContextFrame ActiveAsyncContextFrame');
  });
});
