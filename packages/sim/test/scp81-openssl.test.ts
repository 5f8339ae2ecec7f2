// The card's admin agent against a real PSK-TLS server: `openssl s_server -psk … -nocert` (TLS 1.2,
// PSK-AES128-CBC-SHA256, on 127.0.0.1) plays the admin server, its side of the GP Amd B dialog written
// to its stdin by the test (a canned HTTP/1.1 200 with one expanded-format script, then 204), the card's
// requests read from its stdout. A relay between the BIP terminal and s_server reads every record header
// both ways: the card's ClientHello record is 0301 and asks for max_fragment_length 512, the server's
// ServerHello echoes it, and no record either way carries more than 512 bytes of plaintext.
import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { MemoryTransport, runBipTerminal } from '@iotsafe/device';
import {
  decodeExpandedResponse,
  decodeStatusEntries,
  encodeExpandedScript,
  hexToBytes,
} from '@iotsafe/protocol';
import { ISD_AID, VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { freePort, peerAvailable, startPeer } from '../../../test/helpers/peers.js';

/** TEST keys only. */
const PSK = Uint8Array.from({ length: 16 }, (_, i) => 0x30 + i);
const IDENTITY = 'openssl-card-0001';
const SCRIPT = encodeExpandedScript([hexToBytes('80F28002024F0000')], true); // GET STATUS of the ISD
const MFL = 512;
/** CBC record overhead at most: explicit IV 16, HMAC-SHA256 32, padding up to 16. */
const CBC_OVERHEAD = 16 + 32 + 16;

interface Record {
  from: 'card' | 'server';
  type: number;
  version: number;
  body: Buffer;
}

/** A TCP relay that parses the TLS records both ways (RFC 5246 §6.2.1). */
async function recordRelay(targetPort: number) {
  const records: Record[] = [];
  const sockets = new Set<Socket>();
  const parse = (from: Record['from']) => {
    let pending = Buffer.alloc(0);
    return (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt16BE(3)) {
        const length = pending.readUInt16BE(3);
        records.push({
          from,
          type: pending[0]!,
          version: pending.readUInt16BE(1),
          body: pending.subarray(5, 5 + length),
        });
        pending = pending.subarray(5 + length);
      }
    };
  };
  const server = createServer((card) => {
    const upstream = netConnect({ host: '127.0.0.1', port: targetPort });
    sockets.add(card).add(upstream);
    const fromCard = parse('card');
    const fromServer = parse('server');
    card.on('data', (chunk: Buffer) => {
      fromCard(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      fromServer(chunk);
      card.write(chunk);
    });
    const end = () => {
      card.end();
      upstream.end();
    };
    for (const s of [card, upstream]) {
      s.on('error', () => s.destroy());
      s.on('end', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    records,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The extensions of a ClientHello or ServerHello handshake message (RFC 5246 §7.4.1). */
function helloExtensions(message: Buffer): Map<number, Buffer> {
  let at = 4 + 2 + 32; // type, length, version, random
  at += 1 + message[at]!; // session id
  if (message[0] === 1) {
    at += 2 + message.readUInt16BE(at); // cipher suites
    at += 1 + message[at]!; // compression methods
  } else at += 2 + 1; // cipher suite, compression method
  const extensions = new Map<number, Buffer>();
  if (at >= message.length) return extensions;
  const end = at + 2 + message.readUInt16BE(at);
  for (at += 2; at + 4 <= end; ) {
    const length = message.readUInt16BE(at + 2);
    extensions.set(message.readUInt16BE(at), message.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return extensions;
}

/** One HTTP/1.1 request of the card, read from s_server's stdout: headers and the (de-chunked) body. */
function parseRequest(text: Buffer) {
  const split = text.indexOf('\r\n\r\n');
  const head = text.subarray(0, split).toString('latin1').split('\r\n');
  const headers = new Map(
    head.slice(1).map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as const;
    }),
  );
  let rest = text.subarray(split + 4);
  let body = rest;
  if (headers.get('transfer-encoding') === 'chunked') {
    const chunks: Buffer[] = [];
    for (;;) {
      const eol = rest.indexOf('\r\n');
      const size = Number.parseInt(rest.subarray(0, eol).toString(), 16);
      if (size === 0) break;
      chunks.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 2 + size + 2);
    }
    body = Buffer.concat(chunks);
  }
  return { line: head[0]!, headers, body };
}

/** Whether stdout holds a whole request (headers, and a body by its length or its last chunk). */
function complete(text: Buffer): boolean {
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) return false;
  const head = text.subarray(0, split).toString('latin1').toLowerCase();
  const rest = text.subarray(split + 4);
  if (head.includes('transfer-encoding: chunked')) return rest.includes('0\r\n\r\n');
  const length = /content-length: *(\d+)/.exec(head);
  return rest.length >= (length ? Number(length[1]) : 0);
}

const response = (status: string, headers: string[], body: Uint8Array = new Uint8Array(0)) =>
  Buffer.concat([
    Buffer.from(
      `HTTP/1.1 ${status}\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\n${headers.map((h) => `${h}\r\n`).join('')}Content-Length: ${body.length}\r\n\r\n`,
    ),
    Buffer.from(body),
  ]);

async function run(serverPsk: Uint8Array) {
  const port = await freePort();
  const peer = await startPeer(
    'openssl s_server',
    'openssl',
    [
      's_server',
      '-accept',
      `127.0.0.1:${port}`,
      '-nocert',
      '-psk',
      Buffer.from(serverPsk).toString('hex'),
      '-psk_identity',
      IDENTITY,
      '-cipher',
      'PSK-AES128-CBC-SHA256:@SECLEVEL=0',
      '-tls1_2',
      '-no_ticket',
      '-naccept',
      '1',
    ],
    (out) => out.includes('ACCEPT'),
    { stdin: 'pipe' },
  );
  const relay = await recordRelay(port);
  // the card's requests as s_server writes them to stdout among its own lines; the canned answer to
  // each goes to its stdin (it reads a line starting Q, q, P or S, or r/R/k/K/c alone, as a command: an
  // HTTP response starts with H)
  const requests: ReturnType<typeof parseRequest>[] = [];
  let seen = Buffer.alloc(0);
  const answers = [
    response(
      '200 OK',
      [
        'X-Admin-Next-URI: /admin?step=1',
        'Content-Type: application/vnd.globalplatform.card-content-mgt;version=1.0',
      ],
      SCRIPT,
    ),
    response('204 No Content', []),
  ];
  peer.child.stdout!.on('data', (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const start = seen.indexOf('POST ');
    if (start < 0 || !complete(seen.subarray(start))) return;
    requests.push(parseRequest(seen.subarray(start)));
    seen = Buffer.alloc(0);
    const answer = answers.shift();
    if (answer) peer.child.stdin!.write(answer);
  });
  const sim = VirtualSim.inMemory(TEST_PROFILE, {
    scp81: {
      keys: { psk: PSK },
      parameters: {
        address: '127.0.0.1',
        port: relay.port,
        host: 'admin.openssl.test',
        agentId: '//se-id/iccid/8944000000000000009',
        uri: '/admin',
        pskIdentity: IDENTITY,
        retry: { counter: 0, delaySeconds: 0 },
      },
      timeouts: { handshakeMs: 5000, responseMs: 5000, terminalResponseMs: 5000 },
    },
  });
  const terminal = await runBipTerminal(new MemoryTransport(sim.card), {
    wake: (notify) => sim.card.toolkit.onPending(notify),
    pollIntervalMs: 50,
  });
  try {
    sim.requestAdminSession();
    await sim.admin.idle();
  } finally {
    await terminal.stop();
    await relay.close();
    await peer.stop();
  }
  return { record: sim.admin.sessions.at(-1)!, requests, records: relay.records, output: peer.output() };
}

describe('the admin agent against openssl s_server -psk (TLS 1.2, a canned GP Amd B dialog)', () => {
  const openssl = peerAvailable('openssl');
  const skip = openssl === true ? false : openssl;

  test('the dialog completes: first POST, the script run, its result posted, 204', { skip }, async () => {
    const { record, requests, records, output } = await run(PSK);
    assert.equal(record.outcome, 'completed', `${record.error}\n${output}`);
    assert.equal(record.scripts, 1);
    assert.equal(requests.length, 2, output);
    const [first, second] = requests;
    assert.equal(first!.line, 'POST /admin HTTP/1.1');
    assert.equal(first!.headers.get('host'), 'admin.openssl.test');
    assert.equal(first!.headers.get('x-admin-protocol'), 'globalplatform-remote-admin/1.0');
    assert.equal(first!.headers.get('x-admin-from'), '//se-id/iccid/8944000000000000009');
    assert.equal(first!.body.length, 0);
    assert.equal(second!.line, 'POST /admin?step=1 HTTP/1.1', 'the Next-URI as received');
    assert.equal(second!.headers.get('x-admin-script-status'), 'ok');
    assert.equal(
      second!.headers.get('content-type'),
      'application/vnd.globalplatform.card-content-mgt-response;version=1.0',
    );
    const [status] = decodeExpandedResponse(new Uint8Array(second!.body)).responses;
    assert.equal(Buffer.from(status!.subarray(-2)).toString('hex'), '9000');
    assert.deepEqual([...decodeStatusEntries(status!.subarray(0, -2))[0]!.aid], [...ISD_AID]);

    // on the wire: the real card's record version and max_fragment_length, echoed and honoured
    const hello = records.find((r) => r.from === 'card' && r.type === 22)!;
    assert.equal(hello.version, 0x0301, 'the ClientHello record is 0301, as real cards send it');
    assert.deepEqual([...helloExtensions(hello.body).keys()], [0x0001], 'max_fragment_length only');
    assert.deepEqual([...helloExtensions(hello.body).get(0x0001)!], [0x01], '2^9');
    const serverHello = records.find((r) => r.from === 'server' && r.type === 22)!;
    assert.equal(serverHello.body[0], 2);
    assert.deepEqual(
      [...(helloExtensions(serverHello.body).get(0x0001) ?? [])],
      [0x01],
      's_server echoes MFL 512',
    );
    assert.ok(records.filter((r) => r.type === 23 && r.from === 'server').length >= 2);
    for (const r of records.filter((r) => r.type === 23))
      assert.ok(r.body.length - CBC_OVERHEAD <= MFL, `a ${r.body.length}-byte record from the ${r.from}`);
    assert.ok(
      records
        .filter((r) => r.from === 'card')
        .slice(1)
        .every((r) => r.version === 0x0303),
    );
  });

  test('a wrong PSK fails the handshake cleanly: the session failed, no request reached the server', {
    skip,
  }, async () => {
    const { record, requests } = await run(new Uint8Array(16).fill(0x99));
    assert.equal(record.outcome, 'failed');
    assert.equal(record.scripts, 0);
    assert.match(record.error ?? '', /refused the handshake.*bad_record_mac/);
    assert.doesNotMatch(record.error ?? '', /30313233|0123456789/i, 'no key in the error');
    assert.equal(requests.length, 0);
  });
});
