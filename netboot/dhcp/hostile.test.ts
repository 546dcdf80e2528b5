import { describe, expect, it } from 'vitest';
import { decodeDhcp } from './codec.ts';
import { decideReply } from './decide.ts';
import { DecodeError } from './errors.ts';
import { loadHex, PI_DISCOVER_FIXTURES } from './fixtures/load.ts';
import { MemoryLeaseStore } from './leases.ts';
import { context, hostileCorpus } from './testing.ts';

const corpus = hostileCorpus(PI_DISCOVER_FIXTURES.map((n) => loadHex(n)));

describe('hostile corpus', () => {
  it('is big enough to mean something', () => {
    expect(corpus.length).toBeGreaterThan(500);
  });

  it('every datagram either decodes or throws DecodeError; decoded ones never crash a decision', () => {
    let errors = 0;
    let decided = 0;
    for (const { name, bytes } of corpus) {
      let msg;
      try {
        msg = decodeDhcp(bytes);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw new Error(`${name}: ${String(e)}`, { cause: e });
        expect(e.offset, name).toBeGreaterThanOrEqual(0);
        expect(e.offset, name).toBeLessThanOrEqual(bytes.length);
        errors++;
        continue;
      }
      for (const mode of ['proxy', 'full'] as const) {
        const d = decideReply(msg, context({ mode, leases: new MemoryLeaseStore(), dhcp: { full: { rangeStart: '10.213.0.100', rangeEnd: '10.213.0.110' } } }));
        expect(['reply', 'ignore', 'record'], name).toContain(d.kind);
      }
      decided++;
    }
    // the corpus exercises both paths
    expect(errors).toBeGreaterThan(100);
    expect(decided).toBeGreaterThan(50);
  });

  it('truncation anywhere inside the header is a DecodeError at the end of the datagram', () => {
    for (const { name, bytes } of corpus.filter((c) => c.name.includes('truncated') && c.bytes.length < 236)) {
      expect(() => decodeDhcp(bytes), name).toThrow(DecodeError);
    }
  });
});
