import { describe, expect, it } from 'vitest';
import { fillTemplate } from './template.ts';
import { TailBuffer, TextTailBuffer } from './tail-buffers.ts';

describe('tail buffers', () => {
  it('TailBuffer keeps the last N bytes and counts the dropped head', () => {
    const t = new TailBuffer(5);
    t.push(Buffer.from('abc'));
    t.push(Buffer.from('defg'));
    expect(t.text()).toBe('cdefg');
    expect(t.truncated).toBe(2);
  });

  it('TextTailBuffer keeps the last N characters and counts the dropped head', () => {
    const t = new TextTailBuffer(4);
    for (const c of ['ab', 'cd', 'ef', 'g']) t.append(c);
    expect(t.text()).toBe('defg');
    expect(t.dropped).toBe(3);
  });
});

describe('fillTemplate', () => {
  it('fills known {{placeholders}} and leaves unknown ones', () => {
    expect(fillTemplate('node={{name}} url={{url}} x={{other}}', { name: 'pi1', url: 'http://m' })).toBe('node=pi1 url=http://m x={{other}}');
  });
});
