/** The one warn-once helper every stage uses (src/core/warnings.ts). */
import { describe, expect, it, vi } from 'vitest';
import { WarningEmitter } from '../../src/core/warnings.js';

describe('WarningEmitter', () => {
  it('reports each code once, then counts', () => {
    const onWarning = vi.fn();
    const w = new WarningEmitter(onWarning);
    for (let i = 0; i < 3; i++) w.emit('WRN_REALIP_A', `a ${i}`);
    w.emit('WRN_REALIP_B', 'b');
    expect(onWarning.mock.calls.map((c) => [c[0].code, c[0].message, c[0].count])).toEqual([
      ['WRN_REALIP_A', 'a 0', 1],
      ['WRN_REALIP_B', 'b', 1],
    ]);
    expect(onWarning.mock.calls[0]![0].help).toBe('docs/errors.md#wrn-realip-a');
    expect(w.count('WRN_REALIP_A')).toBe(3);
    expect(w.list().map((x) => [x.code, x.count])).toEqual([
      ['WRN_REALIP_A', 3],
      ['WRN_REALIP_B', 1],
    ]);
  });

  it('bump counts a reported key and says whether it was reported', () => {
    const onWarning = vi.fn();
    const w = new WarningEmitter(onWarning);
    expect(w.bump('WRN_REALIP_A')).toBe(false);
    w.emit('WRN_REALIP_A', 'a');
    expect(w.bump('WRN_REALIP_A')).toBe(true);
    expect(w.count('WRN_REALIP_A')).toBe(2);
    expect(onWarning).toHaveBeenCalledTimes(1);
  });

  it('a key reports one code once per key; forget re-arms a key', () => {
    const onWarning = vi.fn();
    const w = new WarningEmitter(onWarning);
    w.emit('WRN_REALIP_LIST_RELOAD_FAILED', 'one', 'one');
    w.emit('WRN_REALIP_LIST_RELOAD_FAILED', 'one again', 'one');
    w.emit('WRN_REALIP_LIST_RELOAD_FAILED', 'two', 'two');
    w.forget('one');
    w.emit('WRN_REALIP_LIST_RELOAD_FAILED', 'one after reload', 'one');
    expect(onWarning.mock.calls.map((c) => [c[0].message, c[0].count])).toEqual([
      ['one', 1],
      ['two', 1],
      ['one after reload', 1],
    ]);
  });

  it('a throwing handler is contained', () => {
    const w = new WarningEmitter(() => {
      throw new Error('handler bug');
    });
    expect(() => w.emit('WRN_REALIP_A', 'a')).not.toThrow();
  });

  it('without a handler, process.emitWarning once per code', () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const w = new WarningEmitter();
      w.emit('WRN_REALIP_A', 'a');
      w.emit('WRN_REALIP_A', 'a');
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0]![1]).toMatchObject({ type: 'RealipWarning', code: 'WRN_REALIP_A' });
    } finally {
      spy.mockRestore();
    }
  });
});
