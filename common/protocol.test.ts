import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, parseAgentMessage, parseDispatcherMessage } from './protocol.ts';

const hello = {
  type: 'hello',
  protocol: PROTOCOL_VERSION,
  token: 't',
  node: { name: 'node6.lan', cpus: 4, memoryMb: 926, arch: 'arm64', platform: 'linux', agentVersion: '0.1.0', bootId: 'b1' },
  running: [],
};

describe('agent protocol', () => {
  it('accepts valid frames of each direction', () => {
    expect(parseAgentMessage(JSON.stringify(hello))).toMatchObject({ ok: true, message: { type: 'hello' } });
    expect(parseAgentMessage('{"type":"pull","slots":2}')).toMatchObject({ ok: true });
    expect(parseDispatcherMessage('{"type":"result-ack","attemptId":7}')).toMatchObject({ ok: true });
    expect(
      parseDispatcherMessage(JSON.stringify({ type: 'assign', attemptId: 1, jobId: 1, spec: { kind: 'exec', argv: ['true'] }, outputLimitBytes: 1024 })),
    ).toMatchObject({ ok: true });
  });

  it.each([
    ['not json', '{', 'BAD_JSON', /not JSON/],
    ['no type', '{"slots":1}', 'BAD_MESSAGE', /unknown frame type null/],
    ['unknown type', '{"type":"launch"}', 'BAD_MESSAGE', /unknown frame type "launch"/],
    ['array', '[1]', 'BAD_MESSAGE', /unknown frame type/],
    ['wrong field type', '{"type":"pull","slots":"two"}', 'BAD_MESSAGE', /invalid 'pull' frame: \/slots/],
    ['extra field', '{"type":"pull","slots":1,"x":1}', 'BAD_MESSAGE', /invalid 'pull' frame/],
    ['zero attempt id', '{"type":"output","attemptId":0,"stream":"stdout","data":""}', 'BAD_MESSAGE', /\/attemptId/],
  ])('rejects %s', (_name, raw, code, msg) => {
    const r = parseAgentMessage(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe(code);
      expect(r.error).toMatch(msg);
    }
  });

  it('names the nested field that is wrong', () => {
    const r = parseAgentMessage(JSON.stringify({ ...hello, node: { ...hello.node, cpus: 0 } }));
    expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/\/node\/cpus/) });
  });
});
