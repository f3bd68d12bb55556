import { describe, expect, it } from 'vitest';
import { serviceV8Flags } from './serve.ts';

describe('the V8 flags `gitsync serve` sets', () => {
  it('favours memory, and keeps PGlite on the baseline compiler with the embedded database', () => {
    expect(serviceV8Flags(true, [])).toEqual(['--optimize-for-size', '--liftoff-only']);
    expect(serviceV8Flags(false, [])).toEqual(['--optimize-for-size']);
  });

  it('leaves a flag the command line or NODE_OPTIONS names, either way, to them', () => {
    expect(serviceV8Flags(true, ['--no-optimize-for-size'])).toEqual(['--liftoff-only']);
    expect(serviceV8Flags(true, ['--max-old-space-size=512', '--liftoff_only'])).toEqual([
      '--optimize-for-size',
    ]);
    expect(serviceV8Flags(true, ['--nooptimize-for-size', '--no-liftoff-only'])).toEqual([]);
    expect(serviceV8Flags(false, ['--optimize_for_size', ''])).toEqual([]);
  });
});
